package privacy_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/phiguard/phiguard/shared/fieldpath"
	"github.com/phiguard/phiguard/shared/privacy"
)

// FuzzParseFieldPath runs its seeds in every `go test`: parsing never panics,
// a valid path has a root and a non-empty key, and an invalid one says why.
func FuzzParseFieldPath(f *testing.F) {
	for _, s := range []string{"traits.email", "properties.products[].name", "", ".", "[]", "traits.[]",
		"context..x", "traits.a[][]", "traits.\xff", "traits.a b", "properties.a][",
		`traits.a\.b`, `properties.x\[0\][]`, `traits.a\\[]`, "userId", "userId.x", `traits.\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := privacy.ParseFieldPath(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "invalid path: ") {
				t.Errorf("error %q does not name the path field", err)
			}
			return
		}
		// A key holds '.', '[' or ']' only when the path escapes them.
		fp, _ := fieldpath.Parse(s)
		if p.Key() == "" || p.Key() != fp.Last() || (strings.ContainsAny(p.Key(), ".[]") && !strings.Contains(s, `\`)) {
			t.Errorf("valid path %q has key %q", s, p.Key())
		}
		switch p.Root() {
		case privacy.RootContext, privacy.RootTraits, privacy.RootProperties:
		default:
			if !fieldpath.IsIdentity(p.Root()) || p.Root() != s {
				t.Errorf("valid path %q has root %q", s, p.Root())
			}
		}
	})
}

// FuzzRecommend: any key and value give a valid classification without panic,
// and the normalized key is valid UTF-8 in lower case words.
func FuzzRecommend(f *testing.F) {
	c, err := privacy.NewClassifier(nil)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"email", "SSNNumber", "ÉLÈVE_name", "\xff\xfe", "a\u0301b", "IPv6", "ǅungla"} {
		f.Add(s, "jane@example.com")
	}
	f.Fuzz(func(t *testing.T, key, value string) {
		got, ok := c.RecommendValue(privacy.FieldPath("properties."+key), value)
		if err := got.Classification.Validate(); err != nil {
			t.Errorf("classification: %v", err)
		}
		if ok == (got.MatcherID == "") {
			t.Errorf("ok = %v with matcher %q", ok, got.MatcherID)
		}
		n := privacy.NormalizeKey(key)
		if !utf8.ValidString(n) || strings.Contains(n, "  ") || strings.TrimSpace(n) != n {
			t.Errorf("NormalizeKey(%q) = %q", key, n)
		}
		if d := privacy.Dice(key, value); d < 0 || d > 1 {
			t.Errorf("Dice = %v", d)
		}
	})
}
