package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
	"github.com/phiguard/phiguard/shared/webhook"
)

const signingKey = "sample-signing-key-for-local-tests-only-0000000000"

func TestColdStartFailsClearlyOnBadEnvironment(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no table", map[string]string{stack.EnvWebhookSigningKey: signingKey}, stack.EnvTable},
		{"no signing key", map[string]string{stack.EnvTable: "t"}, stack.EnvWebhookSigningKey},
		{"short signing key", map[string]string{stack.EnvTable: "t", stack.EnvWebhookSigningKey: "short"}, stack.EnvWebhookSigningKey},
		{"local targets not IP:port", map[string]string{stack.EnvTable: "t", stack.EnvWebhookSigningKey: signingKey, stack.EnvLocalWebhookTargets: "true"}, stack.EnvLocalWebhookTargets},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := run(context.Background(), func(k string) string { return tt.env[k] }, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to name %s", err, tt.want)
			}
			if strings.Contains(err.Error(), signingKey) {
				t.Fatal("the error quotes the signing key")
			}
		})
	}
}

// The sample SNS-to-SQS batch in events/delivery-sqs-webhook-batch.json runs through the real wiring: the copies are
// POSTed, signed, to the destination's URL (a local receiver, listed as a local target).
func TestSampleBatchIsDeliveredSigned(t *testing.T) {
	client := awstest.Clients(t).DynamoDB
	ctx := context.Background()
	table := awstest.UniqueName("delivery-fn")
	if err := dynamo.CreateTable(ctx, client, table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)}) })
	var mu sync.Mutex
	var verified []error
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		verified = append(verified, webhook.Verify([]byte(signingKey), r.Header.Get(webhook.HeaderTimestamp), r.Header.Get(webhook.HeaderSignature), body, time.Now(), 0))
		mu.Unlock()
	}))
	defer srv.Close()
	store := dynamo.New(client, table)
	ws := &phi.Workspace{ID: "ws_00000000000000000000000001", Name: "Sample", Tier: phi.TierBusiness, BAA: phi.BAA{Signed: true}}
	sum := sha256.Sum256([]byte(table))
	if err := store.CreateWorkspace(ctx, ws, &phi.Token{ID: "tok_00000000000000000000000001", Role: phi.RoleOwner}, hex.EncodeToString(sum[:])); err != nil {
		t.Fatal(err)
	}
	if err := store.CreateSource(ctx, &phi.Source{ID: "src_00000000000000000000000001", WorkspaceID: ws.ID, Name: "web"}); err != nil {
		t.Fatal(err)
	}
	if err := store.CreateDestination(ctx, &phi.Destination{ID: "dst_00000000000000000000000001", WorkspaceID: ws.ID,
		SourceID: "src_00000000000000000000000001", Name: "hook", Type: phi.DestinationWebhook, Enabled: true,
		Settings: phi.DestinationSettings{URL: srv.URL + "/phi"}}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{stack.EnvTable: table, stack.EnvWebhookSigningKey: signingKey, stack.EnvLocalWebhookTargets: srv.Listener.Addr().String()}
	h, err := run(ctx, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../../events/delivery-sqs-webhook-batch.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	resp, err := h(ctx, ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("resp %+v err %v", resp, err)
	}
	if len(verified) != len(ev.Records) {
		t.Fatalf("receiver got %d requests, want %d", len(verified), len(ev.Records))
	}
	for _, v := range verified {
		if v != nil {
			t.Errorf("delivery does not verify: %v", v)
		}
	}
}
