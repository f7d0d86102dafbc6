// Package consolefn wires the console function (stack.FunctionConsole): the web console's pages
// under stack.ConsolePath, over the same workspace and key services as the REST API — with the
// AWS destinations' access policies and test (stack.EnvAssumingRoleARNs, awsdest).
package consolefn

import (
	"context"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/phiguard/phiguard/shared/audit"
	"github.com/phiguard/phiguard/shared/awsdest"
	"github.com/phiguard/phiguard/shared/console"
	"github.com/phiguard/phiguard/shared/delivery"
	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/fn"
	"github.com/phiguard/phiguard/shared/keygen"
	"github.com/phiguard/phiguard/shared/stack"
	"github.com/phiguard/phiguard/shared/webhook"
	"github.com/phiguard/phiguard/shared/workspace"
)

var _ console.Sessions = (*dynamo.Store)(nil)

// Build returns the console's handler. It fails, naming the problem, when an environment
// variable is missing or invalid or the AWS configuration is unusable. It makes no network call.
func Build(ctx context.Context, env *fn.Env) (http.Handler, error) {
	webhooks, err := webhook.PolicyFromEnv(env.Getenv(stack.EnvLocalWebhookTargets))
	if err != nil {
		return nil, err
	}
	localHTTP := false
	switch v := env.Getenv(stack.EnvConsoleLocalHTTP); v {
	case "", "false":
	case "true":
		localHTTP = true
	default:
		return nil, fmt.Errorf("environment variable %s must be true or empty, not %q", stack.EnvConsoleLocalHTTP, v)
	}
	roles, err := env.AssumingRoles()
	if err != nil {
		return nil, err
	}
	b, err := env.Base(ctx, fn.Var{Name: stack.EnvKMSKeyID, What: "the service's KMS key"},
		fn.Var{Name: stack.EnvAuditSigningKeyID, What: "the audit signing key"},
		fn.Var{Name: stack.EnvDeliveryQueueURL, What: "the delivery queue's URL, where replayed dead letters go"},
		fn.Var{Name: stack.EnvDeliveryDLQURL, What: "the delivery dead-letter queue's URL"})
	if err != nil {
		return nil, err
	}
	if localHTTP {
		b.Logger.Warn("console serves plain http with cookies that are not Secure: local development only", "variable", stack.EnvConsoleLocalHTTP)
	}
	kmsClient := kms.NewFromConfig(b.AWS)
	c := &console.Console{
		Service: &workspace.Service{Store: b.Store, Webhooks: webhooks, AssumingRoles: roles,
			Signing: &webhook.Generator{KMS: kmsClient, CMK: b.Vars[stack.EnvKMSKeyID]},
			// "Test destination" assumes the customer's role, as the config function's route does.
			Tester: awsdest.ForFunction(b.AWS, env.Getenv, b.Logger)},
		Keys:     &keygen.Service{Store: b.Store, KMS: kmsClient, CMK: b.Vars[stack.EnvKMSKeyID], Logger: b.Logger},
		Trail:    &audit.Trail{Store: b.Store, KMS: kmsClient, SigningKey: b.Vars[stack.EnvAuditSigningKeyID]},
		Sessions: b.Store, Tokens: b.Store, Audit: b.Store, Logger: b.Logger, LocalHTTP: localHTTP,
		// A destination's page counts and replays its dead letters, as the config function's routes do.
		DeadLetters: &delivery.DeadLetters{Queue: sqs.NewFromConfig(b.AWS),
			QueueURL: b.Vars[stack.EnvDeliveryQueueURL], DLQURL: b.Vars[stack.EnvDeliveryDLQURL]},
	}
	return c.Handler()
}
