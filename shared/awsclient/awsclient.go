// Package awsclient bundles a client for every AWS service the project uses, built from the
// configuration [awsconfig.Load] reads. It is for tools and tests, which talk to all services;
// the Lambda functions build only the clients they need, so they do not link the others.
package awsclient

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/phiguard/phiguard/shared/awsconfig"
)

// Clients holds the SDK clients a function may use. Clients are safe for concurrent use and
// cheap to hold even when a function never calls one of them: constructing a client makes
// no network call.
type Clients struct {
	Config   aws.Config
	DynamoDB *dynamodb.Client
	KMS      *kms.Client
	SQS      *sqs.Client
	SNS      *sns.Client
	// The services of the AWS destination types (shared/awsdest).
	STS         *sts.Client
	S3          *s3.Client
	Firehose    *firehose.Client
	EventBridge *eventbridge.Client
}

// Load reads the SDK's configuration with [awsconfig.Load] and builds every client from it. It
// makes no network call. It fails only when the configuration itself is unusable, for example
// when no region is set.
func Load(ctx context.Context) (*Clients, error) {
	cfg, err := awsconfig.Load(ctx)
	if err != nil {
		return nil, err
	}
	return New(cfg), nil
}

// New builds every client from an already loaded configuration.
func New(cfg aws.Config) *Clients {
	return &Clients{
		Config:   cfg,
		DynamoDB: dynamodb.NewFromConfig(cfg),
		KMS:      kms.NewFromConfig(cfg),
		SQS:      sqs.NewFromConfig(cfg),
		SNS:      sns.NewFromConfig(cfg),
		STS:      sts.NewFromConfig(cfg),
		// Path-style requests: the emulator's endpoint is an address, not a bucket's host name.
		S3: s3.NewFromConfig(cfg, func(o *s3.Options) {
			o.UsePathStyle = true
			o.DisableLogOutputChecksumValidationSkipped = true // the emulator sends no checksums
		}),
		Firehose:    firehose.NewFromConfig(cfg),
		EventBridge: eventbridge.NewFromConfig(cfg),
	}
}
