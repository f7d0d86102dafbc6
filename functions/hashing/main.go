// Command hashing is the SQS-triggered pipeline: it protects each ingested event per
// destination and fans the copies out to SNS. Wiring only: the handler lives in
// shared/pipeline.
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/phiguard/phiguard/shared/awsconfig"
	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/jsonlog"
	"github.com/phiguard/phiguard/shared/pipeline"
	"github.com/phiguard/phiguard/shared/stack"
)

var _ pipeline.Store = (*dynamo.Store)(nil)

func main() {
	h, err := run(context.Background(), os.Getenv, os.Stdout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", stack.FunctionHashing, err)
		os.Exit(1)
	}
	lambda.Start(h)
}

// run builds the handler once per cold start. It makes no network call (HMAC keys are
// decrypted on first use) and fails, naming the variable, when the environment is incomplete.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) (func(context.Context, events.SQSEvent) (events.SQSEventResponse, error), error) {
	logger, err := jsonlog.New(stdout, getenv(stack.EnvLogLevel))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", stack.EnvLogLevel, err)
	}
	ttl, err := pipeline.ParseCacheTTL(getenv(stack.EnvConfigCacheTTL))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", stack.EnvConfigCacheTTL, err)
	}
	required := map[string]string{}
	for _, v := range []struct{ name, what string }{
		{stack.EnvTable, "the DynamoDB table name"},
		{stack.EnvTopicARN, "the SNS fan-out topic ARN"},
		{stack.EnvRejectedQueueURL, "the rejected-events queue URL"},
	} {
		if required[v.name] = getenv(v.name); required[v.name] == "" {
			return nil, fmt.Errorf("environment variable %s (%s) is not set", v.name, v.what)
		}
	}
	cfg, err := awsconfig.Load(ctx)
	if err != nil {
		return nil, err
	}
	h, err := pipeline.New(pipeline.Config{
		Store:            dynamo.New(dynamodb.NewFromConfig(cfg), required[stack.EnvTable]),
		SNS:              sns.NewFromConfig(cfg),
		SQS:              sqs.NewFromConfig(cfg),
		KMS:              kms.NewFromConfig(cfg),
		TopicARN:         required[stack.EnvTopicARN],
		RejectedQueueURL: required[stack.EnvRejectedQueueURL],
		KMSKeyID:         getenv(stack.EnvKMSKeyID),
		CacheTTL:         ttl,
		Logger:           logger,
		Metrics:          stdout,
	})
	if err != nil {
		return nil, err
	}
	return h.Handle, nil
}
