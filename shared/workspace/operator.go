package workspace

import (
	"context"
	"time"

	"github.com/phiguard/phiguard/shared/audit"
	"github.com/phiguard/phiguard/shared/phi"
)

// OperatorStore is what platform operators change. *dynamo.Store satisfies it.
type OperatorStore interface {
	Workspaces
	Snapshots
	// CreateWorkspace stores a workspace and its first owner token in one transaction.
	CreateWorkspace(ctx context.Context, w *phi.Workspace, owner *phi.Token, ownerSecretHash string) error
	// UpdateWorkspace saves tier and BAA when the stored version is w.Version (else EPRECONDITION).
	UpdateWorkspace(ctx context.Context, w *phi.Workspace) error
	// CreateToken stores a token; ENOTFOUND when its workspace does not exist, ECONFLICT when
	// it is closed.
	CreateToken(ctx context.Context, t *phi.Token, secretHash string) error
	// CloseWorkspace records the closure (keeping an earlier one) and revokes every token and key.
	CloseWorkspace(ctx context.Context, wsID string, c phi.Closure) (*phi.Workspace, error)
	// ReopenWorkspace removes the closure before its PurgeAfter; ECONFLICT otherwise.
	ReopenWorkspace(ctx context.Context, wsID string, now time.Time) (*phi.Workspace, error)
	// PurgeWorkspace deletes the configuration of a workspace closed past its grace period.
	PurgeWorkspace(ctx context.Context, wsID string, now time.Time) (*phi.Workspace, error)
}

// Operator applies the platform operator's rules: creating workspaces and changing their plan
// tier and BAA — the only way a workspace becomes (or stops being) HIPAA eligible.
type Operator struct {
	Store OperatorStore
	// Now is the service's clock; time.Now when nil.
	Now func() time.Time
}

func (o *Operator) now() time.Time {
	if o.Now == nil {
		return time.Now().UTC()
	}
	return o.Now().UTC()
}

// Plan is a workspace's tier and BAA as an operator sets them. The BAA's signing time is set by
// the service when it becomes signed; a signed BAA needs the business tier.
type Plan struct {
	Tier phi.Tier `json:"tier"`
	BAA  BAAInput `json:"baa"`
}

// BAAInput is whether the BAA is signed, and by whom.
type BAAInput struct {
	Signed   bool   `json:"signed"`
	SignedBy string `json:"signedBy"`
}

// NewWorkspace is what a workspace is created from. Tier defaults to free, the owner token's
// name to "owner".
type NewWorkspace struct {
	Name      string    `json:"name"`
	Tier      phi.Tier  `json:"tier"`
	BAA       *BAAInput `json:"baa"`
	OwnerName string    `json:"ownerTokenName"`
}

func (p Plan) problems() []phi.Problem {
	var out []phi.Problem
	if !p.Tier.Valid() {
		out = append(out, phi.Problem{Field: "tier", Reason: `use "free", "team" or "business"`})
	}
	if p.BAA.Signed {
		if p.Tier != phi.TierBusiness {
			out = append(out, phi.Problem{Field: "baa.signed", Reason: "only a business-tier workspace can sign a BAA; set tier to business, or baa.signed to false to downgrade"})
		}
		out = append(out, phi.CheckName("baa.signedBy", p.BAA.SignedBy)...)
	} else if p.BAA.SignedBy != "" {
		out = append(out, phi.Problem{Field: "baa.signedBy", Reason: "must be empty when the BAA is not signed"})
	}
	return out
}

// Check returns EINVALID listing every rule p breaks, or nil.
func (p Plan) Check() error { return phi.Invalid(p.problems()) }

// CreateWorkspace creates a workspace and its first owner token, returned with its secret
// (shown this once). Bad input is EINVALID listing each problem.
func (o *Operator) CreateWorkspace(ctx context.Context, a phi.Actor, in NewWorkspace) (*phi.Workspace, *phi.Token, string, error) {
	if in.Tier == "" {
		in.Tier = phi.TierFree
	}
	if in.OwnerName == "" {
		in.OwnerName = "owner"
	}
	plan := Plan{Tier: in.Tier}
	if in.BAA != nil {
		plan.BAA = *in.BAA
	}
	problems := phi.CheckName("name", in.Name)
	problems = append(problems, phi.CheckName("ownerTokenName", in.OwnerName)...)
	problems = append(problems, plan.problems()...)
	if err := phi.Invalid(problems); err != nil {
		return nil, nil, "", err
	}
	now := o.now()
	ws := &phi.Workspace{ID: phi.NewID(phi.PrefixWorkspace), Name: in.Name, Tier: in.Tier, CreatedAt: now, UpdatedAt: now}
	if plan.BAA.Signed {
		ws.BAA = phi.BAA{Signed: true, SignedAt: now, SignedBy: plan.BAA.SignedBy}
	}
	tok := &phi.Token{ID: phi.NewID(phi.PrefixToken), WorkspaceID: ws.ID, Name: in.OwnerName, Role: phi.RoleOwner, CreatedAt: now, CreatedBy: a.ID}
	audit.SetWorkspace(ctx, ws.ID)
	audit.SetTarget(ctx, "workspace/"+ws.ID)
	secret := phi.NewTokenSecret()
	if err := o.Store.CreateWorkspace(ctx, ws, tok, phi.HashToken(secret)); err != nil {
		return nil, nil, "", wrap(err, "create workspace %s", ws.ID)
	}
	return ws, tok, secret, nil
}

// Workspace returns workspace wsID, or ENOTFOUND.
func (o *Operator) Workspace(ctx context.Context, wsID string) (*phi.Workspace, error) {
	ws, err := o.Store.GetWorkspace(ctx, wsID)
	if err != nil {
		return nil, wrap(err, "get workspace")
	}
	return ws, nil
}

// SetPlan changes wsID's tier and BAA when its stored version is version (else EPRECONDITION;
// phi.AnyVersion replaces whatever version is current).
// Downgrading or revoking the BAA needs no further write: the pipeline re-checks eligibility on
// every snapshot and removes protected fields (fail closed), and destinations with hashing
// enabled read degraded (phi.DegradedNotEligible). A change of eligibility records the change
// of every destination's hashing state (audit.HashingChange).
func (o *Operator) SetPlan(ctx context.Context, wsID string, version int64, p Plan) (*phi.Workspace, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	ws, err := o.Workspace(ctx, wsID)
	if err != nil {
		return nil, err
	}
	old := *ws
	ws.Tier = p.Tier
	switch {
	case p.BAA.Signed && !ws.BAA.Signed:
		ws.BAA = phi.BAA{Signed: true, SignedAt: o.now(), SignedBy: p.BAA.SignedBy}
	case p.BAA.Signed:
		ws.BAA.SignedBy = p.BAA.SignedBy
	default:
		ws.BAA = phi.BAA{}
	}
	if version != phi.AnyVersion {
		ws.Version = version
	}
	var snap *phi.Snapshot
	if old.HIPAAEligible() != ws.HIPAAEligible() {
		// Read before the write: the keys and destinations do not change with the plan.
		if snap, _, err = o.Store.LoadSnapshot(ctx, wsID); err != nil {
			return nil, wrap(err, "hashing states of workspace %s", wsID)
		}
	}
	if err := o.Store.UpdateWorkspace(ctx, ws); err != nil {
		return nil, wrap(err, "update plan of workspace %s", ws.ID)
	}
	if snap != nil {
		for i := range snap.Destinations {
			d := &snap.Destinations[i]
			keys := snap.DestinationKeys(d.ID)
			audit.HashingChange(ctx, d.ID, phi.HashingState(d, &old, keys), phi.HashingState(d, ws, keys))
		}
	}
	return ws, nil
}

// RecoveryToken is what an operator sends to issue a recovery owner token: its name, which says
// who it is for.
type RecoveryToken struct {
	Name string `json:"name"`
}

// IssueOwnerToken creates a new owner token in workspace wsID for owners who have lost every
// owner token (revoked, or their secrets lost) and returns it with its secret, shown this once;
// the operator hands it to the customer as it would a new workspace's first owner token. It
// returns EINVALID for a bad name and ENOTFOUND for an unknown workspace.
func (o *Operator) IssueOwnerToken(ctx context.Context, a phi.Actor, wsID string, in RecoveryToken) (*phi.Token, string, error) {
	if err := phi.Invalid(phi.CheckName("name", in.Name)); err != nil {
		return nil, "", err
	}
	tok := &phi.Token{ID: phi.NewID(phi.PrefixToken), WorkspaceID: wsID, Name: in.Name, Role: phi.RoleOwner, CreatedAt: o.now(), CreatedBy: a.ID}
	audit.SetTarget(ctx, "workspace/"+wsID+"/tokens/"+tok.ID)
	secret := phi.NewTokenSecret()
	if err := o.Store.CreateToken(ctx, tok, phi.HashToken(secret)); err != nil {
		return nil, "", wrap(err, "issue owner token in workspace %s", wsID)
	}
	return tok, secret, nil
}

// Closing is what an operator sends to close a workspace: why (recorded on the workspace; it
// is the customer's offboarding request or the reason for ending service).
type Closing struct {
	Reason string `json:"reason"`
}

// Close closes workspace wsID for operator a: the closure (time, operator, reason, and the end
// of its grace period, phi.ClosureGracePeriod later) is recorded, every token and key revoked —
// the workspace's tokens stop working at once, its console sessions end on their next request,
// and the pipeline rejects its events as "workspace-closed" (within the configuration cache's
// TTL). Closing a closed workspace keeps its closure and finishes any revocation left undone.
// It returns EINVALID for a missing or overlong reason, ENOTFOUND for an unknown workspace.
func (o *Operator) Close(ctx context.Context, a phi.Actor, wsID string, in Closing) (*phi.Workspace, error) {
	if err := phi.Invalid(phi.CheckName("reason", in.Reason)); err != nil {
		return nil, err
	}
	now := o.now()
	ws, err := o.Store.CloseWorkspace(ctx, wsID, phi.Closure{At: now, By: a.ID, Reason: in.Reason, PurgeAfter: now.Add(phi.ClosureGracePeriod)})
	if err != nil {
		return nil, wrap(err, "close workspace %s", wsID)
	}
	return ws, nil
}

// Reopen reopens closed workspace wsID during its grace period and issues it a new owner token
// (named name, "owner" when empty), returned with its secret, shown this once: closing revoked
// every token. Keys stay revoked; the owner generates new ones. It returns ENOTFOUND for an
// unknown workspace, ECONFLICT when it is not closed or its grace period is over.
func (o *Operator) Reopen(ctx context.Context, a phi.Actor, wsID string, in RecoveryToken) (*phi.Workspace, *phi.Token, string, error) {
	if in.Name == "" {
		in.Name = "owner"
	}
	if err := phi.Invalid(phi.CheckName("name", in.Name)); err != nil {
		return nil, nil, "", err
	}
	ws, err := o.Store.ReopenWorkspace(ctx, wsID, o.now())
	if err != nil {
		return nil, nil, "", wrap(err, "reopen workspace %s", wsID)
	}
	tok, secret, err := o.IssueOwnerToken(ctx, a, wsID, in)
	if err != nil {
		return nil, nil, "", err
	}
	audit.SetTarget(ctx, "workspace/"+wsID)
	return ws, tok, secret, nil
}

// Purge deletes the configuration of workspace wsID — sources, destinations, keys' metadata,
// classifications, matchers, tokens, inbox, idempotency records — once it has been closed for
// phi.ClosureGracePeriod. Its audit trail stays until it expires (dynamo.AuditRetention). It
// returns ENOTFOUND for an unknown workspace, ECONFLICT when it is not closed or still in its
// grace period.
func (o *Operator) Purge(ctx context.Context, wsID string) (*phi.Workspace, error) {
	ws, err := o.Store.PurgeWorkspace(ctx, wsID, o.now())
	if err != nil {
		return nil, wrap(err, "purge workspace %s", wsID)
	}
	return ws, nil
}
