// Package awsclient is the one place where the service builds its AWS SDK clients.
//
// Every function calls [Load] once during cold start and keeps the result for the life of
// the container, so the SDK configuration (credentials chain, region, retry policy and HTTP
// transport) is shared by all invocations. Endpoints are never configured in code: the SDK's
// own variables (AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL_SQS,
// AWS_ENDPOINT_URL_SNS) point the same binaries at local emulators, and leaving them unset
// talks to AWS.
package awsclient

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
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
}

// Load reads the SDK's default configuration (environment, shared files, the Lambda role)
// and builds every client from it. It makes no network call, so it is safe in cold-start
// init. It fails only when the configuration itself is unusable, for example when no region
// is set.
func Load(ctx context.Context) (*Clients, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("load AWS configuration: no region (set AWS_REGION)")
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
	}
}
