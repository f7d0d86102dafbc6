// Package faults is a webhook destination for tests that fails on purpose: a plain-http server
// on a loopback port that answers each request as its Behavior says — an HTTP error, 429 or 503
// with Retry-After, a hang, a permanent 4xx, a body that trickles in — and records what it was
// sent. The production webhook policy refuses it (plain http, loopback); a test registers its
// address through the same explicit local-development allowance as the local receiver:
// Server.Addr in devserver.Config.ExtraWebhookTargets, or in stack.EnvLocalWebhookTargets
// (webhook.PolicyFromEnv) for a function built directly.
package faults

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/phiguard/phiguard/shared/httpapi"
)

// maxBody bounds what a Server records of one request.
const maxBody = 1 << 20

// Behavior answers the n-th request (0 for the first) a Server receives. done is closed when the
// Server closes: a Behavior that waits must return by then.
type Behavior func(n int, w http.ResponseWriter, r *http.Request, done <-chan struct{})

// Status answers every request with code and no body: 500, 503, or a permanent 400, 404, 410.
func Status(code int) Behavior {
	return func(_ int, w http.ResponseWriter, _ *http.Request, _ <-chan struct{}) { w.WriteHeader(code) }
}

// RetryAfter answers code (429 or 503) with a Retry-After of after, in whole seconds.
func RetryAfter(code int, after time.Duration) Behavior {
	return func(_ int, w http.ResponseWriter, _ *http.Request, _ <-chan struct{}) {
		w.Header().Set("Retry-After", strconv.Itoa(int(after/time.Second)))
		w.WriteHeader(code)
	}
}

// Hang never answers: it holds the request until the client gives up or the Server closes.
func Hang() Behavior {
	return func(_ int, _ http.ResponseWriter, r *http.Request, done <-chan struct{}) {
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}
}

// SlowBody answers 200 at once and then writes a body of size bytes one byte every interval,
// flushing each: a destination that accepts the request but takes its time to finish the
// answer. It stops when the client gives up or the Server closes.
func SlowBody(size int, interval time.Duration) Behavior {
	return func(_ int, w http.ResponseWriter, r *http.Request, done <-chan struct{}) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.WriteHeader(http.StatusOK)
		flusher, _ := w.(http.Flusher)
		t := time.NewTicker(interval)
		defer t.Stop()
		for range size {
			select {
			case <-r.Context().Done():
				return
			case <-done:
				return
			case <-t.C:
			}
			if _, err := w.Write([]byte{'.'}); err != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
	}
}

// Sequence answers the n-th request with bs[n] and every later one with the last: a destination
// that fails a few times and then recovers is Sequence(Status(503), Status(503), Status(204)).
// It panics without a Behavior.
func Sequence(bs ...Behavior) Behavior {
	if len(bs) == 0 {
		panic("faults.Sequence: no Behavior")
	}
	return func(n int, w http.ResponseWriter, r *http.Request, done <-chan struct{}) {
		bs[min(n, len(bs)-1)](n, w, r, done)
	}
}

// Request is what a Server was sent, and how it answered.
type Request struct {
	Header http.Header
	Body   []byte
	// Status is the status code the Behavior answered with (200 when it wrote a body without
	// one), or 0 when it answered nothing (a hang); a slow body counts as 200 though the client
	// may give up before the end.
	Status int
}

// Server is a running fault server.
type Server struct {
	// URL is the server's base URL (http://127.0.0.1:port); a destination posts to URL + a path.
	URL string
	// Addr is the server's loopback IP:port, the entry to list as a local webhook target.
	Addr netip.AddrPort

	srv      *httptest.Server
	behavior Behavior
	done     chan struct{}
	closeOne sync.Once

	mu  sync.Mutex
	got []Request
}

// New starts a Server answering with b on a free loopback port, closed when the test ends
// (Close).
func New(t testing.TB, b Behavior) *Server {
	t.Helper()
	s, err := NewAt(t, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 0), b)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// NewAt starts a Server answering with b on addr, a loopback IP:port: a destination whose
// address was registered while nothing listened there (refusing connections) comes up. It
// fails when addr is not loopback or is in use.
func NewAt(t testing.TB, addr netip.AddrPort, b Behavior) (*Server, error) {
	t.Helper()
	if !addr.Addr().IsLoopback() {
		return nil, fmt.Errorf("faults: %s is not a loopback address", addr)
	}
	ln, err := net.Listen("tcp", addr.String())
	if err != nil {
		return nil, fmt.Errorf("faults: listen on %s: %w", addr, err)
	}
	s := &Server{behavior: b, done: make(chan struct{})}
	s.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(s.serve)}}
	s.srv.Start()
	s.URL = s.srv.URL
	s.Addr = netip.MustParseAddrPort(ln.Addr().String())
	t.Cleanup(s.Close)
	return s, nil
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxBody))
	s.mu.Lock()
	n := len(s.got)
	s.got = append(s.got, Request{Header: r.Header.Clone(), Body: body})
	s.mu.Unlock()
	sw := &httpapi.StatusWriter{ResponseWriter: w}
	s.behavior(n, sw, r, s.done)
	s.mu.Lock()
	s.got[n].Status = sw.Status()
	s.mu.Unlock()
}

// Requests returns what the server was sent, in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.got...)
}

// Count returns how many requests the server received.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

// Close releases the requests a Behavior holds and stops the server. It is safe to call twice.
func (s *Server) Close() {
	s.closeOne.Do(func() {
		close(s.done)
		s.srv.CloseClientConnections()
		s.srv.Close()
	})
}
