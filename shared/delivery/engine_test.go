package delivery_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/delivery"
	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/fn/fntest"
	"github.com/phiguard/phiguard/shared/logtest"
	"github.com/phiguard/phiguard/shared/pack"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

// queues is a delivery queue and its dead-letter queue in the emulator (moto), with a client
// that records what the engine sent (the calls go through to moto).
type queues struct {
	sqs      *sqs.Client
	url, dlq string

	mu   sync.Mutex
	sent []*sqs.SendMessageInput
}

func newQueues(t *testing.T) *queues {
	t.Helper()
	c := awstest.Clients(t).SQS
	dlq := awstest.Queue(t, c, "delivery")
	return &queues{sqs: c, url: awstest.Queue(t, c, "delivery"), dlq: dlq}
}

// SendMessage records in and sends it to moto.
func (q *queues) SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	q.mu.Lock()
	q.sent = append(q.sent, in)
	q.mu.Unlock()
	return q.sqs.SendMessage(ctx, in, opts...)
}

// sentTo returns the recorded sends to url.
func (q *queues) sentTo(url string) []*sqs.SendMessageInput {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []*sqs.SendMessageInput
	for _, in := range q.sent {
		if aws.ToString(in.QueueUrl) == url {
			out = append(out, in)
		}
	}
	return out
}

// senderFunc is a Sender from a function.
type senderFunc func(ctx context.Context, d *phi.Destination, copies []pack.Copy) []delivery.Outcome

func (f senderFunc) Send(ctx context.Context, d *phi.Destination, copies []pack.Copy) []delivery.Outcome {
	return f(ctx, d, copies)
}

// fixture is a workspace with destinations in the emulator's table, the queues, and a sender
// whose answer per destination the test sets.
type fixture struct {
	t      *testing.T
	store  *dynamo.Store
	q      *queues
	ws     string
	now    time.Time
	logs   *logtest.Buffer
	answer map[string]func(c pack.Copy) delivery.Outcome // by destination id

	mu    sync.Mutex
	calls map[string][]string // destination id → dedup ids sent
}

func newFixture(t *testing.T) *fixture {
	store, _ := fntest.Table(t)
	ws := &phi.Workspace{ID: phi.NewID(phi.PrefixWorkspace), Name: "Clinic", Tier: phi.TierBusiness, BAA: phi.BAA{Signed: true}}
	fntest.Seed(t, store, ws)
	return &fixture{t: t, store: store, q: newQueues(t), ws: ws.ID, now: time.Unix(1_750_000_000, 0), logs: &logtest.Buffer{},
		answer: map[string]func(pack.Copy) delivery.Outcome{}, calls: map[string][]string{}}
}

func (f *fixture) destination(enabled bool, answer func(pack.Copy) delivery.Outcome) string {
	f.t.Helper()
	d := &phi.Destination{ID: phi.NewID(phi.PrefixDestination), WorkspaceID: f.ws, SourceID: fntest.SourceID, Name: "hook",
		Type: phi.DestinationWebhook, Enabled: enabled, Settings: phi.DestinationSettings{URL: "https://hooks.example.com/in"}}
	if err := f.store.CreateDestination(f.t.Context(), d); err != nil {
		f.t.Fatal(err)
	}
	f.answer[d.ID] = answer
	return d.ID
}

func (f *fixture) engine(mod func(*delivery.Config)) *delivery.Engine {
	f.t.Helper()
	cfg := delivery.Config{
		Store: f.store, Queue: f.q, QueueURL: f.q.url, DLQURL: f.q.dlq, Logger: slog.New(slog.NewJSONHandler(f.logs, nil)),
		Senders: map[phi.DestinationType]delivery.Sender{phi.DestinationWebhook: senderFunc(f.send)},
		Now:     func() time.Time { return f.now },
		Jitter:  func(d time.Duration) time.Duration { return d }, // the ceiling: deterministic
	}
	if mod != nil {
		mod(&cfg)
	}
	e, err := delivery.New(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	return e
}

func (f *fixture) send(_ context.Context, d *phi.Destination, copies []pack.Copy) []delivery.Outcome {
	out := make([]delivery.Outcome, len(copies))
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, c := range copies {
		f.calls[d.ID] = append(f.calls[d.ID], c.DedupID)
		out[i] = f.answer[d.ID](c)
	}
	return out
}

func (f *fixture) sentTo(dst string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls[dst])
}

// packed is an SQS record of a packed fan-out message for dst.
func (f *fixture) packed(id, dst string, copies ...pack.Copy) events.SQSMessage {
	f.t.Helper()
	b, err := pack.Encode(copies)
	if err != nil {
		f.t.Fatal(err)
	}
	return record(id, string(b), map[string]string{stack.AttrWorkspace: f.ws, stack.AttrDestination: dst,
		stack.AttrDestinationType: "webhook", stack.AttrSource: fntest.SourceID, stack.AttrFormat: pack.Format})
}

// single is an SQS record of a single-copy message (the format of earlier releases).
func (f *fixture) single(id, dst, dedup string) events.SQSMessage {
	return record(id, `{"type":"track","n":"`+dedup+`"}`, map[string]string{stack.AttrWorkspace: f.ws, stack.AttrDestination: dst,
		stack.AttrDestinationType: "webhook", stack.AttrDedupID: dedup})
}

func record(id, body string, attrs map[string]string) events.SQSMessage {
	m := events.SQSMessage{MessageId: id, Body: body, MessageAttributes: map[string]events.SQSMessageAttribute{}}
	for k, v := range attrs {
		m.MessageAttributes[k] = events.SQSMessageAttribute{StringValue: aws.String(v), DataType: "String"}
	}
	return m
}

func copies(prefix string, n, attempts int) []pack.Copy {
	out := make([]pack.Copy, n)
	for i := range out {
		out[i] = pack.Copy{DedupID: fmt.Sprintf("%s-%d", prefix, i), Event: json.RawMessage(`{"type":"track","i":` + strconv.Itoa(i) + `}`), Attempts: attempts}
	}
	return out
}

func ok(pack.Copy) delivery.Outcome { return delivery.Outcome{Status: 200} }

func failing(status int, retryAfter time.Duration) func(pack.Copy) delivery.Outcome {
	return func(pack.Copy) delivery.Outcome {
		return delivery.Outcome{Err: errors.New("unavailable"), Status: status, RetryAfter: retryAfter, Reason: "http-" + strconv.Itoa(status)}
	}
}

func rejecting(pack.Copy) delivery.Outcome {
	return delivery.Outcome{Err: errors.New("rejected"), Status: 400, Permanent: true, Reason: "http-400"}
}

func noFailures(t *testing.T, resp events.SQSEventResponse, err error) {
	t.Helper()
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Handle = %+v, %v; want every batch item to succeed", resp.BatchItemFailures, err)
	}
}

func attrOf(m sqstypes.Message, name string) string {
	return aws.ToString(m.MessageAttributes[name].StringValue)
}

func decode(t *testing.T, body string) []pack.Copy {
	t.Helper()
	cs, err := pack.Decode([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// A batch mixing a healthy destination with ones that fail: the healthy one's copies (packed
// and single-copy) are delivered in this invocation, every batch item succeeds, and each failed
// copy is re-scheduled on its own — with its attempt counted, after Retry-After when the
// destination sent one, else after the backoff of its attempt.
func TestFailedCopiesAreRescheduledAloneAndTheBatchSucceeds(t *testing.T) {
	f := newFixture(t)
	healthy := f.destination(true, ok)
	down := f.destination(true, failing(500, 0))
	throttled := f.destination(true, failing(429, 2*time.Minute))
	flaky := f.destination(true, func(c pack.Copy) delivery.Outcome {
		if c.DedupID == "flaky-1" {
			return failing(503, 0)(c)
		}
		return ok(c)
	})
	e := f.engine(nil)
	resp, err := e.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{
		f.packed("m1", healthy, copies("healthy", 3, 0)...),
		f.single("m2", healthy, "legacy-1"),
		f.packed("m3", down, copies("down", 2, 0)...),
		f.packed("m4", down, copies("down-later", 1, 3)...),
		f.packed("m5", throttled, copies("throttled", 1, 0)...),
		f.packed("m6", flaky, copies("flaky", 3, 0)...),
	}})
	noFailures(t, resp, err)
	if got := f.sentTo(healthy); len(got) != 4 {
		t.Fatalf("the healthy destination got %v; want its 4 copies in the first invocation", got)
	}

	type retry struct {
		dst      string
		dedups   []string
		attempts int
		delay    int32
	}
	var got []retry
	for _, in := range f.q.sentTo(f.q.url) {
		cs := decode(t, aws.ToString(in.MessageBody))
		r := retry{dst: aws.ToString(in.MessageAttributes[stack.AttrDestination].StringValue), attempts: cs[0].Attempts, delay: in.DelaySeconds}
		for _, c := range cs {
			r.dedups = append(r.dedups, c.DedupID)
			if c.Attempts != r.attempts {
				t.Errorf("one message mixes attempts %d and %d", r.attempts, c.Attempts)
			}
		}
		if a := in.MessageAttributes; aws.ToString(a[stack.AttrFormat].StringValue) != pack.Format || aws.ToString(a[stack.AttrWorkspace].StringValue) != f.ws ||
			aws.ToString(a[stack.AttrDestinationType].StringValue) != "webhook" {
			t.Errorf("re-scheduled message lacks the fan-out attributes: %v", a)
		}
		got = append(got, r)
	}
	slices.SortFunc(got, func(a, b retry) int {
		if a.delay != b.delay {
			return int(a.delay) - int(b.delay)
		}
		return len(b.dedups) - len(a.dedups)
	})
	want := []retry{
		{down, []string{"down-0", "down-1"}, 1, 10},  // first retry: the 10 s backoff ceiling
		{flaky, []string{"flaky-1"}, 1, 10},          // only the copy that failed
		{down, []string{"down-later-0"}, 4, 80},      // fourth attempt failed: 10 s · 2³
		{throttled, []string{"throttled-0"}, 1, 120}, // Retry-After wins over the backoff
	}
	if len(got) != len(want) {
		t.Fatalf("re-scheduled %+v; want %+v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		slices.Sort(g.dedups)
		if g.dst != w.dst || !slices.Equal(g.dedups, w.dedups) || g.attempts != w.attempts || g.delay != w.delay {
			t.Errorf("re-scheduled %+v; want %+v", g, w)
		}
	}
	if n := len(f.q.sentTo(f.q.dlq)); n != 0 {
		t.Errorf("%d messages dead-lettered; want none", n)
	}
	// The re-scheduled messages are in the emulator's queue (delayed), and the logs name
	// reasons and ids, never an event.
	out, err := f.q.sqs.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(f.q.url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed, sqstypes.QueueAttributeNameApproximateNumberOfMessages}})
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed)])
	v, _ := strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
	if n+v != 4 {
		t.Errorf("the delivery queue holds %d delayed and %d visible messages; want 4 in all", n, v)
	}
	if logs := f.logs.String(); !strings.Contains(logs, `"reason":"http-429"`) || strings.Contains(logs, `"type":"track"`) {
		t.Errorf("logs should name reasons and never carry events:\n%s", logs)
	}
}

// Backoff is full jitter over 10 s doubling per attempt, capped at SQS's 15 minutes, never
// under a second.
func TestBackoffIsFullJitterCappedAtFifteenMinutes(t *testing.T) {
	f := newFixture(t)
	top := f.engine(nil)
	bottom := f.engine(func(c *delivery.Config) { c.Jitter = func(time.Duration) time.Duration { return 0 } })
	for n, want := range map[int]time.Duration{1: 10 * time.Second, 2: 20 * time.Second, 4: 80 * time.Second, 7: 640 * time.Second, 8: 900 * time.Second, 19: 900 * time.Second, 64: 900 * time.Second} {
		if got := top.Backoff(n); got != want {
			t.Errorf("Backoff(%d) at the top of the jitter = %v, want %v", n, got, want)
		}
		if got := bottom.Backoff(n); got != time.Second {
			t.Errorf("Backoff(%d) at the bottom of the jitter = %v, want 1s", n, got)
		}
	}
	random := f.engine(func(c *delivery.Config) { c.Jitter = nil })
	seen := map[time.Duration]bool{}
	for range 50 {
		d := random.Backoff(3)
		if d < time.Second || d > 40*time.Second {
			t.Fatalf("Backoff(3) = %v, outside [1s, 40s]", d)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Errorf("50 backoffs took only %d values; want jitter", len(seen))
	}
}

// A permanent refusal is dead-lettered at once, and a copy that fails its last attempt too;
// each dead letter says why, with the last attempt's failure and status, the attempts, the
// workspace and the destination. Messages that are not fan-out messages, and copies of
// deleted, disabled or unsupported destinations, are dead-lettered with their reasons.
func TestDeadLettersSayWhyTheyAreThere(t *testing.T) {
	f := newFixture(t)
	refusing := f.destination(true, rejecting)
	down := f.destination(true, failing(503, 0))
	disabled := f.destination(false, ok)
	healthy := f.destination(true, ok)
	gone := phi.NewID(phi.PrefixDestination)
	again := f.packed("m7", healthy, copies("again", 1, 0)...)
	again.Attributes = map[string]string{"ApproximateReceiveCount": strconv.Itoa(stack.DeliveryMaxReceiveCount - 1)}
	e := f.engine(func(c *delivery.Config) { c.MaxAttempts = 5 })
	resp, err := e.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{
		f.packed("m1", refusing, copies("refused", 2, 0)...),
		f.packed("m2", down, copies("last", 1, 4)...),
		f.packed("m3", disabled, copies("disabled", 1, 0)...),
		f.packed("m4", gone, copies("gone", 1, 0)...),
		record("m5", `not json`, map[string]string{stack.AttrWorkspace: f.ws, stack.AttrDestination: down}),
		record("m6", `{"type":"track"}`, nil),
		again, // received repeatedly without being settled: parked as received
	}})
	noFailures(t, resp, err)
	if n := len(f.sentTo(disabled)) + len(f.sentTo(healthy)); n != 0 {
		t.Errorf("the disabled destination, or the repeatedly received message's, was called %d times", n)
	}
	type dead struct{ dst, reason, lastReason, status, attempts string }
	want := map[string]dead{
		"refused-0":  {refusing, delivery.ReasonRejected, "http-400", "400", "1"},
		"refused-1":  {refusing, delivery.ReasonRejected, "http-400", "400", "1"},
		"last-0":     {down, delivery.ReasonMaxAttempts, "http-503", "503", "5"},
		"disabled-0": {disabled, delivery.ReasonDestinationDisabled, delivery.ReasonDestinationDisabled, "0", "0"},
		"gone-0":     {gone, delivery.ReasonDestinationNotFound, delivery.ReasonDestinationNotFound, "0", "0"},
		"again-0":    {healthy, delivery.ReasonReceiveLimit, delivery.ReasonReceiveLimit, "", "0"},
	}
	got := map[string]dead{}
	var malformed []string
	for _, m := range awstest.Receive(t, f.q.sqs, f.q.dlq, 0, 0) {
		if ws := attrOf(m, stack.AttrWorkspace); ws != f.ws && attrOf(m, stack.AttrReason) != delivery.ReasonMalformed {
			t.Errorf("dead letter of workspace %q, want %s", ws, f.ws)
		}
		if _, err := time.Parse(time.RFC3339, attrOf(m, stack.AttrDeadLetteredAt)); err != nil {
			t.Errorf("deadLetteredAt %q: %v", attrOf(m, stack.AttrDeadLetteredAt), err)
		}
		if attrOf(m, stack.AttrReason) == delivery.ReasonMalformed {
			malformed = append(malformed, aws.ToString(m.Body))
			continue
		}
		for _, c := range decode(t, aws.ToString(m.Body)) {
			got[c.DedupID] = dead{attrOf(m, stack.AttrDestination), attrOf(m, stack.AttrReason), attrOf(m, stack.AttrLastReason),
				attrOf(m, stack.AttrLastStatus), attrOf(m, stack.AttrAttempts)}
		}
	}
	if len(got) != len(want) {
		t.Errorf("dead letters %+v; want %+v", got, want)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("dead letter %s: %+v, want %+v", k, got[k], w)
		}
	}
	slices.Sort(malformed)
	if !slices.Equal(malformed, []string{`not json`, `{"type":"track"}`}) {
		t.Errorf("malformed messages dead-lettered as %q; want both, as received", malformed)
	}
	if n := len(f.q.sentTo(f.q.url)); n != 0 {
		t.Errorf("%d messages re-scheduled; want none", n)
	}
}

// After five consecutive failures a destination's circuit opens: its remaining copies are
// re-scheduled without a call, delayed until the circuit half-opens; then one copy probes, and
// its success closes the circuit.
func TestTheBreakerStopsCallingADeadDestinationAndProbesWhenHalfOpen(t *testing.T) {
	f := newFixture(t)
	var up bool
	dead := f.destination(true, func(c pack.Copy) delivery.Outcome {
		if up {
			return ok(c)
		}
		return delivery.Outcome{Err: errors.New("refused"), Reason: "connect-refused"}
	})
	healthy := f.destination(true, ok)
	e := f.engine(nil)
	resp, err := e.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{
		f.packed("m1", dead, copies("a", 12, 0)...),
		f.packed("m2", healthy, copies("h", 12, 0)...),
	}})
	noFailures(t, resp, err)
	if n := len(f.sentTo(dead)); n != delivery.DefaultBreakerFailures {
		t.Fatalf("the dead destination was called %d times; want %d, then the circuit opens", n, delivery.DefaultBreakerFailures)
	}
	if n := len(f.sentTo(healthy)); n != 12 {
		t.Fatalf("the healthy destination got %d copies, want 12", n)
	}
	var shorted, attempted int
	for _, in := range f.q.sentTo(f.q.url) {
		for range decode(t, aws.ToString(in.MessageBody)) {
			if in.DelaySeconds >= int32(delivery.DefaultBreakerOpen/time.Second) {
				shorted++
			} else {
				attempted++
			}
		}
	}
	if shorted != 12 || attempted != 0 {
		// The attempted copies' first backoff (10 s) is below the 30 s the circuit stays open,
		// so they wait for the circuit too: sooner they would only be short-circuited.
		t.Errorf("%d copies delayed past the open circuit and %d before; want all 12 past it", shorted, attempted)
	}

	// Still open 10 s later: nothing is called.
	f.now = f.now.Add(10 * time.Second)
	resp, err = e.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{f.packed("m3", dead, copies("b", 3, 1)...)}})
	noFailures(t, resp, err)
	if n := len(f.sentTo(dead)); n != delivery.DefaultBreakerFailures {
		t.Fatalf("called while open: %d calls", n)
	}
	last := f.q.sentTo(f.q.url)
	if d := last[len(last)-1].DelaySeconds; d != 20 {
		t.Errorf("copies short-circuited 10 s into a 30 s open circuit wait %d s, want 20 (the backoff of attempt 2 is 20 s too)", d)
	}

	// Half-open: one probe fails and the circuit opens again.
	f.now = f.now.Add(25 * time.Second)
	handle(t, e, f.packed("m4", dead, copies("c", 4, 1)...))
	if n := len(f.sentTo(dead)); n != delivery.DefaultBreakerFailures+1 {
		t.Fatalf("half-open: %d calls in all; want one probe", n)
	}
	// The destination recovers: the next probe succeeds and the rest follow at once.
	up = true
	f.now = f.now.Add(31 * time.Second)
	handle(t, e, f.packed("m5", dead, copies("d", 4, 1)...))
	if n := len(f.sentTo(dead)); n != delivery.DefaultBreakerFailures+1+4 {
		t.Fatalf("after recovery: %d calls in all; want the probe and then the other 3 copies", n)
	}
}

// handle runs one invocation of recs and fails the test unless every batch item succeeds.
func handle(t *testing.T, e *delivery.Engine, recs ...events.SQSMessage) {
	t.Helper()
	resp, err := e.Handle(t.Context(), events.SQSEvent{Records: recs})
	noFailures(t, resp, err)
}

// When a copy can be neither re-scheduled nor dead-lettered (SQS refuses), its record is a
// batch item failure, so SQS delivers it again; records whose copies were all delivered are not.
func TestACopyThatCannotBeSettledFailsItsRecord(t *testing.T) {
	f := newFixture(t)
	down := f.destination(true, failing(500, 0))
	healthy := f.destination(true, ok)
	e := f.engine(func(c *delivery.Config) { c.QueueURL = c.QueueURL + "-missing" })
	resp, err := e.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{
		f.packed("m1", down, copies("a", 1, 0)...),
		f.packed("m2", healthy, copies("h", 1, 0)...),
	}})
	if err != nil || len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "m1" {
		t.Fatalf("Handle = %+v, %v; want m1 alone to fail", resp.BatchItemFailures, err)
	}
}

// The engine's counts go out as CloudWatch EMF, totals and per destination.
func TestTheEngineEmitsItsCounts(t *testing.T) {
	f := newFixture(t)
	healthy := f.destination(true, ok)
	refusing := f.destination(true, rejecting)
	var metrics logtest.Buffer
	e := f.engine(func(c *delivery.Config) { c.Metrics = &metrics })
	handle(t, e, f.packed("m1", healthy, copies("h", 2, 0)...), f.packed("m2", refusing, copies("r", 1, 0)...))
	var docs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(metrics.String()), "\n") {
		var d map[string]any
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		docs = append(docs, d)
	}
	var total, perDst map[string]any
	for _, d := range docs {
		switch d["DestinationId"] {
		case nil:
			total = d
		case healthy:
			perDst = d
		}
	}
	if total == nil || total["CopiesIn"] != 3.0 || total["CopiesDelivered"] != 2.0 || total["CopiesDeadLettered"] != 1.0 || total["Function"] != "delivery" {
		t.Errorf("totals %v", total)
	}
	if perDst == nil || perDst["CopiesDelivered"] != 2.0 {
		t.Errorf("per destination %v", perDst)
	}
	aws := total["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)
	if aws["Namespace"] != delivery.MetricsNamespace {
		t.Errorf("namespace %v", aws["Namespace"])
	}
}
