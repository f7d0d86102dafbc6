// Package console is the web console: the source page's HIPAA workflow — Workspace Settings with
// the HIPAA badge, the Privacy Portal, sources, destinations with "Have phiguard hash sensitive
// data", "Generate hashing keys", the private key shown once, Save, and "Configure new key
// pairs" — as server-rendered pages (html/template, assets embedded), served by the console
// function under stack.ConsolePath behind the same API Gateway as the REST API, and by `make
// dev` on the same address.
//
// It calls the domain services the REST handlers call (workspace.Service, keygen.Service),
// never the REST API over HTTP. Every action checks the least role and writes the audit action
// of the REST route it corresponds to (stack.Routes), so the console can do exactly what the
// caller's token may do through the API, audited the same way.
//
// # Sessions
//
// A person signs in with a workspace token. The console creates a server-side session, stored
// as the SHA-256 of its secret (dynamo.Session), and sets the secret in a cookie that is
// HttpOnly, Secure, SameSite=Strict and limited to Path=/console (Secure is dropped only when
// LocalHTTP is set, for http://127.0.0.1 in `make dev`). Every request re-reads the session and
// the token it was opened with, so revoking the token ends the session at once; sessions end
// after IdleTimeout without a request and after MaxSessionAge in any case. Every state-changing
// request must carry the session's CSRF token (derived from the session secret, never stored)
// and an Origin header naming the console's own origin. Failed sign-ins are counted per client
// address and refused beyond SignInLimit per SignInWindow, and audited in the token's workspace
// when the token is known.
//
// # Secrets shown once
//
// A generated private key (or HMAC key, or token secret) appears only in the body of the
// response to the POST that generated it, marked Cache-Control: no-store — never in a URL, a
// cookie, the session, browser storage, a log line or an audit record — and the page's
// JavaScript only copies it to the clipboard or into a downloaded file.
package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/phiguard/phiguard/shared/audit"
	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/httpapi"
	"github.com/phiguard/phiguard/shared/keygen"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
	"github.com/phiguard/phiguard/shared/workspace"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Session limits.
const (
	IdleTimeout   = 30 * time.Minute
	MaxSessionAge = 12 * time.Hour
	// SignInLimit failed sign-ins from one client address within SignInWindow lock that
	// address out of signing in until the window ends.
	SignInLimit  = 10
	SignInWindow = 15 * time.Minute
)

// CookieName is the session cookie's name.
const CookieName = "phiguard_session"

// Audit actions of the console's own events (the other actions are the REST routes').
const (
	ActionSignIn  = "console.signin"
	ActionSignOut = "console.signout"
)

// Sessions stores console sessions and counts failed sign-ins. *dynamo.Store satisfies it.
type Sessions interface {
	CreateSession(ctx context.Context, s *dynamo.Session, expires time.Time) error
	GetSession(ctx context.Context, idHash string) (*dynamo.Session, error)
	TouchSession(ctx context.Context, idHash string, seen, expires time.Time) error
	SaveSessionDraft(ctx context.Context, idHash, draft string) error
	DeleteSession(ctx context.Context, idHash string) error
	CountSignInFailure(ctx context.Context, client string, at time.Time, window time.Duration) (int, error)
	SignInFailures(ctx context.Context, client string, at time.Time, window time.Duration) (int, error)
}

var _ Sessions = (*dynamo.Store)(nil)

// Console serves the web console. Its zero value is not usable; set every field but Now and
// LocalHTTP, then call Handler.
type Console struct {
	Service  *workspace.Service
	Keys     *keygen.Service
	Sessions Sessions
	Tokens   httpapi.TokenLookup
	Audit    audit.Log
	// Trail verifies and exports the audit chain (the audit page's verification and export).
	Trail *audit.Trail
	// DeadLetters counts and replays a destination's dead letters (*delivery.DeadLetters).
	DeadLetters httpapi.DeadLetters
	// Logger receives ids and outcomes, never tokens, keys or field values.
	Logger *slog.Logger
	// LocalHTTP allows plain http on a loopback host (make dev): cookies without Secure and no
	// HSTS. Deployed consoles leave it false and answer anything but https with 400.
	LocalHTTP bool
	// Now is the console's clock; time.Now when nil.
	Now func() time.Time

	pages  map[string]*page
	static http.Handler
}

func (c *Console) now() time.Time {
	if c.Now == nil {
		return time.Now().UTC()
	}
	return c.Now().UTC()
}

// Handler returns the console's handler, serving every path under stack.ConsolePath. It fails
// when a dependency is missing or a template does not parse.
func (c *Console) Handler() (http.Handler, error) {
	switch {
	case c.Service == nil || c.Service.Store == nil:
		return nil, errors.New("console: no workspace service")
	case c.Keys == nil:
		return nil, errors.New("console: no key service")
	case c.Sessions == nil || c.Tokens == nil || c.Audit == nil || c.Trail == nil:
		return nil, errors.New("console: sessions, token lookup, audit log and audit trail are required")
	case c.DeadLetters == nil:
		return nil, errors.New("console: no dead-letter queue")
	}
	if err := c.Keys.Check(); err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	c.pages = pages
	static, err := fs.Sub(assets, "static")
	if err != nil {
		return nil, err
	}
	c.static = http.StripPrefix(stack.ConsolePath+"/static/", http.FileServerFS(static))

	mux := http.NewServeMux()
	p := stack.ConsolePath
	open := func(pattern string, h handlerFunc) { mux.Handle(pattern, c.serve(h, false)) }
	signedIn := func(pattern string, h handlerFunc) { mux.Handle(pattern, c.serve(h, true)) }

	mux.Handle("GET "+p+"/static/", http.HandlerFunc(c.serveStatic))
	open("GET "+p, func(w http.ResponseWriter, r *http.Request) error { return c.redirect(w, r, "/") })
	open("GET "+p+"/{$}", c.home)
	open("GET "+p+"/sign-in", c.signInPage)
	open("POST "+p+"/sign-in", c.signIn)
	signedIn("POST "+p+"/sign-out", c.signOut)

	signedIn("GET "+p+"/settings", c.settingsPage)

	signedIn("GET "+p+"/privacy", c.privacyPage)
	signedIn("POST "+p+"/privacy/classify", c.classify)
	signedIn("GET "+p+"/privacy/matchers", c.matchersPage)
	signedIn("POST "+p+"/privacy/matchers", c.createMatcher)
	signedIn("POST "+p+"/privacy/matchers/{matcherId}/delete", c.deleteMatcher)
	signedIn("GET "+p+"/privacy/inventory.csv", c.inventoryCSV)

	signedIn("GET "+p+"/sources", c.sourcesPage)
	signedIn("POST "+p+"/sources", c.createSource)

	signedIn("GET "+p+"/destinations", c.destinationsPage)
	signedIn("GET "+p+"/add-destination", c.catalogPage)
	signedIn("GET "+p+"/add-destination/{type}", c.selectSourcePage)
	signedIn("GET "+p+"/add-destination/{type}/setup", c.newSetupPage)
	signedIn("POST "+p+"/add-destination/{type}/setup", c.newSetup)
	signedIn("GET "+p+"/destinations/{destinationId}", c.settingsOfDestination)
	signedIn("POST "+p+"/destinations/{destinationId}", c.updateDestination)
	signedIn("POST "+p+"/destinations/{destinationId}/save", c.saveHashing)
	signedIn("POST "+p+"/destinations/{destinationId}/test", c.testDestination)
	signedIn("POST "+p+"/destinations/{destinationId}/dead-letters", c.countDeadLetters)
	signedIn("POST "+p+"/destinations/{destinationId}/dead-letters/replay", c.replayDeadLetters)
	signedIn("GET "+p+"/destinations/{destinationId}/keys", c.keysPage)
	signedIn("POST "+p+"/destinations/{destinationId}/keys", c.newKeyPair)
	signedIn("POST "+p+"/destinations/{destinationId}/keys/{keyId}/revoke", c.revokeKey)

	signedIn("GET "+p+"/tokens", c.tokensPage)
	signedIn("POST "+p+"/tokens", c.createToken)
	signedIn("POST "+p+"/tokens/{tokenId}/revoke", c.revokeToken)
	signedIn("GET "+p+"/audit", c.auditPage)
	signedIn("GET "+p+"/audit/verify", c.auditVerify)
	signedIn("GET "+p+"/audit/export.ndjson", c.auditExport)

	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, phi.Errorf(phi.ENOTFOUND, "there is no console page at this address"))
	}))
	return &entry{c: c, mux: mux}, nil
}

// handlerFunc is a console handler that returns its error for the error page.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// entry is the console's outermost layer: security headers on every response, the request
// state, the https requirement and the access log.
type entry struct {
	c   *Console
	mux *http.ServeMux
}

func (e *entry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := httpapi.RequestID(r.Context())
	if id == "" {
		id = phi.NewID("req_")
	}
	rq := &request{base: basePath(r), requestID: id}
	ctx := context.WithValue(r.Context(), requestKey{}, rq)
	r = r.WithContext(audit.With(ctx, audit.NewScope(id, nil)))
	secureHeaders(w.Header(), !e.c.LocalHTTP)
	w.Header().Set("X-Request-Id", id)
	sw := &httpapi.StatusWriter{ResponseWriter: w}
	defer func() {
		if v := recover(); v != nil {
			e.c.Logger.ErrorContext(ctx, "console handler panicked", "requestId", id, "panic", fmt.Sprintf("%T", v))
			if sw.Status() == 0 {
				e.c.fail(sw, r, errors.New("panic"))
			}
		}
		e.c.Logger.InfoContext(ctx, "console request", "requestId", id, "method", phi.Clip(r.Method, 10),
			"page", rq.page, "status", sw.Status(), "actor", rq.actor.ID, "ms", time.Since(start).Milliseconds())
	}()
	if !e.c.LocalHTTP && !forwardedHTTPS(r) {
		e.c.fail(sw, r, phi.Errorf(phi.EBADREQUEST, "the console is served over https only"))
		return
	}
	e.mux.ServeHTTP(sw, r)
}

// forwardedHTTPS reports whether the request reached API Gateway over https (API Gateway's
// X-Forwarded-Proto; the resource policy refuses plain http anyway).
func forwardedHTTPS(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") || r.TLS != nil
}

// secureHeaders sets the headers every console response carries.
func secureHeaders(h http.Header, hsts bool) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
	if hsts {
		h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
	}
}

// basePath returns the prefix in front of stack.ConsolePath in the browser's URLs: the stage
// ("/v1") on API Gateway's default execute-api host, nothing on a custom domain or locally.
func basePath(r *http.Request) string {
	stage := httpapi.GatewayStage(r.Context())
	if stage == "" || !strings.Contains(r.Host, ".execute-api.") {
		return ""
	}
	return "/" + stage
}

func (c *Console) serveStatic(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	c.static.ServeHTTP(w, r)
}

// serve adapts h: a signed-in page first loads the session (else redirects to sign-in), and a
// state-changing request must pass the Origin and CSRF checks.
func (c *Console) serve(h handlerFunc, signedIn bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rq := state(r)
		rq.page = r.Pattern
		if signedIn {
			ok, err := c.loadSession(w, r)
			if err != nil {
				c.fail(w, r, err)
				return
			}
			if !ok {
				if r.Method == http.MethodGet {
					_ = c.redirect(w, r, "/sign-in?next="+url.QueryEscape(safeNext(strings.TrimPrefix(r.URL.Path, stack.ConsolePath))))
				} else {
					c.fail(w, r, phi.Errorf(phi.EUNAUTHORIZED, "your session has ended; sign in again"))
				}
				return
			}
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if err := c.checkPost(r, signedIn); err != nil {
				c.Logger.WarnContext(r.Context(), "console request refused", "requestId", rq.requestID, "page", rq.page, "reason", phi.ErrorMessage(err))
				c.fail(w, r, err)
				return
			}
		}
		if err := h(w, r); err != nil {
			c.fail(w, r, err)
		}
	})
}

// request is the per-request state.
type request struct {
	base      string // prefix of stack.ConsolePath in URLs
	requestID string
	page      string
	actor     phi.Actor
	session   *dynamo.Session
	csrf      string
}

type requestKey struct{}

func state(r *http.Request) *request {
	if rq, ok := r.Context().Value(requestKey{}).(*request); ok {
		return rq
	}
	return &request{}
}

// url returns the browser URL of console path p ("/settings").
func (rq *request) url(p string) string { return rq.base + stack.ConsolePath + p }

// redirect answers with 303 See Other to console path p.
func (c *Console) redirect(w http.ResponseWriter, r *http.Request, p string) error {
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, state(r).url(p), http.StatusSeeOther)
	return nil
}

// safeNext keeps a post-sign-in destination only when it is a console page path.
func safeNext(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\?#\r\n") || p == "/sign-in" {
		return "/settings"
	}
	return p
}
