package keygen_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phiguard/phiguard/shared/audit"
	"github.com/phiguard/phiguard/shared/httpapi"
	"github.com/phiguard/phiguard/shared/keygen"
	"github.com/phiguard/phiguard/shared/phi"
)

// generated is a generated key as the 201 carried it: metadata, and the secret's JSON member.
type generated struct {
	phi.Key
	PrivateKey string `json:"privateKey"`
	Secret     string `json:"secret"`
}

func (g generated) secret() string { return g.PrivateKey + g.Secret }

// kindCase is one generate route.
type kindCase struct {
	name string
	kind phi.KeyKind
	path func(*workspace) string
}

var kindCases = []kindCase{{"key pair", phi.KeyEncryption, keysPath}, {"HMAC key", phi.KeyHMAC, hmacPath}}

// errorOf decodes an error response.
func errorOf(t *testing.T, r response) (code, msg string, details map[string]string) {
	t.Helper()
	var b struct {
		Error struct {
			Code    string            `json:"code"`
			Message string            `json:"message"`
			Details map[string]string `json:"details"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.Body, &b); err != nil {
		t.Fatalf("decode error %s: %v", r.Body, err)
	}
	return b.Error.Code, b.Error.Message, b.Error.Details
}

func activatePath(ws *workspace, id string) string { return keysPath(ws) + "/" + id + "/activate" }

func TestGeneratedKeysArePendingUntilTheOwnerActivatesThem(t *testing.T) {
	e := newEnv(t)
	for _, k := range kindCases {
		t.Run(k.name, func(t *testing.T) {
			ws := e.newWorkspace(t, phi.TierBusiness, true)
			var first, second generated
			e.must(t, http.StatusCreated, "POST", k.path(ws), ws.Owner, "").json(t, &first)
			e.activate(t, ws, first.ID)
			start := time.Now()
			e.must(t, http.StatusCreated, "POST", k.path(ws), ws.Owner, "").json(t, &second)

			t.Run("a new key is listed pending, with when it expires, and the active key stays active", func(t *testing.T) {
				keys := e.listKeys(t, ws)
				if len(keys) != 2 || keys[0].ID != second.ID || keys[0].Status != phi.KeyPending || keys[1].Status != phi.KeyActive {
					t.Fatalf("keys = %+v", keys)
				}
				exp := keys[0].ExpiresAt
				if exp == nil || exp.Before(start.Add(keygen.PendingKeyTTL-2*time.Second)) || exp.After(time.Now().Add(keygen.PendingKeyTTL)) {
					t.Fatalf("expiresAt = %v; want about %v from now", exp, keygen.PendingKeyTTL)
				}
				if keys[1].ExpiresAt != nil {
					t.Fatalf("the active key has an expiry: %v", keys[1].ExpiresAt)
				}
			})
			t.Run("activation makes it active and only then the previous key decrypt-only", func(t *testing.T) {
				res := e.must(t, http.StatusOK, "POST", activatePath(ws, second.ID), ws.Owner, "")
				if bytes.Contains(res.Body, []byte(second.secret())) || bytes.Contains(res.Body, []byte(`"privateKey"`)) || bytes.Contains(res.Body, []byte(`"secret"`)) {
					t.Fatalf("the activation response carries the secret: %s", res.Body)
				}
				var got phi.Key
				res.json(t, &got)
				if got.ID != second.ID || got.Status != phi.KeyActive || got.ExpiresAt != nil || got.Kind != k.kind {
					t.Fatalf("activated = %+v", got)
				}
				if st := e.statuses(t, ws); st[second.ID] != phi.KeyActive || st[first.ID] != phi.KeyDecryptOnly {
					t.Fatalf("statuses = %v", st)
				}
			})
			t.Run("activating it again answers 200 and changes nothing", func(t *testing.T) {
				var got phi.Key
				e.must(t, http.StatusOK, "POST", activatePath(ws, second.ID), ws.Owner, "").json(t, &got)
				if got.Status != phi.KeyActive {
					t.Fatalf("second activation = %+v", got)
				}
				if st := e.statuses(t, ws); st[second.ID] != phi.KeyActive || st[first.ID] != phi.KeyDecryptOnly || len(st) != 2 {
					t.Fatalf("statuses = %v", st)
				}
			})
			t.Run("the replaced key cannot be activated again", func(t *testing.T) {
				res := e.must(t, http.StatusConflict, "POST", activatePath(ws, first.ID), ws.Owner, "")
				if code, msg, d := errorOf(t, res); code != phi.ECONFLICT || !strings.Contains(msg, "decrypt-only") || !strings.Contains(msg, "generate a new key") || d["keyId"] != first.ID {
					t.Fatalf("refusal = %s", res.Body)
				}
			})
			t.Run("the activation is audited with the key as its target", func(t *testing.T) {
				recs, _, err := e.store.ListAudit(e.ctx, ws.ID, start.Add(-time.Minute), time.Now().Add(time.Minute), phi.Page{Limit: 100})
				if err != nil {
					t.Fatal(err)
				}
				seen := map[string]bool{}
				for _, r := range recs {
					if r.Action == "key.activate" && strings.Contains(r.Target, second.ID) {
						seen[r.Outcome] = true
					}
				}
				if !seen[audit.OutcomeAttempted] || !seen[audit.OutcomeSuccess] {
					t.Fatalf("key.activate records for %s: %v", second.ID, seen)
				}
			})
		})
	}
}

// handlerAt returns a keygen API over the env's table and KMS whose clock is offset from now.
func (e *env) handlerAt(t *testing.T, store keygen.Store, offset time.Duration) http.Handler {
	t.Helper()
	svc := &keygen.Service{Store: store, KMS: e.rec, CMK: e.cmk, Now: func() time.Time { return time.Now().Add(offset) }}
	h, err := (&httpapi.KeygenAPI{Keys: svc, Audit: store, Auth: httpapi.InProcess{Tokens: e.store}, Idempotency: e.store}).Handler()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func serveWith(h http.Handler, method, path, token, body string, headers ...string) response {
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

func TestAPendingKeyNotActivatedInTimeIsNotListedAndCanNeverBeActivated(t *testing.T) {
	e := newEnv(t)
	for _, k := range kindCases {
		t.Run(k.name, func(t *testing.T) {
			ws := e.newWorkspace(t, phi.TierBusiness, true)
			var active generated
			e.must(t, http.StatusCreated, "POST", k.path(ws), ws.Owner, "").json(t, &active)
			e.activate(t, ws, active.ID)
			// Generated two hours ago: its hour to be activated is over.
			res := serveWith(e.handlerAt(t, e.store, -2*time.Hour), "POST", k.path(ws), ws.Owner, "")
			if res.Status != http.StatusCreated {
				t.Fatalf("generate: %d %s", res.Status, res.Body)
			}
			var old generated
			res.json(t, &old)
			if old.Status != phi.KeyPending || old.ExpiresAt == nil || !old.ExpiresAt.Before(time.Now()) {
				t.Fatalf("old key = %+v", old.Key)
			}
			if st := e.statuses(t, ws); len(st) != 1 || st[active.ID] != phi.KeyActive {
				t.Fatalf("listed %v; an expired pending key is not listed", st)
			}
			res = e.must(t, http.StatusConflict, "POST", activatePath(ws, old.ID), ws.Owner, "")
			code, msg, d := errorOf(t, res)
			if code != phi.ECONFLICT || !strings.Contains(msg, "expired") || !strings.Contains(msg, "generate a new key") || d["keyId"] != old.ID || d["status"] != "expired" {
				t.Fatalf("refusal = %s", res.Body)
			}
			if got, _ := e.store.GetKey(e.ctx, ws.ID, ws.Destination, old.ID); got.Status != phi.KeyPending {
				t.Fatalf("the refused key is now %s", got.Status)
			}
			if got, _ := e.store.GetKey(e.ctx, ws.ID, ws.Destination, active.ID); got.Status != phi.KeyActive {
				t.Fatalf("the active key is now %s", got.Status)
			}
		})
	}
}

func TestRevokingAPendingKeyMeansItIsNeverActivated(t *testing.T) {
	e := newEnv(t)
	ws := e.newWorkspace(t, phi.TierBusiness, true)
	active := e.generateActive(t, ws, "")
	pending := e.generate(t, ws, "")
	var k phi.Key
	e.must(t, http.StatusOK, "POST", keysPath(ws)+"/"+pending.ID+"/revoke", ws.Owner, "").json(t, &k)
	if k.Status != phi.KeyRevoked || k.RevokedAt == nil || k.ExpiresAt != nil {
		t.Fatalf("revoked pending key = %+v", k)
	}
	if st := e.statuses(t, ws); st[active.ID] != phi.KeyActive || st[pending.ID] != phi.KeyRevoked {
		t.Fatalf("statuses = %v; revoking a pending key leaves the active key alone", st)
	}
	res := e.must(t, http.StatusConflict, "POST", activatePath(ws, pending.ID), ws.Owner, "")
	if _, msg, _ := errorOf(t, res); !strings.Contains(msg, "revoked") {
		t.Fatalf("refusal = %s", res.Body)
	}
}

func TestActivationRefusesKeysItCannotActivate(t *testing.T) {
	e := newEnv(t)
	ws := e.newWorkspace(t, phi.TierBusiness, true)
	other := e.newWorkspace(t, phi.TierBusiness, true)
	theirs := e.generate(t, other, "")
	for _, c := range []struct {
		name, path string
		want       int
		says       string
	}{
		{"an unknown key is not found, saying unactivated keys are deleted", activatePath(ws, phi.NewID(phi.PrefixKey)), 404, "generate a new one"},
		{"a malformed key id is a bad request", activatePath(ws, "key_nope"), 400, "keyId"},
		{"a key of another workspace's destination is not found", activatePath(ws, theirs.ID), 404, "not found"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := e.must(t, c.want, "POST", c.path, ws.Owner, "")
			if !strings.Contains(string(res.Body), c.says) {
				t.Fatalf("body %s does not say %q", res.Body, c.says)
			}
		})
	}
	if k, _ := e.store.GetKey(e.ctx, other.ID, other.Destination, theirs.ID); k.Status != phi.KeyPending {
		t.Fatalf("the other workspace's key is now %s", k.Status)
	}
}

// pausingStore holds the first successful Idempotency-Key claim until resume is closed, so that
// a second request with the same key runs in between: the race of two concurrent retries, made
// deterministic (moto does not serialize concurrent conditional writes the way DynamoDB does;
// the store's own race test interleaves at the PutItem).
type pausingStore struct {
	keygen.Store
	once    sync.Once
	claimed chan struct{}
	resume  chan struct{}
}

func (p *pausingStore) ClaimIdempotency(ctx context.Context, r *phi.IdempotencyRecord) (*phi.IdempotencyRecord, error) {
	held, err := p.Store.ClaimIdempotency(ctx, r)
	if err == nil && held == nil {
		p.once.Do(func() {
			close(p.claimed)
			<-p.resume
		})
	}
	return held, err
}

func TestAnIdempotencyKeyMakesAGenerationSafeToRetry(t *testing.T) {
	e := newEnv(t)
	const idem = "Idempotency-Key"
	for _, k := range kindCases {
		t.Run(k.name, func(t *testing.T) {
			ws := e.newWorkspace(t, phi.TierBusiness, true)
			body := ""
			if k.kind == phi.KeyEncryption {
				body = `{"algorithm":"hpke-p256"}`
			}
			kmsBefore := e.rec.calls()
			var first generated
			e.must(t, http.StatusCreated, "POST", k.path(ws), ws.Owner, body, idem, "retry-me 1").json(t, &first)

			retry := func(t *testing.T, wantStatus phi.KeyStatus) {
				t.Helper()
				res := e.must(t, http.StatusConflict, "POST", k.path(ws), ws.Owner, body, idem, "retry-me 1")
				code, msg, d := errorOf(t, res)
				if code != phi.ECONFLICT || d["keyId"] != first.ID || d["status"] != string(wantStatus) {
					t.Fatalf("retry answered %s", res.Body)
				}
				for _, says := range []string{first.ID, "returned only in that response", "new Idempotency-Key"} {
					if !strings.Contains(msg, says) {
						t.Errorf("the message does not say %q: %s", says, msg)
					}
				}
				if wantStatus == phi.KeyPending && !strings.Contains(msg, "expires unused") {
					t.Errorf("the message does not say the pending key expires unused: %s", msg)
				}
				if bytes.Contains(res.Body, []byte(first.secret())) || bytes.Contains(res.Body, []byte(`"privateKey"`)) || bytes.Contains(res.Body, []byte(`"secret"`)) {
					t.Fatalf("the retry carries the secret: %s", res.Body)
				}
				if len(e.listKeys(t, ws)) != 1 || e.rec.calls() != kmsBefore+1 {
					t.Fatalf("the retry generated a key: %d listed, %d KMS calls", len(e.listKeys(t, ws)), e.rec.calls()-kmsBefore)
				}
			}
			t.Run("a retry with the same key and body creates no second key and gets no secret", func(t *testing.T) {
				retry(t, phi.KeyPending)
			})
			if k.kind == phi.KeyEncryption {
				t.Run("an empty body is the same request as the defaults written out", func(t *testing.T) {
					res := e.must(t, http.StatusConflict, "POST", k.path(ws), ws.Owner, "", idem, "retry-me 1")
					if _, _, d := errorOf(t, res); d["keyId"] != first.ID {
						t.Fatalf("retry answered %s", res.Body)
					}
				})
				t.Run("the same key with a different body is refused naming the header", func(t *testing.T) {
					res := e.must(t, http.StatusUnprocessableEntity, "POST", k.path(ws), ws.Owner, `{"algorithm":"hpke-xwing"}`, idem, "retry-me 1")
					if code, msg, d := errorOf(t, res); code != phi.EINVALID || !strings.Contains(msg, "Idempotency-Key") || d["header"] != "Idempotency-Key" {
						t.Fatalf("refusal = %s", res.Body)
					}
					if len(e.listKeys(t, ws)) != 1 {
						t.Fatal("a refused request stored a key")
					}
				})
			}
			t.Run("once the key is activated, a retry still gets no secret and names it active", func(t *testing.T) {
				e.activate(t, ws, first.ID)
				retry(t, phi.KeyActive)
			})
			t.Run("the same key on another destination is another request", func(t *testing.T) {
				w2 := e.newWorkspace(t, phi.TierBusiness, true)
				e.must(t, http.StatusCreated, "POST", k.path(w2), w2.Owner, body, idem, "retry-me 1")
			})
		})
	}
	t.Run("the same key on the other generate route is another request", func(t *testing.T) {
		ws := e.newWorkspace(t, phi.TierBusiness, true)
		e.must(t, http.StatusCreated, "POST", keysPath(ws), ws.Owner, "", idem, "both")
		e.must(t, http.StatusCreated, "POST", hmacPath(ws), ws.Owner, "", idem, "both")
	})

	t.Run("a malformed Idempotency-Key is a bad request and reaches neither KMS nor the table", func(t *testing.T) {
		ws := e.newWorkspace(t, phi.TierBusiness, true)
		before := e.rec.calls()
		for _, c := range []struct {
			name    string
			headers []string
		}{
			{"empty", []string{idem, ""}},
			{"256 characters", []string{idem, strings.Repeat("k", 256)}},
			{"not ASCII", []string{idem, "clé-1"}},
			{"a control character", []string{idem, "a\x01b"}},
			{"sent twice", []string{idem, "a", idem, "b"}},
		} {
			for _, kc := range kindCases {
				t.Run(c.name+"/"+kc.name, func(t *testing.T) {
					res := e.must(t, http.StatusBadRequest, "POST", kc.path(ws), ws.Owner, "", c.headers...)
					if code, msg, _ := errorOf(t, res); code != phi.EBADREQUEST || !strings.Contains(msg, "Idempotency-Key") {
						t.Fatalf("refusal = %s", res.Body)
					}
				})
			}
		}
		e.must(t, http.StatusCreated, "POST", keysPath(ws), ws.Owner, "", idem, strings.Repeat("k", 255))
		if e.rec.calls() != before+1 || len(e.listKeys(t, ws)) != 1 {
			t.Fatal("a malformed Idempotency-Key reached KMS or stored a key")
		}
	})

	t.Run("a generation that failed before storing its key can be retried with the same key", func(t *testing.T) {
		for _, f := range []struct {
			name  string
			store keygen.Store
		}{
			{"the audit log was down", faultyStore{Store: e.store, failAudit: map[string]bool{"*": true}}},
			{"the key write failed after committing", faultyStore{Store: e.store, commitThenFail: true}},
		} {
			t.Run(f.name, func(t *testing.T) {
				ws := e.newWorkspace(t, phi.TierBusiness, true)
				if res := e.serve(t, f.store, "POST", keysPath(ws), ws.Owner, "", idem, "after-a-500"); res.Status != http.StatusInternalServerError {
					t.Fatalf("status %d: %s", res.Status, res.Body)
				}
				for _, key := range e.listKeys(t, ws) {
					if key.Status != phi.KeyRevoked {
						t.Fatalf("the failed request left key %s %s", key.ID, key.Status)
					}
				}
				var again generated
				e.must(t, http.StatusCreated, "POST", keysPath(ws), ws.Owner, "", idem, "after-a-500").json(t, &again)
				if again.Status != phi.KeyPending || again.PrivateKey == "" {
					t.Fatalf("the retry = %+v", again.Key)
				}
			})
		}
	})

	t.Run("two concurrent requests with one key create exactly one key", func(t *testing.T) {
		ws := e.newWorkspace(t, phi.TierBusiness, true)
		p := &pausingStore{Store: e.store, claimed: make(chan struct{}), resume: make(chan struct{})}
		h := e.handlerAt(t, p, 0)
		before := e.rec.calls()
		var firstRes response
		done := make(chan struct{})
		go func() {
			defer close(done)
			firstRes = serveWith(h, "POST", keysPath(ws), ws.Owner, "", idem, "at-once")
		}()
		<-p.claimed // the first request holds the key and has not called KMS yet
		second := serveWith(h, "POST", keysPath(ws), ws.Owner, "", idem, "at-once")
		close(p.resume)
		<-done
		if firstRes.Status != http.StatusCreated || second.Status != http.StatusConflict {
			t.Fatalf("statuses %d and %d, want 201 and 409: %s", firstRes.Status, second.Status, second.Body)
		}
		var g generated
		firstRes.json(t, &g)
		if _, msg, d := errorOf(t, second); d["keyId"] != g.ID || d["status"] != "in-progress" || !strings.Contains(msg, "new Idempotency-Key") {
			t.Fatalf("the concurrent duplicate answered %s", second.Body)
		}
		if keys := e.listKeys(t, ws); len(keys) != 1 || keys[0].ID != g.ID || e.rec.calls() != before+1 {
			t.Fatalf("%d keys, %d KMS calls; want exactly one of each", len(keys), e.rec.calls()-before)
		}
	})
}
