package awsmetrics_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/phiguard/phiguard/shared/awsmetrics"
	"github.com/phiguard/phiguard/shared/awstest"
)

// The counter sees every call of a client built from the configuration it is attached to, by
// service and operation, with the messages and the 64 KiB chunks SQS bills.
func TestCounterCountsCallsMessagesAndBilledChunksAgainstTheEmulator(t *testing.T) {
	ctx := context.Background()
	cfg := awstest.Clients(t).Config.Copy()
	var c awsmetrics.Counter
	c.Attach(&cfg)
	q := sqs.NewFromConfig(cfg)

	created, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(awstest.UniqueName("awsmetrics"))})
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 100<<10) // two chunks
	entries := []sqstypes.SendMessageBatchRequestEntry{
		{Id: aws.String("a"), MessageBody: aws.String("small")},
		{Id: aws.String("b"), MessageBody: aws.String(big)},
	}
	if _, err := q.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: created.QueueUrl, Entries: entries}); err != nil {
		t.Fatal(err)
	}
	got := 0
	for range 10 {
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: created.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if got += len(out.Messages); got == 2 {
			break
		}
	}
	if got != 2 {
		t.Fatalf("received %d messages, want 2", got)
	}

	counts := c.Snapshot()
	want := map[awsmetrics.Key]awsmetrics.Count{
		{Service: "SQS", Operation: "CreateQueue"}:      {Calls: 1, Billed: 1},
		{Service: "SQS", Operation: "SendMessageBatch"}: {Calls: 1, Messages: 2, Bytes: int64(5 + len(big)), Billed: 2, MessageChunks: 3},
	}
	for k, w := range want {
		got := counts[k]
		if got.Time <= 0 {
			t.Errorf("%v took no time", k)
		}
		got.Time = 0
		if got != w {
			t.Errorf("%v = %+v, want %+v", k, got, w)
		}
	}
	recv := counts[awsmetrics.Key{Service: "SQS", Operation: "ReceiveMessage"}]
	if recv.Calls < 1 || recv.Messages != 2 || recv.Billed < recv.Calls+1 || recv.MessageChunks != 3 {
		t.Errorf("ReceiveMessage = %+v; want the 2 messages, billed per chunk of what was returned (at least one per call)", recv)
	}
	if keys := awsmetrics.Keys(counts); len(keys) != 3 || keys[0].Operation != "CreateQueue" || keys[2].Operation != "SendMessageBatch" {
		t.Errorf("Keys = %v, want sorted by operation", keys)
	}
	if tot := awsmetrics.Total(counts); tot.Calls != 2+recv.Calls {
		t.Errorf("Total calls = %d", tot.Calls)
	}
	c.Reset()
	if n := len(c.Snapshot()); n != 0 {
		t.Errorf("after Reset %d keys remain", n)
	}
}
