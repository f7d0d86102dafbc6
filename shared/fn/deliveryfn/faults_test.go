package deliveryfn_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/delivery"
	"github.com/phiguard/phiguard/shared/faults"
	"github.com/phiguard/phiguard/shared/fn/deliveryfn"
	"github.com/phiguard/phiguard/shared/fn/fntest"
	"github.com/phiguard/phiguard/shared/pack"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
	"github.com/phiguard/phiguard/shared/webhook"
)

// testQueues is a delivery queue and its dead-letter queue in the emulator (moto).
type testQueues struct {
	sqs      *sqs.Client
	url, dlq string
}

func newQueues(t *testing.T) *testQueues {
	t.Helper()
	c := awstest.Clients(t).SQS
	dlq := awstest.Queue(t, c, "delivery")
	return &testQueues{sqs: c, url: awstest.Queue(t, c, "delivery"), dlq: dlq}
}

// dedupIDs returns the sorted webhook-id (the copies' dedup ids) of what s was sent.
func dedupIDs(s *faults.Server) []string {
	var ids []string
	for _, r := range s.Requests() {
		ids = append(ids, r.Header.Get(webhook.HeaderID))
	}
	return slices.Sorted(slices.Values(ids))
}

// Through the delivery function's real wiring (the engine, the webhook Sender, the table and
// the queues in moto): one destination answers 500, one 429 with Retry-After, one hangs, one
// refuses with a permanent 400, next to a healthy one. In the first invocation the healthy
// destination gets all its copies and every batch item succeeds; the failing copies are
// re-scheduled with their attempt counted and their delays, and the refused ones are in the
// dead-letter queue with why.
func TestAFailingDestinationNeverHoldsUpAHealthyOne(t *testing.T) {
	store, table := fntest.Table(t)
	ws := &phi.Workspace{ID: fntest.WorkspaceID, Name: "Sample", Tier: phi.TierBusiness, BAA: phi.BAA{Signed: true}}
	fntest.Seed(t, store, ws)
	servers := map[string]*faults.Server{
		"healthy":   faults.New(t, faults.Status(http.StatusNoContent)),
		"error":     faults.New(t, faults.Status(http.StatusInternalServerError)),
		"throttled": faults.New(t, faults.RetryAfter(http.StatusTooManyRequests, 120*time.Second)),
		"hang":      faults.New(t, faults.Hang()),
		"refusing":  faults.New(t, faults.Status(http.StatusBadRequest)),
	}
	var targets []string
	dst := map[string]string{}
	signing := testGenerator(t)
	for _, name := range slices.Sorted(maps.Keys(servers)) {
		s := servers[name]
		targets = append(targets, s.Addr.String())
		d := &phi.Destination{ID: phi.NewID(phi.PrefixDestination), WorkspaceID: ws.ID, SourceID: fntest.SourceID, Name: name,
			Type: phi.DestinationWebhook, Enabled: true, Settings: phi.DestinationSettings{URL: s.URL + "/hook"}}
		createSigned(t, store, signing, d)
		dst[name] = d.ID
	}
	q := newQueues(t)
	h := fntest.Build(t, deliveryfn.Build, fntest.Vars{stack.EnvTable: table,
		stack.EnvLocalWebhookTargets: strings.Join(targets, ","), stack.EnvDeliveryQueueURL: q.url, stack.EnvDeliveryDLQURL: q.dlq}, nil)

	var recs []events.SQSMessage
	for _, name := range slices.Sorted(maps.Keys(servers)) {
		var cs []pack.Copy
		for i := range 2 {
			cs = append(cs, pack.Copy{DedupID: fmt.Sprintf("%s-%d", name, i), Event: json.RawMessage(`{"type":"track","event":"Visit"}`)})
		}
		body, err := pack.Encode(cs)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, message("m-"+name, string(body), map[string]string{stack.AttrWorkspace: ws.ID, stack.AttrDestination: dst[name],
			stack.AttrDestinationType: "webhook", stack.AttrFormat: pack.Format}))
	}
	// A single-copy message, as earlier releases published.
	recs = append(recs, message("m-legacy", `{"type":"track","event":"Visit"}`, map[string]string{stack.AttrWorkspace: ws.ID,
		stack.AttrDestination: dst["healthy"], stack.AttrDestinationType: "webhook", stack.AttrDedupID: "healthy-legacy"}))

	resp, err := h(t.Context(), events.SQSEvent{Records: recs})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("resp %+v err %v; want every batch item to succeed", resp, err)
	}
	if got := dedupIDs(servers["healthy"]); !slices.Equal(got, []string{"healthy-0", "healthy-1", "healthy-legacy"}) {
		t.Fatalf("the healthy destination got %v in the first invocation; want all three copies", got)
	}
	for name, s := range servers {
		if n := s.Count(); name != "healthy" && n != 2 {
			t.Errorf("%s got %d attempts; want one per copy", name, n)
		}
	}

	// Dead letters: the two refused copies, with why.
	dead := awstest.Receive(t, q.sqs, q.dlq, 1, 5*time.Second)
	if len(dead) != 1 {
		t.Fatalf("%d dead-letter messages; want the refused destination's one", len(dead))
	}
	a := dead[0].MessageAttributes
	for name, want := range map[string]string{stack.AttrReason: delivery.ReasonRejected, stack.AttrLastReason: "http-400", stack.AttrLastStatus: "400",
		stack.AttrAttempts: "1", stack.AttrWorkspace: ws.ID, stack.AttrDestination: dst["refusing"]} {
		if got := aws.ToString(a[name].StringValue); got != want {
			t.Errorf("dead letter %s = %q, want %q", name, got, want)
		}
	}
	if cs, err := pack.Decode([]byte(aws.ToString(dead[0].Body))); err != nil || len(cs) != 2 {
		t.Errorf("dead letter body: %d copies, %v", len(cs), err)
	}

	// Re-scheduled: the 500's and the hang's copies after the first backoff (at most 10 s), the
	// 429's after its Retry-After. moto honours DelaySeconds: wait for the first two.
	retried := awstest.Receive(t, q.sqs, q.url, 2, 15*time.Second)
	byDst := map[string][]pack.Copy{}
	for _, m := range retried {
		cs, err := pack.Decode([]byte(aws.ToString(m.Body)))
		if err != nil {
			t.Fatal(err)
		}
		byDst[aws.ToString(m.MessageAttributes[stack.AttrDestination].StringValue)] = cs
	}
	for _, name := range []string{"error", "hang"} {
		cs := byDst[dst[name]]
		if len(cs) != 2 || cs[0].Attempts != 1 || cs[1].Attempts != 1 {
			t.Errorf("%s: re-scheduled %+v; want both copies with attempts 1", name, cs)
		}
	}
	if _, early := byDst[dst["throttled"]]; early {
		t.Error("the throttled copies came back before their Retry-After")
	}
	out, err := q.sqs.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q.url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed}})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed)]); n != 1 {
		t.Errorf("%d delayed messages; want the throttled destination's, waiting out its Retry-After", n)
	}
}

func message(id, body string, attrs map[string]string) events.SQSMessage {
	m := events.SQSMessage{MessageId: id, Body: body, MessageAttributes: map[string]events.SQSMessageAttribute{}}
	for k, v := range attrs {
		m.MessageAttributes[k] = events.SQSMessageAttribute{StringValue: aws.String(v), DataType: "String"}
	}
	return m
}
