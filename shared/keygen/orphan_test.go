package keygen_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/phiguard/phiguard/shared/audit"
	"github.com/phiguard/phiguard/shared/httpapi"
	"github.com/phiguard/phiguard/shared/jsonlog"
	"github.com/phiguard/phiguard/shared/keygen"
	"github.com/phiguard/phiguard/shared/phi"
)

// faultyStore is the real store with injected failures: AppendAudit fails for the outcomes
// failAudit names ("*" for every record); PutPendingKey, when commitThenFail is set, stores the
// key and then reports a failure, as a timeout after DynamoDB committed would.
type faultyStore struct {
	keygen.Store
	failAudit      map[string]bool
	commitThenFail bool
}

func (f faultyStore) AppendAudit(ctx context.Context, r *phi.AuditRecord) error {
	if f.failAudit["*"] || f.failAudit[r.Outcome] {
		return errors.New("audit table unavailable")
	}
	return f.Store.AppendAudit(ctx, r)
}

func (f faultyStore) PutPendingKey(ctx context.Context, k *phi.Key) error {
	if err := f.Store.PutPendingKey(ctx, k); err != nil || !f.commitThenFail {
		return err
	}
	return errors.New("operation error DynamoDB: TransactWriteItems: request canceled, context deadline exceeded")
}

// serve sends one request to a keygen service over the env's table and KMS, built on store, with
// headers given as name, value pairs.
func (e *env) serve(t *testing.T, store keygen.Store, method, path, token, body string, headers ...string) response {
	t.Helper()
	logger, err := jsonlog.New(e.logs, "debug")
	if err != nil {
		t.Fatal(err)
	}
	svc := &keygen.Service{Store: store, KMS: e.rec, CMK: e.cmk, Logger: logger}
	h, err := (&httpapi.KeygenAPI{Keys: svc, Audit: store, Auth: httpapi.InProcess{Tokens: e.store}, Idempotency: e.store, Logger: logger}).Handler()
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return response{Status: rec.Code, Header: rec.Header(), Body: bytes.Clone(rec.Body.Bytes())}
}

// kmsCalls counts the KMS calls that handed out key material.
func (k *recordingKMS) calls() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.pairs) + len(k.randoms) + len(k.dataKeys)
}

// No key is stored unless its secret was returned to the caller and its generation is in the
// audit log — whichever write fails — and a generated key is only ever stored pending: the
// earlier active key stays the one in use until the owner activates the new one. A key active
// without its secret would make every field encrypted under it undecryptable. (Before keys were
// pending, this test required the new key to be active at once; it now requires it pending.)
func TestNoKeyIsStoredWithoutItsSecretReturnedAndItsGenerationAudited(t *testing.T) {
	e := newEnv(t)
	kinds := []struct {
		name string
		kind phi.KeyKind
		path func(*workspace) string
		// secret returns the id and the secret a 201 carried, checked against the stored key.
		secret func(t *testing.T, res response, stored *phi.Key) string
	}{
		{"key pair", phi.KeyEncryption, keysPath, func(t *testing.T, res response, stored *phi.Key) string {
			var g httpapi.GeneratedKey
			res.json(t, &g)
			g.Key = *stored
			keyPair(t, g) // the returned private key belongs to the stored public key
			return g.PrivateKey
		}},
		{"HMAC key", phi.KeyHMAC, hmacPath, func(t *testing.T, res response, stored *phi.Key) string {
			var g httpapi.GeneratedHMACKey
			res.json(t, &g)
			if b, err := base64.StdEncoding.DecodeString(g.Secret); err != nil || len(b) != 32 {
				t.Fatalf("secret is not 32 bytes of base64: %v", err)
			}
			return g.Secret
		}},
	}
	faults := []struct {
		name  string
		store func(keygen.Store) keygen.Store
		// want is the status; wantStored says whether the new key ends up stored (pending).
		want       int
		wantStored bool
		wantKMS    bool
	}{
		{"the audit log is down: nothing is generated or stored", func(s keygen.Store) keygen.Store {
			return faultyStore{Store: s, failAudit: map[string]bool{"*": true}}
		}, 500, false, false},
		{"only the outcome record fails: the attempt record audits it and the secret is returned", func(s keygen.Store) keygen.Store {
			return faultyStore{Store: s, failAudit: map[string]bool{audit.OutcomeSuccess: true}}
		}, 201, true, true},
		{"the key write fails after committing: the key is revoked", func(s keygen.Store) keygen.Store {
			return faultyStore{Store: s, commitThenFail: true}
		}, 500, false, true},
		{"the key write and then the outcome record fail: the key is revoked", func(s keygen.Store) keygen.Store {
			return faultyStore{Store: s, commitThenFail: true, failAudit: map[string]bool{audit.OutcomeFailed: true}}
		}, 500, false, true},
	}
	for _, k := range kinds {
		for _, f := range faults {
			t.Run(k.name+"/"+f.name, func(t *testing.T) {
				ws := e.newWorkspace(t, phi.TierBusiness, true)
				// An earlier key, generated and activated normally, whose secret the customer holds.
				prev := e.must(t, http.StatusCreated, "POST", k.path(ws), ws.Owner, "")
				var prevKey phi.Key
				prev.json(t, &prevKey)
				e.activate(t, ws, prevKey.ID)
				before := e.rec.calls()
				start := time.Now().Add(-time.Second)

				res := e.serve(t, f.store(e.store), "POST", k.path(ws), ws.Owner, "")
				if res.Status != f.want {
					t.Fatalf("status %d, want %d: %s", res.Status, f.want, res.Body)
				}
				if got := e.rec.calls() > before; got != f.wantKMS {
					t.Errorf("KMS handed out key material: %v, want %v", got, f.wantKMS)
				}

				keys, err := e.store.ListKeys(e.ctx, ws.ID, ws.Destination)
				if err != nil {
					t.Fatal(err)
				}
				recs, _, err := e.store.ListAudit(e.ctx, ws.ID, start, time.Now().Add(time.Minute), phi.Page{Limit: 100})
				if err != nil {
					t.Fatal(err)
				}
				var active []phi.Key
				var fresh *phi.Key
				for i := range keys {
					if keys[i].Kind != k.kind {
						continue
					}
					if keys[i].Status == phi.KeyActive {
						active = append(active, keys[i])
					}
					if keys[i].ID != prevKey.ID {
						fresh = &keys[i]
					}
				}
				if len(active) > 1 {
					t.Fatalf("%d active keys of kind %s", len(active), k.kind)
				}
				switch {
				case f.wantStored:
					if fresh == nil || fresh.Status != phi.KeyPending || len(active) != 1 || active[0].ID != prevKey.ID {
						t.Fatalf("the new key is not stored pending beside the earlier active one: %+v", keys)
					}
					if k.secret(t, res, fresh) == "" {
						t.Fatal("no secret in the response")
					}
					audited := false
					for _, r := range recs {
						audited = audited || (strings.Contains(r.Target, fresh.ID) && r.Actor == ws.OwnerID && r.Outcome == audit.OutcomeAttempted)
					}
					if !audited {
						t.Errorf("the stored key's generation is not in the audit log: %+v", recs)
					}
				case fresh != nil:
					// The write may have committed: the key must be revoked, never active, and
					// its secret was not returned.
					if fresh.Status != phi.KeyRevoked {
						t.Errorf("a key whose secret was never returned is %s", fresh.Status)
					}
					if r := e.do("POST", keysPath(ws)+"/"+fresh.ID+"/activate", ws.Owner, ""); r.Status != http.StatusConflict {
						t.Errorf("activating a key whose secret was never returned: %d %s", r.Status, r.Body)
					}
					if len(active) != 1 || active[0].ID != prevKey.ID {
						t.Errorf("the earlier key is no longer the active one: %+v", keys)
					}
					if bytes.Contains(res.Body, []byte("PRIVATE KEY")) || bytes.Contains(res.Body, []byte(`"secret"`)) {
						t.Errorf("a failed response carries the secret: %s", res.Body)
					}
				default:
					if len(active) != 1 || active[0].ID != prevKey.ID {
						t.Errorf("the earlier key is no longer the active one: %+v", keys)
					}
				}
			})
		}
	}
}
