package faults_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/phiguard/phiguard/shared/faults"
	"github.com/phiguard/phiguard/shared/pack"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
	"github.com/phiguard/phiguard/shared/webhook"
)

func post(t *testing.T, client *http.Client, url, body string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return client.Do(req)
}

// Each Behavior answers as it says, and the server records what it was sent.
func TestEachBehaviorAnswersAsItSays(t *testing.T) {
	for _, c := range []struct {
		name       string
		b          faults.Behavior
		status     int
		retryAfter string
	}{
		{"an error", faults.Status(http.StatusInternalServerError), 500, ""},
		{"a permanent 4xx", faults.Status(http.StatusBadRequest), 400, ""},
		{"429 with Retry-After", faults.RetryAfter(http.StatusTooManyRequests, 2*time.Minute), 429, "120"},
		{"503 with Retry-After", faults.RetryAfter(http.StatusServiceUnavailable, 30*time.Second), 503, "30"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := faults.New(t, c.b)
			resp, err := post(t, http.DefaultClient, s.URL+"/hook", `{"n":1}`)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.status || resp.Header.Get("Retry-After") != c.retryAfter {
				t.Errorf("got %d Retry-After %q; want %d %q", resp.StatusCode, resp.Header.Get("Retry-After"), c.status, c.retryAfter)
			}
			// The answer is recorded once the Behavior has returned, just after the client
			// has it.
			var got []faults.Request
			for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				if got = s.Requests(); len(got) != 1 || got[0].Status != 0 || time.Now().After(deadline) {
					break
				}
			}
			if len(got) != 1 || string(got[0].Body) != `{"n":1}` || got[0].Status != c.status {
				t.Errorf("recorded %+v; want the one request, its body and the status %d", got, c.status)
			}
		})
	}
}

// A hanging server never answers; the client's own deadline ends the request, and closing the
// server releases it.
func TestHangHoldsTheRequestUntilTheClientGivesUp(t *testing.T) {
	s := faults.New(t, faults.Hang())
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, strings.NewReader("{}"))
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("a hanging server answered %d", resp.StatusCode)
	}
	if !errors.Is(err, context.DeadlineExceeded) || s.Count() != 1 {
		t.Errorf("err %v after %d requests; want the client's deadline, after 1", err, s.Count())
	}
	s.Close() // returns: the held request was released
	if got := s.Requests(); len(got) != 1 || got[0].Status != 0 {
		t.Errorf("recorded %+v; want one request answered with nothing (status 0)", got)
	}
}

// A slow body arrives complete, byte by byte, after a 200 sent at once; a client that stops
// reading ends it.
func TestSlowBodyTricklesInAfterTheStatus(t *testing.T) {
	s := faults.New(t, faults.SlowBody(5, time.Millisecond))
	resp, err := post(t, http.DefaultClient, s.URL, "{}")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || err != nil || string(body) != "....." {
		t.Errorf("got %d %q %v; want 200 and the five bytes", resp.StatusCode, body, err)
	}
}

// A sequence fails as long as it says, then answers with its last Behavior.
func TestSequenceRecoversAfterItsFailures(t *testing.T) {
	s := faults.New(t, faults.Sequence(faults.Status(503), faults.Status(503), faults.Status(204)))
	var got []int
	for range 4 {
		resp, err := post(t, http.DefaultClient, s.URL, "{}")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got = append(got, resp.StatusCode)
	}
	if want := []int{503, 503, 204, 204}; !slices.Equal(got, want) {
		t.Errorf("answers %v, want %v", got, want)
	}
}

// oneKey signs every destination's deliveries with the same 32 bytes.
type oneKey struct{}

func (oneKey) SigningKeys(context.Context, string, string) ([][]byte, error) {
	return [][]byte{[]byte("0123456789abcdef0123456789abcdef")}, nil
}

// The servers are reachable only through the explicit local-development policy — the
// production policy refuses them — and through it the webhook Sender turns each fault into the
// outcome the delivery engine acts on: retry, retry after the server's wait, dead-letter at once,
// or a timeout.
func TestTheWebhookSenderSeesEachFault(t *testing.T) {
	servers := map[string]*faults.Server{
		"error":     faults.New(t, faults.Status(500)),
		"throttled": faults.New(t, faults.RetryAfter(429, 90*time.Second)),
		"permanent": faults.New(t, faults.Status(410)),
		"hang":      faults.New(t, faults.Hang()),
		"slow body": faults.New(t, faults.SlowBody(3, time.Millisecond)),
	}
	var targets []string
	for _, s := range servers {
		targets = append(targets, s.Addr.String())
	}
	local, err := webhook.PolicyFromEnv(strings.Join(targets, ","))
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range servers {
		if err := (webhook.Policy{}).ValidateURL(context.Background(), s.URL+"/hook"); err == nil {
			t.Errorf("%s: the production policy admits %s", name, s.URL)
		}
		if err := local.ValidateURL(context.Background(), s.URL+"/hook"); err != nil {
			t.Errorf("%s: the policy of %s refuses it: %v", name, stack.EnvLocalWebhookTargets, err)
		}
	}
	sender, err := webhook.New(webhook.Config{Secrets: oneKey{}, Policy: local, AttemptTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	copies := []pack.Copy{{DedupID: "d-1", Event: json.RawMessage(`{"type":"track"}`)}}
	for _, c := range []struct {
		name       string
		permanent  bool
		retryAfter time.Duration
		reason     string
		delivered  bool
	}{
		{"error", false, 0, "http-500", false},
		{"throttled", false, 90 * time.Second, "http-429", false},
		{"permanent", true, 0, "http-410", false},
		{"hang", false, 0, "timeout", false},
		{"slow body", false, 0, "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := servers[c.name]
			d := &phi.Destination{ID: "dst_1", WorkspaceID: "ws_1", Type: phi.DestinationWebhook, Settings: phi.DestinationSettings{URL: s.URL + "/hook"}}
			o := sender.Send(context.Background(), d, copies)[0]
			if (o.Err == nil) != c.delivered || o.Permanent != c.permanent || o.RetryAfter != c.retryAfter || o.Reason != c.reason {
				t.Errorf("outcome %+v; want delivered %v, permanent %v, Retry-After %v, reason %q", o, c.delivered, c.permanent, c.retryAfter, c.reason)
			}
			if got := s.Requests(); len(got) != 1 || got[0].Header.Get(webhook.HeaderID) != "d-1" {
				t.Errorf("the server got %d requests; want the one, with its webhook-id", len(got))
			}
		})
	}
}

// A server can come up on an address registered while nothing listened there, and refuses any
// address that is not loopback.
func TestNewAtComesUpOnAnAddressThatRefusedConnections(t *testing.T) {
	first := faults.New(t, faults.Status(http.StatusNoContent))
	addr := first.Addr
	first.Close()
	if _, err := post(t, http.DefaultClient, "http://"+addr.String(), "{}"); err == nil {
		t.Fatal("a closed server's address answered")
	}
	s, err := faults.NewAt(t, addr, faults.Status(http.StatusNoContent))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := post(t, http.DefaultClient, s.URL, "{}")
	if err != nil || resp.StatusCode != http.StatusNoContent || s.Addr != addr {
		t.Fatalf("NewAt(%s): %v %v at %s", addr, resp, err, s.Addr)
	}
	resp.Body.Close()
	if _, err := faults.NewAt(t, netip.MustParseAddrPort("192.0.2.1:80"), faults.Status(200)); err == nil {
		t.Error("NewAt accepted an address that is not loopback")
	}
}
