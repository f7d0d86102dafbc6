package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/stack"
)

func TestColdStartFailsClearlyWithoutTheTable(t *testing.T) {
	_, err := run(context.Background(), func(string) string { return "" }, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), stack.EnvTable) {
		t.Fatalf("err = %v, want it to name %s", err, stack.EnvTable)
	}
}

func loadEvent(t *testing.T, file string) events.APIGatewayProxyRequest {
	t.Helper()
	raw, err := os.ReadFile("../../events/" + file)
	if err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayProxyRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// The operator sample events run through the function's real wiring against DynamoDB in moto:
// the IAM caller becomes the actor, and a customer's authorizer context is refused.
func TestSampleEventsRunThroughTheFunction(t *testing.T) {
	client := awstest.Clients(t).DynamoDB
	table := awstest.UniqueName("operator-fn")
	ctx := context.Background()
	if err := dynamo.CreateTable(ctx, client, table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)}) })
	h, err := run(ctx, func(k string) string { return map[string]string{stack.EnvTable: table}[k] }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	ev := loadEvent(t, "operator-create-workspace.json")
	resp, err := h(ctx, ev)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("create: status %d, err %v: %s", resp.StatusCode, err, resp.Body)
	}
	var created struct {
		ID            string `json:"id"`
		HIPAAEligible bool   `json:"hipaaEligible"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &created); err != nil || !created.HIPAAEligible {
		t.Fatalf("created = %+v, %v", created, err)
	}

	up := loadEvent(t, "operator-update-plan.json")
	up.Path = strings.Replace(up.Path, "ws_00000000000000000000000001", created.ID, 1)
	resp, err = h(ctx, up)
	if err != nil || resp.StatusCode != 200 || !strings.Contains(resp.Body, `"hipaaEligible":false`) {
		t.Fatalf("downgrade: status %d, err %v: %s", resp.StatusCode, err, resp.Body)
	}

	customer := loadEvent(t, "operator-create-workspace.json")
	customer.RequestContext.Identity.UserArn = ""
	customer.RequestContext.Authorizer = map[string]any{"workspaceId": created.ID, "tokenId": "tok_00000000000000000000000001", "role": "owner"}
	if resp, _ := h(ctx, customer); resp.StatusCode != 401 {
		t.Fatalf("a customer's request reached an operator route: %d %s", resp.StatusCode, resp.Body)
	}
}
