package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phiguard/phiguard/shared/catalog"
	"github.com/phiguard/phiguard/shared/delivery"
	"github.com/phiguard/phiguard/shared/pack"
	"github.com/phiguard/phiguard/shared/phi"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

// secretsFunc is a Secrets from a function.
type secretsFunc func(ctx context.Context, wsID, dstID string) ([][]byte, error)

func (f secretsFunc) SigningKeys(ctx context.Context, wsID, dstID string) ([][]byte, error) {
	return f(ctx, wsID, dstID)
}

// oneKey signs every destination's deliveries with testKey.
var oneKey = secretsFunc(func(context.Context, string, string) ([][]byte, error) { return [][]byte{testKey}, nil })

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
		r.verified = append(r.verified, Verify(testKey, req.Header, body, time.Now(), 0))
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
	h, err := New(Config{Secrets: oneKey, Policy: p, TLSConfig: r.tls()})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestDeliverySignsTheBodySoTheReceiverCanVerifyIt(t *testing.T) {
	r := newReceiver(t)
	h := newTestSender(t, r, listing(r))
	body := []byte(`{"type":"identify","traits":{"email":"hpke-p256.token"},"_phi":{"v":1}}`)
	status, _, err := h.Deliver(context.Background(), r.srv.URL+"/in", "ws_1", "dst_1", "dedup-1", body)
	if err != nil || status != 200 || r.calls.Load() != 1 {
		t.Fatalf("status %d calls %d err %v", status, r.calls.Load(), err)
	}
	if r.bodies[0] != string(body) || r.verified[0] != nil {
		t.Fatalf("body %q verified %v", r.bodies[0], r.verified[0])
	}
	if got := r.headers[0]; got.Get(HeaderID) != "dedup-1" || got.Get(HeaderWorkspace) != "ws_1" || got.Get(HeaderDestination) != "dst_1" || got.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", got)
	}
}

func TestVerifyRejectsTamperingAndReplays(t *testing.T) {
	now := time.Unix(1_750_000_000, 0)
	body := []byte(`{"a":1}`)
	other := []byte("another-key-another-key-another-key")
	headers := func(id, ts, sig string) http.Header {
		return http.Header{"Webhook-Id": {id}, "Webhook-Timestamp": {ts}, "Webhook-Signature": {sig}}
	}
	sig := "v1," + Sign(testKey, "msg_1", "1750000000", body)
	for _, tt := range []struct {
		name string
		key  []byte
		h    http.Header
		body []byte
		now  time.Time
		ok   bool
	}{
		{"the genuine request verifies", testKey, headers("msg_1", "1750000000", sig), body, now, true},
		{"one of two signatures verifies (a rotation's overlap)", testKey, headers("msg_1", "1750000000", "v1,"+Sign(other, "msg_1", "1750000000", body)+" "+sig), body, now, true},
		{"lower-case header names verify", testKey, http.Header{HeaderID: {"msg_1"}, HeaderTimestamp: {"1750000000"}, HeaderSignature: {sig}}, body, now, true},
		{"a changed body fails", testKey, headers("msg_1", "1750000000", sig), []byte(`{"a":2}`), now, false},
		{"another key fails", other, headers("msg_1", "1750000000", sig), body, now, false},
		{"another id fails", testKey, headers("msg_2", "1750000000", sig), body, now, false},
		{"a changed timestamp fails", testKey, headers("msg_1", "1750000001", sig), body, now.Add(time.Second), false},
		{"another signature version fails", testKey, headers("msg_1", "1750000000", "v2"+sig[2:]), body, now, false},
		{"a replay after the tolerance fails", testKey, headers("msg_1", "1750000000", sig), body, now.Add(6 * time.Minute), false},
		{"a timestamp from the future fails", testKey, headers("msg_1", "1750000000", sig), body, now.Add(-6 * time.Minute), false},
		{"a malformed timestamp fails", testKey, headers("msg_1", "yesterday", sig), body, now, false},
		{"a missing id fails", testKey, headers("", "1750000000", sig), body, now, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.key, tt.h, tt.body, tt.now, 0)
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrSignature)) {
				t.Fatalf("Verify = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestSecretsRoundTripThroughTheirTextForm(t *testing.T) {
	text := FormatSecret(testKey)
	if !strings.HasPrefix(string(text), "whsec_") {
		t.Fatalf("FormatSecret = %q, want the whsec_ prefix", text)
	}
	key, err := ParseSecret(string(text))
	if err != nil || !bytes.Equal(key, testKey) {
		t.Fatalf("ParseSecret(FormatSecret(k)) = %x, %v; want k", key, err)
	}
	for _, bad := range []string{"", "0123456789abcdef0123456789abcdef", "whsec_not base64!", "whsec_" + base64.StdEncoding.EncodeToString([]byte("too short"))} {
		if _, err := ParseSecret(bad); err == nil || (bad != "" && strings.Contains(err.Error(), bad)) {
			t.Errorf("ParseSecret(%q) = %v; want an error that does not quote it", bad, err)
		}
	}
}

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
			h, err := New(Config{Secrets: oneKey, Policy: p, TLSConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig})
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
	h, err := New(Config{Secrets: oneKey, Policy: p, TLSConfig: hang.Client().Transport.(*http.Transport).TLSClientConfig,
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
			_, _, err := h.Deliver(context.Background(), url, "ws_1", "dst_1", "d", []byte(`{}`))
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
		if status, _, err := h.Deliver(context.Background(), url, "ws_1", "dst_1", "d", []byte(`{}`)); err != nil || status/100 != 2 {
			t.Errorf("delivery to the listed %s: status %d, err %v", url, status, err)
		}
	}
	if listed.calls.Load() != 1 || plainCalls.Load() != 1 {
		t.Errorf("the listed targets got %d and %d requests, want 1 each", listed.calls.Load(), plainCalls.Load())
	}
	unlistedPort := unlisted.srv.URL[strings.LastIndex(unlisted.srv.URL, ":"):]
	for _, url := range []string{unlisted.srv.URL, "https://localhost" + unlistedPort, "https://[::ffff:127.0.0.1]" + unlistedPort} {
		t.Run(url, func(t *testing.T) {
			_, _, err := h.Deliver(context.Background(), url, "ws_1", "dst_1", "d", []byte(`{}`))
			if !errors.Is(err, ErrUnsafeURL) {
				t.Fatalf("err = %v, want ErrUnsafeURL", err)
			}
		})
	}
	// post skips the URL check: the dialer alone stops the unlisted port.
	if _, _, err := h.post(context.Background(), [][]byte{testKey}, unlisted.srv.URL, "ws_1", "dst_1", "d", []byte(`{}`), 0); !errors.Is(err, ErrUnsafeURL) {
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
	_, _, err := h.post(context.Background(), [][]byte{testKey}, "https://localhost"+port, "ws_1", "dst_1", "d", []byte(`{}`), 0)
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

func TestNewNeedsSecrets(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New accepted a config without secrets")
	}
}

// The keys are asked for at delivery time, per destination: each destination's deliveries are
// signed with its own keys only (all of them during an overlap), and keys that cannot be had
// fail the delivery before anything is sent.
func TestDeliveryIsSignedWithTheDestinationsOwnKeys(t *testing.T) {
	r := newReceiver(t)
	keyA, keyB := bytes.Repeat([]byte{'a'}, SecretLen), bytes.Repeat([]byte{'b'}, SecretLen)
	rotated := bytes.Repeat([]byte{'c'}, SecretLen)
	keys := secretsFunc(func(_ context.Context, ws, dst string) ([][]byte, error) {
		switch dst {
		case "dst_a":
			return [][]byte{keyA}, nil
		case "dst_b":
			return [][]byte{rotated, keyB}, nil // rotated, in the overlap
		case "dst_short":
			return [][]byte{[]byte("short")}, nil
		case "dst_none":
			return nil, nil
		}
		return nil, errors.New("KMS unavailable")
	})
	h, err := New(Config{Secrets: keys, Policy: listing(r), TLSConfig: r.tls()})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"n":1}`)
	for i, dst := range []string{"dst_a", "dst_b"} {
		if _, _, err := h.Deliver(context.Background(), r.srv.URL+"/hook", "ws_1", dst, "d", body); err != nil {
			t.Fatalf("delivery to %s: %v", dst, err)
		}
		r.mu.Lock()
		got := r.headers[i]
		r.mu.Unlock()
		sigs := strings.Fields(got.Get(HeaderSignature))
		want := map[string]int{"dst_a": 1, "dst_b": 2}[dst]
		if len(sigs) != want {
			t.Errorf("%s: %d signatures (%q), want %d", dst, len(sigs), got.Get(HeaderSignature), want)
		}
		for _, k := range map[string][][]byte{"dst_a": {keyA}, "dst_b": {rotated, keyB}}[dst] {
			if err := Verify(k, got, body, time.Now(), 0); err != nil {
				t.Errorf("%s: not verifiable with its key %q: %v", dst, k[:1], err)
			}
		}
		foreign := map[string][]byte{"dst_a": keyB, "dst_b": keyA}[dst]
		if err := Verify(foreign, got, body, time.Now(), 0); err == nil {
			t.Errorf("%s's delivery verifies under another destination's key", dst)
		}
	}
	for _, dst := range []string{"dst_short", "dst_none", "dst_failing"} {
		_, _, err := h.Deliver(context.Background(), r.srv.URL+"/hook", "ws_1", dst, "d", []byte(`{}`))
		if o := outcome(0, 0, err); !errors.Is(err, ErrSigningKey) || o.Permanent || o.Reason != "signing-key" {
			t.Errorf("%s: err %v (outcome %+v), want a retryable ErrSigningKey before any attempt", dst, err, o)
		}
	}
	if n := r.calls.Load(); n != 2 {
		t.Errorf("the receiver got %d requests, want 2 (none without usable keys)", n)
	}
}

// A destination with settings.batchSize gets its copies in one request: {"events": [...]} with
// each copy's dedup id and event byte for byte, signed over the whole body, X-PHI-Batch the
// count, and a webhook-id derived from the dedup ids — the same for the same copies, another for
// others. The answer is the request's outcome; without the setting a destination takes one copy
// per request.
func TestSendBatchPostsTheCopiesInOneSignedRequest(t *testing.T) {
	r := newReceiver(t, 200, 503)
	h := newTestSender(t, r, listing(r))
	ten := 10
	d := &phi.Destination{ID: "dst_1", WorkspaceID: "ws_1", Type: phi.DestinationWebhook,
		Settings: phi.DestinationSettings{URL: r.srv.URL + "/in", BatchSize: &ten}}
	if n, bytes := h.Batch(d); n != 10 || bytes <= 0 || bytes > 256<<10 {
		t.Errorf("Batch = %d copies, %d bytes; want 10 within 256 KiB", n, bytes)
	}
	if n, _ := h.Batch(&phi.Destination{Settings: phi.DestinationSettings{URL: d.Settings.URL}}); n != 1 {
		t.Errorf("Batch without the setting = %d, want 1", n)
	}
	cs := []pack.Copy{
		{DedupID: "0a1b", Event: []byte(`{"type":"track","event":"A <b>","_phi":{"v":1}}`)},
		{DedupID: "2c3d", Event: []byte(`{"type":"identify","traits":{"email":"tok"}}`), Attempts: 2},
	}
	if o := h.SendBatch(context.Background(), d, cs); o.Err != nil || o.Status != 200 {
		t.Fatalf("first batch: %+v", o)
	}
	if o := h.SendBatch(context.Background(), d, cs); o.Err == nil || o.Permanent || o.Reason != "http-503" {
		t.Fatalf("second attempt answered 503: %+v, want a retryable failure", o)
	}
	if n := r.calls.Load(); n != 2 {
		t.Fatalf("%d requests for two batches", n)
	}
	want := `{"events":[{"id":"0a1b","event":{"type":"track","event":"A <b>","_phi":{"v":1}}},{"id":"2c3d","event":{"type":"identify","traits":{"email":"tok"}}}]}`
	for i := range 2 {
		if r.bodies[i] != want || r.verified[i] != nil {
			t.Errorf("request %d: body %s (verify: %v); want %s, verified", i, r.bodies[i], r.verified[i], want)
		}
		if got := r.headers[i].Get(HeaderBatch); got != "2" {
			t.Errorf("request %d: %s = %q, want 2", i, HeaderBatch, got)
		}
	}
	id := r.headers[0].Get(HeaderID)
	if !strings.HasPrefix(id, BatchIDPrefix) || len(id) != len(BatchIDPrefix)+32 || r.headers[1].Get(HeaderID) != id {
		t.Errorf("webhook-ids %q, %q; want one batch id for the same copies", id, r.headers[1].Get(HeaderID))
	}
	if BatchID(cs[:1]) == id || BatchID([]pack.Copy{cs[1], cs[0]}) == id {
		t.Error("other copies, or the same in another order, share the batch's webhook-id")
	}
}

// Issue 16: the webhook sender's requests per 1,000 events of about 1 KiB, given in chunks of
// the destination's batch (as the delivery engine gives them): one POST per copy by default,
// one per batchSize copies with batching on — counted at the receiver, machine-independent.
func TestWebhookRequestsPer1000Events(t *testing.T) {
	copies := make([]pack.Copy, 1000)
	for i := range copies {
		copies[i] = pack.Copy{DedupID: fmt.Sprintf("%032x", i), Event: []byte(`{"type":"track","messageId":"m-` + strconv.Itoa(i) + `","properties":{"note":"` + strings.Repeat("x", 950) + `"}}`)}
	}
	for _, size := range []int{1, 10, catalog.MaxWebhookBatch} {
		t.Run(fmt.Sprintf("batchSize %d", size), func(t *testing.T) {
			r := newReceiver(t)
			h := newTestSender(t, r, listing(r))
			d := &phi.Destination{ID: "dst_1", WorkspaceID: "ws_1", Type: phi.DestinationWebhook,
				Settings: phi.DestinationSettings{URL: r.srv.URL + "/in", BatchSize: &size}}
			n, limit := h.Batch(d)
			for i := 0; i < len(copies); i += n {
				chunk := copies[i:min(i+n, len(copies))]
				if n == 1 {
					for _, o := range h.Send(context.Background(), d, chunk) {
						if o.Err != nil {
							t.Fatal(o.Err)
						}
					}
					continue
				}
				if len(BatchBody(chunk)) > limit {
					t.Fatalf("a batch of %d copies of 1 KiB is over the %d-byte limit", len(chunk), limit)
				}
				if o := h.SendBatch(context.Background(), d, chunk); o.Err != nil {
					t.Fatal(o.Err)
				}
			}
			if got, want := int(r.calls.Load()), 1000/size; got != want {
				t.Errorf("%d POSTs per 1,000 events with batchSize %d; want %d", got, size, want)
			}
			t.Logf("webhook, batchSize %d: %d POSTs per 1,000 events of ~1 KiB", size, r.calls.Load())
		})
	}
}
