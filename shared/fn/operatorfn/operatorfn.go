// Package operatorfn wires the operator function (stack.FunctionOperator): the platform
// operator's REST routes over the workspace table.
package operatorfn

import (
	"context"
	"net/http"

	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/fn"
	"github.com/phiguard/phiguard/shared/httpapi"
	"github.com/phiguard/phiguard/shared/workspace"
)

var _ workspace.OperatorStore = (*dynamo.Store)(nil)

// Build returns the operator API's handler. It fails, naming the problem, when an environment
// variable is missing or invalid or the AWS configuration is unusable.
func Build(ctx context.Context, env *fn.Env) (http.Handler, error) {
	b, err := env.Base(ctx)
	if err != nil {
		return nil, err
	}
	api := &httpapi.OperatorAPI{Operator: &workspace.Operator{Store: b.Store}, Audit: b.Store, Auth: httpapi.AuthOf(env.Auth), Logger: b.Logger}
	return api.Handler()
}
