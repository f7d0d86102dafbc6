// Command keygen is the key-generation API (generate key pairs and HMAC keys through KMS,
// import public keys, list and revoke keys) behind API Gateway's REST proxy integration.
// Private keys are returned once and never stored. Wiring only: the handlers live in
// shared/keygen.
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/phiguard/phiguard/shared/awsconfig"
	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/httpapi"
	"github.com/phiguard/phiguard/shared/jsonlog"
	"github.com/phiguard/phiguard/shared/keygen"
	"github.com/phiguard/phiguard/shared/stack"
)

var _ keygen.Store = (*dynamo.Store)(nil)

func main() {
	h, err := run(context.Background(), os.Getenv, os.Stdout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", stack.FunctionKeygen, err)
		os.Exit(1)
	}
	lambda.Start(h)
}

// run builds the Lambda handler once per cold start. It fails, naming the problem, when an
// environment variable is missing or invalid or the AWS configuration is unusable. It makes no
// network call.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) (httpapi.LambdaHandler, error) {
	logger, err := jsonlog.New(stdout, getenv(stack.EnvLogLevel))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", stack.EnvLogLevel, err)
	}
	table := getenv(stack.EnvTable)
	if table == "" {
		return nil, fmt.Errorf("environment variable %s (the DynamoDB table name) is not set", stack.EnvTable)
	}
	cmk := getenv(stack.EnvKMSKeyID)
	if cmk == "" {
		return nil, fmt.Errorf("environment variable %s (the service's KMS key) is not set", stack.EnvKMSKeyID)
	}
	cfg, err := awsconfig.Load(ctx)
	if err != nil {
		return nil, err
	}
	svc := &keygen.Service{
		Store: dynamo.New(dynamodb.NewFromConfig(cfg), table), KMS: kms.NewFromConfig(cfg), CMK: cmk,
		Auth: httpapi.Gateway{}, Logger: logger,
	}
	h, err := svc.Handler()
	if err != nil {
		return nil, err
	}
	return httpapi.Lambda(h), nil
}
