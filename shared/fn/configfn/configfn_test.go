package configfn_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/phiguard/phiguard/shared/fn/configfn"
	"github.com/phiguard/phiguard/shared/fn/fntest"
	"github.com/phiguard/phiguard/shared/httpapi"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

// The sample events in events/ run through the function's real wiring against DynamoDB in moto.
func TestSampleEventsRunThroughTheFunction(t *testing.T) {
	store, table := fntest.Table(t)
	fntest.Seed(t, store, &phi.Workspace{ID: fntest.WorkspaceID, Name: "Sample", Tier: phi.TierBusiness})
	var logs fntest.Log
	// The samples' webhook URL is a loopback https address (no public DNS here): like make
	// smoke, run with the local-development allowance.
	env := fntest.Vars{stack.EnvTable: table, stack.EnvLocalWebhookTargets: "127.0.0.1:8443", stack.EnvAuditSigningKeyID: "alias/unused",
		stack.EnvDeliveryQueueURL: "http://127.0.0.1:1/q", stack.EnvDeliveryDLQURL: "http://127.0.0.1:1/dlq", stack.EnvKMSKeyID: fntest.KMSKey(t)}
	h := fntest.Build(t, httpapi.LambdaOf(configfn.Build), env, &logs)
	for _, s := range []struct {
		file   string
		status int
	}{
		{"config-get-workspace.json", 200},
		{"config-create-source.json", 201},
		{"config-create-destination.json", 201},
	} {
		t.Run(s.file, func(t *testing.T) {
			ev := fntest.Event[events.APIGatewayProxyRequest](t, s.file)
			resp := fntest.Invoke(t, h, ev, s.status)
			if got := resp.MultiValueHeaders["X-Request-Id"]; len(got) != 1 || got[0] != ev.RequestContext.RequestID {
				t.Errorf("X-Request-Id = %v, want API Gateway's request id", got)
			}
			// A webhook destination's signing secret, generated through KMS, is shown this once.
			if s.file == "config-create-destination.json" {
				cc := resp.MultiValueHeaders["Cache-Control"]
				if !strings.Contains(resp.Body, `"signingSecret":"whsec_`) || len(cc) != 1 || cc[0] != "no-store" {
					t.Errorf("the create response has no signing secret marked no-store: Cache-Control %v", cc)
				}
			}
		})
	}
	if !strings.Contains(logs.String(), `"route"`) {
		t.Errorf("no JSON access log on stdout: %q", logs.String())
	}
}

func TestColdStartFailsClearlyOnBadEnvironment(t *testing.T) {
	fntest.RunColdStarts(t, configfn.Build,
		fntest.ColdStart{Name: "bad log level", Env: fntest.Vars{stack.EnvTable: "t", stack.EnvAuditSigningKeyID: "alias/k", stack.EnvLogLevel: "loud"}, Want: stack.EnvLogLevel},
		fntest.ColdStart{Name: "no delivery queue", Env: fntest.Vars{stack.EnvTable: "t", stack.EnvAuditSigningKeyID: "alias/k"}, Want: stack.EnvDeliveryQueueURL},
		fntest.ColdStart{Name: "no dead-letter queue", Env: fntest.Vars{stack.EnvTable: "t", stack.EnvAuditSigningKeyID: "alias/k", stack.EnvDeliveryQueueURL: "q"}, Want: stack.EnvDeliveryDLQURL},
		fntest.ColdStart{Name: "no KMS key", Env: fntest.Vars{stack.EnvTable: "t", stack.EnvAuditSigningKeyID: "alias/k", stack.EnvDeliveryQueueURL: "q", stack.EnvDeliveryDLQURL: "d"}, Want: stack.EnvKMSKeyID},
		fntest.ColdStart{Name: "local targets not IP:port", Env: fntest.Vars{stack.EnvTable: "t", stack.EnvLocalWebhookTargets: "true"}, Want: stack.EnvLocalWebhookTargets},
		fntest.ColdStart{Name: "no audit signing key", Env: fntest.Vars{stack.EnvTable: "t"}, Want: stack.EnvAuditSigningKeyID},
		fntest.ColdStart{Name: "assuming roles that are not role ARNs", Env: fntest.Vars{stack.EnvTable: "t", stack.EnvAssumingRoleARNs: "arn:aws:s3:::bucket"}, Want: stack.EnvAssumingRoleARNs},
	)
}
