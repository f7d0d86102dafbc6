package webhook

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/phiguard/phiguard/shared/phi"
)

// KMSGenerator is the part of the KMS API that generates signing secrets (*kms.Client).
type KMSGenerator interface {
	GenerateDataKey(ctx context.Context, in *kms.GenerateDataKeyInput, opts ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error)
}

// KMSDecrypter is the part of the KMS API that reads signing secrets back (*kms.Client).
type KMSDecrypter interface {
	Decrypt(ctx context.Context, in *kms.DecryptInput, opts ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

var (
	_ KMSGenerator = (*kms.Client)(nil)
	_ KMSDecrypter = (*kms.Client)(nil)
)

// Generator generates destinations' signing secrets through KMS under the service's key.
type Generator struct {
	KMS KMSGenerator
	// CMK is the service's KMS key (id, ARN or alias; stack.EnvKMSKeyID).
	CMK string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// NewSigningSecret generates a SecretLen-byte key for destination dstID of workspace wsID with
// KMS GenerateDataKey (AES_256: KMS's random generator; the same call returns the key encrypted under
// the CMK with phi.SigningEncryptionContext, so the service never needs kms:Encrypt). It
// returns the secret to store — the ciphertext only — and the key's text form ("whsec_…",
// FormatSecret) to return to the customer once; the caller clears the text once sent. KMS's
// plaintext is overwritten before it returns, and errors never contain key material.
func (g *Generator) NewSigningSecret(ctx context.Context, wsID, dstID string) (phi.SigningSecret, []byte, error) {
	out, err := g.KMS.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId: aws.String(g.CMK), KeySpec: types.DataKeySpecAes256, // SecretLen bytes
		EncryptionContext: phi.SigningEncryptionContext(wsID, dstID),
	})
	if err != nil {
		return phi.SigningSecret{}, nil, fmt.Errorf("KMS GenerateDataKey for a signing secret: %w", err)
	}
	defer func() {
		clear(out.Plaintext)
		out.Plaintext = nil
	}()
	if len(out.Plaintext) != SecretLen || len(out.CiphertextBlob) == 0 {
		return phi.SigningSecret{}, nil, fmt.Errorf("KMS GenerateDataKey returned a %d-byte key and a %d-byte blob, want %d bytes and a blob",
			len(out.Plaintext), len(out.CiphertextBlob), SecretLen)
	}
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	sec := phi.SigningSecret{Ciphertext: bytes.Clone(out.CiphertextBlob), CreatedAt: now().UTC()}
	return sec, FormatSecret(out.Plaintext), nil
}

// SecretStore reads a destination's signing secrets (*dynamo.Store).
type SecretStore interface {
	// GetSigningSecrets returns the destination's secrets, or ENOTFOUND.
	GetSigningSecrets(ctx context.Context, wsID, dstID string) (*phi.SigningSecrets, error)
}

// Cache timings of Keyring.
const (
	// KeyringTTL is how long a destination's decrypted keys are used before they are read
	// again, so a rotation signs deliveries within this time of its response.
	KeyringTTL = 30 * time.Second
	// keyringRetry is how long a failed read is remembered: within it, callers get the cached
	// keys (if any) or the same error without another call, so an outage of DynamoDB or KMS
	// costs one call per destination and container per retry period, not one per delivery.
	keyringRetry = 10 * time.Second
)

// Keyring is the delivery function's Secrets: it reads a destination's signing secrets from the
// table and decrypts them through KMS (with the destination's encryption context) when they
// are first needed — never at cold start — and keeps the keys in memory only, for KeyringTTL.
// When a refresh fails it keeps signing with the keys it has. Which of them sign is decided on
// every call, so a replaced secret stops signing when its overlap ends, not a TTL later. It is
// safe for concurrent use.
type Keyring struct {
	store SecretStore
	kms   KMSDecrypter
	now   func() time.Time

	mu      sync.Mutex
	entries map[string]*keyringEntry
}

type keyringEntry struct {
	mu        sync.Mutex // one read per destination at a time
	keys      []liveKey
	fetchedAt time.Time
	err       error // the last read's error, until failedAt + keyringRetry
	failedAt  time.Time
}

type liveKey struct {
	key       []byte
	expiresAt *time.Time
}

var _ Secrets = (*Keyring)(nil)

// NewKeyring returns a Keyring reading from store and decrypting with client. It makes no call;
// now is its clock (time.Now when nil).
func NewKeyring(store SecretStore, client KMSDecrypter, now func() time.Time) *Keyring {
	if now == nil {
		now = time.Now
	}
	return &Keyring{store: store, kms: client, now: now, entries: map[string]*keyringEntry{}}
}

// SigningKeys returns the keys that sign destination dstID's deliveries now, the current one
// first (see Secrets). It fails when there are no cached keys and the read or a decryption
// fails; the error names the destination, never a key.
func (k *Keyring) SigningKeys(ctx context.Context, wsID, dstID string) ([][]byte, error) {
	k.mu.Lock()
	e, ok := k.entries[wsID+"/"+dstID]
	if !ok {
		e = &keyringEntry{}
		k.entries[wsID+"/"+dstID] = e
	}
	k.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	now := k.now()
	switch {
	case e.keys != nil && now.Sub(e.fetchedAt) < KeyringTTL:
	case e.err != nil && now.Sub(e.failedAt) < keyringRetry:
		if e.keys == nil {
			return nil, e.err
		}
	default:
		keys, err := k.read(ctx, wsID, dstID)
		switch {
		case err == nil:
			// The keys replaced are not cleared: a delivery may be signing with them now.
			e.keys, e.fetchedAt, e.err = keys, now, nil
		case ctx.Err() != nil: // the caller giving up says nothing about DynamoDB or KMS
			if e.keys == nil {
				return nil, err
			}
		default:
			e.err, e.failedAt = err, now
			if e.keys == nil {
				return nil, err
			}
		}
	}
	out := make([][]byte, 0, len(e.keys))
	for _, l := range e.keys {
		if l.expiresAt == nil || now.Before(*l.expiresAt) {
			out = append(out, l.key)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("destination %s has no live signing secret", dstID)
	}
	return out, nil
}

// read loads and decrypts the destination's live secrets.
func (k *Keyring) read(ctx context.Context, wsID, dstID string) ([]liveKey, error) {
	s, err := k.store.GetSigningSecrets(ctx, wsID, dstID)
	if err != nil {
		return nil, fmt.Errorf("read the signing secrets of destination %s: %w", dstID, err)
	}
	live := s.Live(k.now())
	keys := make([]liveKey, 0, len(live))
	for i, sec := range live {
		out, err := k.kms.Decrypt(ctx, &kms.DecryptInput{
			CiphertextBlob: sec.Ciphertext, EncryptionContext: phi.SigningEncryptionContext(wsID, dstID),
			EncryptionAlgorithm: types.EncryptionAlgorithmSpecSymmetricDefault,
		})
		if err != nil {
			return nil, fmt.Errorf("KMS Decrypt signing secret %d of destination %s: %w", i+1, dstID, err)
		}
		if len(out.Plaintext) != SecretLen {
			clear(out.Plaintext)
			return nil, fmt.Errorf("signing secret %d of destination %s decrypts to %d bytes, want %d", i+1, dstID, len(out.Plaintext), SecretLen)
		}
		keys = append(keys, liveKey{key: out.Plaintext, expiresAt: sec.ExpiresAt})
	}
	return keys, nil
}
