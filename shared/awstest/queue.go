package awstest

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Queue creates a queue named prefix and a random suffix with c, deleted when the test ends,
// and returns its URL; it fails the test when it cannot.
func Queue(t testing.TB, c *sqs.Client, prefix string) string {
	t.Helper()
	out, err := c.CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String(UniqueName(prefix))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: out.QueueUrl}) })
	return aws.ToString(out.QueueUrl)
}

// Receive receives the messages of the queue at url with their attributes, hiding each for a
// minute rather than deleting it: every visible one when want is 0, else until want have
// arrived or wait has passed, polling a second at a time for delayed ones. It fails the test
// when a call fails.
func Receive(t testing.TB, c *sqs.Client, url string, want int, wait time.Duration) []sqstypes.Message {
	t.Helper()
	var all []sqstypes.Message
	deadline := time.Now().Add(wait)
	for {
		in := &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, MessageAttributeNames: []string{"All"}, VisibilityTimeout: 60}
		if want > 0 {
			in.WaitTimeSeconds = 1
		}
		out, err := c.ReceiveMessage(t.Context(), in)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, out.Messages...)
		if want == 0 && len(out.Messages) == 0 || want > 0 && (len(all) >= want || time.Now().After(deadline)) {
			return all
		}
	}
}
