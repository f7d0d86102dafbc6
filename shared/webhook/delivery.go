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
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/phiguard/phiguard/shared/pack"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/retry"
	"github.com/phiguard/phiguard/shared/stack"
)

// Message attributes of a fan-out message, as the pipeline publishes them. The webhook queue's
// subscription uses raw message delivery, so SNS message attributes arrive as SQS message
// attributes and the SQS body is the pipeline's: a pack of copies (shared/pack) or, from
// earlier releases, one copy.
const (
	attrWorkspace       = stack.AttrWorkspace
	attrSource          = stack.AttrSource
	attrDestination     = stack.AttrDestination
	attrDestinationType = stack.AttrDestinationType
	attrDedupID         = stack.AttrDedupID
	attrFormat          = stack.AttrFormat
)

// packConcurrency is how many copies of one message are posted at once.
const packConcurrency = 8

// destinationTTL is how long a destination's URL is cached per container.
const destinationTTL = 30 * time.Second

// Queue puts the copies of a pack that failed back on the queue they came from (*sqs.Client).
type Queue interface {
	GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

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
	// Queue re-schedules the failed copies of a pack whose other copies were delivered: they
	// go back on the queue the message came from as a pack of their own, and the message is
	// acknowledged, so a delivered copy is not sent again. Nil fails the whole message instead
	// (SQS redelivers it, and its delivered copies are sent again).
	Queue Queue
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
	queue    Queue

	mu     sync.Mutex
	dests  map[string]cachedDestination
	queues map[string]string // queue ARN → URL
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
		attempts: cfg.Attempts, base: cfg.RetryBase, timeout: cfg.AttemptTimeout, now: cfg.Now, queue: cfg.Queue,
		dests: map[string]cachedDestination{}, queues: map[string]string{},
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

// Handle delivers every copy of every message in the batch, concurrently, and reports the
// messages SQS must retry (and, after the redrive limit, move to the DLQ): those none of whose
// copies could be delivered, and those whose failed copies could not be re-scheduled. The failed
// copies of a message whose other copies were delivered are re-scheduled alone (Config.Queue).
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
	h.log.Info("webhook batch processed", "messages", len(ev.Records), "failed", len(resp.BatchItemFailures))
	return resp, nil
}

// errUndelivered fails a message none of whose copies could be delivered.
var errUndelivered = errors.New("no copy delivered")

// record delivers the copies of one message and logs the outcomes (ids, status and error kind
// only).
func (h *Handler) record(ctx context.Context, m *events.SQSMessage) error {
	ws, dst := attr(m, attrWorkspace), attr(m, attrDestination)
	if !phi.ValidID(phi.PrefixWorkspace, ws) || !phi.ValidID(phi.PrefixDestination, dst) {
		h.log.Error("copy without workspace/destination attributes; is the subscription using raw message delivery?",
			"message_id", m.MessageId)
		return errors.New("missing attributes")
	}
	copies, err := pack.FromMessage([]byte(m.Body), attr(m, attrFormat), attr(m, attrDedupID))
	if err != nil {
		// The error names the format and the position, never content.
		h.log.Error("fan-out message unreadable; left for the DLQ", "message_id", m.MessageId, "destination", dst, "error", err.Error())
		return err
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
	ok := make([]bool, len(copies))
	sem := make(chan struct{}, packConcurrency)
	var wg sync.WaitGroup
	for i := range copies {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			c := &copies[i]
			status, attempts, err := h.Deliver(ctx, d.Settings.URL, dst, c.DedupID, c.Event)
			if err != nil {
				h.log.Warn("webhook delivery failed", "message_id", m.MessageId, "workspace", ws, "destination", dst, "dedup_id", c.DedupID,
					"status", status, "attempts", attempts, "error_kind", errorKind(err))
				return
			}
			ok[i] = true
			h.log.Info("webhook delivered", "message_id", m.MessageId, "destination", dst, "dedup_id", c.DedupID, "status", status, "attempts", attempts)
		}()
	}
	wg.Wait()
	var failed []pack.Copy
	for i, c := range copies {
		if !ok[i] {
			c.Attempts++
			failed = append(failed, c)
		}
	}
	switch {
	case len(failed) == 0:
		return nil
	case len(failed) == len(copies) || h.queue == nil:
		// Retrying the message as it is re-sends only copies that failed (or, without a queue,
		// also the delivered ones, which the receiver drops by their dedup ids).
		return errUndelivered
	}
	if err := h.requeue(ctx, m, failed); err != nil {
		h.log.Error("failed copies not re-scheduled; the whole message will be retried", "message_id", m.MessageId, "destination", dst,
			"copies", len(failed), "error_code", phi.ErrorCode(err))
		return err
	}
	h.log.Info("failed copies re-scheduled alone", "message_id", m.MessageId, "destination", dst, "copies", len(failed), "of", len(copies))
	return nil
}

// requeue sends failed, the copies of m that could not be delivered, back to m's queue as one
// pack with m's routing attributes, delayed by a backoff that doubles with their attempts (2 s,
// 4 s, … at most 15 minutes, SQS's limit). Each
// re-scheduled pack is smaller than the message it came from, so a copy is re-scheduled at most
// as often as its first pack had other copies; a message that fails whole is left to SQS's
// redrive policy and, finally, the DLQ.
func (h *Handler) requeue(ctx context.Context, m *events.SQSMessage, failed []pack.Copy) error {
	url, err := h.queueURL(ctx, m.EventSourceARN)
	if err != nil {
		return err
	}
	body, err := pack.Encode(failed)
	if err != nil {
		return err
	}
	attrs := map[string]sqstypes.MessageAttributeValue{attrFormat: strAttr(pack.Format)}
	for _, k := range []string{attrWorkspace, attrSource, attrDestination, attrDestinationType} {
		if v := attr(m, k); v != "" {
			attrs[k] = strAttr(v)
		}
	}
	attempts := 0
	for _, c := range failed {
		attempts = max(attempts, c.Attempts)
	}
	_, err = h.queue.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: aws.String(url), MessageBody: aws.String(string(body)), MessageAttributes: attrs,
		DelaySeconds: int32(min(900, 1<<min(attempts, 10))),
	})
	if err != nil {
		return fmt.Errorf("re-schedule %d copies: %w", len(failed), err)
	}
	return nil
}

// queueURL returns the URL of the queue with ARN arn (arn:aws:sqs:region:account:name), looked
// up once per container.
func (h *Handler) queueURL(ctx context.Context, arn string) (string, error) {
	h.mu.Lock()
	url, ok := h.queues[arn]
	h.mu.Unlock()
	if ok {
		return url, nil
	}
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[2] != "sqs" || parts[5] == "" {
		return "", fmt.Errorf("event source %q is not an SQS queue ARN", arn)
	}
	out, err := h.queue.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(parts[5]), QueueOwnerAWSAccountId: aws.String(parts[4])})
	if err != nil {
		return "", fmt.Errorf("look up the queue URL: %w", err)
	}
	url = aws.ToString(out.QueueUrl)
	h.mu.Lock()
	h.queues[arn] = url
	h.mu.Unlock()
	return url, nil
}

func strAttr(v string) sqstypes.MessageAttributeValue {
	return sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
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
