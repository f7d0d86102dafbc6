package pack

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	in := []Copy{{DedupID: "a1", Event: json.RawMessage(`{"k":1}`)}, {DedupID: "b2", Event: json.RawMessage(`{"k":"x"}`), Attempts: 3}}
	b, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	size := 0
	for _, c := range in {
		size += Size(c)
	}
	if overhead+size < len(b) {
		t.Fatalf("Size underestimates: %d + %d < %d", overhead, size, len(b))
	}
	out, err := FromMessage(b, Format, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[1].DedupID != "b2" || out[1].Attempts != 3 || string(out[0].Event) != `{"k":1}` {
		t.Fatalf("round trip: %+v", out)
	}
}

func TestLegacySingleCopy(t *testing.T) {
	out, err := FromMessage([]byte(`{"event":"x"}`), "", "d1")
	if err != nil || len(out) != 1 || out[0].DedupID != "d1" {
		t.Fatalf("legacy: %+v %v", out, err)
	}
	if _, err := FromMessage([]byte(`{}`), "", ""); err == nil {
		t.Fatal("legacy message without dedup id accepted")
	}
}

func TestDecodeRefuses(t *testing.T) {
	for _, b := range []string{
		``, `[]`, `{"format":"pack/2","copies":[{"dedupId":"a","event":{}}]}`,
		`{"format":"pack/1","copies":[]}`, `{"format":"pack/1","copies":[{"event":{}}]}`,
		`{"format":"pack/1","copies":[{"dedupId":"a","event":"s"}]}`,
		`{"format":"pack/1","copies":[{"dedupId":"a","event":{}}],"extra":1}`,
	} {
		if _, err := Decode([]byte(b)); err == nil {
			t.Errorf("Decode(%s) accepted", b)
		}
	}
	if _, err := FromMessage([]byte(`{}`), "pack/9", ""); err == nil || !strings.Contains(err.Error(), "unknown format") {
		t.Fatalf("unknown format: %v", err)
	}
}

func TestFits(t *testing.T) {
	if !Fits(0) || Fits(MaxBodyBytes) {
		t.Fatal("Fits bounds")
	}
}
