// Package configfn wires the config function (stack.FunctionConfig): the customer's REST
// routes — workspace, tokens, sources, destinations, Privacy Portal, audit log.
package configfn

import (
	"context"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/fn"
	"github.com/phiguard/phiguard/shared/httpapi"
	"github.com/phiguard/phiguard/shared/stack"
	"github.com/phiguard/phiguard/shared/webhook"
	"github.com/phiguard/phiguard/shared/workspace"
)

var _ httpapi.ConfigStore = (*dynamo.Store)(nil)

// Build returns the config API's handler. It fails, naming the problem, when an environment
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
	// Webhook URLs are checked with the real resolver; listed loopback targets are allowed only
	// for local development (sam local, make smoke), never by the deployed stack.
	webhooks, err := webhook.PolicyFromEnv(env.Getenv(stack.EnvLocalWebhookTargets))
	if err != nil {
		return nil, err
	}
	cfg, err := env.Config(ctx)
	if err != nil {
		return nil, err
	}
	if n := len(webhooks.LocalTargets); n > 0 {
		logger.Warn("local webhook targets allowed: destinations may target the listed loopback addresses", "variable", stack.EnvLocalWebhookTargets, "targets", n)
	}
	store := dynamo.New(dynamodb.NewFromConfig(cfg), table)
	api := &httpapi.ConfigAPI{
		Service: &workspace.Service{Store: store, Webhooks: webhooks},
		Audit:   store, Auth: httpapi.AuthOf(env.Auth), Logger: logger,
	}
	return api.Handler()
}
