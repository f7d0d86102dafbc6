package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/retry"
	"github.com/phiguard/phiguard/shared/stack"
)

// Message attributes of a copy, as the pipeline publishes them. The webhook queue's
// subscription uses raw message delivery, so SNS message attributes arrive as SQS message
// attributes and the SQS body is the copy itself.
const (
	attrWorkspace   = stack.AttrWorkspace
	attrDestination = stack.AttrDestination
	attrDedupID     = stack.AttrDedupID
)

// destinationTTL is how long a destination's URL is cached per container.
const destinationTTL = 30 * time.Second

// Store reads a destination's webhook settings (*dynamo.Store).
type Store interface {
	GetDestination(ctx context.Context, wsID, id string) (*phi.Destination, error)
}

// KeySource returns the key that signs deliveries. The handler asks for it on every delivery,
// so an implementation that fetches the key (the delivery function's Secrets Manager fetcher,
// deliveryfn.SecretKey) caches it; an error fails the delivery, which SQS retries.
type KeySource interface {
	SigningKey(ctx context.Context) ([]byte, error)
}

// StaticKey is a KeySource that always returns the same key.
type StaticKey []byte

// SigningKey returns k.
func (k StaticKey) SigningKey(context.Context) ([]byte, error) { return k, nil }

// Config wires a Handler. Store is required, and exactly one of SigningKey (a fixed key of at
// least MinSigningKeyLen bytes) and Keys.
type Config struct {
	Store      Store
	SigningKey []byte
	// Keys supplies the signing key at delivery time, in place of a fixed SigningKey; a key it
	// returns that is shorter than MinSigningKeyLen fails the delivery.
	Keys KeySource
	// Policy decides which addresses may be reached; its zero value is the production policy.
	Policy Policy
	// TLSConfig overrides the client's TLS settings (tests trust their own server); nil uses
	// the system roots.
	TLSConfig *tls.Config
	Logger    *slog.Logger
	// Attempts per copy within one invocation (default 4), the first backoff (default 250ms),
	// and each attempt's timeout (default 10s).
	Attempts       int
	RetryBase      time.Duration
	AttemptTimeout time.Duration
	Now            func() time.Time
}

// Handler delivers webhook copies from SQS batches. Build it once per container with New.
type Handler struct {
	store    Store
	keys     KeySource
	policy   Policy
	client   *http.Client
	log      *slog.Logger
	attempts int
	base     time.Duration
	timeout  time.Duration
	now      func() time.Time

	mu    sync.Mutex
	dests map[string]cachedDestination
}

type cachedDestination struct {
	d  *phi.Destination
	at time.Time
}

// New returns a Handler. It returns an error when the store is missing, when both or neither of
// SigningKey and Keys are set, or when SigningKey is shorter than MinSigningKeyLen.
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil {
		return nil, errors.New("webhook: Config.Store is required")
	}
	keys := cfg.Keys
	switch {
	case keys != nil && cfg.SigningKey != nil:
		return nil, errors.New("webhook: set Config.SigningKey or Config.Keys, not both")
	case keys == nil && len(cfg.SigningKey) < MinSigningKeyLen:
		return nil, fmt.Errorf("webhook: the signing key must be at least %d bytes", MinSigningKeyLen)
	case keys == nil:
		keys = StaticKey(append([]byte(nil), cfg.SigningKey...))
	}
	h := &Handler{
		store: cfg.Store, keys: keys, policy: cfg.Policy, log: cfg.Logger,
		attempts: cfg.Attempts, base: cfg.RetryBase, timeout: cfg.AttemptTimeout, now: cfg.Now,
		dests: map[string]cachedDestination{},
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.attempts <= 0 {
		h.attempts = 4
	}
	if h.base <= 0 {
		h.base = 250 * time.Millisecond
	}
	if h.timeout <= 0 {
		h.timeout = 10 * time.Second
	}
	if h.now == nil {
		h.now = time.Now
	}
	h.client = &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil, // a proxy would connect on our behalf, past the dialer's check
			DialContext:           cfg.Policy.Dialer().DialContext,
			TLSClientConfig:       cfg.TLSConfig,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: h.timeout,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       60 * time.Second,
			ForceAttemptHTTP2:     true,
		},
		// Never follow redirects: a redirect could downgrade to http or leave the checked host.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return h, nil
}

// Handle delivers every copy in the batch, concurrently, and reports the ones that could not
// be delivered so SQS retries them (and, after the redrive limit, moves them to the DLQ).
func (h *Handler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	failed := make([]bool, len(ev.Records))
	var wg sync.WaitGroup
	for i := range ev.Records {
		wg.Add(1)
		go func() {
			defer wg.Done()
			failed[i] = h.record(ctx, &ev.Records[i]) != nil
		}()
	}
	wg.Wait()
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	for i, f := range failed {
		if f {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: ev.Records[i].MessageId})
		}
	}
	h.log.Info("webhook batch processed", "copies", len(ev.Records), "failed", len(resp.BatchItemFailures))
	return resp, nil
}

// record delivers one copy and logs the outcome (ids, status and error kind only).
func (h *Handler) record(ctx context.Context, m *events.SQSMessage) error {
	ws, dst, dedup := attr(m, attrWorkspace), attr(m, attrDestination), attr(m, attrDedupID)
	if !phi.ValidID(phi.PrefixWorkspace, ws) || !phi.ValidID(phi.PrefixDestination, dst) {
		h.log.Error("copy without workspace/destination attributes; is the subscription using raw message delivery?",
			"message_id", m.MessageId)
		return errors.New("missing attributes")
	}
	d, err := h.destination(ctx, ws, dst)
	if err != nil {
		h.log.Error("destination not loaded", "message_id", m.MessageId, "workspace", ws, "destination", dst, "error_code", phi.ErrorCode(err))
		return err
	}
	switch {
	case d.Type != phi.DestinationWebhook:
		err = fmt.Errorf("destination %s is of type %q, not webhook", dst, d.Type)
	case !d.Enabled:
		err = fmt.Errorf("destination %s is disabled", dst)
	}
	if err != nil {
		h.log.Error("copy not deliverable; left for the DLQ", "message_id", m.MessageId, "destination", dst, "error", err.Error())
		return err
	}
	status, attempts, err := h.Deliver(ctx, d.Settings.URL, dst, dedup, []byte(m.Body))
	if err != nil {
		h.log.Warn("webhook delivery failed", "message_id", m.MessageId, "workspace", ws, "destination", dst,
			"status", status, "attempts", attempts, "error_kind", errorKind(err))
		return err
	}
	h.log.Info("webhook delivered", "message_id", m.MessageId, "destination", dst, "status", status, "attempts", attempts)
	return nil
}

// destination returns the destination, cached for destinationTTL.
func (h *Handler) destination(ctx context.Context, ws, dst string) (*phi.Destination, error) {
	k := ws + "/" + dst
	h.mu.Lock()
	c, ok := h.dests[k]
	h.mu.Unlock()
	if ok && h.now().Sub(c.at) < destinationTTL {
		return c.d, nil
	}
	d, err := h.store.GetDestination(ctx, ws, dst)
	if err != nil {
		return nil, fmt.Errorf("load destination %s: %w", dst, err)
	}
	h.mu.Lock()
	h.dests[k] = cachedDestination{d: d, at: h.now()}
	h.mu.Unlock()
	return d, nil
}

// Errors of Deliver, matched with errors.Is.
var (
	// ErrRejected: the receiver answered with a status that retrying will not change (a 4xx
	// other than 408, 425, 429, or a redirect).
	ErrRejected = errors.New("webhook rejected the delivery")
	// ErrUnavailable: the receiver kept failing (5xx, 408, 425, 429, network) for every attempt.
	ErrUnavailable = errors.New("webhook unavailable")
	// ErrSigningKey: the signing key could not be had (Config.Keys failed or returned a key
	// shorter than MinSigningKeyLen); nothing was sent.
	ErrSigningKey = errors.New("webhook signing key unavailable")
)

// Deliver POSTs body to url, signed, retrying retryable failures with exponential backoff
// (honouring Retry-After up to 5s) for up to the configured attempts and never past the
// context's deadline. It returns the last HTTP status (0 when none), the attempts made, and
// nil on a 2xx answer. Failures wrap ErrUnsafeURL (URL or resolved address not allowed),
// ErrSigningKey, ErrRejected or ErrUnavailable; they never contain the body, the URL or the key.
func (h *Handler) Deliver(ctx context.Context, url, dstID, dedupID string, body []byte) (status, attempts int, err error) {
	if _, err := h.policy.parse(url); err != nil {
		return 0, 0, err
	}
	key, err := h.keys.SigningKey(ctx)
	switch {
	case err != nil:
		return 0, 0, fmt.Errorf("%w: %w", ErrSigningKey, err)
	case len(key) < MinSigningKeyLen:
		return 0, 0, fmt.Errorf("%w: the key has fewer than %d bytes", ErrSigningKey, MinSigningKeyLen)
	}
	var wait time.Duration
	for attempts < h.attempts {
		if attempts > 0 && !retry.Sleep(ctx, wait) {
			break
		}
		attempts++
		var retryAfter time.Duration
		status, retryAfter, err = h.post(ctx, key, url, dstID, dedupID, body)
		if err == nil {
			return status, attempts, nil
		}
		if !errors.Is(err, ErrUnavailable) {
			return status, attempts, err
		}
		wait = retry.Backoff(h.base, 5*time.Second, attempts)
		if retryAfter > wait {
			wait = min(retryAfter, 5*time.Second)
		}
	}
	return status, attempts, err
}

// post makes one signed attempt.
func (h *Handler) post(ctx context.Context, key []byte, url, dstID, dedupID string, body []byte) (int, time.Duration, error) {
	actx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, 0, fmt.Errorf("%w: the webhook URL cannot be requested", ErrUnsafeURL)
	}
	ts := strconv.FormatInt(h.now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "phiguard-webhook/1")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(key, ts, body))
	req.Header.Set(HeaderDestination, dstID)
	if dedupID != "" {
		req.Header.Set(HeaderDedupID, dedupID)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		if errors.Is(err, ErrUnsafeURL) {
			return 0, 0, fmt.Errorf("%w: the webhook host resolved to an address webhooks may not reach", ErrUnsafeURL)
		}
		return 0, 0, fmt.Errorf("%w: %s", ErrUnavailable, errorKind(err))
	}
	// The receiver's answer is never logged (it may echo the body); drain a little so the
	// connection can be reused.
	_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
	_ = resp.Body.Close()
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return s, 0, nil
	case s == http.StatusRequestTimeout, s == http.StatusTooEarly, s == http.StatusTooManyRequests, s >= 500:
		ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return s, time.Duration(max(ra, 0)) * time.Second, fmt.Errorf("%w: HTTP %d", ErrUnavailable, s)
	default:
		return s, 0, fmt.Errorf("%w: HTTP %d", ErrRejected, s)
	}
}

// errorKind classifies a delivery error for logs without its text (which names the URL).
func errorKind(err error) string {
	var ne net.Error
	switch {
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

func attr(m *events.SQSMessage, name string) string {
	if a, ok := m.MessageAttributes[name]; ok && a.StringValue != nil {
		return *a.StringValue
	}
	return ""
}
