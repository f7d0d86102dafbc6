package devstack

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/stack"
)

func TestProvisionBuildsAWorkingFanOut(t *testing.T) {
	ctx := context.Background()
	c := awstest.Clients(t)
	r, err := Provision(ctx, c, awstest.UniqueName("devstack"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DynamoDB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(r.Table)}); err != nil {
		t.Fatalf("table missing: %v", err)
	}
	for name, v := range r.Env() {
		if v == "" {
			t.Errorf("env %s is empty", name)
		}
	}

	// What SNS cannot deliver to the webhook queue goes to the subscription's own DLQ.
	subs, err := c.SNS.ListSubscriptionsByTopic(ctx, &sns.ListSubscriptionsByTopicInput{TopicArn: aws.String(r.TopicARN)})
	if err != nil || len(subs.Subscriptions) != 1 {
		t.Fatalf("subscriptions %v, %v; want the webhook queue's", subs, err)
	}
	sa, err := c.SNS.GetSubscriptionAttributes(ctx, &sns.GetSubscriptionAttributesInput{SubscriptionArn: subs.Subscriptions[0].SubscriptionArn})
	if err != nil {
		t.Fatal(err)
	}
	dlqARN, err := queueARN(ctx, c.SQS, r.SubscriptionDLQURL)
	if err != nil {
		t.Fatal(err)
	}
	if rp := sa.Attributes["RedrivePolicy"]; !strings.Contains(rp, dlqARN) {
		t.Errorf("subscription RedrivePolicy %q; want the subscription DLQ %s", rp, dlqARN)
	}

	publish := func(destType, body string) {
		t.Helper()
		_, err := c.SNS.Publish(ctx, &sns.PublishInput{
			TopicArn: aws.String(r.TopicARN),
			Message:  aws.String(body),
			MessageAttributes: map[string]snstypes.MessageAttributeValue{
				stack.AttrDestinationType: {DataType: aws.String("String"), StringValue: aws.String(destType)},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	publish("other", `{"n":1}`)
	publish("webhook", `{"n":2}`)

	out, err := c.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:              aws.String(r.DestinationQueueURL),
		MaxNumberOfMessages:   10,
		WaitTimeSeconds:       1,
		MessageAttributeNames: []string{"All"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 || aws.ToString(out.Messages[0].Body) != `{"n":2}` {
		t.Fatalf("webhook queue got %d messages (%v); want exactly the raw webhook copy", len(out.Messages), out.Messages)
	}
	if got := out.Messages[0].MessageAttributes[stack.AttrDestinationType]; aws.ToString(got.StringValue) != "webhook" {
		t.Fatalf("message attributes not carried through raw delivery: %v", out.Messages[0].MessageAttributes)
	}
}
