package authorizerfn_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/phiguard/phiguard/shared/fn/authorizerfn"
	"github.com/phiguard/phiguard/shared/fn/fntest"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

// The sample authorizer event is allowed while its token is live and refused once it is
// revoked, through the function's real wiring against DynamoDB in moto.
func TestSampleEventIsAllowedUntilTheTokenIsRevoked(t *testing.T) {
	ev := fntest.Event[events.APIGatewayCustomAuthorizerRequestTypeRequest](t, "authorizer-request.json")
	store, table := fntest.Table(t)
	ws := &phi.Workspace{ID: fntest.WorkspaceID, Name: "Sample", Tier: phi.TierFree}
	owner := fntest.Seed(t, store, ws)
	var logs fntest.Log
	h := fntest.Build(t, authorizerfn.Build, fntest.Vars{stack.EnvTable: table}, &logs)
	resp, err := h(t.Context(), ev)
	if err != nil || resp.PolicyDocument.Statement[0].Effect != "Allow" || resp.Context["workspaceId"] != ws.ID || resp.Context["role"] != "owner" {
		t.Fatalf("resp = %+v, err %v", resp, err)
	}
	// The store keeps a workspace's last active owner token; a second owner lets the first go.
	second := &phi.Token{ID: phi.NewID(phi.PrefixToken), WorkspaceID: ws.ID, Name: "second owner", Role: phi.RoleOwner}
	if err := store.CreateToken(t.Context(), second, phi.HashToken(phi.NewTokenSecret())); err != nil {
		t.Fatal(err)
	}
	if err := store.RevokeToken(t.Context(), ws.ID, owner.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := h(t.Context(), ev); err == nil || err.Error() != "Unauthorized" {
		t.Fatalf("revoked token: err = %v, want Unauthorized", err)
	}
	if strings.Contains(logs.String(), fntest.TokenSecret) || strings.Contains(logs.String(), phi.HashToken(fntest.TokenSecret)) {
		t.Error("the authorizer logged the token or its hash")
	}
}

func TestColdStartFailsClearlyWithoutTheTable(t *testing.T) {
	fntest.RunColdStarts(t, authorizerfn.Build)
}
