// Package hashingfn wires the hashing function (stack.FunctionHashing): the SQS-triggered
// pipeline that protects each ingested event per destination and fans the copies out to SNS.
package hashingfn

import (
	"context"
	"fmt"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/fn"
	"github.com/phiguard/phiguard/shared/pipeline"
	"github.com/phiguard/phiguard/shared/stack"
)

var _ pipeline.Store = (*dynamo.Store)(nil)

// Handler is the hashing function's Lambda handler.
type Handler = func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)

// Build returns the pipeline's handler. It makes no network call (HMAC keys are decrypted on
// first use) and fails, naming the variable, when the environment is incomplete.
func Build(ctx context.Context, env *fn.Env) (Handler, error) {
	ttl, err := pipeline.ParseCacheTTL(env.Getenv(stack.EnvConfigCacheTTL))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", stack.EnvConfigCacheTTL, err)
	}
	var single bool
	switch f := env.Getenv(stack.EnvFanOutFormat); f {
	case "", "pack":
	case "single":
		single = true
	default:
		return nil, fmt.Errorf("%s: %q is not a fan-out format; want pack (the default) or single", stack.EnvFanOutFormat, f)
	}
	b, err := env.Base(ctx,
		fn.Var{Name: stack.EnvTopicARN, What: "the SNS fan-out topic ARN"},
		fn.Var{Name: stack.EnvRejectedQueueURL, What: "the rejected-events queue URL"})
	if err != nil {
		return nil, err
	}
	h, err := pipeline.New(pipeline.Config{
		Store:            b.Store,
		SNS:              sns.NewFromConfig(b.AWS),
		SQS:              sqs.NewFromConfig(b.AWS),
		KMS:              kms.NewFromConfig(b.AWS),
		TopicARN:         b.Vars[stack.EnvTopicARN],
		RejectedQueueURL: b.Vars[stack.EnvRejectedQueueURL],
		KMSKeyID:         env.Getenv(stack.EnvKMSKeyID),
		CacheTTL:         ttl,
		Logger:           b.Logger,
		Metrics:          env.Stdout,
		SingleCopies:     single,
	})
	if err != nil {
		return nil, err
	}
	return h.Handle, nil
}
