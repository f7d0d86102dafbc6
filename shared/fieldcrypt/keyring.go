package fieldcrypt

import (
	"crypto/cipher"
	"crypto/hpke"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"sync"
)

// maxBatchCache bounds the per-batch AES-GCM keys a Keyring remembers; when full it starts over.
const maxBatchCache = 1024

// Keyring decrypts tokens with a set of private keys: HPKE tokens by the key id they carry (a key
// added without an id is tried on every token of its algorithm, and remembered under the id of
// the first token it opens), RSA tokens by trying each RSA key of the ciphertext's size (OAEP
// rejects wrong keys). It remembers the batch key of each HPKE encapsulation it has opened, so
// the tokens of one batch cost one decapsulation in total. The zero value is an empty Keyring
// ready to use; it is safe for concurrent use.
type Keyring struct {
	mu      sync.Mutex
	keys    []ringKey
	learned map[string]*PrivateKey // algorithm "/" key id -> the id-less key that opened its token
	batch   map[string]cipher.AEAD // token header (version, alg, key id, enc) -> batch AEAD
}

type ringKey struct {
	id  string // empty: key id unknown, tried on every token of its algorithm
	key *PrivateKey
}

// Add puts k into the keyring under keyID. An empty keyID means the id is not known: the key is
// then tried on every HPKE token of its algorithm, which costs one decapsulation per key and batch
// and reports failures as ErrDecrypt rather than ErrUnknownKey. RSA keys need no id. Add returns
// an error wrapping ErrInvalidKeyID for a malformed id, or ErrInvalidKey for a nil key or a key id
// already held by another key.
func (r *Keyring) Add(keyID string, k *PrivateKey) (err error) {
	defer setOp(&err, "add key")
	if k == nil {
		return errorf(ErrInvalidKey, "private key is nil")
	}
	if keyID != "" {
		if err := ValidateKeyID(keyID); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rk := range r.keys {
		if keyID != "" && rk.id == keyID && rk.key.alg == k.alg && !rk.key.pub.Equal(k.pub) {
			return errorf(ErrInvalidKey, "key id %s is already held by another %s key", keyID, k.alg)
		}
	}
	r.keys = append(r.keys, ringKey{id: keyID, key: k})
	return nil
}

// Len returns the number of keys in the keyring.
func (r *Keyring) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.keys)
}

// Open decrypts token and returns the value's bytes (Value.Data of OpenValue): a string's UTF-8
// content, or the JSON text of any other type. It fails as OpenValue does.
func (r *Keyring) Open(token string) ([]byte, error) {
	v, err := r.OpenValue(token)
	return v.Data, err
}

// OpenValue decrypts token and returns the value with its JSON type (TypeUnknown for version 1
// HPKE tokens and RSA tokens, which do not record it). It returns an error wrapping
// ErrMalformedToken for text that is not a token (or a version 2 token whose authenticated
// payload is not a typed value), ErrUnknownKey when the keyring holds no key of the token's
// algorithm and key id (HPKE) or modulus size (RSA), and ErrDecrypt when candidate keys exist but
// none authenticates the token (altered, or made for another key). Errors never contain the
// token, the plaintext or key material.
func (r *Keyring) OpenValue(token string) (_ Value, err error) {
	defer setOp(&err, "open token")
	if isHPKE(token) {
		t, err := parseHPKE(token)
		if err != nil {
			return Value{}, err
		}
		pt, err := r.openHPKE(t)
		if err != nil || t.version == tokenVersion1 {
			return Value{Data: pt}, err
		}
		v, ok := decodePayload(pt)
		if !ok {
			clear(pt)
			return Value{}, errorf(ErrMalformedToken, "%s token of key %s: the decrypted payload is not a typed value (no or an unknown type byte, or a value not of its type)", t.alg, t.keyID)
		}
		return v, nil
	}
	ct, err := parseRSA(token)
	if err != nil {
		return Value{}, err
	}
	pt, err := r.openRSA(ct)
	return Value{Data: pt}, err
}

func (r *Keyring) openHPKE(t hpkeToken) ([]byte, error) {
	r.mu.Lock()
	aead, ok := r.batch[string(t.header)]
	var exact, trial []*PrivateKey
	if !ok {
		if k := r.learned[string(t.alg)+"/"+string(t.keyID)]; k != nil {
			exact = append(exact, k)
		}
		for _, rk := range r.keys {
			if rk.key.alg != t.alg {
				continue
			}
			switch rk.id {
			case string(t.keyID):
				exact = append(exact, rk.key)
			case "":
				trial = append(trial, rk.key)
			}
		}
	}
	r.mu.Unlock()

	if ok {
		pt, err := aead.Open(nil, t.nonce, t.ciphertext, t.header)
		if err != nil {
			return nil, errorf(ErrDecrypt, "%s token of key %s: authentication failed", t.alg, t.keyID)
		}
		return pt, nil
	}
	if len(exact) == 0 && len(trial) == 0 {
		return nil, errorf(ErrUnknownKey, "%s token of key %s", t.alg, t.keyID)
	}
	info := hpkeInfo(t.info)
	for i, k := range append(exact, trial...) {
		aead, err := batchAEADFor(k, t.enc, info)
		if err != nil {
			continue // a P-256 decapsulation fails on an invalid point; try the next key
		}
		pt, err := aead.Open(nil, t.nonce, t.ciphertext, t.header)
		if err != nil {
			continue
		}
		r.remember(string(t.header), aead)
		if i >= len(exact) {
			r.learn(string(t.alg)+"/"+string(t.keyID), k)
		}
		return pt, nil
	}
	return nil, errorf(ErrDecrypt, "%s token of key %s: authentication failed (token altered, or made for another key)", t.alg, t.keyID)
}

// learn records that the id-less key k opened a token of key id (algorithm "/" key id), so later
// batches of that id try it first and alone. Only an authenticated decryption teaches it; a key id
// is learned at most once.
func (r *Keyring) learn(id string, k *PrivateKey) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.learned == nil {
		r.learned = make(map[string]*PrivateKey)
	}
	if _, ok := r.learned[id]; !ok && len(r.learned) < maxBatchCache {
		r.learned[id] = k
	}
}

func (r *Keyring) remember(header string, aead cipher.AEAD) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.batch == nil || len(r.batch) >= maxBatchCache {
		r.batch = make(map[string]cipher.AEAD)
	}
	r.batch[header] = aead
}

// batchAEADFor runs the HPKE receiver setup for one batch and builds its AES-256-GCM.
func batchAEADFor(k *PrivateKey, enc, info []byte) (cipher.AEAD, error) {
	recipient, err := hpke.NewRecipient(enc, k.hpke, hpkeKDF, hpkeAEAD, info)
	if err != nil {
		return nil, fmt.Errorf("HPKE decapsulation: %w", err)
	}
	key, err := recipient.Export(hpkeExportContext, batchKeyLen)
	if err != nil {
		return nil, fmt.Errorf("HPKE export: %w", err)
	}
	defer clear(key)
	return newBatchAEAD(key)
}

func (r *Keyring) openRSA(ct []byte) ([]byte, error) {
	r.mu.Lock()
	var candidates []*rsa.PrivateKey
	for _, rk := range r.keys {
		if rk.key.rsa != nil && rk.key.rsa.Size() == len(ct) {
			candidates = append(candidates, rk.key.rsa)
		}
	}
	r.mu.Unlock()
	if len(candidates) == 0 {
		return nil, errorf(ErrUnknownKey, "%s token: no RSA-%d key", RSAOAEPSHA256, 8*len(ct))
	}
	for _, k := range candidates {
		if pt, err := rsa.DecryptOAEP(sha256.New(), nil, k, ct, nil); err == nil {
			return pt, nil
		}
	}
	return nil, errorf(ErrDecrypt, "%s token: none of %d RSA-%d keys decrypts it (token altered, or made for another key)", RSAOAEPSHA256, len(candidates), 8*len(ct))
}
