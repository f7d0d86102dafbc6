// Package keygen is the key-generation service behind the keygen function: it generates a
// destination's encryption key pairs and HMAC keys through AWS KMS, imports customer public keys
// (bring your own key), lists and revokes keys. It knows nothing of HTTP: the REST handlers
// (shared/httpapi) and the console call it.
//
// The private key of a generated key pair exists on the service's side only while one request
// is served: KMS returns it (GenerateDataKeyPair, or GenerateRandom as the seed of an X-Wing key),
// the handler puts it into the 201 response once, marked Cache-Control: no-store, and then
// overwrites its buffers. It is never written to DynamoDB, to a log or to an error, and KMS's
// encrypted copy of it (PrivateKeyCiphertextBlob) is discarded unread. Only the public key and
// metadata are stored. An HMAC key is stored only as the KMS ciphertext blob; its plaintext is
// returned once the same way.
//
// # Pending until the owner confirms
//
// A generated key must never be used unless its secret reached the customer and its generation
// is audited: data encrypted under a key whose private half nobody holds can never be decrypted.
// So a generated key is stored pending, and becomes active only when the owner confirms they
// hold its secret (ActivatePending: the console's Save, or POST .../keys/{keyId}/activate). Until
// then the destination keeps using its previous active key (or, with none, removes the fields
// that need one); a pending key not activated within PendingKeyTTL can never be, and DynamoDB's
// TTL deletes it. Imported public keys (bring your own key) are active at once: the customer holds
// the private key already.
//
// Generating is still ordered so that nothing is stored unaudited or without its secret on its
// way out: the handler first appends an "attempted" audit record naming the new key
// (audit.Attempt; if that fails nothing happens), then calls KMS, builds the response, and only
// then stores the key as pending (StorePending). If the store write fails in a way that may have
// committed anyway, the key is revoked before the 500 goes out. Once the key is stored the
// response is delivered even if the router's outcome record cannot be appended: the attempt
// record already audits it.
//
// # Idempotency-Key
//
// A request that carries an Idempotency-Key claims it (one conditional write, before the audit
// attempt and before KMS is called) for PendingKeyTTL, scoped to the destination and the generate
// route. A retry with the same key generates no second key and never receives the first one's
// secret — secrets are not replayed: it is refused (ECONFLICT) naming the key the first request
// created; the same key with another request is EINVALID. A generation that fails — its secret
// never sent — releases its claim, so that it can be retried as it was.
//
// # Limits of zeroing in Go
//
// Overwriting is best effort. The buffers this package owns — KMS's plaintext output, the PEM
// text and the JSON response body — are cleared right after the body is handed to the
// ResponseWriter. Copies outside this package are not: the AWS SDK's HTTP response buffers, the
// copies the router and the Lambda adapter make of the response body (the adapter turns it into
// an immutable string), the Lambda runtime's own encoding, a fieldcrypt.PrivateKey's internal
// state for hpke-xwing, and anything the garbage collector moved or the runtime left in freed
// memory. Go has no way to pin or lock memory against copies or swap. What zeroing buys is a
// shorter window in which a heap dump or a later bug reading stale memory finds the key; what
// keeps the key safe is that nothing ever stores, logs or returns it a second time.
package keygen

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/phiguard/phiguard/shared/audit"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

// HMACAlgorithm is the algorithm of every HMAC key (phi.Key.Algorithm of KeyHMAC keys).
const HMACAlgorithm = "hmac-sha256"

// PendingKeyTTL is how long a generated key waits, pending, for its owner to activate it, and
// how long an Idempotency-Key is remembered.
const PendingKeyTTL = time.Hour

// KMS is the part of the AWS KMS API the service calls. *kms.Client satisfies it.
type KMS interface {
	GenerateDataKeyPair(ctx context.Context, in *kms.GenerateDataKeyPairInput, opts ...func(*kms.Options)) (*kms.GenerateDataKeyPairOutput, error)
	GenerateDataKey(ctx context.Context, in *kms.GenerateDataKeyInput, opts ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error)
	GenerateRandom(ctx context.Context, in *kms.GenerateRandomInput, opts ...func(*kms.Options)) (*kms.GenerateRandomOutput, error)
}

var _ KMS = (*kms.Client)(nil)

// Store is what the service reads and writes in the table. *dynamo.Store satisfies it.
type Store interface {
	audit.Log
	// GetWorkspace returns the workspace or ENOTFOUND.
	GetWorkspace(ctx context.Context, wsID string) (*phi.Workspace, error)
	// GetDestination returns the destination or ENOTFOUND.
	GetDestination(ctx context.Context, wsID, id string) (*phi.Destination, error)
	// PutActiveKey stores k as the active key of its destination and kind; the previous
	// active one becomes decrypt-only.
	PutActiveKey(ctx context.Context, k *phi.Key) error
	// PutPendingKey stores k as a pending key, expiring at k.ExpiresAt; nothing else changes.
	PutPendingKey(ctx context.Context, k *phi.Key) error
	// ActivateKey makes a pending, unexpired key active and the previous active one of its kind
	// decrypt-only, in one conditional transaction; the active key is returned unchanged;
	// ECONFLICT otherwise, ENOTFOUND for no such key.
	ActivateKey(ctx context.Context, wsID, dstID, keyID string, now time.Time) (*phi.Key, error)
	// ClaimIdempotency stores r unless an unexpired record holds its key, and then returns that
	// record instead.
	ClaimIdempotency(ctx context.Context, r *phi.IdempotencyRecord) (*phi.IdempotencyRecord, error)
	// ReleaseIdempotency deletes r's record if it still names r.KeyID.
	ReleaseIdempotency(ctx context.Context, r *phi.IdempotencyRecord) error
	// ListKeys returns every key of the destination, newest first.
	ListKeys(ctx context.Context, wsID, dstID string) ([]phi.Key, error)
	// GetKey returns one key or ENOTFOUND.
	GetKey(ctx context.Context, wsID, dstID, keyID string) (*phi.Key, error)
	// RevokeKey marks the key revoked; revoking a revoked key succeeds.
	RevokeKey(ctx context.Context, wsID, dstID, keyID string, at time.Time) error
}

// Service generates, imports, lists and revokes a destination's keys (function
// stack.FunctionKeygen; the REST handlers are httpapi's, the console's are its own).
type Service struct {
	Store Store
	KMS   KMS
	// CMK is the service's customer-managed KMS key (id, ARN or alias; stack.EnvKMSKeyID) under
	// which key pairs and HMAC keys are generated.
	CMK string
	// Logger receives ids and outcomes only, never key material; nil discards.
	Logger *slog.Logger
	// Now is the service's clock; time.Now when nil.
	Now func() time.Time
}

// Check returns an error naming what is missing when s cannot work.
func (s *Service) Check() error {
	switch {
	case s.Store == nil:
		return fmt.Errorf("keygen: no store")
	case s.KMS == nil:
		return fmt.Errorf("keygen: no KMS client")
	case s.CMK == "":
		return fmt.Errorf("keygen: no KMS key id (%s)", stack.EnvKMSKeyID)
	}
	return nil
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC()
	}
	return s.Now().UTC()
}

func (s *Service) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}
