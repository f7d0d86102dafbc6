package awsdest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/phiguard/phiguard/shared/pack"
)

// TestEventName is the event name of a test record.
const TestEventName = "phiguard destination test"

// Record returns what a destination receives for copy c: c's event with the delivery metadata
// member in front (see the package documentation). It copies c.Event once and never decodes it.
func Record(c pack.Copy) []byte {
	return withDelivery(c.Event, meta{DedupID: c.DedupID})
}

type meta struct {
	DedupID string `json:"dedupId"`
	Test    bool   `json:"test,omitempty"`
}

func withDelivery(event []byte, d meta) []byte {
	m, _ := json.Marshal(d) // a struct of a string and a bool always marshals
	body := bytes.TrimLeft(event[1:], " \t\r\n")
	out := make([]byte, 0, len(event)+len(m)+16)
	out = append(out, `{"_delivery":`...)
	out = append(out, m...)
	if len(body) > 0 && body[0] != '}' {
		out = append(out, ',')
	}
	return append(out, body...)
}

// TestRecord returns a test record written at now: a track event named TestEventName that
// says what it is, marked "_delivery":{"test":true}, with a dedup id of its own; and that id.
func TestRecord(now time.Time) ([]byte, string) {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error
	id := "test-" + now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
	event, _ := json.Marshal(map[string]any{
		"type": "track", "event": TestEventName, "messageId": id, "timestamp": now.UTC().Format(time.RFC3339),
		"properties": map[string]string{"note": "A test record written by phiguard's destination test. It holds no event data; delete it or ignore it."},
	})
	return withDelivery(event, meta{DedupID: id, Test: true}), id
}
