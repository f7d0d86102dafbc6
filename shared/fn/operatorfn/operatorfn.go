// Package operatorfn wires the operator function (stack.FunctionOperator): the platform
// operator's REST routes over the workspace table.
package operatorfn

import (
	"context"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/fn"
	"github.com/phiguard/phiguard/shared/httpapi"
	"github.com/phiguard/phiguard/shared/workspace"
)

var _ workspace.OperatorStore = (*dynamo.Store)(nil)

// Build returns the operator API's handler. It fails, naming the problem, when an environment
// variable is missing or invalid or the AWS configuration is unusable.
func Build(ctx context.Context, env *fn.Env) (http.Handler, error) {
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
	store := dynamo.New(dynamodb.NewFromConfig(cfg), table)
	api := &httpapi.OperatorAPI{Operator: &workspace.Operator{Store: store}, Audit: store, Auth: httpapi.AuthOf(env.Auth), Logger: logger}
	return api.Handler()
}
