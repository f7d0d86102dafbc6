package devserver

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/phiguard/phiguard/shared/awstest"
)

func TestFailedIDsFollowsTheEventSourceMapping(t *testing.T) {
	ev := events.SQSEvent{Records: []events.SQSMessage{{MessageId: "a"}, {MessageId: "b"}}}
	fail := func(ids ...string) events.SQSEventResponse {
		var r events.SQSEventResponse
		for _, id := range ids {
			r.BatchItemFailures = append(r.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: id})
		}
		return r
	}
	tests := []struct {
		name      string
		resp      events.SQSEventResponse
		err       error
		wantBatch bool // the whole batch fails
		want      []string
	}{
		{name: "no failures means every message succeeded", resp: fail()},
		{name: "a listed message stays, the others are deleted", resp: fail("b"), want: []string{"b"}},
		{name: "a handler error fails the whole batch", err: errors.New("boom"), wantBatch: true},
		{name: "an identifier outside the batch fails the whole batch", resp: fail("zzz"), wantBatch: true},
		{name: "an empty identifier fails the whole batch", resp: fail(""), wantBatch: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := failedIDs(ev, tt.resp, tt.err)
			if (err != nil) != tt.wantBatch {
				t.Fatalf("whole-batch failure = %v, want %v", err, tt.wantBatch)
			}
			if tt.wantBatch {
				return
			}
			if len(got) != len(tt.want) {
				t.Fatalf("failed = %v, want %v", got, tt.want)
			}
			for _, id := range tt.want {
				if !got[id] {
					t.Errorf("%s not marked failed", id)
				}
			}
		})
	}
}

// recorder is an SQSHandler that remembers every batch and fails the messages whose body is
// in failBodies (item failures) or the whole batch when failAll is set.
type recorder struct {
	mu         sync.Mutex
	batches    []events.SQSEvent
	failBodies map[string]bool
	failAll    bool
}

func (r *recorder) handle(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, ev)
	if r.failAll {
		return events.SQSEventResponse{}, errors.New("transient")
	}
	var resp events.SQSEventResponse
	for _, m := range ev.Records {
		if r.failBodies[m.Body] {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
		}
	}
	return resp, nil
}

func (r *recorder) seen() (batches int, bodies map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	bodies = map[string]int{}
	for _, b := range r.batches {
		for _, m := range b.Records {
			bodies[m.Body]++
		}
	}
	return len(r.batches), bodies
}

func newTestQueue(t *testing.T, c *sqs.Client, visibility int) string {
	t.Helper()
	out, err := c.CreateQueue(context.Background(), &sqs.CreateQueueInput{
		QueueName:  aws.String(awstest.UniqueName("poller")),
		Attributes: map[string]string{string(sqstypes.QueueAttributeNameVisibilityTimeout): strconv.Itoa(visibility)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.QueueUrl)
}

func send(t *testing.T, c *sqs.Client, queue string, n int) {
	t.Helper()
	for i := 0; i < n; i += 10 {
		var entries []sqstypes.SendMessageBatchRequestEntry
		for j := i; j < min(n, i+10); j++ {
			entries = append(entries, sqstypes.SendMessageBatchRequestEntry{
				Id:          aws.String(strconv.Itoa(j)),
				MessageBody: aws.String(fmt.Sprintf("m%d", j)),
				MessageAttributes: map[string]sqstypes.MessageAttributeValue{
					"workspace": {DataType: aws.String("String"), StringValue: aws.String("ws_x")},
				},
			})
		}
		if _, err := c.SendMessageBatch(context.Background(), &sqs.SendMessageBatchInput{QueueUrl: aws.String(queue), Entries: entries}); err != nil {
			t.Fatal(err)
		}
	}
}

func runPoller(t *testing.T, p *Poller) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("poller: %v", err)
		}
	})
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func visibleAndInFlight(t *testing.T, c *sqs.Client, queue string) int {
	t.Helper()
	out, err := c.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(queue),
		AttributeNames: []sqstypes.QueueAttributeName{
			sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
	b, _ := strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return a + b
}

func TestPollerAccumulatesMoreThanOneReceiveIntoOneBatch(t *testing.T) {
	c := awstest.Clients(t)
	q := newTestQueue(t, c.SQS, 30)
	send(t, c.SQS, q, 25)
	rec := &recorder{}
	p := &Poller{Name: "test", Client: c.SQS, QueueURL: q, BatchSize: 100, Window: 2 * time.Second, Handler: rec.handle, Region: "us-east-1"}
	runPoller(t, p)
	waitFor(t, "25 messages handled", 15*time.Second, func() bool { _, b := rec.seen(); return len(b) == 25 })

	batches, _ := rec.seen()
	if batches != 1 {
		t.Errorf("25 messages sent at once reached the handler in %d batches; want 1 (batch size 100, 2s window)", batches)
	}
	ev := rec.batches[0]
	m := ev.Records[0]
	if m.EventSource != "aws:sqs" || m.EventSourceARN == "" || m.AWSRegion != "us-east-1" || m.ReceiptHandle == "" || m.Md5OfBody == "" {
		t.Errorf("record is not shaped like Lambda's: %+v", m)
	}
	if v := m.MessageAttributes["workspace"]; aws.ToString(v.StringValue) != "ws_x" || v.DataType != "String" {
		t.Errorf("message attribute workspace = %+v", v)
	}
	if m.Attributes["ApproximateReceiveCount"] != "1" {
		t.Errorf("attributes = %v; want ApproximateReceiveCount 1", m.Attributes)
	}
	waitFor(t, "the queue to be empty", 5*time.Second, func() bool { return visibleAndInFlight(t, c.SQS, q) == 0 })
	// The poller counts a batch once its deletes return, which can be just after the queue
	// reads empty.
	waitFor(t, "the batch to be counted", 5*time.Second, func() bool { return p.Stats().Invocations > 0 })
	if s := p.Stats(); s.Deleted != 25 || s.Failed != 0 {
		t.Errorf("stats = %+v; want 25 deleted, 0 failed", s)
	}
}

func TestPollerNeverExceedsTheBatchSize(t *testing.T) {
	c := awstest.Clients(t)
	q := newTestQueue(t, c.SQS, 30)
	send(t, c.SQS, q, 23)
	rec := &recorder{}
	p := &Poller{Name: "test", Client: c.SQS, QueueURL: q, BatchSize: 7, Window: time.Second, Handler: rec.handle}
	runPoller(t, p)
	waitFor(t, "23 messages handled", 15*time.Second, func() bool { _, b := rec.seen(); return len(b) == 23 })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for i, b := range rec.batches {
		if len(b.Records) > 7 {
			t.Errorf("batch %d has %d records; the batch size is 7", i, len(b.Records))
		}
	}
}

func TestPollerDeletesOnlyWhatSucceeded(t *testing.T) {
	c := awstest.Clients(t)
	q := newTestQueue(t, c.SQS, 1) // failed messages come back after a second
	send(t, c.SQS, q, 5)
	rec := &recorder{failBodies: map[string]bool{"m3": true}}
	p := &Poller{Name: "test", Client: c.SQS, QueueURL: q, BatchSize: 10, Window: time.Second, Handler: rec.handle}
	runPoller(t, p)
	waitFor(t, "m3 redelivered", 15*time.Second, func() bool { _, b := rec.seen(); return b["m3"] >= 2 })
	_, bodies := rec.seen()
	for i := range 5 {
		body := fmt.Sprintf("m%d", i)
		if body != "m3" && bodies[body] != 1 {
			t.Errorf("%s was handled %d times; a message that succeeded must be deleted and seen once", body, bodies[body])
		}
	}
	if n := visibleAndInFlight(t, c.SQS, q); n != 1 {
		t.Errorf("queue holds %d messages; want only the failing one", n)
	}
}

func TestPollerKeepsTheWholeBatchWhenTheHandlerFails(t *testing.T) {
	c := awstest.Clients(t)
	q := newTestQueue(t, c.SQS, 30)
	send(t, c.SQS, q, 4)
	rec := &recorder{failAll: true}
	p := &Poller{Name: "test", Client: c.SQS, QueueURL: q, BatchSize: 10, Window: 500 * time.Millisecond, Handler: rec.handle}
	runPoller(t, p)
	waitFor(t, "one batch", 10*time.Second, func() bool { n, _ := rec.seen(); return n >= 1 })
	waitFor(t, "the stats", 5*time.Second, func() bool { return p.Stats().Invocations >= 1 })
	if s := p.Stats(); s.Deleted != 0 || s.Failed != s.Received {
		t.Errorf("stats = %+v; a failed invocation must delete nothing", s)
	}
	if n := visibleAndInFlight(t, c.SQS, q); n != 4 {
		t.Errorf("queue holds %d messages; want all 4 back", n)
	}
}

func TestPollerRefusesAnUnusableConfiguration(t *testing.T) {
	tests := []struct {
		name string
		p    *Poller
	}{
		{name: "no handler", p: &Poller{Client: &sqs.Client{}, QueueURL: "q", BatchSize: 1}},
		{name: "no queue", p: &Poller{Client: &sqs.Client{}, Handler: (&recorder{}).handle, BatchSize: 1}},
		{name: "zero batch size", p: &Poller{Client: &sqs.Client{}, QueueURL: "q", Handler: (&recorder{}).handle}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.p.Run(context.Background()); err == nil {
				t.Fatal("Run accepted an unusable poller")
			}
		})
	}
}
