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
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
	"github.com/phiguard/phiguard/shared/webhook"
)

// functions are the handlers of every function, built by the same builders their Lambda mains
// use (shared/fn/<name>fn), from the local environment.
type functions struct {
	API      map[string]http.Handler // by function name, for httpapi.Combine
	Hashing  SQSHandler
	Delivery SQSHandler
}

// buildFunctions wires the API's functions from env (with the in-process authenticator in place
// of API Gateway's) and the hashing and delivery functions from pipeline. It fails, naming the
// function, when one cannot be built.
func buildFunctions(ctx context.Context, env, pipeline *fn.Env) (*functions, error) {
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
	if fns.Hashing, err = hashingfn.Build(ctx, pipeline); err != nil {
		return nil, fmt.Errorf("build the %s function: %w", stack.FunctionHashing, err)
	}
	if fns.Delivery, err = deliveryfn.Build(ctx, pipeline); err != nil {
		return nil, fmt.Errorf("build the %s function: %w", stack.FunctionDelivery, err)
	}
	return fns, nil
}

// verifier returns the receiver's check of a delivery: it must verify under one of the live
// signing secrets of the destination it names (webhook.HeaderWorkspace and
// webhook.HeaderDestination), which keys reads from the table and decrypts as the delivery
// function does — the receiver stands in for each destination's customer, who stored the
// secret the create (or rotate) response showed once. A delivery signed with another
// destination's secret fails.
func verifier(keys webhook.Secrets) func(h http.Header, body []byte) error {
	return func(h http.Header, body []byte) error {
		ws, dst := h.Get(webhook.HeaderWorkspace), h.Get(webhook.HeaderDestination)
		secrets, err := keys.SigningKeys(context.Background(), ws, dst)
		if err != nil {
			return fmt.Errorf("%w: no signing secret of destination %q: %v", webhook.ErrSignature, phi.Clip(dst, 40), phi.ErrorCode(err))
		}
		for _, k := range secrets {
			if err = webhook.Verify(k, h, body, time.Now(), 0); err == nil {
				return nil
			}
		}
		return err
	}
}
