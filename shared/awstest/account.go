package awstest

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/phiguard/phiguard/shared/awsclient"
)

// Account is a customer's AWS account in the emulators: moto gives the credentials of an
// assumed role that role's account, so what Clients create lives in the account, where the
// service reaches it only through a role of the account (as an AWS destination does).
type Account struct {
	ID      string
	Clients *awsclient.Clients // acting as the account's admin role
}

// NewAccount returns an account with a random id, reached by assuming its admin role with the
// service's clients svc.
func NewAccount(svc *awsclient.Clients) *Account {
	n, _ := rand.Int(rand.Reader, big.NewInt(9e11))
	id := fmt.Sprintf("%012d", n.Int64()+1e11)
	cfg := svc.Config.Copy()
	cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(svc.STS, "arn:aws:iam::"+id+":role/admin"))
	return &Account{ID: id, Clients: awsclient.New(cfg)}
}

// Role returns the ARN of the account's role at path (e.g. "phiguard-delivery/test").
func (a *Account) Role(path string) string { return "arn:aws:iam::" + a.ID + ":role/" + path }

// Bucket creates a bucket in the account and returns its name; it fails the test when it cannot.
func (a *Account) Bucket(t testing.TB) string {
	t.Helper()
	name := UniqueName("bucket")
	if _, err := a.Clients.S3.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	return name
}

// Queue creates a queue in the account (FIFO when fifo) and returns its URL and ARN; it fails
// the test when it cannot.
func (a *Account) Queue(t testing.TB, fifo bool) (url, arn string) {
	t.Helper()
	name, attrs := UniqueName("q"), map[string]string{}
	if fifo {
		name += ".fifo"
		attrs["FifoQueue"] = "true"
	}
	res, err := a.Clients.SQS.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(res.QueueUrl), "arn:aws:sqs:us-east-1:" + a.ID + ":" + name
}

// Drain receives every visible message of the account's queue at url, with its attributes,
// and deletes it; it fails the test when a call fails.
func (a *Account) Drain(t testing.TB, url string) []sqstypes.Message {
	t.Helper()
	var out []sqstypes.Message
	for {
		res, err := a.Clients.SQS.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10,
			MessageAttributeNames: []string{"All"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Messages) == 0 {
			return out
		}
		for _, m := range res.Messages {
			out = append(out, m)
			if _, err := a.Clients.SQS.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
}
