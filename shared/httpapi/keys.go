package httpapi

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/phiguard/phiguard/shared/audit"
	"github.com/phiguard/phiguard/shared/keygen"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

// KeygenAPI is the REST face of the key-generation service (function stack.FunctionKeygen).
// Private keys and HMAC keys appear only in the 201 response of their generation, marked
// Cache-Control: no-store — never later, not even to a retry of that request; see shared/keygen
// for the rules that keep them there. A generated key is pending until the owner activates it
// (POST .../keys/{keyId}/activate) once they have stored its secret.
type KeygenAPI struct {
	Keys *keygen.Service
	// Audit receives the routes' audit records.
	Audit  audit.Log
	Auth   Authenticator
	Logger *slog.Logger
	// Idempotency keeps the POST routes' Idempotency-Key records; the store when it is one
	// (*dynamo.Store is).
	Idempotency IdempotencyStore
}

// GeneratedKey is the 201 response of POST .../keys: the stored metadata and, this once, the
// private key as PKCS#8 PEM.
type GeneratedKey struct {
	phi.Key
	PrivateKey string `json:"privateKey"`
}

// GeneratedHMACKey is the 201 response of POST .../hmac-keys: the stored metadata and, this
// once, the 32-byte key as standard base64.
type GeneratedHMACKey struct {
	phi.Key
	Secret string `json:"secret"`
}

// Handler returns the router of every keygen route. It fails when a dependency is missing or the
// route table and the handlers disagree.
func (k *KeygenAPI) Handler() (http.Handler, error) {
	if k.Keys == nil {
		return nil, fmt.Errorf("keygen API: no key service")
	}
	if err := k.Keys.Check(); err != nil {
		return nil, err
	}
	if k.Logger == nil {
		k.Logger = slog.New(slog.DiscardHandler)
	}
	rt := NewRouter(RouterConfig{Auth: k.Auth, Audit: k.Audit, Logger: k.Logger, Now: k.Keys.Now, Idempotency: cmp.Or(k.Idempotency, idempotencyStoreOf(k.Keys.Store))}, stack.FunctionKeygen)
	rt.Handle(stack.RouteListKeys, k.listKeys)
	rt.Handle(stack.RouteGenerateKeyPair, k.generateKeyPair)
	rt.Handle(stack.RouteImportKey, k.importKey)
	rt.Handle(stack.RouteRevokeKey, k.revokeKey)
	rt.Handle(stack.RouteActivateKey, k.activateKey)
	rt.Handle(stack.RouteGenerateHMACKey, k.generateHMACKey)
	return rt.Handler()
}

// target returns the caller and the destination named by the path; eligible as in
// keygen.Service.Destination.
func (k *KeygenAPI) target(r *http.Request, eligible bool) (phi.Actor, *phi.Destination, error) {
	a, err := Actor(r)
	if err != nil {
		return phi.Actor{}, nil, err
	}
	dstID, err := PathID(r, "destinationId", phi.PrefixDestination)
	if err != nil {
		return phi.Actor{}, nil, err
	}
	dst, err := k.Keys.Destination(r.Context(), r.PathValue("workspaceId"), dstID, eligible)
	return a, dst, err
}

// decodeOptional decodes a JSON body like Decode, but an absent or empty body leaves v as it
// is: the bodies of the generate routes have defaults for every member.
func decodeOptional(r *http.Request, v any) error {
	if r.Body == nil || r.ContentLength == 0 {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return phi.Errorf(phi.EBADREQUEST, "could not read the request body")
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.ContentLength = int64(len(b))
	return Decode(r, v)
}

// IdempotencyKeyHeader is the header that makes a generate request safe to retry: a retry with
// the same value creates no second key (and never receives the first one's secret).
const IdempotencyKeyHeader = "Idempotency-Key"

// idempotencyKey returns the request's Idempotency-Key, "" when it has none, and EBADREQUEST when
// it is sent more than once or is not 1 to 255 printable ASCII characters.
func idempotencyKey(r *http.Request) (string, error) {
	vs := r.Header.Values(IdempotencyKeyHeader)
	switch {
	case len(vs) == 0:
		return "", nil
	case len(vs) > 1 || !keygen.ValidIdempotencyKey(vs[0]):
		return "", keygen.ErrIdempotencyKey
	}
	return vs[0], nil
}

// respondOnce answers with a generated key and its secret: the body is built before the key is
// stored (pending) — once the key is stored, nothing may stand between it and the caller
// receiving its secret — and every buffer holding the secret is cleared once written.
func (k *KeygenAPI) respondOnce(w http.ResponseWriter, r *http.Request, sec *keygen.Secret, field, logMsg string) error {
	defer sec.Clear()
	body, err := secretBody(sec.Key, field, sec.Secret)
	sec.Clear()
	if err != nil {
		k.Keys.Abandon(r.Context(), sec)
		return fmt.Errorf("respond with key %s: %w", sec.Key.ID, err)
	}
	if err := k.Keys.StorePending(r.Context(), sec); err != nil {
		clear(body)
		return err
	}
	k.Logger.InfoContext(r.Context(), logMsg, "requestId", RequestID(r.Context()),
		"workspace", sec.Key.WorkspaceID, "destination", sec.Key.DestinationID, "key", sec.Key.ID,
		"kind", sec.Key.Kind, "algorithm", sec.Key.Algorithm, "fingerprint", sec.Key.Fingerprint, "status", sec.Key.Status)
	writeSecret(w, http.StatusCreated, body)
	return nil
}

// generateKeyPair serves POST .../keys: a key pair through KMS, stored pending (the active key
// stays as it is until the new one is activated), the private key returned once.
func (k *KeygenAPI) generateKeyPair(w http.ResponseWriter, r *http.Request) error {
	a, dst, err := k.target(r, true)
	if err != nil {
		return err
	}
	var req keygen.GenerateRequest
	if err := decodeOptional(r, &req); err != nil {
		return err
	}
	if req.IdempotencyKey, err = idempotencyKey(r); err != nil {
		return err
	}
	sec, err := k.Keys.NewKeyPair(r.Context(), a, dst, req)
	if err != nil {
		return err
	}
	return k.respondOnce(w, r, sec, "privateKey", "key pair generated")
}

// generateHMACKey serves POST .../hmac-keys: a KMS data key stored (pending) only as its KMS
// ciphertext, the plaintext returned once.
func (k *KeygenAPI) generateHMACKey(w http.ResponseWriter, r *http.Request) error {
	a, dst, err := k.target(r, true)
	if err != nil {
		return err
	}
	var req keygen.HMACRequest
	if err := decodeOptional(r, &req); err != nil {
		return err
	}
	if req.IdempotencyKey, err = idempotencyKey(r); err != nil {
		return err
	}
	sec, err := k.Keys.NewHMACKey(r.Context(), a, dst, req)
	if err != nil {
		return err
	}
	return k.respondOnce(w, r, sec, "secret", "HMAC key generated")
}

// activateKey serves POST .../keys/{keyId}/activate: the owner confirms they stored a generated
// key's secret, and the key becomes the destination's active key of its kind (the previous one
// decrypt-only). It answers with the key's metadata, never its secret.
func (k *KeygenAPI) activateKey(w http.ResponseWriter, r *http.Request) error {
	a, dst, err := k.target(r, true)
	if err != nil {
		return err
	}
	keyID, err := PathID(r, "keyId", phi.PrefixKey)
	if err != nil {
		return err
	}
	key, err := k.Keys.ActivatePending(r.Context(), a, dst, keyID)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, key)
	return nil
}

// importKey serves POST .../keys/import: a customer's public key, stored as the destination's
// active key.
func (k *KeygenAPI) importKey(w http.ResponseWriter, r *http.Request) error {
	a, dst, err := k.target(r, true)
	if err != nil {
		return err
	}
	var req keygen.ImportRequest
	if err := Decode(r, &req); err != nil {
		return err
	}
	key, err := k.Keys.Import(r.Context(), a, dst, req)
	if err != nil {
		return err
	}
	w.Header().Set("Location", strings.TrimSuffix(r.URL.Path, "/import"))
	WriteJSON(w, http.StatusCreated, key)
	return nil
}

// revokeKey serves POST .../keys/{keyId}/revoke. Revoking stays possible when the workspace has
// lost its eligibility: it only ever reduces what a key can do.
func (k *KeygenAPI) revokeKey(w http.ResponseWriter, r *http.Request) error {
	_, dst, err := k.target(r, false)
	if err != nil {
		return err
	}
	keyID, err := PathID(r, "keyId", phi.PrefixKey)
	if err != nil {
		return err
	}
	key, st, err := k.Keys.Revoke(r.Context(), dst, keyID)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, RevokedKey{Key: *key, DestinationHashingState: st.State,
		DestinationHashingStateReason: st.Reason, DestinationHashingStateMessage: st.Message})
	return nil
}

// RevokedKey is the 200 response of POST .../keys/{keyId}/revoke: the key as stored and the
// destination's hashing state after the revocation (phi.HashingState, as the destination's
// hashingState shows it), so that the caller learns when revoking made it degraded.
type RevokedKey struct {
	phi.Key
	DestinationHashingState        string `json:"destinationHashingState"`
	DestinationHashingStateReason  string `json:"destinationHashingStateReason,omitempty"`
	DestinationHashingStateMessage string `json:"destinationHashingStateMessage,omitempty"`
}

// listKeys serves GET .../keys: metadata and public keys, newest first, paged with ?limit= and
// ?cursor=.
func (k *KeygenAPI) listKeys(w http.ResponseWriter, r *http.Request) error {
	page, err := PageParams(r)
	if err != nil {
		return err
	}
	_, dst, err := k.target(r, false)
	if err != nil {
		return err
	}
	items, next, err := k.Keys.Keys(r.Context(), dst, page)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, NewList(items, next))
	return nil
}
