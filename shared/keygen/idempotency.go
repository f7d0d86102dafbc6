package keygen

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/phiguard/phiguard/shared/audit"
	"github.com/phiguard/phiguard/shared/phi"
)

// MaxIdempotencyKeyLen is the longest Idempotency-Key accepted.
const MaxIdempotencyKeyLen = 255

// ValidIdempotencyKey reports whether key is an acceptable Idempotency-Key: 1 to
// MaxIdempotencyKeyLen printable ASCII characters (space to tilde).
func ValidIdempotencyKey(key string) bool {
	if key == "" || len(key) > MaxIdempotencyKeyLen {
		return false
	}
	for i := range len(key) {
		if key[i] < 0x20 || key[i] > 0x7e {
			return false
		}
	}
	return true
}

// ErrIdempotencyKey refuses a malformed Idempotency-Key (EBADREQUEST).
var ErrIdempotencyKey = phi.Errorf(phi.EBADREQUEST, "Idempotency-Key must be 1 to %d printable ASCII characters, sent once", MaxIdempotencyKeyLen).
	WithDetails(map[string]string{"header": "Idempotency-Key"})

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// claim reserves idemKey for the generation of key keyID of kind for dst, when idemKey is set, and
// returns the record to release should the generation fail; nil without a key. request is what
// the request asks for, after defaults (so that an empty body and the same defaults written out
// are one request). A key already claimed by an unexpired record is refused: ECONFLICT naming the
// key it generated when request is the same (its secret is never sent again), EINVALID when it
// is another request.
func (s *Service) claim(ctx context.Context, dst *phi.Destination, kind phi.KeyKind, idemKey, request, keyID string) (*phi.IdempotencyRecord, error) {
	if idemKey == "" {
		return nil, nil
	}
	if !ValidIdempotencyKey(idemKey) {
		return nil, ErrIdempotencyKey
	}
	now := s.now()
	r := &phi.IdempotencyRecord{
		WorkspaceID: dst.WorkspaceID, DestinationID: dst.ID, Kind: kind,
		KeyHash: sha256Hex(idemKey), RequestHash: sha256Hex(string(kind) + "\x00" + request),
		KeyID: keyID, CreatedAt: now, ExpiresAt: now.Add(PendingKeyTTL),
	}
	held, err := s.Store.ClaimIdempotency(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("claim Idempotency-Key for destination %s: %w", dst.ID, err)
	}
	if held == nil {
		return r, nil
	}
	if held.RequestHash != r.RequestHash {
		return nil, phi.Errorf(phi.EINVALID, "this Idempotency-Key was sent in the last %s with a different request to this route and destination; send a new Idempotency-Key with each different request", ttlText).
			WithDetails(map[string]string{"header": "Idempotency-Key"})
	}
	audit.SetTarget(ctx, keyTarget(dst, kind, held.KeyID))
	return nil, s.replayed(ctx, dst, kind, held.KeyID, now)
}

// replayed is the refusal of a retry whose first request generated (or is generating) keyID: it
// names the key and its status, never its secret.
func (s *Service) replayed(ctx context.Context, dst *phi.Destination, kind phi.KeyKind, keyID string, now time.Time) error {
	secret := "private key"
	if kind == phi.KeyHMAC {
		secret = "HMAC key"
	}
	k, err := s.Store.GetKey(ctx, dst.WorkspaceID, dst.ID, keyID)
	var status string
	var msg string
	switch {
	case phi.ErrorCode(err) == phi.ENOTFOUND:
		status = "in-progress"
		msg = fmt.Sprintf("the first request with this Idempotency-Key is generating key %s (or failed); its %s is returned only in that request's response. "+
			"If that request failed, generate again with a new Idempotency-Key", keyID, secret)
	case err != nil:
		return fmt.Errorf("get key %s of a repeated Idempotency-Key: %w", keyID, err)
	case k.Expired(now):
		status = "expired"
		msg = fmt.Sprintf("the first request with this Idempotency-Key created pending key %s, which expired unused; generate again with a new Idempotency-Key", keyID)
	case k.Status == phi.KeyPending:
		status = string(k.Status)
		msg = fmt.Sprintf("the first request with this Idempotency-Key created pending key %s; its %s was returned only in that response and is never returned again. "+
			"The key expires unused at %s (activate it only if you saved that %s). To get a new key, generate again with a new Idempotency-Key",
			keyID, secret, k.ExpiresAt.UTC().Format(time.RFC3339), secret)
	default:
		status = string(k.Status)
		msg = fmt.Sprintf("the first request with this Idempotency-Key created key %s, now %s; its %s was returned only in that response and is never returned again. "+
			"To get a new key, generate again with a new Idempotency-Key", keyID, status, secret)
	}
	return phi.Errorf(phi.ECONFLICT, "%s", msg).WithDetails(map[string]string{"keyId": keyID, "status": status})
}

// keyTarget is the audit target of a generated key: the route it was generated on, and its id.
func keyTarget(dst *phi.Destination, kind phi.KeyKind, keyID string) string {
	if kind == phi.KeyHMAC {
		return "destinations/" + dst.ID + "/hmac-keys/" + keyID
	}
	return "destinations/" + dst.ID + "/keys/" + keyID
}

// release gives up claim, if any, so that the request can be retried with the same
// Idempotency-Key: its generation failed and no secret went out. A failed release is logged;
// the key then stays claimed until the record expires.
func (s *Service) release(ctx context.Context, claim *phi.IdempotencyRecord) {
	if claim == nil {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	if err := s.Store.ReleaseIdempotency(rctx, claim); err != nil {
		s.logger().ErrorContext(ctx, "an Idempotency-Key of a failed generation could not be released; it stays claimed until it expires",
			"requestId", audit.RequestID(ctx), "workspace", claim.WorkspaceID, "destination", claim.DestinationID, "key", claim.KeyID, "error", err.Error())
	}
}
