// Command delivery is the example destination consumer: triggered by the webhook queue
// subscribed (raw message delivery) to the fan-out topic, it POSTs each copy, signed, to its
// destination's webhook URL. Wiring only: the handler lives in shared/webhook.
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/phiguard/phiguard/shared/awsconfig"
	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/jsonlog"
	"github.com/phiguard/phiguard/shared/stack"
	"github.com/phiguard/phiguard/shared/webhook"
)

var _ webhook.Store = (*dynamo.Store)(nil)

func main() {
	h, err := run(context.Background(), os.Getenv, os.Stdout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", stack.FunctionDelivery, err)
		os.Exit(1)
	}
	lambda.Start(h)
}

// run builds the handler once per cold start. It fails, naming the variable, when the table or
// a signing key of at least webhook.MinSigningKeyLen bytes is missing, or when the local
// webhook targets are not a list of loopback IP:port pairs.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) (func(context.Context, events.SQSEvent) (events.SQSEventResponse, error), error) {
	logger, err := jsonlog.New(stdout, getenv(stack.EnvLogLevel))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", stack.EnvLogLevel, err)
	}
	table := getenv(stack.EnvTable)
	if table == "" {
		return nil, fmt.Errorf("environment variable %s (the DynamoDB table name) is not set", stack.EnvTable)
	}
	key := getenv(stack.EnvWebhookSigningKey)
	if len(key) < webhook.MinSigningKeyLen {
		return nil, fmt.Errorf("environment variable %s (the webhook signing key) must hold at least %d bytes", stack.EnvWebhookSigningKey, webhook.MinSigningKeyLen)
	}
	policy, err := webhook.PolicyFromEnv(getenv(stack.EnvLocalWebhookTargets))
	if err != nil {
		return nil, err
	}
	cfg, err := awsconfig.Load(ctx)
	if err != nil {
		return nil, err
	}
	h, err := webhook.New(webhook.Config{
		Store:      dynamo.New(dynamodb.NewFromConfig(cfg), table),
		SigningKey: []byte(key),
		Policy:     policy,
		Logger:     logger,
	})
	if err != nil {
		return nil, err
	}
	if n := len(policy.LocalTargets); n > 0 {
		logger.Warn("local webhook targets allowed: the listed loopback addresses are reachable, over plain http too", "variable", stack.EnvLocalWebhookTargets, "targets", n)
	}
	return h.Handle, nil
}
