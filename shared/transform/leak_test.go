package transform

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The tests in this file pin issue 15, "fields that escape protection": each event below used to
// reach the destination with a value in clear.

// treatments are every way a field can be protected or removed; Drop is what blockRed applies.
var treatments = []Treatment{Encrypt, HMAC, SHA256, Redact, Drop}

// specWith returns a spec treating every path with t (Drop through spec.Drop, as blockRed does).
func specWith(t Treatment, paths ...string) Spec {
	var s Spec
	for _, p := range paths {
		if t == Drop {
			s.Drop = append(s.Drop, p)
		} else {
			s.Fields = append(s.Fields, Field{p, t})
		}
	}
	return s
}

// applyOK applies spec to event with every key available and returns the output, compacted.
func applyOK(t *testing.T, spec Spec, event string) (string, Result) {
	t.Helper()
	out, res, err := Apply(nil, []byte(event), mustCompile(t, spec), hexProt)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, out); err != nil {
		t.Fatalf("output is not JSON: %s", out)
	}
	return b.String(), res // compact, so that tests can look for members however the event was spaced
}

// leaks reports which of the secrets appear in out as they are or in the hex of the test
// sealer (which would still be the value, for a test that wants it removed).
func leaks(out string, secrets ...string) []string {
	var got []string
	for _, s := range secrets {
		if strings.Contains(out, s) {
			got = append(got, s)
		}
	}
	return got
}

func TestKeysWithDotsAndBracketsCanBeProtected(t *testing.T) {
	// Before: "traits.a.b" protected the nested a→b and left the literal "a.b" key in clear, and
	// no path could name the literal key.
	event := `{"traits":{"a.b":"literal-secret","a":{"b":"nested-secret"},"x[0]":"bracket-secret","q\"":"quote-secret"}}`
	for _, tr := range treatments {
		t.Run(string(tr), func(t *testing.T) {
			out, _ := applyOK(t, specWith(tr, `traits.a\.b`, `traits.x\[0\]`, `traits.q\"`), event)
			if l := leaks(out, "literal-secret", "bracket-secret", "quote-secret"); len(l) > 0 {
				t.Errorf("%v left in clear: %s", l, out)
			}
			if !strings.Contains(out, `"nested-secret"`) {
				t.Errorf(`traits.a\.b must not select a→b: %s`, out)
			}
			out, _ = applyOK(t, specWith(tr, "traits.a.b"), event)
			if !strings.Contains(out, `"literal-secret"`) || strings.Contains(out, "nested-secret") {
				t.Errorf("traits.a.b must select a→b only: %s", out)
			}
		})
	}
}

func TestAnEscapedPathIsNamedEscapedInTheManifest(t *testing.T) {
	out, _ := applyOK(t, specWith(Encrypt, `traits.a\.b`), `{"traits":{"a.b":"x"}}`)
	if !strings.Contains(out, `{"path":"traits.a\\.b","treatment":"encrypt"`) {
		t.Errorf("manifest: %s", out)
	}
}

func TestKeysThatDifferOnlyInCaseAreProtected(t *testing.T) {
	// Before: a producer sending "Email" (or "Traits") bypassed "traits.email".
	event := `{"Traits":{"EMAIL":"a-secret"},"traits":{"Email":"b-secret","email":"c-secret"},` +
		`"context":{"Traits":{"eMail":"d-secret"}},"properties":{"Items":[{"NAME":"e-secret"}]},"TRAITS":{"Emaıl":"kept"}}`
	for _, tr := range treatments {
		t.Run(string(tr), func(t *testing.T) {
			out, res := applyOK(t, specWith(tr, "traits.email", "context.traits.email", "properties.items[].name"), event)
			if l := leaks(out, "a-secret", "b-secret", "c-secret", "d-secret", "e-secret"); len(l) > 0 {
				t.Errorf("%v left in clear: %s", l, out)
			}
			if n := res.Protected + res.Redacted + res.Blocked; n != 5 {
				t.Errorf("%d values treated, want 5: %+v", n, res)
			}
			if !strings.Contains(out, `"kept"`) {
				t.Errorf("a key that does not fold to email (dotless ı) was treated: %s", out)
			}
		})
	}
}

func TestUnicodeCaseFoldingMatchesLikeEqualFold(t *testing.T) {
	// U+212A KELVIN SIGN folds to k, U+017F LONG S to s: EqualFold says these are the same key.
	out, _ := applyOK(t, specWith(Encrypt, "traits.kid", "properties.ssn"), `{"traits":{"\u212aid":"k-secret"},"propertie\u017f":{"\u017fsn":"s-secret"}}`)
	if l := leaks(out, "k-secret", "s-secret"); len(l) > 0 {
		t.Errorf("%v left in clear: %s", l, out)
	}
}

func TestPathsThatDifferOnlyInCaseAreOneField(t *testing.T) {
	_, err := Compile(Spec{Fields: []Field{{"traits.Email", Encrypt}, {"traits.email", HMAC}}})
	if !errors.Is(err, ErrInvalidPlan) || !strings.Contains(err.Error(), "differ only in case") {
		t.Fatalf("Compile err = %v, want ErrInvalidPlan naming the case", err)
	}
	plan := mustCompile(t, Spec{Fields: []Field{{"traits.Email", SHA256}, {"traits.email", SHA256}}})
	if len(plan.Paths()) != 1 {
		t.Errorf("identical treatments: %+v, want one field", plan.Paths())
	}
	if _, err := Compile(Spec{Fields: []Field{{"traits.Address", Encrypt}, {"traits.address.city", Redact}}}); !errors.Is(err, ErrInvalidPlan) {
		t.Errorf("a removed field inside a field encrypted whole, in another case: err = %v", err)
	}
	// Blocking still wins over any other treatment of the same field.
	out, _ := applyOK(t, Spec{Fields: []Field{{"traits.email", Encrypt}}, Drop: []string{"traits.EMAIL"}}, `{"traits":{"Email":"x"}}`)
	if strings.Contains(out, `"Email"`) {
		t.Errorf("blocked field sent: %s", out)
	}
}

// segmentExample reads one of the Segment spec's example events from testdata/segment.
func segmentExample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "segment", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestIdentityFieldsCanBeProtected(t *testing.T) {
	examples := []struct {
		file, path, value string
	}{
		{"common-fields.json", "userId", "97980cfea0067"},
		{"common-fields.json", "anonymousId", "507f191e810c19729de860ea"},
		{"identify.json", "userId", "97980cfea0067"},
		{"identify.json", "anonymousId", "507f191e810c19729de860ea"},
		{"group.json", "groupId", "0e8c78ea9d97a7b8185e8632"},
		{"alias.json", "previousId", "39239-239239-239239-23923"},
		{"alias.json", "userId", "507f191e81"},
	}
	for _, ex := range examples {
		event := segmentExample(t, ex.file)
		for _, tr := range treatments {
			t.Run(ex.file+"/"+ex.path+"/"+string(tr), func(t *testing.T) {
				out, res := applyOK(t, specWith(tr, ex.path), event)
				if strings.Contains(out, `"`+ex.value+`"`) {
					t.Errorf("%s left in clear: %s", ex.path, out)
				}
				if n := res.Protected + res.Redacted + res.Blocked; n != 1 {
					t.Errorf("%d values treated, want 1", n)
				}
				var m map[string]any
				if err := json.Unmarshal([]byte(out), &m); err != nil {
					t.Fatal(err)
				}
				_, present := m[ex.path]
				if present == tr.removes() {
					t.Errorf("%s present = %v after %s", ex.path, present, tr)
				}
				if ex.file == "common-fields.json" && !strings.Contains(out, `"groupId":"12345"`) {
					t.Errorf("context.groupId is not the identity field groupId: %s", out)
				}
			})
		}
	}
}

func TestAnIdentityFieldWithoutATreatmentIsHMACedSoJoinsKeepWorking(t *testing.T) {
	event := segmentExample(t, "identify.json")
	out, _ := applyOK(t, Spec{Fields: []Field{{Path: "userId"}, {Path: "anonymousId"}, {Path: "traits.email"}}}, event)
	for _, want := range []string{
		`"userId":"` + mac("hk", "97980cfea0067") + `"`,
		`"anonymousId":"` + mac("hk", "507f191e810c19729de860ea") + `"`,
		`"email":"` + E("peter@example.com") + `"`,
		`{"path":"userId","treatment":"hmac","alg":"hmac-sha256","kid":"h1"}`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %s: %s", want, out)
		}
	}
	// Case folding applies to identity fields too.
	out, _ = applyOK(t, Spec{Fields: []Field{{Path: "userId"}}}, `{"USERID":"mrn-1","userid":"mrn-2"}`)
	if l := leaks(out, "mrn-1", "mrn-2"); len(l) > 0 {
		t.Errorf("%v left in clear: %s", l, out)
	}
}

func TestIdentityFieldsWithoutAnHMACKeyAreRemoved(t *testing.T) {
	out, res, err := Apply(nil, []byte(`{"type":"identify","userId":"jane@x.io","traits":{}}`), mustCompile(t, Spec{Fields: []Field{{Path: "userId"}}}), Protectors{Sealer: hexSealer{}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "jane") || res.Dropped != 1 || !strings.Contains(string(out), `{"path":"userId","reason":"key-unavailable"}`) {
		t.Errorf("out %s, result %+v", out, res)
	}
}

// fakeReviewer answers from maps and records what it was asked.
type fakeReviewer struct {
	paths  map[string]Treatment // "" with inspect: see values
	values map[string]Treatment // by value
	asked  []string
}

func (f *fakeReviewer) ReviewPath(path []byte) (Treatment, bool) {
	f.asked = append(f.asked, string(path))
	t, ok := f.paths[string(path)]
	return t, !ok
}

func (f *fakeReviewer) ReviewValue(path, value []byte) Treatment { return f.values[string(value)] }

func TestAReviewerProtectsFieldsNobodyReviewed(t *testing.T) {
	rv := &fakeReviewer{
		paths: map[string]Treatment{
			"properties.diagnosis": Encrypt, "traits.ssn": Drop, "properties.visit": "", "properties.visit.icd": SHA256,
			"properties.items": "", "properties.items[].dx": HMAC, "traits.plan": "",
		},
		values: map[string]Treatment{"123-45-6789": Drop, "jane@x.io": Encrypt},
	}
	event := `{"type":"track","userId":"u1","properties":{"diagnosis":"asthma","visit":{"icd":"J45","note":"123-45-6789"},` +
		`"items":[{"dx":"flu"},{"dx":"cold"}],"contact":"jane@x.io","tags":["ok","123-45-6789"],"count":3},` +
		`"traits":{"ssn":"078-05-1120","plan":"pro"}}`
	out, res := applyOK(t, Spec{Review: rv}, event)
	if l := leaks(out, "asthma", "J45", "123-45-6789", "flu", "cold", "jane@x.io", "078-05-1120"); len(l) > 0 {
		t.Errorf("%v left in clear: %s", l, out)
	}
	for _, want := range []string{
		`"diagnosis":"` + E("asthma") + `"`, `"icd":"` + sha("J45") + `"`, `"dx":"` + mac("hk", "flu") + `"`,
		`"contact":"` + E("jane@x.io") + `"`, `"tags":["ok",null]`, `"count":3`, `"plan":"pro"`, `"userId":"u1"`,
		`{"path":"properties.diagnosis","treatment":"encrypt","alg":"hpke-p256","kid":"k1","unreviewed":true}`,
		`{"path":"properties.items[].dx","treatment":"hmac","alg":"hmac-sha256","kid":"h1","unreviewed":true}`,
		`{"path":"properties.visit.icd","treatment":"sha256","alg":"sha256","norm":"trim","unreviewed":true}`,
		`{"path":"traits.ssn","reason":"unreviewed"}`, `{"path":"properties.tags","reason":"unreviewed"}`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, `"ssn"`) || strings.Contains(out, `"note"`) {
		t.Errorf("removed members are still there: %s", out)
	}
	if res.Protected != 5 || res.Blocked != 3 || len(res.Unreviewed) != 7 || len(res.Entries) != 0 {
		t.Errorf("result %+v", res)
	}
	for _, p := range rv.asked {
		if p == "userId" || p == "type" {
			t.Errorf("the reviewer was asked about %q, outside the roots", p)
		}
	}
}

func TestAReviewerIsAskedAboutEscapedPathsUnderCanonicalRoots(t *testing.T) {
	rv := &fakeReviewer{paths: map[string]Treatment{}}
	applyOK(t, Spec{Review: rv}, `{"Traits":{"a.b":{"X[0]":1}},"context":{"list":[[{"q\"":2}]]}}`)
	want := []string{`traits.a\.b`, `traits.a\.b.X\[0\]`, "context.list", `context.list[][].q\"`}
	if strings.Join(rv.asked, " ") != strings.Join(want, " ") {
		t.Errorf("asked %q, want %q", rv.asked, want)
	}
}

func TestConfiguredPathsWinOverTheReviewer(t *testing.T) {
	rv := &fakeReviewer{paths: map[string]Treatment{"traits.email": Drop, "traits.address": Encrypt}}
	spec := Spec{Fields: []Field{{"traits.email", SHA256}, {"traits.address.zip", SHA256}}, Review: rv}
	out, _ := applyOK(t, spec, `{"traits":{"email":"A@b.c","address":{"street":"1 Main St","zip":"90210","geo":[1,2]}}}`)
	// address is recommended for protection, but a configured path lies inside it: its other
	// members are protected one by one and zip keeps its configured treatment.
	for _, want := range []string{`"email":"` + sha("a@b.c") + `"`, `"street":"` + E("1 Main St") + `"`, `"zip":"` + sha("90210") + `"`, `"geo":"` + E("[1,2]") + `"`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %s: %s", want, out)
		}
	}
}

func TestMembersNoPathCanNameAreRemovedWhenReviewing(t *testing.T) {
	rv := &fakeReviewer{paths: map[string]Treatment{}}
	event := `{"traits":{" pad":"x-secret","":"y-secret","ok":{"tab\t":"z-secret"},"deep":` + strings.Repeat(`{"a":`, 31) + `"d-secret"` + strings.Repeat("}", 31) + `}}`
	out, res := applyOK(t, Spec{Review: rv}, event)
	if l := leaks(out, "x-secret", "y-secret", "z-secret", "d-secret"); len(l) > 0 {
		t.Errorf("%v left in clear: %s", l, out)
	}
	if !strings.Contains(out, `{"path":"traits","reason":"unaddressable"}`) || !strings.Contains(out, `{"path":"traits.ok","reason":"unaddressable"}`) || res.Blocked != 4 {
		t.Errorf("out %s\nresult %+v", out, res)
	}
	// Without a reviewer nothing is read or removed.
	out, _ = applyOK(t, Spec{}, event)
	if l := leaks(out, "x-secret", "y-secret", "z-secret", "d-secret"); len(l) != 4 {
		t.Errorf("a plan without a reviewer changed the event: %s", out)
	}
}

func TestUnreviewedFieldsWithoutTheirKeyAreRemoved(t *testing.T) {
	rv := &fakeReviewer{paths: map[string]Treatment{"properties.diagnosis": Encrypt, "properties.mrn": HMAC}}
	out, res, err := Apply(nil, []byte(`{"properties":{"diagnosis":"asthma","mrn":"12345","tags":[1]}}`), mustCompile(t, Spec{Review: rv}), Protectors{})
	if err != nil {
		t.Fatal(err)
	}
	if l := leaks(string(out), "asthma", "12345"); len(l) > 0 || res.Dropped != 2 {
		t.Errorf("%v left in clear, result %+v: %s", l, res, out)
	}
	if !strings.Contains(string(out), `{"path":"properties.diagnosis","reason":"key-unavailable","unreviewed":true}`) {
		t.Errorf("manifest: %s", out)
	}
}
