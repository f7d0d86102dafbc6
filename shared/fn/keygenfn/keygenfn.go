// Package keygenfn wires the keygen function (stack.FunctionKeygen): generating, importing,
// listing and revoking a destination's keys through KMS.
package keygenfn

import (
	"context"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/fn"
	"github.com/phiguard/phiguard/shared/httpapi"
	"github.com/phiguard/phiguard/shared/keygen"
	"github.com/phiguard/phiguard/shared/stack"
)

var _ keygen.Store = (*dynamo.Store)(nil)

// Build returns the keygen API's handler. It fails, naming the problem, when an environment
// variable is missing or invalid or the AWS configuration is unusable. It makes no network call.
func Build(ctx context.Context, env *fn.Env) (http.Handler, error) {
	b, err := env.Base(ctx, fn.Var{Name: stack.EnvKMSKeyID, What: "the service's KMS key"})
	if err != nil {
		return nil, err
	}
	api := &httpapi.KeygenAPI{
		Keys:  &keygen.Service{Store: b.Store, KMS: kms.NewFromConfig(b.AWS), CMK: b.Vars[stack.EnvKMSKeyID], Logger: b.Logger},
		Audit: b.Store, Auth: httpapi.AuthOf(env.Auth), Logger: b.Logger,
	}
	return api.Handler()
}
