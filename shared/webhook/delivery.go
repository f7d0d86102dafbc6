package webhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/phiguard/phiguard/shared/catalog"
	"github.com/phiguard/phiguard/shared/delivery"
	"github.com/phiguard/phiguard/shared/pack"
	"github.com/phiguard/phiguard/shared/phi"
)

// Timeouts of one delivery attempt: a destination that does not accept the connection, or
// does not answer, holds its copy no longer than this; the engine (shared/delivery) retries it
// later, alone.
const (
	ConnectTimeout        = 2 * time.Second
	ResponseHeaderTimeout = 5 * time.Second
	RequestTimeout        = 10 * time.Second
)

// sendConcurrency is how many copies of one Send are POSTed at once.
const sendConcurrency = 5

// Secrets returns the keys that sign a destination's deliveries now: its current signing
// secret's first, then, while a rotation's overlap lasts, the one it replaced. The Sender asks
// on every attempt, so an implementation that reads and decrypts them (the delivery function's
// Keyring) caches them; an error fails the attempt, which the engine retries.
type Secrets interface {
	SigningKeys(ctx context.Context, wsID, dstID string) ([][]byte, error)
}

// Config wires a Sender. Secrets is required.
type Config struct {
	Secrets Secrets
	// Policy decides which addresses may be reached; its zero value is the production policy.
	Policy Policy
	// TLSConfig overrides the client's TLS settings (tests trust their own server); nil uses
	// the system roots.
	TLSConfig *tls.Config
	// AttemptTimeout bounds one attempt, connection to answer (RequestTimeout when 0).
	AttemptTimeout time.Duration
	Now            func() time.Time
}

// Sender is the webhook destination type's delivery.Sender: it POSTs copies, signed, one attempt each.
// Build it once per container with New.
type Sender struct {
	secrets Secrets
	policy  Policy
	client  *http.Client
	timeout time.Duration
	now     func() time.Time
}

var _ delivery.Sender = (*Sender)(nil)

// New returns a Sender. It returns an error when Config.Secrets is missing.
func New(cfg Config) (*Sender, error) {
	if cfg.Secrets == nil {
		return nil, errors.New("webhook: Config.Secrets is required")
	}
	h := &Sender{secrets: cfg.Secrets, policy: cfg.Policy, timeout: cfg.AttemptTimeout, now: cfg.Now}
	if h.timeout <= 0 {
		h.timeout = RequestTimeout
	}
	if h.now == nil {
		h.now = time.Now
	}
	dialer := cfg.Policy.Dialer()
	dialer.Timeout = ConnectTimeout
	h.client = &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil, // a proxy would connect on our behalf, past the dialer's check
			DialContext:           dialer.DialContext,
			TLSClientConfig:       cfg.TLSConfig,
			TLSHandshakeTimeout:   ResponseHeaderTimeout,
			ResponseHeaderTimeout: ResponseHeaderTimeout,
			MaxIdleConnsPerHost:   sendConcurrency,
			IdleConnTimeout:       60 * time.Second,
			ForceAttemptHTTP2:     true,
		},
		// Never follow redirects: a redirect could downgrade to http or leave the checked host.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return h, nil
}

// Send POSTs each copy to the destination's URL, signed with the destination's own keys and
// with the copy's dedup id as its webhook-id, one attempt each, up to
// sendConcurrency at a time, and returns their outcomes in order. A URL the policy refuses
// and a redirect or 4xx answer other than 408, 425 and 429 are permanent; 5xx, 408, 425, 429
// (with their Retry-After), timeouts, network errors and an unavailable signing key are not.
func (h *Sender) Send(ctx context.Context, d *phi.Destination, copies []pack.Copy) []delivery.Outcome {
	out := make([]delivery.Outcome, len(copies))
	sem := make(chan struct{}, sendConcurrency)
	var wg sync.WaitGroup
	for i, c := range copies {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			status, retryAfter, err := h.Deliver(ctx, d.Settings.URL, d.WorkspaceID, d.ID, c.DedupID, c.Event)
			out[i] = outcome(status, retryAfter, err)
		}()
	}
	wg.Wait()
	return out
}

var _ delivery.Batcher = (*Sender)(nil)

// Batch returns how many copies one request to d carries: its settings.batchSize (at most
// catalog.MaxWebhookBatch), within catalog.MaxWebhookBatchBytes of body; 1 — one copy per
// request, each its own body — when the setting is absent.
func (h *Sender) Batch(d *phi.Destination) (copies, bytes int) {
	if d.Settings.BatchSize == nil || *d.Settings.BatchSize <= 1 {
		return 1, 0
	}
	return min(*d.Settings.BatchSize, catalog.MaxWebhookBatch), catalog.MaxWebhookBatchBytes - len(batchOpen) - len(batchClose)
}

// SendBatch POSTs copies to the destination's URL in one request, its body BatchBody(copies),
// its webhook-id BatchID(copies) and HeaderBatch the number of copies, signed like a single
// delivery over the whole body, and returns the request's outcome, the copies' (Send's rules).
func (h *Sender) SendBatch(ctx context.Context, d *phi.Destination, copies []pack.Copy) delivery.Outcome {
	status, retryAfter, err := h.deliver(ctx, d.Settings.URL, d.WorkspaceID, d.ID, BatchID(copies), BatchBody(copies), len(copies))
	return outcome(status, retryAfter, err)
}

// The body of a batched delivery: {"events":[{"id":<dedup id>,"event":<copy>},...]}.
const (
	batchOpen  = `{"events":[`
	batchClose = `]}`
)

// BatchBody returns the body of a batched delivery of copies: a JSON object whose "events" are,
// in order, each copy as {"id": its dedup id (a single delivery's webhook-id), "event": the
// protected event, byte for byte as a single delivery's body}.
func BatchBody(copies []pack.Copy) []byte {
	n := len(batchOpen) + len(batchClose)
	for _, c := range copies {
		n += pack.Size(c)
	}
	b := make([]byte, 0, n)
	b = append(b, batchOpen...)
	for i, c := range copies {
		if i > 0 {
			b = append(b, ',')
		}
		id, _ := json.Marshal(c.DedupID)
		b = append(b, `{"id":`...)
		b = append(b, id...)
		b = append(b, `,"event":`...)
		b = append(b, c.Event...)
		b = append(b, '}')
	}
	return append(b, batchClose...)
}

// BatchID returns the webhook-id of a batched delivery of copies: "batch_" and 32 hex digits of
// SHA-256 over their dedup ids in order, so that the same copies sent again — as a failed
// request's copies are, re-scheduled together — carry the same id.
func BatchID(copies []pack.Copy) string {
	m := sha256.New()
	m.Write([]byte("phiguard webhook batch/1"))
	for _, c := range copies {
		m.Write([]byte{'\n'})
		m.Write([]byte(c.DedupID))
	}
	return BatchIDPrefix + hex.EncodeToString(m.Sum(nil)[:16])
}

// BatchIDPrefix starts the webhook-id of every batched delivery.
const BatchIDPrefix = "batch_"

// outcome turns one attempt's result into the engine's terms.
func outcome(status int, retryAfter time.Duration, err error) delivery.Outcome {
	o := delivery.Outcome{Err: err, Status: status, RetryAfter: retryAfter}
	if err == nil {
		return o
	}
	o.Reason = errorKind(err)
	if status != 0 {
		o.Reason = "http-" + strconv.Itoa(status)
	}
	o.Permanent = errors.Is(err, ErrRejected) || errors.Is(err, ErrUnsafeURL)
	return o
}

// Errors of Deliver, matched with errors.Is.
var (
	// ErrRejected: the receiver answered with a status that retrying will not change (a 4xx
	// other than 408, 425, 429, or a redirect).
	ErrRejected = errors.New("webhook rejected the delivery")
	// ErrUnavailable: the receiver failed in a way that may pass (5xx, 408, 425, 429, a timeout,
	// a network error).
	ErrUnavailable = errors.New("webhook unavailable")
	// ErrSigningKey: the destination's signing keys could not be had (Config.Secrets failed or
	// returned none, or a key shorter than SecretLen); nothing was sent.
	ErrSigningKey = errors.New("webhook signing key unavailable")
)

// Deliver makes one POST of body to url, signed with destination dstID's keys
// (Config.Secrets) and with dedupID as its webhook-id. It returns the HTTP status (0 when there was
// no answer), the wait the receiver asked for with Retry-After (on 408, 425, 429 and 5xx), and
// nil on a 2xx answer. Failures wrap ErrUnsafeURL (URL or resolved address not allowed),
// ErrSigningKey, ErrRejected or ErrUnavailable; they never contain the body, the URL or the key.
func (h *Sender) Deliver(ctx context.Context, url, wsID, dstID, dedupID string, body []byte) (status int, retryAfter time.Duration, err error) {
	return h.deliver(ctx, url, wsID, dstID, dedupID, body, 0)
}

// deliver is Deliver of a body carrying batch copies (0: a single delivery).
func (h *Sender) deliver(ctx context.Context, url, wsID, dstID, dedupID string, body []byte, batch int) (status int, retryAfter time.Duration, err error) {
	if _, err := h.policy.parse(url); err != nil {
		return 0, 0, err
	}
	keys, err := h.secrets.SigningKeys(ctx, wsID, dstID)
	switch {
	case err != nil:
		return 0, 0, fmt.Errorf("%w: %w", ErrSigningKey, err)
	case len(keys) == 0:
		return 0, 0, fmt.Errorf("%w: destination %s has no signing secret", ErrSigningKey, dstID)
	}
	for _, k := range keys {
		if len(k) < SecretLen {
			return 0, 0, fmt.Errorf("%w: a key of destination %s has fewer than %d bytes", ErrSigningKey, dstID, SecretLen)
		}
	}
	return h.post(ctx, keys, url, wsID, dstID, dedupID, body, batch)
}

// post makes one signed attempt; batch, when above 0, is the number of copies body carries
// (HeaderBatch).
func (h *Sender) post(ctx context.Context, keys [][]byte, url, wsID, dstID, dedupID string, body []byte, batch int) (int, time.Duration, error) {
	actx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, 0, fmt.Errorf("%w: the webhook URL cannot be requested", ErrUnsafeURL)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "phiguard-webhook/1")
	SetHeaders(req.Header, keys, dedupID, h.now(), body)
	req.Header.Set(HeaderWorkspace, wsID)
	req.Header.Set(HeaderDestination, dstID)
	if batch > 0 {
		req.Header.Set(HeaderBatch, strconv.Itoa(batch))
	}
	resp, err := h.client.Do(req)
	if err != nil {
		if errors.Is(err, ErrUnsafeURL) {
			return 0, 0, fmt.Errorf("%w: the webhook host resolved to an address webhooks may not reach", ErrUnsafeURL)
		}
		return 0, 0, &networkError{kind: errorKind(err)}
	}
	// The receiver's answer is never logged (it may echo the body); drain a little so the
	// connection can be reused.
	_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
	_ = resp.Body.Close()
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return s, 0, nil
	case s == http.StatusRequestTimeout, s == http.StatusTooEarly, s == http.StatusTooManyRequests, s >= 500:
		return s, parseRetryAfter(resp.Header.Get("Retry-After"), h.now()), fmt.Errorf("%w: HTTP %d", ErrUnavailable, s)
	default:
		return s, 0, fmt.Errorf("%w: HTTP %d", ErrRejected, s)
	}
}

// networkError is an attempt that got no answer, with its kind (errorKind's) and without the
// underlying error, whose text names the URL.
type networkError struct{ kind string }

func (e *networkError) Error() string { return ErrUnavailable.Error() + ": " + e.kind }
func (e *networkError) Unwrap() error { return ErrUnavailable }

// errorKind classifies a delivery error for logs without its text (which names the URL).
func errorKind(err error) string {
	var ne net.Error
	var nwe *networkError
	switch {
	case errors.As(err, &nwe):
		return nwe.kind
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connect-refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection-reset"
	case errors.Is(err, ErrUnsafeURL):
		return "unsafe-address"
	case errors.Is(err, ErrSigningKey):
		return "signing-key"
	case errors.Is(err, ErrRejected):
		return "rejected"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, ErrUnavailable):
		return "unavailable"
	}
	return "network"
}

// parseRetryAfter reads a Retry-After value, delay-seconds or an HTTP date (RFC 9110 10.2.3);
// 0 when absent, malformed or past.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 32); err == nil {
		return time.Duration(max(n, 0)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now).Round(time.Second)
	}
	return 0
}
