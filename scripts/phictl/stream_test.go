package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestEachObjectSplitsLikeEncodingJSON: the stream splitter finds the same values as
// encoding/json's Decoder, in any chunking, and refuses what it refuses.
func TestEachObjectSplitsLikeEncodingJSON(t *testing.T) {
	good := []string{
		`{"a":1}`,
		"{\"a\":1}\n{\"b\":[1,2,{\"c\":null}]}\n",
		"  {\n  \"pretty\": {\"x\": \"y\"},\n  \"n\": -1.5e+3\n}\n\n{\"s\":\"esc \\\" \\\\ \\u00e9 \\n\"}",
		`{"a":true}{"b":false}`,
		`{"k":"` + strings.Repeat("x", 300<<10) + `"}` + "\n{}",
	}
	for _, in := range good {
		var want []string
		dec := json.NewDecoder(strings.NewReader(in))
		for {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				break
			}
			want = append(want, string(raw))
		}
		for _, r := range []io.Reader{strings.NewReader(in), iotest.OneByteReader(strings.NewReader(in)), iotest.HalfReader(strings.NewReader(in))} {
			var got []string
			if err := eachObject(r, func(n int, raw []byte) error { got = append(got, string(raw)); return nil }); err != nil {
				t.Fatalf("%.40q: %v", in, err)
			}
			if len(got) != len(want) {
				t.Fatalf("%.40q: %d values, want %d", in, len(got), len(want))
			}
			for i := range got {
				if !json.Valid([]byte(got[i])) || !bytes.Equal(compactJSON(got[i]), compactJSON(want[i])) {
					t.Fatalf("%.40q: value %d differs", in, i)
				}
			}
		}
	}
	for _, c := range []struct{ in, says string }{
		{"", "empty"},
		{"   \n", "empty"},
		{`{"a":`, "not JSON"},
		{`{"a":1,}`, "not JSON"},
		{`{"a":01}`, "not JSON"},
		{`{"a":"\x01"}`, "not JSON"},
		{`{"a":"\q"}`, "not JSON"},
		{`{"a":tru}`, "not JSON"},
		{`[{"a":1}]`, "not a JSON object"},
		{`email=a@example.com`, "not JSON"},
		{"{\"a\":1}\n42", "not a JSON object"},
		{strings.Repeat("[", 100), "not a JSON object"},
		{`{"a":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, "not JSON"},
	} {
		err := eachObject(strings.NewReader(c.in), func(int, []byte) error { return nil })
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%.30q: error %v, want %q", c.in, err, c.says)
		}
	}
	stop := errors.New("stop")
	if err := eachObject(strings.NewReader(`{}{}`), func(int, []byte) error { return stop }); err != stop {
		t.Fatalf("the callback's error is not returned: %v", err)
	}
}

func compactJSON(s string) []byte {
	var b bytes.Buffer
	json.Compact(&b, []byte(s))
	return b.Bytes()
}

// TestDecryptRewritesOnlyTokensAndKeepsEverythingElse: pretty-printed input comes out on one line,
// a nested "_phi" is ordinary data, keys match case-insensitively, and unprotected bytes are kept.
func TestDecryptRewritesOnlyTokensAndKeepsEverythingElse(t *testing.T) {
	dir := t.TempDir()
	priv, pub := keyFiles(t, dir, "k")
	in := `{"type":"track","properties":{"Email":"a@example.com","_phi":{"email":"nested"},"n":1.50,"u":"é\u00e9"},"traits":{"e\u006dail":"b@example.com"}}`
	enc := phictl(t, in, "encrypt", "--public-key", pub, "--key-id", "k1", "--field", "properties.email", "--field", "traits.email").ok(t)
	var pretty bytes.Buffer
	json.Indent(&pretty, []byte(enc.stdout), "", "  ")
	for _, input := range []string{enc.stdout, pretty.String() + "\n" + pretty.String()} {
		out := phictl(t, input, "decrypt", "--private-key", priv).ok(t)
		lines := strings.Split(strings.TrimSuffix(out.stdout, "\n"), "\n")
		for _, line := range lines {
			if !json.Valid([]byte(line)) {
				t.Fatalf("not JSON: %s", line)
			}
			var got map[string]any
			json.Unmarshal([]byte(line), &got)
			delete(got, "_phi")
			var want map[string]any
			json.Unmarshal([]byte(in), &want)
			if g, w := compactJSON(mustJSON(got)), compactJSON(mustJSON(want)); !bytes.Equal(g, w) {
				t.Fatalf("decrypted %s\nwant %s", g, w)
			}
		}
	}
	if out := phictl(t, enc.stdout, "decrypt", "--private-key", priv).ok(t); !strings.Contains(out.stdout, `"n":1.50,"u":"é\u00e9"`) {
		t.Fatalf("untouched bytes changed: %s", out.stdout)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
