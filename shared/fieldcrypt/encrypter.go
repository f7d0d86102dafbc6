package fieldcrypt

import (
	"crypto/cipher"
	"crypto/hpke"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"sync/atomic"
)

// maxSealsPerEncrypter bounds the fields one HPKE Encrypter seals under its batch key, keeping
// the collision probability of random 96-bit GCM nonces far below 2^-32 (NIST SP 800-38D).
const maxSealsPerEncrypter = 1 << 32

// Encrypter seals field values into tokens for one public key and key id. For HPKE algorithms it
// holds one HPKE encapsulation (done by NewEncrypter) shared by every token it seals: create one per
// batch of events and key, and drop it after the batch. It is safe for concurrent use.
type Encrypter struct {
	alg      Algorithm
	keyID    string
	maxPlain int
	version  byte // HPKE token version: 2, or 1 for the test vectors of the old format
	pad      Padding

	rsa *rsa.PublicKey

	aead   cipher.AEAD
	header []byte // B up to and including enc: the AAD of every token
	prefix []byte // HPKE token prefix || base64url(header[:m]) with m the largest multiple of 3
	tail   []byte // header[m:], encoded together with each token's nonce and ciphertext
	sealed atomic.Uint64
}

// Options tune an Encrypter. The zero value is the default.
type Options struct {
	// Padding is how HPKE tokens pad values (default PadBuckets). RSA ignores it: an RSA token is
	// always the modulus size.
	Padding Padding
}

// NewEncrypter returns an Encrypter for pub with the default Options, naming keyID in every HPKE
// token (RSA tokens carry no key id; the per-event manifest does). For HPKE it performs the one
// encapsulation of the batch. It returns an error wrapping ErrInvalidKeyID for a bad key id or
// ErrInvalidKey for a nil key.
func NewEncrypter(pub *PublicKey, keyID string) (*Encrypter, error) {
	return NewEncrypterWith(pub, keyID, Options{})
}

// NewEncrypterWith is NewEncrypter with options; it fails as NewEncrypter does, and with an error
// wrapping ErrInvalidPadding for an unknown Padding.
func NewEncrypterWith(pub *PublicKey, keyID string, opts Options) (_ *Encrypter, err error) {
	defer setOp(&err, "new encrypter")
	return newEncrypter(pub, keyID, opts, tokenVersion2)
}

// newEncrypter makes an Encrypter of HPKE token version v. Version 1 is only made by the tests,
// which keep the old format's vectors reproducible.
func newEncrypter(pub *PublicKey, keyID string, opts Options, v byte) (*Encrypter, error) {
	if pub == nil {
		return nil, errorf(ErrInvalidKey, "public key is nil")
	}
	if err := ValidateKeyID(keyID); err != nil {
		return nil, err
	}
	if opts.Padding != PadBuckets && opts.Padding != PadNone {
		return nil, errorf(ErrInvalidPadding, "unknown padding %d", opts.Padding)
	}
	if pub.alg == RSAOAEPSHA256 {
		return &Encrypter{alg: pub.alg, keyID: keyID, rsa: pub.rsa, maxPlain: pub.rsa.Size() - rsaOAEPOverhead}, nil
	}

	el := encLen(pub.alg)
	part := make([]byte, 0, 3+len(keyID))
	part = append(part, v, algID(pub.alg), byte(len(keyID)))
	part = append(part, keyID...)
	enc, sender, err := hpke.NewSender(pub.hpke, hpkeKDF, hpkeAEAD, hpkeInfo(part))
	if err != nil {
		return nil, fmt.Errorf("new encrypter: HPKE setup for %s: %w", pub.alg, err)
	}
	if len(enc) != el {
		return nil, fmt.Errorf("new encrypter: HPKE %s returned a %d-byte encapsulated key, want %d", pub.alg, len(enc), el)
	}
	key, err := sender.Export(hpkeExportContext, batchKeyLen)
	if err != nil {
		return nil, fmt.Errorf("new encrypter: HPKE export: %w", err)
	}
	aead, err := newBatchAEAD(key)
	clear(key)
	if err != nil {
		return nil, fmt.Errorf("new encrypter: %w", err)
	}

	header := binary.BigEndian.AppendUint16(part, uint16(el))
	header = append(header, enc...)
	m := len(header) - len(header)%3
	tokPrefix := HPKETokenPrefix
	if v == tokenVersion1 {
		tokPrefix = HPKETokenPrefixV1
	}
	prefix := b64url.AppendEncode([]byte(tokPrefix), header[:m])
	return &Encrypter{
		alg: pub.alg, keyID: keyID, maxPlain: MaxPlaintextLen, version: v, pad: opts.Padding,
		aead: aead, header: header, prefix: prefix, tail: header[m:],
	}, nil
}

// Algorithm returns the algorithm of the tokens the Encrypter makes.
func (e *Encrypter) Algorithm() Algorithm { return e.alg }

// KeyID returns the key id the Encrypter was created with.
func (e *Encrypter) KeyID() string { return e.keyID }

// Padding returns how the Encrypter pads HPKE tokens.
func (e *Encrypter) Padding() Padding { return e.pad }

// MaxPlaintext returns the longest value Seal accepts: k-66 bytes for an RSA key of k bytes
// (190, 318 or 446), MaxPlaintextLen for HPKE.
func (e *Encrypter) MaxPlaintext() int { return e.maxPlain }

// Seal encrypts plaintext, the UTF-8 content of a JSON string, into a token and appends the token
// text to dst; it is SealValue with TypeString.
func (e *Encrypter) Seal(dst, plaintext []byte) ([]byte, error) {
	return e.SealValue(dst, TypeString, plaintext)
}

// SealValue encrypts a value of JSON type typ into a token and appends the token text to dst.
// value is a string's UTF-8 content, or the JSON text of a number, boolean, object or array.
// HPKE tokens record typ (and pad the value, see Options); an RSA token is the OAEP ciphertext of
// value alone, for compatibility, so its type is lost.
//
// A value longer than MaxPlaintext returns dst unchanged and an error wrapping ErrTooLarge, and
// the caller must fail closed; an unknown typ returns an error too. On any error dst is returned
// unchanged (bytes beyond its length may hold ciphertext scratch, never plaintext). value must
// not overlap dst's spare capacity. The HPKE path makes no allocation when dst has room for the
// token.
func (e *Encrypter) SealValue(dst []byte, typ ValueType, value []byte) ([]byte, error) {
	if e.rsa == nil && e.aead == nil {
		return dst, &Error{Op: "seal", Kind: ErrInvalidKey, Reason: "Encrypter not created by NewEncrypter"}
	}
	if len(value) > e.maxPlain {
		return dst, &Error{Op: "seal " + string(e.alg), Kind: ErrTooLarge, Reason: fmt.Sprintf("value is %d bytes, at most %d allowed", len(value), e.maxPlain)}
	}
	if !typ.valid() {
		return dst, fmt.Errorf("seal %s: unknown value type %#x", e.alg, byte(typ))
	}
	if e.rsa != nil {
		ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, e.rsa, value, nil)
		if err != nil {
			return dst, fmt.Errorf("seal %s: %w", e.alg, err)
		}
		return b64std.AppendEncode(dst, ct), nil
	}
	if e.sealed.Add(1) > maxSealsPerEncrypter {
		return dst, fmt.Errorf("seal %s: encrypter used for more than %d values; create a new one per batch", e.alg, uint64(maxSealsPerEncrypter))
	}

	// P, the sealed payload: version 2 is value || type || zero padding, version 1 the value.
	pLen := len(value)
	if e.version == tokenVersion2 {
		pLen = e.pad.PaddedLen(len(value) + 1)
	}
	// Layout inside dst's capacity: [token text][raw = tail || nonce || P, sealed in place to
	// ciphertext || tag]. The raw bytes are encoded into the text region, which never overlaps
	// them.
	rawLen := len(e.tail) + nonceLen + pLen + tagLen
	textLen := len(e.prefix) + b64url.EncodedLen(rawLen)
	start := len(dst)
	dst = slices.Grow(dst, textLen+rawLen)
	out := dst[:start+textLen]
	raw := dst[start+textLen : start+textLen : start+textLen+rawLen]
	raw = append(raw, e.tail...)
	nonce := raw[len(raw) : len(raw)+nonceLen]
	rand.Read(nonce) // never fails: crypto/rand crashes the program rather than return short
	raw = raw[:len(raw)+nonceLen]
	p := append(raw[len(raw):len(raw)], value...)
	if e.version == tokenVersion2 {
		p = append(p, byte(typ))
		n := len(p)
		p = p[:pLen]
		clear(p[n:])
	}
	raw = e.aead.Seal(raw, nonce, p, e.header) // in place: p starts where raw ends
	copy(out[start:], e.prefix)
	b64url.Encode(out[start+len(e.prefix):], raw)
	return out, nil
}
