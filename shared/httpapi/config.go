package httpapi

import (
	"cmp"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/phiguard/phiguard/shared/audit"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
	"github.com/phiguard/phiguard/shared/workspace"
)

// ConfigStore is everything the customer config API stores. *dynamo.Store satisfies it.
type ConfigStore interface {
	workspace.Store
	audit.Log
}

// ConfigAPI is the REST face of the customer's workspace service (function
// stack.FunctionConfig): its handlers decode a request, call workspace.Service and encode the
// result.
type ConfigAPI struct {
	Service *workspace.Service
	// Audit receives the routes' audit records.
	Audit audit.Log
	// Trail verifies and exports the audit chain.
	Trail  *audit.Trail
	Auth   Authenticator
	Logger *slog.Logger
	// Idempotency keeps the POST routes' Idempotency-Key records; the store when it is one
	// (*dynamo.Store is).
	Idempotency IdempotencyStore
	// DeadLetters counts and replays destinations' dead letters.
	DeadLetters DeadLetters
}

// Handler returns the router of every config route. It fails when a dependency is missing or
// the route table and the handlers disagree.
func (c *ConfigAPI) Handler() (http.Handler, error) {
	if c.Service == nil || c.Service.Store == nil {
		return nil, fmt.Errorf("config API: no store")
	}
	if c.Trail == nil {
		return nil, fmt.Errorf("config API: no audit trail")
	}
	if c.DeadLetters == nil {
		return nil, fmt.Errorf("config API: no dead-letter queue")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	rt := NewRouter(RouterConfig{Auth: c.Auth, Audit: c.Audit, Logger: c.Logger, Now: c.Service.Now, Idempotency: cmp.Or(c.Idempotency, idempotencyStoreOf(c.Service.Store))}, stack.FunctionConfig)
	rt.Handle(stack.RouteCatalog, getCatalog)
	rt.Handle(stack.RouteGetWorkspace, c.getWorkspace)
	rt.Handle(stack.RouteExportWorkspace, c.exportWorkspace)
	rt.Handle(stack.RouteListTokens, c.listTokens)
	rt.Handle(stack.RouteCreateToken, c.createToken)
	rt.Handle(stack.RouteRevokeToken, c.revokeToken)
	rt.Handle(stack.RouteListSources, c.listSources)
	rt.Handle(stack.RouteCreateSource, c.createSource)
	rt.Handle(stack.RouteGetSource, c.getSource)
	rt.Handle(stack.RouteUpdateSource, c.updateSource)
	rt.Handle(stack.RouteDeleteSource, c.deleteSource)
	rt.Handle(stack.RouteListDestinations, c.listDestinations)
	rt.Handle(stack.RouteCreateDestination, c.createDestination)
	rt.Handle(stack.RouteGetDestination, c.getDestination)
	rt.Handle(stack.RouteUpdateDestination, c.updateDestination)
	rt.Handle(stack.RouteDeleteDestination, c.deleteDestination)
	rt.Handle(stack.RouteGetAccessPolicy, c.getAccessPolicy)
	rt.Handle(stack.RouteTestDestination, c.testDestination)
	rt.Handle(stack.RouteRotateSigningSecret, c.rotateSigningSecret)
	rt.Handle(stack.RouteUpdateHashing, c.updateHashing)
	rt.Handle(stack.RouteCountDeadLetters, c.countDeadLetters)
	rt.Handle(stack.RouteReplayDeadLetters, c.replayDeadLetters)
	rt.Handle(stack.RouteListMatchers, c.listMatchers)
	rt.Handle(stack.RouteCreateMatcher, c.createMatcher)
	rt.Handle(stack.RouteDeleteMatcher, c.deleteMatcher)
	rt.Handle(stack.RouteListInbox, c.listInbox)
	rt.Handle(stack.RouteListClassifications, c.listClassifications)
	rt.Handle(stack.RoutePutClassifications, c.putClassifications)
	rt.Handle(stack.RouteListAudit, c.listAudit)
	rt.Handle(stack.RouteVerifyAudit, c.verifyAudit)
	rt.Handle(stack.RouteExportAudit, c.exportAudit)
	return rt.Handler()
}

// Actor returns the caller the router authenticated; its absence is a wiring bug.
func Actor(r *http.Request) (phi.Actor, error) {
	a, ok := ActorFrom(r.Context())
	if !ok {
		return phi.Actor{}, fmt.Errorf("no actor on a routed request")
	}
	return a, nil
}

// actorAndBody returns the caller the router authenticated and r's JSON body decoded into a T:
// the start of a handler that acts on a body in the caller's name. Its errors are Actor's and
// Decode's.
func actorAndBody[T any](r *http.Request) (phi.Actor, T, error) {
	var in T
	a, err := Actor(r)
	if err != nil {
		return a, in, err
	}
	return a, in, Decode(r, &in)
}

// ---- workspace ----

// WorkspaceView is a workspace as the API shows it: with the HIPAA badge and, when the
// workspace is not eligible, why.
type WorkspaceView struct {
	phi.Workspace
	HIPAAEligible     bool   `json:"hipaaEligible"`
	EligibilityReason string `json:"eligibilityReason,omitempty"`
}

func viewWorkspace(w *phi.Workspace) WorkspaceView {
	return WorkspaceView{Workspace: *w, HIPAAEligible: w.HIPAAEligible(), EligibilityReason: w.Ineligibility()}
}

// writeWorkspace answers with ws, its ETag and status.
func writeWorkspace(w http.ResponseWriter, status int, ws *phi.Workspace) {
	w.Header().Set("ETag", ETag(ws.Version))
	WriteJSON(w, status, viewWorkspace(ws))
}

// exportWorkspace serves GET /workspaces/{workspaceId}/export: the whole configuration as one
// JSON document (workspace.Export).
func (c *ConfigAPI) exportWorkspace(w http.ResponseWriter, r *http.Request) error {
	x, err := c.Service.Export(r.Context(), r.PathValue("workspaceId"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Disposition", `attachment; filename="workspace-`+x.Workspace.ID+`.json"`)
	WriteJSON(w, http.StatusOK, x)
	return nil
}

func (c *ConfigAPI) getWorkspace(w http.ResponseWriter, r *http.Request) error {
	ws, err := c.Service.Workspace(r.Context(), r.PathValue("workspaceId"))
	if err != nil {
		return err
	}
	writeWorkspace(w, http.StatusOK, ws)
	return nil
}

// ---- tokens ----

// CreatedToken is a new token's metadata and, this once, its secret.
type CreatedToken struct {
	phi.Token
	Secret string `json:"secret"`
}

func (c *ConfigAPI) listTokens(w http.ResponseWriter, r *http.Request) error {
	page, err := PageParams(r)
	if err != nil {
		return err
	}
	toks, next, err := c.Service.ListTokens(r.Context(), r.PathValue("workspaceId"), page)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, NewList(toks, next))
	return nil
}

func (c *ConfigAPI) createToken(w http.ResponseWriter, r *http.Request) error {
	a, in, err := actorAndBody[workspace.TokenInput](r)
	if err != nil {
		return err
	}
	tok, secret, err := c.Service.CreateToken(r.Context(), a, in)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusCreated, CreatedToken{Token: *tok, Secret: secret})
	return nil
}

func (c *ConfigAPI) revokeToken(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "tokenId", phi.PrefixToken)
	if err != nil {
		return err
	}
	if err := c.Service.RevokeToken(r.Context(), r.PathValue("workspaceId"), id); err != nil {
		return err
	}
	NoContent(w)
	return nil
}

// ---- sources ----

func writeSource(w http.ResponseWriter, status int, src *phi.Source) {
	w.Header().Set("ETag", ETag(src.Version))
	WriteJSON(w, status, src)
}

func (c *ConfigAPI) listSources(w http.ResponseWriter, r *http.Request) error {
	page, err := PageParams(r)
	if err != nil {
		return err
	}
	srcs, next, err := c.Service.ListSources(r.Context(), r.PathValue("workspaceId"), page)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, NewList(srcs, next))
	return nil
}

func (c *ConfigAPI) createSource(w http.ResponseWriter, r *http.Request) error {
	var in workspace.SourceInput
	if err := Decode(r, &in); err != nil {
		return err
	}
	src, err := c.Service.CreateSource(r.Context(), r.PathValue("workspaceId"), in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", r.URL.Path+"/"+src.ID)
	writeSource(w, http.StatusCreated, src)
	return nil
}

func (c *ConfigAPI) getSource(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "sourceId", phi.PrefixSource)
	if err != nil {
		return err
	}
	src, err := c.Service.Source(r.Context(), r.PathValue("workspaceId"), id)
	if err != nil {
		return err
	}
	writeSource(w, http.StatusOK, src)
	return nil
}

func (c *ConfigAPI) updateSource(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "sourceId", phi.PrefixSource)
	if err != nil {
		return err
	}
	version, err := IfMatch(r)
	if err != nil {
		return err
	}
	var in workspace.SourceInput
	if err := Decode(r, &in); err != nil {
		return err
	}
	if err := workspace.ValidSource(in); err != nil {
		return err
	}
	src, err := c.Service.UpdateSource(r.Context(), r.PathValue("workspaceId"), id, version, in)
	if err != nil {
		return err
	}
	writeSource(w, http.StatusOK, src)
	return nil
}

func (c *ConfigAPI) deleteSource(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "sourceId", phi.PrefixSource)
	if err != nil {
		return err
	}
	if err := c.Service.DeleteSource(r.Context(), r.PathValue("workspaceId"), id); err != nil {
		return err
	}
	NoContent(w)
	return nil
}
