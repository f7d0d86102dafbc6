package keygen

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/phiguard/phiguard/shared/audit"
	"github.com/phiguard/phiguard/shared/fieldcrypt"
	"github.com/phiguard/phiguard/shared/phi"
)

// GenerateRequest is what a key pair is generated from. Both members are optional: the
// algorithm defaults to fieldcrypt.DefaultAlgorithm (hpke-p256), the RSA size to
// fieldcrypt.DefaultRSABits.
type GenerateRequest struct {
	Algorithm string `json:"algorithm,omitempty"`
	// RSABits is 2048, 3072 or 4096, for rsa-oaep-sha256 only.
	RSABits int `json:"rsaBits,omitempty"`
	// IdempotencyKey, when set, makes a retry of this request generate no second key (see the
	// package documentation). It is not part of the body: the REST API reads the
	// Idempotency-Key header.
	IdempotencyKey string `json:"-"`
}

// ImportRequest is a customer's public key (PEM) and, optionally, the algorithm it must be for
// (otherwise inferred from the key).
type ImportRequest struct {
	Algorithm string `json:"algorithm,omitempty"`
	PublicKey string `json:"publicKey"`
}

// HMACRequest is what an HMAC key is generated from.
type HMACRequest struct {
	// Algorithm, when sent, must be HMACAlgorithm.
	Algorithm string `json:"algorithm,omitempty"`
	// IdempotencyKey is as in GenerateRequest.
	IdempotencyKey string `json:"-"`
}

// Destination returns destination dstID of workspace wsID, which a key operation acts on:
// ENOTFOUND when the workspace has none of that id and, when eligible is set, EFORBIDDEN with the
// reason when the workspace is not HIPAA eligible (revoking and listing stay possible: they only
// ever reduce what a key can do).
func (s *Service) Destination(ctx context.Context, wsID, dstID string, eligible bool) (*phi.Destination, error) {
	if eligible {
		ws, err := s.Store.GetWorkspace(ctx, wsID)
		if err != nil {
			return nil, fmt.Errorf("get workspace %s: %w", wsID, err)
		}
		if err := ws.NotEligible("keys can only be generated or imported"); err != nil {
			return nil, err
		}
	}
	d, err := s.Store.GetDestination(ctx, wsID, dstID)
	if err != nil {
		return nil, fmt.Errorf("get destination %s: %w", dstID, err)
	}
	return d, nil
}

// ParseGenerate validates a generate request and applies its defaults: EINVALID naming the
// member otherwise.
func ParseGenerate(req GenerateRequest) (fieldcrypt.Algorithm, int, error) {
	if req.Algorithm == "" {
		req.Algorithm = string(fieldcrypt.DefaultAlgorithm)
	}
	alg, err := fieldcrypt.ParseAlgorithm(req.Algorithm)
	if err != nil {
		return "", 0, phi.InvalidField("algorithm", "use %s (default), %s or %s", fieldcrypt.HPKEP256, fieldcrypt.HPKEXWing, fieldcrypt.RSAOAEPSHA256)
	}
	if alg != fieldcrypt.RSAOAEPSHA256 {
		if req.RSABits != 0 {
			return "", 0, phi.InvalidField("rsaBits", "applies only to %s; leave it out for %s", fieldcrypt.RSAOAEPSHA256, alg)
		}
		return alg, 0, nil
	}
	switch {
	case req.RSABits == 0:
		return alg, fieldcrypt.DefaultRSABits, nil
	case fieldcrypt.ValidRSASize(req.RSABits):
		return alg, req.RSABits, nil
	}
	return "", 0, phi.InvalidField("rsaBits", "use %s (default %d)", fieldcrypt.RSASizeList(), fieldcrypt.DefaultRSABits)
}

// Secret is a generated key's metadata and, this once, its secret: the private key as PKCS#8
// PEM, or the HMAC key as standard base64. The caller builds what hands Secret to the customer,
// stores the key (StorePending, or Abandon when it gives up) and then clears the secret (Clear).
// The key becomes usable only through ActivatePending.
type Secret struct {
	Key    *phi.Key
	Secret []byte
	// claim is the Idempotency-Key record this generation holds; nil without one.
	claim *phi.IdempotencyRecord
}

// Clear overwrites the secret.
func (s *Secret) Clear() { clear(s.Secret) }

// pending returns the metadata of a key generated now: pending, expiring PendingKeyTTL from now
// (to the second, as the store keeps it).
func (s *Service) pending(k *phi.Key) *phi.Key {
	now := s.now()
	exp := now.Add(PendingKeyTTL).Truncate(time.Second)
	k.Status, k.CreatedAt, k.ExpiresAt = phi.KeyPending, now, &exp
	return k
}

// NewKeyPair generates a key pair for dst through KMS (after claiming req.IdempotencyKey, and
// after audit.Attempt names the key, so that nothing irreversible happens unaudited) and returns
// it, pending, with its private key. The key is not stored: the caller builds what carries the
// private key to the customer and then calls StorePending. Bad input is EINVALID; a repeated
// Idempotency-Key ECONFLICT (same request) or EINVALID (another request), a malformed one
// EBADREQUEST (see the package documentation); a failed attempt record or KMS call an internal
// error.
func (s *Service) NewKeyPair(ctx context.Context, a phi.Actor, dst *phi.Destination, req GenerateRequest) (*Secret, error) {
	alg, bits, err := ParseGenerate(req)
	if err != nil {
		return nil, err
	}
	keyID := phi.NewID(phi.PrefixKey)
	claim, err := s.claim(ctx, dst, phi.KeyEncryption, req.IdempotencyKey, fmt.Sprintf("%s/%d", alg, bits), keyID)
	if err != nil {
		return nil, err
	}
	audit.SetTarget(ctx, keyTarget(dst, phi.KeyEncryption, keyID))
	if err := audit.Attempt(ctx); err != nil {
		s.release(ctx, claim)
		return nil, fmt.Errorf("generate key %s: %w", keyID, err)
	}
	pub, privPEM, err := s.newKeyPair(ctx, alg, bits, dst.WorkspaceID, dst.ID, keyID)
	if err != nil {
		s.release(ctx, claim)
		return nil, fmt.Errorf("generate %s key %s: %w", alg, keyID, err)
	}
	return &Secret{Secret: privPEM, claim: claim, Key: s.pending(&phi.Key{
		ID: keyID, WorkspaceID: dst.WorkspaceID, DestinationID: dst.ID,
		Kind: phi.KeyEncryption, Algorithm: string(alg), Origin: phi.OriginKMS,
		PublicKeyPEM: string(pub.PEM()), Fingerprint: pub.Fingerprint(), CreatedBy: a.ID,
	})}, nil
}

// NewHMACKey generates an HMAC key for dst through KMS (after claiming req.IdempotencyKey and
// audit.Attempt), kept in the returned pending key only as its KMS ciphertext, and returns it with
// the plaintext key. As with NewKeyPair, the caller then calls StorePending.
func (s *Service) NewHMACKey(ctx context.Context, a phi.Actor, dst *phi.Destination, req HMACRequest) (*Secret, error) {
	if req.Algorithm != "" && req.Algorithm != HMACAlgorithm {
		return nil, phi.InvalidField("algorithm", "HMAC keys are %s; leave it out or send %q", HMACAlgorithm, HMACAlgorithm)
	}
	keyID := phi.NewID(phi.PrefixKey)
	claim, err := s.claim(ctx, dst, phi.KeyHMAC, req.IdempotencyKey, HMACAlgorithm, keyID)
	if err != nil {
		return nil, err
	}
	audit.SetTarget(ctx, keyTarget(dst, phi.KeyHMAC, keyID))
	if err := audit.Attempt(ctx); err != nil {
		s.release(ctx, claim)
		return nil, fmt.Errorf("generate HMAC key %s: %w", keyID, err)
	}
	k := s.pending(&phi.Key{
		ID: keyID, WorkspaceID: dst.WorkspaceID, DestinationID: dst.ID,
		Kind: phi.KeyHMAC, Algorithm: HMACAlgorithm, Origin: phi.OriginKMS, CreatedBy: a.ID,
	})
	blob, secret, err := s.newHMACKey(ctx, k)
	if err != nil {
		s.release(ctx, claim)
		return nil, fmt.Errorf("generate HMAC key %s: %w", keyID, err)
	}
	k.EncryptedHMACKey = blob
	return &Secret{Key: k, Secret: secret, claim: claim}, nil
}

// maxKeyErrorLen bounds the validation message of an imported key quoted back to the caller.
const maxKeyErrorLen = 300

// Import validates a customer's public key with fieldcrypt and stores it as dst's active key
// (after audit.Attempt): it needs no confirmation, since the customer holds the private key. A
// key this destination already has (in any status) is refused (ECONFLICT), so a revoked key can
// never come back; a key fieldcrypt refuses is EINVALID naming publicKey with fieldcrypt's reason.
func (s *Service) Import(ctx context.Context, a phi.Actor, dst *phi.Destination, req ImportRequest) (*phi.Key, error) {
	if strings.TrimSpace(req.PublicKey) == "" {
		return nil, phi.InvalidField("publicKey", "is required: a PEM \"PUBLIC KEY\" block")
	}
	var pub *fieldcrypt.PublicKey
	var err error
	if req.Algorithm == "" {
		pub, err = fieldcrypt.ParsePublicKey([]byte(req.PublicKey))
	} else {
		alg, aerr := fieldcrypt.ParseAlgorithm(req.Algorithm)
		if aerr != nil {
			return nil, phi.InvalidField("algorithm", "use %s, %s or %s, or leave it out to take the key's own", fieldcrypt.HPKEP256, fieldcrypt.HPKEXWing, fieldcrypt.RSAOAEPSHA256)
		}
		pub, err = fieldcrypt.ParsePublicKeyFor(alg, []byte(req.PublicKey))
	}
	var fe *fieldcrypt.Error
	if errors.As(err, &fe) {
		// fieldcrypt's reasons say what is wrong (private key, certificate, type, size, curve)
		// and never contain key bytes; the length is bounded anyway.
		return nil, phi.InvalidField("publicKey", "%v: %s", fe.Kind, phi.Clip(fe.Reason, maxKeyErrorLen))
	}
	if err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	existing, err := s.Store.ListKeys(ctx, dst.WorkspaceID, dst.ID)
	if err != nil {
		return nil, fmt.Errorf("list keys of destination %s: %w", dst.ID, err)
	}
	fp := pub.Fingerprint()
	if i := slices.IndexFunc(existing, func(k phi.Key) bool { return k.Fingerprint == fp }); i >= 0 {
		return nil, phi.Errorf(phi.ECONFLICT, "this public key is already key %s of the destination (%s); generate a new key pair to rotate", existing[i].ID, existing[i].Status).
			WithDetails(map[string]string{"keyId": existing[i].ID, "status": string(existing[i].Status)})
	}
	k := &phi.Key{
		ID: phi.NewID(phi.PrefixKey), WorkspaceID: dst.WorkspaceID, DestinationID: dst.ID,
		Kind: phi.KeyEncryption, Algorithm: string(pub.Algorithm()), Origin: phi.OriginBYOK,
		PublicKeyPEM: string(pub.PEM()), Fingerprint: fp,
		CreatedAt: s.now(), CreatedBy: a.ID,
	}
	audit.SetTarget(ctx, "destinations/"+dst.ID+"/keys/"+k.ID)
	if err := audit.Attempt(ctx); err != nil {
		return nil, fmt.Errorf("import key %s: %w", k.ID, err)
	}
	if _, err := s.tracked(ctx, dst, func() error { return s.put(ctx, k, s.Store.PutActiveKey) }); err != nil {
		return nil, err
	}
	return k, nil
}

// tracked runs change, a write to dst's keys, between two readings of dst's hashing state
// (phi.HashingState from the workspace and dst's keys as stored) and records the change it
// brought about (audit.HashingChange). It returns the state after, or the error of a reading
// or of change; when the second reading fails, change has been made.
func (s *Service) tracked(ctx context.Context, dst *phi.Destination, change func() error) (phi.HashingStatus, error) {
	before, err := s.hashingState(ctx, dst)
	if err != nil {
		return before, err
	}
	if err := change(); err != nil {
		return before, err
	}
	after, err := s.hashingState(ctx, dst)
	if err != nil {
		return after, err
	}
	audit.HashingChange(ctx, dst.ID, before, after)
	return after, nil
}

// hashingState returns dst's hashing state as stored.
func (s *Service) hashingState(ctx context.Context, dst *phi.Destination) (phi.HashingStatus, error) {
	ws, err := s.Store.GetWorkspace(ctx, dst.WorkspaceID)
	if err != nil {
		return phi.HashingStatus{}, fmt.Errorf("hashing state of destination %s: get workspace: %w", dst.ID, err)
	}
	keys, err := s.Store.ListKeys(ctx, dst.WorkspaceID, dst.ID)
	if err != nil {
		return phi.HashingStatus{}, fmt.Errorf("hashing state of destination %s: list keys: %w", dst.ID, err)
	}
	return phi.HashingState(dst, ws, keys), nil
}

// StorePending stores sec's key as a pending key of its destination, which nothing uses until
// ActivatePending. Call it only once the attempt is audited and what carries the secret to the
// customer is built, so that no key is stored unless the action is audited and the customer is
// about to receive the key. When the write fails in a way that may nonetheless have committed (a
// timeout, a lost connection), StorePending revokes the key before returning the error: the
// caller answers with an internal error and never shows the secret, so the key must never be
// activated. A refusal (EINVALID, ENOTFOUND, ECONFLICT) wrote nothing and is returned as it is,
// wrapped. A failed revocation is logged with the key id for an operator to revoke by hand. On any
// failure the Idempotency-Key, if any, is released: no secret went out, so a retry may generate.
func (s *Service) StorePending(ctx context.Context, sec *Secret) error {
	err := s.put(ctx, sec.Key, s.Store.PutPendingKey)
	if err != nil {
		s.release(ctx, sec.claim)
	}
	return err
}

// Abandon releases what NewKeyPair or NewHMACKey reserved (the Idempotency-Key) when the caller
// will not store the key after all, because it could not build the response. Nothing was stored.
func (s *Service) Abandon(ctx context.Context, sec *Secret) { s.release(ctx, sec.claim) }

// rollbackTimeout bounds the revocation of a key whose storing may have half-failed, and the
// release of an Idempotency-Key.
const rollbackTimeout = 5 * time.Second

// put stores k with write (PutActiveKey or PutPendingKey) and, when the write fails in a way
// that may have committed, revokes k (see StorePending).
func (s *Service) put(ctx context.Context, k *phi.Key, write func(context.Context, *phi.Key) error) error {
	err := write(ctx, k)
	if err == nil {
		return nil
	}
	switch phi.ErrorCode(err) {
	case phi.EINVALID, phi.ENOTFOUND, phi.ECONFLICT:
		return fmt.Errorf("store key %s: %w", k.ID, err)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	if rerr := s.Store.RevokeKey(rctx, k.WorkspaceID, k.DestinationID, k.ID, s.now()); rerr != nil && phi.ErrorCode(rerr) != phi.ENOTFOUND {
		s.logger().ErrorContext(ctx, "a key whose storing failed could not be revoked; revoke it by hand",
			"requestId", audit.RequestID(ctx), "workspace", k.WorkspaceID, "destination", k.DestinationID, "key", k.ID, "error", rerr.Error())
	}
	return fmt.Errorf("store key %s: %w", k.ID, err)
}

// ActivatePending makes pending key keyID of dst its active key of that kind (after
// audit.Attempt), and the previous active key of the kind decrypt-only — the owner's
// confirmation that they hold the key's secret (the console's Save). It returns the key as
// stored. Activating the active key again returns it unchanged (nothing is written). A key that
// does not exist (an expired pending key is deleted) is ENOTFOUND; a revoked, decrypt-only or
// expired one ECONFLICT saying to generate a new key.
func (s *Service) ActivatePending(ctx context.Context, a phi.Actor, dst *phi.Destination, keyID string) (*phi.Key, error) {
	k, err := s.Store.GetKey(ctx, dst.WorkspaceID, dst.ID, keyID)
	if phi.ErrorCode(err) == phi.ENOTFOUND {
		return nil, phi.Errorf(phi.ENOTFOUND, "key %s not found; a generated key that is not activated within %s is deleted: generate a new one", phi.Clip(keyID, 40), ttlText)
	}
	if err != nil {
		return nil, fmt.Errorf("get key %s: %w", keyID, err)
	}
	now := s.now()
	switch {
	case k.Status == phi.KeyActive:
		return k, nil
	case k.Status == phi.KeyRevoked:
		return nil, phi.Errorf(phi.ECONFLICT, "key %s is revoked and can never be activated; generate a new key", k.ID).
			WithDetails(map[string]string{"keyId": k.ID, "status": string(k.Status)})
	case k.Status == phi.KeyDecryptOnly:
		return nil, phi.Errorf(phi.ECONFLICT, "key %s is decrypt-only: a newer key replaced it, and a replaced key is never made active again; generate a new key", k.ID).
			WithDetails(map[string]string{"keyId": k.ID, "status": string(k.Status)})
	case k.Expired(now):
		return nil, errExpired(k)
	}
	if err := audit.Attempt(ctx); err != nil {
		return nil, fmt.Errorf("activate key %s: %w", keyID, err)
	}
	var active *phi.Key
	_, err = s.tracked(ctx, dst, func() (err error) {
		active, err = s.Store.ActivateKey(ctx, dst.WorkspaceID, dst.ID, keyID, now)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("activate key %s: %w", keyID, err)
	}
	s.logger().InfoContext(ctx, "key activated", "requestId", audit.RequestID(ctx), "workspace", dst.WorkspaceID,
		"destination", dst.ID, "key", keyID, "kind", active.Kind, "actor", a.ID)
	return active, nil
}

// ttlText is PendingKeyTTL in words, for messages.
var ttlText = func() string {
	switch h := PendingKeyTTL / time.Hour; {
	case PendingKeyTTL%time.Hour != 0:
		return fmt.Sprintf("%d minutes", int(PendingKeyTTL.Minutes()))
	case h == 1:
		return "an hour"
	default:
		return fmt.Sprintf("%d hours", h)
	}
}()

// errExpired refuses the activation of pending key k, expired.
func errExpired(k *phi.Key) error {
	at := ""
	if k.ExpiresAt != nil {
		at = " at " + k.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return phi.Errorf(phi.ECONFLICT, "pending key %s expired%s without being activated and can never be activated; generate a new key and activate it within %s", k.ID, at, ttlText).
		WithDetails(map[string]string{"keyId": k.ID, "status": "expired"})
}

// Revoke revokes key keyID of dst (after audit.Attempt) and returns it with dst's hashing state
// after the revocation (degraded when it was dst's only active key of a kind a treatment needs:
// audit.HashingChange records that); revoking a revoked key succeeds, an unknown one is
// ENOTFOUND.
func (s *Service) Revoke(ctx context.Context, dst *phi.Destination, keyID string) (*phi.Key, phi.HashingStatus, error) {
	if err := audit.Attempt(ctx); err != nil {
		return nil, phi.HashingStatus{}, fmt.Errorf("revoke key %s: %w", keyID, err)
	}
	st, err := s.tracked(ctx, dst, func() error { return s.Store.RevokeKey(ctx, dst.WorkspaceID, dst.ID, keyID, s.now()) })
	if err != nil {
		return nil, st, fmt.Errorf("revoke key %s: %w", keyID, err)
	}
	k, err := s.Store.GetKey(ctx, dst.WorkspaceID, dst.ID, keyID)
	if err != nil {
		return nil, st, fmt.Errorf("get revoked key %s: %w", keyID, err)
	}
	return k, st, nil
}

// Keys returns one page of dst's keys, newest first: metadata and public keys only (phi.Key
// cannot hold a private key, and the HMAC key's ciphertext is dropped). Pending keys are listed
// with their ExpiresAt until then; an expired one is left out, as if DynamoDB's TTL, which
// deletes it lazily, already had. A cursor this service did not return is EBADREQUEST.
func (s *Service) Keys(ctx context.Context, dst *phi.Destination, page phi.Page) ([]phi.Key, string, error) {
	keys, err := s.Store.ListKeys(ctx, dst.WorkspaceID, dst.ID)
	if err != nil {
		return nil, "", fmt.Errorf("list keys of destination %s: %w", dst.ID, err)
	}
	return pageKeys(keys, page, s.now())
}

var errBadCursor = phi.Errorf(phi.EBADREQUEST, "cursor is not one this API returned").
	WithDetails(map[string]string{"parameter": "cursor"})

// pageKeys cuts one page out of a destination's keys (a handful, all read at once), leaving out
// pending keys expired at now. The cursor is the base64url of the last key id of the previous
// page, found among all the keys, so that a key expiring between two pages does not break it.
func pageKeys(keys []phi.Key, page phi.Page, now time.Time) ([]phi.Key, string, error) {
	start := 0
	if page.Cursor != "" {
		id, err := base64.RawURLEncoding.DecodeString(page.Cursor)
		if err != nil || !phi.ValidID(phi.PrefixKey, string(id)) {
			return nil, "", errBadCursor
		}
		i := slices.IndexFunc(keys, func(k phi.Key) bool { return k.ID == string(id) })
		if i < 0 {
			return nil, "", errBadCursor
		}
		start = i + 1
	}
	rest := make([]phi.Key, 0, len(keys)-start)
	for _, k := range keys[start:] {
		if !k.Expired(now) {
			rest = append(rest, k)
		}
	}
	end := min(page.Limit, len(rest))
	items := rest[:end]
	for i := range items {
		items[i].EncryptedHMACKey = nil // not in JSON anyway; not kept in memory longer either
	}
	next := ""
	if end < len(rest) {
		next = base64.RawURLEncoding.EncodeToString([]byte(rest[end-1].ID))
	}
	return items, next, nil
}
