// Package deliveryfn wires the delivery function (stack.FunctionDelivery): the delivery engine
// (shared/delivery) over the delivery queue, with the webhook Sender that POSTs each protected
// copy, signed, to its destination.
package deliveryfn

import (
	"context"
	"fmt"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/phiguard/phiguard/shared/delivery"
	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/fn"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
	"github.com/phiguard/phiguard/shared/webhook"
)

var _ delivery.Store = (*dynamo.Store)(nil)

// Handler is the delivery function's Lambda handler.
type Handler = func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)

// Build returns the delivery handler: the engine, re-scheduling failed copies on the queue of
// stack.EnvDeliveryQueueURL and dead-lettering them on stack.EnvDeliveryDLQURL. The signing key comes from the Secrets Manager secret
// named by stack.EnvWebhookSigningKeySecretARN, read at the first delivery and cached
// (SecretKey), or — for local development only — from stack.EnvWebhookSigningKey itself. Build
// makes no call. It fails, naming the variable, when the table or a queue is missing, when neither or both
// of the two signing-key variables are set, when a literal key is shorter than
// webhook.MinSigningKeyLen, or when the local webhook targets are not a list of loopback IP:port
// pairs.
func Build(ctx context.Context, env *fn.Env) (Handler, error) {
	policy, err := webhook.PolicyFromEnv(env.Getenv(stack.EnvLocalWebhookTargets))
	if err != nil {
		return nil, err
	}
	b, err := env.Base(ctx,
		fn.Var{Name: stack.EnvDeliveryQueueURL, What: "the delivery queue's URL"},
		fn.Var{Name: stack.EnvDeliveryDLQURL, What: "the delivery dead-letter queue's URL"})
	if err != nil {
		return nil, err
	}
	cfg := webhook.Config{Policy: policy, TLSConfig: env.TLSConfig}
	secretARN, literal := env.Getenv(stack.EnvWebhookSigningKeySecretARN), env.Getenv(stack.EnvWebhookSigningKey)
	switch {
	case secretARN != "" && literal != "":
		return nil, fmt.Errorf("environment variables %s and %s are both set; a deployed function reads the secret, %s is for local development only",
			stack.EnvWebhookSigningKeySecretARN, stack.EnvWebhookSigningKey, stack.EnvWebhookSigningKey)
	case secretARN != "":
		cfg.Keys = NewSecretKey(secretsmanager.NewFromConfig(b.AWS), secretARN)
	case literal != "":
		if len(literal) < webhook.MinSigningKeyLen {
			return nil, fmt.Errorf("environment variable %s (the webhook signing key, local development only) must hold at least %d bytes",
				stack.EnvWebhookSigningKey, webhook.MinSigningKeyLen)
		}
		cfg.SigningKey = []byte(literal)
	default:
		return nil, fmt.Errorf("environment variable %s (the ARN of the Secrets Manager secret holding the webhook signing key) is not set "+
			"(locally, %s may hold the key itself)", stack.EnvWebhookSigningKeySecretARN, stack.EnvWebhookSigningKey)
	}
	hooks, err := webhook.New(cfg)
	if err != nil {
		return nil, err
	}
	engine, err := delivery.New(delivery.Config{
		Store: b.Store, Queue: sqs.NewFromConfig(b.AWS),
		QueueURL: b.Vars[stack.EnvDeliveryQueueURL], DLQURL: b.Vars[stack.EnvDeliveryDLQURL],
		Senders:     map[phi.DestinationType]delivery.Sender{phi.DestinationWebhook: hooks},
		MaxAttempts: stack.DeliveryMaxAttempts, Logger: b.Logger, Metrics: env.Stdout,
	})
	if err != nil {
		return nil, err
	}
	if literal != "" {
		b.Logger.Warn("webhook signing key taken from the environment: for local development only; deployed functions read it from Secrets Manager",
			"variable", stack.EnvWebhookSigningKey, "instead_of", stack.EnvWebhookSigningKeySecretARN)
	}
	if n := len(policy.LocalTargets); n > 0 {
		b.Logger.Warn("local webhook targets allowed: the listed loopback addresses are reachable, over plain http too", "variable", stack.EnvLocalWebhookTargets, "targets", n)
	}
	return engine.Handle, nil
}
