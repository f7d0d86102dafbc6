package console

import (
	"cmp"
	"context"
	"fmt"
	"net/http"

	"github.com/phiguard/phiguard/shared/audit"
	"github.com/phiguard/phiguard/shared/httpapi"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

// can reports whether the signed-in caller holds route's role: the console shows a control only
// when the REST route it stands for would let the caller's token through.
func can(r *http.Request, route stack.Route) bool {
	return httpapi.RequireRole(state(r).actor, route.Role) == nil
}

// act runs fn as the console's form of route: the caller must hold route's role (else
// EFORBIDDEN, audited when the route is), and when route has an audit action, fn runs in an
// audit scope whose Attempt appends the attempt record, and the outcome is appended after it —
// success, denied or failed — exactly as the REST router records the route. target names what
// was acted on unless fn sets another with audit.SetTarget. A successful action's consequences
// (audit.Also) are appended after its record. A lost outcome or consequence record fails the
// action closed (internal error) unless an attempt record was stored.
func (c *Console) act(r *http.Request, route stack.Route, target string, fn func(ctx context.Context) error) error {
	rq := state(r)
	if err := httpapi.RequireRole(rq.actor, route.Role); err != nil {
		if route.Action != "" {
			_ = c.auditRecord(r, rq.actor.WorkspaceID, rq.actor.ID, route.Action, target, audit.OutcomeDenied)
		}
		return &roleError{err}
	}
	if route.Action == "" {
		return fn(r.Context())
	}
	var scope *audit.Scope
	scope = audit.NewScope(rq.requestID, func(ctx context.Context, s *audit.Scope) error {
		return c.auditRecord(r, rq.actor.WorkspaceID, rq.actor.ID, route.Action, cmp.Or(s.Target(), target), audit.OutcomeAttempted)
	})
	err := fn(audit.With(r.Context(), scope))
	outcome := audit.OutcomeSuccess
	switch code := phi.ErrorCode(err); {
	case code == phi.EFORBIDDEN || code == phi.EUNAUTHORIZED:
		outcome = audit.OutcomeDenied
	case err != nil:
		outcome = audit.OutcomeFailed
	}
	aerr := c.auditRecord(r, rq.actor.WorkspaceID, rq.actor.ID, route.Action, cmp.Or(scope.Target(), target), outcome)
	for _, cq := range scope.Consequences() {
		if aerr != nil || err != nil {
			break
		}
		aerr = c.auditRecord(r, rq.actor.WorkspaceID, rq.actor.ID, cq.Action, cq.Target, outcome)
	}
	if aerr != nil && err == nil && !scope.Attempted() {
		return aerr
	}
	return err
}

// auditRecord appends one audit record of the request in workspace wsID; a failure is logged and
// returned as an internal error.
func (c *Console) auditRecord(r *http.Request, wsID, actor, action, target, outcome string) error {
	rec := &phi.AuditRecord{
		ID: phi.NewID(phi.PrefixAudit), WorkspaceID: wsID, Actor: actor, Action: action,
		Target: target, Outcome: outcome, RequestID: state(r).requestID, At: c.now(),
	}
	if err := c.Audit.AppendAudit(r.Context(), rec); err != nil {
		c.Logger.ErrorContext(r.Context(), "audit append failed", "requestId", rec.RequestID, "action", action, "error", err.Error())
		return &phi.Error{Code: phi.EINTERNAL, Message: "internal error", Err: fmt.Errorf("append audit record: %w", err)}
	}
	return nil
}

// roleError is a refusal for want of a role: always the 403 page, never a message beside a form
// (the form should not have been shown).
type roleError struct{ err error }

func (e *roleError) Error() string { return e.err.Error() }
func (e *roleError) Unwrap() error { return e.err }
