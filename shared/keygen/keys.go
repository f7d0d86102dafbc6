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
// PEM, or the HMAC key as standard base64. The caller hands Secret to the customer and then
// clears it (Clear); the key becomes usable only through Activate.
type Secret struct {
	Key    *phi.Key
	Secret []byte
}

// Clear overwrites the secret.
func (s *Secret) Clear() { clear(s.Secret) }

// NewKeyPair generates a key pair for dst through KMS (after audit.Attempt names it, so that
// nothing irreversible happens unaudited) and returns it with its private key. The key is not
// stored: the caller builds what carries the private key to the customer and then calls
// Activate. Bad input is EINVALID; a failed attempt record or KMS call an internal error.
func (s *Service) NewKeyPair(ctx context.Context, a phi.Actor, dst *phi.Destination, req GenerateRequest) (*Secret, error) {
	alg, bits, err := ParseGenerate(req)
	if err != nil {
		return nil, err
	}
	keyID := phi.NewID(phi.PrefixKey)
	audit.SetTarget(ctx, "destinations/"+dst.ID+"/keys/"+keyID)
	if err := audit.Attempt(ctx); err != nil {
		return nil, fmt.Errorf("generate key %s: %w", keyID, err)
	}
	pub, privPEM, err := s.newKeyPair(ctx, alg, bits, dst.WorkspaceID, dst.ID, keyID)
	if err != nil {
		return nil, fmt.Errorf("generate %s key %s: %w", alg, keyID, err)
	}
	return &Secret{Secret: privPEM, Key: &phi.Key{
		ID: keyID, WorkspaceID: dst.WorkspaceID, DestinationID: dst.ID,
		Kind: phi.KeyEncryption, Algorithm: string(alg), Origin: phi.OriginKMS,
		PublicKeyPEM: string(pub.PEM()), Fingerprint: pub.Fingerprint(),
		Status: phi.KeyActive, CreatedAt: s.now(), CreatedBy: a.ID,
	}}, nil
}

// NewHMACKey generates an HMAC key for dst through KMS (after audit.Attempt), kept in the
// returned key only as its KMS ciphertext, and returns it with the plaintext key. As with
// NewKeyPair, the caller then calls Activate.
func (s *Service) NewHMACKey(ctx context.Context, a phi.Actor, dst *phi.Destination, req HMACRequest) (*Secret, error) {
	if req.Algorithm != "" && req.Algorithm != HMACAlgorithm {
		return nil, phi.InvalidField("algorithm", "HMAC keys are %s; leave it out or send %q", HMACAlgorithm, HMACAlgorithm)
	}
	keyID := phi.NewID(phi.PrefixKey)
	audit.SetTarget(ctx, "destinations/"+dst.ID+"/hmac-keys/"+keyID)
	if err := audit.Attempt(ctx); err != nil {
		return nil, fmt.Errorf("generate HMAC key %s: %w", keyID, err)
	}
	k := &phi.Key{
		ID: keyID, WorkspaceID: dst.WorkspaceID, DestinationID: dst.ID,
		Kind: phi.KeyHMAC, Algorithm: HMACAlgorithm, Origin: phi.OriginKMS,
		Status: phi.KeyActive, CreatedAt: s.now(), CreatedBy: a.ID,
	}
	blob, secret, err := s.newHMACKey(ctx, k)
	if err != nil {
		return nil, fmt.Errorf("generate HMAC key %s: %w", keyID, err)
	}
	k.EncryptedHMACKey = blob
	return &Secret{Key: k, Secret: secret}, nil
}

// maxKeyErrorLen bounds the validation message of an imported key quoted back to the caller.
const maxKeyErrorLen = 300

// Import validates a customer's public key with fieldcrypt and stores it as dst's active key
// (after audit.Attempt). A key this destination already has (in any status) is refused
// (ECONFLICT), so a revoked key can never come back; a key fieldcrypt refuses is EINVALID naming
// publicKey with fieldcrypt's reason.
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
	if err := s.Activate(ctx, k); err != nil {
		return nil, err
	}
	return k, nil
}

// rollbackTimeout bounds the revocation of a key whose storing may have half-failed.
const rollbackTimeout = 5 * time.Second

// Activate stores k as its destination's active key (the previous one becomes decrypt-only).
// Call it only once the attempt is audited and what carries the secret to the customer is
// built, so that no key becomes active unless the action is audited and the customer is about to
// receive the key. When the write fails in a way that may nonetheless have committed (a timeout,
// a lost connection), Activate revokes k before returning the error: the caller answers with an
// internal error and never shows the secret, so data encrypted under k could never be decrypted.
// A refusal (EINVALID, ENOTFOUND, ECONFLICT) wrote nothing and is returned as it is, wrapped. A
// failed revocation is logged with the key id for an operator to revoke by hand.
func (s *Service) Activate(ctx context.Context, k *phi.Key) error {
	err := s.Store.PutActiveKey(ctx, k)
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

// Revoke revokes key keyID of dst (after audit.Attempt) and returns it; revoking a revoked key
// succeeds, an unknown one is ENOTFOUND.
func (s *Service) Revoke(ctx context.Context, dst *phi.Destination, keyID string) (*phi.Key, error) {
	if err := audit.Attempt(ctx); err != nil {
		return nil, fmt.Errorf("revoke key %s: %w", keyID, err)
	}
	if err := s.Store.RevokeKey(ctx, dst.WorkspaceID, dst.ID, keyID, s.now()); err != nil {
		return nil, fmt.Errorf("revoke key %s: %w", keyID, err)
	}
	k, err := s.Store.GetKey(ctx, dst.WorkspaceID, dst.ID, keyID)
	if err != nil {
		return nil, fmt.Errorf("get revoked key %s: %w", keyID, err)
	}
	return k, nil
}

// Keys returns one page of dst's keys, newest first: metadata and public keys only (phi.Key
// cannot hold a private key, and the HMAC key's ciphertext is dropped). A cursor this service
// did not return is EBADREQUEST.
func (s *Service) Keys(ctx context.Context, dst *phi.Destination, page phi.Page) ([]phi.Key, string, error) {
	keys, err := s.Store.ListKeys(ctx, dst.WorkspaceID, dst.ID)
	if err != nil {
		return nil, "", fmt.Errorf("list keys of destination %s: %w", dst.ID, err)
	}
	return pageKeys(keys, page)
}

var errBadCursor = phi.Errorf(phi.EBADREQUEST, "cursor is not one this API returned").
	WithDetails(map[string]string{"parameter": "cursor"})

// pageKeys cuts one page out of a destination's keys (a handful, all read at once). The cursor is
// the base64url of the last key id of the previous page.
func pageKeys(keys []phi.Key, page phi.Page) ([]phi.Key, string, error) {
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
	end := min(start+page.Limit, len(keys))
	items := keys[start:end]
	for i := range items {
		items[i].EncryptedHMACKey = nil // not in JSON anyway; not kept in memory longer either
	}
	next := ""
	if end < len(keys) {
		next = base64.RawURLEncoding.EncodeToString([]byte(keys[end-1].ID))
	}
	return items, next, nil
}
