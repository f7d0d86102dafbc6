package consolefn_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/phiguard/phiguard/shared/fn/consolefn"
	"github.com/phiguard/phiguard/shared/fn/fntest"
	"github.com/phiguard/phiguard/shared/httpapi"
	"github.com/phiguard/phiguard/shared/stack"
)

// The console's sample event runs through the function's real wiring, as API Gateway sends it:
// https, on the execute-api host, so its links and cookie carry the stage.
func TestTheSampleEventRunsThroughTheFunction(t *testing.T) {
	_, table := fntest.Table(t)
	var logs fntest.Log
	h := fntest.Build(t, httpapi.LambdaOf(consolefn.Build), fntest.Vars{stack.EnvTable: table, stack.EnvKMSKeyID: "alias/unused", stack.EnvAuditSigningKeyID: "alias/unused",
		stack.EnvDeliveryQueueURL: "http://unused/q", stack.EnvDeliveryDLQURL: "http://unused/dlq"}, &logs)
	resp := fntest.Invoke(t, h, fntest.Event[events.APIGatewayProxyRequest](t, "console-sign-in-page.json"), 200)
	if !strings.Contains(resp.Body, `action="/prod/console/sign-in"`) {
		t.Errorf("the sign-in form does not post to the stage's console path: %.400s", resp.Body)
	}
	if h := resp.MultiValueHeaders["Strict-Transport-Security"]; len(h) != 1 {
		t.Errorf("a deployed console sends no HSTS: %v", resp.MultiValueHeaders)
	}
}

func TestColdStartFailsClearlyOnBadEnvironment(t *testing.T) {
	fntest.RunColdStarts(t, consolefn.Build,
		fntest.ColdStart{Name: "no table", Env: fntest.Vars{stack.EnvKMSKeyID: "alias/k"}, Want: stack.EnvTable},
		fntest.ColdStart{Name: "no KMS key", Env: fntest.Vars{stack.EnvTable: "t"}, Want: stack.EnvKMSKeyID},
		fntest.ColdStart{Name: "no audit signing key", Env: fntest.Vars{stack.EnvTable: "t", stack.EnvKMSKeyID: "alias/k"}, Want: stack.EnvAuditSigningKeyID},
		fntest.ColdStart{Name: "no delivery queue", Env: fntest.Vars{stack.EnvTable: "t", stack.EnvKMSKeyID: "alias/k", stack.EnvAuditSigningKeyID: "alias/k"}, Want: stack.EnvDeliveryQueueURL},
		fntest.ColdStart{Name: "no dead-letter queue", Env: fntest.Vars{stack.EnvTable: "t", stack.EnvKMSKeyID: "alias/k", stack.EnvAuditSigningKeyID: "alias/k", stack.EnvDeliveryQueueURL: "q"}, Want: stack.EnvDeliveryDLQURL},
		fntest.ColdStart{Name: "a bad local-http switch", Env: fntest.Vars{stack.EnvTable: "t", stack.EnvKMSKeyID: "alias/k", stack.EnvAuditSigningKeyID: "alias/k", stack.EnvConsoleLocalHTTP: "yes"}, Want: stack.EnvConsoleLocalHTTP},
	)
}
