package transform

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	tests := []struct {
		name string
		in   string
		keys []string
		each bool
		ok   bool
	}{
		{"a traits field", "traits.email", []string{"traits", "email"}, false, true},
		{"a field in an array of objects", "properties.products[].name", []string{"properties", "products", "name"}, false, true},
		{"a context field", "context.traits.phone", []string{"context", "traits", "phone"}, false, true},
		{"a nested object field", "properties.address.zip", []string{"properties", "address", "zip"}, false, true},
		{"an array whose elements are protected one by one", "properties.tags[]", []string{"properties", "tags"}, true, true},
		{"nested arrays", "properties.m[][]", []string{"properties", "m"}, true, true},
		{"keys with spaces and unicode", "properties.Order ID.nöm", []string{"properties", "Order ID", "nöm"}, false, true},
		{"an empty path", "", nil, false, false},
		{"an unknown root", "user.email", nil, false, false},
		{"a root alone", "traits", nil, false, false},
		{"an array root", "traits[].email", nil, false, false},
		{"an empty key", "traits..email", nil, false, false},
		{"a trailing dot", "traits.email.", nil, false, false},
		{"brackets alone", "traits.[]", nil, false, false},
		{"an index in brackets", "properties.products[0].name", nil, false, false},
		{"an unclosed bracket", "properties.products[.name", nil, false, false},
		{"a quote in a key", `traits.e"mail`, nil, false, false},
		{"a backslash in a key", `traits.e\mail`, nil, false, false},
		{"a control character", "traits.e\tmail", nil, false, false},
		{"surrounding white space", "traits. email", nil, false, false},
		{"invalid UTF-8", "traits.\xff", nil, false, false},
		{"a root with different case", "Traits.email", nil, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePath(tt.in)
			if !tt.ok {
				var pe *PathError
				if !errors.Is(err, ErrInvalidPath) || !errors.As(err, &pe) || pe.Reason == "" {
					t.Fatalf("ParsePath(%q) err = %v, want a PathError", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePath(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(p.keys, tt.keys) || p.each != tt.each || p.String() != tt.in || p.Root() != tt.keys[0] {
				t.Errorf("ParsePath(%q) = %+v", tt.in, p)
			}
		})
	}
}

func TestCompile(t *testing.T) {
	tests := []struct {
		name    string
		spec    Spec
		want    []Field // Plan.Paths
		wantErr bool
	}{
		{
			name: "treatments and drops become rules in order, empty treatment meaning encrypt",
			spec: Spec{Fields: []Field{{"traits.email", ""}, {"traits.phone", SHA256}}, Drop: []string{"traits.ssn"}},
			want: []Field{{"traits.email", Encrypt}, {"traits.phone", SHA256}, {"traits.ssn", Drop}},
		},
		{
			name: "a duplicate path is merged",
			spec: Spec{Fields: []Field{{"traits.email", HMAC}, {"traits.email", HMAC}}},
			want: []Field{{"traits.email", HMAC}},
		},
		{
			name: "blocking wins over a treatment on the same field",
			spec: Spec{Fields: []Field{{"traits.ssn", Encrypt}}, Drop: []string{"traits.ssn"}},
			want: []Field{{"traits.ssn", Drop}},
		},
		{
			name: "a path inside a redacted path is covered by the redaction",
			spec: Spec{Fields: []Field{{"traits.address.zip", SHA256}, {"traits.address", Redact}}},
			want: []Field{{"traits.address", Redact}},
		},
		{
			name: "a path inside an encrypted path is covered by the encryption",
			spec: Spec{Fields: []Field{{"traits.address", Encrypt}, {"traits.address.zip", HMAC}}},
			want: []Field{{"traits.address", Encrypt}},
		},
		{
			name:    "a blocked path inside an encrypted path is refused",
			spec:    Spec{Fields: []Field{{"traits.address", Encrypt}}, Drop: []string{"traits.address.ssn"}},
			wantErr: true,
		},
		{
			name:    "two treatments for one field are refused",
			spec:    Spec{Fields: []Field{{"traits.email", HMAC}, {"traits.email", SHA256}}},
			wantErr: true,
		},
		{
			name:    "inner [] markers do not make a different field",
			spec:    Spec{Fields: []Field{{"properties.products[].name", HMAC}, {"properties.products.name", SHA256}}},
			wantErr: true,
		},
		{name: "an unknown treatment is refused", spec: Spec{Fields: []Field{{"traits.email", "rot13"}}}, wantErr: true},
		{name: "a bad path is refused", spec: Spec{Fields: []Field{{"email", Encrypt}}}, wantErr: true},
		{name: "a bad drop path is refused", spec: Spec{Drop: []string{"traits..x"}}, wantErr: true},
		{name: "a country code with letters is refused", spec: Spec{DefaultCountryCode: "1a"}, wantErr: true},
		{name: "a country code starting with 0 is refused", spec: Spec{DefaultCountryCode: "01"}, wantErr: true},
		{name: "an empty spec compiles", spec: Spec{}, want: []Field{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(tt.spec)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidPlan) {
					t.Fatalf("err = %v, want ErrInvalidPlan", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Paths(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Paths() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSHA256Normalization(t *testing.T) {
	tests := []struct {
		name, path, cc, in, want string
	}{
		{"an email is trimmed and lower-cased", "traits.email", "", "  Jane.Doe@Example.COM ", "jane.doe@example.com"},
		{"any key containing email counts", "context.traits.workEmail", "", "A@B.C", "a@b.c"},
		{"a US phone with punctuation gets +1", "traits.phone", "", "(555) 123-4567", "+15551234567"},
		{"a phone already carrying the country code keeps it", "traits.phone", "", "1 555 123 4567", "+15551234567"},
		{"a phone with + keeps its digits", "traits.mobile_phone", "", "+44 7911 123456", "+447911123456"},
		{"the 00 international prefix becomes +", "traits.phone", "", "0044 7911 123456", "+447911123456"},
		{"a trunk zero is dropped before the default country code", "traits.phone", "44", "07911 123456", "+447911123456"},
		{"a phone given as a JSON number is normalized too", "traits.phone", "", "5551234567", "+15551234567"},
		{"a phone without digits is trimmed and lower-cased", "traits.phone", "", " N/A ", "n/a"},
		{"a name loses punctuation and case", "traits.last_name", "", "  O'Brien-Smith ", "obriensmith"},
		{"a full name keeps single spaces", "traits.name", "", " Renée   D'Arcy, Jr. ", "renée darcy jr"},
		{"camel-case name keys count", "traits.firstName", "", "ÉMILE", "émile"},
		{"other fields are only trimmed", "traits.city", "", "  San Francisco ", "San Francisco"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := mustCompile(t, Spec{Fields: []Field{{tt.path, SHA256}}, DefaultCountryCode: tt.cc})
			r := plan.rules[0]
			got := string(appendNormalized(nil, []byte(tt.in), r.norm, plan.cc))
			if got != tt.want {
				t.Errorf("normalized %q = %q, want %q", tt.in, got, tt.want)
			}
		})
	}

	t.Run("a value that is already a SHA-256 digest is passed through lower-cased, not hashed again", func(t *testing.T) {
		plan := mustCompile(t, Spec{Fields: []Field{{"traits.email", SHA256}, {"traits.phone", SHA256}, {"traits.mobile_phone", SHA256}, {"traits.name", SHA256}}})
		d, p, n := sha("jane@example.com"), sha("+15551234567"), sha("jane doe")
		in := `{"traits":{"email":" ` + upper(d) + ` ","phone":5551234567,"mobile_phone":" ` + upper(p) + `","name":"` + n + `"}}`
		out, _, err := Apply(nil, []byte(in), plan, Protectors{})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := splitManifest(t, string(out))
		want := `{"traits":{"email":"` + d + `","phone":"` + p + `","mobile_phone":"` + p + `","name":"` + n + `"}}`
		if body != want {
			t.Errorf("got  %s\nwant %s", body, want)
		}
	})
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}

func TestAppendFieldPaths(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{
			name: "paths under the three roots are listed once each, values never",
			in: `{"type":"track","userId":"secret","context":{"ip":"1.2.3.4","traits":{"email":"x"}},` +
				`"properties":{"products":[{"name":"a","sku":"1"},{"name":"b","price":2}],"address":{"zip":"9"}},` +
				`"traits":{"email":"y"},"properties":{"address":{"zip":"8"}}}`,
			want: []string{"context.ip", "context.traits", "context.traits.email",
				"properties.products", "properties.products[].name", "properties.products[].sku", "properties.products[].price",
				"properties.address", "properties.address.zip", "traits.email"},
		},
		{
			name: "escaped keys are unescaped and nested arrays get one [] per level",
			in:   `{"properties":{"m\u0061trix":[[{"x":1}]],"tags":["a"]}}`,
			want: []string{"properties.matrix", "properties.matrix[][].x", "properties.tags"},
		},
		{
			name: "keys with dots, brackets, backslashes and quotes are reported escaped, never skipped",
			in:   `{"traits":{"a.b":{"c":1},"x[0]":1,"ok":{"q\"":1,"back\\slash":2}}}`,
			want: []string{`traits.a\.b`, `traits.a\.b.c`, `traits.x\[0\]`, "traits.ok", `traits.ok.q\"`, `traits.ok.back\\slash`},
		},
		{
			name: "keys a path cannot name are skipped with their subtree",
			in:   `{"traits":{"":{"c":1},"":2," pad":3,"e\u0000":4,"ok":{"tab\t":1}}}`,
			want: []string{"traits.ok"},
		},
		{
			name: "roots are matched case-insensitively and written in lower case",
			in:   `{"Traits":{"Email":"x"},"PROPERTIES":{"a":1},"userId":"u"}`,
			want: []string{"traits.Email", "properties.a"},
		},
		{
			name: "an array root is transparent",
			in:   `{"traits":[{"email":"x"}]}`,
			want: []string{"traits.email"},
		},
		{
			name: "other top-level members and non-object roots yield nothing",
			in:   `{"event":"x","traits":"str","properties":null,"context":{}}`,
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AppendFieldPaths(nil, []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
			for _, p := range got {
				if _, err := ParsePath(p); err != nil {
					t.Errorf("listed path does not parse: %v", err)
				}
			}
		})
	}
}

func TestBlockEnclosingBlocksFieldsThatWouldCarryABlockedOne(t *testing.T) {
	spec := Spec{
		Fields: []Field{
			{"traits.address", Encrypt}, {"properties.items[]", SHA256}, {"traits.email", HMAC},
			{"traits.notes", Redact}, {"traits.other", Encrypt},
		},
		Drop:               []string{"traits.address.ssn", "properties.items.card", "traits.notes.secret", "traits.email"},
		DefaultCountryCode: "44",
	}
	if _, err := Compile(spec); !errors.Is(err, ErrInvalidPlan) {
		t.Fatalf("Compile accepted a blocked field inside a field protected whole: %v", err)
	}
	got := BlockEnclosing(spec)
	want := Spec{
		Fields:             []Field{{"traits.email", HMAC}, {"traits.notes", Redact}, {"traits.other", Encrypt}},
		Drop:               []string{"traits.address.ssn", "properties.items.card", "traits.notes.secret", "traits.email", "traits.address", "properties.items[]"},
		DefaultCountryCode: "44",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("BlockEnclosing =\n %+v\nwant\n %+v", got, want)
	}
	plan := mustCompile(t, got)
	in := `{"traits":{"address":{"street":"1 Main St","ssn":"123-45-6789"},"email":"e","other":"o"},"properties":{"items":[{"card":"4111"}]}}`
	out, res, err := Apply(nil, []byte(in), plan, hexProt)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"Main", "123-45", "4111"} {
		if strings.Contains(string(out), v) {
			t.Errorf("%q left in clear: %s", v, out)
		}
	}
	if res.Blocked != 3 || res.Protected != 1 {
		t.Errorf("result %+v, want 3 blocked (address, items, email) and 1 protected (other)", res)
	}
}
