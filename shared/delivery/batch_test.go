package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/delivery"
	"github.com/phiguard/phiguard/shared/fn/fntest"
	"github.com/phiguard/phiguard/shared/pack"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

// batcher is a Batcher over a fixture: a destination's batch size is its settings.batchSize
// (one copy per request without it, through the fixture's Send), at most bytes of copies per
// request when bytes > 0; each SendBatch is one request, recorded, answered by the
// destination's answer for its copies.
type batcher struct {
	f     *fixture
	bytes int

	mu       sync.Mutex
	requests map[string][][]string // destination id → each request's dedup ids
	answer   map[string]func(cs []pack.Copy) delivery.Outcome
}

func newBatcher(f *fixture, bytes int) *batcher {
	return &batcher{f: f, bytes: bytes, requests: map[string][][]string{}, answer: map[string]func([]pack.Copy) delivery.Outcome{}}
}

func (b *batcher) Send(ctx context.Context, d *phi.Destination, copies []pack.Copy) []delivery.Outcome {
	return b.f.send(ctx, d, copies)
}

func (b *batcher) Batch(d *phi.Destination) (int, int) {
	if d.Settings.BatchSize == nil {
		return 1, 0
	}
	return *d.Settings.BatchSize, b.bytes
}

func (b *batcher) SendBatch(_ context.Context, d *phi.Destination, copies []pack.Copy) delivery.Outcome {
	var ids []string
	for _, c := range copies {
		ids = append(ids, c.DedupID)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.requests[d.ID] = append(b.requests[d.ID], ids)
	return b.answer[d.ID](copies)
}

// sent returns dst's requests, ordered by their first dedup id.
func (b *batcher) sent(dst string) [][]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := slices.Clone(b.requests[dst])
	slices.SortFunc(out, func(x, y []string) int { return strings.Compare(x[0], y[0]) })
	return out
}

// destination adds a webhook destination of batch size n (0: the setting absent) whose
// requests answer answers.
func (b *batcher) destination(n int, answer func([]pack.Copy) delivery.Outcome) string {
	b.f.t.Helper()
	d := &phi.Destination{ID: phi.NewID(phi.PrefixDestination), WorkspaceID: b.f.ws, SourceID: fntest.SourceID, Name: "hook",
		Type: phi.DestinationWebhook, Enabled: true, Settings: phi.DestinationSettings{URL: "https://hooks.example.com/in"}}
	if n > 0 {
		d.Settings.BatchSize = &n
	}
	if err := b.f.store.CreateDestination(b.f.t.Context(), d); err != nil {
		b.f.t.Fatal(err)
	}
	b.answer[d.ID] = answer
	b.f.answer[d.ID] = func(c pack.Copy) delivery.Outcome { return answer([]pack.Copy{c}) }
	return d.ID
}

func (b *batcher) engine(mod func(*delivery.Config)) *delivery.Engine {
	return b.f.engine(func(c *delivery.Config) {
		c.Senders = map[phi.DestinationType]delivery.Sender{phi.DestinationWebhook: b}
		if mod != nil {
			mod(c)
		}
	})
}

// ids are prefix-0 … prefix-(n-1), as copies names them.
func ids(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s-%d", prefix, i))
	}
	return out
}

// Copies of a destination with a batch size go in requests of that many, in order across the
// records that carried them, each request holding one destination's copies only; a request
// holds no more bytes than the sender allows (a larger copy alone); a destination without the
// setting keeps one copy per request.
func TestABatchingDestinationGetsRequestsOfItsBatchSize(t *testing.T) {
	f := newFixture(t)
	b := newBatcher(f, 0)
	okAll := func([]pack.Copy) delivery.Outcome { return delivery.Outcome{Status: 200} }
	ten := b.destination(10, okAll)
	three := b.destination(3, okAll)
	single := b.destination(0, okAll)
	e := b.engine(nil)
	handle(t, e,
		f.packed("m1", ten, copies("a", 12, 0)...),
		f.packed("m2", three, copies("b", 4, 0)...),
		f.packed("m3", single, copies("c", 3, 0)...),
		f.packed("m4", ten, copies("d", 13, 0)...),
	)
	want := [][]string{ids("a", 0, 10), append(ids("a", 10, 12), ids("d", 0, 8)...), ids("d", 8, 13)}
	if got := b.sent(ten); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("the batch-10 destination's requests %v; want %v", got, want)
	}
	if got := b.sent(three); !slices.EqualFunc(got, [][]string{ids("b", 0, 3), ids("b", 3, 4)}, slices.Equal) {
		t.Errorf("the batch-3 destination's requests %v", got)
	}
	if got, calls := b.sent(single), f.sentTo(single); len(got) != 0 || len(calls) != 3 {
		t.Errorf("the destination without a batch size: %d batches and %d single copies; want 0 and 3", len(got), len(calls))
	}
	if n := len(f.q.sentTo(f.q.url)) + len(f.q.sentTo(f.q.dlq)); n != 0 {
		t.Errorf("%d copies re-scheduled or dead-lettered; want every copy delivered", n)
	}

	// A byte bound: copies of 40 bytes of event (pack.Size 90 each) in requests of at most 200.
	f2 := newFixture(t)
	b2 := newBatcher(f2, 200)
	dst := b2.destination(10, okAll)
	big := copies("e", 5, 0)
	big[2].Event = []byte(`{"type":"track","pad":"` + strings.Repeat("x", 400) + `"}`)
	handle(t, b2.engine(nil), f2.packed("m1", dst, big...))
	want = [][]string{{"e-0", "e-1"}, {"e-2"}, {"e-3", "e-4"}}
	if got := b2.sent(dst); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("byte-bounded requests %v; want %v", got, want)
	}
}

// Partial failures are exact: a request that fails settles exactly its own copies — retried
// ones re-scheduled with their attempts counted and the backoff of their attempts (Retry-After
// when the destination sent one), a copy on its last attempt dead-lettered as max-attempts, a
// refused (4xx) request's copies dead-lettered as rejected with its status — while every copy
// of the other requests is delivered once and neither re-scheduled nor dead-lettered. The
// re-scheduled copies come back together and go again in one request.
func TestAFailedBatchSettlesOnlyItsOwnCopies(t *testing.T) {
	f := newFixture(t)
	b := newBatcher(f, 0)
	has := func(cs []pack.Copy, id string) bool {
		return slices.ContainsFunc(cs, func(c pack.Copy) bool { return c.DedupID == id })
	}
	var up bool
	dst := b.destination(4, func(cs []pack.Copy) delivery.Outcome {
		switch {
		case has(cs, "p-5") && !up:
			return delivery.Outcome{Err: errors.New("unavailable"), Status: 503, Reason: "http-503"}
		case has(cs, "p-9"):
			return delivery.Outcome{Err: errors.New("rejected"), Status: 400, Permanent: true, Reason: "http-400"}
		case has(cs, "q-0"):
			return delivery.Outcome{Err: errors.New("throttled"), Status: 429, RetryAfter: 3 * time.Minute, Reason: "http-429"}
		}
		return delivery.Outcome{Status: 200}
	})
	e := b.engine(func(c *delivery.Config) { c.MaxAttempts = 3 })
	p := copies("p", 12, 0)
	p[6].Attempts = 2 // in the failing request, on its last attempt
	handle(t, e, f.packed("m1", dst, p...), f.packed("m2", dst, copies("q", 2, 0)...))
	want := [][]string{ids("p", 0, 4), ids("p", 4, 8), ids("p", 8, 12), ids("q", 0, 2)}
	if got := b.sent(dst); !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("requests %v; want %v", got, want)
	}
	type msg struct {
		dedups   []string
		attempts int
		delay    int32
	}
	var retried []msg
	for _, in := range f.q.sentTo(f.q.url) {
		m := msg{delay: in.DelaySeconds}
		for _, c := range decode(t, aws.ToString(in.MessageBody)) {
			m.dedups, m.attempts = append(m.dedups, c.DedupID), c.Attempts
		}
		retried = append(retried, m)
	}
	slices.SortFunc(retried, func(x, y msg) int { return int(x.delay - y.delay) })
	wantRetried := []msg{{[]string{"p-4", "p-5", "p-7"}, 1, 10}, {[]string{"q-0", "q-1"}, 1, 180}}
	if len(retried) != len(wantRetried) {
		t.Fatalf("re-scheduled %+v; want %+v", retried, wantRetried)
	}
	for i, w := range wantRetried {
		if g := retried[i]; !slices.Equal(g.dedups, w.dedups) || g.attempts != w.attempts || g.delay != w.delay {
			t.Errorf("re-scheduled %+v; want %+v", g, w)
		}
	}
	dead := map[string]string{}
	for _, m := range awstest.Receive(t, f.q.sqs, f.q.dlq, 0, 0) {
		if attrOf(m, stack.AttrDestination) != dst || attrOf(m, stack.AttrWorkspace) != f.ws {
			t.Errorf("a dead letter of %s/%s", attrOf(m, stack.AttrWorkspace), attrOf(m, stack.AttrDestination))
		}
		for _, c := range decode(t, aws.ToString(m.Body)) {
			dead[c.DedupID] = strings.Join([]string{attrOf(m, stack.AttrReason), attrOf(m, stack.AttrLastReason),
				attrOf(m, stack.AttrLastStatus), attrOf(m, stack.AttrAttempts)}, " ")
		}
	}
	wantDead := map[string]string{
		"p-6":  "max-attempts http-503 503 3",
		"p-8":  "rejected http-400 400 1",
		"p-9":  "rejected http-400 400 1",
		"p-10": "rejected http-400 400 1",
		"p-11": "rejected http-400 400 1",
	}
	if len(dead) != len(wantDead) {
		t.Errorf("dead letters %v; want %v", dead, wantDead)
	}
	for id, w := range wantDead {
		if dead[id] != w {
			t.Errorf("dead letter %s: %q, want %q", id, dead[id], w)
		}
	}

	// The failed request's re-scheduled copies, received again, go in one request of their
	// own (so with the same webhook-id), not merged with fresh copies, and nothing of the
	// delivered requests is sent again.
	up = true
	in := f.q.sentTo(f.q.url)
	var again []pack.Copy
	for _, m := range in {
		if cs := decode(t, aws.ToString(m.MessageBody)); cs[0].DedupID == "p-4" {
			again = cs
		}
	}
	handle(t, e, f.packed("m3", dst, copies("r", 2, 0)...), f.packed("m4", dst, again...))
	got := b.sent(dst)
	want = append(want, []string{"p-4", "p-5", "p-7"}, ids("r", 0, 2))
	slices.SortFunc(want, func(x, y []string) int { return strings.Compare(x[0], y[0]) })
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("after the retry, requests %v; want %v: the failed request again, as it was, beside the fresh copies", got, want)
	}
	if n := len(f.q.sentTo(f.q.url)); n != len(in) {
		t.Errorf("the retried request's copies were re-scheduled again: %d messages", n-len(in))
	}
}

// The breaker counts requests, not copies: five failed requests open a batching destination's
// circuit (however many copies they carried, each counted as attempted), the copies left are
// short-circuited, and the half-open probe is one request of one copy.
func TestTheBreakerCountsABatchingDestinationsRequests(t *testing.T) {
	f := newFixture(t)
	b := newBatcher(f, 0)
	var up bool
	dst := b.destination(10, func([]pack.Copy) delivery.Outcome {
		if up {
			return delivery.Outcome{Status: 200}
		}
		return delivery.Outcome{Err: errors.New("refused"), Reason: "connect-refused"}
	})
	e := b.engine(nil)
	handle(t, e, f.packed("m1", dst, copies("a", 70, 0)...))
	if got := b.sent(dst); len(got) != delivery.DefaultBreakerFailures {
		t.Fatalf("%d requests; want %d, then the circuit opens", len(got), delivery.DefaultBreakerFailures)
	}
	if got := b.sent(dst); slices.ContainsFunc(got, func(r []string) bool { return len(r) != 10 }) {
		t.Errorf("requests %v; want 10 copies each", got)
	}
	var rescheduled []string
	for _, in := range f.q.sentTo(f.q.url) {
		for _, c := range decode(t, aws.ToString(in.MessageBody)) {
			rescheduled = append(rescheduled, c.DedupID)
			if c.Attempts != 1 {
				t.Errorf("copy %s re-scheduled with %d attempts, want 1", c.DedupID, c.Attempts)
			}
		}
	}
	if slices.Sort(rescheduled); !slices.Equal(rescheduled, slices.Sorted(slices.Values(ids("a", 0, 70)))) {
		t.Errorf("re-scheduled %v; want the 50 attempted and the 20 short-circuited copies, each once", rescheduled)
	}
	up = true
	f.now = f.now.Add(delivery.DefaultBreakerOpen + time.Second)
	handle(t, e, f.packed("m2", dst, copies("b", 25, 1)...))
	got := b.sent(dst)
	var probe []string
	for _, r := range got {
		if strings.HasPrefix(r[0], "b-") && len(r) == 1 {
			probe = r
		}
	}
	if len(got) != delivery.DefaultBreakerFailures+1+3 || !slices.Equal(probe, []string{"b-0"}) {
		t.Errorf("half-open: requests %v; want a probe of b-0 alone, then b-1…b-24 in 3 requests", got[delivery.DefaultBreakerFailures:])
	}
}
