// Package configfn wires the config function (stack.FunctionConfig): the customer's REST
// routes — workspace, tokens, sources, destinations (with their webhook signing secrets,
// generated through KMS) and their dead letters, Privacy Portal, audit log and its
// verification and export.
package configfn

import (
	"context"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/phiguard/phiguard/shared/audit"
	"github.com/phiguard/phiguard/shared/awsdest"
	"github.com/phiguard/phiguard/shared/delivery"
	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/fn"
	"github.com/phiguard/phiguard/shared/httpapi"
	"github.com/phiguard/phiguard/shared/stack"
	"github.com/phiguard/phiguard/shared/webhook"
	"github.com/phiguard/phiguard/shared/workspace"
)

var _ httpapi.ConfigStore = (*dynamo.Store)(nil)

// Build returns the config API's handler. It fails, naming the problem, when an environment
// variable is missing or invalid (stack.EnvAssumingRoleARNs, optional, must list IAM role ARNs)
// or the AWS configuration is unusable.
func Build(ctx context.Context, env *fn.Env) (http.Handler, error) {
	// Webhook URLs are checked with the real resolver; listed loopback targets are allowed only
	// for local development (sam local, make smoke), never by the deployed stack.
	webhooks, err := webhook.PolicyFromEnv(env.Getenv(stack.EnvLocalWebhookTargets))
	if err != nil {
		return nil, err
	}
	roles, err := env.AssumingRoles()
	if err != nil {
		return nil, err
	}
	b, err := env.Base(ctx, fn.Var{Name: stack.EnvAuditSigningKeyID, What: "the audit signing key"},
		fn.Var{Name: stack.EnvDeliveryQueueURL, What: "the delivery queue's URL, where replayed dead letters go"},
		fn.Var{Name: stack.EnvDeliveryDLQURL, What: "the delivery dead-letter queue's URL"},
		fn.Var{Name: stack.EnvKMSKeyID, What: "the service's KMS key, under which webhook signing secrets are generated"})
	if err != nil {
		return nil, err
	}
	if n := len(webhooks.LocalTargets); n > 0 {
		b.Logger.Warn("local webhook targets allowed: destinations may target the listed loopback addresses", "variable", stack.EnvLocalWebhookTargets, "targets", n)
	}
	kmsClient := kms.NewFromConfig(b.AWS)
	api := &httpapi.ConfigAPI{
		Service: &workspace.Service{Store: b.Store, Webhooks: webhooks, AssumingRoles: roles,
			Signing: &webhook.Generator{KMS: kmsClient, CMK: b.Vars[stack.EnvKMSKeyID]},
			// The destination test assumes the customer's role, as the delivery function does.
			Tester: awsdest.ForFunction(b.AWS, env.Getenv, b.Logger)},
		Audit: b.Store, Auth: httpapi.AuthOf(env.Auth), Logger: b.Logger,
		Trail: &audit.Trail{Store: b.Store, KMS: kmsClient, SigningKey: b.Vars[stack.EnvAuditSigningKeyID]},
		DeadLetters: &delivery.DeadLetters{Queue: sqs.NewFromConfig(b.AWS),
			QueueURL: b.Vars[stack.EnvDeliveryQueueURL], DLQURL: b.Vars[stack.EnvDeliveryDLQURL]},
	}
	return api.Handler()
}
