// Package authorizerfn wires the authorizer function (stack.FunctionAuthorizer): API
// Gateway's REQUEST authorizer for the token routes.
package authorizerfn

import (
	"context"

	"github.com/aws/aws-lambda-go/events"

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
	b, err := env.Base(ctx)
	if err != nil {
		return nil, err
	}
	a := httpapi.Authorizer{Tokens: b.Store, Logger: b.Logger}
	return a.Authorize, nil
}
