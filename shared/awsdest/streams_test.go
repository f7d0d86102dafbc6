package awsdest

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/catalog"
	"github.com/phiguard/phiguard/shared/delivery"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

// rewrite changes the deserialized output of operation op with f (SDK middleware): the call
// reached the emulator; the test makes its answer report failures the emulator cannot produce.
func rewrite(op string, f func(out any)) func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("rewrite-"+op, func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleInitialize(ctx, in)
			if err == nil && middleware.GetOperationName(ctx) == op {
				f(out.Result)
			}
			return out, md, err
		}), middleware.Before)
	}
}

// Issue 16, Firehose: records land in the stream's bucket; requests hold at most 500 records and
// 4 MiB; a record over 1,000 KiB is refused alone; a record the stream failed is retried alone.
func TestFirehoseBatchesWithinLimitsAndRetriesOnlyFailedRecords(t *testing.T) {
	c := newCustomer(t)
	ctx := context.Background()
	bucket := c.Bucket(t)
	stream := awstest.UniqueName("stream")
	if _, err := c.Clients.Firehose.CreateDeliveryStream(ctx, &firehose.CreateDeliveryStreamInput{DeliveryStreamName: aws.String(stream),
		ExtendedS3DestinationConfiguration: &fhtypes.ExtendedS3DestinationConfiguration{BucketARN: aws.String("arn:aws:s3:::" + bucket),
			RoleARN: aws.String("arn:aws:iam::" + c.ID + ":role/firehose"), Prefix: aws.String("fh/")}}); err != nil {
		t.Fatal(err)
	}
	d := c.destination(phi.DestinationFirehose, phi.DestinationSettings{DeliveryStreamARN: "arn:aws:firehose:us-east-1:" + c.ID + ":deliverystream/" + stream})
	if p := catalog.Check(d.Type, d.Settings); len(p) > 0 {
		t.Fatal(p)
	}

	t.Run("records land in the stream's bucket, 500 per request", func(t *testing.T) {
		var n calls
		mustDeliver(t, FirehoseSender{senders(t, c, n.option())}.Send(ctx, d, copies(501, 0)), 501)
		if got := n.count("PutRecordBatch"); got != 2 {
			t.Errorf("%d PutRecordBatch calls for 501 records, want 2", got)
		}
		var all []byte
		for _, k := range c.objects(t, bucket, "fh/") {
			_, b := c.object(t, bucket, k)
			all = append(all, b...)
		}
		recs := records(t, all)
		if len(recs) != 501 {
			t.Fatalf("the bucket holds %d records, want 501", len(recs))
		}
	})
	t.Run("4 MiB per request", func(t *testing.T) {
		var n calls
		mustDeliver(t, FirehoseSender{senders(t, c, n.option())}.Send(ctx, d, copies(50, 100<<10)), 50)
		if got := n.count("PutRecordBatch"); got != 2 {
			t.Errorf("%d PutRecordBatch calls for 50 records of 100 KiB, want 2", got)
		}
	})
	t.Run("an oversize record is refused alone", func(t *testing.T) {
		cps := copies(3, 0)
		cps[1] = copies(2, 1001<<10)[1]
		out := FirehoseSender{senders(t, c)}.Send(ctx, d, cps)
		if out[0].Err != nil || out[2].Err != nil || !out[1].Permanent || out[1].Reason != "too-large" {
			t.Fatalf("outcomes %+v", out)
		}
	})
	t.Run("only the failed record is retried", func(t *testing.T) {
		s := senders(t, c, rewrite("PutRecordBatch", func(out any) {
			res := out.(*firehose.PutRecordBatchOutput)
			res.FailedPutCount = aws.Int32(1)
			res.RequestResponses[1] = fhtypes.PutRecordBatchResponseEntry{ErrorCode: aws.String("ServiceUnavailableException"), ErrorMessage: aws.String("Slow down.")}
		}))
		out := FirehoseSender{s}.Send(ctx, d, copies(3, 0))
		if out[0].Err != nil || out[2].Err != nil || out[1].Err == nil || out[1].Permanent || out[1].Reason != "ServiceUnavailableException" {
			t.Fatalf("outcomes %+v", out)
		}
	})
	t.Run("throttling of the whole request is retried", func(t *testing.T) {
		out := FirehoseSender{senders(t, c, failFirst("PutRecordBatch", "ThrottlingException"))}.Send(ctx, d, copies(2, 0))
		for _, o := range out {
			if o.Err == nil || o.Permanent || o.Reason != "throttled:ThrottlingException" {
				t.Fatalf("outcome %+v", o)
			}
		}
	})
	t.Run("a missing stream is permanent", func(t *testing.T) {
		gone := c.destination(phi.DestinationFirehose, phi.DestinationSettings{DeliveryStreamARN: "arn:aws:firehose:us-east-1:" + c.ID + ":deliverystream/gone"})
		out := FirehoseSender{senders(t, c)}.Send(ctx, gone, copies(1, 0))
		if out[0].Err == nil || !out[0].Permanent {
			t.Fatalf("outcome %+v", out[0])
		}
	})
}

// Issue 16, EventBridge: events with the documented source and detail-type reach a rule's
// queue; requests hold at most 10 entries and 256 KB; an entry over 256 KB is refused alone; a
// failed entry is retried alone.
func TestEventBridgePutsEventsARuleRoutesWithinLimits(t *testing.T) {
	c := newCustomer(t)
	ctx := context.Background()
	bus := awstest.UniqueName("bus")
	res, err := c.Clients.EventBridge.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(bus)})
	if err != nil {
		t.Fatal(err)
	}
	url, qarn := c.Queue(t, false)
	rule := awstest.UniqueName("rule")
	if _, err := c.Clients.EventBridge.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(rule), EventBusName: aws.String(bus),
		EventPattern: aws.String(`{"source":["` + catalog.EventBridgeSource + `"],"detail-type":["` + catalog.EventBridgeDetailType + `"]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Clients.EventBridge.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(rule), EventBusName: aws.String(bus),
		Targets: []ebtypes.Target{{Id: aws.String("q"), Arn: aws.String(qarn)}}}); err != nil {
		t.Fatal(err)
	}
	d := c.destination(phi.DestinationEventBridge, phi.DestinationSettings{EventBusARN: aws.ToString(res.EventBusArn)})
	if p := catalog.Check(d.Type, d.Settings); len(p) > 0 {
		t.Fatal(p)
	}

	var n calls
	mustDeliver(t, EventBridgeSender{senders(t, c, n.option())}.Send(ctx, d, copies(12, 0)), 12)
	if got := n.count("PutEvents"); got != 2 {
		t.Errorf("%d PutEvents calls for 12 events, want 2", got)
	}
	msgs := c.Drain(t, url)
	if len(msgs) != 12 {
		t.Fatalf("the rule's queue received %d events, want 12", len(msgs))
	}
	var seen []string
	for _, m := range msgs {
		var ev struct {
			Source     string          `json:"source"`
			DetailType string          `json:"detail-type"`
			Detail     json.RawMessage `json:"detail"`
		}
		if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &ev); err != nil {
			t.Fatal(err)
		}
		r := records(t, ev.Detail)[0]
		if ev.Source != catalog.EventBridgeSource || ev.DetailType != catalog.EventBridgeDetailType || r["type"] != "track" {
			t.Fatalf("event %s", aws.ToString(m.Body))
		}
		seen = append(seen, r["_delivery"].(map[string]any)["dedupId"].(string))
	}
	if slices.Sort(seen); len(slices.Compact(seen)) != 12 {
		t.Errorf("dedup ids %v", seen)
	}

	t.Run("256 KB per request, an oversize entry alone refused", func(t *testing.T) {
		var n calls
		cps := copies(3, 100<<10)
		cps = append(cps, copies(5, 257<<10)[4])
		out := EventBridgeSender{senders(t, c, n.option())}.Send(ctx, d, cps)
		if out[0].Err != nil || out[1].Err != nil || out[2].Err != nil || !out[3].Permanent || out[3].Reason != "too-large" {
			t.Fatalf("outcomes %+v", out)
		}
		if got := n.count("PutEvents"); got != 2 {
			t.Errorf("%d PutEvents calls for 3 events of 100 KiB, want 2", got)
		}
		c.Drain(t, url)
	})
	t.Run("only the failed entry is retried", func(t *testing.T) {
		s := senders(t, c, rewrite("PutEvents", func(out any) {
			res := out.(*eventbridge.PutEventsOutput)
			res.FailedEntryCount = 1
			res.Entries[0].EventId, res.Entries[0].ErrorCode, res.Entries[0].ErrorMessage = nil, aws.String("ThrottlingException"), aws.String("Rate exceeded")
		}))
		out := EventBridgeSender{s}.Send(ctx, d, copies(2, 0))
		if out[1].Err != nil || out[0].Err == nil || out[0].Permanent || out[0].Reason != "ThrottlingException" {
			t.Fatalf("outcomes %+v", out)
		}
		c.Drain(t, url)
	})
}

// Issue 16, SQS: messages carry the record and the dedup id attribute, at most 10 per request;
// a FIFO queue gets the dedup id as deduplication id, so a redelivery is dropped; a failed entry
// is retried alone, a sender fault is permanent.
func TestSQSSendsBatchesAndFIFODropsRedeliveries(t *testing.T) {
	c := newCustomer(t)
	ctx := context.Background()
	t.Run("standard queue", func(t *testing.T) {
		url, arn := c.Queue(t, false)
		d := c.destination(phi.DestinationSQS, phi.DestinationSettings{QueueARN: arn})
		var n calls
		mustDeliver(t, SQSSender{senders(t, c, n.option())}.Send(ctx, d, copies(11, 0)), 11)
		if got := n.count("SendMessageBatch"); got != 2 {
			t.Errorf("%d SendMessageBatch calls for 11 messages, want 2", got)
		}
		msgs := c.Drain(t, url)
		if len(msgs) != 11 {
			t.Fatalf("%d messages, want 11", len(msgs))
		}
		for _, m := range msgs {
			r := records(t, []byte(aws.ToString(m.Body)))[0]
			if got := aws.ToString(m.MessageAttributes[stack.AttrDedupID].StringValue); got == "" || got != r["_delivery"].(map[string]any)["dedupId"] {
				t.Errorf("message attribute %s = %q, record %v", stack.AttrDedupID, got, r["_delivery"])
			}
		}
	})
	t.Run("FIFO queue", func(t *testing.T) {
		url, arn := c.Queue(t, true)
		d := c.destination(phi.DestinationSQS, phi.DestinationSettings{QueueARN: arn})
		s := senders(t, c)
		mustDeliver(t, SQSSender{s}.Send(ctx, d, copies(3, 0)), 3)
		mustDeliver(t, SQSSender{s}.Send(ctx, d, copies(3, 0)), 3) // a redelivery
		if msgs := c.Drain(t, url); len(msgs) != 3 {
			t.Fatalf("%d messages after a redelivery, want 3", len(msgs))
		}
	})
	t.Run("per-entry failures", func(t *testing.T) {
		_, arn := c.Queue(t, false)
		d := c.destination(phi.DestinationSQS, phi.DestinationSettings{QueueARN: arn})
		s := senders(t, c, rewrite("SendMessageBatch", func(out any) {
			res := out.(*sqs.SendMessageBatchOutput)
			res.Successful = slices.DeleteFunc(res.Successful, func(e sqstypes.SendMessageBatchResultEntry) bool { return aws.ToString(e.Id) != "0" })
			res.Failed = []sqstypes.BatchResultErrorEntry{
				{Id: aws.String("1"), Code: aws.String("InternalError"), SenderFault: false, Message: aws.String("try again")},
				{Id: aws.String("2"), Code: aws.String("InvalidMessageContents"), SenderFault: true, Message: aws.String("bad")},
			}
		}))
		out := SQSSender{s}.Send(ctx, d, copies(3, 0))
		if out[0].Err != nil || out[1].Err == nil || out[1].Permanent || out[2].Err == nil || !out[2].Permanent {
			t.Fatalf("outcomes %+v", out)
		}
	})
	t.Run("a missing queue is permanent", func(t *testing.T) {
		d := c.destination(phi.DestinationSQS, phi.DestinationSettings{QueueARN: "arn:aws:sqs:us-east-1:" + c.ID + ":gone"})
		out := SQSSender{senders(t, c)}.Send(ctx, d, copies(1, 0))
		if out[0].Err == nil || !out[0].Permanent {
			t.Fatalf("outcome %+v", out[0])
		}
	})
}

// Every sender is safe for concurrent use: several destinations of one Senders at once.
func TestSendersServeDestinationsConcurrently(t *testing.T) {
	c := newCustomer(t)
	s := senders(t, c)
	var wg sync.WaitGroup
	urls := make([]string, 4)
	results := make([][]delivery.Outcome, 4)
	for i := range urls {
		url, arn := c.Queue(t, false)
		urls[i] = url
		d := c.destination(phi.DestinationSQS, phi.DestinationSettings{QueueARN: arn})
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = s.ByType()[phi.DestinationSQS].Send(context.Background(), d, copies(5, 0))
		}()
	}
	wg.Wait()
	for i, url := range urls {
		mustDeliver(t, results[i], 5)
		if got := len(c.Drain(t, url)); got != 5 {
			t.Errorf("queue %d received %d messages, want 5", i, got)
		}
	}
}
