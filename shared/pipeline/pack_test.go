package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/phiguard/phiguard/shared/fieldcrypt"
	"github.com/phiguard/phiguard/shared/pack"
	"github.com/phiguard/phiguard/shared/pipeline"
)

// The copies of one invocation for one destination travel in one SNS message (and so one SQS
// message downstream): a pack with the routing attributes and no dedup id attribute, holding
// every copy with its own dedup id.
func TestPacksHoldAnInvocationsCopiesOnePerDestination(t *testing.T) {
	e := newEnv(t)
	a := e.destination(destOpts{enabled: true, hashing: full, alg: fieldcrypt.HPKEP256, withHMAC: true})
	b := e.destination(destOpts{enabled: true, hashing: full, alg: fieldcrypt.HPKEXWing})
	var msgs []msg
	var want []string
	for i := range 24 {
		msgs = append(msgs, e.msg(identify("m-"+itoa(i))))
		want = append(want, "m-"+itoa(i))
	}
	msgs = append(msgs, e.msg(`{"batch":[`+track("m-24")+`,`+track("m-25")+`]}`))
	want = append(want, "m-24", "m-25")
	slices.Sort(want)
	resp, err := e.handler(nil).Handle(e.ctx, e.sqsEvent(msgs...))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("resp %v err %v", resp, err)
	}
	for _, d := range []*dest{a, b} {
		raw := e.drain(d.queue)
		if len(raw) != 1 {
			t.Fatalf("destination %s received %d messages, want 1 pack", d.d.ID, len(raw))
		}
		m := raw[0]
		wantAttrs := map[string]string{
			pipeline.AttrWorkspace: e.ws.ID, pipeline.AttrSource: e.src.ID, pipeline.AttrDestination: d.d.ID,
			pipeline.AttrDestinationType: "webhook", pipeline.AttrFormat: pack.Format,
		}
		if !maps.Equal(m.attrs, wantAttrs) {
			t.Fatalf("pack attributes %v, want %v", m.attrs, wantAttrs)
		}
		copies, err := pack.Decode([]byte(m.body))
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, c := range copies {
			var ev struct {
				MessageID string `json:"messageId"`
			}
			if err := json.Unmarshal(c.Event, &ev); err != nil {
				t.Fatal(err)
			}
			if c.DedupID != pipeline.DedupID(ev.MessageID, d.d.ID) || c.Attempts != 0 {
				t.Errorf("copy of %s: dedup id %s attempts %d, want %s and 0", ev.MessageID, c.DedupID, c.Attempts, pipeline.DedupID(ev.MessageID, d.d.ID))
			}
			ids = append(ids, ev.MessageID)
		}
		slices.Sort(ids)
		if !reflect.DeepEqual(ids, want) {
			t.Fatalf("pack for %s holds %v, want every event once: %v", d.d.ID, ids, want)
		}
	}
}

// failingSender fails every SendMessage: the rejected-events queue is unavailable.
type failingSender struct{}

func (failingSender) SendMessage(context.Context, *sqs.SendMessageInput, ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	return nil, errors.New("rejected-events queue unavailable")
}

// A pack that SNS will not take fails every message with a copy in it, and only those; a
// message that fails while the packs fill (here: its invalid event cannot be parked) leaves
// none of its copies in them, since SQS redelivers it whole; redelivery republishes the same
// dedup ids.
func TestPacksFailAndRetryWholeAndLeaveOutFailedMessages(t *testing.T) {
	e := newEnv(t)
	a := e.destination(destOpts{enabled: true, hashing: full, alg: fieldcrypt.HPKEP256, withHMAC: true})
	b := e.destination(destOpts{enabled: true, hashing: full, alg: fieldcrypt.HPKEP256})
	e.rejectSQS = failingSender{}
	ev := e.sqsEvent(
		e.msg(identify("m-1")),
		e.msg(`{"batch":[`+track("m-2")+`,{"type":"bogus","messageId":"m-bad","userId":"u"}]}`),
		e.msg(identify("m-3")),
	)
	sns := &flakySNS{real: e.clients.SNS, failDedup: map[string]bool{pipeline.DedupID("m-3", a.d.ID): true}}
	resp, err := e.handler(sns).Handle(e.ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{ev.Records[0].MessageId, ev.Records[1].MessageId, ev.Records[2].MessageId}
	slices.Sort(want)
	if got := failures(resp); !reflect.DeepEqual(got, want) {
		t.Fatalf("failures %v, want %v: a's pack (m-1, m-3) failed, and m-2's message could not park its invalid event", got, want)
	}
	if got := mapsKeys(e.copies(a)); len(got) != 0 {
		t.Fatalf("destination a received %v from a pack SNS refused", got)
	}
	bc := e.copies(b)
	if got := mapsKeys(bc); !reflect.DeepEqual(got, []string{"m-1", "m-3"}) {
		t.Fatalf("destination b received %v, want m-1 and m-3 (m-2's message failed before its pack was published)", got)
	}

	e.rejectSQS = nil
	sns.mu.Lock()
	sns.failDedup = nil
	sns.mu.Unlock()
	resp, err = e.handler(sns).Handle(e.ctx, ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("redelivery: %v %v", resp, err)
	}
	ac := e.copies(a)
	if got := mapsKeys(ac); !reflect.DeepEqual(got, []string{"m-1", "m-2", "m-3"}) {
		t.Fatalf("after redelivery a has %v", got)
	}
	re := e.copies(b)
	if re["m-1"].attrs[pipeline.AttrDedupID] != bc["m-1"].attrs[pipeline.AttrDedupID] || !re["m-1"].packed {
		t.Error("the redelivered copy has another dedup id, or did not come in a pack")
	}
}
