// Package deliveryfn wires the delivery function (stack.FunctionDelivery): the example
// destination consumer that POSTs each protected copy, signed, to its webhook.
package deliveryfn

import (
	"context"
	"fmt"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/fn"
	"github.com/phiguard/phiguard/shared/stack"
	"github.com/phiguard/phiguard/shared/webhook"
)

var _ webhook.Store = (*dynamo.Store)(nil)

// Handler is the delivery function's Lambda handler.
type Handler = func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)

// Build returns the delivery handler. It fails, naming the variable, when the table or a
// signing key of at least webhook.MinSigningKeyLen bytes is missing, or when the local webhook
// targets are not a list of loopback IP:port pairs.
func Build(ctx context.Context, env *fn.Env) (Handler, error) {
	logger, err := env.Log()
	if err != nil {
		return nil, err
	}
	table, err := env.Table()
	if err != nil {
		return nil, err
	}
	key := env.Getenv(stack.EnvWebhookSigningKey)
	if len(key) < webhook.MinSigningKeyLen {
		return nil, fmt.Errorf("environment variable %s (the webhook signing key) must hold at least %d bytes", stack.EnvWebhookSigningKey, webhook.MinSigningKeyLen)
	}
	policy, err := webhook.PolicyFromEnv(env.Getenv(stack.EnvLocalWebhookTargets))
	if err != nil {
		return nil, err
	}
	cfg, err := env.Config(ctx)
	if err != nil {
		return nil, err
	}
	h, err := webhook.New(webhook.Config{
		Store:      dynamo.New(dynamodb.NewFromConfig(cfg), table),
		SigningKey: []byte(key),
		Policy:     policy,
		Logger:     logger,
		TLSConfig:  env.TLSConfig,
	})
	if err != nil {
		return nil, err
	}
	if n := len(policy.LocalTargets); n > 0 {
		logger.Warn("local webhook targets allowed: the listed loopback addresses are reachable, over plain http too", "variable", stack.EnvLocalWebhookTargets, "targets", n)
	}
	return h.Handle, nil
}
