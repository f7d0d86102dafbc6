package privacy_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/phiguard/phiguard/shared/privacy"
)

// validMatcher is a custom matcher that passes validation; tests break one rule at a time.
func validMatcher() privacy.Matcher {
	return privacy.Matcher{
		ID:             "m-1",
		Name:           "medical record number",
		Classification: privacy.Yellow,
		Target:         privacy.TargetKey,
		Mode:           privacy.ModeExact,
		Patterns:       []string{`^mrn\b`},
		Synonyms:       []string{"mrn", "chart number"},
	}
}

func TestMatcherValidate(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(*privacy.Matcher)
		wantField string // empty: valid
		wantText  string
	}{
		{name: "a complete custom matcher is valid", edit: func(*privacy.Matcher) {}},
		{name: "a matcher with only synonyms is valid", edit: func(m *privacy.Matcher) { m.Patterns = nil }},
		{name: "a matcher with only patterns is valid", edit: func(m *privacy.Matcher) { m.Synonyms = nil }},
		{name: "a similar value matcher is valid", edit: func(m *privacy.Matcher) { m.Target, m.Mode = privacy.TargetValue, privacy.ModeSimilar }},
		{name: "a matcher without an ID is valid, the store assigns one", edit: func(m *privacy.Matcher) { m.ID = "" }},
		{name: "a name is required", edit: func(m *privacy.Matcher) { m.Name = "" }, wantField: "name", wantText: "is required"},
		{name: "a blank name is required too", edit: func(m *privacy.Matcher) { m.Name = "   " }, wantField: "name", wantText: "is required"},
		{name: "a name of 64 characters is valid", edit: func(m *privacy.Matcher) { m.Name = strings.Repeat("é", 64) }},
		{name: "a name of 65 characters is too long", edit: func(m *privacy.Matcher) { m.Name = strings.Repeat("a", 65) }, wantField: "name", wantText: "the limit is 64"},
		{name: "a name with surrounding spaces is refused", edit: func(m *privacy.Matcher) { m.Name = " mrn" }, wantField: "name", wantText: "whitespace"},
		{name: "a name of punctuation only matches nothing", edit: func(m *privacy.Matcher) { m.Name = "***" }, wantField: "name", wantText: "letter or digit"},
		{name: "a name with a newline is refused", edit: func(m *privacy.Matcher) { m.Name = "a\nb" }, wantField: "name", wantText: "non-printable"},
		{name: "a classification is required", edit: func(m *privacy.Matcher) { m.Classification = "" }, wantField: "classification", wantText: "is required"},
		{name: "an unknown classification is refused", edit: func(m *privacy.Matcher) { m.Classification = "orange" }, wantField: "classification", wantText: `"orange"`},
		{name: "an unknown target is refused", edit: func(m *privacy.Matcher) { m.Target = "path" }, wantField: "target", wantText: `use "key" or "value"`},
		{name: "an unknown mode is refused", edit: func(m *privacy.Matcher) { m.Mode = "fuzzy" }, wantField: "mode", wantText: `use "exact" or "similar"`},
		{name: "a matcher without patterns or synonyms is refused", edit: func(m *privacy.Matcher) { m.Patterns, m.Synonyms = nil, nil }, wantField: "patterns", wantText: "at least one pattern or synonym"},
		{name: "an invalid regular expression is refused with its position", edit: func(m *privacy.Matcher) { m.Patterns = []string{"ok", "(abc"} }, wantField: "patterns[1]", wantText: "missing closing )"},
		{name: "an invalid regular expression is refused quoting the broken part", edit: func(m *privacy.Matcher) { m.Patterns = []string{"mrn[z-a]"} }, wantField: "patterns[0]", wantText: "is not a valid Go regular expression: invalid character class range: `z-a`"},
		{name: "Perl lookbehind is not Go syntax", edit: func(m *privacy.Matcher) { m.Patterns = []string{`(?<!ip)address`} }, wantField: "patterns[0]", wantText: "not a valid Go regular expression"},
		{name: "an empty pattern is refused", edit: func(m *privacy.Matcher) { m.Patterns = []string{""} }, wantField: "patterns[0]", wantText: "is empty"},
		{name: "a pattern matching everything is refused", edit: func(m *privacy.Matcher) { m.Patterns = []string{"mrn|"} }, wantField: "patterns[0]", wantText: "matches the empty string"},
		{name: "a pattern of 256 bytes is valid", edit: func(m *privacy.Matcher) { m.Patterns = []string{strings.Repeat("a", privacy.MaxPatternLen)} }},
		{name: "a pattern of 257 bytes is too long", edit: func(m *privacy.Matcher) { m.Patterns = []string{strings.Repeat("a", privacy.MaxPatternLen+1)} }, wantField: "patterns[0]", wantText: "the limit is 256"},
		{name: "too many patterns are refused", edit: func(m *privacy.Matcher) { m.Patterns = slices.Repeat([]string{"a"}, privacy.MaxPatterns+1) }, wantField: "patterns", wantText: "the limit is 20"},
		{name: "an empty synonym is refused with its position", edit: func(m *privacy.Matcher) { m.Synonyms = []string{"mrn", ""} }, wantField: "synonyms[1]", wantText: "is required"},
		{name: "an overlong synonym is refused", edit: func(m *privacy.Matcher) { m.Synonyms = []string{strings.Repeat("a", 65)} }, wantField: "synonyms[0]", wantText: "the limit is 64"},
		{name: "too many synonyms are refused", edit: func(m *privacy.Matcher) { m.Synonyms = slices.Repeat([]string{"a"}, privacy.MaxSynonyms+1) }, wantField: "synonyms", wantText: "the limit is 50"},
		{name: "a custom matcher cannot claim to be a default", edit: func(m *privacy.Matcher) { m.Default = true }, wantField: "default", wantText: "defaults are built in"},
		{name: "a custom matcher cannot take a default ID", edit: func(m *privacy.Matcher) { m.ID = "default-email" }, wantField: "id", wantText: "must not start with"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := validMatcher()
			tt.edit(&m)
			err := m.Validate()
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, privacy.ErrInvalid) {
				t.Fatalf("Validate() = %v, want an error matching ErrInvalid", err)
			}
			var found bool
			for _, p := range privacy.Problems(err) {
				if p.Field == tt.wantField && strings.Contains(p.Reason, tt.wantText) {
					found = true
				}
			}
			if !found {
				t.Errorf("Validate() = %q; want a problem with field %q saying %q", err, tt.wantField, tt.wantText)
			}
		})
	}
}

func TestMatcherValidateReportsEveryProblem(t *testing.T) {
	m := privacy.Matcher{Name: "x", Classification: privacy.Red, Target: "k", Mode: "m", Patterns: []string{"(", "["}}
	var fields []string
	for _, p := range privacy.Problems(m.Validate()) {
		fields = append(fields, p.Field)
	}
	if got, want := strings.Join(fields, ","), "target,mode,patterns[0],patterns[1]"; got != want {
		t.Errorf("problem fields = %s, want %s", got, want)
	}
}

func TestCheckMatcherCount(t *testing.T) {
	tests := []struct {
		name     string
		existing int
		wantErr  bool
	}{
		{name: "a workspace without matchers may add one", existing: 0},
		{name: "the 100th custom matcher is allowed", existing: 99},
		{name: "the 101st custom matcher is refused", existing: 100, wantErr: true},
		{name: "a workspace somehow over the limit may not add more", existing: 150, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := privacy.CheckMatcherCount(tt.existing)
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("CheckMatcherCount(%d) = %v, want nil", tt.existing, err)
				}
				return
			}
			if !errors.Is(err, privacy.ErrTooManyMatchers) {
				t.Fatalf("CheckMatcherCount(%d) = %v, want ErrTooManyMatchers", tt.existing, err)
			}
			if errors.Is(err, privacy.ErrInvalid) {
				t.Error("the limit error also matches ErrInvalid; it must map to 409, not 422")
			}
			if !strings.Contains(err.Error(), "at most 100 custom matchers") {
				t.Errorf("error %q does not name the limit", err)
			}
		})
	}
}

func TestCheckEditable(t *testing.T) {
	if err := privacy.CheckEditable("default-email"); !errors.Is(err, privacy.ErrDefaultMatcher) {
		t.Errorf("CheckEditable(default-email) = %v, want ErrDefaultMatcher", err)
	}
	if err := privacy.CheckEditable("01HZX3"); err != nil {
		t.Errorf("CheckEditable of a custom ID = %v, want nil", err)
	}
}

// designDefaults is the list in DESIGN.md, word for word.
var designDefaults = map[privacy.Classification][]string{
	privacy.Red: {"social security number", "password", "visa", "veteran", "disability", "credit card", "passport", "token"},
	privacy.Yellow: {"race", "birthdate", "phone", "address", "gender", "ethnicity", "citizenship", "name",
		"street", "city", "zipcode", "email", "certificate", "license", "identification", "serial", "ip", "photo",
		"salary", "religion", "mac", "sex", "sexual orientation", "medication", "allergy", "condition", "diagnosis",
		"procedure"},
}

func TestDefaultsAreExactlyTheDesignList(t *testing.T) {
	keyNames := map[privacy.Classification][]string{}
	ids := map[string]bool{}
	for _, m := range privacy.Defaults() {
		if !m.Default || !privacy.IsDefaultID(m.ID) {
			t.Errorf("default %q: Default=%v ID=%q, want Default and a default ID", m.Name, m.Default, m.ID)
		}
		if ids[m.ID] {
			t.Errorf("duplicate default ID %q", m.ID)
		}
		ids[m.ID] = true
		if m.Target == privacy.TargetKey {
			keyNames[m.Classification] = append(keyNames[m.Classification], m.Name)
		}
	}
	for class, want := range designDefaults {
		got := slices.Sorted(slices.Values(keyNames[class]))
		want = slices.Sorted(slices.Values(want))
		if !slices.Equal(got, want) {
			t.Errorf("%s key defaults = %v, want %v", class, got, want)
		}
	}
	if len(keyNames) != 2 {
		t.Errorf("defaults have classifications %v, want only red and yellow", keyNames)
	}
}

func TestDefaultsPassTheCustomRules(t *testing.T) {
	// Defaults are not validated at runtime; holding them to the custom rules
	// proves every pattern compiles, none matches everything, and the limits fit.
	for _, m := range privacy.Defaults() {
		t.Run(m.ID, func(t *testing.T) {
			m.Default, m.ID = false, ""
			if m.Target == privacy.TargetValue && len(m.Patterns) == 0 {
				t.Fatal("a default value matcher has no patterns")
			}
			if err := m.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestDefaultsReturnsCopies(t *testing.T) {
	d := privacy.Defaults()
	d[0].Synonyms[0] = "changed"
	d[0].Name = "changed"
	if again := privacy.Defaults(); again[0].Synonyms[0] == "changed" || again[0].Name == "changed" {
		t.Error("changing the result of Defaults changed the built-in matchers")
	}
	m, ok := privacy.DefaultMatcher("default-email")
	if !ok || m.Name != "email" || m.Target != privacy.TargetKey {
		t.Errorf("DefaultMatcher(default-email) = %+v, %v", m, ok)
	}
	if _, ok := privacy.DefaultMatcher("default-nope"); ok {
		t.Error("DefaultMatcher found an ID that does not exist")
	}
}

func TestSameName(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{name: "spellings of one name are the same name", a: "Social Security Number", b: "social_security_number", want: true},
		{name: "camelCase is the same name", a: "zipCode", b: "zip code", want: true},
		{name: "words run together are the same name", a: "Zip Code", b: "zipcode", want: true},
		{name: "different words are different names", a: "email", b: "e-mail address", want: false},
		{name: "names without letters are never the same", a: "***", b: "---", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := privacy.SameName(tt.a, tt.b); got != tt.want {
				t.Errorf("SameName(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
		})
	}
}
