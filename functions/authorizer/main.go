// Command authorizer is API Gateway's REQUEST authorizer for the token routes: it hashes the
// bearer token, looks it up in DynamoDB and allows the request with the context
// {workspaceId, tokenId, role}, or refuses it with 401. Wiring only: the logic lives in
// shared/httpapi (Authorizer).
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
	"github.com/phiguard/phiguard/shared/httpapi"
	"github.com/phiguard/phiguard/shared/jsonlog"
	"github.com/phiguard/phiguard/shared/stack"
)

var _ httpapi.TokenLookup = (*dynamo.Store)(nil)

func main() {
	h, err := run(context.Background(), os.Getenv, os.Stdout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", stack.FunctionAuthorizer, err)
		os.Exit(1)
	}
	lambda.Start(h)
}

type handler func(context.Context, events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error)

// run builds the authorizer once per cold start. It fails, naming the problem, when an
// environment variable is missing or invalid or the AWS configuration is unusable.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) (handler, error) {
	logger, err := jsonlog.New(stdout, getenv(stack.EnvLogLevel))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", stack.EnvLogLevel, err)
	}
	table := getenv(stack.EnvTable)
	if table == "" {
		return nil, fmt.Errorf("environment variable %s (the DynamoDB table name) is not set", stack.EnvTable)
	}
	cfg, err := awsconfig.Load(ctx)
	if err != nil {
		return nil, err
	}
	a := httpapi.Authorizer{Tokens: dynamo.New(dynamodb.NewFromConfig(cfg), table), Logger: logger}
	return a.Authorize, nil
}
