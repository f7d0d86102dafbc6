package pipeline

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/phiguard/phiguard/shared/phi"
)

func TestCheckEventAcceptsSegmentCallsAndRejectsTheRest(t *testing.T) {
	for _, tt := range []struct {
		name, event, reason string
	}{
		{"a track call with an event name is accepted", `{"type":"track","messageId":"m","userId":"u","event":"Signed Up"}`, ""},
		{"an identify call with only an anonymousId is accepted", `{"type":"identify","messageId":"m","anonymousId":"a","traits":{"email":"x"}}`, ""},
		{"a page call is accepted", `{"type":"page","messageId":"m","userId":"u","name":"Home","properties":{}}`, ""},
		{"a screen call is accepted", `{"type":"screen","messageId":"m","userId":"u"}`, ""},
		{"a group call with a numeric groupId is accepted", `{"type":"group","messageId":"m","userId":"u","groupId":42}`, ""},
		{"an alias call with previousId and userId is accepted", `{"type":"alias","messageId":"m","userId":"u","previousId":"p"}`, ""},
		{"escaped keys are read exactly", `{"typ\u0065":"track","messageId":"m","userId":"u","event":"E"}`, ""},
		{"a missing type is rejected", `{"messageId":"m","userId":"u"}`, ReasonInvalidEvent},
		{"an unknown type is rejected", `{"type":"Track","messageId":"m","userId":"u","event":"E"}`, ReasonInvalidEvent},
		{"a differently cased key does not count", `{"Type":"track","messageId":"m","userId":"u","event":"E"}`, ReasonInvalidEvent},
		{"a missing messageId is rejected", `{"type":"identify","userId":"u"}`, ReasonInvalidEvent},
		{"a blank messageId is rejected", `{"type":"identify","messageId":"  ","userId":"u"}`, ReasonInvalidEvent},
		{"a numeric messageId is rejected", `{"type":"identify","messageId":7,"userId":"u"}`, ReasonInvalidEvent},
		{"an overlong messageId is rejected", `{"type":"identify","messageId":"` + strings.Repeat("m", 257) + `","userId":"u"}`, ReasonInvalidEvent},
		{"an event without userId or anonymousId is rejected", `{"type":"identify","messageId":"m","traits":{}}`, ReasonInvalidEvent},
		{"a track call without an event name is rejected", `{"type":"track","messageId":"m","userId":"u"}`, ReasonInvalidEvent},
		{"a group call without groupId is rejected", `{"type":"group","messageId":"m","userId":"u"}`, ReasonInvalidEvent},
		{"an alias call without previousId is rejected", `{"type":"alias","messageId":"m","userId":"u"}`, ReasonInvalidEvent},
		{"traits that are not an object are rejected", `{"type":"identify","messageId":"m","userId":"u","traits":"a@b.c"}`, ReasonInvalidEvent},
		{"properties that are an array are rejected", `{"type":"track","messageId":"m","userId":"u","event":"E","properties":[1]}`, ReasonInvalidEvent},
		{"an event that is not an object is rejected", `["type","track"]`, ReasonInvalidEvent},
		{"truncated JSON is rejected", `{"type":"track","messageId":"m"`, ReasonInvalidEvent},
		{"nesting deeper than 64 levels is rejected", `{"type":"track","messageId":"m","userId":"u","event":"E","properties":{"a":` + strings.Repeat("[", 80) + strings.Repeat("]", 80) + `}}`, ReasonInvalidEvent},
		{"an event over 32 KiB is rejected", `{"type":"track","messageId":"m","userId":"u","event":"E","properties":{"a":"` + strings.Repeat("x", MaxEventBytes) + `"}}`, ReasonOversize},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e, _, r := checkEvent([]byte(tt.event), nil)
			switch {
			case tt.reason == "" && r != nil:
				t.Fatalf("rejected: %v", r)
			case tt.reason == "" && e.messageID != "m":
				t.Fatalf("messageID = %q", e.messageID)
			case tt.reason != "" && (r == nil || r.reason != tt.reason):
				t.Fatalf("got %v, want reason %s", r, tt.reason)
			}
		})
	}
}

func TestRejectionDetailsNeverQuoteEventValues(t *testing.T) {
	secret := "jane.doe@example.com"
	for _, ev := range []string{
		`{"type":"` + secret + `","messageId":"m","userId":"u"}`,
		`{"type":"identify","messageId":"m","userId":"u","traits":"` + secret + `"}`,
		`{"type":"identify","messageId":"m","userId":"u","traits":{"email":"` + secret + `"}`,
		`{"type":"identify","messageId":"m","userId":"u","traits":{"email":"` + secret + `"}} trailing`,
	} {
		_, _, r := checkEvent([]byte(ev), nil)
		if r == nil {
			t.Fatalf("event accepted: %s", ev)
		}
		if strings.Contains(r.Error(), "jane") {
			t.Errorf("rejection %q quotes a value", r.Error())
		}
	}
}

func TestSplitEventsReadsSingleEventsAndBatches(t *testing.T) {
	for _, tt := range []struct {
		name, body string
		events     int
		batch      bool
		reason     string
	}{
		{"a single event is one event", `{"type":"track"}`, 1, false, ""},
		{"a batch yields its elements", ` {"batch":[{"a":1}, {"b":[1,{"c":"]"}]} ,{"d":"}"}], "context":{}}`, 3, true, ""},
		{"an empty batch is rejected", `{"batch":[]}`, 0, true, ReasonEmptyBatch},
		{"a batch that is not an array is rejected", `{"batch":{"type":"track"}}`, 0, true, ReasonInvalidEvent},
		{"text that is not JSON is rejected", `hello`, 0, false, ReasonNotJSON},
		{"a JSON array body is rejected", `[{"type":"track"}]`, 0, false, ReasonNotJSON},
		{"an empty body is rejected", ``, 0, false, ReasonNotJSON},
	} {
		t.Run(tt.name, func(t *testing.T) {
			evs, batch, r := splitEvents([]byte(tt.body))
			if tt.reason != "" {
				if r == nil || r.reason != tt.reason {
					t.Fatalf("got %v, want %s", r, tt.reason)
				}
				return
			}
			if r != nil || len(evs) != tt.events || batch != tt.batch {
				t.Fatalf("got %d events (batch %v), %v; want %d", len(evs), batch, r, tt.events)
			}
		})
	}
}

func TestRouteRequiresWellFormedWorkspaceAndSourceAttributes(t *testing.T) {
	ws, src := phi.NewID(phi.PrefixWorkspace), phi.NewID(phi.PrefixSource)
	msg := func(attrs map[string]string) *events.SQSMessage {
		m := &events.SQSMessage{MessageAttributes: map[string]events.SQSMessageAttribute{}}
		for k, v := range attrs {
			v := v
			m.MessageAttributes[k] = events.SQSMessageAttribute{StringValue: &v, DataType: "String"}
		}
		return m
	}
	if gw, gs, r := route(msg(map[string]string{AttrWorkspace: ws, AttrSource: src})); r != nil || gw != ws || gs != src {
		t.Fatalf("route = %s %s %v", gw, gs, r)
	}
	for name, attrs := range map[string]map[string]string{
		"no attributes":          {},
		"no source":              {AttrWorkspace: ws},
		"malformed workspace":    {AttrWorkspace: "acme", AttrSource: src},
		"source id as workspace": {AttrWorkspace: src, AttrSource: src},
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, r := route(msg(attrs)); r == nil || r.reason != ReasonMissingAttribute {
				t.Fatalf("got %v", r)
			}
		})
	}
}

func TestDedupIDIsDeterministicAndSeparatesItsInputs(t *testing.T) {
	a := DedupID("m-1", "dst_1")
	if a != DedupID("m-1", "dst_1") || len(a) != 32 {
		t.Fatalf("DedupID not deterministic or not 32 hex digits: %s", a)
	}
	for _, other := range []string{DedupID("m-1", "dst_2"), DedupID("m-2", "dst_1"), DedupID("m-1d", "st_1")} {
		if other == a {
			t.Fatal("different inputs share a dedup id")
		}
	}
}

func TestParseCacheTTL(t *testing.T) {
	for in, want := range map[string]time.Duration{"": DefaultCacheTTL, "10s": 10 * time.Second, "2m": 2 * time.Minute} {
		if got, err := ParseCacheTTL(in); err != nil || got != want {
			t.Errorf("ParseCacheTTL(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"0s", "500ms", "1h", "thirty", "-5s"} {
		if _, err := ParseCacheTTL(in); err == nil {
			t.Errorf("ParseCacheTTL(%q) accepted", in)
		}
	}
}
