package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

// OperatorStore is what the operator API stores. *dynamo.Store satisfies it.
type OperatorStore interface {
	AuditLog
	Workspaces
	// CreateWorkspace stores a workspace and its first owner token in one transaction.
	CreateWorkspace(ctx context.Context, w *phi.Workspace, owner *phi.Token, ownerSecretHash string) error
	// UpdateWorkspace saves tier and BAA when the stored version is w.Version (else EPRECONDITION).
	UpdateWorkspace(ctx context.Context, w *phi.Workspace) error
}

// Operator is the platform-operator API (function stack.FunctionOperator): creating
// workspaces and changing their plan tier and BAA — the only way a workspace becomes (or stops
// being) HIPAA eligible. Customers cannot reach it: in AWS its routes are IAM-authorized, and
// locally they need the operator credential (EnvLocalOperatorSecret).
type Operator struct {
	Store  OperatorStore
	Auth   Authenticator
	Logger *slog.Logger
	// Now is the service's clock; time.Now when nil.
	Now func() time.Time
}

// Handler returns the router of every operator route. It fails when a dependency is missing or
// the route table and the handlers disagree.
func (o *Operator) Handler() (http.Handler, error) {
	if o.Store == nil {
		return nil, fmt.Errorf("operator API: no store")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	h := func(fn HandlerFunc) http.Handler { return Handle(o.Logger, fn) }
	return NewRouter(RouterConfig{Auth: o.Auth, Audit: o.Store, Logger: o.Logger, Now: o.Now}, stack.FunctionOperator, map[string]http.Handler{
		"POST /operator/workspaces":                   h(o.createWorkspace),
		"GET /operator/workspaces/{workspaceId}":      h(o.getWorkspace),
		"PUT /operator/workspaces/{workspaceId}/plan": h(o.updatePlan),
	})
}

// planRequest sets a workspace's tier and BAA. BAA.SignedAt is set by the service when the BAA
// becomes signed; a signed BAA needs the business tier.
type planRequest struct {
	Tier phi.Tier   `json:"tier"`
	BAA  baaRequest `json:"baa"`
}

type baaRequest struct {
	Signed   bool   `json:"signed"`
	SignedBy string `json:"signedBy"`
}

type createWorkspaceRequest struct {
	Name      string      `json:"name"`
	Tier      phi.Tier    `json:"tier"`
	BAA       *baaRequest `json:"baa"`
	OwnerName string      `json:"ownerTokenName"`
}

// CreatedWorkspace is a new workspace and, this once, its first owner token with its secret.
type CreatedWorkspace struct {
	WorkspaceView
	OwnerToken CreatedToken `json:"ownerToken"`
}

func checkPlan(tier phi.Tier, baa baaRequest) []Problem {
	var p []Problem
	if !tier.Valid() {
		p = append(p, Problem{"tier", `use "free", "team" or "business"`})
	}
	if baa.Signed {
		if tier != phi.TierBusiness {
			p = append(p, Problem{"baa.signed", "only a business-tier workspace can sign a BAA; set tier to business, or baa.signed to false to downgrade"})
		}
		p = append(p, checkName("baa.signedBy", baa.SignedBy)...)
	} else if baa.SignedBy != "" {
		p = append(p, Problem{"baa.signedBy", "must be empty when the BAA is not signed"})
	}
	return p
}

func (o *Operator) createWorkspace(w http.ResponseWriter, r *http.Request) error {
	a, err := actor(r)
	if err != nil {
		return err
	}
	var req createWorkspaceRequest
	if err := Decode(r, &req); err != nil {
		return err
	}
	if req.Tier == "" {
		req.Tier = phi.TierFree
	}
	if req.OwnerName == "" {
		req.OwnerName = "owner"
	}
	baa := baaRequest{}
	if req.BAA != nil {
		baa = *req.BAA
	}
	problems := checkName("name", req.Name)
	problems = append(problems, checkName("ownerTokenName", req.OwnerName)...)
	problems = append(problems, checkPlan(req.Tier, baa)...)
	if err := invalid(problems); err != nil {
		return err
	}
	now := o.Now().UTC()
	ws := phi.Workspace{ID: phi.NewID(phi.PrefixWorkspace), Name: req.Name, Tier: req.Tier, CreatedAt: now, UpdatedAt: now}
	if baa.Signed {
		ws.BAA = phi.BAA{Signed: true, SignedAt: now, SignedBy: baa.SignedBy}
	}
	tok := phi.Token{ID: phi.NewID(phi.PrefixToken), WorkspaceID: ws.ID, Name: req.OwnerName, Role: phi.RoleOwner, CreatedAt: now, CreatedBy: a.ID}
	SetAuditWorkspace(r, ws.ID)
	SetAuditTarget(r, "workspace/"+ws.ID)
	secret := NewTokenSecret()
	if err := o.Store.CreateWorkspace(r.Context(), &ws, &tok, HashToken(secret)); err != nil {
		return wrap(err, "create workspace %s", ws.ID)
	}
	w.Header().Set("ETag", ETag(ws.Version))
	w.Header().Set("Location", "/operator/workspaces/"+ws.ID)
	WriteJSON(w, http.StatusCreated, CreatedWorkspace{WorkspaceView: viewWorkspace(&ws), OwnerToken: CreatedToken{Token: tok, Secret: secret}})
	return nil
}

func (o *Operator) getWorkspace(w http.ResponseWriter, r *http.Request) error {
	ws, err := o.Store.GetWorkspace(r.Context(), r.PathValue("workspaceId"))
	if err != nil {
		return wrap(err, "get workspace")
	}
	w.Header().Set("ETag", ETag(ws.Version))
	WriteJSON(w, http.StatusOK, viewWorkspace(ws))
	return nil
}

// updatePlan changes tier and BAA. Downgrading or revoking the BAA needs no further write: the
// pipeline re-checks eligibility on every snapshot and removes protected fields (fail closed),
// and destinations show hashing as suspended.
func (o *Operator) updatePlan(w http.ResponseWriter, r *http.Request) error {
	var req planRequest
	if err := Decode(r, &req); err != nil {
		return err
	}
	if err := invalid(checkPlan(req.Tier, req.BAA)); err != nil {
		return err
	}
	version, err := IfMatch(r)
	if err != nil {
		return err
	}
	ws, err := o.Store.GetWorkspace(r.Context(), r.PathValue("workspaceId"))
	if err != nil {
		return wrap(err, "get workspace")
	}
	ws.Tier = req.Tier
	switch {
	case req.BAA.Signed && !ws.BAA.Signed:
		ws.BAA = phi.BAA{Signed: true, SignedAt: o.Now().UTC(), SignedBy: req.BAA.SignedBy}
	case req.BAA.Signed:
		ws.BAA.SignedBy = req.BAA.SignedBy
	default:
		ws.BAA = phi.BAA{}
	}
	ws.Version = version
	if err := o.Store.UpdateWorkspace(r.Context(), ws); err != nil {
		return wrap(err, "update plan of workspace %s", ws.ID)
	}
	w.Header().Set("ETag", ETag(ws.Version))
	WriteJSON(w, http.StatusOK, viewWorkspace(ws))
	return nil
}
