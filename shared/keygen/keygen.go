// Package keygen is the key-generation service behind the keygen function: it generates a
// destination's encryption key pairs and HMAC keys through AWS KMS, imports customer public keys
// (bring your own key), lists and revokes keys, and serves those operations over HTTP on the
// stack.FunctionKeygen routes.
//
// The private key of a generated key pair exists on the service's side only while one request
// is served: KMS returns it (GenerateDataKeyPair, or GenerateRandom as the seed of an X-Wing key),
// the handler puts it into the 201 response once, marked Cache-Control: no-store, and then
// overwrites its buffers. It is never written to DynamoDB, to a log or to an error, and KMS's
// encrypted copy of it (PrivateKeyCiphertextBlob) is discarded unread. Only the public key and
// metadata are stored. An HMAC key is stored only as the KMS ciphertext blob; its plaintext is
// returned once the same way.
//
// # Audit before activation
//
// A generated key must never be active unless its secret reaches the caller and its generation
// is audited: data encrypted under a key whose private half nobody holds can never be decrypted.
// So a key-changing handler first appends an "attempted" audit record naming the new key
// (httpapi.AuditAttempt; if that fails nothing happens), then calls KMS, builds the response,
// and only then stores the key as active. If the store write fails in a way that may have
// committed anyway, the key is revoked before the 500 goes out. Once the key is active the
// response is delivered even if the router's outcome record cannot be appended: the attempt
// record already audits it.
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
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/phiguard/phiguard/shared/httpapi"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

// HMACAlgorithm is the algorithm of every HMAC key (phi.Key.Algorithm of KeyHMAC keys).
const HMACAlgorithm = "hmac-sha256"

// KMS is the part of the AWS KMS API the service calls. *kms.Client satisfies it.
type KMS interface {
	GenerateDataKeyPair(ctx context.Context, in *kms.GenerateDataKeyPairInput, opts ...func(*kms.Options)) (*kms.GenerateDataKeyPairOutput, error)
	GenerateDataKey(ctx context.Context, in *kms.GenerateDataKeyInput, opts ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error)
	GenerateRandom(ctx context.Context, in *kms.GenerateRandomInput, opts ...func(*kms.Options)) (*kms.GenerateRandomOutput, error)
}

var _ KMS = (*kms.Client)(nil)

// Store is what the service reads and writes in the table. *dynamo.Store satisfies it.
type Store interface {
	httpapi.AuditLog
	// GetWorkspace returns the workspace or ENOTFOUND.
	GetWorkspace(ctx context.Context, wsID string) (*phi.Workspace, error)
	// GetDestination returns the destination or ENOTFOUND.
	GetDestination(ctx context.Context, wsID, id string) (*phi.Destination, error)
	// PutActiveKey stores k as the active key of its destination and kind; the previous
	// active one becomes decrypt-only.
	PutActiveKey(ctx context.Context, k *phi.Key) error
	// ListKeys returns every key of the destination, newest first.
	ListKeys(ctx context.Context, wsID, dstID string) ([]phi.Key, error)
	// GetKey returns one key or ENOTFOUND.
	GetKey(ctx context.Context, wsID, dstID, keyID string) (*phi.Key, error)
	// RevokeKey marks the key revoked; revoking a revoked key succeeds.
	RevokeKey(ctx context.Context, wsID, dstID, keyID string, at time.Time) error
}

// Service is the key-generation API (function stack.FunctionKeygen).
type Service struct {
	Store Store
	KMS   KMS
	// CMK is the service's customer-managed KMS key (id, ARN or alias; stack.EnvKMSKeyID) under
	// which key pairs and HMAC keys are generated.
	CMK  string
	Auth httpapi.Authenticator
	// Logger receives ids and outcomes only, never key material; nil discards.
	Logger *slog.Logger
	// Now is the service's clock; time.Now when nil.
	Now func() time.Time
}

// Handler returns the router of every keygen route. It fails when a dependency is missing or the
// route table and the handlers disagree.
func (s *Service) Handler() (http.Handler, error) {
	switch {
	case s.Store == nil:
		return nil, fmt.Errorf("keygen API: no store")
	case s.KMS == nil:
		return nil, fmt.Errorf("keygen API: no KMS client")
	case s.CMK == "":
		return nil, fmt.Errorf("keygen API: no KMS key id (%s)", stack.EnvKMSKeyID)
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	h := func(fn httpapi.HandlerFunc) http.Handler { return httpapi.Handle(s.Logger, fn) }
	const dst = "/workspaces/{workspaceId}/destinations/{destinationId}"
	handlers := map[string]http.Handler{
		"GET " + dst + "/keys":                 h(s.listKeys),
		"POST " + dst + "/keys":                h(s.generateKeyPair),
		"POST " + dst + "/keys/import":         h(s.importKey),
		"POST " + dst + "/keys/{keyId}/revoke": h(s.revokeKey),
		"POST " + dst + "/hmac-keys":           h(s.generateHMACKey),
	}
	return httpapi.NewRouter(httpapi.RouterConfig{Auth: s.Auth, Audit: s.Store, Logger: s.Logger, Now: s.Now}, stack.FunctionKeygen, handlers)
}
