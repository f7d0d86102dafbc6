package devserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/phiguard/phiguard/shared/pack"
	"github.com/phiguard/phiguard/shared/stack"
	"github.com/phiguard/phiguard/shared/webhook"
)

// The receiver verifies a batched delivery over its whole body and then records each of its
// events as a delivery, with the event's own id, the request's webhook-id as its batch and one
// request number; a forged batch is refused whole (401, recorded once, unverified), and a
// verified request marked as a batch whose body is not one is refused with 400.
func TestTheReceiverRecordsEachEventOfABatch(t *testing.T) {
	key := bytes.Repeat([]byte{'k'}, webhook.SecretLen)
	rc := &Receiver{DestinationHeader: webhook.HeaderDestination, IDHeader: webhook.HeaderID, BatchHeader: webhook.HeaderBatch,
		Verify: verifier(secretsFunc(func(context.Context, string, string) ([][]byte, error) { return [][]byte{key}, nil }))}
	cs := []pack.Copy{{DedupID: "e1", Event: []byte(`{"n":1}`)}, {DedupID: "e2", Event: []byte(`{"n":2}`)}, {DedupID: "e3", Event: []byte(`{"n":3}`)}}
	post := func(key []byte, body []byte, batch bool) int {
		req := httptest.NewRequest("POST", "/hooks/crm", bytes.NewReader(body))
		h := http.Header{}
		webhook.SetHeaders(h, [][]byte{key}, webhook.BatchID(cs), time.Now(), body)
		for k, v := range h { // as the server reads them off the wire: canonical names
			req.Header.Set(k, v[0])
		}
		req.Header.Set(webhook.HeaderWorkspace, "ws_1")
		req.Header.Set(webhook.HeaderDestination, "dst_1")
		if batch {
			req.Header.Set(webhook.HeaderBatch, "3")
		}
		w := httptest.NewRecorder()
		rc.ServeHTTP(w, req)
		return w.Code
	}
	if c := post(key, webhook.BatchBody(cs), true); c != 200 {
		t.Fatalf("a verified batch got %d", c)
	}
	got := rc.Received("crm")
	if len(got) != 3 {
		t.Fatalf("recorded %d deliveries, want the batch's 3 events", len(got))
	}
	for i, d := range got {
		if d.ID != cs[i].DedupID || d.Batch != webhook.BatchID(cs) || d.Request != 1 || string(d.Body) != string(cs[i].Event) || d.Verified == nil || !*d.Verified {
			t.Errorf("event %d recorded as %+v", i, d)
		}
	}
	if c := post(bytes.Repeat([]byte{'x'}, webhook.SecretLen), webhook.BatchBody(cs), true); c != 401 {
		t.Errorf("a forged batch got %d, want 401", c)
	}
	if c := post(key, []byte(`{"type":"track"}`), true); c != 400 {
		t.Errorf("a verified request marked as a batch without a batch body got %d, want 400", c)
	}
	got = rc.Received("crm")
	if len(got) != 4 || *got[3].Verified || got[3].Request != 2 || got[3].Batch != "" {
		t.Errorf("after a forged batch: %+v; want it recorded once, unverified, as request 2", got[3:])
	}
}

// End to end through the local stack (hashing function, SNS, the delivery queue, the delivery
// engine, the local receiver, which verifies every request): a destination with batchSize 10
// next to one without receives every event of 1,000 in about a tenth of the requests, each
// request holding one destination's events only, every event verified and carrying its own id.
// The two counts are the measurement docs/WEBHOOKS.md quotes (go test -v prints them).
func TestABatchingWebhookGetsItsEventsInFewerRequestsEndToEnd(t *testing.T) {
	s := startTest(t, Config{ReceiverLimit: 10_000})
	ctx := context.Background()
	ws, err := s.CreateSampleWorkspace(ctx)
	if err != nil {
		t.Fatal(err)
	}
	code, src, _ := apiCall(t, s, "POST", "/workspaces/"+ws.ID+"/sources", ws.OwnerToken, `{"name":"web"}`)
	if code != 201 {
		t.Fatalf("create source: %d %v", code, src)
	}
	hooks := map[string]string{"single": "", "batched": `,"batchSize":10`}
	dst := map[string]string{}
	for name, batch := range hooks {
		hook := name + "-" + ws.ID[3:11]
		code, d, _ := apiCall(t, s, "POST", "/workspaces/"+ws.ID+"/destinations", ws.OwnerToken,
			`{"sourceId":"`+src["id"].(string)+`","name":"`+name+`","type":"webhook","settings":{"url":"`+s.HookURL(hook)+`"`+batch+`}}`)
		if code != 201 {
			t.Fatalf("create destination %s: %d %v", name, code, d)
		}
		dst[name] = d["id"].(string)
	}
	const events = 1000
	for i := 0; i < events; i += 10 {
		var entries []sqstypes.SendMessageBatchRequestEntry
		for j := i; j < i+10; j++ {
			entries = append(entries, sqstypes.SendMessageBatchRequestEntry{
				Id:          aws.String(fmt.Sprint(j)),
				MessageBody: aws.String(fmt.Sprintf(`{"type":"track","event":"Checked In","messageId":"batch-e2e-%d","userId":"u-%d"}`, j, j%7)),
				MessageAttributes: map[string]sqstypes.MessageAttributeValue{
					stack.AttrWorkspace: {DataType: aws.String("String"), StringValue: aws.String(ws.ID)},
					stack.AttrSource:    {DataType: aws.String("String"), StringValue: aws.String(src["id"].(string))},
				},
			})
		}
		out, err := s.Clients.SQS.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(s.Resources.IngestQueueURL), Entries: entries})
		if err != nil || len(out.Failed) > 0 {
			t.Fatalf("push: %v %v", err, out)
		}
	}
	byID := func(name string) map[string]Delivery {
		m := map[string]Delivery{}
		for _, d := range s.Receiver.Received(dst[name]) {
			m[d.ID] = d
		}
		return m
	}
	waitFor(t, "every event at both destinations", 5*time.Minute, func() bool {
		return len(byID("single")) >= events && len(byID("batched")) >= events
	})
	requests := map[string]int{}
	for name := range hooks {
		perRequest := map[int64]int{}
		received := map[string]bool{}
		for _, d := range s.Receiver.Received(dst[name]) {
			perRequest[d.Request]++
			if d.Verified == nil || !*d.Verified || d.Destination != dst[name] || d.ID == "" {
				t.Fatalf("%s: a delivery not verified, of another destination or without an id: %+v", name, d)
			}
			var ev struct{ MessageID string }
			if err := json.Unmarshal(d.Body, &ev); err != nil || !strings.HasPrefix(ev.MessageID, "batch-e2e-") {
				t.Fatalf("%s: delivered body %s is not one of the events", name, d.Body)
			}
			received[ev.MessageID] = true
			if (name == "batched") != strings.HasPrefix(d.Batch, webhook.BatchIDPrefix) {
				t.Fatalf("%s: a delivery of batch %q", name, d.Batch)
			}
		}
		if len(received) != events {
			t.Errorf("%s received %d distinct events, want %d", name, len(received), events)
		}
		if most := slices.Max(slices.Collect(maps.Values(perRequest))); name == "batched" && most > 10 || name == "single" && most != 1 {
			t.Errorf("%s: a request carried %d events", name, most)
		}
		requests[name] = len(perRequest)
	}
	t.Logf("requests to the destination per %d events: batchSize absent (1): %d, batchSize 10: %d", events, requests["single"], requests["batched"])
	if requests["single"] < events {
		t.Errorf("the destination without a batch size got %d requests for %d events; want one per event", requests["single"], events)
	}
	if n := requests["batched"]; n < events/10 || n > events/10*3/2 {
		t.Errorf("the batch-10 destination got %d requests for %d events; want 100 to 150", n, events)
	}
}
