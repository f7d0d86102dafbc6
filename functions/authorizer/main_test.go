package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/httpapi"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

func TestColdStartFailsClearlyWithoutTheTable(t *testing.T) {
	_, err := run(context.Background(), func(string) string { return "" }, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), stack.EnvTable) {
		t.Fatalf("err = %v, want it to name %s", err, stack.EnvTable)
	}
}

// The sample authorizer event is allowed while its token is live and refused once it is
// revoked, through the function's real wiring against DynamoDB in moto.
func TestSampleEventIsAllowedUntilTheTokenIsRevoked(t *testing.T) {
	client := awstest.Clients(t).DynamoDB
	table := awstest.UniqueName("authorizer-fn")
	ctx := context.Background()
	if err := dynamo.CreateTable(ctx, client, table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)}) })
	store := dynamo.New(client, table)
	const secret = "phit_sample-token-for-local-testing-only-000000"
	ws := &phi.Workspace{ID: "ws_00000000000000000000000001", Name: "Sample", Tier: phi.TierFree}
	owner := &phi.Token{ID: "tok_00000000000000000000000001", Name: "owner", Role: phi.RoleOwner}
	if err := store.CreateWorkspace(ctx, ws, owner, httpapi.HashToken(secret)); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	h, err := run(ctx, func(k string) string { return map[string]string{stack.EnvTable: table}[k] }, &logs)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../../events/authorizer-request.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayCustomAuthorizerRequestTypeRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	resp, err := h(ctx, ev)
	if err != nil || resp.PolicyDocument.Statement[0].Effect != "Allow" || resp.Context["workspaceId"] != ws.ID || resp.Context["role"] != "owner" {
		t.Fatalf("resp = %+v, err %v", resp, err)
	}
	if err := store.RevokeToken(ctx, ws.ID, owner.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := h(ctx, ev); err == nil || err.Error() != "Unauthorized" {
		t.Fatalf("revoked token: err = %v, want Unauthorized", err)
	}
	if strings.Contains(logs.String(), secret) || strings.Contains(logs.String(), httpapi.HashToken(secret)) {
		t.Error("the authorizer logged the token or its hash")
	}
}
