package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/phiguard/phiguard/shared/audit"
	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

// newSessionSecret returns 256 random bits, base64url: the cookie's value.
func newSessionSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// sessionHash is what the store keeps of a session secret.
func sessionHash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// csrfToken derives the session's CSRF token from its secret (a different hash than the stored
// one, so the table alone cannot forge it).
func csrfToken(secret string) string {
	sum := sha256.Sum256([]byte("phiguard console csrf\x00" + secret))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// clientKey is the hash under which failed sign-ins from the request's address are counted.
func clientKey(r *http.Request) string {
	host := r.RemoteAddr
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	sum := sha256.Sum256([]byte("phiguard console client\x00" + host))
	return hex.EncodeToString(sum[:])
}

func (c *Console) cookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: CookieName, Value: value, Path: state(r).base + stack.ConsolePath,
		MaxAge: maxAge, HttpOnly: true, Secure: !c.LocalHTTP, SameSite: http.SameSiteStrictMode,
	}
}

// loadSession reads the request's session and checks it and its token; false (and the cookie
// cleared) when there is none, it ended or its token is revoked. An error means the store could
// not say (fail closed).
func (c *Console) loadSession(w http.ResponseWriter, r *http.Request) (bool, error) {
	ck, err := r.Cookie(CookieName)
	if err != nil || ck.Value == "" || len(ck.Value) > 100 {
		return false, nil
	}
	ctx := r.Context()
	hash := sessionHash(ck.Value)
	end := func(reason string) (bool, error) {
		c.Logger.InfoContext(ctx, "console session ended", "requestId", state(r).requestID, "reason", reason)
		_ = c.Sessions.DeleteSession(ctx, hash)
		http.SetCookie(w, c.cookie(r, "", -1))
		return false, nil
	}
	sess, err := c.Sessions.GetSession(ctx, hash)
	if phi.ErrorCode(err) == phi.ENOTFOUND {
		http.SetCookie(w, c.cookie(r, "", -1))
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("load session: %w", err)
	}
	now := c.now()
	switch {
	case now.After(sess.EndsAt):
		return end("absolute limit")
	case now.Sub(sess.LastSeenAt) > IdleTimeout:
		return end("idle")
	}
	tok, err := c.Tokens.LookupToken(ctx, sess.TokenHash)
	switch {
	case phi.ErrorCode(err) == phi.ENOTFOUND:
		return end("token gone")
	case err != nil:
		return false, fmt.Errorf("check the session's token: %w", err)
	case tok.RevokedAt != nil:
		return end("token revoked")
	case tok.ID != sess.TokenID || tok.WorkspaceID != sess.WorkspaceID || !tok.Role.Valid():
		return end("token mismatch")
	}
	if now.Sub(sess.LastSeenAt) > time.Minute {
		if err := c.Sessions.TouchSession(ctx, hash, now, expiry(sess, now)); phi.ErrorCode(err) == phi.ENOTFOUND {
			return false, nil
		} else if err != nil {
			return false, fmt.Errorf("touch session: %w", err)
		}
		sess.LastSeenAt = now
	}
	rq := state(r)
	rq.session = sess
	rq.actor = phi.Actor{ID: tok.ID, WorkspaceID: tok.WorkspaceID, Role: tok.Role}
	rq.csrf = csrfToken(ck.Value)
	w.Header().Set("Cache-Control", "no-store")
	return true, nil
}

// expiry is when the store may forget sess, seen at now: its idle end or its absolute end.
func expiry(sess *dynamo.Session, now time.Time) time.Time {
	if idle := now.Add(IdleTimeout); idle.Before(sess.EndsAt) {
		return idle
	}
	return sess.EndsAt
}

// checkPost refuses a state-changing request that does not come from the console's own pages:
// its Origin must be the console's origin and, once signed in, its form must carry the session's
// CSRF token.
func (c *Console) checkPost(r *http.Request, signedIn bool) error {
	scheme := "https://"
	if c.LocalHTTP {
		scheme = "http://"
	}
	if !sameOrigin(r, scheme+r.Host) {
		return phi.Errorf(phi.EFORBIDDEN, "this form was not sent from the console's own page (Origin check); reload the page and try again")
	}
	r.Body = http.MaxBytesReader(nil, r.Body, stack.MaxRequestBodyBytes)
	if err := r.ParseForm(); err != nil {
		return phi.Errorf(phi.EBADREQUEST, "the form could not be read")
	}
	if !signedIn {
		return nil
	}
	got := r.PostForm.Get("csrf")
	if subtle.ConstantTimeCompare([]byte(got), []byte(state(r).csrf)) != 1 {
		return phi.Errorf(phi.EFORBIDDEN, "this form is missing its security token (CSRF check); reload the page and try again")
	}
	return nil
}

// sameOrigin reports whether r was sent by a page of origin: its Origin header names origin, or
// — because the console's Referrer-Policy: no-referrer makes browsers send "Origin: null" with
// form posts — it is "null" and the browser's Sec-Fetch-Site, which no page script can set,
// says same-origin. A request with neither is refused.
func sameOrigin(r *http.Request, origin string) bool {
	switch o := r.Header.Get("Origin"); o {
	case origin:
		return true
	case "null":
		return r.Header.Get("Sec-Fetch-Site") == "same-origin"
	}
	return false
}

func (c *Console) home(w http.ResponseWriter, r *http.Request) error {
	ok, err := c.loadSession(w, r)
	if err != nil {
		return err
	}
	if ok {
		return c.redirect(w, r, "/settings")
	}
	return c.redirect(w, r, "/sign-in")
}

type signInView struct {
	Next, Error string
}

func (c *Console) signInPage(w http.ResponseWriter, r *http.Request) error {
	if ok, err := c.loadSession(w, r); err != nil {
		return err
	} else if ok {
		return c.redirect(w, r, "/settings")
	}
	return c.render(w, r, http.StatusOK, "signin", "Sign in", signInView{Next: safeNext(r.URL.Query().Get("next"))})
}

// signIn opens a session for a valid token. Refusals are counted per client address and, for a
// token that exists but is revoked, audited in its workspace; the token itself is never logged.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	next := safeNext(r.PostForm.Get("next"))
	client := clientKey(r)
	now := c.now()
	refuse := func(status int, msg string) error {
		return c.render(w, r, status, "signin", "Sign in", signInView{Next: next, Error: msg})
	}
	n, err := c.Sessions.SignInFailures(ctx, client, now, SignInWindow)
	if err != nil {
		return fmt.Errorf("read sign-in failures: %w", err)
	}
	if n >= SignInLimit {
		c.Logger.WarnContext(ctx, "console sign-in refused: too many failures", "requestId", state(r).requestID, "failures", n)
		return refuse(http.StatusTooManyRequests, fmt.Sprintf("Too many failed sign-ins from your address; try again in %d minutes.", int(SignInWindow.Minutes())))
	}
	secret := strings.TrimSpace(r.PostForm.Get("token"))
	var tok *phi.Token
	if secret != "" && len(secret) <= 512 {
		tok, err = c.Tokens.LookupToken(ctx, phi.HashToken(secret))
		if err != nil && phi.ErrorCode(err) != phi.ENOTFOUND {
			return fmt.Errorf("look up token: %w", err)
		}
	}
	if tok == nil || tok.RevokedAt != nil || !tok.Role.Valid() {
		if _, err := c.Sessions.CountSignInFailure(ctx, client, now, SignInWindow); err != nil {
			return fmt.Errorf("count sign-in failure: %w", err)
		}
		if tok != nil {
			c.auditRecord(r, tok.WorkspaceID, tok.ID, ActionSignIn, "console/session", audit.OutcomeDenied)
		}
		c.Logger.WarnContext(ctx, "console sign-in refused", "requestId", state(r).requestID, "knownToken", tok != nil, "failures", n+1)
		return refuse(http.StatusUnauthorized, "That token is unknown or revoked. Paste a workspace token (it starts with "+phi.TokenPrefix+").")
	}
	sessSecret := newSessionSecret()
	sess := &dynamo.Session{
		IDHash: sessionHash(sessSecret), WorkspaceID: tok.WorkspaceID, TokenID: tok.ID,
		TokenHash: phi.HashToken(secret), CreatedAt: now, LastSeenAt: now, EndsAt: now.Add(MaxSessionAge),
	}
	if err := c.Sessions.CreateSession(ctx, sess, expiry(sess, now)); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	if err := c.auditRecord(r, tok.WorkspaceID, tok.ID, ActionSignIn, "console/session", audit.OutcomeSuccess); err != nil {
		_ = c.Sessions.DeleteSession(ctx, sess.IDHash)
		return err
	}
	c.Logger.InfoContext(ctx, "console session opened", "requestId", state(r).requestID, "actor", tok.ID, "workspace", tok.WorkspaceID)
	http.SetCookie(w, c.cookie(r, sessSecret, int(MaxSessionAge.Seconds())))
	return c.redirect(w, r, next)
}

func (c *Console) signOut(w http.ResponseWriter, r *http.Request) error {
	rq := state(r)
	if err := c.Sessions.DeleteSession(r.Context(), rq.session.IDHash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	_ = c.auditRecord(r, rq.actor.WorkspaceID, rq.actor.ID, ActionSignOut, "console/session", audit.OutcomeSuccess)
	http.SetCookie(w, c.cookie(r, "", -1))
	return c.redirect(w, r, "/sign-in")
}
