package httpapi

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/phiguard/phiguard/shared/audit"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

// RouterConfig holds what every router needs.
type RouterConfig struct {
	Auth   Authenticator
	Audit  audit.Log
	Logger *slog.Logger
	// Now is the clock of audit records and Idempotency-Key records; time.Now when nil.
	Now func() time.Time
	// Idempotency keeps the Idempotency-Key records of POST routes.
	Idempotency IdempotencyStore
}

// Router is the handler of one function's routes, built from stack.Routes: each route is served
// by the HandlerFunc registered for it with Handle, behind the request pipeline — request id
// and access log, authentication, workspace scoping, role check, audit — each a small handler
// wrapping the next.
type Router struct {
	cfg      RouterConfig
	function string
	handlers map[stack.Route]HandlerFunc
}

// NewRouter returns an empty router for function's routes.
func NewRouter(cfg RouterConfig, function string) *Router {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Router{cfg: cfg, function: function, handlers: map[stack.Route]HandlerFunc{}}
}

// Handle registers fn as the handler of route.
func (rt *Router) Handle(route stack.Route, fn HandlerFunc) { rt.handlers[route] = fn }

// Handler returns the router's http.Handler. Unmatched paths get a JSON 404, a known path with
// another method a JSON 405 with Allow. It returns an error when the authenticator or audit log
// is missing, a route of the function has no handler, or a handler's route is not one of the
// function's routes in stack.Routes — so a function cannot forget or invent a route.
func (rt *Router) Handler() (http.Handler, error) {
	if rt.cfg.Auth == nil || rt.cfg.Audit == nil || rt.cfg.Idempotency == nil {
		return nil, fmt.Errorf("router %s: an authenticator, an audit log and an idempotency store are required", rt.function)
	}
	mux := http.NewServeMux()
	seen := map[stack.Route]bool{}
	methods := map[string][]string{} // path template -> methods
	for _, route := range stack.Routes {
		if route.Function != rt.function {
			continue
		}
		fn, ok := rt.handlers[route]
		if !ok {
			return nil, fmt.Errorf("router %s: no handler for route %s", rt.function, route.Key())
		}
		seen[route] = true
		methods[route.Path] = append(methods[route.Path], route.Method)
		mux.Handle(route.Key(), rt.chain(route, Handle(rt.cfg.Logger, fn)))
	}
	for route := range rt.handlers {
		if !seen[route] {
			return nil, fmt.Errorf("router %s: handler %s has no route in stack.Routes for this function", rt.function, route.Key())
		}
	}
	for p, ms := range methods {
		mux.Handle(p, methodNotAllowed(strings.Join(append(slices.Sorted(slices.Values(ms)), "OPTIONS"), ", ")))
	}
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, r, rt.cfg.Logger, phi.Errorf(phi.ENOTFOUND, "no such route; see the API reference"))
	}))
	return &entry{logger: rt.cfg.Logger, mux: mux}, nil
}

// chain wraps a route's handler in the request pipeline, outermost first: authenticate, scope
// to the workspace, check the role, replay an Idempotency-Key's first response (a replay does
// not act, and is not audited again), audit.
func (rt *Router) chain(route stack.Route, h http.Handler) http.Handler {
	if route.Action != "" {
		h = rt.audited(route, h)
	}
	h = rt.idempotent(route, h)
	h = rt.authorized(route, h)
	h = rt.scoped(route, h)
	h = rt.authenticated(route, h)
	return rt.wellFormed(route, h)
}

// produces lists, for the routes that can answer in another media type than JSON, those types.
var produces = map[stack.Route][]string{
	stack.RouteListClassifications: {"text/csv"}, // the inventory export
	stack.RouteExportAudit:         {"application/x-ndjson"},
}

// wellFormed refuses, before anything else, a request whose Accept header admits none of the
// route's media types (406) and a query that names a parameter twice or leaves one empty (400):
// the handlers read one value per parameter, and a second one would be silently ignored.
func (rt *Router) wellFormed(route stack.Route, next http.Handler) http.Handler {
	types := append([]string{"application/json"}, produces[route]...)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !acceptsAny(r.Header.Values("Accept"), types) {
			WriteError(w, r, rt.cfg.Logger, phi.Errorf(phi.ENOTACCEPTABLE, "this route answers with %s; send Accept: %s (or leave Accept out)", strings.Join(types, " or "), types[0]))
			return
		}
		for name, vs := range r.URL.Query() {
			reason := ""
			switch {
			case len(vs) > 1:
				reason = fmt.Sprintf("is given %d times; send it once", len(vs))
			case vs[0] == "" && name != "cursor": // an empty cursor is the first page
				reason = "is empty; send a value or leave it out"
			default:
				continue
			}
			if !echoable(name) {
				WriteError(w, r, rt.cfg.Logger, phi.Errorf(phi.EBADREQUEST, "a query parameter %s (its name is not shown: it does not look like a parameter name)", reason))
				return
			}
			WriteError(w, r, rt.cfg.Logger, phi.Errorf(phi.EBADREQUEST, "query parameter %s %s", name, reason).
				WithDetails(map[string]string{"parameter": name}))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// acceptsAny reports whether Accept header values admit one of types: no header admits
// everything; otherwise a media range with q > 0 must match (*/*, type/*, or the type itself).
func acceptsAny(header []string, types []string) bool {
	if len(header) == 0 {
		return true
	}
	for _, h := range header {
		for _, part := range strings.Split(h, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			if q, ok := params["q"]; ok {
				if v, err := strconv.ParseFloat(q, 64); err != nil || v <= 0 {
					continue
				}
			}
			for _, t := range types {
				major, _, _ := strings.Cut(t, "/")
				if mt == "*/*" || mt == t || mt == major+"/*" {
					return true
				}
			}
		}
	}
	return false
}

func methodNotAllowed(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		if r.Method == http.MethodOptions {
			NoContent(w)
			return
		}
		WriteJSON(w, http.StatusMethodNotAllowed, errorJSON("method_not_allowed",
			fmt.Sprintf("%s is not allowed here; allowed: %s", clip(r.Method), allow)))
	})
}

func errorJSON(code, msg string) errorBody {
	var b errorBody
	b.Error.Code, b.Error.Message = code, msg
	return b
}

// reqInfo is the per-request state the pipeline's layers share: what the access log and the
// audit records name.
type reqInfo struct {
	route     string
	actor     phi.Actor
	workspace string // the workspace of the path, once scoped
}

type infoKey struct{}

func info(ctx context.Context) *reqInfo {
	i, _ := ctx.Value(infoKey{}).(*reqInfo)
	if i == nil {
		return &reqInfo{}
	}
	return i
}

// entry is the outermost layer: request id, canonical paths, panic safety and the access log.
type entry struct {
	logger *slog.Logger
	mux    *http.ServeMux
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
	ctx := audit.With(context.WithValue(r.Context(), infoKey{}, ri), audit.NewScope(id, nil))
	r = r.WithContext(ctx)
	w.Header().Set("X-Request-Id", id)
	sw := &StatusWriter{ResponseWriter: w}
	defer func() {
		if v := recover(); v != nil {
			e.logger.ErrorContext(ctx, "handler panicked", "requestId", id, "route", ri.route, "panic", fmt.Sprintf("%T", v))
			if sw.status == 0 {
				WriteError(sw, r, nil, fmt.Errorf("panic"))
			}
		}
		attrs := []any{"requestId", id, "method", clip(r.Method), "route", ri.route, "status", sw.status,
			"actor", ri.actor.ID, "ms", time.Since(start).Milliseconds()}
		if ri.actor.Principal != "" {
			attrs = append(attrs, "principal", ri.actor.Principal) // who an operator pseudonym is
		}
		e.logger.InfoContext(ctx, "request", attrs...)
	}()
	if !canonical(r.URL.Path) {
		WriteError(sw, r, e.logger, errNotCanonical)
		return
	}
	e.mux.ServeHTTP(sw, r)
}

// StatusWriter is a ResponseWriter that remembers the status it wrote, for an access log.
type StatusWriter struct {
	http.ResponseWriter
	status int
}

// Status returns the status written so far, or 0.
func (s *StatusWriter) Status() int { return s.status }

// WriteHeader writes and remembers the first status.
func (s *StatusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Write writes b, remembering 200 when no status was written.
func (s *StatusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Flush flushes the underlying ResponseWriter when it can, so a streaming handler still
// streams through a StatusWriter.
func (s *StatusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// authenticated names the caller (the Authenticator's actor) or refuses the request.
func (rt *Router) authenticated(route stack.Route, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := info(r.Context())
		ri.route = route.Key()
		actor, err := rt.cfg.Auth.Authenticate(r, route.Auth)
		if err != nil {
			WriteError(w, r, rt.cfg.Logger, err)
			return
		}
		ri.actor = actor
		next.ServeHTTP(w, r.WithContext(WithActor(r.Context(), actor)))
	})
}

// scoped refuses credentials of the wrong kind for the route and, on token routes below a
// workspace, any workspace but the token's own — indistinguishable from a workspace that does not exist, so a
// token learns nothing about other workspaces.
func (rt *Router) scoped(route stack.Route, next http.Handler) http.Handler {
	hasWorkspace := strings.Contains(route.Path, "{workspaceId}")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := info(r.Context())
		if hasWorkspace {
			wsID, err := PathID(r, "workspaceId", phi.PrefixWorkspace)
			if err != nil {
				WriteError(w, r, rt.cfg.Logger, err)
				return
			}
			ri.workspace = wsID
		}
		switch {
		case route.Auth == stack.AuthOperator && !ri.actor.Operator,
			route.Auth == stack.AuthToken && ri.actor.Operator:
			WriteError(w, r, rt.cfg.Logger, phi.Errorf(phi.EUNAUTHORIZED, "these credentials cannot call this route"))
			return
		case route.Auth == stack.AuthToken && hasWorkspace && ri.workspace != ri.actor.WorkspaceID:
			rt.cfg.Logger.WarnContext(r.Context(), "cross-workspace request refused",
				"requestId", RequestID(r.Context()), "route", ri.route, "actor", ri.actor.ID)
			WriteError(w, r, rt.cfg.Logger, phi.Errorf(phi.ENOTFOUND, "workspace not found"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authorized checks that a token holds the route's role; a refusal of an audited route is
// audited.
func (rt *Router) authorized(route stack.Route, next http.Handler) http.Handler {
	if route.Auth != stack.AuthToken {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := info(r.Context())
		if err := RequireRole(ri.actor, route.Role); err != nil {
			if route.Action != "" {
				_ = rt.audit(r, route, ri.workspace, "", audit.OutcomeDenied)
			}
			WriteError(w, r, rt.cfg.Logger, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// audited buffers the response of an audited route so that it leaves only once its audit
// record is stored, and gives the handler an audit.Scope whose Attempt appends the attempt
// record of an irreversible step. Once the attempt is stored, the outcome record is appended
// after the handler; should that append fail, a successful response is delivered all the same
// (and the failure logged), because the attempt record — same request id, actor, action and
// target — already audits the action, and withholding the response would not undo it: it would
// only lose, say, a key shown once. Without an attempt, a lost outcome record fails the request
// closed with 500. A success is followed by a record of each consequence the handler noted
// (audit.Also: a destination's hashing degraded or restored), lost ones treated the same way.
func (rt *Router) audited(route stack.Route, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := info(r.Context())
		logger := rt.cfg.Logger
		scope := audit.NewScope(RequestID(r.Context()), func(ctx context.Context, s *audit.Scope) error {
			ws := cmp.Or(s.Workspace(), ri.workspace)
			if ws == "" {
				return fmt.Errorf("audit attempt of %s: no workspace to record it in", ri.route)
			}
			if err := rt.audit(r, route, ws, s.Target(), audit.OutcomeAttempted); err != nil {
				return auditFailed("append attempt audit record", err)
			}
			return nil
		})
		buf := newRecorder()
		next.ServeHTTP(buf, r.WithContext(audit.With(r.Context(), scope)))
		status := cmp.Or(buf.status, http.StatusOK)
		outcome := audit.OutcomeSuccess
		switch {
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			outcome = audit.OutcomeDenied
		case status >= 400:
			outcome = audit.OutcomeFailed
		}
		wsID := cmp.Or(scope.Workspace(), ri.workspace)
		if wsID == "" {
			logger.WarnContext(r.Context(), "audited request without a workspace",
				"requestId", RequestID(r.Context()), "route", ri.route, "actor", ri.actor.ID, "outcome", outcome)
		} else if err := rt.auditOutcome(r, route, wsID, scope, outcome); err != nil && outcome == audit.OutcomeSuccess {
			if !scope.Attempted() {
				// Fail closed: the caller must not get PHI-related data or a change confirmed
				// without an audit record.
				WriteError(w, r, logger, auditFailed("append audit record", err))
				return
			}
			logger.ErrorContext(r.Context(), "outcome audit record lost after an audited attempt; the attempt record stands",
				"requestId", RequestID(r.Context()), "route", ri.route, "actor", ri.actor.ID)
		}
		buf.copyTo(w, status)
	})
}

// auditFailed is the error of a failed audit append: always internal (500), whatever the
// store's error says — a conflict in the audit log is not the caller's conflict.
func auditFailed(op string, err error) error {
	return &phi.Error{Code: phi.EINTERNAL, Message: "internal error", Err: fmt.Errorf("%s: %w", op, err)}
}

// auditOutcome appends the outcome record of this request of route and, when it succeeded, a
// record of each of the scope's consequences (audit.Also) after it; it stops at the first
// failure, logged and returned.
func (rt *Router) auditOutcome(r *http.Request, route stack.Route, wsID string, scope *audit.Scope, outcome string) error {
	if err := rt.audit(r, route, wsID, scope.Target(), outcome); err != nil || outcome != audit.OutcomeSuccess {
		return err
	}
	for _, c := range scope.Consequences() {
		if err := rt.record(r, route, wsID, c.Action, c.Target, outcome); err != nil {
			return err
		}
	}
	return nil
}

// audit appends the record of this request of route in workspace wsID, naming target (the
// route's default target when empty); failures are logged and returned.
func (rt *Router) audit(r *http.Request, route stack.Route, wsID, target, outcome string) error {
	if target == "" {
		target = defaultTarget(route.Path, r)
	}
	return rt.record(r, route, wsID, route.Action, target, outcome)
}

// record appends one audit record of this request of route: action on target in wsID.
func (rt *Router) record(r *http.Request, route stack.Route, wsID, action, target, outcome string) error {
	rec := &phi.AuditRecord{
		ID:          phi.NewID(phi.PrefixAudit),
		WorkspaceID: wsID,
		Actor:       info(r.Context()).actor.ID,
		Action:      action,
		Target:      target,
		Outcome:     outcome,
		RequestID:   RequestID(r.Context()),
		At:          rt.cfg.Now().UTC(),
	}
	if err := rt.cfg.Audit.AppendAudit(r.Context(), rec); err != nil {
		rt.cfg.Logger.ErrorContext(r.Context(), "audit append failed",
			"requestId", rec.RequestID, "route", route.Key(), "action", rec.Action, "error", err.Error())
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
// API in one process — dispatching each route of stack.Routes and stack.ConsoleRoutes to
// byFunction[route.Function].
// Routes of functions missing from byFunction, and unknown paths, get a JSON 404. It returns an
// error when byFunction names a function that has no routes.
func Combine(byFunction map[string]http.Handler) (http.Handler, error) {
	mux := http.NewServeMux()
	used := map[string]bool{}
	var sessionPrefixes []string
	for _, rt := range slices.Concat(stack.Routes, stack.ConsoleRoutes) {
		h, ok := byFunction[rt.Function]
		if !ok {
			continue
		}
		if !used[rt.Path] {
			// The function's router checks the method itself; API Gateway's greedy {proxy+} is
			// net/http's {proxy...}.
			mux.Handle(strings.Replace(rt.Path, "{proxy+}", "{proxy...}", 1), h)
		}
		if rt.Auth == stack.AuthSession {
			sessionPrefixes = append(sessionPrefixes, strings.TrimSuffix(rt.Path, "/{proxy+}"))
		}
		used[rt.Function], used[rt.Path] = true, true
	}
	for fn := range byFunction {
		if !used[fn] {
			return nil, fmt.Errorf("combine: function %s has no routes", fn)
		}
	}
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", phi.NewID("req_"))
		WriteError(w, r, nil, phi.Errorf(phi.ENOTFOUND, "no such route; see the API reference"))
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Session routes (the console) serve pages, whose paths they check themselves.
		session := slices.ContainsFunc(sessionPrefixes, func(p string) bool {
			return r.URL.Path == p || strings.HasPrefix(r.URL.Path, p+"/")
		})
		if !session && !canonical(r.URL.Path) {
			w.Header().Set("X-Request-Id", phi.NewID("req_"))
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
