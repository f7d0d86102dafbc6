package eventcorpus

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestEventsAreSeededSegmentEventsOfHalfToFourKilobytes(t *testing.T) {
	a, b := Events(60), Events(60)
	types := map[string]int{}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Fatalf("event %d differs between two calls: the corpus must be seeded", i)
		}
		if n := len(a[i]); n < 500 || n > 4096 {
			t.Fatalf("event %d is %d bytes, want 0.5–4 KB", i, n)
		}
		var ev struct {
			Type      string `json:"type"`
			MessageID string `json:"messageId"`
		}
		if err := json.Unmarshal(a[i], &ev); err != nil || ev.MessageID == "" {
			t.Fatalf("event %d: %v, messageId %q", i, err, ev.MessageID)
		}
		types[ev.Type]++
	}
	if types["identify"] != 20 || types["track"] != 20 || types["page"] != 20 {
		t.Fatalf("types %v, want identify, track and page in equal parts", types)
	}
}
