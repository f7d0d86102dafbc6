package httpapi

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/delivery"
	"github.com/phiguard/phiguard/shared/pack"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

// deliveryQueues is a delivery queue and its dead-letter queue in the emulator (moto).
type deliveryQueues struct {
	sqs      *sqs.Client
	url, dlq string
}

func newDeliveryQueues(t *testing.T) *deliveryQueues {
	t.Helper()
	c := awstest.Clients(t).SQS
	dlq := awstest.Queue(t, c, "httpapi-delivery")
	return &deliveryQueues{sqs: c, url: awstest.Queue(t, c, "httpapi-delivery"), dlq: dlq}
}

// deadLetter puts a dead letter of n copies for ws/dst on the dead-letter queue, as the
// delivery engine does.
func (q *deliveryQueues) deadLetter(t *testing.T, ws, dst, reason string, n int) {
	t.Helper()
	var cs []pack.Copy
	for i := range n {
		cs = append(cs, pack.Copy{DedupID: phi.NewID("d"), Event: []byte(`{"type":"track"}`), Attempts: 1 + i})
	}
	body, err := pack.Encode(cs)
	if err != nil {
		t.Fatal(err)
	}
	str := func(v string) sqstypes.MessageAttributeValue {
		return sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	_, err = q.sqs.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(q.dlq), MessageBody: aws.String(string(body)),
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{stack.AttrWorkspace: str(ws), stack.AttrDestination: str(dst),
			stack.AttrDestinationType: str("webhook"), stack.AttrFormat: str(pack.Format), stack.AttrReason: str(reason)}})
	if err != nil {
		t.Fatal(err)
	}
}

// An owner counts a destination's dead letters by reason and replays them back to the delivery
// queue, answered with counts and audited; members cannot, another workspace's destination is
// 404, and the other workspace's dead letters are neither counted nor moved.
func TestOwnersCountAndReplayADestinationsDeadLetters(t *testing.T) {
	a := newAPI(t)
	ws, other := a.newWorkspace(t, "business", true), a.newWorkspace(t, "business", true)
	q := a.queues
	q.deadLetter(t, ws.ID, ws.Destination, delivery.ReasonRejected, 2)
	q.deadLetter(t, ws.ID, ws.Destination, delivery.ReasonMaxAttempts, 1)
	q.deadLetter(t, other.ID, other.Destination, delivery.ReasonRejected, 1)
	base := "/workspaces/" + ws.ID + "/destinations/" + ws.Destination + "/dead-letters"

	var c delivery.DeadLetterCount
	a.must(t, 200, "GET", base, ws.Owner, "").json(t, &c)
	if c.Messages != 2 || c.Copies != 3 || c.ByReason[delivery.ReasonRejected] != 2 || c.ByReason[delivery.ReasonMaxAttempts] != 1 || !c.Complete {
		t.Fatalf("count %+v; want 2 messages, 3 copies (2 rejected, 1 max-attempts), complete", c)
	}
	a.must(t, 403, "GET", base, ws.Member, "")
	a.must(t, 403, "POST", base+"/replay", ws.Member, "")
	a.must(t, 404, "POST", "/workspaces/"+ws.ID+"/destinations/"+other.Destination+"/dead-letters/replay", ws.Owner, "")
	a.must(t, 404, "GET", "/workspaces/"+ws.ID+"/destinations/"+phi.NewID(phi.PrefixDestination)+"/dead-letters", ws.Owner, "")

	var r delivery.ReplayResult
	a.must(t, 200, "POST", base+"/replay", ws.Owner, "").json(t, &r)
	if r.Messages != 2 || r.Copies != 3 || r.Failed != 0 || !r.Complete {
		t.Fatalf("replay %+v; want 2 messages, 3 copies", r)
	}
	a.must(t, 200, "GET", base, ws.Owner, "").json(t, &c)
	if c.Messages != 0 {
		t.Errorf("after the replay %d dead letters are left", c.Messages)
	}
	var o delivery.DeadLetterCount
	a.must(t, 200, "GET", "/workspaces/"+other.ID+"/destinations/"+other.Destination+"/dead-letters", other.Owner, "").json(t, &o)
	if o.Copies != 1 {
		t.Errorf("the other workspace's dead letters: %+v; want its one copy, untouched", o)
	}
	out, err := q.sqs.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.url), MaxNumberOfMessages: 10,
		MessageAttributeNames: []string{"All"}, WaitTimeSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 2 {
		t.Fatalf("%d messages on the delivery queue, want the 2 replayed", len(out.Messages))
	}
	for _, m := range out.Messages {
		if aws.ToString(m.MessageAttributes[stack.AttrDestination].StringValue) != ws.Destination {
			t.Errorf("replayed a message of %v", m.MessageAttributes[stack.AttrDestination].StringValue)
		}
		if _, ok := m.MessageAttributes[stack.AttrReason]; ok {
			t.Error("a replayed message keeps its dead-letter reason")
		}
	}

	recs, err := a.store.AuditRecords(t.Context(), ws.ID, time.Time{}, time.Now().Add(time.Hour), 1000)
	if err != nil {
		t.Fatal(err)
	}
	var replays, reads int
	for _, rec := range recs {
		switch rec.Action {
		case stack.RouteReplayDeadLetters.Action:
			if rec.Outcome == "success" && strings.Contains(rec.Target, ws.Destination) {
				replays++
			}
		case stack.RouteCountDeadLetters.Action:
			reads++
		}
	}
	if replays != 1 || reads < 2 {
		t.Errorf("audit: %d successful replays, %d reads; want the replay and the reads recorded", replays, reads)
	}
}
