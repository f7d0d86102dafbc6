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
	"github.com/phiguard/phiguard/shared/httpapi"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

func TestColdStartFailsClearlyOnBadEnvironment(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"no table":                  {},
		"bad log level":             {stack.EnvTable: "t", stack.EnvLogLevel: "loud"},
		"local targets not IP:port": {stack.EnvTable: "t", stack.EnvLocalWebhookTargets: "true"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := run(context.Background(), func(k string) string { return env[k] }, &bytes.Buffer{})
			want := stack.EnvTable
			switch name {
			case "bad log level":
				want = stack.EnvLogLevel
			case "local targets not IP:port":
				want = stack.EnvLocalWebhookTargets
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v, want it to name %s", err, want)
			}
		})
	}
}

// The sample events in events/ run through the function's real wiring against DynamoDB in moto.
func TestSampleEventsRunThroughTheFunction(t *testing.T) {
	client := awstest.Clients(t).DynamoDB
	table := awstest.UniqueName("config-fn")
	ctx := context.Background()
	if err := dynamo.CreateTable(ctx, client, table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)}) })
	store := dynamo.New(client, table)
	ws := &phi.Workspace{ID: "ws_00000000000000000000000001", Name: "Sample", Tier: phi.TierBusiness}
	owner := &phi.Token{ID: "tok_00000000000000000000000001", Name: "owner", Role: phi.RoleOwner}
	if err := store.CreateWorkspace(ctx, ws, owner, httpapi.HashToken("phit_sample-token-for-local-testing-only-000000")); err != nil {
		t.Fatal(err)
	}
	if err := store.CreateSource(ctx, &phi.Source{ID: "src_00000000000000000000000001", WorkspaceID: ws.ID, Name: "web"}); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	// The samples' webhook URL is a loopback https address (no public DNS here): like make
	// smoke, run with it listed as a local target.
	env := map[string]string{stack.EnvTable: table, stack.EnvLocalWebhookTargets: "127.0.0.1:8443"}
	h, err := run(ctx, func(k string) string { return env[k] }, &logs)
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]int{
		"config-get-workspace.json":      200,
		"config-create-source.json":      201,
		"config-create-destination.json": 201,
	} {
		t.Run(file, func(t *testing.T) {
			raw, err := os.ReadFile("../../events/" + file)
			if err != nil {
				t.Fatal(err)
			}
			var ev events.APIGatewayProxyRequest
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatal(err)
			}
			resp, err := h(ctx, ev)
			if err != nil || resp.StatusCode != want {
				t.Fatalf("status %d, err %v: %s", resp.StatusCode, err, resp.Body)
			}
			if got := resp.MultiValueHeaders["X-Request-Id"]; len(got) != 1 || got[0] != ev.RequestContext.RequestID {
				t.Errorf("X-Request-Id = %v, want API Gateway's request id", got)
			}
		})
	}
	if !strings.Contains(logs.String(), `"route"`) {
		t.Errorf("no JSON access log on stdout: %q", logs.String())
	}
}
