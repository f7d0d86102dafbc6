package webhook

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/pack"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

// dedupReceiver answers 503 to the dedup ids in fail and 200 to the others, and records the
// dedup ids it answered 200.
type dedupReceiver struct {
	srv       *httptest.Server
	mu        sync.Mutex
	fail      map[string]bool
	delivered []string
}

func newDedupReceiver(t *testing.T, fail ...string) *dedupReceiver {
	r := &dedupReceiver{fail: map[string]bool{}}
	for _, id := range fail {
		r.fail[id] = true
	}
	r.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		id := req.Header.Get(HeaderDedupID)
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.fail[id] {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		r.delivered = append(r.delivered, id)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *dedupReceiver) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.delivered)
	slices.Sort(out)
	return out
}

// A packed message is unpacked and each copy posted on its own with its own dedup id. When some
// copies fail, only they go back on the queue, as a pack of their own with the message's routing
// attributes, and the message is acknowledged: a delivered copy is never sent again. When every
// copy fails, the message itself is retried and nothing is re-scheduled.
func TestAPackIsUnpackedAndOnlyItsFailedCopiesAreRetriedAlone(t *testing.T) {
	c := awstest.Clients(t)
	ctx := context.Background()
	table := awstest.UniqueName("webhook-pack")
	if err := dynamo.CreateTable(ctx, c.DynamoDB, table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.DynamoDB.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)}) })
	store := dynamo.New(c.DynamoDB, table)
	ws := &phi.Workspace{ID: phi.NewID(phi.PrefixWorkspace), Name: "Clinic", Tier: phi.TierBusiness, BAA: phi.BAA{Signed: true}}
	var secret [16]byte
	_, _ = rand.Read(secret[:])
	sum := sha256.Sum256(secret[:])
	if err := store.CreateWorkspace(ctx, ws, &phi.Token{ID: phi.NewID(phi.PrefixToken), Role: phi.RoleOwner}, hex.EncodeToString(sum[:])); err != nil {
		t.Fatal(err)
	}
	src := &phi.Source{ID: phi.NewID(phi.PrefixSource), WorkspaceID: ws.ID, Name: "web"}
	if err := store.CreateSource(ctx, src); err != nil {
		t.Fatal(err)
	}
	rcv := newDedupReceiver(t, "b")
	d := &phi.Destination{ID: phi.NewID(phi.PrefixDestination), WorkspaceID: ws.ID, SourceID: src.ID, Name: "hook",
		Type: phi.DestinationWebhook, Enabled: true, Settings: phi.DestinationSettings{URL: rcv.srv.URL + "/hook"}}
	if err := store.CreateDestination(ctx, d); err != nil {
		t.Fatal(err)
	}
	q, err := c.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(awstest.UniqueName("webhook-pack"))})
	if err != nil {
		t.Fatal(err)
	}
	qa, err := c.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	arn := qa.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	h, err := New(Config{Store: store, SigningKey: testKey, TLSConfig: rcv.srv.Client().Transport.(*http.Transport).TLSClientConfig,
		Policy:    Policy{LocalTargets: []netip.AddrPort{netip.MustParseAddrPort(rcv.srv.Listener.Addr().String())}},
		RetryBase: time.Millisecond, Attempts: 2, Queue: c.SQS})
	if err != nil {
		t.Fatal(err)
	}
	packed := func(id string, dedup ...string) events.SQSMessage {
		var copies []pack.Copy
		for _, k := range dedup {
			copies = append(copies, pack.Copy{DedupID: k, Event: json.RawMessage(`{"type":"track","messageId":"` + k + `"}`)})
		}
		body, err := pack.Encode(copies)
		if err != nil {
			t.Fatal(err)
		}
		m := events.SQSMessage{MessageId: id, Body: string(body), EventSourceARN: arn, MessageAttributes: map[string]events.SQSMessageAttribute{}}
		for k, v := range map[string]string{attrWorkspace: ws.ID, attrSource: src.ID, attrDestination: d.ID, attrDestinationType: "webhook", attrFormat: pack.Format} {
			m.MessageAttributes[k] = events.SQSMessageAttribute{StringValue: aws.String(v), DataType: "String"}
		}
		return m
	}

	resp, err := h.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{packed("p1", "a", "b", "c"), packed("p2", "b")}})
	if err != nil {
		t.Fatal(err)
	}
	var failed []string
	for _, f := range resp.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	if !slices.Equal(failed, []string{"p2"}) {
		t.Fatalf("batch item failures = %v, want only p2 (its one copy failed; p1's failed copy is re-scheduled)", failed)
	}
	if got := rcv.got(); !slices.Equal(got, []string{"a", "c"}) {
		t.Fatalf("delivered %v, want a and c once each", got)
	}

	var requeued []sqstypes.Message
	for deadline := time.Now().Add(15 * time.Second); len(requeued) == 0 && time.Now().Before(deadline); {
		out, err := c.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			MessageAttributeNames: []string{"All"}})
		if err != nil {
			t.Fatal(err)
		}
		requeued = append(requeued, out.Messages...)
	}
	if len(requeued) != 1 {
		t.Fatalf("%d messages re-scheduled, want 1 (p1's failed copy; p2 is retried by SQS itself)", len(requeued))
	}
	m := requeued[0]
	attrs := map[string]string{}
	for k, v := range m.MessageAttributes {
		attrs[k] = aws.ToString(v.StringValue)
	}
	want := map[string]string{stack.AttrWorkspace: ws.ID, stack.AttrSource: src.ID, stack.AttrDestination: d.ID,
		stack.AttrDestinationType: "webhook", stack.AttrFormat: pack.Format}
	if !maps.Equal(attrs, want) {
		t.Fatalf("re-scheduled attributes %v, want %v", attrs, want)
	}
	copies, err := pack.FromMessage([]byte(aws.ToString(m.Body)), attrs[stack.AttrFormat], "")
	if err != nil || len(copies) != 1 || copies[0].DedupID != "b" || copies[0].Attempts != 1 {
		t.Fatalf("re-scheduled copies %+v (%v), want b alone with one attempt counted", copies, err)
	}

	// The receiver recovers: the re-scheduled pack delivers b, and nothing else again.
	rcv.mu.Lock()
	rcv.fail = map[string]bool{}
	rcv.mu.Unlock()
	again := events.SQSMessage{MessageId: aws.ToString(m.MessageId), Body: aws.ToString(m.Body), EventSourceARN: arn, MessageAttributes: map[string]events.SQSMessageAttribute{}}
	for k, v := range attrs {
		again.MessageAttributes[k] = events.SQSMessageAttribute{StringValue: aws.String(v), DataType: "String"}
	}
	resp, err = h.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{again}})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("re-scheduled pack: failures %v, err %v", resp.BatchItemFailures, err)
	}
	if got := rcv.got(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("delivered %v, want a, b and c exactly once each", got)
	}
}
