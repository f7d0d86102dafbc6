package devserver

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/phiguard/phiguard/shared/awsclient"
	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/httpapi"
	"github.com/phiguard/phiguard/shared/keygen"
	"github.com/phiguard/phiguard/shared/pipeline"
	"github.com/phiguard/phiguard/shared/stack"
	"github.com/phiguard/phiguard/shared/webhook"
)

// functionDeps is what the functions are built from: the same clients, store and environment
// their Lambda mains use, with the in-process authenticator in place of API Gateway's.
type functionDeps struct {
	Clients   *awsclient.Clients
	Store     *dynamo.Store
	Getenv    func(string) string
	Logger    *slog.Logger
	Auth      httpapi.Authenticator
	TLSConfig *tls.Config // the delivery function's TLS settings; trust the local receiver
}

// functions are the handlers of every function, built once as each Lambda's cold start does.
type functions struct {
	API               map[string]http.Handler // by function name, for httpapi.Combine
	Hashing           SQSHandler
	Delivery          SQSHandler
	DestinationHeader string                                 // the header naming the destination on a delivery
	Verify            func(h http.Header, body []byte) error // checks a delivery's signature
}

// buildFunctions wires every function from deps. It fails, naming the function, when one
// cannot be built (a missing environment variable, a route without a handler).
func buildFunctions(ctx context.Context, d functionDeps) (*functions, error) {
	fns := &functions{API: map[string]http.Handler{}}
	webhooks, err := webhook.PolicyFromEnv(d.Getenv(stack.EnvLocalWebhookTargets))
	if err != nil {
		return nil, err
	}
	op := &httpapi.Operator{Store: d.Store, Auth: d.Auth, Logger: d.Logger}
	cfg := &httpapi.Config{Store: d.Store, Auth: d.Auth, Logger: d.Logger,
		Webhooks: webhooks}
	kg := &keygen.Service{Store: d.Store, KMS: d.Clients.KMS, CMK: d.Getenv(stack.EnvKMSKeyID), Auth: d.Auth, Logger: d.Logger}
	for name, build := range map[string]func() (http.Handler, error){
		stack.FunctionOperator: op.Handler,
		stack.FunctionConfig:   cfg.Handler,
		stack.FunctionKeygen:   kg.Handler,
	} {
		h, err := build()
		if err != nil {
			return nil, fmt.Errorf("build the %s function: %w", name, err)
		}
		fns.API[name] = h
	}

	ttl, err := pipeline.ParseCacheTTL(d.Getenv(stack.EnvConfigCacheTTL))
	if err != nil {
		return nil, fmt.Errorf("build the %s function: %s: %w", stack.FunctionHashing, stack.EnvConfigCacheTTL, err)
	}
	hashing, err := pipeline.New(pipeline.Config{
		Store: d.Store, SNS: d.Clients.SNS, SQS: d.Clients.SQS, KMS: d.Clients.KMS,
		TopicARN: d.Getenv(stack.EnvTopicARN), RejectedQueueURL: d.Getenv(stack.EnvRejectedQueueURL),
		KMSKeyID: d.Getenv(stack.EnvKMSKeyID), CacheTTL: ttl, Logger: d.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("build the %s function: %w", stack.FunctionHashing, err)
	}
	fns.Hashing = hashing.Handle

	key := d.Getenv(stack.EnvWebhookSigningKey)
	delivery, err := webhook.New(webhook.Config{
		Store: d.Store, SigningKey: []byte(key), Logger: d.Logger, TLSConfig: d.TLSConfig,
		Policy: webhooks,
	})
	if err != nil {
		return nil, fmt.Errorf("build the %s function: %w", stack.FunctionDelivery, err)
	}
	fns.Delivery = delivery.Handle
	fns.DestinationHeader = webhook.HeaderDestination
	fns.Verify = func(h http.Header, body []byte) error {
		return webhook.Verify([]byte(key), h.Get(webhook.HeaderTimestamp), h.Get(webhook.HeaderSignature), body, time.Now(), 0)
	}
	return fns, nil
}
