package devserver

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/phiguard/phiguard/shared/stack"
	"github.com/phiguard/phiguard/shared/webhook"
)

// Through the whole local stack (hashing function, SNS, the delivery queue, the delivery
// engine): next to a destination whose address refuses connections and one that answers a
// permanent 400, a healthy destination gets every copy; the refused copies are re-scheduled on
// the delivery queue, the 400's are dead-lettered at once, and once that receiver is fixed the
// owner's replay (the REST route) delivers them.
func TestADeadDestinationDoesNotHoldUpAHealthyOneEndToEnd(t *testing.T) {
	var healthy, refusing atomic.Int32
	var fixed atomic.Bool
	var mu sync.Mutex
	seen := map[string]bool{} // dedup ids the fixed receiver accepted
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		healthy.Add(1)
	}))
	t.Cleanup(ok.Close)
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if !fixed.Load() {
			refusing.Add(1)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		seen[r.Header.Get(webhook.HeaderID)] = true
		mu.Unlock()
	}))
	t.Cleanup(bad.Close)
	gone := httptest.NewUnstartedServer(nil)
	deadAddr := gone.Listener.Addr().String()
	gone.Listener.Close() // nothing listens: connections are refused

	s := startTest(t, Config{ExtraWebhookTargets: []netip.AddrPort{
		netip.MustParseAddrPort(ok.Listener.Addr().String()), netip.MustParseAddrPort(bad.Listener.Addr().String()), netip.MustParseAddrPort(deadAddr),
	}})
	ctx := context.Background()
	ws, err := s.CreateSampleWorkspace(ctx)
	if err != nil {
		t.Fatal(err)
	}
	code, src, _ := apiCall(t, s, "POST", "/workspaces/"+ws.ID+"/sources", ws.OwnerToken, `{"name":"web"}`)
	if code != 201 {
		t.Fatalf("create source: %d %v", code, src)
	}
	dst := map[string]string{}
	for name, url := range map[string]string{"healthy": ok.URL + "/hook", "refusing": bad.URL + "/hook", "dead": "http://" + deadAddr + "/hook"} {
		code, d, _ := apiCall(t, s, "POST", "/workspaces/"+ws.ID+"/destinations", ws.OwnerToken,
			`{"sourceId":"`+src["id"].(string)+`","name":"`+name+`","type":"webhook","settings":{"url":"`+url+`"}}`)
		if code != 201 {
			t.Fatalf("create destination %s: %d %v", name, code, d)
		}
		dst[name] = d["id"].(string)
	}
	const events = 20
	for i := range events {
		_, err = s.Clients.SQS.SendMessage(ctx, &sqs.SendMessageInput{
			QueueUrl:    aws.String(s.Resources.IngestQueueURL),
			MessageBody: aws.String(fmt.Sprintf(`{"type":"track","event":"Checked In","messageId":"iso-%d","userId":"u-1"}`, i)),
			MessageAttributes: map[string]sqstypes.MessageAttributeValue{
				stack.AttrWorkspace: {DataType: aws.String("String"), StringValue: aws.String(ws.ID)},
				stack.AttrSource:    {DataType: aws.String("String"), StringValue: aws.String(src["id"].(string))},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	deadLetters := func() map[string]any {
		t.Helper()
		code, c, _ := apiCall(t, s, "GET", "/workspaces/"+ws.ID+"/destinations/"+dst["refusing"]+"/dead-letters", ws.OwnerToken, "")
		if code != 200 {
			t.Fatalf("count dead letters: %d %v", code, c)
		}
		return c
	}
	waitFor(t, "the healthy destination's 20 copies and the refusing one's 20 dead letters", 60*time.Second, func() bool {
		return healthy.Load() >= events && deadLetters()["copies"] == float64(events)
	})
	if n := refusing.Load(); n != events {
		t.Errorf("the refusing destination got %d requests; want one per copy, then the dead-letter queue", n)
	}
	// The dead destination's copies wait on the delivery queue, delayed, not in the DLQ.
	code, c, _ := apiCall(t, s, "GET", "/workspaces/"+ws.ID+"/destinations/"+dst["dead"]+"/dead-letters", ws.OwnerToken, "")
	if code != 200 || c["copies"] != float64(0) {
		t.Errorf("the dead destination's dead letters: %d %v; want none yet (its copies are retried)", code, c)
	}
	out, err := s.Clients.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(s.Resources.DestinationQueueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed}})
	if err != nil {
		t.Fatal(err)
	}
	if out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed)] == "0" {
		t.Error("no delayed message on the delivery queue; want the dead destination's copies re-scheduled")
	}

	fixed.Store(true)
	code, r, _ := apiCall(t, s, "POST", "/workspaces/"+ws.ID+"/destinations/"+dst["refusing"]+"/dead-letters/replay", ws.OwnerToken, "")
	if code != 200 || r["copies"] != float64(events) {
		t.Fatalf("replay: %d %v; want the %d copies moved", code, r, events)
	}
	waitFor(t, "the replayed copies at the fixed receiver", 60*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == events
	})
}
