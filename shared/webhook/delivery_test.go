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

	"github.com/phiguard/phiguard/shared/delivery"
	"github.com/phiguard/phiguard/shared/pack"
	"github.com/phiguard/phiguard/shared/phi"
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

func newTestSender(t *testing.T, r *receiver, p Policy) *Sender {
	h, err := New(Config{SigningKey: testKey, Policy: p, TLSConfig: r.tls()})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestDeliverySignsTheBodySoTheReceiverCanVerifyIt(t *testing.T) {
	r := newReceiver(t)
	h := newTestSender(t, r, listing(r))
	body := []byte(`{"type":"identify","traits":{"email":"hpke-p256.token"},"_phi":{"v":1}}`)
	status, _, err := h.Deliver(context.Background(), r.srv.URL+"/in", "dst_1", "dedup-1", body)
	if err != nil || status != 200 || r.calls.Load() != 1 {
		t.Fatalf("status %d calls %d err %v", status, r.calls.Load(), err)
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

// Send makes one attempt per copy and says, per copy, whether trying again may help and how
// long the receiver asked to wait; the receiver's answers never reach the outcome's text.
func TestSendMakesOneAttemptPerCopyAndClassifiesTheAnswer(t *testing.T) {
	later := time.Now().Add(2 * time.Minute).UTC().Format(http.TimeFormat)
	for _, tt := range []struct {
		name       string
		status     int
		retryAfter string
		want       delivery.Outcome
		wantErr    error
	}{
		{"200 is delivered", 200, "", delivery.Outcome{Status: 200}, nil},
		{"204 is delivered", 204, "", delivery.Outcome{Status: 204}, nil},
		{"503 with Retry-After seconds is retried after them", 503, "7", delivery.Outcome{Status: 503, RetryAfter: 7 * time.Second, Reason: "http-503"}, ErrUnavailable},
		{"429 with an HTTP date is retried after it", 429, later, delivery.Outcome{Status: 429, RetryAfter: 2 * time.Minute, Reason: "http-429"}, ErrUnavailable},
		{"500 without Retry-After leaves the wait to the engine", 500, "", delivery.Outcome{Status: 500, Reason: "http-500"}, ErrUnavailable},
		{"408 is retried", 408, "", delivery.Outcome{Status: 408, Reason: "http-408"}, ErrUnavailable},
		{"a malformed Retry-After is ignored", 503, "soon", delivery.Outcome{Status: 503, Reason: "http-503"}, ErrUnavailable},
		{"400 is permanent", 400, "", delivery.Outcome{Status: 400, Reason: "http-400", Permanent: true}, ErrRejected},
		{"410 is permanent", 410, "", delivery.Outcome{Status: 410, Reason: "http-410", Permanent: true}, ErrRejected},
		{"a redirect is permanent and not followed", 302, "", delivery.Outcome{Status: 302, Reason: "http-302", Permanent: true}, ErrRejected},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				calls.Add(1)
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				if tt.status == 302 {
					w.Header().Set("Location", "https://example.com/")
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, "receiver-secret-text")
			}))
			t.Cleanup(srv.Close)
			p := Policy{LocalTargets: []netip.AddrPort{netip.MustParseAddrPort(srv.Listener.Addr().String())}}
			h, err := New(Config{SigningKey: testKey, Policy: p, TLSConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig})
			if err != nil {
				t.Fatal(err)
			}
			d := &phi.Destination{ID: "dst_1", Settings: phi.DestinationSettings{URL: srv.URL + "/hook"}}
			got := h.Send(context.Background(), d, []pack.Copy{{DedupID: "d1", Event: []byte(`{"n":1}`)}})
			if len(got) != 1 || calls.Load() != 1 {
				t.Fatalf("%d outcomes after %d calls; want 1 after 1", len(got), calls.Load())
			}
			o := got[0]
			if !errors.Is(o.Err, tt.wantErr) || (tt.wantErr == nil) != (o.Err == nil) {
				t.Fatalf("Err = %v, want %v", o.Err, tt.wantErr)
			}
			if o.Status != tt.want.Status || o.Reason != tt.want.Reason || o.Permanent != tt.want.Permanent ||
				o.RetryAfter < tt.want.RetryAfter-2*time.Second || o.RetryAfter > tt.want.RetryAfter {
				t.Errorf("outcome %+v, want %+v", o, tt.want)
			}
			if o.Err != nil && (strings.Contains(o.Err.Error(), "receiver-secret-text") || strings.Contains(o.Err.Error(), srv.URL)) {
				t.Errorf("outcome error %q quotes the answer or the URL", o.Err)
			}
		})
	}
}

// A receiver that accepts the connection and never answers fails the attempt after the
// response-header timeout, and one that refuses connections at once; neither is permanent.
func TestSendGivesUpOnAHangingOrRefusingReceiver(t *testing.T) {
	release := make(chan struct{})
	hang := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { <-release }))
	t.Cleanup(func() { close(release); hang.Close() })
	refusing := httptest.NewUnstartedServer(nil)
	refused := refusing.Listener.Addr().String()
	refusing.Listener.Close()
	p := Policy{LocalTargets: []netip.AddrPort{netip.MustParseAddrPort(hang.Listener.Addr().String()), netip.MustParseAddrPort(refused)}}
	h, err := New(Config{SigningKey: testKey, Policy: p, TLSConfig: hang.Client().Transport.(*http.Transport).TLSClientConfig,
		AttemptTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for url, reason := range map[string]string{hang.URL: "timeout", "https://" + refused: "connect-refused"} {
		d := &phi.Destination{ID: "dst_1", Settings: phi.DestinationSettings{URL: url}}
		o := h.Send(context.Background(), d, []pack.Copy{{DedupID: "d1", Event: []byte(`{}`)}})[0]
		if !errors.Is(o.Err, ErrUnavailable) || o.Permanent || o.Reason != reason || o.Status != 0 {
			t.Errorf("%s: outcome %+v, want a retryable %q", reason, o, reason)
		}
	}
}

func TestDeliveryRefusesUnsafeTargetsUnderTheProductionPolicy(t *testing.T) {
	r := newReceiver(t)
	h := newTestSender(t, r, Policy{})
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
			if o := outcome(0, 0, err); !o.Permanent || o.Reason != "unsafe-address" {
				t.Errorf("outcome %+v; want a permanent unsafe-address", o)
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
	h := newTestSender(t, listed, p)
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
	h := newTestSender(t, r, Policy{})
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
	if _, err := New(Config{SigningKey: []byte("short")}); err == nil {
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
		{"a fixed key", Config{SigningKey: testKey}, true},
		{"a key source", Config{Keys: StaticKey(testKey)}, true},
		{"both", Config{SigningKey: testKey, Keys: StaticKey(testKey)}, false},
		{"neither", Config{}, false},
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
	h, err := New(Config{Keys: keys, Policy: listing(r), TLSConfig: r.tls()})
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
		_, _, err := h.Deliver(context.Background(), r.srv.URL+"/hook", "dst_1", "d", []byte(`{}`))
		if o := outcome(0, 0, err); !errors.Is(err, ErrSigningKey) || o.Permanent || o.Reason != "signing-key" {
			t.Errorf("%s: err %v (outcome %+v), want a retryable ErrSigningKey before any attempt", what, err, o)
		}
	}
	if n := r.calls.Load(); n != 2 {
		t.Errorf("the receiver got %d requests, want 2 (none without a usable key)", n)
	}
}
