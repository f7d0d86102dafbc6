// Package deliveryfn wires the delivery function (stack.FunctionDelivery): the example
// destination consumer that POSTs each protected copy, signed, to its webhook.
package deliveryfn

import (
	"context"

	"github.com/aws/aws-lambda-go/events"

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
	policy, err := webhook.PolicyFromEnv(env.Getenv(stack.EnvLocalWebhookTargets))
	if err != nil {
		return nil, err
	}
	b, err := env.Base(ctx, fn.Var{Name: stack.EnvWebhookSigningKey, What: "the webhook signing key", MinLen: webhook.MinSigningKeyLen})
	if err != nil {
		return nil, err
	}
	h, err := webhook.New(webhook.Config{
		Store:      b.Store,
		SigningKey: []byte(b.Vars[stack.EnvWebhookSigningKey]),
		Policy:     policy,
		Logger:     b.Logger,
		TLSConfig:  env.TLSConfig,
	})
	if err != nil {
		return nil, err
	}
	if n := len(policy.LocalTargets); n > 0 {
		b.Logger.Warn("local webhook targets allowed: the listed loopback addresses are reachable, over plain http too", "variable", stack.EnvLocalWebhookTargets, "targets", n)
	}
	return h.Handle, nil
}
