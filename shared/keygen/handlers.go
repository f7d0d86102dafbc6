package keygen

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/phiguard/phiguard/shared/fieldcrypt"
	"github.com/phiguard/phiguard/shared/httpapi"
	"github.com/phiguard/phiguard/shared/phi"
)

// GenerateRequest is the body of POST .../keys. Both members are optional: the algorithm
// defaults to fieldcrypt.DefaultAlgorithm (hpke-p256), the RSA size to fieldcrypt.DefaultRSABits.
type GenerateRequest struct {
	Algorithm string `json:"algorithm,omitempty"`
	// RSABits is 2048, 3072 or 4096, for rsa-oaep-sha256 only.
	RSABits int `json:"rsaBits,omitempty"`
}

// ImportRequest is the body of POST .../keys/import: a customer's public key (PEM) and,
// optionally, the algorithm it must be for (otherwise inferred from the key).
type ImportRequest struct {
	Algorithm string `json:"algorithm,omitempty"`
	PublicKey string `json:"publicKey"`
}

// HMACRequest is the optional body of POST .../hmac-keys.
type HMACRequest struct {
	// Algorithm, when sent, must be HMACAlgorithm.
	Algorithm string `json:"algorithm,omitempty"`
}

// GeneratedKey is the 201 response of POST .../keys: the stored metadata and, this once, the
// private key as PKCS#8 PEM.
type GeneratedKey struct {
	phi.Key
	PrivateKey string `json:"privateKey"`
}

// GeneratedHMACKey is the 201 response of POST .../hmac-keys: the stored metadata and, this once,
// the 32-byte key as standard base64.
type GeneratedHMACKey struct {
	phi.Key
	Secret string `json:"secret"`
}

// actor returns the caller the router authenticated; its absence is a wiring bug.
func actor(r *http.Request) (phi.Actor, error) {
	a, ok := httpapi.ActorFrom(r.Context())
	if !ok {
		return phi.Actor{}, errors.New("no actor on a routed request")
	}
	return a, nil
}

// destination returns the destination named by the path, ENOTFOUND when the caller's workspace
// has none of that id, and when eligible is set, EFORBIDDEN with the reason when the workspace is
// not HIPAA eligible. Workspace scoping (a token of another workspace) is the router's.
func (s *Service) destination(r *http.Request, eligible bool) (*phi.Destination, error) {
	wsID := r.PathValue("workspaceId")
	dstID, err := httpapi.PathID(r, "destinationId", phi.PrefixDestination)
	if err != nil {
		return nil, err
	}
	if eligible {
		ws, err := s.Store.GetWorkspace(r.Context(), wsID)
		if err != nil {
			return nil, fmt.Errorf("get workspace %s: %w", wsID, err)
		}
		if reason := httpapi.Ineligibility(ws); reason != "" {
			return nil, phi.Errorf(phi.EFORBIDDEN, "keys can only be generated or imported in a HIPAA eligible workspace: %s", reason).
				WithDetails(map[string]any{"hipaaEligible": false, "tier": ws.Tier, "baaSigned": ws.BAA.Signed})
		}
	}
	d, err := s.Store.GetDestination(r.Context(), wsID, dstID)
	if err != nil {
		return nil, fmt.Errorf("get destination %s: %w", dstID, err)
	}
	return d, nil
}

// keyTarget returns, for the routes that add a key, the caller and the destination the key is
// for, refusing as destination(r, true) does when the workspace is not HIPAA eligible.
func (s *Service) keyTarget(r *http.Request) (phi.Actor, *phi.Destination, error) {
	a, err := actor(r)
	if err != nil {
		return phi.Actor{}, nil, err
	}
	dst, err := s.destination(r, true)
	return a, dst, err
}

// decodeOptional decodes a JSON body like httpapi.Decode, but an absent or empty body leaves v
// as it is: the bodies of the generate routes have defaults for every member.
func decodeOptional(r *http.Request, v any) error {
	if r.Body == nil || r.ContentLength == 0 {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, httpapi.MaxBodyBytes+1))
	if err != nil {
		return phi.Errorf(phi.EBADREQUEST, "could not read the request body")
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.ContentLength = int64(len(b))
	return httpapi.Decode(r, v)
}

func invalid(field, format string, args ...any) error {
	reason := fmt.Sprintf(format, args...)
	return phi.Errorf(phi.EINVALID, "%s: %s", field, reason).
		WithDetails([]httpapi.Problem{{Field: field, Reason: reason}})
}

// parseGenerate validates a generate request and applies its defaults.
func parseGenerate(req GenerateRequest) (fieldcrypt.Algorithm, int, error) {
	if req.Algorithm == "" {
		req.Algorithm = string(fieldcrypt.DefaultAlgorithm)
	}
	alg, err := fieldcrypt.ParseAlgorithm(req.Algorithm)
	if err != nil {
		return "", 0, invalid("algorithm", "use %s (default), %s or %s", fieldcrypt.HPKEP256, fieldcrypt.HPKEXWing, fieldcrypt.RSAOAEPSHA256)
	}
	if alg != fieldcrypt.RSAOAEPSHA256 {
		if req.RSABits != 0 {
			return "", 0, invalid("rsaBits", "applies only to %s; leave it out for %s", fieldcrypt.RSAOAEPSHA256, alg)
		}
		return alg, 0, nil
	}
	switch req.RSABits {
	case 0:
		return alg, fieldcrypt.DefaultRSABits, nil
	case 2048, 3072, 4096:
		return alg, req.RSABits, nil
	}
	return "", 0, invalid("rsaBits", "use 2048, 3072 or 4096 (default %d)", fieldcrypt.DefaultRSABits)
}

// generateKeyPair serves POST .../keys: a key pair through KMS, stored as the destination's active
// key (the previous one becomes decrypt-only), the private key returned once.
func (s *Service) generateKeyPair(w http.ResponseWriter, r *http.Request) error {
	a, dst, err := s.keyTarget(r)
	if err != nil {
		return err
	}
	var req GenerateRequest
	if err := decodeOptional(r, &req); err != nil {
		return err
	}
	alg, bits, err := parseGenerate(req)
	if err != nil {
		return err
	}
	keyID := phi.NewID(phi.PrefixKey)
	httpapi.SetAuditTarget(r, "destinations/"+dst.ID+"/keys/"+keyID)
	if err := httpapi.AuditAttempt(r); err != nil {
		return fmt.Errorf("generate key %s: %w", keyID, err)
	}
	pub, privPEM, err := s.newKeyPair(r.Context(), alg, bits, dst.WorkspaceID, dst.ID, keyID)
	if err != nil {
		return fmt.Errorf("generate %s key %s: %w", alg, keyID, err)
	}
	defer clear(privPEM)
	k := &phi.Key{
		ID: keyID, WorkspaceID: dst.WorkspaceID, DestinationID: dst.ID,
		Kind: phi.KeyEncryption, Algorithm: string(alg), Origin: phi.OriginKMS,
		PublicKeyPEM: string(pub.PEM()), Fingerprint: pub.Fingerprint(),
		Status: phi.KeyActive, CreatedAt: s.Now().UTC(), CreatedBy: a.ID,
	}
	// The response is built before the key is stored: once the key is active, nothing may
	// stand between it and the caller receiving its private key.
	body, err := secretBody(k, "privateKey", privPEM)
	clear(privPEM)
	if err != nil {
		return fmt.Errorf("respond with key %s: %w", keyID, err)
	}
	if err := s.activate(r.Context(), k); err != nil {
		clear(body)
		return err
	}
	s.Logger.InfoContext(r.Context(), "key pair generated", "requestId", httpapi.RequestID(r.Context()),
		"workspace", k.WorkspaceID, "destination", k.DestinationID, "key", k.ID, "algorithm", k.Algorithm, "fingerprint", k.Fingerprint)
	writeSecret(w, http.StatusCreated, body)
	return nil
}

// generateHMACKey serves POST .../hmac-keys: a KMS data key stored only as its KMS ciphertext,
// the plaintext returned once.
func (s *Service) generateHMACKey(w http.ResponseWriter, r *http.Request) error {
	a, dst, err := s.keyTarget(r)
	if err != nil {
		return err
	}
	var req HMACRequest
	if err := decodeOptional(r, &req); err != nil {
		return err
	}
	if req.Algorithm != "" && req.Algorithm != HMACAlgorithm {
		return invalid("algorithm", "HMAC keys are %s; leave it out or send %q", HMACAlgorithm, HMACAlgorithm)
	}
	keyID := phi.NewID(phi.PrefixKey)
	httpapi.SetAuditTarget(r, "destinations/"+dst.ID+"/hmac-keys/"+keyID)
	if err := httpapi.AuditAttempt(r); err != nil {
		return fmt.Errorf("generate HMAC key %s: %w", keyID, err)
	}
	k := &phi.Key{
		ID: keyID, WorkspaceID: dst.WorkspaceID, DestinationID: dst.ID,
		Kind: phi.KeyHMAC, Algorithm: HMACAlgorithm, Origin: phi.OriginKMS,
		Status: phi.KeyActive, CreatedAt: s.Now().UTC(), CreatedBy: a.ID,
	}
	blob, secret, err := s.newHMACKey(r.Context(), k)
	if err != nil {
		return fmt.Errorf("generate HMAC key %s: %w", keyID, err)
	}
	defer clear(secret)
	k.EncryptedHMACKey = blob
	body, err := secretBody(k, "secret", secret)
	clear(secret)
	if err != nil {
		return fmt.Errorf("respond with HMAC key %s: %w", keyID, err)
	}
	if err := s.activate(r.Context(), k); err != nil {
		clear(body)
		return err
	}
	s.Logger.InfoContext(r.Context(), "HMAC key generated", "requestId", httpapi.RequestID(r.Context()),
		"workspace", k.WorkspaceID, "destination", k.DestinationID, "key", k.ID)
	writeSecret(w, http.StatusCreated, body)
	return nil
}

// maxKeyErrorLen bounds the validation message of an imported key quoted back to the caller.
const maxKeyErrorLen = 300

// importKey serves POST .../keys/import: a customer's public key, validated by fieldcrypt, stored
// as the destination's active key. A key this destination already has (in any status) is refused,
// so a revoked key can never come back.
func (s *Service) importKey(w http.ResponseWriter, r *http.Request) error {
	a, dst, err := s.keyTarget(r)
	if err != nil {
		return err
	}
	var req ImportRequest
	if err := httpapi.Decode(r, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.PublicKey) == "" {
		return invalid("publicKey", "is required: a PEM \"PUBLIC KEY\" block")
	}
	var pub *fieldcrypt.PublicKey
	if req.Algorithm == "" {
		pub, err = fieldcrypt.ParsePublicKey([]byte(req.PublicKey))
	} else {
		alg, aerr := fieldcrypt.ParseAlgorithm(req.Algorithm)
		if aerr != nil {
			return invalid("algorithm", "use %s, %s or %s, or leave it out to take the key's own", fieldcrypt.HPKEP256, fieldcrypt.HPKEXWing, fieldcrypt.RSAOAEPSHA256)
		}
		pub, err = fieldcrypt.ParsePublicKeyFor(alg, []byte(req.PublicKey))
	}
	if err != nil {
		// fieldcrypt's messages say what is wrong (private key, certificate, type, size, curve)
		// and never contain key bytes; the prefix is trimmed and the length bounded anyway.
		msg := strings.TrimPrefix(err.Error(), "fieldcrypt: ")
		if len(msg) > maxKeyErrorLen {
			msg = msg[:maxKeyErrorLen] + "…"
		}
		return invalid("publicKey", "%s", msg)
	}
	existing, err := s.Store.ListKeys(r.Context(), dst.WorkspaceID, dst.ID)
	if err != nil {
		return fmt.Errorf("list keys of destination %s: %w", dst.ID, err)
	}
	fp := pub.Fingerprint()
	if i := slices.IndexFunc(existing, func(k phi.Key) bool { return k.Fingerprint == fp }); i >= 0 {
		return phi.Errorf(phi.ECONFLICT, "this public key is already key %s of the destination (%s); generate a new key pair to rotate", existing[i].ID, existing[i].Status).
			WithDetails(map[string]string{"keyId": existing[i].ID, "status": string(existing[i].Status)})
	}
	k := &phi.Key{
		ID: phi.NewID(phi.PrefixKey), WorkspaceID: dst.WorkspaceID, DestinationID: dst.ID,
		Kind: phi.KeyEncryption, Algorithm: string(pub.Algorithm()), Origin: phi.OriginBYOK,
		PublicKeyPEM: string(pub.PEM()), Fingerprint: fp,
		CreatedAt: s.Now().UTC(), CreatedBy: a.ID,
	}
	httpapi.SetAuditTarget(r, "destinations/"+dst.ID+"/keys/"+k.ID)
	if err := httpapi.AuditAttempt(r); err != nil {
		return fmt.Errorf("import key %s: %w", k.ID, err)
	}
	if err := s.activate(r.Context(), k); err != nil {
		return err
	}
	w.Header().Set("Location", strings.TrimSuffix(r.URL.Path, "/import"))
	httpapi.WriteJSON(w, http.StatusCreated, k)
	return nil
}

// rollbackTimeout bounds the revocation of a key whose storing may have half-failed.
const rollbackTimeout = 5 * time.Second

// activate stores k as its destination's active key (the previous one becomes decrypt-only).
// It is called only once the attempt is audited and the response is built, so that no key
// becomes active unless the action is audited and the caller is about to receive the key. When
// the write fails in a way that may nonetheless have committed (a timeout, a lost connection),
// activate revokes k before returning the error: the caller gets 500 and never sees the
// secret, so data encrypted under k could never be decrypted. A refusal (EINVALID, ENOTFOUND,
// ECONFLICT) wrote nothing and is returned as it is, wrapped. A failed revocation is logged
// with the key id for an operator to revoke by hand.
func (s *Service) activate(ctx context.Context, k *phi.Key) error {
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
	if rerr := s.Store.RevokeKey(rctx, k.WorkspaceID, k.DestinationID, k.ID, s.Now().UTC()); rerr != nil && phi.ErrorCode(rerr) != phi.ENOTFOUND {
		s.Logger.ErrorContext(ctx, "a key whose storing failed could not be revoked; revoke it by hand",
			"requestId", httpapi.RequestID(ctx), "workspace", k.WorkspaceID, "destination", k.DestinationID, "key", k.ID, "error", rerr.Error())
	}
	return fmt.Errorf("store key %s: %w", k.ID, err)
}

// revokeKey serves POST .../keys/{keyId}/revoke. Revoking stays possible when the workspace has
// lost its eligibility: it only ever reduces what a key can do.
func (s *Service) revokeKey(w http.ResponseWriter, r *http.Request) error {
	dst, err := s.destination(r, false)
	if err != nil {
		return err
	}
	keyID, err := httpapi.PathID(r, "keyId", phi.PrefixKey)
	if err != nil {
		return err
	}
	if err := httpapi.AuditAttempt(r); err != nil {
		return fmt.Errorf("revoke key %s: %w", keyID, err)
	}
	if err := s.Store.RevokeKey(r.Context(), dst.WorkspaceID, dst.ID, keyID, s.Now().UTC()); err != nil {
		return fmt.Errorf("revoke key %s: %w", keyID, err)
	}
	k, err := s.Store.GetKey(r.Context(), dst.WorkspaceID, dst.ID, keyID)
	if err != nil {
		return fmt.Errorf("get revoked key %s: %w", keyID, err)
	}
	httpapi.WriteJSON(w, http.StatusOK, k)
	return nil
}

// listKeys serves GET .../keys: metadata and public keys, newest first, paged with ?limit= and
// ?cursor=. Private keys and HMAC keys are never part of it (phi.Key cannot hold them in JSON).
func (s *Service) listKeys(w http.ResponseWriter, r *http.Request) error {
	page, err := httpapi.PageParams(r)
	if err != nil {
		return err
	}
	dst, err := s.destination(r, false)
	if err != nil {
		return err
	}
	keys, err := s.Store.ListKeys(r.Context(), dst.WorkspaceID, dst.ID)
	if err != nil {
		return fmt.Errorf("list keys of destination %s: %w", dst.ID, err)
	}
	items, next, err := pageKeys(keys, page)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, httpapi.NewList(items, next))
	return nil
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
