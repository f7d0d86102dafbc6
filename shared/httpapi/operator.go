package httpapi

import (
	"cmp"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/phiguard/phiguard/shared/audit"
	"github.com/phiguard/phiguard/shared/stack"
	"github.com/phiguard/phiguard/shared/workspace"
)

// OperatorAPI is the REST face of the platform operator's rules (function
// stack.FunctionOperator): creating workspaces and changing their plan tier and BAA. Customers
// cannot reach it: in AWS its routes are IAM-authorized, and locally they need the operator
// credential (EnvLocalOperatorSecret).
type OperatorAPI struct {
	Operator *workspace.Operator
	// Audit receives the routes' audit records.
	Audit  audit.Log
	Auth   Authenticator
	Logger *slog.Logger
	// Idempotency keeps the POST routes' Idempotency-Key records; the store when it is one
	// (*dynamo.Store is).
	Idempotency IdempotencyStore
}

// Handler returns the router of every operator route. It fails when a dependency is missing or
// the route table and the handlers disagree.
func (o *OperatorAPI) Handler() (http.Handler, error) {
	if o.Operator == nil || o.Operator.Store == nil {
		return nil, fmt.Errorf("operator API: no store")
	}
	rt := NewRouter(RouterConfig{Auth: o.Auth, Audit: o.Audit, Logger: o.Logger, Now: o.Operator.Now, Idempotency: cmp.Or(o.Idempotency, idempotencyStoreOf(o.Operator.Store))}, stack.FunctionOperator)
	rt.Handle(stack.RouteCreateWorkspace, o.createWorkspace)
	rt.Handle(stack.RouteOperatorGetWorkspace, o.getWorkspace)
	rt.Handle(stack.RouteUpdatePlan, o.updatePlan)
	rt.Handle(stack.RouteIssueOwnerToken, o.issueOwnerToken)
	rt.Handle(stack.RouteCloseWorkspace, o.closeWorkspace)
	rt.Handle(stack.RouteReopenWorkspace, o.reopenWorkspace)
	rt.Handle(stack.RoutePurgeWorkspace, o.purgeWorkspace)
	return rt.Handler()
}

// CreatedWorkspace is a new workspace and, this once, its first owner token with its secret.
type CreatedWorkspace struct {
	WorkspaceView
	OwnerToken CreatedToken `json:"ownerToken"`
}

func (o *OperatorAPI) createWorkspace(w http.ResponseWriter, r *http.Request) error {
	a, in, err := actorAndBody[workspace.NewWorkspace](r)
	if err != nil {
		return err
	}
	ws, tok, secret, err := o.Operator.CreateWorkspace(r.Context(), a, in)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", ETag(ws.Version))
	w.Header().Set("Location", "/operator/workspaces/"+ws.ID)
	WriteJSON(w, http.StatusCreated, CreatedWorkspace{WorkspaceView: viewWorkspace(ws), OwnerToken: CreatedToken{Token: *tok, Secret: secret}})
	return nil
}

func (o *OperatorAPI) getWorkspace(w http.ResponseWriter, r *http.Request) error {
	ws, err := o.Operator.Workspace(r.Context(), r.PathValue("workspaceId"))
	if err != nil {
		return err
	}
	writeWorkspace(w, http.StatusOK, ws)
	return nil
}

func (o *OperatorAPI) updatePlan(w http.ResponseWriter, r *http.Request) error {
	version, err := IfMatch(r)
	if err != nil {
		return err
	}
	var p workspace.Plan
	if err := Decode(r, &p); err != nil {
		return err
	}
	if err := p.Check(); err != nil {
		return err
	}
	ws, err := o.Operator.SetPlan(r.Context(), r.PathValue("workspaceId"), version, p)
	if err != nil {
		return err
	}
	writeWorkspace(w, http.StatusOK, ws)
	return nil
}

// issueOwnerToken serves POST /operator/workspaces/{workspaceId}/owner-tokens: a recovery owner
// token, its secret shown this once.
func (o *OperatorAPI) issueOwnerToken(w http.ResponseWriter, r *http.Request) error {
	a, in, err := actorAndBody[workspace.RecoveryToken](r)
	if err != nil {
		return err
	}
	tok, secret, err := o.Operator.IssueOwnerToken(r.Context(), a, r.PathValue("workspaceId"), in)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusCreated, CreatedToken{Token: *tok, Secret: secret})
	return nil
}

// closeWorkspace serves POST /operator/workspaces/{workspaceId}/close.
func (o *OperatorAPI) closeWorkspace(w http.ResponseWriter, r *http.Request) error {
	a, in, err := actorAndBody[workspace.Closing](r)
	if err != nil {
		return err
	}
	ws, err := o.Operator.Close(r.Context(), a, r.PathValue("workspaceId"), in)
	if err != nil {
		return err
	}
	writeWorkspace(w, http.StatusOK, ws)
	return nil
}

// ReopenedWorkspace is a reopened workspace and, this once, its new owner token with its secret.
type ReopenedWorkspace struct {
	WorkspaceView
	OwnerToken CreatedToken `json:"ownerToken"`
}

// reopenWorkspace serves POST /operator/workspaces/{workspaceId}/reopen: the body names the new
// owner token ({} for "owner").
func (o *OperatorAPI) reopenWorkspace(w http.ResponseWriter, r *http.Request) error {
	a, in, err := actorAndBody[workspace.RecoveryToken](r)
	if err != nil {
		return err
	}
	ws, tok, secret, err := o.Operator.Reopen(r.Context(), a, r.PathValue("workspaceId"), in)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", ETag(ws.Version))
	WriteJSON(w, http.StatusOK, ReopenedWorkspace{WorkspaceView: viewWorkspace(ws), OwnerToken: CreatedToken{Token: *tok, Secret: secret}})
	return nil
}

// purgeWorkspace serves POST /operator/workspaces/{workspaceId}/purge.
func (o *OperatorAPI) purgeWorkspace(w http.ResponseWriter, r *http.Request) error {
	ws, err := o.Operator.Purge(r.Context(), r.PathValue("workspaceId"))
	if err != nil {
		return err
	}
	writeWorkspace(w, http.StatusOK, ws)
	return nil
}
