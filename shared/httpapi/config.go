package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
	"github.com/phiguard/phiguard/shared/webhook"
)

// Workspaces reads workspaces. *dynamo.Store satisfies it.
type Workspaces interface {
	// GetWorkspace returns the workspace or ENOTFOUND.
	GetWorkspace(ctx context.Context, wsID string) (*phi.Workspace, error)
}

// Tokens manages a workspace's API tokens. *dynamo.Store satisfies it.
type Tokens interface {
	CreateToken(ctx context.Context, t *phi.Token, secretHash string) error
	ListTokens(ctx context.Context, wsID string, page phi.Page) ([]phi.Token, string, error)
	RevokeToken(ctx context.Context, wsID, tokenID string, at time.Time) error
}

// Sources manages a workspace's sources. *dynamo.Store satisfies it.
type Sources interface {
	CreateSource(ctx context.Context, s *phi.Source) error
	GetSource(ctx context.Context, wsID, id string) (*phi.Source, error)
	ListSources(ctx context.Context, wsID string, page phi.Page) ([]phi.Source, string, error)
	UpdateSource(ctx context.Context, s *phi.Source) error
	DeleteSource(ctx context.Context, wsID, id string) error
}

// Destinations manages a workspace's destinations and reads their key metadata (to refuse
// treatments that need a key the destination does not have). *dynamo.Store satisfies it.
type Destinations interface {
	CreateDestination(ctx context.Context, d *phi.Destination) error
	GetDestination(ctx context.Context, wsID, id string) (*phi.Destination, error)
	ListDestinations(ctx context.Context, wsID string, page phi.Page) ([]phi.Destination, string, error)
	UpdateDestination(ctx context.Context, d *phi.Destination) error
	DeleteDestination(ctx context.Context, wsID, id string) error
	ListKeys(ctx context.Context, wsID, dstID string) ([]phi.Key, error)
}

// AuditReader pages through a workspace's audit log. *dynamo.Store satisfies it.
type AuditReader interface {
	ListAudit(ctx context.Context, wsID string, from, to time.Time, page phi.Page) ([]phi.AuditRecord, string, error)
}

// ConfigStore is everything the customer config API stores. *dynamo.Store satisfies it.
type ConfigStore interface {
	TokenLookup
	AuditLog
	AuditReader
	Workspaces
	Tokens
	Sources
	Destinations
	Privacy
}

// Config is the customer configuration API (function stack.FunctionConfig).
type Config struct {
	Store  ConfigStore
	Auth   Authenticator
	Logger *slog.Logger
	// Webhooks decides which webhook URLs a destination may be given. Its zero value is the
	// production policy: https only, the host resolved with net.DefaultResolver, every address
	// public. A local server sets AllowInsecureLoopback from stack.EnvAllowInsecureHTTP (its
	// receiver listens on 127.0.0.1); tests inject a Resolver, since a name that does not
	// resolve is refused.
	Webhooks webhook.Policy
	// Now is the service's clock; time.Now when nil.
	Now func() time.Time
}

// Handler returns the router of every config route. It fails when a dependency is missing or
// the route table and the handlers disagree.
func (c *Config) Handler() (http.Handler, error) {
	if c.Store == nil {
		return nil, fmt.Errorf("config API: no store")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	h := func(fn HandlerFunc) http.Handler { return Handle(c.Logger, fn) }
	handlers := map[string]http.Handler{
		"GET /workspaces/{workspaceId}":                                      h(c.getWorkspace),
		"GET /workspaces/{workspaceId}/tokens":                               h(c.listTokens),
		"POST /workspaces/{workspaceId}/tokens":                              h(c.createToken),
		"DELETE /workspaces/{workspaceId}/tokens/{tokenId}":                  h(c.revokeToken),
		"GET /workspaces/{workspaceId}/sources":                              h(c.listSources),
		"POST /workspaces/{workspaceId}/sources":                             h(c.createSource),
		"GET /workspaces/{workspaceId}/sources/{sourceId}":                   h(c.getSource),
		"PUT /workspaces/{workspaceId}/sources/{sourceId}":                   h(c.updateSource),
		"DELETE /workspaces/{workspaceId}/sources/{sourceId}":                h(c.deleteSource),
		"GET /workspaces/{workspaceId}/destinations":                         h(c.listDestinations),
		"POST /workspaces/{workspaceId}/destinations":                        h(c.createDestination),
		"GET /workspaces/{workspaceId}/destinations/{destinationId}":         h(c.getDestination),
		"PUT /workspaces/{workspaceId}/destinations/{destinationId}":         h(c.updateDestination),
		"DELETE /workspaces/{workspaceId}/destinations/{destinationId}":      h(c.deleteDestination),
		"PUT /workspaces/{workspaceId}/destinations/{destinationId}/hashing": h(c.updateHashing),
		"GET /workspaces/{workspaceId}/privacy/matchers":                     h(c.listMatchers),
		"POST /workspaces/{workspaceId}/privacy/matchers":                    h(c.createMatcher),
		"DELETE /workspaces/{workspaceId}/privacy/matchers/{matcherId}":      h(c.deleteMatcher),
		"GET /workspaces/{workspaceId}/privacy/inbox":                        h(c.listInbox),
		"GET /workspaces/{workspaceId}/privacy/classifications":              h(c.listClassifications),
		"PUT /workspaces/{workspaceId}/privacy/classifications":              h(c.putClassifications),
		"GET /workspaces/{workspaceId}/audit":                                h(c.listAudit),
	}
	return NewRouter(RouterConfig{Auth: c.Auth, Audit: c.Store, Logger: c.Logger, Now: c.Now}, stack.FunctionConfig, handlers)
}

// actor returns the caller the router authenticated; its absence is a wiring bug.
func actor(r *http.Request) (phi.Actor, error) {
	a, ok := ActorFrom(r.Context())
	if !ok {
		return phi.Actor{}, fmt.Errorf("no actor on a routed request")
	}
	return a, nil
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
	return WorkspaceView{Workspace: *w, HIPAAEligible: w.HIPAAEligible(), EligibilityReason: ineligibility(w)}
}

// ineligibility says why w is not HIPAA eligible, or "" when it is.
func ineligibility(w *phi.Workspace) string {
	switch {
	case w.HIPAAEligible():
		return ""
	case w.Tier != phi.TierBusiness && !w.BAA.Signed:
		return fmt.Sprintf("the workspace is on the %s tier and has no signed BAA; HIPAA eligibility needs the business tier and a signed BAA", w.Tier)
	case w.Tier != phi.TierBusiness:
		return fmt.Sprintf("the workspace is on the %s tier; HIPAA eligibility needs the business tier", w.Tier)
	}
	return "the workspace has no signed BAA; HIPAA eligibility needs a signed BAA"
}

func (c *Config) getWorkspace(w http.ResponseWriter, r *http.Request) error {
	ws, err := c.Store.GetWorkspace(r.Context(), r.PathValue("workspaceId"))
	if err != nil {
		return wrap(err, "get workspace")
	}
	w.Header().Set("ETag", ETag(ws.Version))
	WriteJSON(w, http.StatusOK, viewWorkspace(ws))
	return nil
}

// ---- tokens ----

// CreatedToken is a new token's metadata and, this once, its secret.
type CreatedToken struct {
	phi.Token
	Secret string `json:"secret"`
}

type tokenRequest struct {
	Name string   `json:"name"`
	Role phi.Role `json:"role"`
}

func (c *Config) listTokens(w http.ResponseWriter, r *http.Request) error {
	page, err := PageParams(r)
	if err != nil {
		return err
	}
	toks, next, err := c.Store.ListTokens(r.Context(), r.PathValue("workspaceId"), page)
	if err != nil {
		return wrap(err, "list tokens")
	}
	WriteJSON(w, http.StatusOK, NewList(toks, next))
	return nil
}

func (c *Config) createToken(w http.ResponseWriter, r *http.Request) error {
	a, err := actor(r)
	if err != nil {
		return err
	}
	var req tokenRequest
	if err := Decode(r, &req); err != nil {
		return err
	}
	var problems []Problem
	problems = append(problems, checkName("name", req.Name)...)
	if !req.Role.Valid() {
		problems = append(problems, Problem{Field: "role", Reason: `use "owner", "member" or "readonly"`})
	}
	if err := invalid(problems); err != nil {
		return err
	}
	tok := phi.Token{
		ID: phi.NewID(phi.PrefixToken), WorkspaceID: a.WorkspaceID, Name: req.Name, Role: req.Role,
		CreatedAt: c.Now().UTC(), CreatedBy: a.ID,
	}
	SetAuditTarget(r, "tokens/"+tok.ID)
	secret := NewTokenSecret()
	if err := c.Store.CreateToken(r.Context(), &tok, HashToken(secret)); err != nil {
		return wrap(err, "create token %s", tok.ID)
	}
	WriteJSON(w, http.StatusCreated, CreatedToken{Token: tok, Secret: secret})
	return nil
}

func (c *Config) revokeToken(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "tokenId", phi.PrefixToken)
	if err != nil {
		return err
	}
	wsID := r.PathValue("workspaceId")
	if err := c.keepsAnOwner(r.Context(), wsID, id); err != nil {
		return err
	}
	if err := c.Store.RevokeToken(r.Context(), wsID, id, c.Now().UTC()); err != nil {
		return wrap(err, "revoke token %s", id)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// keepsAnOwner refuses (ECONFLICT) to revoke tokenID when it is the workspace's last active
// owner token: only owners reach the Privacy Portal, keys, tokens and audit log, and no customer
// route could let them back in. Two owners revoking each other's tokens at the same instant can
// still both pass this check; an operator then has to issue a new owner token.
func (c *Config) keepsAnOwner(ctx context.Context, wsID, tokenID string) error {
	target, others := false, 0
	page := phi.Page{Limit: MaxPageLimit}
	for {
		toks, next, err := c.Store.ListTokens(ctx, wsID, page)
		if err != nil {
			return wrap(err, "list tokens")
		}
		for _, t := range toks {
			if t.Role != phi.RoleOwner || t.RevokedAt != nil {
				continue
			}
			if t.ID == tokenID {
				target = true
			} else {
				others++
			}
		}
		if next == "" {
			break
		}
		page.Cursor = next
	}
	if target && others == 0 {
		return phi.Errorf(phi.ECONFLICT, "this is the workspace's last active owner token; create another owner token before revoking it")
	}
	return nil
}

// ---- sources ----

type sourceRequest struct {
	Name string `json:"name"`
}

func (c *Config) listSources(w http.ResponseWriter, r *http.Request) error {
	page, err := PageParams(r)
	if err != nil {
		return err
	}
	srcs, next, err := c.Store.ListSources(r.Context(), r.PathValue("workspaceId"), page)
	if err != nil {
		return wrap(err, "list sources")
	}
	WriteJSON(w, http.StatusOK, NewList(srcs, next))
	return nil
}

func (c *Config) createSource(w http.ResponseWriter, r *http.Request) error {
	var req sourceRequest
	if err := Decode(r, &req); err != nil {
		return err
	}
	if err := invalid(checkName("name", req.Name)); err != nil {
		return err
	}
	now := c.Now().UTC()
	src := phi.Source{ID: phi.NewID(phi.PrefixSource), WorkspaceID: r.PathValue("workspaceId"), Name: req.Name, CreatedAt: now, UpdatedAt: now}
	if err := c.Store.CreateSource(r.Context(), &src); err != nil {
		return wrap(err, "create source")
	}
	w.Header().Set("ETag", ETag(src.Version))
	w.Header().Set("Location", r.URL.Path+"/"+src.ID)
	WriteJSON(w, http.StatusCreated, src)
	return nil
}

func (c *Config) getSource(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "sourceId", phi.PrefixSource)
	if err != nil {
		return err
	}
	src, err := c.Store.GetSource(r.Context(), r.PathValue("workspaceId"), id)
	if err != nil {
		return wrap(err, "get source %s", id)
	}
	w.Header().Set("ETag", ETag(src.Version))
	WriteJSON(w, http.StatusOK, src)
	return nil
}

func (c *Config) updateSource(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "sourceId", phi.PrefixSource)
	if err != nil {
		return err
	}
	var req sourceRequest
	if err := Decode(r, &req); err != nil {
		return err
	}
	if err := invalid(checkName("name", req.Name)); err != nil {
		return err
	}
	version, err := IfMatch(r)
	if err != nil {
		return err
	}
	src, err := c.Store.GetSource(r.Context(), r.PathValue("workspaceId"), id)
	if err != nil {
		return wrap(err, "get source %s", id)
	}
	src.Name, src.Version = req.Name, version
	if err := c.Store.UpdateSource(r.Context(), src); err != nil {
		return wrap(err, "update source %s", id)
	}
	w.Header().Set("ETag", ETag(src.Version))
	WriteJSON(w, http.StatusOK, src)
	return nil
}

func (c *Config) deleteSource(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "sourceId", phi.PrefixSource)
	if err != nil {
		return err
	}
	if err := c.Store.DeleteSource(r.Context(), r.PathValue("workspaceId"), id); err != nil {
		return wrap(err, "delete source %s", id)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- validation helpers ----

// Problem is one broken rule of a request, listed in a 422 response's details.
type Problem struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// invalid returns nil for no problems, and otherwise an EINVALID error whose message names the
// first problem and whose details list them all.
func invalid(problems []Problem) error {
	if len(problems) == 0 {
		return nil
	}
	msg := fmt.Sprintf("%s: %s", problems[0].Field, problems[0].Reason)
	if len(problems) > 1 {
		msg += fmt.Sprintf(" (and %d more problems, see details)", len(problems)-1)
	}
	return phi.Errorf(phi.EINVALID, "%s", msg).WithDetails(problems)
}

// MaxNameLen is the longest name of a token, source or destination, in characters.
const MaxNameLen = 100

func checkName(field, s string) []Problem {
	n := utf8.RuneCountInString(s)
	switch {
	case strings.TrimSpace(s) == "":
		return []Problem{{field, "is required"}}
	case !utf8.ValidString(s):
		return []Problem{{field, "is not valid UTF-8"}}
	case n > MaxNameLen:
		return []Problem{{field, fmt.Sprintf("is %d characters long; the limit is %d", n, MaxNameLen)}}
	case strings.TrimSpace(s) != s:
		return []Problem{{field, "must not start or end with whitespace"}}
	}
	for _, r := range s {
		if !unicode.IsGraphic(r) {
			return []Problem{{field, fmt.Sprintf("contains the non-printable character %U", r)}}
		}
	}
	return nil
}

// checkWebhookURL accepts an absolute https URL with a host, no credentials and no fragment.
func checkWebhookURL(field, s string) []Problem {
	if s == "" {
		return []Problem{{field, "is required for a webhook destination"}}
	}
	if len(s) > 2048 {
		return []Problem{{field, "is longer than 2048 characters"}}
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return []Problem{{field, "is not a URL"}}
	case u.Scheme != "https":
		return []Problem{{field, "must be an https:// URL"}}
	case u.Host == "" || u.Hostname() == "":
		return []Problem{{field, "has no host"}}
	case u.User != nil:
		return []Problem{{field, "must not carry credentials; configure authentication separately"}}
	case u.Fragment != "":
		return []Problem{{field, "must not have a #fragment"}}
	}
	return nil
}
