package devserver

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/phiguard/phiguard/scripts/internal/costmodel"
	"github.com/phiguard/phiguard/shared/awsmetrics"
	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/eventcorpus"
	"github.com/phiguard/phiguard/shared/pack"
	"github.com/phiguard/phiguard/shared/pipeline"
	"github.com/phiguard/phiguard/shared/stack"
	"github.com/phiguard/phiguard/shared/webhook"
)

// The end-to-end benchmark runs the whole local stack (scripts/internal/devserver: the hashing
// and delivery functions behind event-source pollers with the deployment's batch sizes and
// windows, SNS and SQS on moto) over the seeded event corpus, sent to a source with three
// webhook destinations (a warehouse that encrypts, an ad platform that hashes and redacts, a
// webhook with HMAC pseudonyms and encryption), and counts every AWS request the functions, the
// pollers and the producer make (shared/awsmetrics). Counts do not depend on the machine; the
// Lambda milliseconds (handler run time, as Lambda bills duration) do, and run slower here than
// in AWS because the emulators answer slowly.

// benchWarmUp is how many events one warm-up round sends, and benchWarmUpMax at most in all.
const (
	benchWarmUp    = 100
	benchWarmUpMax = 500
)

// EnvBenchEvents sets how many events the end-to-end benchmark sends per mode (default 300).
const EnvBenchEvents = "PHI_BENCH_EVENTS"

// EnvBenchModes, when set, is a comma-separated list of the modes to run (benchModes' names),
// and EnvBenchDestinations how many of the three destinations to configure: for measuring
// `make dev`'s throughput on one mode without the others.
const (
	EnvBenchModes        = "PHI_BENCH_MODES"
	EnvBenchDestinations = "PHI_BENCH_DESTINATIONS"
	// EnvBenchLog, when set, sends the functions' warnings and errors to stderr.
	EnvBenchLog = "PHI_BENCH_LOG"
)

// EnvBenchRate, when set, paces the producer at that many events per second, its
// SendMessageBatch calls spread evenly (unset pushes every event at once, as fast as four calls in
// flight allow): for measuring `make dev`'s sustained throughput and push-to-delivery latency,
// which pushing everything at once turns into a measure of the backlog.
const EnvBenchRate = "PHI_BENCH_RATE"

// EnvBenchMeasured names a JSON file the end-to-end benchmark writes its figures to, for
// scripts/costmodel (docs/COST.md, docs/SCALING.md); unset writes none.
const EnvBenchMeasured = "PHI_BENCH_MEASURED"

// benchHashing are the three destinations' hashing settings, the transform benchmark's plans
// (shared/transform/bench_test.go) expressed through the API.
var benchHashing = []map[string]any{
	{"enabled": true, "blockRed": true, "fields": treatments("encrypt",
		"traits.email", "traits.phone", "traits.name", "traits.address", "traits.birthday", "context.ip",
		"context.traits.email", "context.traits.phone", "properties.products[].name", "properties.shipping_address")},
	{"enabled": true, "blockRed": true, "fields": append(treatments("sha256",
		"traits.email", "traits.phone", "traits.first_name", "traits.last_name", "context.traits.email", "context.traits.phone"),
		treatments("redact", "context.ip", "traits.address", "properties.shipping_address", "traits.birthday")...)},
	{"enabled": true, "blockRed": true, "fields": append(append(treatments("hmac", "traits.email", "context.traits.email"),
		treatments("encrypt", "traits.phone", "context.traits.phone", "context.ip", "properties.products[].name",
			"properties.shipping_address", "traits.address")...), treatments("redact", "traits.birthday")...)},
}

func treatments(t string, paths ...string) []any {
	var out []any
	for _, p := range paths {
		out = append(out, map[string]string{"path": p, "treatment": t})
	}
	return out
}

// benchRun is what one mode of the benchmark measured: the figures scripts/costmodel reads
// (costmodel.Run, written to PHI_BENCH_MEASURED) and those only printed.
type benchRun struct {
	costmodel.Run
	Counts map[awsmetrics.Key]awsmetrics.Count
	// P50 and P95 are the push-to-delivery latencies of the copies, in seconds; PushRate the
	// events per second the producer achieved (paced or not), DeliveredRate the events per
	// second from the first delivery to the last (the sustained rate, without the first
	// copy's latency that Seconds includes) and ResidentMiB the resident memory of this
	// process and the emulators after the run.
	P50, P95, PushRate, DeliveredRate, ResidentMiB float64
}

// BenchmarkPipelineReport measures AWS requests and Lambda milliseconds per 1,000 events through
// the local stack, and ends with the figures `make bench` prints.
func BenchmarkPipelineReport(b *testing.B) {
	n := 300
	if v := os.Getenv(EnvBenchEvents); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 100 {
			b.Fatalf("%s=%q: want a number of events, at least 100", EnvBenchEvents, v)
		}
	}
	all := eventcorpus.Events(benchWarmUpMax + n)
	warm, corpus := all[:benchWarmUpMax], all[benchWarmUpMax:]
	modes := benchModes
	if v := os.Getenv(EnvBenchModes); v != "" {
		names := strings.Split(v, ",")
		modes = slices.DeleteFunc(slices.Clone(benchModes), func(m benchMode) bool { return !slices.Contains(names, m.name) })
		if len(modes) != len(names) {
			b.Fatalf("%s=%q: want some of naive, packed, naive-batch10, packed-batch10", EnvBenchModes, v)
		}
	}
	dests := len(benchHashing)
	if v := os.Getenv(EnvBenchDestinations); v != "" {
		if d, err := strconv.Atoi(v); err != nil || d < 1 || d > len(benchHashing) {
			b.Fatalf("%s=%q: want 1 to %d", EnvBenchDestinations, v, len(benchHashing))
		} else {
			dests = d
		}
	}
	var rate float64
	if v := os.Getenv(EnvBenchRate); v != "" {
		var err error
		if rate, err = strconv.ParseFloat(v, 64); err != nil || !(rate > 0) || math.IsInf(rate, 0) {
			b.Fatalf("%s=%q: want events per second, more than 0", EnvBenchRate, v)
		}
	}
	var runs []*benchRun
	for range b.N {
		runs = runs[:0]
		for _, mode := range modes {
			runs = append(runs, runPipeline(b, mode, dests, rate, warm, corpus))
		}
	}
	for _, r := range runs {
		fmt.Printf("pipeline %s: %d events, %d destinations: %.0f AWS requests per 1000 events (%.0f API calls); Lambda %.0f ms per 1000 events (hashing %.0f ms in %.1f invocations, delivery %.0f ms in %.1f invocations)\n",
			r.Mode, r.Events, dests, r.Billed, r.Requests, r.HashingMS+r.DeliveryMS, r.HashingMS, r.HashingInvocations, r.DeliveryMS, r.DeliveryInvocations)
		var ops []string
		for _, k := range slices.Sorted(maps.Keys(r.ByOperation)) {
			ops = append(ops, fmt.Sprintf("%s %.0f", k, r.ByOperation[k]))
		}
		fmt.Printf("pipeline %s: billed requests per 1000 events by operation: %s\n", r.Mode, strings.Join(ops, ", "))
		keys := awsmetrics.Keys(r.Counts)
		slices.SortFunc(keys, func(a, b awsmetrics.Key) int { return cmp.Compare(r.Counts[b].Time, r.Counts[a].Time) })
		var slow []string
		for _, k := range keys[:min(5, len(keys))] {
			c := r.Counts[k]
			slow = append(slow, fmt.Sprintf("%s.%s %.0f ms (%.0f ms per call)", k.Service, k.Operation,
				float64(c.Time.Milliseconds())*1000/float64(r.Events), float64(c.Time.Milliseconds())/float64(c.Calls)))
		}
		fmt.Printf("pipeline %s: local time in AWS calls per 1000 events (functions and pollers, concurrent calls summed): %s\n", r.Mode, strings.Join(slow, ", "))
		fmt.Printf("pipeline %s: %.1f events/s end to end, push-to-delivery p50 %.2fs p95 %.2fs, %d duplicate deliveries, mean event %.0f B, mean copy %.0f B, %.0f B published to SNS per copy; a pack's size over its copies' by copies per pack: %s\n",
			r.Mode, float64(r.Events)/r.Seconds, r.P50, r.P95, r.Duplicates, r.EventBytes, r.CopyBytes, r.FanOutBytesPerCopy, r.PackRatio)
		paced := "unpaced"
		if rate > 0 {
			paced = fmt.Sprintf("paced at %g events/s", rate)
		}
		fmt.Printf("pipeline %s: producer %s: pushed %.1f events/s; delivered %.1f events/s from the first delivery to the last (%.1f from the first push), push-to-delivery p50 %.2fs p95 %.2fs; resident %.0f MiB\n",
			r.Mode, paced, r.PushRate, r.DeliveredRate, float64(r.Events)/r.Seconds, r.P50, r.P95, r.ResidentMiB)
	}
	if file := os.Getenv(EnvBenchMeasured); file != "" {
		writeMeasured(b, file, dests, rate, runs)
	}
	for i := 0; i+1 < len(runs); i += 2 {
		naive, packed := runs[i], runs[i+1]
		if naive.PerMessage != packed.PerMessage || !strings.HasPrefix(naive.Mode, "naive") || !strings.HasPrefix(packed.Mode, "packed") {
			continue
		}
		shape := "1 event per message"
		if p := naive.PerMessage; p > 1 {
			shape = fmt.Sprintf("%d events per message", p)
		}
		fmt.Printf("pipeline AWS requests per 1000 events (%s): naive %.0f, packed %.0f (%.1fx fewer); API calls naive %.0f, packed %.0f (%.1fx fewer)\n",
			shape, naive.Billed, packed.Billed, naive.Billed/packed.Billed, naive.Requests, packed.Requests, naive.Requests/packed.Requests)
		fmt.Printf("pipeline Lambda ms per 1000 events (%s): naive %.0f, packed %.0f (%.1fx less)\n",
			shape, naive.HashingMS+naive.DeliveryMS, packed.HashingMS+packed.DeliveryMS, (naive.HashingMS+naive.DeliveryMS)/(packed.HashingMS+packed.DeliveryMS))
	}
}

// benchMode is one configuration of the pipeline the benchmark measures.
type benchMode struct {
	name string
	env  map[string]string // function environment overrides
	// perMessage is how many events the producer puts in one ingest message: 1 (one event per
	// message) or more ({"batch": [...]}, docs/PRODUCERS.md).
	perMessage int
}

// benchModes are the fan-out formats compared — one SNS message per copy (the design before
// packs) and packs, the default — for producers that send one event per message and producers
// that send batches of ten.
var benchModes = []benchMode{
	{name: "naive", env: map[string]string{stack.EnvFanOutFormat: "single"}, perMessage: 1},
	{name: "packed", env: map[string]string{}, perMessage: 1},
	{name: "naive-batch10", env: map[string]string{stack.EnvFanOutFormat: "single"}, perMessage: 10},
	{name: "packed-batch10", env: map[string]string{}, perMessage: 10},
}

// runPipeline starts the local stack in mode, sends warm to a source with three destinations,
// waits until every copy has been delivered and both queues are settled, then does the same
// with corpus and returns what corpus cost. A rate above 0 paces the producer (benchPush).
func runPipeline(b *testing.B, mode benchMode, destinations int, rate float64, warm, corpus [][]byte) *benchRun {
	b.Helper()
	ctx := context.Background()
	awstest.Clients(b)
	counter := &awsmetrics.Counter{}
	var (
		mu        sync.Mutex
		firstSeen = map[string]time.Time{}
		dups      int
		copyBytes int
		// the first copies each hook received, in order: what packRatios packs
		sample = map[string][]json.RawMessage{}
	)
	var logger *slog.Logger
	if os.Getenv(EnvBenchLog) != "" {
		logger = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	s, err := Start(ctx, Config{
		APIAddr: "127.0.0.1:0", ReceiverAddr: "127.0.0.1:0", Prefix: awstest.UniqueName("bench"), Logger: logger,
		Env: mode.env, Counter: counter,
		OnDelivery: func(d Delivery) {
			id := d.Headers[http.CanonicalHeaderKey(webhook.HeaderID)]
			mu.Lock()
			defer mu.Unlock()
			if _, ok := firstSeen[id]; ok {
				dups++
				return
			}
			firstSeen[id] = d.ReceivedAt
			copyBytes += len(d.Body)
			if len(sample[d.Hook]) < packSample {
				sample[d.Hook] = append(sample[d.Hook], slices.Clone(d.Body))
			}
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ws, src, dsts := benchWorld(b, s, benchHashing[:destinations])

	// Warm up: the first invocations load the configuration, decrypt the HMAC keys and record
	// the inbox's field paths, once per container (and per cache TTL); the figures are the
	// steady state that follows.
	pushedAt := map[string]time.Time{}
	wait := func(what string, want int) {
		deadline := time.Now().Add(time.Duration(want) * time.Second)
		for {
			mu.Lock()
			got := 0
			for id := range firstSeen {
				if _, ok := pushedAt[id]; ok {
					got++
				}
			}
			mu.Unlock()
			if got >= want {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("%s: %s: %d of %d copies delivered before the deadline", mode.name, what, got, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
		// Let the pollers delete what they delivered before counting.
		for settle := time.Now().Add(30 * time.Second); time.Now().Before(settle); time.Sleep(100 * time.Millisecond) {
			in, de := s.Ingest.Stats(), s.Delivery.Stats()
			if in.InFlight == 0 && de.InFlight == 0 && in.Received == in.Deleted+in.Failed && de.Received == de.Deleted+de.Failed {
				break
			}
		}
	}
	// Locally the inbox's writes can outlast an invocation (the poller cancels its context where
	// Lambda would freeze it), so rounds continue until one records no new path.
	reset := func() {
		mu.Lock()
		firstSeen, dups, copyBytes, sample = map[string]time.Time{}, 0, 0, map[string][]json.RawMessage{}
		mu.Unlock()
		clear(pushedAt)
		counter.Reset()
	}
	for round := 0; round < len(warm)/benchWarmUp; round++ {
		reset()
		benchPush(b, s.Clients.SQS, s.Resources.IngestQueueURL, ws, src, dsts, warm[round*benchWarmUp:(round+1)*benchWarmUp], mode.perMessage, rate, pushedAt)
		wait("warm-up", benchWarmUp*len(dsts))
		updates := counter.Snapshot()[awsmetrics.Key{Service: "DynamoDB", Operation: "UpdateItem"}].Calls
		if updates == 0 {
			break
		}
		fmt.Printf("pipeline %s: warm-up round %d: %d DynamoDB updates\n", mode.name, round+1, updates)
	}
	reset()
	in0, de0 := s.Ingest.Stats(), s.Delivery.Stats()

	start := time.Now()
	eventBytes, pushRate := benchPush(b, s.Clients.SQS, s.Resources.IngestQueueURL, ws, src, dsts, corpus, mode.perMessage, rate, pushedAt)
	want := len(corpus) * len(dsts)
	wait("measurement", want)
	counts := counter.Snapshot()
	in, de := since(s.Ingest.Stats(), in0), since(s.Delivery.Stats(), de0)
	rss, total := Resident()
	fmt.Printf("pipeline %s: resident after the run: %s\n", mode.name, rss)

	mu.Lock()
	defer mu.Unlock()
	var lat []float64
	var firstAt, last time.Time
	late := 0
	for id, at := range firstSeen {
		p, ok := pushedAt[id]
		if !ok {
			// A warm-up copy delivered again (at least once: SQS redelivered its message).
			late++
			continue
		}
		lat = append(lat, at.Sub(p).Seconds())
		if at.After(last) {
			last = at
		}
		if firstAt.IsZero() || at.Before(firstAt) {
			firstAt = at
		}
	}
	slices.Sort(lat)
	per := 1000 / float64(len(corpus))
	r := &benchRun{Run: costmodel.Run{
		Mode: mode.name, PerMessage: mode.perMessage, Events: len(corpus), ByOperation: map[string]float64{},
		HashingMS: float64(in.HandlerTime.Milliseconds()) * per, DeliveryMS: float64(de.HandlerTime.Milliseconds()) * per,
		HashingInvocations: float64(in.Invocations) * per, DeliveryInvocations: float64(de.Invocations) * per,
		EventBytes: float64(eventBytes) / float64(len(corpus)), CopyBytes: float64(copyBytes) / float64(want),
		Seconds: last.Sub(start).Seconds(), Duplicates: dups + late, PackRatio: packRatios(b, sample),
		FanOutBytesPerCopy: float64(counts[awsmetrics.Key{Service: "SNS", Operation: "PublishBatch"}].Bytes) / float64(want),
	}, Counts: counts, P50: lat[len(lat)/2], P95: lat[len(lat)*95/100], PushRate: pushRate, ResidentMiB: total,
		DeliveredRate: float64(len(corpus)) / last.Sub(firstAt).Seconds()}
	for k, c := range counts {
		calls, billed := c.Calls, c.Billed
		if k.Service == "SQS" && k.Operation == "ReceiveMessage" {
			// Receives that returned nothing are idle polling: billed, but per queue and
			// second, not per event (docs/COST.md counts them apart).
			calls, billed = c.Calls-c.Empty, c.Billed-c.Empty
		}
		r.Requests += float64(calls) * per
		r.Billed += float64(billed) * per
		r.ByOperation[k.Service+"."+k.Operation] = float64(billed) * per
		if k.Service == "SNS" {
			// Every published message is delivered to the destination queue (the three
			// destinations are webhooks: one subscription), an SQS request per 64 KiB chunk.
			r.Requests += float64(c.Messages) * per
			r.Billed += float64(c.MessageChunks) * per
			r.ByOperation["SQS.SNSDelivery"] += float64(c.MessageChunks) * per
		}
	}
	return r
}

// packSample is how many copies per destination packRatios packs.
const packSample = 200

// packRatios returns how much pack.Encode shrinks packs of 1 to 100 of the copies that the
// destinations received, in the order they arrived: the encoded size over the sum of pack.Size.
// Copies of one invocation share their tokens' encapsulated key and compress better together,
// so packs of consecutive copies of different invocations give a conservative figure.
func packRatios(tb testing.TB, sample map[string][]json.RawMessage) costmodel.PackRatios {
	var out costmodel.PackRatios
	for _, n := range []int{1, 2, 5, 10, 20, 50, 100} {
		var encoded, size int
		for _, copies := range sample {
			for i := 0; i+n <= len(copies); i += n {
				p := make([]pack.Copy, n)
				for j := range p {
					p[j] = pack.Copy{DedupID: pipeline.DedupID(strconv.Itoa(i+j), "bench"), Event: copies[i+j]}
					size += pack.Size(p[j])
				}
				body, err := pack.Encode(p)
				if err != nil {
					tb.Fatal(err)
				}
				encoded += len(body)
			}
		}
		if size > 0 {
			out = append(out, costmodel.PackRatio{Copies: n, Ratio: float64(encoded) / float64(size)})
		}
	}
	return out
}

// since returns the counts of now less those of before.
func since(now, before PollerStats) PollerStats {
	return PollerStats{
		Invocations: now.Invocations - before.Invocations, Received: now.Received - before.Received,
		Deleted: now.Deleted - before.Deleted, Failed: now.Failed - before.Failed, HandlerTime: now.HandlerTime - before.HandlerTime,
		InFlight: now.InFlight,
	}
}

// benchPush sends events to the ingest queue (queueURL) with c as a producer following
// docs/PRODUCERS.md would:
// perMessage events per message (a {"batch": [...]} body when more than one), ten messages per
// SendMessageBatch, four calls in flight. A rate above 0 paces the calls evenly at that many
// events per second (a call starts no earlier than its first event's turn; a slow queue makes
// it later). It records in pushedAt when each copy's event was sent, by dedup id, and returns
// the events' total size and the push rate achieved: the events after the first call's over
// the time from the first call's end to the last's (all events over the call's time when there
// is one call).
func benchPush(tb testing.TB, c *sqs.Client, queueURL, ws, src string, dsts []string, events [][]byte, perMessage int, rate float64, pushedAt map[string]time.Time) (size int, pushRate float64) {
	tb.Helper()
	var (
		mu          sync.Mutex
		wg          sync.WaitGroup
		errs        []error
		slots       = make(chan struct{}, 4)
		first, last time.Time
		firstEvents int
	)
	var bodies []string
	for i := 0; i < len(events); i += perMessage {
		group := events[i:min(i+perMessage, len(events))]
		if len(group) == 1 {
			bodies = append(bodies, string(group[0]))
			continue
		}
		bodies = append(bodies, `{"batch":[`+string(bytes.Join(group, []byte(",")))+`]}`)
	}
	var ids []string
	for _, ev := range events {
		var m struct {
			MessageID string `json:"messageId"`
		}
		if err := json.Unmarshal(ev, &m); err != nil {
			tb.Fatal(err)
		}
		ids = append(ids, m.MessageID)
		size += len(ev)
	}
	start := time.Now()
	for i := 0; i < len(bodies); i += 10 {
		if rate > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(float64(i*perMessage) / rate * float64(time.Second)))))
		}
		var entries []sqstypes.SendMessageBatchRequestEntry
		for k, body := range bodies[i:min(i+10, len(bodies))] {
			entries = append(entries, sqstypes.SendMessageBatchRequestEntry{
				Id: aws.String(strconv.Itoa(k)), MessageBody: aws.String(body),
				MessageAttributes: map[string]sqstypes.MessageAttributeValue{
					stack.AttrWorkspace: {DataType: aws.String("String"), StringValue: aws.String(ws)},
					stack.AttrSource:    {DataType: aws.String("String"), StringValue: aws.String(src)},
				},
			})
		}
		ids := ids[i*perMessage : min((i+10)*perMessage, len(ids))]
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			out, err := c.SendMessageBatch(context.Background(), &sqs.SendMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: entries})
			now := time.Now()
			mu.Lock()
			defer mu.Unlock()
			if err == nil && len(out.Failed) > 0 {
				err = fmt.Errorf("%d entries failed", len(out.Failed))
			}
			if err != nil {
				errs = append(errs, err)
				return
			}
			if first.IsZero() || now.Before(first) {
				first, firstEvents = now, len(ids)
			}
			if now.After(last) {
				last = now
			}
			for _, id := range ids {
				for _, d := range dsts {
					pushedAt[pipeline.DedupID(id, d)] = now
				}
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		tb.Fatalf("push events: %v", errs[0])
	}
	if last.After(first) {
		return size, float64(len(events)-firstEvents) / last.Sub(first).Seconds()
	}
	return size, float64(len(events)) / last.Sub(start).Seconds()
}

// The benchmark's producer paces its calls: at 100 events/s, 200 single-event messages in 20
// calls of 10 take at least 1.9 s (the last call starts 1.9 s after the first), every event
// reaches the queue, the rate it reports is about the one asked for, and unpaced it is done
// sooner.
func TestTheBenchmarksProducerPacesItsCallsAtTheRate(t *testing.T) {
	c := awstest.Clients(t).SQS
	events := eventcorpus.Events(200)
	push := func(rate float64) (time.Duration, float64) {
		q := awstest.Queue(t, c, "bench-push")
		pushedAt := map[string]time.Time{}
		start := time.Now()
		_, achieved := benchPush(t, c, q, "ws", "src", []string{"dst_a", "dst_b"}, events, 1, rate, pushedAt)
		elapsed := time.Since(start)
		if len(pushedAt) != 2*len(events) {
			t.Fatalf("rate %g: %d copies recorded as pushed, want %d", rate, len(pushedAt), 2*len(events))
		}
		out, err := c.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q),
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages}})
		if err != nil {
			t.Fatal(err)
		}
		if n := out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)]; n != strconv.Itoa(len(events)) {
			t.Fatalf("rate %g: %s messages in the queue, want %d", rate, n, len(events))
		}
		return elapsed, achieved
	}
	paced, rate := push(100)
	if paced < 1900*time.Millisecond {
		t.Errorf("paced at 100 events/s: done in %v, want at least 1.9s", paced)
	}
	if rate < 50 || rate > 150 {
		t.Errorf("paced at 100 events/s: reported %.1f events/s", rate)
	}
	unpaced, fast := push(0)
	if unpaced >= paced {
		t.Errorf("unpaced: %v, not sooner than paced (%v)", unpaced, paced)
	}
	t.Logf("paced at 100 events/s: %v, %.1f events/s; unpaced: %v, %.1f events/s", paced, rate, unpaced, fast)
}

// benchWorld creates, through the API, a HIPAA-eligible workspace with one source and three
// webhook destinations on the receiver, each with an active key pair, an HMAC key and its
// hashing settings (benchHashing). It returns the workspace, source and destination ids.
func benchWorld(b *testing.B, s *Server, hashing []map[string]any) (ws, src string, dsts []string) {
	b.Helper()
	ctx := context.Background()
	sample, err := s.CreateSampleWorkspace(ctx)
	if err != nil {
		b.Fatal(err)
	}
	ws = sample.ID
	call := func(method, path string, body any, want int, headers ...string) (map[string]any, http.Header) {
		b.Helper()
		return apiWant(b, s, method, path, sample.OwnerToken, body, want, headers...)
	}
	classes := map[string]string{"traits.ssn": "red"}
	for _, h := range hashing {
		for _, f := range h["fields"].([]any) {
			classes[f.(map[string]string)["path"]] = "yellow"
		}
	}
	var items []map[string]string
	for p, c := range classes {
		items = append(items, map[string]string{"path": p, "classification": c})
	}
	call("PUT", "/workspaces/"+ws+"/privacy/classifications", map[string]any{"classifications": items}, 200)
	m, _ := call("POST", "/workspaces/"+ws+"/sources", map[string]any{"name": "storefront"}, 201)
	src = m["id"].(string)
	for i, h := range hashing {
		name := fmt.Sprintf("bench-%d", i)
		m, _ := call("POST", "/workspaces/"+ws+"/destinations", map[string]any{
			"sourceId": src, "name": name, "type": "webhook", "settings": map[string]any{"url": s.HookURL(name)}}, 201)
		dst := m["id"].(string)
		path := "/workspaces/" + ws + "/destinations/" + dst
		k, _ := call("POST", path+"/keys", map[string]any{"algorithm": "hpke-p256"}, 201)
		call("POST", path+"/keys/"+k["id"].(string)+"/activate", nil, 200)
		hk, _ := call("POST", path+"/hmac-keys", nil, 201)
		call("POST", path+"/keys/"+hk["id"].(string)+"/activate", nil, 200)
		_, hdr := call("GET", path, nil, 200)
		call("PUT", path+"/hashing", h, 200, "If-Match", hdr.Get("ETag"))
		dsts = append(dsts, dst)
	}
	return ws, src, dsts
}

// writeMeasured writes the runs' per-1,000-event figures to file, for scripts/costmodel; a paced
// producer (rate above 0) is named in the source, which docs/COST.md quotes.
func writeMeasured(b *testing.B, file string, dests int, rate float64, runs []*benchRun) {
	b.Helper()
	source := "BenchmarkPipelineReport in scripts/internal/devserver, run by `make bench`"
	if rate > 0 {
		source = fmt.Sprintf("%s with %s=%g", source, EnvBenchRate, rate)
	}
	out := costmodel.Measured{
		Source:       source,
		Destinations: dests, IngestBatch: stack.IngestBatchSize, DeliveryBatch: stack.DeliveryBatchSize,
	}
	for _, r := range runs {
		out.Runs = append(out.Runs, r.Run)
	}
	raw, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(file, append(raw, '\n'), 0o644); err != nil {
		b.Fatal(err)
	}
}
