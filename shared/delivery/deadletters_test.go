package delivery_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/delivery"
	"github.com/phiguard/phiguard/shared/pack"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

// asRecord is what Lambda's SQS event source would hand the function for m.
func asRecord(m sqstypes.Message) events.SQSMessage {
	r := events.SQSMessage{MessageId: aws.ToString(m.MessageId), Body: aws.ToString(m.Body), MessageAttributes: map[string]events.SQSMessageAttribute{}}
	for k, v := range m.MessageAttributes {
		r.MessageAttributes[k] = events.SQSMessageAttribute{StringValue: v.StringValue, DataType: aws.ToString(v.DataType)}
	}
	return r
}

// A destination's dead letters are counted by reason and replayed back to the delivery queue
// with fresh attempts and without the dead-letter attributes, and the replayed copies are then
// delivered; another destination's dead letters stay where they are, visible.
func TestDeadLettersAreCountedAndReplayedRoundTrip(t *testing.T) {
	f := newFixture(t)
	fixed := false
	refusing := f.destination(true, func(c pack.Copy) delivery.Outcome {
		if fixed {
			return ok(c)
		}
		return rejecting(c)
	})
	other := f.destination(true, rejecting)
	e := f.engine(func(c *delivery.Config) { c.MaxAttempts = 3 })
	handle(t, e, f.packed("m1", refusing, copies("r", 3, 0)...), f.packed("m2", other, copies("o", 1, 0)...))
	// Out of attempts: one more copy of the refusing destination, after a 503.
	f.answer[refusing] = func(c pack.Copy) delivery.Outcome {
		if fixed {
			return ok(c)
		}
		return failing(503, 0)(c)
	}
	handle(t, e, f.packed("m3", refusing, copies("late", 1, 2)...))
	// And a message the queue's redrive policy moved (no reason attribute), as single copy.
	m := f.single("m4", refusing, "redriven-1")
	attrs := map[string]sqstypes.MessageAttributeValue{}
	for k, v := range m.MessageAttributes {
		attrs[k] = sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: v.StringValue}
	}
	if _, err := f.q.sqs.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(f.q.dlq), MessageBody: aws.String(m.Body), MessageAttributes: attrs}); err != nil {
		t.Fatal(err)
	}
	// And a pack of the previous release's format (uncompressed JSON, "pack/1"), redriven too.
	attrs[stack.AttrFormat] = sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String("pack/1")}
	delete(attrs, stack.AttrDedupID)
	old := `{"format":"pack/1","copies":[{"dedupId":"old-1","event":{"type":"track"},"attempts":2},{"dedupId":"old-2","event":{"type":"page"},"attempts":2}]}`
	if _, err := f.q.sqs.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(f.q.dlq), MessageBody: aws.String(old), MessageAttributes: attrs}); err != nil {
		t.Fatal(err)
	}

	dl := &delivery.DeadLetters{Queue: f.q.sqs, QueueURL: f.q.url, DLQURL: f.q.dlq}
	c, err := dl.Count(t.Context(), f.ws, refusing)
	if err != nil {
		t.Fatal(err)
	}
	wantReasons := map[string]int{delivery.ReasonRejected: 3, delivery.ReasonMaxAttempts: 1, delivery.ReasonReceiveLimit: 3}
	if c.Messages != 4 || c.Copies != 7 || !maps.Equal(c.ByReason, wantReasons) || c.Scanned != 5 || !c.Complete {
		t.Fatalf("Count = %+v; want 4 messages, 7 copies by reason %v, 5 scanned, complete", c, wantReasons)
	}
	// By the last attempt's failure: the redriven messages have none.
	if want := map[string]int{"http-400": 3, "http-503": 1}; !maps.Equal(c.ByLastFailure, want) {
		t.Fatalf("Count.ByLastFailure = %v, want %v", c.ByLastFailure, want)
	}
	// Counting released every message: the counts are the same at once.
	if again, err := dl.Count(t.Context(), f.ws, refusing); err != nil || again.Copies != 7 || again.Scanned != 5 {
		t.Fatalf("second Count = %+v, %v; want the same messages, visible again", again, err)
	}
	// A caller whose deadline (the function's timeout) is near stops before it, incomplete, and
	// leaves the queue as it was.
	near, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if c, err := dl.Count(near, f.ws, refusing); err != nil || c.Complete || c.Scanned != 0 {
		t.Fatalf("Count with 2 s left = %+v, %v; want it to stop at once, incomplete", c, err)
	}
	if again, err := dl.Count(t.Context(), f.ws, refusing); err != nil || again.Copies != 7 {
		t.Fatalf("Count after the stopped one = %+v, %v; want the 7 copies", again, err)
	}
	if c, err := dl.Count(t.Context(), f.ws, phi.NewID(phi.PrefixDestination)); err != nil || c.Messages != 0 || !c.Complete {
		t.Fatalf("Count of a destination without dead letters = %+v, %v", c, err)
	}

	r, err := dl.Replay(t.Context(), f.ws, refusing)
	if err != nil {
		t.Fatal(err)
	}
	if r.Messages != 4 || r.Copies != 7 || r.Failed != 0 || !r.Complete {
		t.Fatalf("Replay = %+v; want 4 messages, 7 copies", r)
	}
	if c, err := dl.Count(t.Context(), f.ws, refusing); err != nil || c.Messages != 0 {
		t.Fatalf("after the replay Count = %+v, %v; want none left", c, err)
	}
	if c, err := dl.Count(t.Context(), f.ws, other); err != nil || c.Copies != 1 {
		t.Fatalf("the other destination's dead letters: %+v, %v; want its one copy, untouched", c, err)
	}

	replayed := awstest.Receive(t, f.q.sqs, f.q.url, 0, 0)
	if len(replayed) != 4 {
		t.Fatalf("%d messages on the delivery queue after the replay, want 4", len(replayed))
	}
	var recs []events.SQSMessage
	for _, m := range replayed {
		for _, name := range []string{stack.AttrReason, stack.AttrLastReason, stack.AttrLastStatus, stack.AttrAttempts, stack.AttrDeadLetteredAt} {
			if _, ok := m.MessageAttributes[name]; ok {
				t.Errorf("replayed message keeps the dead-letter attribute %s", name)
			}
		}
		switch attrOf(m, stack.AttrFormat) {
		case "":
		case pack.Format:
			for _, c := range decode(t, aws.ToString(m.Body)) {
				if c.Attempts != 0 {
					t.Errorf("replayed copy %s has attempts %d, want 0", c.DedupID, c.Attempts)
				}
			}
		default:
			t.Errorf("replayed as format %q, want %q (this release's packs) or none (a single copy)", attrOf(m, stack.AttrFormat), pack.Format)
		}
		recs = append(recs, asRecord(m))
	}
	fixed = true
	before := len(f.sentTo(refusing))
	handle(t, e, recs...)
	if got := len(f.sentTo(refusing)) - before; got != 7 {
		t.Errorf("the replayed copies reached the destination %d times, want 7", got)
	}
}
