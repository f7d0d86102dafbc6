// Command config is the customer configuration API (workspace, tokens, sources, destinations,
// Privacy Portal, audit log) behind API Gateway's REST proxy integration. Wiring only: the
// handlers live in shared/httpapi.
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/phiguard/phiguard/shared/awsconfig"
	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/httpapi"
	"github.com/phiguard/phiguard/shared/jsonlog"
	"github.com/phiguard/phiguard/shared/stack"
	"github.com/phiguard/phiguard/shared/webhook"
)

var _ httpapi.ConfigStore = (*dynamo.Store)(nil)

func main() {
	h, err := run(context.Background(), os.Getenv, os.Stdout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", stack.FunctionConfig, err)
		os.Exit(1)
	}
	lambda.Start(h)
}

// run builds the Lambda handler once per cold start. It fails, naming the problem, when an
// environment variable is missing or invalid or the AWS configuration is unusable.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) (httpapi.LambdaHandler, error) {
	logger, err := jsonlog.New(stdout, getenv(stack.EnvLogLevel))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", stack.EnvLogLevel, err)
	}
	table := getenv(stack.EnvTable)
	if table == "" {
		return nil, fmt.Errorf("environment variable %s (the DynamoDB table name) is not set", stack.EnvTable)
	}
	// Webhook URLs are checked with the real resolver; listed loopback targets are allowed only
	// for local development (sam local, make smoke), never by the deployed stack.
	webhooks, err := webhook.PolicyFromEnv(getenv(stack.EnvLocalWebhookTargets))
	if err != nil {
		return nil, err
	}
	cfg, err := awsconfig.Load(ctx)
	if err != nil {
		return nil, err
	}
	api := &httpapi.Config{Store: dynamo.New(dynamodb.NewFromConfig(cfg), table), Auth: httpapi.Gateway{}, Logger: logger, Webhooks: webhooks}
	if n := len(webhooks.LocalTargets); n > 0 {
		logger.Warn("local webhook targets allowed: destinations may target the listed loopback addresses", "variable", stack.EnvLocalWebhookTargets, "targets", n)
	}
	h, err := api.Handler()
	if err != nil {
		return nil, err
	}
	return httpapi.Lambda(h), nil
}
