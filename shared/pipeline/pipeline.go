// Package pipeline is the hashing function's handler: it takes SQS batches of Segment-spec
// events, protects every event once per destination connected to its source (shared/transform
// with the destination's keys), publishes the copies to the fan-out topic — packed, per
// destination, into as few SNS messages as fit (shared/pack) —, parks permanent failures on the
// rejected-events queue and reports transient ones as batch item failures.
//
// # Guarantees
//
//   - Nothing is lost: a message is acknowledged only when every copy of every event in it
//     has been published and every rejected part of it is on the rejected-events queue.
//     Anything else makes it a batch item failure: SQS redelivers it and, after the redrive
//     limit, moves it to the DLQ. Redelivery republishes copies with the same dedup ids
//     ([DedupID]), so delivery is at least once and duplicates are recognisable. A pack SNS
//     refuses fails every message with a copy in it; a message that fails while the packs
//     fill leaves its copies out of the packs still to be published.
//   - Nothing leaves in clear: a field that must be encrypted or HMACed but cannot be (no
//     active key, a revoked or unparsable key, a value too large for RSA, the workspace no
//     longer HIPAA eligible, hashing switched off with fields still listed) is removed and
//     counted, and the copy's manifest names it under "dropped".
//   - Fields nobody has classified are not sent in clear when the workspace's matchers
//     recommend them yellow or red: per destination (phi.HashingSettings.Unreviewed, by default
//     protect when hashing is enabled in a HIPAA-eligible workspace) they get the destination's
//     default treatment or are removed, and the manifest marks them "unreviewed". Key matchers
//     judge each path once per configuration snapshot; value matchers judge each value of a path
//     no key matcher fires on (see review; docs/ENCRYPTION.md, section 6.4).
//   - Event keys are matched case-insensitively, and keys with '.', '[' or ']' are addressable
//     (the field-path grammar of shared/fieldpath); the inbox receives them escaped.
//   - The hot path makes no KMS call and at most one DynamoDB query per workspace per cache
//     TTL ([DefaultCacheTTL], stack.EnvConfigCacheTTL). HMAC keys are decrypted through KMS on
//     first use and kept while they stay active.
//   - Logs carry ids, counts, reasons and error codes, never event content; metrics are
//     CloudWatch Embedded Metric Format lines.
//
// Producers' contract (message attributes, accepted events, rejection reasons) is in
// docs/PRODUCERS.md.
package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/phiguard/phiguard/shared/emf"
	"github.com/phiguard/phiguard/shared/fieldcrypt"
	"github.com/phiguard/phiguard/shared/pack"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/privacy"
	"github.com/phiguard/phiguard/shared/transform"
)

// Store is the configuration the pipeline reads and the Privacy Portal inbox it feeds
// (*dynamo.Store). LoadSnapshot returns a workspace's configuration and its custom matchers.
type Store interface {
	LoadSnapshot(ctx context.Context, wsID string) (*phi.Snapshot, []privacy.Matcher, error)
	RecordInboxPaths(ctx context.Context, wsID, sourceID string, paths []string) error
}

// Publisher publishes copies to the fan-out topic (*sns.Client).
type Publisher interface {
	PublishBatch(ctx context.Context, in *sns.PublishBatchInput, optFns ...func(*sns.Options)) (*sns.PublishBatchOutput, error)
}

// Sender puts messages on the rejected-events queue (*sqs.Client).
type Sender interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// Decrypter decrypts HMAC keys (*kms.Client).
type Decrypter interface {
	Decrypt(ctx context.Context, in *kms.DecryptInput, optFns ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

// Config wires a Handler. Store, SNS, SQS, KMS, TopicARN and RejectedQueueURL are required.
type Config struct {
	Store            Store
	SNS              Publisher
	SQS              Sender
	KMS              Decrypter
	TopicARN         string
	RejectedQueueURL string
	// KMSKeyID, when set, is passed to Decrypt so that only the service key is used.
	KMSKeyID string
	// CacheTTL is how long a workspace's configuration is cached; 0 means DefaultCacheTTL.
	CacheTTL time.Duration
	// Logger receives JSON logs (ids and counts only); nil discards them.
	Logger *slog.Logger
	// Metrics receives Embedded Metric Format lines (stdout in Lambda); nil disables metrics.
	Metrics io.Writer
	// PublishAttempts (default 5), RetryBase (default 50ms) and PublishConcurrency (default 8
	// PublishBatch calls in flight) tune the fan-out.
	PublishAttempts    int
	RetryBase          time.Duration
	PublishConcurrency int
	// Now is the clock of the cache; nil means time.Now.
	Now func() time.Time
	// SingleCopies publishes every copy as an SNS message of its own (the format of earlier
	// releases, stack.EnvFanOutFormat "single") instead of packing the copies of an invocation
	// for one destination into as few messages as the size limit allows (shared/pack).
	SingleCopies bool
}

// Handler is the hashing function. Build it once per container with New; Handle is safe for
// concurrent use, although Lambda calls it one invocation at a time.
type Handler struct {
	sqs         Sender
	sns         Publisher
	topic       string
	rejectedURL string
	log         *slog.Logger
	cache       *cache
	inbox       *inbox
	metrics     *metrics
	attempts    int
	base        time.Duration
	concurrency int
	single      bool
}

// New returns a Handler. It makes no network call (HMAC keys are decrypted on first use). It
// returns an error naming the missing dependency when cfg is incomplete.
func New(cfg Config) (*Handler, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("pipeline: Config.Store is required")
	case cfg.SNS == nil:
		return nil, errors.New("pipeline: Config.SNS is required")
	case cfg.SQS == nil:
		return nil, errors.New("pipeline: Config.SQS is required")
	case cfg.KMS == nil:
		return nil, errors.New("pipeline: Config.KMS is required")
	case cfg.TopicARN == "":
		return nil, errors.New("pipeline: Config.TopicARN (the fan-out topic) is required")
	case cfg.RejectedQueueURL == "":
		return nil, errors.New("pipeline: Config.RejectedQueueURL (the rejected-events queue) is required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	ttl := cfg.CacheTTL
	if ttl <= 0 {
		ttl = DefaultCacheTTL
	}
	h := &Handler{
		sqs: cfg.SQS, sns: cfg.SNS, topic: cfg.TopicARN, rejectedURL: cfg.RejectedQueueURL, log: log,
		cache:       &cache{store: cfg.Store, kms: cfg.KMS, kmsKeyID: cfg.KMSKeyID, ttl: ttl, now: now, log: log},
		inbox:       &inbox{store: cfg.Store, log: log},
		attempts:    orDefault(cfg.PublishAttempts, 5),
		base:        cfg.RetryBase,
		concurrency: orDefault(cfg.PublishConcurrency, 8),
		single:      cfg.SingleCopies,
	}
	if h.base <= 0 {
		h.base = 50 * time.Millisecond
	}
	if cfg.Metrics != nil {
		h.metrics = &metrics{w: emf.New(cfg.Metrics, MetricsNamespace, now), function: "hashing"}
	}
	return h, nil
}

func orDefault(v, d int) int {
	if v <= 0 {
		return d
	}
	return v
}

// invocation is the state of one Handle call.
type invocation struct {
	pub   *publisher
	inbox *inboxRun
	runs  map[*destination]*destRun
	tr    transform.Transformer
	buf   []byte
	paths []string
	c     counts
	fail  map[int]bool
	// dropped counts fields dropped fail-closed per destination, logged once per invocation.
	dropped map[dstKey]int
	// degraded counts the copies for destinations whose hashing is degraded, per destination
	// and reason; logged once per invocation and emitted as CopiesDegraded.
	degraded map[degradedKey]int
	// packs are the copies waiting to be published, per destination id, in packed mode.
	packs map[string]*packing
}

// dstKey names a destination of a workspace.
type dstKey struct{ ws, dst string }

// ingest is the ingest message being processed: its index in the batch, the message and the
// workspace and source it was sent for.
type ingest struct {
	i       int
	m       *events.SQSMessage
	ws, src string
}

// destRun is a destination's keys for one invocation: one Encrypter (one HPKE encapsulation)
// shared by every event of the invocation.
type destRun struct {
	prot transform.Protectors
	err  error // transient: the messages needing this destination are retried
}

// Handle processes one SQS batch and returns the messages SQS must redeliver. It returns an
// error only for a batch it cannot process at all (never for one bad message).
func (h *Handler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	start := time.Now()
	inv := &invocation{
		pub:      newPublisher(h.sns, h.topic, h.concurrency, h.attempts, h.base, h.log),
		inbox:    h.inbox.start(ctx),
		runs:     map[*destination]*destRun{},
		fail:     map[int]bool{},
		dropped:  map[dstKey]int{},
		degraded: map[degradedKey]int{},
		packs:    map[string]*packing{},
	}
	for i := range ev.Records {
		h.message(ctx, inv, i, &ev.Records[i])
	}
	h.flushPacks(ctx, inv)
	inv.pub.wait(ctx)
	inv.inbox.finish(ctx)

	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	for i := range ev.Records {
		if inv.fail[i] || inv.pub.failed[i] {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: ev.Records[i].MessageId})
		}
	}
	inv.c.MessagesIn = len(ev.Records)
	inv.c.MessagesFailed = len(resp.BatchItemFailures)
	for _, n := range inv.pub.published {
		inv.c.CopiesOut += n
	}
	for k, n := range inv.dropped {
		h.log.Warn("fields dropped fail-closed", "workspace", k.ws, "destination", k.dst, "count", n)
	}
	for k, n := range inv.degraded {
		inv.c.CopiesDegraded += n
		h.log.Warn("copies for a destination whose hashing is degraded: its protected fields are removed", "destination", k.dst, "reason", k.reason, "copies", n)
	}
	h.metrics.emit(inv.c, inv.pub.published, inv.degraded)
	h.log.Info("batch processed", "messages", inv.c.MessagesIn, "events", inv.c.EventsIn,
		"copies", inv.c.CopiesOut, "rejected_messages", inv.c.MessagesRejected, "rejected_events", inv.c.EventsRejected,
		"failed_messages", inv.c.MessagesFailed, "fields_protected", inv.c.FieldsProtected,
		"fields_dropped", inv.c.FieldsDropped, "duration_ms", time.Since(start).Milliseconds())
	return resp, nil
}

// message processes ingest message i.
func (h *Handler) message(ctx context.Context, inv *invocation, i int, m *events.SQSMessage) {
	body := []byte(m.Body)
	rejectMessage := func(ws, src string, why *rejection) {
		inv.c.MessagesRejected++
		h.log.Warn("message rejected", "message_id", m.MessageId, "workspace", ws, "source", src, "reason", why.reason)
		if err := h.sendRejected(ctx, rejected{body: body, why: why, messageID: m.MessageId, ws: ws, src: src, eventIndex: -1}); err != nil {
			h.transient(inv, i, m, "reject", err)
		}
	}
	ws, src, why := route(m)
	if why != nil {
		// Echo the ids only when they are well formed.
		if !phi.ValidID(phi.PrefixWorkspace, ws) {
			ws = ""
		}
		if !phi.ValidID(phi.PrefixSource, src) {
			src = ""
		}
		rejectMessage(ws, src, why)
		return
	}
	wc, err := h.cache.get(ctx, ws, src)
	if err != nil {
		h.transient(inv, i, m, "load configuration", err)
		return
	}
	if wc.notFound {
		rejectMessage(ws, src, reject(ReasonUnknownWorkspace, "workspace %s does not exist", ws))
		return
	}
	if wc.closed {
		rejectMessage(ws, src, reject(ReasonWorkspaceClosed, "workspace %s is closed", ws))
		return
	}
	dests, known := wc.sources[src]
	if !known {
		rejectMessage(ws, src, reject(ReasonUnknownSource, "source %s does not exist in workspace %s", src, ws))
		return
	}
	evs, batch, why := splitEvents(body)
	if why != nil {
		rejectMessage(ws, src, why)
		return
	}
	for k, raw := range evs {
		inv.c.EventsIn++
		e, paths, why := checkEvent(raw, inv.paths[:0])
		inv.paths = paths
		if why == nil {
			inv.inbox.offer(ws, src, paths)
			var ok bool
			if why, ok = h.fanOut(ctx, inv, ingest{i: i, m: m, ws: ws, src: src}, dests, e, raw); !ok {
				return
			}
		}
		if why == nil {
			continue
		}
		if !batch {
			rejectMessage(ws, src, why)
			return
		}
		inv.c.EventsRejected++
		h.log.Warn("event rejected", "message_id", m.MessageId, "workspace", ws, "source", src, "event_index", k, "reason", why.reason)
		if err := h.sendRejected(ctx, rejected{body: raw, why: why, messageID: m.MessageId, ws: ws, src: src, eventIndex: k}); err != nil {
			h.transient(inv, i, m, "reject", err)
			return
		}
	}
}

// fanOut protects event raw for every destination and queues the copies, or none of them. It
// returns a rejection when a copy can never be published (it would exceed the SNS message
// limit: protection makes short values much longer, so an event under MaxEventBytes with many
// small protected array elements can produce one), and false when the message has failed
// (transiently) and processing it further is pointless.
func (h *Handler) fanOut(ctx context.Context, inv *invocation, in ingest, dests []*destination, e event, raw []byte) (*rejection, bool) {
	copies := make([]copyOut, 0, len(dests))
	for _, d := range dests {
		if d.planErr != nil {
			h.transient(inv, in.i, in.m, "compile destination "+d.id, d.planErr)
			return nil, false
		}
		run := h.prepare(ctx, inv, d)
		if run.err != nil {
			h.transient(inv, in.i, in.m, "prepare destination "+d.id, run.err)
			return nil, false
		}
		out, res, err := inv.tr.Apply(inv.buf[:0], raw, d.plan, run.prot)
		if err != nil {
			// checkEvent validated raw with the same scanner; this cannot happen.
			h.transient(inv, in.i, in.m, "transform for destination "+d.id, err)
			return nil, false
		}
		inv.buf = out
		inv.c.FieldsProtected += res.Protected
		inv.c.FieldsDropped += res.Dropped
		inv.c.FieldsBlocked += res.Blocked
		inv.c.FieldsRedacted += res.Redacted
		if res.Dropped > 0 {
			inv.dropped[dstKey{in.ws, d.id}] += res.Dropped
		}
		if d.degraded != "" {
			inv.degraded[degradedKey{d.id, d.degraded}]++
		}
		dedup := DedupID(e.messageID, d.id)
		c := copyOut{owners: []int{in.i}, copies: 1, dst: d.id, entry: snstypes.PublishBatchRequestEntry{
			Message: aws.String(string(out)),
			MessageAttributes: map[string]snstypes.MessageAttributeValue{
				AttrWorkspace:       strAttrSNS(in.ws),
				AttrSource:          strAttrSNS(in.src),
				AttrDestination:     strAttrSNS(d.id),
				AttrDestinationType: strAttrSNS(d.typ),
				AttrDedupID:         strAttrSNS(dedup),
			},
		}}
		c.size = len(out) + attrsSize(c.entry.MessageAttributes)
		if c.size > publishBatchBytes {
			// Retrying the same event cannot make the copy smaller: a permanent rejection.
			return reject(ReasonOversize, "the protected copy for destination %s would be %d bytes, over the %d-byte SNS message limit; send fewer protected values (array elements) per event",
				d.id, c.size, publishBatchBytes), true
		}
		if !h.single {
			pc := pack.Copy{DedupID: dedup, Event: json.RawMessage(aws.ToString(c.entry.Message))}
			if pack.Fits(pack.Size(pc)) {
				// Packed at the end of the message; a copy too large for a pack of its own
				// goes out alone, in the single-copy format.
				c.packed, c.pc, c.ws, c.src, c.typ = true, pc, in.ws, in.src, d.typ
			}
		}
		copies = append(copies, c)
	}
	for _, c := range copies {
		if c.packed {
			h.addToPack(ctx, inv, c)
			continue
		}
		inv.pub.add(ctx, c)
	}
	return nil, true
}

// prepare returns destination d's keys for this invocation, creating its Encrypter and
// fetching its HMAC key on first use.
func (h *Handler) prepare(ctx context.Context, inv *invocation, d *destination) *destRun {
	if r := inv.runs[d]; r != nil {
		return r
	}
	r := &destRun{}
	inv.runs[d] = r
	if !d.useKeys {
		return r // encrypt and hmac fields are dropped fail-closed
	}
	if d.needEnc && d.enc != nil && d.enc.pub != nil {
		enc, err := fieldcrypt.NewEncrypter(d.enc.pub, d.enc.id)
		if err != nil {
			h.log.Error("encrypter not created; encrypt fields are dropped", "destination", d.id, "key", d.enc.id, "error", err.Error())
		} else {
			r.prot.Sealer, r.prot.Algorithm, r.prot.KeyID = enc, string(enc.Algorithm()), d.enc.id
		}
	}
	if d.needHMAC && d.hmac != nil {
		key, err := h.cache.hmacKey(ctx, d.hmac)
		switch {
		case errors.Is(err, errTransient):
			r.err = err
		case err != nil:
			h.log.Error("HMAC key unusable; hmac fields are dropped", "destination", d.id, "key", d.hmac.ID, "error_code", errorCode(err))
		default:
			r.prot.HMAC = fixedHMAC{id: d.hmac.ID, key: key}
		}
	}
	return r
}

// transient marks message i for redelivery.
func (h *Handler) transient(inv *invocation, i int, m *events.SQSMessage, op string, err error) {
	inv.fail[i] = true
	h.log.Error("message will be retried", "message_id", m.MessageId, "op", op, "error_code", errorCode(err))
}

func strAttrSNS(v string) snstypes.MessageAttributeValue {
	return snstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
}
