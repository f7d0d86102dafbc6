package operatorfn_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/phiguard/phiguard/shared/fn/fntest"
	"github.com/phiguard/phiguard/shared/fn/operatorfn"
	"github.com/phiguard/phiguard/shared/httpapi"
	"github.com/phiguard/phiguard/shared/stack"
)

// The operator sample events run through the function's real wiring against DynamoDB in moto:
// the IAM caller becomes the actor, and a customer's authorizer context is refused.
func TestSampleEventsRunThroughTheFunction(t *testing.T) {
	event := fntest.Event[events.APIGatewayProxyRequest]
	_, table := fntest.Table(t)
	h := fntest.Build(t, httpapi.LambdaOf(operatorfn.Build), fntest.Vars{stack.EnvTable: table}, nil)

	resp := fntest.Invoke(t, h, event(t, "operator-create-workspace.json"), 201)
	var created struct {
		ID            string `json:"id"`
		HIPAAEligible bool   `json:"hipaaEligible"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &created); err != nil || !created.HIPAAEligible {
		t.Fatalf("created = %+v, %v", created, err)
	}

	up := event(t, "operator-update-plan.json")
	up.Path = strings.Replace(up.Path, fntest.WorkspaceID, created.ID, 1)
	if resp := fntest.Invoke(t, h, up, 200); !strings.Contains(resp.Body, `"hipaaEligible":false`) {
		t.Fatalf("downgrade: %s", resp.Body)
	}

	customer := event(t, "operator-create-workspace.json")
	customer.RequestContext.Identity.UserArn = ""
	customer.RequestContext.Authorizer = map[string]any{"workspaceId": created.ID, "tokenId": fntest.OwnerTokenID, "role": "owner"}
	if resp, _ := h(t.Context(), customer); resp.StatusCode != 401 {
		t.Fatalf("a customer's request reached an operator route: %d %s", resp.StatusCode, resp.Body)
	}
}

func TestColdStartFailsClearlyWithoutTheTable(t *testing.T) {
	fntest.RunColdStarts(t, operatorfn.Build)
}
