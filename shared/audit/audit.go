// Package audit carries, through an action's context, what its audit record names: the target
// acted on, the workspace (when the route has none in its path) and, before a step that cannot
// be taken back, an "attempted" record. The domain services say what they act on
// (SetTarget, Attempt); the caller that audits — the REST router, the console — opens a Scope
// and writes the records. It imports neither net/http nor the Lambda runtime.
package audit

import (
	"context"
	"errors"

	"github.com/phiguard/phiguard/shared/phi"
)

// Outcomes (phi.AuditRecord.Outcome).
const (
	OutcomeSuccess = "success" // the action succeeded
	OutcomeDenied  = "denied"  // the caller was not allowed (401 or 403)
	OutcomeFailed  = "failed"  // any other failure
	// OutcomeAttempted is written by Attempt before an irreversible step; the record of the
	// outcome follows under the same request id.
	OutcomeAttempted = "attempted"
)

// Log appends audit records. *dynamo.Store satisfies it.
type Log interface {
	// AppendAudit appends r; it never overwrites an existing record.
	AppendAudit(ctx context.Context, r *phi.AuditRecord) error
}

// Scope is the audit state of one action. Its zero value is not usable; see NewScope.
type Scope struct {
	requestID         string
	target, workspace string
	attempt           func(context.Context) error
	attempted         bool
	consequences      []Consequence
}

// Consequence is a change an action brought about beyond what its own record says — a
// destination whose hashing became degraded when its only key pair was revoked. The auditing
// caller appends one record for it after the action's record of success: same workspace, actor
// and request id, outcome success, this action and target.
type Consequence struct {
	Action, Target string
}

// NewScope returns the scope of the action with request id requestID (written into its audit
// records and log lines), whose Attempt appends the attempt record with attempt (which reads the
// scope's target and workspace); nil attempt makes Attempt fail, for actions that are not
// audited.
func NewScope(requestID string, attempt func(ctx context.Context, s *Scope) error) *Scope {
	s := &Scope{requestID: requestID}
	if attempt != nil {
		s.attempt = func(ctx context.Context) error { return attempt(ctx, s) }
	}
	return s
}

type scopeKey struct{}

// With returns ctx carrying s.
func With(ctx context.Context, s *Scope) context.Context {
	return context.WithValue(ctx, scopeKey{}, s)
}

func from(ctx context.Context) *Scope {
	s, _ := ctx.Value(scopeKey{}).(*Scope)
	return s
}

// SetTarget names what the action acted on (for example "tokens/tok_…") when the caller's
// default does not say it well, for instance because the id is only known once created. It does
// nothing outside a scope.
func SetTarget(ctx context.Context, target string) {
	if s := from(ctx); s != nil {
		s.target = target
	}
}

// SetWorkspace names the workspace an action acted on when the caller cannot know it (creating
// a workspace). It does nothing outside a scope.
func SetWorkspace(ctx context.Context, workspaceID string) {
	if s := from(ctx); s != nil {
		s.workspace = workspaceID
	}
}

var errNotAudited = errors.New("audit attempt: the action is not audited")

// Attempt appends, now, the action's audit record with outcome OutcomeAttempted and the target
// set so far. A service calls it just before a step that cannot be taken back and whose result
// the caller must receive — generating a key whose private half exists only in this response.
// If it returns an error the service must stop and return it: nothing has happened yet (fail
// closed). It returns an error outside a scope of an audited action.
func Attempt(ctx context.Context) error {
	s := from(ctx)
	if s == nil || s.attempt == nil {
		return errNotAudited
	}
	if err := s.attempt(ctx); err != nil {
		return err
	}
	s.attempted = true
	return nil
}

// Also records, in ctx's scope, a consequence of the action (see Consequence); call it once the
// change is made. It does nothing outside a scope. A failed action's consequences are not
// recorded.
func Also(ctx context.Context, action, target string) {
	if s := from(ctx); s != nil {
		s.consequences = append(s.consequences, Consequence{Action: action, Target: target})
	}
}

// Actions of the consequence records of a destination's hashing state (phi.HashingState)
// changing. ActionHashingDegraded is followed by "." and the reason (phi.Degraded…), so that the
// reason is in the record without a field the chain's encoding lacks:
// "destination.hashing.degraded.no-active-key".
const (
	ActionHashingDegraded = "destination.hashing.degraded"
	ActionHashingRestored = "destination.hashing.restored"
)

// HashingActions returns every action HashingChange can record, for lists and filters.
func HashingActions() []string {
	return []string{
		ActionHashingDegraded + "." + phi.DegradedNotEligible,
		ActionHashingDegraded + "." + phi.DegradedNoActiveKey,
		ActionHashingDegraded + "." + phi.DegradedHMACKeyRevoked,
		ActionHashingRestored,
	}
}

// HashingChange records (Also) that the action moved destination dstID's hashing from before
// to after, when it matters to the owner: degraded for a reason it was not degraded for before
// (ActionHashingDegraded and the reason), or degraded before and active now
// (ActionHashingRestored). Hashing turned off, or a change between off and active, is what the
// action's own record says.
func HashingChange(ctx context.Context, dstID string, before, after phi.HashingStatus) {
	target := "destinations/" + dstID
	switch {
	case after.State == phi.HashingDegraded && (before.State != phi.HashingDegraded || before.Reason != after.Reason):
		Also(ctx, ActionHashingDegraded+"."+after.Reason, target)
	case before.State == phi.HashingDegraded && after.State == phi.HashingActive:
		Also(ctx, ActionHashingRestored, target)
	}
}

// RequestID returns the request id of the action ctx belongs to, or "" outside a scope.
func RequestID(ctx context.Context) string {
	if s := from(ctx); s != nil {
		return s.requestID
	}
	return ""
}

// Target returns the target set with SetTarget, or "".
func (s *Scope) Target() string { return s.target }

// Workspace returns the workspace set with SetWorkspace, or "".
func (s *Scope) Workspace() string { return s.workspace }

// Attempted reports whether an attempt record was stored.
func (s *Scope) Attempted() bool { return s.attempted }

// Consequences returns what Also recorded, in order.
func (s *Scope) Consequences() []Consequence { return s.consequences }
