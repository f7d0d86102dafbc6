package devserver

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/phiguard/phiguard/shared/fn"
	"github.com/phiguard/phiguard/shared/fn/configfn"
	"github.com/phiguard/phiguard/shared/fn/consolefn"
	"github.com/phiguard/phiguard/shared/fn/deliveryfn"
	"github.com/phiguard/phiguard/shared/fn/hashingfn"
	"github.com/phiguard/phiguard/shared/fn/keygenfn"
	"github.com/phiguard/phiguard/shared/fn/operatorfn"
	"github.com/phiguard/phiguard/shared/stack"
	"github.com/phiguard/phiguard/shared/webhook"
)

// functions are the handlers of every function, built by the same builders their Lambda mains
// use (shared/fn/<name>fn), from the local environment.
type functions struct {
	API               map[string]http.Handler // by function name, for httpapi.Combine
	Hashing           SQSHandler
	Delivery          SQSHandler
	DestinationHeader string                                 // the header naming the destination on a delivery
	Verify            func(h http.Header, body []byte) error // checks a delivery's signature
}

// buildFunctions wires every function from env (with the in-process authenticator in place of
// API Gateway's). It fails, naming the function, when one cannot be built.
func buildFunctions(ctx context.Context, env *fn.Env) (*functions, error) {
	fns := &functions{API: map[string]http.Handler{}}
	for name, build := range map[string]func(context.Context, *fn.Env) (http.Handler, error){
		stack.FunctionOperator: operatorfn.Build,
		stack.FunctionConfig:   configfn.Build,
		stack.FunctionKeygen:   keygenfn.Build,
		stack.FunctionConsole:  consolefn.Build,
	} {
		h, err := build(ctx, env)
		if err != nil {
			return nil, fmt.Errorf("build the %s function: %w", name, err)
		}
		fns.API[name] = h
	}
	var err error
	if fns.Hashing, err = hashingfn.Build(ctx, env); err != nil {
		return nil, fmt.Errorf("build the %s function: %w", stack.FunctionHashing, err)
	}
	if fns.Delivery, err = deliveryfn.Build(ctx, env); err != nil {
		return nil, fmt.Errorf("build the %s function: %w", stack.FunctionDelivery, err)
	}
	key := []byte(env.Getenv(stack.EnvWebhookSigningKey))
	fns.DestinationHeader = webhook.HeaderDestination
	fns.Verify = func(h http.Header, body []byte) error {
		return webhook.Verify(key, h.Get(webhook.HeaderTimestamp), h.Get(webhook.HeaderSignature), body, time.Now(), 0)
	}
	return fns, nil
}
