package hashingfn_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/phiguard/phiguard/shared/awsclient"
	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/fn/fntest"
	"github.com/phiguard/phiguard/shared/fn/hashingfn"
	"github.com/phiguard/phiguard/shared/pack"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/pipeline"
	"github.com/phiguard/phiguard/shared/stack"
)

// The sample SQS batch in events/hashing-sqs-ingest-batch.json runs through the function's real
// wiring against moto: its good messages fan out, its poison lands on the rejected queue,
// nothing is retried.
func TestSampleBatchRunsThroughTheFunction(t *testing.T) {
	c := awstest.Clients(t)
	ctx := t.Context()
	store, table := fntest.Table(t)
	ws := &phi.Workspace{ID: fntest.WorkspaceID, Name: "Sample", Tier: phi.TierBusiness, BAA: phi.BAA{Signed: true}}
	fntest.Seed(t, store, ws)
	if err := store.PutClassification(ctx, ws.ID, phi.Classification{Path: "traits.ssn", Class: "red"}); err != nil {
		t.Fatal(err)
	}
	dst := &phi.Destination{ID: fntest.DestinationID, WorkspaceID: ws.ID, SourceID: fntest.SourceID,
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
	rejected, _ := queue(t, c)
	hook, hookARN := queue(t, c)
	if _, err := c.SNS.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(hookARN),
		Attributes: map[string]string{"RawMessageDelivery": "true", "FilterPolicy": fmt.Sprintf(`{%q:["webhook"]}`, pipeline.AttrDestinationType)}}); err != nil {
		t.Fatal(err)
	}
	env := fntest.Vars{stack.EnvTable: table, stack.EnvTopicARN: aws.ToString(topic.TopicArn), stack.EnvRejectedQueueURL: rejected}
	var out fntest.Log
	h := fntest.Build(t, hashingfn.Build, env, &out)
	resp, err := h(ctx, fntest.Event[events.SQSEvent](t, "hashing-sqs-ingest-batch.json"))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("resp %+v err %v", resp, err)
	}
	if b, _ := json.Marshal(resp); string(b) != `{"batchItemFailures":[]}` {
		t.Fatalf("response JSON %s", b)
	}
	if n, bodies := drain(t, c, hook); n != 1 || strings.Count(bodies, `"dedupId"`) != 3 || strings.Contains(bodies, "000-00-0000") || strings.Contains(bodies, "+1 415 555 0100") {
		t.Fatalf("webhook queue got %d messages, want one pack of 3 copies (identify, track, page), protected: %s", n, bodies)
	}
	if n, _ := drain(t, c, rejected); n != 3 {
		t.Fatalf("rejected queue got %d messages, want 3 (invalid event in the batch, not JSON, no workspace attribute)", n)
	}
	if !strings.Contains(out.String(), `"CloudWatchMetrics"`) {
		t.Error("no EMF metrics on stdout")
	}
}

func TestColdStartFailsClearlyOnBadEnvironment(t *testing.T) {
	full := fntest.Vars{stack.EnvTable: "t", stack.EnvTopicARN: "arn:aws:sns:us-east-1:111122223333:t", stack.EnvRejectedQueueURL: "https://q"}
	fntest.RunColdStarts(t, hashingfn.Build,
		fntest.ColdStart{Name: "no table", Env: full.With(stack.EnvTable, ""), Want: stack.EnvTable},
		fntest.ColdStart{Name: "no topic", Env: full.With(stack.EnvTopicARN, ""), Want: stack.EnvTopicARN},
		fntest.ColdStart{Name: "no rejected queue", Env: full.With(stack.EnvRejectedQueueURL, ""), Want: stack.EnvRejectedQueueURL},
		fntest.ColdStart{Name: "bad cache TTL", Env: full.With(stack.EnvConfigCacheTTL, "forever"), Want: stack.EnvConfigCacheTTL},
		fntest.ColdStart{Name: "bad log level", Env: full.With(stack.EnvLogLevel, "loud"), Want: stack.EnvLogLevel},
		fntest.ColdStart{Name: "unknown fan-out format", Env: full.With(stack.EnvFanOutFormat, "zip"), Want: stack.EnvFanOutFormat},
	)
}

// queue creates an SQS queue in moto and returns its URL and ARN.
func queue(t *testing.T, c *awsclient.Clients) (url, arn string) {
	t.Helper()
	q, err := c.SQS.CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String(awstest.UniqueName("q"))})
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.SQS.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(q.QueueUrl), a.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
}

// drain receives every message on queue url and returns their count and bodies, concatenated,
// a pack's as the JSON of its copies.
func drain(t *testing.T, c *awsclient.Clients, url string) (n int, bodies string) {
	t.Helper()
	msgs := awstest.Receive(t, c.SQS, url, 0, 0)
	for _, m := range msgs {
		format, ok := m.MessageAttributes[stack.AttrFormat]
		if !ok {
			bodies += aws.ToString(m.Body)
			continue
		}
		copies, err := pack.FromMessage([]byte(aws.ToString(m.Body)), aws.ToString(format.StringValue), "")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(copies)
		bodies += string(b)
	}
	return len(msgs), bodies
}
