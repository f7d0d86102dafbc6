package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

// Access is who may call a route and how the audit log names it.
type Access struct {
	// Role is the least workspace role a token needs; empty for operator routes.
	Role phi.Role
	// Action, when set, makes every call of the route — allowed, denied or failed — append an
	// audit record with this action before the response leaves.
	Action string
}

// Accesses is the one table of who may do what, keyed like the router ("METHOD /path", the
// stack.Routes template). A test keeps it in step with stack.Routes. Owners alone reach the
// Privacy Portal, hashing settings, keys, tokens and the audit log; members manage sources and
// destinations (without hashing settings, which the destination handlers enforce on the
// body); readonly reads workspace, sources and destinations (without hashing settings).
var Accesses = map[string]Access{
	"POST /operator/workspaces":                   {Action: "workspace.create"},
	"GET /operator/workspaces/{workspaceId}":      {Action: "workspace.read"},
	"PUT /operator/workspaces/{workspaceId}/plan": {Action: "workspace.plan.update"},

	"GET /workspaces/{workspaceId}":                                      {Role: phi.RoleReadonly, Action: "workspace.read"},
	"GET /workspaces/{workspaceId}/tokens":                               {Role: phi.RoleOwner, Action: "token.list"},
	"POST /workspaces/{workspaceId}/tokens":                              {Role: phi.RoleOwner, Action: "token.create"},
	"DELETE /workspaces/{workspaceId}/tokens/{tokenId}":                  {Role: phi.RoleOwner, Action: "token.revoke"},
	"GET /workspaces/{workspaceId}/sources":                              {Role: phi.RoleReadonly},
	"POST /workspaces/{workspaceId}/sources":                             {Role: phi.RoleMember},
	"GET /workspaces/{workspaceId}/sources/{sourceId}":                   {Role: phi.RoleReadonly},
	"PUT /workspaces/{workspaceId}/sources/{sourceId}":                   {Role: phi.RoleMember},
	"DELETE /workspaces/{workspaceId}/sources/{sourceId}":                {Role: phi.RoleMember},
	"GET /workspaces/{workspaceId}/destinations":                         {Role: phi.RoleReadonly, Action: "destination.list"},
	"POST /workspaces/{workspaceId}/destinations":                        {Role: phi.RoleMember, Action: "destination.create"},
	"GET /workspaces/{workspaceId}/destinations/{destinationId}":         {Role: phi.RoleReadonly, Action: "destination.read"},
	"PUT /workspaces/{workspaceId}/destinations/{destinationId}":         {Role: phi.RoleMember, Action: "destination.update"},
	"DELETE /workspaces/{workspaceId}/destinations/{destinationId}":      {Role: phi.RoleMember, Action: "destination.delete"},
	"PUT /workspaces/{workspaceId}/destinations/{destinationId}/hashing": {Role: phi.RoleOwner, Action: "destination.hashing.update"},
	"GET /workspaces/{workspaceId}/privacy/matchers":                     {Role: phi.RoleOwner, Action: "privacy.matcher.list"},
	"POST /workspaces/{workspaceId}/privacy/matchers":                    {Role: phi.RoleOwner, Action: "privacy.matcher.create"},
	"DELETE /workspaces/{workspaceId}/privacy/matchers/{matcherId}":      {Role: phi.RoleOwner, Action: "privacy.matcher.delete"},
	"GET /workspaces/{workspaceId}/privacy/inbox":                        {Role: phi.RoleOwner, Action: "privacy.inbox.read"},
	"GET /workspaces/{workspaceId}/privacy/classifications":              {Role: phi.RoleOwner, Action: "privacy.classification.read"},
	"PUT /workspaces/{workspaceId}/privacy/classifications":              {Role: phi.RoleOwner, Action: "privacy.classification.update"},
	"GET /workspaces/{workspaceId}/audit":                                {Role: phi.RoleOwner, Action: "audit.read"},

	"GET /workspaces/{workspaceId}/destinations/{destinationId}/keys":                 {Role: phi.RoleOwner, Action: "key.list"},
	"POST /workspaces/{workspaceId}/destinations/{destinationId}/keys":                {Role: phi.RoleOwner, Action: "key.generate"},
	"POST /workspaces/{workspaceId}/destinations/{destinationId}/keys/import":         {Role: phi.RoleOwner, Action: "key.import"},
	"POST /workspaces/{workspaceId}/destinations/{destinationId}/keys/{keyId}/revoke": {Role: phi.RoleOwner, Action: "key.revoke"},
	"POST /workspaces/{workspaceId}/destinations/{destinationId}/hmac-keys":           {Role: phi.RoleOwner, Action: "key.hmac.generate"},
}

// RouteKey returns the key of rt in Accesses and in a router's handler map: "METHOD /path".
func RouteKey(rt stack.Route) string { return rt.Method + " " + rt.Path }

// AuditLog appends audit records. *dynamo.Store satisfies it.
type AuditLog interface {
	// AppendAudit appends r; it never overwrites an existing record.
	AppendAudit(ctx context.Context, r *phi.AuditRecord) error
}

// RouterConfig holds what every router needs.
type RouterConfig struct {
	Auth   Authenticator
	Audit  AuditLog
	Logger *slog.Logger
	// Now is the clock of audit records; time.Now when nil.
	Now func() time.Time
}

// NewRouter returns the handler for one function: the routes of stack.Routes whose Function is
// function, each served by handlers[RouteKey(route)] behind the request pipeline (request id,
// authentication, workspace scoping, role check, audit, logging). Unmatched paths get a JSON
// 404, a known path with another method a JSON 405 with Allow. It returns an error when a route
// of the function has no handler or no Access, or a handler has no route of the function —
// so a function cannot forget or invent a route.
func NewRouter(cfg RouterConfig, function string, handlers map[string]http.Handler) (http.Handler, error) {
	if cfg.Auth == nil || cfg.Audit == nil {
		return nil, fmt.Errorf("router %s: an authenticator and an audit log are required", function)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	mux := http.NewServeMux()
	seen := map[string]bool{}
	methods := map[string][]string{} // path template -> methods
	for _, rt := range stack.Routes {
		if rt.Function != function {
			continue
		}
		key := RouteKey(rt)
		h, ok := handlers[key]
		if !ok {
			return nil, fmt.Errorf("router %s: no handler for route %s", function, key)
		}
		acc, ok := Accesses[key]
		if !ok {
			return nil, fmt.Errorf("router %s: route %s has no entry in Accesses", function, key)
		}
		seen[key] = true
		methods[rt.Path] = append(methods[rt.Path], rt.Method)
		mux.Handle(key, &routed{cfg: cfg, route: rt, access: acc, next: h})
	}
	for key := range handlers {
		if !seen[key] {
			return nil, fmt.Errorf("router %s: handler %s has no route in stack.Routes for this function", function, key)
		}
	}
	for p, ms := range methods {
		allow := strings.Join(append(slices.Sorted(slices.Values(ms)), "OPTIONS"), ", ")
		mux.Handle(p, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			if r.Method == http.MethodOptions {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			WriteJSON(w, http.StatusMethodNotAllowed, errorJSON("method_not_allowed",
				fmt.Sprintf("%s is not allowed here; allowed: %s", clip(r.Method), allow)))
		}))
	}
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, r, cfg.Logger, phi.Errorf(phi.ENOTFOUND, "no such route; see the API reference"))
	}))
	return &entry{cfg: cfg, mux: mux}, nil
}

func errorJSON(code, msg string) errorBody {
	var b errorBody
	b.Error.Code, b.Error.Message = code, msg
	return b
}

// Audit outcomes (phi.AuditRecord.Outcome).
const (
	OutcomeSuccess = "success" // the route answered 1xx–3xx
	OutcomeDenied  = "denied"  // 401 or 403
	OutcomeFailed  = "failed"  // any other 4xx or 5xx
	// OutcomeAttempted is written by AuditAttempt before an irreversible step; the record of
	// the outcome follows under the same request id.
	OutcomeAttempted = "attempted"
)

// reqInfo is the per-request state the pipeline's layers share.
type reqInfo struct {
	route       string
	actor       string
	auditTarget string
	auditWS     string
	// attempt appends the attempt record of an audited route (nil elsewhere); attempted is
	// set once it has been stored.
	attempt   func() error
	attempted bool
}

func info(ctx context.Context) *reqInfo {
	i, _ := ctx.Value(auditKey).(*reqInfo)
	if i == nil {
		return &reqInfo{}
	}
	return i
}

// SetAuditTarget names what an audited request acted on (for example "token/tok_…") when the
// default — the request path below the workspace — does not say it well, for instance because
// the id is only known after creation.
func SetAuditTarget(r *http.Request, target string) { info(r.Context()).auditTarget = target }

// AuditAttempt appends, now, the audit record of r with outcome OutcomeAttempted and the target
// set so far (SetAuditTarget). A handler calls it just before a step that cannot be taken back
// and whose result the caller must receive — generating a key whose private half exists only in
// this response. If it returns an error the handler must stop and return it: nothing has
// happened yet, and the caller gets 500 (fail closed). Once the attempt is stored, the router
// still appends the outcome record after the handler; should that append fail, a successful
// response is delivered all the same (and the failure logged), because the attempt record —
// same request id, actor, action and target — already audits the action, and withholding the
// response would not undo it: it would only lose the key. AuditAttempt returns an error when r
// is not a request of an audited route.
func AuditAttempt(r *http.Request) error {
	ri := info(r.Context())
	if ri.attempt == nil {
		return fmt.Errorf("audit attempt: %s is not an audited route", ri.route)
	}
	return ri.attempt()
}

// SetAuditWorkspace names the workspace an audited operator request acted on when the path has
// none (creating a workspace).
func SetAuditWorkspace(r *http.Request, workspaceID string) { info(r.Context()).auditWS = workspaceID }

// entry is the outermost layer: request id, canonical paths, panic safety and the access log.
type entry struct {
	cfg RouterConfig
	mux *http.ServeMux
}

func (e *entry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := ""
	if gw, ok := gatewayContext(r.Context()); ok {
		id = gw.RequestID
	}
	if id == "" {
		id = phi.NewID("req_")
	}
	ri := &reqInfo{}
	ctx := context.WithValue(context.WithValue(r.Context(), requestIDKey, id), auditKey, ri)
	r = r.WithContext(ctx)
	w.Header().Set("X-Request-Id", id)
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		if v := recover(); v != nil {
			e.cfg.Logger.ErrorContext(ctx, "handler panicked", "requestId", id, "route", ri.route, "panic", fmt.Sprintf("%T", v))
			if sw.status == 0 {
				WriteError(sw, r, nil, fmt.Errorf("panic"))
			}
		}
		e.cfg.Logger.InfoContext(ctx, "request",
			"requestId", id, "method", clip(r.Method), "route", ri.route, "status", sw.status,
			"actor", ri.actor, "ms", time.Since(start).Milliseconds())
	}()
	if !canonical(r.URL.Path) {
		WriteError(sw, r, e.cfg.Logger, errNotCanonical)
		return
	}
	e.mux.ServeHTTP(sw, r)
}

// statusWriter remembers the status for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// routed runs one route's pipeline: authenticate, scope to the workspace, check the role,
// then the handler — buffered and audited when the route has an audit action.
type routed struct {
	cfg    RouterConfig
	route  stack.Route
	access Access
	next   http.Handler
}

func (h *routed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ri := info(r.Context())
	ri.route = RouteKey(h.route)
	logger := h.cfg.Logger
	actor, err := h.cfg.Auth.Authenticate(r, h.route.Auth)
	if err != nil {
		WriteError(w, r, logger, err)
		return
	}
	ri.actor = actor.ID
	r = r.WithContext(WithActor(r.Context(), actor))

	wsID := ""
	if strings.Contains(h.route.Path, "{workspaceId}") {
		if wsID, err = PathID(r, "workspaceId", phi.PrefixWorkspace); err != nil {
			WriteError(w, r, logger, err)
			return
		}
	}
	switch {
	case h.route.Auth == stack.AuthOperator && !actor.Operator,
		h.route.Auth == stack.AuthToken && actor.Operator:
		WriteError(w, r, logger, phi.Errorf(phi.EUNAUTHORIZED, "these credentials cannot call this route"))
		return
	case h.route.Auth == stack.AuthToken && wsID != actor.WorkspaceID:
		// Indistinguishable from a workspace that does not exist: a token learns nothing
		// about other workspaces.
		logger.WarnContext(r.Context(), "cross-workspace request refused",
			"requestId", RequestID(r.Context()), "route", ri.route, "actor", actor.ID)
		WriteError(w, r, logger, phi.Errorf(phi.ENOTFOUND, "workspace not found"))
		return
	}
	if h.route.Auth == stack.AuthToken {
		if err := RequireRole(actor, h.access.Role); err != nil {
			if h.access.Action != "" {
				h.audit(r, actor, wsID, OutcomeDenied)
			}
			WriteError(w, r, logger, err)
			return
		}
	}
	if h.access.Action == "" {
		h.next.ServeHTTP(w, r)
		return
	}
	// Audited: buffer the response so that it leaves only once its audit record is stored.
	ri.attempt = func() error {
		ws := wsID
		if ri.auditWS != "" {
			ws = ri.auditWS
		}
		if ws == "" {
			return fmt.Errorf("audit attempt of %s: no workspace to record it in", ri.route)
		}
		if err := h.audit(r, actor, ws, OutcomeAttempted); err != nil {
			return auditFailed("append attempt audit record", err)
		}
		ri.attempted = true
		return nil
	}
	buf := newRecorder()
	h.next.ServeHTTP(buf, r)
	status := buf.status
	if status == 0 {
		status = http.StatusOK
	}
	outcome := OutcomeSuccess
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		outcome = OutcomeDenied
	case status >= 400:
		outcome = OutcomeFailed
	}
	if ri.auditWS != "" {
		wsID = ri.auditWS
	}
	if wsID == "" {
		logger.WarnContext(r.Context(), "audited request without a workspace",
			"requestId", RequestID(r.Context()), "route", ri.route, "actor", actor.ID, "outcome", outcome)
	} else if err := h.audit(r, actor, wsID, outcome); err != nil && outcome == OutcomeSuccess {
		if !ri.attempted {
			// Fail closed: the caller must not get PHI-related data or a change confirmed
			// without an audit record.
			WriteError(w, r, logger, auditFailed("append audit record", err))
			return
		}
		// The attempt record audits what the handler did, which cannot be undone; the
		// caller must get its result (see AuditAttempt).
		logger.ErrorContext(r.Context(), "outcome audit record lost after an audited attempt; the attempt record stands",
			"requestId", RequestID(r.Context()), "route", ri.route, "actor", actor.ID)
	}
	for k, vs := range buf.header {
		w.Header()[k] = vs
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.body.Bytes())
}

// auditFailed is the error of a failed audit append: always internal (500), whatever the
// store's error says — a conflict in the audit log is not the caller's conflict.
func auditFailed(op string, err error) error {
	return &phi.Error{Code: phi.EINTERNAL, Message: "internal error", Err: fmt.Errorf("%s: %w", op, err)}
}

// audit appends the record of this request; failures are logged and returned.
func (h *routed) audit(r *http.Request, actor phi.Actor, wsID, outcome string) error {
	ri := info(r.Context())
	target := ri.auditTarget
	if target == "" {
		target = defaultTarget(h.route.Path, r)
	}
	rec := &phi.AuditRecord{
		ID:          phi.NewID(phi.PrefixAudit),
		WorkspaceID: wsID,
		Actor:       actor.ID,
		Action:      h.access.Action,
		Target:      target,
		Outcome:     outcome,
		RequestID:   RequestID(r.Context()),
		At:          h.cfg.Now().UTC(),
	}
	if err := h.cfg.Audit.AppendAudit(r.Context(), rec); err != nil {
		h.cfg.Logger.ErrorContext(r.Context(), "audit append failed",
			"requestId", rec.RequestID, "route", RouteKey(h.route), "action", rec.Action, "error", err.Error())
		return err
	}
	return nil
}

// defaultTarget names the resource of a request from its route template: the path below the
// workspace with each id checked ("destinations/dst_…/hashing", "privacy/classifications"), or
// "workspace/ws_…" for the workspace itself. Operator routes act on a workspace as a whole, so
// their targets are rooted at it ("workspace/ws_…/plan"), the way creating one is recorded as
// "workspace/ws_…". Ids that are not well formed are written as "?", so a target never records
// caller junk.
func defaultTarget(template string, r *http.Request) string {
	rel := relativeTarget(template, r)
	if !strings.HasPrefix(template, "/operator/") || strings.HasPrefix(rel, "workspace") {
		return rel
	}
	ws := r.PathValue("workspaceId")
	if !validAnyID(ws) {
		ws = "?"
	}
	return "workspace/" + ws + "/" + rel
}

// relativeTarget is defaultTarget's path below the workspace.
func relativeTarget(template string, r *http.Request) string {
	segs := strings.Split(strings.Trim(template, "/"), "/")
	var out []string
	below := false
	for _, s := range segs {
		if s == "{workspaceId}" {
			below = true
			continue
		}
		if !below {
			continue
		}
		if strings.HasPrefix(s, "{") {
			v := r.PathValue(strings.Trim(s, "{}"))
			if !validAnyID(v) {
				v = "?"
			}
			s = v
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		if ws := r.PathValue("workspaceId"); validAnyID(ws) {
			return "workspace/" + ws
		}
		return "workspace"
	}
	return strings.Join(out, "/")
}

// validAnyID reports whether s has the shape of one of the service's ids, so a target never
// records caller junk.
func validAnyID(s string) bool {
	for _, p := range []string{phi.PrefixWorkspace, phi.PrefixToken, phi.PrefixSource, phi.PrefixDestination, phi.PrefixKey, phi.PrefixMatcher} {
		if phi.ValidID(p, s) {
			return true
		}
	}
	return false
}

// Combine serves several functions' routers from one handler — a local server runs the whole
// API in one process — dispatching each route of stack.Routes to byFunction[route.Function].
// Routes of functions missing from byFunction, and unknown paths, get a JSON 404. It returns an
// error when byFunction names a function that has no routes.
func Combine(byFunction map[string]http.Handler) (http.Handler, error) {
	mux := http.NewServeMux()
	used := map[string]bool{}
	for _, rt := range stack.Routes {
		h, ok := byFunction[rt.Function]
		if !ok {
			continue
		}
		if !used[rt.Path] {
			mux.Handle(rt.Path, h) // the function's router checks the method itself
		}
		used[rt.Function], used[rt.Path] = true, true
	}
	for fn := range byFunction {
		if !used[fn] {
			return nil, fmt.Errorf("combine: function %s has no routes", fn)
		}
	}
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, r, nil, phi.Errorf(phi.ENOTFOUND, "no such route; see the API reference"))
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !canonical(r.URL.Path) {
			WriteError(w, r, nil, errNotCanonical)
			return
		}
		mux.ServeHTTP(w, r)
	}), nil
}

var errNotCanonical = phi.Errorf(phi.EBADREQUEST, "the path is not canonical (empty segment, trailing slash, . or ..)")

// canonical reports whether p is an absolute, clean path without a trailing slash: anything
// else would be redirected by http.ServeMux, and an API answers it with 400 instead.
func canonical(p string) bool {
	return p == "/" || (p != "" && p[0] == '/' && path.Clean(p) == p && !strings.HasSuffix(p, "/"))
}
