package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/phiguard/phiguard/shared/keygen"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

// IdempotencyStore keeps the Idempotency-Key records of POST routes. *dynamo.Store satisfies it.
type IdempotencyStore interface {
	ClaimRequest(ctx context.Context, r *phi.IdempotentRequest) (*phi.IdempotentRequest, error)
	FinishRequest(ctx context.Context, r *phi.IdempotentRequest) error
	ReleaseRequest(ctx context.Context, r *phi.IdempotentRequest) error
}

// idempotencyStoreOf returns store's IdempotencyStore, nil when it is none.
func idempotencyStoreOf(store any) IdempotencyStore {
	s, _ := store.(IdempotencyStore)
	return s
}

const (
	// IdempotencyTTL is how long a POST's Idempotency-Key replays its first response.
	IdempotencyTTL = 24 * time.Hour
	// idempotencyLease is how long an in-flight claim holds its key: longer than any request
	// may run (API Gateway stops waiting after 29 s), so that a request whose function died
	// does not hold its key for a day.
	idempotencyLease = 2 * time.Minute
	// maxReplayBytes is the largest response body stored for replay (an item holds 400 KB); a
	// larger response is not stored, and a retry acts again.
	maxReplayBytes = 256 << 10
	// ReplayedHeader marks a response replayed from an Idempotency-Key's first request.
	ReplayedHeader = "Idempotent-Replayed"
)

// replayedHeaders are the response headers a replay repeats.
var replayedHeaders = []string{"Content-Type", "Location", "ETag"}

// selfIdempotent lists the POST routes whose handlers read Idempotency-Key themselves (the key
// generation routes, shared/keygen: an hour, tied to the generated key).
var selfIdempotent = map[stack.Route]bool{
	stack.RouteGenerateKeyPair: true,
	stack.RouteGenerateHMACKey: true,
}

// shownOnce lists the POST routes whose success response shows a secret once, and how to get a
// new one: their records keep only that the request succeeded, and a retry gets 409 with this
// advice, never the secret.
var shownOnce = map[stack.Route]string{
	stack.RouteCreateWorkspace:     "the workspace was created and its owner token was shown once, in the first response; to get a new owner token, issue one (POST /operator/workspaces/{workspaceId}/owner-tokens)",
	stack.RouteIssueOwnerToken:     "the owner token was issued and shown once, in the first response; to get a new one, issue another with a new Idempotency-Key and revoke the first",
	stack.RouteReopenWorkspace:     "the workspace was reopened and its new owner token was shown once, in the first response; to get a new one, issue an owner token (POST /operator/workspaces/{workspaceId}/owner-tokens)",
	stack.RouteCreateToken:         "the token was created and its secret shown once, in the first response; to get a new one, create another token with a new Idempotency-Key and revoke the first",
	stack.RouteCreateDestination:   "the destination was created (list the destinations to find it); a webhook destination's signing secret was shown once, in the first response; to get a new one, rotate it (POST .../signing-secret/rotate)",
	stack.RouteRotateSigningSecret: "the signing secret was rotated and the new one shown once, in the first response; to get a new one, rotate again with a new Idempotency-Key",
}

// idempotent makes a POST route safe to retry: a request with an Idempotency-Key claims the key
// (scoped to the workspace and the caller) before the handler runs; the same key and request
// within IdempotencyTTL replay the first response, marked with Idempotent-Replayed: true, and
// do not act again; the same key with another request is 422, and while the first is in flight
// 409. A route in shownOnce never stores or replays its response: a retry of its success is
// 409. A 5xx or 429 releases the key, so the retry acts.
func (rt *Router) idempotent(route stack.Route, next http.Handler) http.Handler {
	if route.Method != http.MethodPost || selfIdempotent[route] {
		return next
	}
	advice, secret := shownOnce[route]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		vs := r.Header.Values(IdempotencyKeyHeader)
		if len(vs) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		if len(vs) > 1 || !keygen.ValidIdempotencyKey(vs[0]) {
			WriteError(w, r, rt.cfg.Logger, keygen.ErrIdempotencyKey)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
		if err != nil {
			WriteError(w, r, rt.cfg.Logger, phi.Errorf(phi.EBADREQUEST, "the request body could not be read"))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		ri := info(r.Context())
		now := rt.cfg.Now()
		claim := &phi.IdempotentRequest{
			WorkspaceID: ri.actor.WorkspaceID,
			ScopeHash:   digest(ri.actor.ID, vs[0]),
			RequestHash: digest(r.Method, r.URL.Path, r.URL.RawQuery, string(body)),
			CreatedAt:   now,
			ExpiresAt:   now.Add(idempotencyLease),
		}
		held, err := rt.cfg.Idempotency.ClaimRequest(r.Context(), claim)
		if err != nil {
			WriteError(w, r, rt.cfg.Logger, err)
			return
		}
		if held != nil {
			rt.replay(w, r, held, claim, advice)
			return
		}
		rec := &teeWriter{ResponseWriter: w, secret: secret}
		defer func() {
			if v := recover(); v != nil {
				rt.release(r, claim)
				panic(v)
			}
		}()
		next.ServeHTTP(rec, r)
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		if status >= 500 || status == http.StatusTooManyRequests || (!secret && rec.body.Len() > maxReplayBytes) {
			rt.release(r, claim)
			return
		}
		done := *claim
		done.Done, done.Status, done.ExpiresAt = true, status, now.Add(IdempotencyTTL)
		if secret && status < 300 {
			done.ShownOnce = true
		} else {
			done.Headers = map[string]string{}
			for _, name := range replayedHeaders {
				if v := rec.Header().Get(name); v != "" {
					done.Headers[name] = v
				}
			}
			done.Body = rec.body.Bytes()
		}
		if err := rt.cfg.Idempotency.FinishRequest(context.WithoutCancel(r.Context()), &done); err != nil {
			rt.cfg.Logger.ErrorContext(r.Context(), "an Idempotency-Key's response could not be stored; a retry after its lease acts again",
				"requestId", RequestID(r.Context()), "route", ri.route, "error", err)
		}
	})
}

// replay answers a request whose Idempotency-Key is held by held.
func (rt *Router) replay(w http.ResponseWriter, r *http.Request, held, claim *phi.IdempotentRequest, advice string) {
	details := map[string]string{"header": IdempotencyKeyHeader}
	switch {
	case held.RequestHash != claim.RequestHash:
		WriteError(w, r, rt.cfg.Logger, phi.Errorf(phi.EINVALID, "this Idempotency-Key was sent in the last 24 hours with a different request; send a new Idempotency-Key with each different request").
			WithDetails(details))
	case !held.Done:
		WriteError(w, r, rt.cfg.Logger, phi.Errorf(phi.ECONFLICT, "the first request with this Idempotency-Key is still in progress; retry it later with the same key").
			WithDetails(details))
	case held.ShownOnce:
		WriteError(w, r, rt.cfg.Logger, phi.Errorf(phi.ECONFLICT, "a request with this Idempotency-Key already succeeded and its secret is never shown again: %s", advice).
			WithDetails(details))
	default:
		h := w.Header()
		for name, v := range held.Headers {
			if slices.Contains(replayedHeaders, name) {
				h.Set(name, v)
			}
		}
		h.Set("Cache-Control", "no-store")
		h.Set(ReplayedHeader, "true")
		w.WriteHeader(held.Status)
		_, _ = w.Write(held.Body)
	}
}

// release frees claim's key after a failed request, logging a failure (the key then stays held
// until its lease ends).
func (rt *Router) release(r *http.Request, claim *phi.IdempotentRequest) {
	if err := rt.cfg.Idempotency.ReleaseRequest(context.WithoutCancel(r.Context()), claim); err != nil {
		rt.cfg.Logger.ErrorContext(r.Context(), "an Idempotency-Key of a failed request could not be released; it is held until its lease ends",
			"requestId", RequestID(r.Context()), "error", err)
	}
}

// digest is the SHA-256 (hex) of parts, each length-prefixed so that no two lists collide.
func digest(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		var n [8]byte
		for i, l := 0, uint64(len(p)); i < 8; i++ {
			n[i] = byte(l >> (8 * i))
		}
		h.Write(n[:])
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// teeWriter passes a response through and keeps its status and, unless it may show a secret,
// its body.
type teeWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
	// secret keeps no body of a success: it may show a secret.
	secret bool
}

func (c *teeWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *teeWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if !c.secret || c.status >= 300 {
		c.body.Write(b)
	}
	return c.ResponseWriter.Write(b)
}
