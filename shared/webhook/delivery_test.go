package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var testKey = []byte("0123456789abcdef0123456789abcdef-signing")

// receiver is a TLS webhook receiver that verifies every request like a customer would.
type receiver struct {
	srv      *httptest.Server
	mu       sync.Mutex
	bodies   []string
	headers  []http.Header
	verified []error
	statuses []int // answers to give, in order; 200 after the list
	calls    atomic.Int32
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	r := &receiver{statuses: statuses}
	r.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		n := int(r.calls.Add(1)) - 1
		r.mu.Lock()
		r.bodies = append(r.bodies, string(body))
		r.headers = append(r.headers, req.Header.Clone())
		r.verified = append(r.verified, Verify(testKey, req.Header.Get(HeaderTimestamp), req.Header.Get(HeaderSignature), body, time.Now(), 0))
		r.mu.Unlock()
		status := http.StatusOK
		if n < len(r.statuses) {
			status = r.statuses[n]
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) tls() *tls.Config {
	return r.srv.Client().Transport.(*http.Transport).TLSClientConfig
}

// addr is the receiver's loopback IP:port.
func (r *receiver) addr() netip.AddrPort {
	return netip.MustParseAddrPort(r.srv.Listener.Addr().String())
}

// listing returns a local-development policy whose LocalTargets are the receivers.
func listing(rs ...*receiver) Policy {
	var p Policy
	for _, r := range rs {
		p.LocalTargets = append(p.LocalTargets, r.addr())
	}
	return p
}

func newTestHandler(t *testing.T, r *receiver, p Policy) *Handler {
	h, err := New(Config{Store: noStore{}, SigningKey: testKey, Policy: p,
		TLSConfig: r.tls(), RetryBase: time.Millisecond, Attempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestDeliverySignsTheBodySoTheReceiverCanVerifyIt(t *testing.T) {
	r := newReceiver(t)
	h := newTestHandler(t, r, listing(r))
	body := []byte(`{"type":"identify","traits":{"email":"hpke-p256.token"},"_phi":{"v":1}}`)
	status, attempts, err := h.Deliver(context.Background(), r.srv.URL+"/in", "dst_1", "dedup-1", body)
	if err != nil || status != 200 || attempts != 1 {
		t.Fatalf("status %d attempts %d err %v", status, attempts, err)
	}
	if r.bodies[0] != string(body) || r.verified[0] != nil {
		t.Fatalf("body %q verified %v", r.bodies[0], r.verified[0])
	}
	if got := r.headers[0]; got.Get(HeaderDedupID) != "dedup-1" || got.Get(HeaderDestination) != "dst_1" || got.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", got)
	}
}

func TestVerifyRejectsTamperingAndReplays(t *testing.T) {
	now := time.Unix(1_750_000_000, 0)
	ts := "1750000000"
	body := []byte(`{"a":1}`)
	sig := Sign(testKey, ts, body)
	for _, tt := range []struct {
		name    string
		key     []byte
		ts, sig string
		body    []byte
		now     time.Time
		ok      bool
	}{
		{"the genuine request verifies", testKey, ts, sig, body, now, true},
		{"a changed body fails", testKey, ts, sig, []byte(`{"a":2}`), now, false},
		{"another key fails", []byte("another-key-another-key-another-key"), ts, sig, body, now, false},
		{"a changed timestamp fails", testKey, "1750000001", sig, body, now.Add(time.Second), false},
		{"a replay after the tolerance fails", testKey, ts, sig, body, now.Add(6 * time.Minute), false},
		{"a timestamp from the future fails", testKey, ts, sig, body, now.Add(-6 * time.Minute), false},
		{"a malformed timestamp fails", testKey, "yesterday", sig, body, now, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.key, tt.ts, tt.sig, tt.body, tt.now, 0)
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrSignature)) {
				t.Fatalf("Verify = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestDeliveryRetriesRetryableAnswersAndStopsOnRejections(t *testing.T) {
	for _, tt := range []struct {
		name         string
		statuses     []int
		wantErr      error
		wantAttempts int
	}{
		{"503 twice then 200 succeeds on the third attempt", []int{503, 503}, nil, 3},
		{"429 then 200 succeeds", []int{429}, nil, 2},
		{"500 on every attempt is unavailable", []int{500, 500, 500, 500}, ErrUnavailable, 3},
		{"400 is not retried", []int{400}, ErrRejected, 1},
		{"a redirect is not followed", []int{302}, ErrRejected, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newReceiver(t, tt.statuses...)
			h := newTestHandler(t, r, listing(r))
			_, attempts, err := h.Deliver(context.Background(), r.srv.URL, "dst_1", "d", []byte(`{}`))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) || attempts != tt.wantAttempts || int(r.calls.Load()) != tt.wantAttempts {
				t.Fatalf("err %v attempts %d calls %d; want %v after %d", err, attempts, r.calls.Load(), tt.wantErr, tt.wantAttempts)
			}
			for i, v := range r.verified {
				if v != nil {
					t.Errorf("attempt %d not verifiable: %v", i+1, v)
				}
			}
		})
	}
}

func TestDeliveryRefusesUnsafeTargetsUnderTheProductionPolicy(t *testing.T) {
	r := newReceiver(t)
	h := newTestHandler(t, r, Policy{})
	port := r.srv.URL[strings.LastIndex(r.srv.URL, ":"):]
	for _, url := range []string{
		r.srv.URL,                         // https://127.0.0.1:port
		"https://localhost" + port,        // a name for loopback
		"http://127.0.0.1" + port,         // plain http
		"https://169.254.169.254/latest/", // metadata
		"https://[::1]" + port,
	} {
		t.Run(url, func(t *testing.T) {
			_, _, err := h.Deliver(context.Background(), url, "dst_1", "d", []byte(`{}`))
			if !errors.Is(err, ErrUnsafeURL) {
				t.Fatalf("err = %v, want ErrUnsafeURL", err)
			}
			if strings.Contains(err.Error(), port) {
				t.Errorf("error %q names the URL", err)
			}
		})
	}
	if n := r.calls.Load(); n != 0 {
		t.Fatalf("the receiver got %d requests", n)
	}
}

// In local development the delivery function reaches the listed targets — over plain http
// too, which needs no TLS trust — and refuses, when it connects, a loopback port that is not
// listed even though something listens there.
func TestDeliveryReachesOnlyTheListedLocalTargets(t *testing.T) {
	listed, unlisted := newReceiver(t), newReceiver(t)
	var plainCalls atomic.Int32
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		plainCalls.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(plain.Close)
	p := listing(listed)
	p.LocalTargets = append(p.LocalTargets, netip.MustParseAddrPort(plain.Listener.Addr().String()))
	h := newTestHandler(t, listed, p)
	for _, url := range []string{listed.srv.URL + "/in", plain.URL + "/in"} {
		if status, _, err := h.Deliver(context.Background(), url, "dst_1", "d", []byte(`{}`)); err != nil || status/100 != 2 {
			t.Errorf("delivery to the listed %s: status %d, err %v", url, status, err)
		}
	}
	if listed.calls.Load() != 1 || plainCalls.Load() != 1 {
		t.Errorf("the listed targets got %d and %d requests, want 1 each", listed.calls.Load(), plainCalls.Load())
	}
	unlistedPort := unlisted.srv.URL[strings.LastIndex(unlisted.srv.URL, ":"):]
	for _, url := range []string{unlisted.srv.URL, "https://localhost" + unlistedPort, "https://[::ffff:127.0.0.1]" + unlistedPort} {
		t.Run(url, func(t *testing.T) {
			_, _, err := h.Deliver(context.Background(), url, "dst_1", "d", []byte(`{}`))
			if !errors.Is(err, ErrUnsafeURL) {
				t.Fatalf("err = %v, want ErrUnsafeURL", err)
			}
		})
	}
	// post skips the URL check: the dialer alone stops the unlisted port.
	if _, _, err := h.post(context.Background(), testKey, unlisted.srv.URL, "dst_1", "d", []byte(`{}`)); !errors.Is(err, ErrUnsafeURL) {
		t.Fatalf("the dialer let an unlisted loopback port through: %v", err)
	}
	if n := unlisted.calls.Load(); n != 0 {
		t.Fatalf("the unlisted server got %d requests", n)
	}
}

// A host name that passed the configuration check but resolves to a forbidden address when the
// copy is delivered (DNS rebinding) is stopped by the dialer, after resolution.
func TestTheDialerChecksTheResolvedAddress(t *testing.T) {
	r := newReceiver(t)
	h := newTestHandler(t, r, Policy{})
	port := r.srv.URL[strings.LastIndex(r.srv.URL, ":"):]
	// post skips the URL check, as if "localhost" had been a public name at configuration time.
	_, _, err := h.post(context.Background(), testKey, "https://localhost"+port, "dst_1", "d", []byte(`{}`))
	if !errors.Is(err, ErrUnsafeURL) {
		t.Fatalf("err = %v, want the dialer to refuse the resolved loopback address", err)
	}
	if _, err := h.policy.Dialer().DialContext(context.Background(), "tcp", "localhost"+port); !errors.Is(err, ErrUnsafeURL) {
		t.Fatalf("dialer err = %v", err)
	}
	if n := r.calls.Load(); n != 0 {
		t.Fatalf("the receiver got %d requests", n)
	}
}

func TestNewRefusesAShortSigningKey(t *testing.T) {
	if _, err := New(Config{Store: noStore{}, SigningKey: []byte("short")}); err == nil {
		t.Fatal("accepted a 5-byte signing key")
	}
}

// keyFunc is a KeySource from a function.
type keyFunc func(context.Context) ([]byte, error)

func (f keyFunc) SigningKey(ctx context.Context) ([]byte, error) { return f(ctx) }

func TestNewTakesAFixedKeyOrAKeySourceButNotBoth(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"a fixed key", Config{Store: noStore{}, SigningKey: testKey}, true},
		{"a key source", Config{Store: noStore{}, Keys: StaticKey(testKey)}, true},
		{"both", Config{Store: noStore{}, SigningKey: testKey, Keys: StaticKey(testKey)}, false},
		{"neither", Config{Store: noStore{}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg); (err == nil) != tt.ok {
				t.Errorf("New: %v, want ok = %v", err, tt.ok)
			}
		})
	}
}

// The key is asked for at delivery time, so a rotated key signs the next delivery, and a key
// that cannot be had fails the delivery before anything is sent.
func TestDeliveryAsksTheKeySourceEachTime(t *testing.T) {
	r := newReceiver(t)
	rotated := []byte("a-rotated-signing-key-of-at-least-32-bytes")
	var calls atomic.Int32
	keys := keyFunc(func(context.Context) ([]byte, error) {
		switch calls.Add(1) {
		case 1:
			return testKey, nil
		case 2:
			return rotated, nil
		case 3:
			return []byte("short"), nil
		}
		return nil, errors.New("secrets manager unavailable")
	})
	h, err := New(Config{Store: noStore{}, Keys: keys, Policy: listing(r), TLSConfig: r.tls(), RetryBase: time.Millisecond, Attempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range [][]byte{testKey, rotated} {
		if _, _, err := h.Deliver(context.Background(), r.srv.URL+"/hook", "dst_1", "d", []byte(`{"n":1}`)); err != nil {
			t.Fatalf("delivery %d: %v", i, err)
		}
		r.mu.Lock()
		h := r.headers[i]
		r.mu.Unlock()
		if err := Verify(want, h.Get(HeaderTimestamp), h.Get(HeaderSignature), []byte(`{"n":1}`), time.Now(), 0); err != nil {
			t.Errorf("delivery %d is not signed with the key the source returned: %v", i, err)
		}
	}
	for _, what := range []string{"a short key", "a failing source"} {
		_, attempts, err := h.Deliver(context.Background(), r.srv.URL+"/hook", "dst_1", "d", []byte(`{}`))
		if !errors.Is(err, ErrSigningKey) || attempts != 0 || errorKind(err) != "signing-key" {
			t.Errorf("%s: err %v after %d attempts, want ErrSigningKey before any attempt", what, err, attempts)
		}
	}
	if n := r.calls.Load(); n != 2 {
		t.Errorf("the receiver got %d requests, want 2 (none without a usable key)", n)
	}
}
