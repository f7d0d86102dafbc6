package transform

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// hexSealer makes tokens "E<hex of plaintext>" so tests can see exactly
// which plaintext was sealed. Test-only: it is not encryption.
type hexSealer struct{}

func (hexSealer) Seal(dst, pt []byte) ([]byte, error) {
	return hex.AppendEncode(append(dst, 'E'), pt), nil
}

func E(s string) string { return "E" + hex.EncodeToString([]byte(s)) }

func mustCompile(t testing.TB, spec Spec) *Plan {
	t.Helper()
	p, err := Compile(spec)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return p
}

func sha(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

func mac(key, s string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil))
}

var hexProt = Protectors{Sealer: hexSealer{}, Algorithm: "hpke-p256", KeyID: "k1", HMAC: fixedKey{id: "h1", key: []byte("hk")}}

// stripManifest checks that out ends with a manifest and returns the event
// before it (with the separating comma removed) and the manifest text.
func splitManifest(t *testing.T, out string) (body, manifest string) {
	t.Helper()
	i := strings.LastIndex(out, `"_phi":{"v":1,`)
	if i < 0 || !strings.HasSuffix(out, "}") {
		t.Fatalf("output has no trailing manifest: %s", out)
	}
	body, manifest = out[:i], out[i:len(out)-1]
	body = strings.TrimSuffix(body, ",") + "}"
	return body, manifest
}

func TestApplyRewritesOnlySelectedValues(t *testing.T) {
	tests := []struct {
		name   string
		fields []Field
		drop   []string
		in     string
		want   string // event without the manifest
	}{
		{
			name:   "a string at a top-level traits path is encrypted and everything else is copied byte for byte",
			fields: []Field{{"traits.email", Encrypt}},
			in:     `{"type":"identify", "traits":{"email":"jane@x.io","plan":"pro"},"userId":"u1"}`,
			want:   `{"type":"identify", "traits":{"email":"` + E("jane@x.io") + `","plan":"pro"},"userId":"u1"}`,
		},
		{
			name:   "a value in a nested object under properties is hashed after trimming",
			fields: []Field{{"properties.address.zip", SHA256}},
			in:     `{"properties":{"address":{"city":"x","zip":" 90210 "}}}`,
			want:   `{"properties":{"address":{"city":"x","zip":"` + sha("90210") + `"}}}`,
		},
		{
			name:   "context.traits is a different field from traits",
			fields: []Field{{"context.traits.phone", Encrypt}},
			in:     `{"context":{"traits":{"phone":"555"}},"traits":{"phone":"777"}}`,
			want:   `{"context":{"traits":{"phone":"` + E("555") + `"}},"traits":{"phone":"777"}}`,
		},
		{
			name:   "every element of an array of objects is protected",
			fields: []Field{{"properties.products[].name", Encrypt}},
			in:     `{"properties":{"products":[{"name":"a","sku":"1"},{"sku":"2"},{"name":"b"}]}}`,
			want:   `{"properties":{"products":[{"name":"` + E("a") + `","sku":"1"},{"sku":"2"},{"name":"` + E("b") + `"}]}}`,
		},
		{
			name:   "arrays are transparent even when the path does not say []",
			fields: []Field{{"properties.address.zip", Encrypt}},
			in:     `{"properties":{"address":[{"zip":"1"},[{"zip":"2"}]]}}`,
			want:   `{"properties":{"address":[{"zip":"` + E("1") + `"},[{"zip":"` + E("2") + `"}]]}}`,
		},
		{
			name:   "a path ending in [] protects each element on its own, nested arrays included",
			fields: []Field{{"properties.tags[]", Encrypt}},
			in:     `{"properties":{"tags":["a",null,["b"],{"c":1}]}}`,
			want:   `{"properties":{"tags":["` + E("a") + `",null,["` + E("b") + `"],"` + E(`{"c":1}`) + `"]}}`,
		},
		{
			name:   "a path without [] protects a whole array as its compact JSON text",
			fields: []Field{{"properties.tags", Encrypt}},
			in:     `{"properties":{"tags":[ "a", 1 ]}}`,
			want:   `{"properties":{"tags":"` + E(`["a",1]`) + `"}}`,
		},
		{
			name:   "escapes in a string are decoded before sealing",
			fields: []Field{{"traits.name", Encrypt}},
			in:     `{"traits":{"name":"Ren\u00e9e \"Jo\" \ud83d\ude00 \\ \/ \n"}}`,
			want:   `{"traits":{"name":"` + E("Renée \"Jo\" 😀 \\ / \n") + `"}}`,
		},
		{
			name:   "a lone surrogate decodes to U+FFFD like encoding/json",
			fields: []Field{{"traits.name", Encrypt}},
			in:     `{"traits":{"name":"a\ud800b"}}`,
			want:   `{"traits":{"name":"` + E("a\uFFFDb") + `"}}`,
		},
		{
			name:   "raw unicode in values and keys is matched and sealed as UTF-8",
			fields: []Field{{"traits.nöm", Encrypt}},
			in:     `{"traits":{"nöm":"Zoë 日本"}}`,
			want:   `{"traits":{"nöm":"` + E("Zoë 日本") + `"}}`,
		},
		{
			name:   "an escaped key is compared unescaped",
			fields: []Field{{"traits.email", Encrypt}},
			in:     `{"tr\u0061its":{"\u0065mail":"a@b.c"}}`,
			want:   `{"tr\u0061its":{"\u0065mail":"` + E("a@b.c") + `"}}`,
		},
		{
			name:   "an escaped quote in a key neither matches nor confuses the scanner",
			fields: []Field{{"traits.email", Encrypt}},
			in:     `{"traits":{"e\"mail":"x","email\"":"y","email":"z"}}`,
			want:   `{"traits":{"e\"mail":"x","email\"":"y","email":"` + E("z") + `"}}`,
		},
		{
			name:   "numbers and booleans are sealed as their JSON text",
			fields: []Field{{"traits.age", Encrypt}, {"traits.vip", Encrypt}},
			in:     `{"traits":{"age":-4.5e+2,"vip":true}}`,
			want:   `{"traits":{"age":"` + E("-4.5e+2") + `","vip":"` + E("true") + `"}}`,
		},
		{
			name:   "an object is sealed as compact JSON text, string escapes kept",
			fields: []Field{{"traits.address", Encrypt}},
			in:     "{\"traits\":{\"address\":{ \"street\" : \"1 \\\"A\\\" St\",\n\"zip\": 9 }}}",
			want:   `{"traits":{"address":"` + E(`{"street":"1 \"A\" St","zip":9}`) + `"}}`,
		},
		{
			name:   "null stays null",
			fields: []Field{{"traits.email", Encrypt}, {"traits.phone", SHA256}},
			in:     `{"traits":{"email":null,"phone":null}}`,
			want:   `{"traits":{"email":null,"phone":null}}`,
		},
		{
			name:   "every copy of a duplicated key is treated",
			fields: []Field{{"traits.email", Encrypt}},
			in:     `{"traits":{"email":"a"},"traits":{"email":"b","email":"c"}}`,
			want:   `{"traits":{"email":"` + E("a") + `"},"traits":{"email":"` + E("b") + `","email":"` + E("c") + `"}}`,
		},
		{
			name:   "hmac is keyed and taken over the value as sent",
			fields: []Field{{"traits.email", HMAC}},
			in:     `{"traits":{"email":" Jane@X.io"}}`,
			want:   `{"traits":{"email":"` + mac("hk", " Jane@X.io") + `"}}`,
		},
		{
			name:   "a value that matches no path is untouched even if it looks like PHI",
			fields: []Field{{"traits.email", Encrypt}},
			in:     `{"properties":{"email":"a@b.c"},"email":"d@e.f"}`,
			want:   `{"properties":{"email":"a@b.c"},"email":"d@e.f"}`,
		},
		{
			name:   "redacting the first member removes the comma after it",
			fields: []Field{{"traits.a", Redact}},
			in:     `{"traits":{"a":1,"b":2,"c":3}}`,
			want:   `{"traits":{"b":2,"c":3}}`,
		},
		{
			name:   "redacting a middle member removes the comma before it",
			fields: []Field{{"traits.b", Redact}},
			in:     `{"traits":{"a":1,"b":2,"c":3}}`,
			want:   `{"traits":{"a":1,"c":3}}`,
		},
		{
			name:   "redacting the last member removes the comma before it",
			fields: []Field{{"traits.c", Redact}},
			in:     `{"traits":{"a":1,"b":2,"c":3}}`,
			want:   `{"traits":{"a":1,"b":2}}`,
		},
		{
			name:   "redacting every member leaves an empty object",
			fields: []Field{{"traits.a", Redact}, {"traits.b", Redact}, {"traits.c", Redact}},
			in:     `{"traits":{"a":1,"b":{"x":[1,2]},"c":"3"}}`,
			want:   `{"traits":{}}`,
		},
		{
			name:   "redacting the first two of three members with white space keeps valid JSON",
			fields: []Field{{"traits.a", Redact}, {"traits.b", Redact}},
			in:     "{\"traits\":{ \"a\" : 1 ,\n \"b\":2 , \"c\":3 }}",
			want:   "{\"traits\":{  \n   \"c\":3 }}",
		},
		{
			name:   "redacting the only member of the event leaves just the manifest",
			fields: []Field{{"traits.a", Redact}},
			in:     `{"traits":{"a":1}}`,
			want:   `{"traits":{}}`,
		},
		{
			name: "a blocked red field is removed with its whole subtree",
			drop: []string{"traits.ssn"},
			in:   `{"traits":{"name":"x","ssn":{"v":"123-45-6789"}}}`,
			want: `{"traits":{"name":"x"}}`,
		},
		{
			name:   "a top-level _phi from the producer is removed, escaped or not",
			fields: []Field{{"traits.email", Redact}},
			in:     `{"_phi":{"v":1,"fields":[]},"traits":{"email":"x"},"\u005fphi":1}`,
			want:   `{"traits":{}}`,
		},
		{
			name: "a nested _phi is ordinary data",
			in:   `{"properties":{"_phi":1}}`,
			want: `{"properties":{"_phi":1}}`,
		},
		{
			name: "an empty event gets only the manifest",
			in:   `{ }`,
			want: `{ }`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := mustCompile(t, Spec{Fields: tt.fields, Drop: tt.drop})
			out, _, err := Apply(nil, []byte(tt.in), plan, hexProt)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if !json.Valid(out) {
				t.Fatalf("output is not valid JSON: %s", out)
			}
			body, _ := splitManifest(t, string(out))
			if body != tt.want {
				t.Errorf("got  %s\nwant %s", body, tt.want)
			}
		})
	}
}

func TestApplyWritesTheManifest(t *testing.T) {
	plan := mustCompile(t, Spec{
		Fields: []Field{
			{"traits.email", Encrypt}, {"traits.phone", SHA256}, {"traits.ref", HMAC},
			{"context.ip", Redact}, {"traits.missing", Encrypt}, {"properties.tags[]", Encrypt},
		},
		Drop: []string{"traits.ssn"},
	})
	in := `{"context":{"ip":"1.2.3.4"},"traits":{"email":"a","phone":"555 123 4567","ref":"r","ssn":"1"},"properties":{"tags":["short","far too long"]}}`
	prot := Protectors{Sealer: failingSealer{max: 5}, Algorithm: "hpke-p256", KeyID: "k\"1", HMAC: fixedKey{"h1", []byte("k")}}
	out, res, err := Apply(nil, []byte(in), plan, prot)
	if err != nil {
		t.Fatal(err)
	}
	_, manifest := splitManifest(t, string(out))
	want := `"_phi":{"v":1,"fields":[` +
		`{"path":"traits.email","treatment":"encrypt","alg":"hpke-p256","kid":"k\"1"},` +
		`{"path":"traits.phone","treatment":"sha256","alg":"sha256","norm":"e164"},` +
		`{"path":"traits.ref","treatment":"hmac","alg":"hmac-sha256","kid":"h1"},` +
		`{"path":"context.ip","treatment":"redact"},` +
		`{"path":"properties.tags[]","treatment":"encrypt","alg":"hpke-p256","kid":"k\"1"}],` +
		`"dropped":[{"path":"properties.tags[]","reason":"protect-failed"},{"path":"traits.ssn","reason":"blocked"}]}`
	if manifest != want {
		t.Errorf("manifest\n got %s\nwant %s", manifest, want)
	}
	if res.Protected != 4 || res.Redacted != 1 || res.Blocked != 1 || res.Dropped != 1 {
		t.Errorf("result counts = %+v", res)
	}
	if !strings.Contains(string(out), `"tags":["tok.opaque",null]`) {
		t.Errorf("an element that cannot be sealed must become null: %s", out)
	}
	wantEntries := []Entry{
		{"traits.email", Encrypt, Protected, "", 1},
		{"traits.phone", SHA256, Protected, "", 1},
		{"traits.ref", HMAC, Protected, "", 1},
		{"context.ip", Redact, Redacted, "", 1},
		{"properties.tags[]", Encrypt, Protected, "", 1},
		{"properties.tags[]", Encrypt, Dropped, ReasonProtectFailed, 1},
		{"traits.ssn", Drop, Blocked, ReasonBlocked, 1},
	}
	if len(res.Entries) != len(wantEntries) {
		t.Fatalf("entries = %+v", res.Entries)
	}
	for i := range wantEntries {
		if res.Entries[i] != wantEntries[i] {
			t.Errorf("entry %d = %+v, want %+v", i, res.Entries[i], wantEntries[i])
		}
	}
}

func TestApplyFailsClosed(t *testing.T) {
	const in = `{"traits":{"first":1,"email":"secret-mail","ref":"secret-ref","big":"secret-big-value","last":2}}`
	plan := mustCompile(t, Spec{Fields: []Field{{"traits.email", Encrypt}, {"traits.ref", HMAC}, {"traits.big", Encrypt}}})
	tests := []struct {
		name    string
		prot    Protectors
		want    string
		dropped int
		reasons string
	}{
		{
			name:    "without a sealer or HMAC key every such field is removed and counted",
			prot:    Protectors{},
			want:    `{"traits":{"first":1,"last":2}}`,
			dropped: 3,
			reasons: `"dropped":[{"path":"traits.email","reason":"key-unavailable"},{"path":"traits.ref","reason":"key-unavailable"},{"path":"traits.big","reason":"key-unavailable"}]`,
		},
		{
			name:    "a value the sealer refuses is removed, the others are sealed",
			prot:    Protectors{Sealer: failingSealer{max: 11}, HMAC: fixedKey{"h", nil}},
			want:    `{"traits":{"first":1,"email":"tok.opaque","last":2}}`,
			dropped: 2,
			reasons: `"dropped":[{"path":"traits.ref","reason":"key-unavailable"},{"path":"traits.big","reason":"protect-failed"}]`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, res, err := Apply(nil, []byte(in), plan, tt.prot)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(out, []byte("secret")) {
				t.Fatalf("a protected value left in clear: %s", out)
			}
			body, manifest := splitManifest(t, string(out))
			if body != tt.want {
				t.Errorf("got  %s\nwant %s", body, tt.want)
			}
			if res.Dropped != tt.dropped {
				t.Errorf("Dropped = %d, want %d", res.Dropped, tt.dropped)
			}
			if !strings.Contains(manifest, tt.reasons) {
				t.Errorf("manifest %s lacks %s", manifest, tt.reasons)
			}
		})
	}
}

func TestApplyRejectsMalformedEvents(t *testing.T) {
	tests := []struct{ name, in string }{
		{"empty input", ``},
		{"a top-level array", `[{"traits":{}}]`},
		{"a top-level string", `"x"`},
		{"an unterminated object", `{"traits":{"email":"x"}`},
		{"an unterminated string", `{"traits":{"email":"x}}`},
		{"a trailing comma", `{"a":1,}`},
		{"a missing colon", `{"a" 1}`},
		{"a missing comma", `{"a":1 "b":2}`},
		{"an unquoted key", `{a:1}`},
		{"single quotes", `{'a':1}`},
		{"a bad escape", `{"a":"\x"}`},
		{"a short unicode escape", `{"a":"\u12"}`},
		{"a raw control character in a string", "{\"a\":\"x\ny\"}"},
		{"invalid UTF-8 in a string", "{\"a\":\"\xff\"}"},
		{"invalid UTF-8 in a protected value", "{\"traits\":{\"email\":\"a\xc3\"}}"},
		{"a leading zero", `{"a":01}`},
		{"a bare minus", `{"a":-}`},
		{"a missing exponent", `{"a":1e}`},
		{"a missing fraction", `{"a":1.}`},
		{"a misspelled literal", `{"a":tru}`},
		{"data after the object", `{"a":1} {}`},
		{"a malformed protected value", `{"traits":{"email":[1,}}`},
		{"a malformed redacted value", `{"traits":{"ssn":{"a"}}}`},
		{"a malformed value in an array at a path", `{"properties":{"products":[{"name":"x"},]}}`},
		{"a truncated protected value", `{"traits":{"email":"abc`},
	}
	plan := mustCompile(t, Spec{
		Fields: []Field{{"traits.email", Encrypt}, {"properties.products[].name", Encrypt}},
		Drop:   []string{"traits.ssn"},
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("prefix")
			out, res, err := Apply(dst, []byte(tt.in), plan, hexProt)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			var se *SyntaxError
			if !errors.As(err, &se) || se.Reason == "" {
				t.Fatalf("err = %#v, want a *SyntaxError with a reason", err)
			}
			if string(out) != "prefix" || res.Protected != 0 {
				t.Errorf("on error dst must come back unchanged, got %q %+v", out, res)
			}
			if _, err := AppendFieldPaths(nil, []byte(tt.in)); !errors.Is(err, ErrMalformed) {
				t.Errorf("AppendFieldPaths err = %v, want ErrMalformed", err)
			}
		})
	}
}

func nested(depth int, inner string) string {
	// depth counts the event object itself.
	return `{"properties":` + strings.Repeat(`[`, depth-1) + inner + strings.Repeat(`]`, depth-1) + `}`
}

func TestApplyLimitsNesting(t *testing.T) {
	plan := mustCompile(t, Spec{Fields: []Field{{"properties.x", Encrypt}}})
	tests := []struct {
		name  string
		event string
		ok    bool
	}{
		{"64 levels are accepted", nested(64, "1"), true},
		{"65 levels are rejected", nested(65, "1"), false},
		{"100000 levels are rejected without exhausting the stack", nested(100000, "1"), false},
		{"deep objects outside any path are rejected too", `{"other":` + strings.Repeat(`{"a":`, 100000) + `1` + strings.Repeat(`}`, 100000) + `}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Apply(nil, []byte(tt.event), plan, hexProt)
			if tt.ok && err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			_, err = AppendFieldPaths(nil, []byte(tt.event))
			if tt.ok != (err == nil) {
				t.Fatalf("AppendFieldPaths err = %v", err)
			}
		})
	}
}

func TestApplyHandlesLargeEvents(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"properties":{"products":[`)
	for i := 0; i < 20000; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"sku":"SKU-00001","name":"secret-product-name","price":12.5,"tags":["a","b"]}`)
	}
	b.WriteString(`]},"traits":{"email":"secret-email@example.com"}}`)
	in := []byte(b.String())
	plan := mustCompile(t, Spec{Fields: []Field{{"properties.products[].name", Encrypt}, {"traits.email", SHA256}}})
	out, res, err := Apply(nil, in, plan, hexProt)
	if err != nil {
		t.Fatal(err)
	}
	if res.Protected != 20001 {
		t.Errorf("Protected = %d, want 20001", res.Protected)
	}
	if bytes.Contains(out, []byte("secret")) || !json.Valid(out) {
		t.Errorf("large event: clear text left or invalid JSON (len %d)", len(out))
	}
}

func TestTransformerReusesBuffersAcrossEvents(t *testing.T) {
	plan := mustCompile(t, Spec{
		Fields: []Field{{"traits.email", SHA256}, {"traits.phone", HMAC}, {"properties.products[].name", Encrypt}, {"traits.ip", Redact}},
		Drop:   []string{"traits.ssn"},
	})
	event := []byte(`{"type":"track","traits":{"email":"A@B.C","phone":"555","ip":"1","ssn":"2"},"properties":{"products":[{"name":"x"},{"name":"y"}]}}`)
	var tr Transformer
	buf := make([]byte, 0, 4096)
	prot := Protectors{Sealer: hexSealer{}, HMAC: fixedKey{"h", []byte("key")}}
	allocs := testing.AllocsPerRun(10000, func() {
		out, _, err := tr.Apply(buf[:0], event, plan, prot)
		if err != nil || len(out) == 0 {
			t.Fatal(err)
		}
	})
	// 10,000 events through one Transformer and one output buffer: memory
	// stays bounded because nothing is allocated per event.
	if allocs > 0 {
		t.Errorf("allocations per event = %v, want 0", allocs)
	}
}

func TestApplyRejectsNilPlan(t *testing.T) {
	if _, _, err := Apply(nil, []byte(`{}`), nil, Protectors{}); err == nil {
		t.Fatal("Apply with a nil plan must fail")
	}
}

// oddSealer returns a fixed token, to test how Apply writes odd tokens.
type oddSealer string

func (s oddSealer) Seal(dst, _ []byte) ([]byte, error) { return append(dst, s...), nil }

func TestApplyWritesOddTokensAndKeyIDsSafely(t *testing.T) {
	plan := mustCompile(t, Spec{Fields: []Field{{"traits.email", Encrypt}}})
	tests := []struct {
		name    string
		prot    Protectors
		want    string // traits.email in the output, decoded; "" means removed
		dropped int
	}{
		{"a token with quotes and control characters is escaped", Protectors{Sealer: oddSealer("a\"b\\c\n")}, "a\"b\\c\n", 0},
		{"a token that is not UTF-8 counts as a failure", Protectors{Sealer: oddSealer("a\xffb")}, "", 1},
		{"an empty token counts as a failure", Protectors{Sealer: oddSealer("")}, "", 1},
		{"key ids with odd bytes keep the manifest valid", Protectors{Sealer: oddSealer("t"), Algorithm: "x\xff", KeyID: "\"\x01"}, "t", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, res, err := Apply(nil, []byte(`{"traits":{"email":"secret"}}`), plan, tt.prot)
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Traits map[string]string `json:"traits"`
			}
			if !json.Valid(out) || json.Unmarshal(out, &doc) != nil {
				t.Fatalf("invalid output %q", out)
			}
			if got := doc.Traits["email"]; got != tt.want || res.Dropped != tt.dropped {
				t.Errorf("email = %q dropped %d, want %q dropped %d", got, res.Dropped, tt.want, tt.dropped)
			}
		})
	}
}
