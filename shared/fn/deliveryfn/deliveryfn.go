// Package deliveryfn wires the delivery function (stack.FunctionDelivery): the delivery engine
// (shared/delivery) over the delivery queue, with the webhook Sender that POSTs each protected
// copy, signed with its destination's own secret, to its destination.
package deliveryfn

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/phiguard/phiguard/shared/awsdest"
	"github.com/phiguard/phiguard/shared/catalog"
	"github.com/phiguard/phiguard/shared/delivery"
	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/fn"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
	"github.com/phiguard/phiguard/shared/webhook"
)

var (
	_ delivery.Store      = (*dynamo.Store)(nil)
	_ webhook.SecretStore = (*dynamo.Store)(nil)
)

// Handler is the delivery function's Lambda handler.
type Handler = func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)

// Build returns the delivery handler: the engine, re-scheduling failed copies on the queue of
// stack.EnvDeliveryQueueURL and dead-lettering them on stack.EnvDeliveryDLQURL. Each
// destination's signing secrets are read from the table and decrypted through KMS at its first
// delivery, then cached in memory (webhook.Keyring): no secret is ever in the function's
// environment. Build makes no call. It fails, naming the variable, when the table or a queue is
// missing, or when the local webhook targets are not a list of loopback IP:port pairs.
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
	cfg := webhook.Config{Policy: policy, TLSConfig: env.TLSConfig,
		Secrets: webhook.NewKeyring(b.Store, kms.NewFromConfig(b.AWS), nil)}
	hooks, err := webhook.New(cfg)
	if err != nil {
		return nil, err
	}
	// The webhook sender, and the AWS types' senders (S3, Firehose, EventBridge, SQS), each given
	// at once as many copies as one of its requests carries.
	senders := map[phi.DestinationType]delivery.Sender{phi.DestinationWebhook: hooks}
	chunks := map[phi.DestinationType]int{}
	for t, s := range awsdest.ForFunction(b.AWS, env.Getenv, b.Logger).ByType() {
		e, _ := catalog.Lookup(t)
		senders[t], chunks[t] = s, e.Limits.MaxBatchRecords
	}
	engine, err := delivery.New(delivery.Config{
		Store: b.Store, Queue: sqs.NewFromConfig(b.AWS),
		QueueURL: b.Vars[stack.EnvDeliveryQueueURL], DLQURL: b.Vars[stack.EnvDeliveryDLQURL],
		Senders: senders, Chunks: chunks,
		MaxAttempts: stack.DeliveryMaxAttempts, Logger: b.Logger, Metrics: env.Stdout,
	})
	if err != nil {
		return nil, err
	}
	if n := len(policy.LocalTargets); n > 0 {
		b.Logger.Warn("local webhook targets allowed: the listed loopback addresses are reachable, over plain http too", "variable", stack.EnvLocalWebhookTargets, "targets", n)
	}
	return engine.Handle, nil
}
