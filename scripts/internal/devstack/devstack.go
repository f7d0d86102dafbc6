// Package devstack provisions the service's resources on the local emulators — the table, the
// KMS key, the queues (each with its dead-letter queue, and one for the topic's subscription) and the fan-out topic — from the same definitions the CDK app deploys
// (shared/dynamo's table schema, shared/stack's names and batching numbers), and returns the
// environment the functions read. `make dev`, `make smoke` and the end-to-end tests use it.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/phiguard/phiguard/shared/awsclient"
	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/stack"
)

// Resources names what Provision created.
type Resources struct {
	Table               string
	KMSKeyID            string // "alias/<prefix>"
	AuditSigningKeyID   string // "alias/<prefix>-audit": the asymmetric key that signs audit checkpoints
	IngestQueueURL      string
	IngestDLQURL        string
	RejectedQueueURL    string
	TopicARN            string
	DestinationQueueURL string // the webhook delivery queue, subscribed to the topic
	DeliveryDLQURL      string
	// SubscriptionDLQURL receives what SNS could not deliver to the delivery queue.
	SubscriptionDLQURL string
}

// Env returns the environment variables the functions read, as in the deployed stack.
func (r *Resources) Env() map[string]string {
	return map[string]string{
		stack.EnvTable:             r.Table,
		stack.EnvKMSKeyID:          r.KMSKeyID,
		stack.EnvAuditSigningKeyID: r.AuditSigningKeyID,
		stack.EnvTopicARN:          r.TopicARN,
		stack.EnvRejectedQueueURL:  r.RejectedQueueURL,
		stack.EnvDeliveryQueueURL:  r.DestinationQueueURL,
		stack.EnvDeliveryDLQURL:    r.DeliveryDLQURL,
		stack.EnvAssumingRoleARNs:  LocalAssumingRoleARN,
	}
}

// The local AWS destinations: moto's default account (123456789012) stands for the customer's, so the role the
// senders assume (moto lets any role be assumed; its credentials act in the role's account) and
// the sample bucket are in it. LocalAssumingRoleARN stands for the service's own delivery role in
// the access policies the local API shows.
const (
	SampleRoleARN        = "arn:aws:iam::123456789012:role/phiguard-delivery/sample"
	SampleBucket         = "phiguard-sample-lake"
	LocalAssumingRoleARN = "arn:aws:iam::123456789012:role/phiguard-local-delivery"
)

// Provision creates every resource with names starting with prefix. It is not idempotent
// across prefixes: each run of the emulators starts empty, and tests pass a unique prefix.
// It returns the first SDK error, wrapped with the resource it was creating.
func Provision(ctx context.Context, c *awsclient.Clients, prefix string) (*Resources, error) {
	r := &Resources{Table: prefix + "-config"}
	if err := dynamo.CreateTable(ctx, c.DynamoDB, r.Table); err != nil {
		return nil, err
	}

	key, err := c.KMS.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String(prefix + " service key")})
	if err != nil {
		return nil, fmt.Errorf("create KMS key: %w", err)
	}
	// Functions address the key by a stable alias, so a SAM env-vars file can name it.
	r.KMSKeyID = "alias/" + prefix
	if _, err := c.KMS.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(r.KMSKeyID), TargetKeyId: key.KeyMetadata.KeyId}); err != nil {
		return nil, fmt.Errorf("create KMS alias: %w", err)
	}
	signing, err := c.KMS.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String(prefix + " audit signing key"),
		KeySpec: kmstypes.KeySpecEccNistP256, KeyUsage: kmstypes.KeyUsageTypeSignVerify})
	if err != nil {
		return nil, fmt.Errorf("create the audit signing key: %w", err)
	}
	r.AuditSigningKeyID = "alias/" + prefix + "-audit"
	if _, err := c.KMS.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(r.AuditSigningKeyID), TargetKeyId: signing.KeyMetadata.KeyId}); err != nil {
		return nil, fmt.Errorf("create the audit signing key's alias: %w", err)
	}

	// The sample S3 destination's bucket (SeedSamples), shared by every prefix of one emulator run.
	var owned *s3types.BucketAlreadyOwnedByYou
	if _, err := c.S3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(SampleBucket)}); err != nil && !errors.As(err, &owned) {
		return nil, fmt.Errorf("create bucket %s: %w", SampleBucket, err)
	}

	if r.IngestDLQURL, err = createQueue(ctx, c.SQS, prefix+"-ingest-dlq", nil); err != nil {
		return nil, err
	}
	if r.IngestQueueURL, err = createQueueWithDLQ(ctx, c.SQS, prefix+"-ingest", r.IngestDLQURL, stack.IngestMaxReceiveCount); err != nil {
		return nil, err
	}
	if r.RejectedQueueURL, err = createQueue(ctx, c.SQS, prefix+"-rejected", nil); err != nil {
		return nil, err
	}
	if r.DeliveryDLQURL, err = createQueue(ctx, c.SQS, prefix+"-webhook-dlq", nil); err != nil {
		return nil, err
	}
	if r.DestinationQueueURL, err = createQueueWithDLQ(ctx, c.SQS, prefix+"-webhook", r.DeliveryDLQURL, stack.DeliveryMaxReceiveCount); err != nil {
		return nil, err
	}
	if r.SubscriptionDLQURL, err = createQueue(ctx, c.SQS, prefix+"-webhook-subscription-dlq", nil); err != nil {
		return nil, err
	}

	topic, err := c.SNS.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(prefix + "-fanout")})
	if err != nil {
		return nil, fmt.Errorf("create topic: %w", err)
	}
	r.TopicARN = aws.ToString(topic.TopicArn)
	destARN, err := queueARN(ctx, c.SQS, r.DestinationQueueURL)
	if err != nil {
		return nil, err
	}
	subDLQARN, err := queueARN(ctx, c.SQS, r.SubscriptionDLQURL)
	if err != nil {
		return nil, err
	}
	_, err = c.SNS.Subscribe(ctx, &sns.SubscribeInput{
		TopicArn: topic.TopicArn,
		Protocol: aws.String("sqs"),
		Endpoint: aws.String(destARN),
		Attributes: map[string]string{
			"RawMessageDelivery": "true",
			"FilterPolicy":       stack.WebhookFilterPolicy,
			"RedrivePolicy":      fmt.Sprintf(`{"deadLetterTargetArn":%q}`, subDLQARN),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe the webhook queue to the topic: %w", err)
	}
	return r, nil
}

func createQueue(ctx context.Context, c *sqs.Client, name string, attrs map[string]string) (string, error) {
	out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		return "", fmt.Errorf("create queue %s: %w", name, err)
	}
	return aws.ToString(out.QueueUrl), nil
}

// createQueueWithDLQ creates a queue that moves a message to dlqURL after maxReceives failed
// receives, as the deployed queues do.
func createQueueWithDLQ(ctx context.Context, c *sqs.Client, name, dlqURL string, maxReceives int) (string, error) {
	arn, err := queueARN(ctx, c, dlqURL)
	if err != nil {
		return "", err
	}
	return createQueue(ctx, c, name, map[string]string{
		string(sqstypes.QueueAttributeNameRedrivePolicy): fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"%s"}`,
			arn, strconv.Itoa(maxReceives)),
	})
}

func queueARN(ctx context.Context, c *sqs.Client, url string) (string, error) {
	out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return "", fmt.Errorf("get ARN of queue %s: %w", url, err)
	}
	return out.Attributes[string(sqstypes.QueueAttributeNameQueueArn)], nil
}
