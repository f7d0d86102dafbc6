package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/pipeline"
	"github.com/phiguard/phiguard/shared/stack"
)

func TestColdStartFailsClearlyOnBadEnvironment(t *testing.T) {
	full := map[string]string{stack.EnvTable: "t", stack.EnvTopicARN: "arn:aws:sns:us-east-1:111122223333:t", stack.EnvRejectedQueueURL: "https://q"}
	for _, tt := range []struct {
		name, drop, set, value, want string
	}{
		{name: "no table", drop: stack.EnvTable, want: stack.EnvTable},
		{name: "no topic", drop: stack.EnvTopicARN, want: stack.EnvTopicARN},
		{name: "no rejected queue", drop: stack.EnvRejectedQueueURL, want: stack.EnvRejectedQueueURL},
		{name: "bad cache TTL", set: stack.EnvConfigCacheTTL, value: "forever", want: stack.EnvConfigCacheTTL},
		{name: "bad log level", set: stack.EnvLogLevel, value: "loud", want: stack.EnvLogLevel},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range full {
				if k != tt.drop {
					env[k] = v
				}
			}
			if tt.set != "" {
				env[tt.set] = tt.value
			}
			_, err := run(context.Background(), func(k string) string { return env[k] }, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to name %s", err, tt.want)
			}
		})
	}
}

// The sample SQS batch in events/hashing-sqs-ingest-batch.json runs through the function's real wiring against moto:
// its good messages fan out, its poison lands on the rejected queue, nothing is retried.
func TestSampleBatchRunsThroughTheFunction(t *testing.T) {
	c := awstest.Clients(t)
	ctx := context.Background()
	table := awstest.UniqueName("hashing-fn")
	if err := dynamo.CreateTable(ctx, c.DynamoDB, table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.DynamoDB.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)}) })
	store := dynamo.New(c.DynamoDB, table)
	ws := &phi.Workspace{ID: "ws_00000000000000000000000001", Name: "Sample", Tier: phi.TierBusiness, BAA: phi.BAA{Signed: true}}
	sum := sha256.Sum256([]byte(table))
	if err := store.CreateWorkspace(ctx, ws, &phi.Token{ID: "tok_00000000000000000000000001", Role: phi.RoleOwner}, hex.EncodeToString(sum[:])); err != nil {
		t.Fatal(err)
	}
	if err := store.CreateSource(ctx, &phi.Source{ID: "src_00000000000000000000000001", WorkspaceID: ws.ID, Name: "web"}); err != nil {
		t.Fatal(err)
	}
	if err := store.PutClassification(ctx, ws.ID, phi.Classification{Path: "traits.ssn", Class: "red"}); err != nil {
		t.Fatal(err)
	}
	dst := &phi.Destination{ID: "dst_00000000000000000000000001", WorkspaceID: ws.ID, SourceID: "src_00000000000000000000000001",
		Name: "hook", Type: phi.DestinationWebhook, Enabled: true,
		Hashing: phi.HashingSettings{Enabled: true, BlockRed: true, Fields: []phi.FieldTreatment{
			{Path: "traits.phone", Treatment: phi.TreatmentSHA256}, {Path: "context.ip", Treatment: phi.TreatmentRedact}}}}
	if err := store.CreateDestination(ctx, dst); err != nil {
		t.Fatal(err)
	}
	topic, err := c.SNS.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(awstest.UniqueName("fanout"))})
	if err != nil {
		t.Fatal(err)
	}
	queue := func() (string, string) {
		q, err := c.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(awstest.UniqueName("q"))})
		if err != nil {
			t.Fatal(err)
		}
		a, err := c.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(q.QueueUrl), a.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	}
	rejected, _ := queue()
	hook, hookARN := queue()
	if _, err := c.SNS.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(hookARN),
		Attributes: map[string]string{"RawMessageDelivery": "true", "FilterPolicy": fmt.Sprintf(`{%q:["webhook"]}`, pipeline.AttrDestinationType)}}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{stack.EnvTable: table, stack.EnvTopicARN: aws.ToString(topic.TopicArn), stack.EnvRejectedQueueURL: rejected}
	var out bytes.Buffer
	h, err := run(ctx, func(k string) string { return env[k] }, &out)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../../events/hashing-sqs-ingest-batch.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	resp, err := h(ctx, ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("resp %+v err %v", resp, err)
	}
	if b, _ := json.Marshal(resp); string(b) != `{"batchItemFailures":[]}` {
		t.Fatalf("response JSON %s", b)
	}
	count := func(q string) (n int, bodies string) {
		for {
			r, err := c.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q), MaxNumberOfMessages: 10, VisibilityTimeout: 60})
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Messages) == 0 {
				return n, bodies
			}
			for _, m := range r.Messages {
				n++
				bodies += aws.ToString(m.Body)
			}
		}
	}
	if n, bodies := count(hook); n != 3 || strings.Contains(bodies, "000-00-0000") || strings.Contains(bodies, "+1 415 555 0100") {
		t.Fatalf("webhook queue got %d copies (want identify, track, page), protected: %s", n, bodies)
	}
	if n, _ := count(rejected); n != 3 {
		t.Fatalf("rejected queue got %d messages, want 3 (invalid event in the batch, not JSON, no workspace attribute)", n)
	}
	if !strings.Contains(out.String(), `"CloudWatchMetrics"`) {
		t.Error("no EMF metrics on stdout")
	}
}
