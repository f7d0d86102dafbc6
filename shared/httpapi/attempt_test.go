package httpapi

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/phiguard/phiguard/shared/audit"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

// AuditAttempt records an attempt before an irreversible step and fails closed; once the
// attempt is recorded, the result of the step reaches the caller even if the outcome record
// is lost.
func TestAuditAttemptFailsClosedBeforeTheStepAndDeliversAfterIt(t *testing.T) {
	const (
		wsID  = "ws_0000000000000000000000000a"
		dstID = "dst_0000000000000000000000000a"
	)
	owner := phi.Actor{ID: "tok_0000000000000000000000000a", WorkspaceID: wsID, Role: phi.RoleOwner}
	keys := "/workspaces/" + wsID + "/destinations/" + dstID + "/keys"
	cases := []struct {
		name       string
		failOn     string // the outcome whose append fails; "*" fails all
		wantStatus int
		wantStep   bool
		wantStored []string
	}{
		{"the audit log is down: nothing happens and the caller gets 500", "*", 500, false, nil},
		{"the attempt is stored but the outcome is lost: the result is delivered", audit.OutcomeSuccess, 201, true, []string{audit.OutcomeAttempted}},
		{"both records stored", "", 201, true, []string{audit.OutcomeAttempted, audit.OutcomeSuccess}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var mu sync.Mutex
			var stored []*phi.AuditRecord
			auditLog := auditFunc(func(r *phi.AuditRecord) error {
				if c.failOn == "*" || c.failOn == r.Outcome {
					return errors.New("audit table unavailable")
				}
				mu.Lock()
				stored = append(stored, r)
				mu.Unlock()
				return nil
			})
			stepped := false
			var logs bytes.Buffer
			rt := NewRouter(RouterConfig{
				Auth:        AuthenticatorFunc(func(*http.Request, stack.Auth) (phi.Actor, error) { return owner, nil }),
				Audit:       auditLog,
				Logger:      slog.New(slog.NewJSONHandler(&logs, nil)),
				Idempotency: unusedIdempotency{},
			}, stack.FunctionKeygen)
			for _, route := range stack.Routes {
				if route.Function == stack.FunctionKeygen {
					rt.Handle(route, func(http.ResponseWriter, *http.Request) error { return phi.Errorf(phi.ENOTFOUND, "not here") })
				}
			}
			rt.Handle(stack.RouteGenerateKeyPair, func(w http.ResponseWriter, r *http.Request) error {
				audit.SetTarget(r.Context(), "destinations/"+dstID+"/keys/key_0000000000000000000000000a")
				if err := audit.Attempt(r.Context()); err != nil {
					return err
				}
				stepped = true
				WriteJSON(w, http.StatusCreated, map[string]string{"secret": "shown once"})
				return nil
			})
			h, err := rt.Handler()
			if err != nil {
				t.Fatal(err)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("POST", keys, nil))
			if w.Code != c.wantStatus || stepped != c.wantStep {
				t.Fatalf("status %d, step taken %v; want %d, %v: %s", w.Code, stepped, c.wantStatus, c.wantStep, w.Body)
			}
			if c.wantStep != strings.Contains(w.Body.String(), "shown once") {
				t.Errorf("body = %s", w.Body)
			}
			var outcomes []string
			for _, r := range stored {
				outcomes = append(outcomes, r.Outcome)
				if r.Target != "destinations/"+dstID+"/keys/key_0000000000000000000000000a" || r.Action != "key.generate" || r.Actor != owner.ID {
					t.Errorf("record %+v", r)
				}
			}
			if strings.Join(outcomes, ",") != strings.Join(c.wantStored, ",") {
				t.Errorf("stored outcomes %v, want %v", outcomes, c.wantStored)
			}
			if c.failOn == audit.OutcomeSuccess && !strings.Contains(logs.String(), "outcome audit record lost") {
				t.Errorf("the lost outcome record was not logged: %s", logs.String())
			}
		})
	}

	t.Run("a route that is not audited cannot record an attempt", func(t *testing.T) {
		var got error
		r := httptest.NewRequest("POST", keys, nil)
		got = audit.Attempt(r.Context())
		if got == nil {
			t.Fatal("audit.Attempt outside an audited route succeeded")
		}
	})
}

// A failed audit append is the service's fault, whatever the audit log says: the caller gets
// 500 "internal error", never the audit log's own error (a conflict would read as 409 and leak
// audit record ids).
func TestAuditFailuresAreInternalErrors(t *testing.T) {
	const wsID = "ws_0000000000000000000000000a"
	auditLog := auditFunc(func(r *phi.AuditRecord) error {
		return phi.Errorf(phi.ECONFLICT, "audit record %s already exists; audit records are append-only", r.ID)
	})
	operator := AuthenticatorFunc(func(*http.Request, stack.Auth) (phi.Actor, error) {
		return phi.Actor{ID: "operator:test", Operator: true}, nil
	})
	ok := func(w http.ResponseWriter, r *http.Request) error {
		WriteJSON(w, http.StatusOK, map[string]string{"tier": "business"})
		return nil
	}
	attempt := func(w http.ResponseWriter, r *http.Request) error {
		if err := audit.Attempt(r.Context()); err != nil {
			return err
		}
		WriteJSON(w, http.StatusOK, map[string]string{"tier": "business"})
		return nil
	}
	for name, h := range map[string]HandlerFunc{"outcome record": ok, "attempt record": attempt} {
		t.Run(name, func(t *testing.T) {
			rt := NewRouter(RouterConfig{Auth: operator, Audit: auditLog, Idempotency: unusedIdempotency{}}, stack.FunctionOperator)
			rt.Handle(stack.RouteCreateWorkspace, ok)
			rt.Handle(stack.RouteOperatorGetWorkspace, h)
			rt.Handle(stack.RouteUpdatePlan, ok)
			rt.Handle(stack.RouteIssueOwnerToken, ok)
			for _, r := range []stack.Route{stack.RouteCloseWorkspace, stack.RouteReopenWorkspace, stack.RoutePurgeWorkspace} {
				rt.Handle(r, ok)
			}
			router, err := rt.Handler()
			if err != nil {
				t.Fatal(err)
			}
			w := httptest.NewRecorder()
			router.ServeHTTP(w, httptest.NewRequest("GET", "/operator/workspaces/"+wsID, nil))
			code, msg, _ := decodeErr(t, w.Body.Bytes())
			if w.Code != 500 || code != phi.EINTERNAL || msg != "internal error" || strings.Contains(w.Body.String(), "business") {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
		})
	}
}
