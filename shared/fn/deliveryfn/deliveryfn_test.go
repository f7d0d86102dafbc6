package deliveryfn_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/phiguard/phiguard/shared/fn/deliveryfn"
	"github.com/phiguard/phiguard/shared/fn/fntest"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
	"github.com/phiguard/phiguard/shared/webhook"
)

const signingKey = "sample-signing-key-for-local-tests-only-0000000000"

// The sample SNS-to-SQS batch in events/delivery-sqs-webhook-batch.json runs through the real
// wiring: the copies are POSTed, signed, to the destination's URL (a local receiver, listed as a
// local target).
func TestSampleBatchIsDeliveredSigned(t *testing.T) {
	var mu sync.Mutex
	var verified []error
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		verified = append(verified, webhook.Verify([]byte(signingKey), r.Header.Get(webhook.HeaderTimestamp), r.Header.Get(webhook.HeaderSignature), body, time.Now(), 0))
		mu.Unlock()
	}))
	defer srv.Close()
	store, table := fntest.Table(t)
	ws := &phi.Workspace{ID: fntest.WorkspaceID, Name: "Sample", Tier: phi.TierBusiness, BAA: phi.BAA{Signed: true}}
	fntest.Seed(t, store, ws)
	if err := store.CreateDestination(t.Context(), &phi.Destination{ID: fntest.DestinationID, WorkspaceID: ws.ID,
		SourceID: fntest.SourceID, Name: "hook", Type: phi.DestinationWebhook, Enabled: true,
		Settings: phi.DestinationSettings{URL: srv.URL + "/phi"}}); err != nil {
		t.Fatal(err)
	}
	env := fntest.Vars{stack.EnvTable: table, stack.EnvWebhookSigningKey: signingKey, stack.EnvLocalWebhookTargets: srv.Listener.Addr().String()}
	h := fntest.Build(t, deliveryfn.Build, env, &fntest.Log{})
	ev := fntest.Event[events.SQSEvent](t, "delivery-sqs-webhook-batch.json")
	resp, err := h(t.Context(), ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("resp %+v err %v", resp, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(verified) != len(ev.Records) {
		t.Fatalf("receiver got %d requests, want %d", len(verified), len(ev.Records))
	}
	for _, v := range verified {
		if v != nil {
			t.Errorf("delivery does not verify: %v", v)
		}
	}
}

func TestColdStartFailsClearlyOnBadEnvironment(t *testing.T) {
	fntest.RunColdStarts(t, deliveryfn.Build,
		fntest.ColdStart{Name: "no table", Env: fntest.Vars{stack.EnvWebhookSigningKey: signingKey}, Want: stack.EnvTable, Secret: signingKey},
		fntest.ColdStart{Name: "no signing key", Env: fntest.Vars{stack.EnvTable: "t"}, Want: stack.EnvWebhookSigningKey, Secret: signingKey},
		fntest.ColdStart{Name: "short signing key", Env: fntest.Vars{stack.EnvTable: "t", stack.EnvWebhookSigningKey: "short"}, Want: stack.EnvWebhookSigningKey, Secret: signingKey},
		fntest.ColdStart{Name: "local targets not IP:port", Env: fntest.Vars{stack.EnvTable: "t", stack.EnvWebhookSigningKey: signingKey, stack.EnvLocalWebhookTargets: "true"},
			Want: stack.EnvLocalWebhookTargets, Secret: signingKey},
	)
}
