package pack

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	in := []Copy{{DedupID: "a1", Event: json.RawMessage(`{"k":1}`)}, {DedupID: "b2", Event: json.RawMessage(`{"k":"x"}`), Attempts: 3}}
	b, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	// The body is the documented encoding: base64 of gzip of the pack's JSON.
	z, err := base64.StdEncoding.DecodeString(string(b))
	if err != nil {
		t.Fatalf("body is not base64: %v", err)
	}
	r, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		t.Fatalf("body is not gzip: %v", err)
	}
	var raw bytes.Buffer
	if _, err := raw.ReadFrom(r); err != nil {
		t.Fatal(err)
	}
	if want := `{"format":"pack/2","copies":[{"dedupId":"a1","event":{"k":1}},{"dedupId":"b2","event":{"k":"x"},"attempts":3}]}`; raw.String() != want {
		t.Fatalf("pack JSON:\n got %s\nwant %s", raw.String(), want)
	}
	size := 0
	for _, c := range in {
		size += Size(c)
	}
	if overhead+size < raw.Len() {
		t.Fatalf("Size underestimates: %d + %d < %d", overhead, size, raw.Len())
	}
	out, err := FromMessage(b, Format, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[1].DedupID != "b2" || out[1].Attempts != 3 || string(out[0].Event) != `{"k":1}` {
		t.Fatalf("round trip: %+v", out)
	}
}

// Copies of one invocation share their tokens' encapsulated key and most clear fields: a pack
// of them is a fraction of their size.
func TestAPackIsSmallerThanItsCopies(t *testing.T) {
	var in []Copy
	size := 0
	for i := range 50 {
		ev := `{"type":"track","event":"Order Completed","context":{"ip":"hpke2.AgEea2V5XzAxSjBaSzdUM1Y4RTlYMlE0UjZTNVcxWTBBAEEE3Zsx-9hrbqMNA_KfHptumLOa1so0BOhXK0B-zYPE-NOIK5LUOQlpZ_j4-Agtmk_husqrkQF167oW1mN9jkJEz` +
			base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat(string(rune('a'+i%26)), 40))) + `"},"messageId":"msg-` + strings.Repeat("0", i%7) + `"}`
		c := Copy{DedupID: strings.Repeat("f", 64), Event: json.RawMessage(ev)}
		in, size = append(in, c), size+Size(c)
	}
	b, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(b)*2 > size {
		t.Fatalf("a pack of %d bytes of copies is %d bytes", size, len(b))
	}
}

// The worst case Fits admits: copies of random text, which neither gzip nor anything else
// shrinks much, still encode within MaxBodyBytes.
func TestIncompressibleCopiesFit(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&'()*+,-./:;<=>?@[]^_`{|}~ "
	var in []Copy
	size := 0
	for {
		text := make([]byte, 1+r.IntN(20000))
		for i := range text {
			text[i] = alphabet[r.IntN(len(alphabet))]
		}
		c := Copy{DedupID: "d", Event: json.RawMessage(`{"v":"` + string(text) + `"}`)}
		if !Fits(size + Size(c)) {
			// Fill to the last byte Fits admits.
			c.Event = c.Event[:len(c.Event)-(overhead+size+Size(c)-MaxCopiesBytes)-2]
			c.Event = append(c.Event[:len(c.Event):len(c.Event)], `"}`...)
			in, size = append(in, c), size+Size(c)
			break
		}
		in, size = append(in, c), size+Size(c)
	}
	if !Fits(size) || Fits(size+1) {
		t.Fatalf("the copies (%d bytes) are not at the bound", size)
	}
	b, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > MaxBodyBytes {
		t.Fatalf("%d bytes of copies encode to %d, over %d", size, len(b), MaxBodyBytes)
	}
	t.Logf("%d bytes of copies encode to %d (limit %d)", size, len(b), MaxBodyBytes)
	if out, err := Decode(b); err != nil || len(out) != len(in) {
		t.Fatalf("decode: %d copies, %v", len(out), err)
	}
}

func TestEarlierFormats(t *testing.T) {
	out, err := FromMessage([]byte(`{"event":"x"}`), "", "d1")
	if err != nil || len(out) != 1 || out[0].DedupID != "d1" {
		t.Fatalf("single copy: %+v %v", out, err)
	}
	if _, err := FromMessage([]byte(`{}`), "", ""); err == nil {
		t.Fatal("single copy without dedup id accepted")
	}
	out, err = FromMessage([]byte(`{"format":"pack/1","copies":[{"dedupId":"a","event":{"k":1},"attempts":2}]}`), "pack/1", "")
	if err != nil || len(out) != 1 || out[0].DedupID != "a" || out[0].Attempts != 2 || string(out[0].Event) != `{"k":1}` {
		t.Fatalf("pack/1: %+v %v", out, err)
	}
}

func gz(s string) []byte {
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write([]byte(s))
	w.Close()
	return []byte(base64.StdEncoding.EncodeToString(z.Bytes()))
}

func TestDecodeRefuses(t *testing.T) {
	bodies := [][]byte{
		nil, []byte(`{"format":"pack/2","copies":[{"dedupId":"a","event":{}}]}`), // not encoded
		[]byte("not base64!"), []byte(base64.StdEncoding.EncodeToString([]byte("not gzip"))),
		// a bomb: inflates beyond any pack Encode writes
		gz(`{"format":"pack/2","copies":[{"dedupId":"a","event":{"v":"` + strings.Repeat("a", maxDecodedBytes) + `"}}]}`),
	}
	for _, j := range []string{
		``, `[]`, `{"format":"pack/1","copies":[{"dedupId":"a","event":{}}]}`,
		`{"format":"pack/2","copies":[]}`, `{"format":"pack/2","copies":[{"event":{}}]}`,
		`{"format":"pack/2","copies":[{"dedupId":"a","event":"s"}]}`,
		`{"format":"pack/2","copies":[{"dedupId":"a","event":{}}],"extra":1}`,
	} {
		bodies = append(bodies, gz(j))
	}
	for _, b := range bodies {
		if _, err := Decode(b); err == nil {
			t.Errorf("Decode(%.80s) accepted", b)
		}
	}
	if _, err := FromMessage(gz(`{"format":"pack/2","copies":[{"dedupId":"a","event":{}}]}`), "pack/1", ""); err == nil {
		t.Error("a pack/2 body accepted as pack/1")
	}
	if _, err := FromMessage([]byte(`{}`), "pack/9", ""); err == nil || !strings.Contains(err.Error(), "unknown format") {
		t.Fatalf("unknown format: %v", err)
	}
}

func TestFits(t *testing.T) {
	if !Fits(0) || Fits(MaxCopiesBytes) || MaxCopiesBytes >= MaxBodyBytes {
		t.Fatal("Fits bounds")
	}
}
