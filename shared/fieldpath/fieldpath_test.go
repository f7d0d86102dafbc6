package fieldpath_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/phiguard/phiguard/shared/fieldpath"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		keys []string
		each bool
	}{
		{"a trait", "traits.email", []string{"traits", "email"}, false},
		{"a field of every array element", "properties.products[].name", []string{"properties", "products", "name"}, false},
		{"an array whose elements are meant one by one", "properties.tags[]", []string{"properties", "tags"}, true},
		{"nested arrays", "properties.m[][]", []string{"properties", "m"}, true},
		{"spaces, symbols and non-ASCII inside keys", "traits.First Name.$ref-1.prénom", []string{"traits", "First Name", "$ref-1", "prénom"}, false},
		{"an escaped dot is part of the key", `traits.a\.b`, []string{"traits", "a.b"}, false},
		{"escaped brackets are part of the key", `properties.x\[0\]`, []string{"properties", "x[0]"}, false},
		{"escaped brackets before array markers", `properties.x\[\][]`, []string{"properties", "x[]"}, true},
		{"an escaped backslash and quote", `traits.a\\b\"c`, []string{"traits", `a\b"c`}, false},
		{"an escaped dot at the end of a key", `traits.a\.`, []string{"traits", "a."}, false},
		{"each identity field alone", "userId", []string{"userId"}, false},
		{"anonymousId", "anonymousId", []string{"anonymousId"}, false},
		{"groupId", "groupId", []string{"groupId"}, false},
		{"previousId", "previousId", []string{"previousId"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := fieldpath.Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(p.Keys(), tt.keys) || p.Each() != tt.each || p.String() != tt.in ||
				p.Root() != tt.keys[0] || p.Last() != tt.keys[len(tt.keys)-1] || p.Len() != len(tt.keys) {
				t.Errorf("Parse(%q) = keys %q each %v", tt.in, p.Keys(), p.Each())
			}
			if p.Identity() != fieldpath.IsIdentity(tt.in) {
				t.Errorf("Identity() = %v", p.Identity())
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		problem fieldpath.Problem
		says    string
	}{
		{"an empty path", "", fieldpath.Empty, "e.g. properties.products[].name"},
		{"an overlong path", "traits." + strings.Repeat("a", fieldpath.MaxLen), fieldpath.TooLong, "the limit is 512"},
		{"invalid UTF-8", "traits.\xff", fieldpath.NotUTF8, "not valid UTF-8"},
		{"too many keys", "traits" + strings.Repeat(".a", fieldpath.MaxKeys), fieldpath.TooDeep, "the limit is 32"},
		{"an unknown root", "user.email", fieldpath.BadRoot, "must start with context, traits or properties"},
		{"a bare key", "email", fieldpath.BadRoot, "userId, anonymousId, groupId, previousId"},
		{"a root in another case", "Traits.email", fieldpath.BadRoot, "must start with"},
		{"an identity field in another case", "userid", fieldpath.BadRoot, "must start with"},
		{"an escaped root", `tr\aits.email`, fieldpath.BadRoot, "must start with"},
		{"an array root", "traits[].email", fieldpath.RootArray, "is an object, not an array"},
		{"a root alone", "traits", fieldpath.RootOnly, "names a root, not a field"},
		{"a root and a dot", "traits.", fieldpath.TrailingDot, "ends with a dot"},
		{"a key under an identity field", "userId.x", fieldpath.IdentityAlone, "write it alone"},
		{"an identity field as an array", "userId[]", fieldpath.IdentityAlone, "write it alone"},
		{"two dots in a row", "traits..email", fieldpath.EmptyKey, "segment 2 is empty"},
		{"a trailing dot", "traits.address.", fieldpath.EmptyKey, "segment 3 is empty"},
		{"brackets alone", "properties.[]", fieldpath.NoKey, "has no key before []"},
		{"an index in brackets", "properties.products[0].name", fieldpath.BadBrackets, "brackets may only appear as []"},
		{"an unclosed bracket", "properties.products[.name", fieldpath.BadBrackets, "brackets may only appear as []"},
		{"brackets inside a key", "properties.a[]b", fieldpath.BadBrackets, "brackets may only appear as []"},
		{"a closing bracket", "properties.a]", fieldpath.BadBrackets, `escape a bracket`},
		{"a backslash before a letter", `traits.e\mail`, fieldpath.BadEscape, `write a backslash in a key as \\`},
		{"a trailing backslash", `traits.email\`, fieldpath.BadEscape, "a backslash may only escape"},
		{"a raw quote", `traits.e"mail`, fieldpath.Quote, `\"`},
		{"a control character", "traits.e\nmail", fieldpath.NotPrintable, "non-printable character U+000A"},
		{"a format character", "traits.e\u200bmail", fieldpath.NotPrintable, "U+200B"},
		{"a leading space", "traits. email", fieldpath.LeadingSpace, "starts with a space"},
		{"a trailing space", "traits.email ", fieldpath.TrailingSpace, "ends with a space"},
		{"an escaped key that is empty after all", `traits.\.`, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := fieldpath.Parse(tt.in)
			if tt.problem == 0 {
				if err != nil {
					t.Fatalf("Parse(%q): %v", tt.in, err)
				}
				return
			}
			var e *fieldpath.Error
			if !errors.As(err, &e) || e.Problem != tt.problem {
				t.Fatalf("Parse(%q) err = %v, want problem %d", tt.in, err, tt.problem)
			}
			if msg := e.Message(func(s string) string { return "«" + s + "»" }); !strings.Contains(msg, tt.says) {
				t.Errorf("message %q does not say %q", msg, tt.says)
			}
		})
	}
}

// Messages quote input only through the caller's function, so a caller can withhold it.
func TestErrorQuotesInputOnlyThroughTheCallersFunction(t *testing.T) {
	for _, in := range []string{"secret.x", "traits. secret", `traits.secret]`, "traits..secret", "traits", "secret[].x"} {
		_, err := fieldpath.Parse(in)
		var e *fieldpath.Error
		if !errors.As(err, &e) {
			t.Fatalf("Parse(%q) accepted", in)
		}
		if msg := e.Message(func(string) string { return "(withheld)" }); strings.Contains(msg, "secret") {
			t.Errorf("Parse(%q): message %q quotes the input", in, msg)
		}
	}
}

func TestFormatEscapesWhatParseUnescapes(t *testing.T) {
	for _, key := range []string{"email", "a.b", "x[0]", "[]", `back\slash`, `say "hi"`, "...", "日本.語"} {
		p := fieldpath.Format("traits", key)
		got, err := fieldpath.Parse(p)
		if err != nil || got.Last() != key || got.Len() != 2 || got.Each() {
			t.Errorf("Format(traits, %q) = %q parses as %q, %v", key, p, got.Keys(), err)
		}
		if fieldpath.Escape(key) != p[len("traits."):] {
			t.Errorf("Escape(%q) = %q, Format wrote %q", key, fieldpath.Escape(key), p)
		}
	}
	if got := fieldpath.Format("properties", "a.b", "c"); got != `properties.a\.b.c` {
		t.Errorf("Format = %q", got)
	}
}

func TestAddressable(t *testing.T) {
	for key, want := range map[string]bool{
		"email": true, "a.b": true, `q"`: true, "First Name": true, "prénom": true, "x[0]": true,
		"": false, " pad": false, "pad ": false, "e\nmail": false, "\x7f": false, "e\u200bmail": false,
		"\u00a0nbsp": false, "\xff": false,
	} {
		if got := fieldpath.Addressable(key); got != want {
			t.Errorf("Addressable(%q) = %v, want %v", key, got, want)
		}
		if got := fieldpath.Addressable([]byte(key)); got != want {
			t.Errorf("Addressable([]byte(%q)) = %v, want %v", key, got, want)
		}
	}
}

func TestFoldIsEqualFold(t *testing.T) {
	pairs := []struct {
		a, b string
		same bool
	}{
		{"email", "Email", true},
		{"EMAIL", "email", true},
		{"userId", "USERID", true},
		{"Straße", "STRAßE", true},
		{"traits", "traitſ", true}, // U+017F LATIN SMALL LETTER LONG S folds to s
		{"kelvin", "Kelvin", true}, // U+212A KELVIN SIGN folds to k
		{"Σίσυφος", "ΣΊΣΥΦΟΣ", true},
		{"email", "e-mail", false},
		{"a", "b", false},
	}
	for _, p := range pairs {
		if got := fieldpath.Fold(p.a) == fieldpath.Fold(p.b); got != p.same || strings.EqualFold(p.a, p.b) != p.same {
			t.Errorf("Fold(%q) == Fold(%q) is %v, EqualFold %v; want %v", p.a, p.b, got, strings.EqualFold(p.a, p.b), p.same)
		}
	}
	if fieldpath.Fold("ABC") != "abc" {
		t.Errorf("ASCII does not fold to lower case: %q", fieldpath.Fold("ABC"))
	}
}

func TestCanonicalIgnoresCaseAndArrayMarkers(t *testing.T) {
	canon := func(s string) string {
		p, err := fieldpath.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return p.Canonical()
	}
	if canon("properties.Products[].NAME") != canon("properties.products.name") {
		t.Error("case or [] markers change the canonical form")
	}
	if canon(`traits.a\.b`) == canon("traits.a.b") {
		t.Error("the key a.b and the keys a, b have the same canonical form")
	}
}

func TestCanonicalTop(t *testing.T) {
	for key, want := range map[string]string{
		"traits": "traits", "Traits": "traits", "PROPERTIES": "properties", "context": "context",
		"userId": "userId", "USERID": "userId", "anonymousid": "anonymousId", "GroupId": "groupId",
		"previousID": "previousId", "propertieſ": "properties", "event": "", "type": "", "traits2": "",
	} {
		if got := fieldpath.CanonicalTop(key); got != want {
			t.Errorf("CanonicalTop(%q) = %q, want %q", key, got, want)
		}
	}
}

// FuzzEscape: every addressable key survives Format and Parse, and folding agrees with
// strings.EqualFold.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"email", "a.b", `\`, "[]", `"`, "ſ", "K", "İstanbul", "ǅ"} {
		f.Add(s, strings.ToUpper(s))
	}
	f.Fuzz(func(t *testing.T, key, other string) {
		if fieldpath.Addressable(key) {
			p, err := fieldpath.Parse(fieldpath.Format("properties", key) + "[]")
			if len(key) < fieldpath.MaxLen-20 && (err != nil || p.Last() != key || !p.Each()) {
				t.Errorf("key %q: Parse(Format) = %q, %v", key, p.Keys(), err)
			}
		}
		if utf8.ValidString(key) && utf8.ValidString(other) {
			if (fieldpath.Fold(key) == fieldpath.Fold(other)) != strings.EqualFold(key, other) {
				t.Errorf("Fold disagrees with EqualFold on %q, %q", key, other)
			}
			if fieldpath.Fold(fieldpath.Fold(key)) != fieldpath.Fold(key) {
				t.Errorf("Fold is not idempotent on %q", key)
			}
		}
	})
}
