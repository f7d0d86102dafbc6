package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/phi"
)

// noStore knows no destination.
type noStore struct{}

func (noStore) GetDestination(_ context.Context, _, id string) (*phi.Destination, error) {
	return nil, phi.Errorf(phi.ENOTFOUND, "destination %s not found", id)
}

func sqsRecord(id, ws, dst, body string) events.SQSMessage {
	m := events.SQSMessage{MessageId: id, Body: body, MessageAttributes: map[string]events.SQSMessageAttribute{}}
	for k, v := range map[string]string{attrWorkspace: ws, attrDestination: dst, attrDedupID: "dedup-" + id} {
		if v != "" {
			v := v
			m.MessageAttributes[k] = events.SQSMessageAttribute{StringValue: &v, DataType: "String"}
		}
	}
	return m
}

// The delivery handler reads destinations from the real store (DynamoDB in moto) and reports
// exactly the copies it could not deliver.
func TestHandlerDeliversCopiesAndReportsTheUndeliverable(t *testing.T) {
	client := awstest.Clients(t).DynamoDB
	ctx := context.Background()
	table := awstest.UniqueName("webhook")
	if err := dynamo.CreateTable(ctx, client, table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)}) })
	store := dynamo.New(client, table)
	ws := &phi.Workspace{ID: phi.NewID(phi.PrefixWorkspace), Name: "Clinic", Tier: phi.TierBusiness, BAA: phi.BAA{Signed: true}}
	var secret [16]byte
	_, _ = rand.Read(secret[:])
	sum := sha256.Sum256(secret[:])
	if err := store.CreateWorkspace(ctx, ws, &phi.Token{ID: phi.NewID(phi.PrefixToken), Role: phi.RoleOwner}, hex.EncodeToString(sum[:])); err != nil {
		t.Fatal(err)
	}
	src := &phi.Source{ID: phi.NewID(phi.PrefixSource), WorkspaceID: ws.ID, Name: "web"}
	if err := store.CreateSource(ctx, src); err != nil {
		t.Fatal(err)
	}
	ok := newReceiver(t)
	down := newReceiver(t, 503, 503, 503, 503)
	dest := func(url string, enabled bool) string {
		d := &phi.Destination{ID: phi.NewID(phi.PrefixDestination), WorkspaceID: ws.ID, SourceID: src.ID, Name: "hook",
			Type: phi.DestinationWebhook, Enabled: enabled, Settings: phi.DestinationSettings{URL: url}}
		if err := store.CreateDestination(ctx, d); err != nil {
			t.Fatal(err)
		}
		return d.ID
	}
	good, broken, off := dest(ok.srv.URL+"/hook", true), dest(down.srv.URL, true), dest(ok.srv.URL, false)
	// Both receivers share the same test CA, so one TLS config trusts both.
	var logs bytes.Buffer
	h, err := New(Config{Store: store, SigningKey: testKey, Policy: listing(ok, down), TLSConfig: ok.tls(),
		RetryBase: time.Millisecond, Attempts: 2, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	copyBody := `{"type":"identify","messageId":"m-1","traits":{"email":"hpke-p256.AAAA"},"_phi":{"v":1,"fields":[],"dropped":[]}}`
	resp, err := h.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{
		sqsRecord("1", ws.ID, good, copyBody),
		sqsRecord("2", ws.ID, broken, copyBody),
		sqsRecord("3", ws.ID, off, copyBody),
		sqsRecord("4", ws.ID, phi.NewID(phi.PrefixDestination), copyBody),
		sqsRecord("5", "", "", copyBody),
	}})
	if err != nil {
		t.Fatal(err)
	}
	var failed []string
	for _, f := range resp.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	slices.Sort(failed)
	if !slices.Equal(failed, []string{"2", "3", "4", "5"}) {
		t.Fatalf("batch item failures = %v, want 2 (receiver down), 3 (disabled), 4 (unknown), 5 (no attributes)", failed)
	}
	if len(ok.bodies) != 1 || ok.bodies[0] != copyBody || ok.verified[0] != nil || ok.headers[0].Get(HeaderDedupID) != "dedup-1" {
		t.Fatalf("the good destination got %d requests: %v %v", len(ok.bodies), ok.bodies, ok.verified)
	}
	if down.calls.Load() != 2 {
		t.Fatalf("the failing receiver got %d attempts, want 2", down.calls.Load())
	}
	if strings.Contains(logs.String(), "hpke-p256.AAAA") || strings.Contains(logs.String(), "127.0.0.1") {
		t.Errorf("logs carry the body or the URL:\n%s", logs.String())
	}
}
