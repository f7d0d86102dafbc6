package delivery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/phiguard/phiguard/shared/emf"
	"github.com/phiguard/phiguard/shared/pack"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

// MetricsNamespace is the CloudWatch namespace of the engine's metrics.
const MetricsNamespace = "phiguard/delivery"

// Backoff bounds: the first retry waits up to DefaultBackoffBase, each further one up to twice
// as long, never more than MaxDelay — SQS's longest DelaySeconds, 15 minutes.
const (
	DefaultBackoffBase = 10 * time.Second
	MaxDelay           = stack.DeliveryMaxDelaySeconds * time.Second
)

// Reasons a copy is dead-lettered (the stack.AttrReason attribute on the dead-letter queue).
// The failure of the last attempt is in stack.AttrLastReason.
const (
	ReasonRejected            = "rejected"              // the destination refused the copy permanently (Outcome.Permanent)
	ReasonMaxAttempts         = "max-attempts"          // stack.DeliveryMaxAttempts attempts failed
	ReasonMalformed           = "malformed"             // not a fan-out message: attributes or body unusable
	ReasonDestinationNotFound = "destination-not-found" // the destination was deleted
	ReasonDestinationDisabled = "destination-disabled"  // the destination is disabled; replay once it is enabled
	ReasonUnsupportedType     = "unsupported-type"      // no Sender for the destination's type
	// ReasonReceiveLimit: the message was received stack.DeliveryMaxReceiveCount-1 times
	// without being settled (the function crashed or timed out on it, or could not re-schedule
	// it), so the engine dead-letters it as received rather than try again. Count reports it too
	// for a message without a reason: one the queue's redrive policy moved, the backstop.
	ReasonReceiveLimit = "receive-limit"
)

// Queue is the SQS API the engine uses to re-schedule and dead-letter copies (*sqs.Client).
type Queue interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// Store reads destinations and records their delivery status (*dynamo.Store).
type Store interface {
	GetDestination(ctx context.Context, wsID, id string) (*phi.Destination, error)
	// SetDeliveryStatus stores st without changing the destination's version; with
	// unchangedSince, only if the stored status is degraded with that LastFailureAt
	// (EPRECONDITION otherwise).
	SetDeliveryStatus(ctx context.Context, wsID, dstID string, st phi.DeliveryStatus, unchangedSince time.Time) error
}

// Config wires an Engine. Store, Queue, QueueURL, DLQURL and at least one Sender are required.
type Config struct {
	Store Store
	Queue Queue
	// QueueURL is the delivery queue, where failed copies are re-scheduled; DLQURL its
	// dead-letter queue.
	QueueURL, DLQURL string
	// Senders deliver copies by destination type.
	Senders map[phi.DestinationType]Sender
	// MaxAttempts per copy; stack.DeliveryMaxAttempts when 0.
	MaxAttempts int
	// Chunk is how many copies of one destination are given to Send at once (5 when 0), or, for
	// a destination a Batcher sends batches to, how many of its requests are made at once; the
	// breaker is consulted between chunks, so a dead destination costs one chunk's timeouts.
	Chunk int
	// Chunks overrides Chunk by destination type: the AWS types send a chunk in one request, so
	// theirs is the type's batch limit (catalog.Limits.MaxBatchRecords).
	Chunks map[phi.DestinationType]int
	// BreakerFailures and BreakerOpen: DefaultBreakerFailures and DefaultBreakerOpen when 0.
	BreakerFailures int
	BreakerOpen     time.Duration
	// BackoffBase is the first retry's longest wait (DefaultBackoffBase when 0).
	BackoffBase time.Duration
	// SendTimeout bounds one Send (12 s when 0: a webhook request's 10 s and some room); a chunk
	// is not started when less than this and a margin remain before the invocation's deadline,
	// and its copies are re-scheduled instead.
	SendTimeout time.Duration
	Logger      *slog.Logger
	// Metrics receives the engine's EMF lines (stdout in Lambda); nil writes none.
	Metrics io.Writer
	Now     func() time.Time
	// Jitter returns a random duration in [0, d]; rand's when nil.
	Jitter func(d time.Duration) time.Duration
}

// Engine delivers the copies of SQS batches of fan-out messages. Build it once per container
// with New: its destination cache and circuit breakers live as long as the container.
type Engine struct {
	cfg     Config
	log     *slog.Logger
	metrics *emf.Writer
	breaker *breaker

	mu    sync.Mutex
	dests map[string]cachedDestination
	// recorded is the delivery status this container last wrote for a destination, newer than
	// its cached copy until the cache reloads.
	recorded map[string]phi.DeliveryStatus
}

type cachedDestination struct {
	d  *phi.Destination
	at time.Time
}

// destinationTTL is how long a destination's settings are cached per container.
const destinationTTL = 30 * time.Second

// deadlineMargin is the time kept free before the invocation's deadline for re-scheduling and
// answering.
const deadlineMargin = 3 * time.Second

// New returns an Engine, or an error naming the missing dependency.
func New(cfg Config) (*Engine, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("delivery: Config.Store is required")
	case cfg.Queue == nil || cfg.QueueURL == "" || cfg.DLQURL == "":
		return nil, errors.New("delivery: Config.Queue, QueueURL and DLQURL are required")
	case len(cfg.Senders) == 0:
		return nil, errors.New("delivery: Config.Senders is empty")
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = stack.DeliveryMaxAttempts
	}
	if cfg.Chunk <= 0 {
		cfg.Chunk = 5
	}
	if cfg.BreakerFailures <= 0 {
		cfg.BreakerFailures = DefaultBreakerFailures
	}
	if cfg.BreakerOpen <= 0 {
		cfg.BreakerOpen = DefaultBreakerOpen
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = DefaultBackoffBase
	}
	if cfg.SendTimeout <= 0 {
		cfg.SendTimeout = 12 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Jitter == nil {
		cfg.Jitter = func(d time.Duration) time.Duration { return rand.N(d + 1) }
	}
	e := &Engine{cfg: cfg, log: cfg.Logger, breaker: newBreaker(cfg.BreakerFailures, cfg.BreakerOpen, cfg.Now),
		dests: map[string]cachedDestination{}, recorded: map[string]phi.DeliveryStatus{}}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics != nil {
		e.metrics = emf.New(cfg.Metrics, MetricsNamespace, cfg.Now)
	}
	return e, nil
}

// Backoff returns the wait before attempt n+1 of a copy whose attempt n (n >= 1) failed: full
// jitter over base·2^(n-1), capped at MaxDelay, and at least a second.
func (e *Engine) Backoff(n int) time.Duration {
	ceiling := MaxDelay
	if n < 32 {
		if d := e.cfg.BackoffBase << (n - 1); d > 0 && d < MaxDelay {
			ceiling = d
		}
	}
	return max(e.cfg.Jitter(ceiling), time.Second)
}

// group is the copies of one destination in one invocation.
type group struct {
	ws, dst string
	attrs   map[string]string // the fan-out attributes of the first message that carried them
	copies  []pack.Copy
	owners  []int // the SQS record each copy came from
}

// settled is what became of a copy that was not delivered.
type settled struct {
	group string // the key of its group in Handle's map
	owner int
	// request numbers the batched request the copy was sent in (from 1, per group); 0 when it
	// was sent alone or not at all. A failed request's copies are re-scheduled together, in a
	// message of their own, so that they are sent again as that request, with its webhook-id.
	request int
	c       pack.Copy
	dead    bool
	// retry: the copy's attempts (already counted in c.Attempts), the least delay, and whether
	// the backoff of its attempts applies; dead: the reason, and the last attempt's failure
	// and status.
	floor      time.Duration
	backoff    bool
	reason     string
	lastReason string
	status     int
	// failure is the text of the attempt's Outcome.Err, when an attempt was made.
	failure string
}

// tally counts one invocation.
type tally struct {
	mu                                                      sync.Mutex
	messagesIn, copiesIn, delivered, retried, dead, shorted int
	malformed, failed                                       int
	perDst                                                  map[string]*dstTally
}

type dstTally struct{ delivered, retried, dead, shorted int }

func (t *tally) dst(id string) *dstTally {
	if t.perDst[id] == nil {
		t.perDst[id] = &dstTally{}
	}
	return t.perDst[id]
}

// Handle delivers the batch: each copy gets at most one attempt; a copy that fails is
// re-scheduled alone on the delivery queue (as a new message, with its attempts counted and a
// delay) or dead-lettered with its reason, so the batch item itself succeeds and no
// destination waits for another. A record is reported as a batch item failure only when one
// of its copies could be neither delivered, re-scheduled nor dead-lettered (an SQS error), so
// SQS redelivers it.
func (e *Engine) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	t := &tally{messagesIn: len(ev.Records), perDst: map[string]*dstTally{}}
	failed := make([]bool, len(ev.Records))
	groups := map[string]*group{}
	var order []string
	var out []settled
	var parked []parkedMessage
	for i := range ev.Records {
		m := &ev.Records[i]
		if n, _ := strconv.Atoi(m.Attributes["ApproximateReceiveCount"]); n >= stack.DeliveryMaxReceiveCount-1 {
			e.log.Error("message received repeatedly without being settled; dead-lettered", "message_id", m.MessageId, "receives", n)
			parked = append(parked, parkedMessage{i, ReasonReceiveLimit})
			continue
		}
		ws, dst := attr(m, stack.AttrWorkspace), attr(m, stack.AttrDestination)
		copies, err := pack.FromMessage([]byte(m.Body), attr(m, stack.AttrFormat), attr(m, stack.AttrDedupID))
		if err == nil && (!phi.ValidID(phi.PrefixWorkspace, ws) || !phi.ValidID(phi.PrefixDestination, dst)) {
			err = errors.New("no valid workspace and destination attributes (is the subscription using raw message delivery?)")
		}
		if err != nil {
			e.log.Error("message is not a fan-out message; dead-lettered", "message_id", m.MessageId, "error", err.Error())
			parked = append(parked, parkedMessage{i, ReasonMalformed})
			continue
		}
		k := ws + "/" + dst
		g := groups[k]
		if g == nil {
			g = &group{ws: ws, dst: dst, attrs: fanOutAttrs(m)}
			groups[k] = g
			order = append(order, k)
		}
		for _, c := range copies {
			g.copies = append(g.copies, c)
			g.owners = append(g.owners, i)
		}
		t.copiesIn += len(copies)
	}

	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, k := range order {
		g := groups[k]
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := e.deliver(ctx, g, t)
			for i := range s {
				s[i].group = k
			}
			mu.Lock()
			out = append(out, s...)
			mu.Unlock()
		}()
	}
	wg.Wait()

	// Malformed and repeatedly received messages go to the dead-letter queue as received.
	for _, p := range parked {
		m := &ev.Records[p.record]
		if err := e.sendRaw(ctx, m, p.reason); err != nil {
			e.log.Error("message not dead-lettered; left for SQS to retry", "message_id", m.MessageId, "reason", p.reason, "error", err.Error())
			failed[p.record] = true
		} else {
			t.malformed++
		}
	}
	for _, owner := range e.settle(ctx, groups, out, t) {
		failed[owner] = true
	}

	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	for i, f := range failed {
		if f {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: ev.Records[i].MessageId})
		}
	}
	t.failed = len(resp.BatchItemFailures)
	e.emit(t)
	e.log.Info("delivery batch processed", "messages", t.messagesIn, "copies", t.copiesIn, "delivered", t.delivered,
		"retried", t.retried, "dead_lettered", t.dead, "short_circuited", t.shorted, "messages_dead_lettered", t.malformed, "failed", t.failed)
	return resp, nil
}

// deliver sends one destination's copies, a chunk at a time, and returns what became of those
// that were not delivered.
func (e *Engine) deliver(ctx context.Context, g *group, t *tally) []settled {
	var out []settled
	// retry settles copy i: re-scheduled after at least floor (and the backoff of its attempts
	// when backoff is set), its attempt counted when counted, or dead-lettered once it has had
	// its attempts.
	retry := func(i int, c pack.Copy, counted bool, reason string, status int, floor time.Duration, backoff bool) {
		if counted {
			c.Attempts++
		}
		s := settled{owner: g.owners[i], c: c, reason: reason, lastReason: reason, status: status, floor: floor, backoff: backoff}
		if counted && c.Attempts >= e.cfg.MaxAttempts {
			s.dead, s.reason = true, ReasonMaxAttempts
		}
		out = append(out, s)
	}
	deadLetter := func(i int, c pack.Copy, reason, lastReason string, status int) {
		out = append(out, settled{owner: g.owners[i], c: c, dead: true, reason: reason, lastReason: lastReason, status: status})
	}
	d, err := e.destination(ctx, g.ws, g.dst)
	var sender Sender
	if err == nil {
		sender = e.cfg.Senders[d.Type]
	}
	for i, c := range g.copies {
		switch {
		case err != nil && phi.ErrorCode(err) == phi.ENOTFOUND:
			deadLetter(i, c, ReasonDestinationNotFound, ReasonDestinationNotFound, 0)
		case err != nil:
			retry(i, c, true, "store-error", 0, 0, true)
		case !d.Enabled:
			deadLetter(i, c, ReasonDestinationDisabled, ReasonDestinationDisabled, 0)
		case sender == nil:
			deadLetter(i, c, ReasonUnsupportedType, ReasonUnsupportedType, 0)
		}
	}
	if len(out) > 0 {
		if err != nil {
			e.log.Warn("destination not loaded", "workspace", g.ws, "destination", g.dst, "error_code", phi.ErrorCode(err))
		}
		return out
	}

	key := g.ws + "/" + g.dst
	batcher, _ := sender.(Batcher)
	batches, sent, delivered := false, 0, 0
	if batcher != nil {
		n, _ := batcher.Batch(d)
		batches = n > 1
	}
	for start := 0; start < len(g.copies); {
		ok, probe, wait := e.breaker.allow(key)
		if !ok || e.pastDeadline(ctx) {
			for i := start; i < len(g.copies); i++ {
				if ok {
					// The invocation is ending: no attempt was made, the copy goes again at once.
					retry(i, g.copies[i], false, "deadline", 0, time.Second, false)
				} else {
					retry(i, g.copies[i], true, "circuit-open", 0, wait, true)
				}
			}
			t.mu.Lock()
			t.shorted += len(g.copies) - start
			t.dst(g.dst).shorted += len(g.copies) - start
			t.mu.Unlock()
			break
		}
		var outcomes []Outcome
		var requests []int
		n := min(cmp.Or(e.cfg.Chunks[d.Type], e.cfg.Chunk), len(g.copies)-start)
		if probe {
			n = 1
		}
		sctx, cancel := context.WithTimeout(ctx, e.cfg.SendTimeout)
		if batches {
			n, outcomes, requests = e.sendBatches(sctx, batcher, d, key, g.copies[start:], g.owners[start:], probe, sent)
			sent = requests[n-1]
		} else {
			outcomes = sender.Send(sctx, d, g.copies[start:start+n])
		}
		cancel()
		chunk := g.copies[start : start+n]
		first := len(out)
		for j, c := range chunk {
			i := start + j
			o := Outcome{Err: errors.New("no outcome"), Reason: "no-outcome"}
			if j < len(outcomes) {
				o = outcomes[j]
			}
			if !batches {
				e.breaker.record(key, o.Err != nil && !o.Permanent)
			}
			before := len(out)
			switch {
			case o.Err == nil:
				delivered++
				t.mu.Lock()
				t.delivered++
				t.dst(g.dst).delivered++
				t.mu.Unlock()
				continue
			case o.Permanent:
				c.Attempts++
				deadLetter(i, c, ReasonRejected, o.Reason, o.Status)
			case o.RetryAfter > 0:
				retry(i, c, true, o.Reason, o.Status, o.RetryAfter, false)
			default:
				retry(i, c, true, o.Reason, o.Status, 0, true)
			}
			if len(out) > before {
				out[before].failure = o.Err.Error()
				if batches {
					out[before].request = requests[j]
				}
			}
			e.log.Warn("copy not delivered", "workspace", g.ws, "destination", g.dst, "dedup_id", c.DedupID,
				"attempt", c.Attempts+1, "reason", o.Reason, "status", o.Status, "permanent", o.Permanent)
		}
		// Copies that failed as the circuit opened would only be short-circuited before it
		// half-opens: they wait for it.
		if wait := e.breaker.openFor(key); wait > 0 {
			for i := first; i < len(out); i++ {
				out[i].floor = max(out[i].floor, wait)
			}
		}
		start += n
	}
	e.track(ctx, g, d, delivered, out)
	return out
}

// sendBatches sends the first of copies to d in requests of at most Batch's copies and bytes,
// and no more than one packed message holds (pack.Fits: a failed request is re-scheduled
// whole, in one message), up to Config.Chunk requests at once (one request of one copy when probe: the half-open
// circuit's probe), records each request's outcome with the breaker, and returns how many
// copies it sent, each one's outcome — its request's — and its request's number (after
// numbered, the requests already sent). A request takes copies of several records only when
// they are fresh (no attempt yet): a re-scheduled record, a failed request's copies, goes as
// that request again. owners are the copies' records.
func (e *Engine) sendBatches(ctx context.Context, b Batcher, d *phi.Destination, key string, copies []pack.Copy, owners []int, probe bool, numbered int) (int, []Outcome, []int) {
	most, bytes := b.Batch(d)
	requests, n := e.cfg.Chunk, 0
	if probe {
		requests, most = 1, 1
	}
	joins := func(i int) bool {
		return owners[i] == owners[i-1] || copies[i].Attempts == 0 && copies[i-1].Attempts == 0
	}
	var bounds []int // the end of each request's copies
	for n < len(copies) && len(bounds) < requests {
		end, size := n+1, pack.Size(copies[n])
		for end < len(copies) && end-n < most && joins(end) && pack.Fits(size+pack.Size(copies[end])) && (bytes <= 0 || size+pack.Size(copies[end]) <= bytes) {
			size += pack.Size(copies[end])
			end++
		}
		bounds = append(bounds, end)
		n = end
	}
	out, nums := make([]Outcome, n), make([]int, n)
	var wg sync.WaitGroup
	for r, end := range bounds {
		begin := 0
		if r > 0 {
			begin = bounds[r-1]
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := b.SendBatch(ctx, d, copies[begin:end])
			e.breaker.record(key, o.Err != nil && !o.Permanent)
			for i := begin; i < end; i++ {
				out[i], nums[i] = o, numbered+r+1
			}
		}()
	}
	wg.Wait()
	return n, out, nums
}

func (e *Engine) pastDeadline(ctx context.Context) bool {
	dl, ok := ctx.Deadline()
	return ok && time.Until(dl) < e.cfg.SendTimeout+deadlineMargin
}

// destination returns the destination, cached for destinationTTL.
func (e *Engine) destination(ctx context.Context, ws, dst string) (*phi.Destination, error) {
	k := ws + "/" + dst
	e.mu.Lock()
	c, ok := e.dests[k]
	e.mu.Unlock()
	if ok && e.cfg.Now().Sub(c.at) < destinationTTL {
		return c.d, nil
	}
	d, err := e.cfg.Store.GetDestination(ctx, ws, dst)
	if err != nil {
		return nil, fmt.Errorf("load destination %s: %w", dst, err)
	}
	e.mu.Lock()
	e.dests[k] = cachedDestination{d: d, at: e.cfg.Now()}
	e.mu.Unlock()
	return d, nil
}

// outKey groups settled copies that travel in one message: same destination, same batched
// request (or none), same fate, same attempts, and for dead letters the same reasons.
type outKey struct {
	group              string
	request            int
	dead               bool
	reason, lastReason string
	status, attempts   int
}

// settle sends the re-scheduled and dead-lettered copies, packed, and returns the owners of the
// copies it could not send.
func (e *Engine) settle(ctx context.Context, groups map[string]*group, out []settled, t *tally) []int {
	type batch struct {
		k       outKey
		copies  []pack.Copy
		owners  []int
		size    int
		floor   time.Duration
		backoff bool
	}
	var batches []*batch
	open := map[outKey]*batch{}
	for _, s := range out {
		k := outKey{group: s.group, request: s.request, dead: s.dead, attempts: s.c.Attempts}
		if s.dead {
			k.reason, k.lastReason, k.status = s.reason, s.lastReason, s.status
		}
		b := open[k]
		if b == nil || !pack.Fits(b.size+pack.Size(s.c)) {
			b = &batch{k: k}
			open[k] = b
			batches = append(batches, b)
		}
		b.copies = append(b.copies, s.c)
		b.owners = append(b.owners, s.owner)
		b.size += pack.Size(s.c)
		b.floor, b.backoff = max(b.floor, s.floor), b.backoff || s.backoff
	}

	var mu sync.Mutex
	var failedOwners []int
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, b := range batches {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			g := groups[b.k.group]
			// One delay per message: its copies' longest floor (Retry-After, an open circuit), or
			// the backoff of their attempts when longer.
			delay := b.floor
			if b.backoff {
				delay = max(delay, e.Backoff(b.k.attempts))
			}
			err := e.send(ctx, g, b.k, b.copies, delay)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				e.log.Error("copies neither re-scheduled nor dead-lettered; their messages are left for SQS to retry",
					"destination", g.dst, "copies", len(b.copies), "dead", b.k.dead, "error", err.Error())
				failedOwners = append(failedOwners, b.owners...)
				return
			}
			t.mu.Lock()
			if b.k.dead {
				t.dead += len(b.copies)
				t.dst(g.dst).dead += len(b.copies)
			} else {
				t.retried += len(b.copies)
				t.dst(g.dst).retried += len(b.copies)
			}
			t.mu.Unlock()
		}()
	}
	wg.Wait()
	return failedOwners
}

// send puts one packed message of copies on the delivery queue (delayed) or its dead-letter
// queue (with why).
func (e *Engine) send(ctx context.Context, g *group, k outKey, copies []pack.Copy, delay time.Duration) error {
	body, err := pack.Encode(copies)
	if err != nil {
		return err
	}
	attrs := map[string]sqstypes.MessageAttributeValue{stack.AttrFormat: str(pack.Format)}
	for name, v := range g.attrs {
		attrs[name] = str(v)
	}
	in := &sqs.SendMessageInput{QueueUrl: aws.String(e.cfg.QueueURL), MessageBody: aws.String(string(body)), MessageAttributes: attrs}
	if k.dead {
		in.QueueUrl = aws.String(e.cfg.DLQURL)
		delete(attrs, stack.AttrSource) // SQS allows 10 attributes; the source is not needed to deliver
		attrs[stack.AttrReason] = str(k.reason)
		attrs[stack.AttrLastReason] = str(k.lastReason)
		attrs[stack.AttrLastStatus] = num(k.status)
		attrs[stack.AttrAttempts] = num(k.attempts)
		attrs[stack.AttrDeadLetteredAt] = str(e.cfg.Now().UTC().Format(time.RFC3339))
	} else {
		in.DelaySeconds = int32((min(max(delay, time.Second), MaxDelay) + time.Second - 1) / time.Second)
	}
	if _, err := e.cfg.Queue.SendMessage(ctx, in); err != nil {
		return fmt.Errorf("send to the %s: %w", map[bool]string{true: "dead-letter queue", false: "delivery queue"}[k.dead], err)
	}
	return nil
}

// parkedMessage is a record dead-lettered as received, and why.
type parkedMessage struct {
	record int
	reason string
}

// sendRaw dead-letters a message as received, with reason.
func (e *Engine) sendRaw(ctx context.Context, m *events.SQSMessage, reason string) error {
	attrs := map[string]sqstypes.MessageAttributeValue{
		stack.AttrReason:         str(reason),
		stack.AttrLastReason:     str(reason),
		stack.AttrAttempts:       num(0),
		stack.AttrDeadLetteredAt: str(e.cfg.Now().UTC().Format(time.RFC3339)),
	}
	for _, name := range []string{stack.AttrWorkspace, stack.AttrDestination, stack.AttrDestinationType, stack.AttrFormat, stack.AttrDedupID} {
		if v := attr(m, name); v != "" {
			attrs[name] = str(v)
		}
	}
	body := m.Body
	if body == "" {
		body = "(empty)" // SQS refuses an empty body
	}
	_, err := e.cfg.Queue.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(e.cfg.DLQURL), MessageBody: aws.String(body), MessageAttributes: attrs})
	if err != nil {
		return fmt.Errorf("send to the dead-letter queue: %w", err)
	}
	return nil
}

// emit writes the invocation's counts: totals under Function, and per destination under
// Function and DestinationId.
func (e *Engine) emit(t *tally) {
	fn := emf.Dimension{Name: "Function", Value: stack.FunctionDelivery}
	e.metrics.Counts([]emf.Dimension{fn}, map[string]int{
		"MessagesIn": t.messagesIn, "CopiesIn": t.copiesIn, "CopiesDelivered": t.delivered, "CopiesRetried": t.retried,
		"CopiesDeadLettered": t.dead, "CopiesShortCircuited": t.shorted, "MessagesDeadLettered": t.malformed, "MessagesFailed": t.failed,
	})
	for id, d := range t.perDst {
		e.metrics.Counts([]emf.Dimension{fn, {Name: "DestinationId", Value: id}}, map[string]int{
			"CopiesDelivered": d.delivered, "CopiesRetried": d.retried, "CopiesDeadLettered": d.dead, "CopiesShortCircuited": d.shorted,
		})
	}
}

// fanOutAttrs returns the attributes of m that a re-scheduled copy keeps.
func fanOutAttrs(m *events.SQSMessage) map[string]string {
	out := map[string]string{}
	for _, name := range []string{stack.AttrWorkspace, stack.AttrSource, stack.AttrDestination, stack.AttrDestinationType} {
		if v := attr(m, name); v != "" {
			out[name] = v
		}
	}
	return out
}

func attr(m *events.SQSMessage, name string) string {
	if a, ok := m.MessageAttributes[name]; ok && a.StringValue != nil {
		return *a.StringValue
	}
	return ""
}

func str(v string) sqstypes.MessageAttributeValue {
	return sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
}

func num(v int) sqstypes.MessageAttributeValue {
	return sqstypes.MessageAttributeValue{DataType: aws.String("Number"), StringValue: aws.String(strconv.Itoa(v))}
}
