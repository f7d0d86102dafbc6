// Package authorizerfn wires the authorizer function (stack.FunctionAuthorizer): API
// Gateway's REQUEST authorizer for the token routes.
package authorizerfn

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/fn"
	"github.com/phiguard/phiguard/shared/httpapi"
)

var _ httpapi.TokenLookup = (*dynamo.Store)(nil)

// Handler is the authorizer's Lambda handler.
type Handler func(context.Context, events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error)

// Build returns the authorizer. It fails, naming the problem, when an environment variable is
// missing or invalid or the AWS configuration is unusable.
func Build(ctx context.Context, env *fn.Env) (Handler, error) {
	logger, err := env.Log()
	if err != nil {
		return nil, err
	}
	table, err := env.Table()
	if err != nil {
		return nil, err
	}
	cfg, err := env.Config(ctx)
	if err != nil {
		return nil, err
	}
	a := httpapi.Authorizer{Tokens: dynamo.New(dynamodb.NewFromConfig(cfg), table), Logger: logger}
	return a.Authorize, nil
}
