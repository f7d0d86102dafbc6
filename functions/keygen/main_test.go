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
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/fieldcrypt"
	"github.com/phiguard/phiguard/shared/httpapi"
	"github.com/phiguard/phiguard/shared/keygen"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

func TestColdStartFailsClearlyOnBadEnvironment(t *testing.T) {
	for _, c := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no table", map[string]string{stack.EnvKMSKeyID: "alias/k"}, stack.EnvTable},
		{"no KMS key", map[string]string{stack.EnvTable: "t"}, stack.EnvKMSKeyID},
		{"a bad log level", map[string]string{stack.EnvTable: "t", stack.EnvKMSKeyID: "alias/k", stack.EnvLogLevel: "loud"}, stack.EnvLogLevel},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := run(context.Background(), func(k string) string { return c.env[k] }, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to name %s", err, c.want)
			}
		})
	}
}

// The keygen sample events in events/ run through the function's real wiring against DynamoDB in
// moto and KMS in local-kms.
func TestSampleEventsRunThroughTheFunction(t *testing.T) {
	c := awstest.Clients(t)
	ctx := context.Background()
	table := awstest.UniqueName("keygen-fn")
	if err := dynamo.CreateTable(ctx, c.DynamoDB, table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.DynamoDB.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)}) })
	cmk, err := c.KMS.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("keygen function test")})
	if err != nil {
		t.Fatal(err)
	}
	store := dynamo.New(c.DynamoDB, table)
	const wsID, dstID = "ws_00000000000000000000000001", "dst_00000000000000000000000001"
	now := time.Now().UTC()
	ws := &phi.Workspace{ID: wsID, Name: "Sample", Tier: phi.TierBusiness, BAA: phi.BAA{Signed: true, SignedAt: now, SignedBy: "operator:test"}}
	owner := &phi.Token{ID: "tok_00000000000000000000000001", Name: "owner", Role: phi.RoleOwner}
	if err := store.CreateWorkspace(ctx, ws, owner, httpapi.HashToken("phit_sample-token-for-local-testing-only-000000")); err != nil {
		t.Fatal(err)
	}
	if err := store.CreateSource(ctx, &phi.Source{ID: "src_00000000000000000000000001", WorkspaceID: wsID, Name: "web"}); err != nil {
		t.Fatal(err)
	}
	if err := store.CreateDestination(ctx, &phi.Destination{ID: dstID, WorkspaceID: wsID, SourceID: "src_00000000000000000000000001",
		Name: "crm", Type: phi.DestinationWebhook, Settings: phi.DestinationSettings{URL: "https://crm.example.com/hook"}}); err != nil {
		t.Fatal(err)
	}
	seeded, err := fieldcrypt.GenerateKeyPair(fieldcrypt.HPKEP256, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.PutActiveKey(ctx, &phi.Key{ID: "key_00000000000000000000000001", WorkspaceID: wsID, DestinationID: dstID,
		Kind: phi.KeyEncryption, Algorithm: "hpke-p256", Origin: phi.OriginKMS, PublicKeyPEM: string(seeded.Public().PEM()),
		Fingerprint: seeded.Public().Fingerprint(), CreatedBy: owner.ID}); err != nil {
		t.Fatal(err)
	}

	var logs bytes.Buffer
	env := map[string]string{stack.EnvTable: table, stack.EnvKMSKeyID: *cmk.KeyMetadata.KeyId}
	h, err := run(ctx, func(k string) string { return env[k] }, &logs)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		file   string
		status int
		check  func(t *testing.T, resp events.APIGatewayProxyResponse)
	}{
		{"keygen-generate-key.json", 201, func(t *testing.T, resp events.APIGatewayProxyResponse) {
			var g keygen.GeneratedKey
			if err := json.Unmarshal([]byte(resp.Body), &g); err != nil {
				t.Fatal(err)
			}
			if _, err := fieldcrypt.ParsePrivateKey([]byte(g.PrivateKey)); err != nil {
				t.Fatalf("private key: %v", err)
			}
			if h := resp.MultiValueHeaders["Cache-Control"]; len(h) != 1 || h[0] != "no-store" {
				t.Fatalf("Cache-Control = %v", h)
			}
			if strings.Contains(logs.String(), "PRIVATE KEY") || strings.Contains(logs.String(), g.PrivateKey[40:100]) {
				t.Fatal("the private key reached the function's log")
			}
		}},
		{"keygen-list-keys.json", 200, func(t *testing.T, resp events.APIGatewayProxyResponse) {
			if strings.Contains(resp.Body, "PRIVATE KEY") || !strings.Contains(resp.Body, "key_00000000000000000000000001") {
				t.Fatalf("list = %.300s", resp.Body)
			}
		}},
		{"keygen-import-key.json", 201, nil},
		{"keygen-generate-hmac-key.json", 201, nil},
		{"keygen-revoke-key.json", 200, func(t *testing.T, resp events.APIGatewayProxyResponse) {
			if !strings.Contains(resp.Body, `"status":"revoked"`) {
				t.Fatalf("revoke = %s", resp.Body)
			}
		}},
	} {
		t.Run(s.file, func(t *testing.T) {
			raw, err := os.ReadFile("../../events/" + s.file)
			if err != nil {
				t.Fatal(err)
			}
			var ev events.APIGatewayProxyRequest
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatal(err)
			}
			resp, err := h(ctx, ev)
			if err != nil || resp.StatusCode != s.status {
				t.Fatalf("status %d, err %v: %s", resp.StatusCode, err, resp.Body)
			}
			if s.check != nil {
				s.check(t, resp)
			}
		})
	}
	if !strings.Contains(logs.String(), `"key pair generated"`) {
		t.Errorf("no JSON log on stdout: %q", logs.String())
	}
}
