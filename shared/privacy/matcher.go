package privacy

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on custom matchers, checked by Matcher.Validate and CheckMatcherCount.
const (
	// MaxCustomMatchers is the most custom matchers one workspace may have.
	MaxCustomMatchers = 100
	// MaxNameLen is the longest matcher name, in characters.
	MaxNameLen = 64
	// MaxPatterns is the most regular expressions one matcher may have.
	MaxPatterns = 20
	// MaxPatternLen is the longest regular expression, in bytes.
	MaxPatternLen = 256
	// MaxSynonyms is the most synonyms one matcher may have.
	MaxSynonyms = 50
	// MaxSynonymLen is the longest synonym, in characters.
	MaxSynonymLen = 64
)

// DefaultIDPrefix starts the ID of every built-in matcher. Custom matcher IDs
// must not start with it.
const DefaultIDPrefix = "default-"

// Target says what a matcher looks at.
type Target string

const (
	// TargetKey matchers look at the field's key (FieldPath.Key).
	TargetKey Target = "key"
	// TargetValue matchers look at a field's value. They only run where a
	// value is at hand — inside the pipeline, in memory — because values are
	// never recorded (see Classifier.RecommendValue).
	TargetValue Target = "value"
)

// Validate returns an *InvalidError for field "target" unless t is TargetKey
// or TargetValue.
func (t Target) Validate() error {
	switch t {
	case TargetKey, TargetValue:
		return nil
	case "":
		return invalid("target", `is required; use "key" or "value"`)
	}
	return invalid("target", `%q is not a target; use "key" or "value"`, clip(string(t)))
}

// Mode says how a matcher compares its name and synonyms with a key or value.
// Patterns are regular expressions and are unaffected by the mode.
type Mode string

const (
	// ModeExact fires when the compact normalized forms are equal:
	// "e_mail", "E-Mail" and "email" are all exactly "email".
	ModeExact Mode = "exact"
	// ModeSimilar fires when Dice of the two exceeds SimilarityThreshold
	// (strictly), so "adress" is similar to "address".
	ModeSimilar Mode = "similar"
)

// Validate returns an *InvalidError for field "mode" unless m is ModeExact or
// ModeSimilar.
func (m Mode) Validate() error {
	switch m {
	case ModeExact, ModeSimilar:
		return nil
	case "":
		return invalid("mode", `is required; use "exact" or "similar"`)
	}
	return invalid("mode", `%q is not a mode; use "exact" or "similar"`, clip(string(m)))
}

// Matcher recommends a classification for fields whose key (or value) it
// matches. It fires when any of these hold:
//
//   - Its name or one of its synonyms equals (ModeExact) or is similar to
//     (ModeSimilar) the key or value; see Mode. For a key matcher the name
//     counts as a synonym, so a custom matcher named "email" also catches the
//     key "email". For a value matcher the name is only a label.
//   - One of its patterns (Go RE2 syntax) matches. A key pattern is tried on
//     the key as written and on NormalizeKey(key) ("userEmail" -> "user email");
//     a value pattern is tried on the value as given. Patterns are unanchored:
//     use ^ and $ to match the whole text.
//
// Default matchers are built in (see Defaults); a custom matcher with the
// same name as a default (SameName) replaces it — both the default's key
// matcher and, if it has one, its value matcher.
type Matcher struct {
	ID             string         `json:"id"`
	Name           string         `json:"name"`
	Classification Classification `json:"classification"`
	Target         Target         `json:"target"`
	Mode           Mode           `json:"mode"`
	Patterns       []string       `json:"patterns"`
	Synonyms       []string       `json:"synonyms"`
	Default        bool           `json:"default"`

	// check, set only on some built-in value matchers, must also accept a
	// value that a pattern matched (a Luhn check for card numbers, say).
	check func(string) bool
}

// Validate checks m as a custom matcher and returns nil or every broken rule
// as *InvalidError values joined into one error (errors.Is(err, ErrInvalid)
// and errors.As with *InvalidError hold; Problems lists them all). Rules: a name of 1 to MaxNameLen characters
// with at least one letter or digit; a valid classification, target and mode;
// at least one pattern or synonym; at most MaxPatterns patterns of at most
// MaxPatternLen bytes, each compiling as a Go regular expression and none
// matching the empty string (it would match every field); at most MaxSynonyms
// synonyms of 1 to MaxSynonymLen characters, each with a letter or digit;
// Default false and an ID (if set) that does not start with DefaultIDPrefix.
func (m Matcher) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if m.Default {
		add(invalid("default", "custom matchers cannot be marked default; defaults are built in"))
	}
	if strings.HasPrefix(m.ID, DefaultIDPrefix) {
		add(invalid("id", "custom matcher IDs must not start with %q", DefaultIDPrefix))
	}
	add(validateText("name", m.Name, MaxNameLen))
	add(m.Classification.Validate())
	add(m.Target.Validate())
	add(m.Mode.Validate())
	if len(m.Patterns) == 0 && len(m.Synonyms) == 0 {
		add(invalid("patterns", "a matcher needs at least one pattern or synonym"))
	}
	if len(m.Patterns) > MaxPatterns {
		add(invalid("patterns", "has %d patterns; the limit is %d", len(m.Patterns), MaxPatterns))
	} else {
		for i, p := range m.Patterns {
			_, err := compilePattern(fmt.Sprintf("patterns[%d]", i), p)
			add(err)
		}
	}
	if len(m.Synonyms) > MaxSynonyms {
		add(invalid("synonyms", "has %d synonyms; the limit is %d", len(m.Synonyms), MaxSynonyms))
	} else {
		for i, s := range m.Synonyms {
			add(validateText(fmt.Sprintf("synonyms[%d]", i), s, MaxSynonymLen))
		}
	}
	return joinInvalid(errs)
}

// joinInvalid returns nil, the one error, or all of them joined.
func joinInvalid(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return joined(errs)
}

// joined is errors.Join without the copy, with a message that reads as a list.
type joined []error

func (j joined) Error() string {
	var b strings.Builder
	for i, err := range j {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(err.Error())
	}
	return b.String()
}

func (j joined) Unwrap() []error { return j }

// validateText checks a name or synonym: present, not too long, printable,
// no surrounding whitespace, and containing something to match on.
func validateText(field, s string, maxLen int) error {
	switch n := utf8.RuneCountInString(s); {
	case strings.TrimSpace(s) == "":
		return invalid(field, "is required")
	case !utf8.ValidString(s):
		return invalid(field, "is not valid UTF-8")
	case n > maxLen:
		return invalid(field, "is %d characters long; the limit is %d", n, maxLen)
	case strings.TrimSpace(s) != s:
		return invalid(field, "must not start or end with whitespace")
	}
	hasWord := false
	for _, r := range s {
		if !unicode.IsGraphic(r) {
			return invalid(field, "contains the non-printable character %U", r)
		}
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			hasWord = true
		}
	}
	if !hasWord {
		return invalid(field, "needs at least one letter or digit to match on")
	}
	return nil
}

// compilePattern compiles one matcher pattern under the limits of Validate.
func compilePattern(field, p string) (*regexp.Regexp, error) {
	switch {
	case p == "":
		return nil, invalid(field, "is empty; remove it or write a regular expression")
	case len(p) > MaxPatternLen:
		return nil, invalid(field, "is %d bytes long; the limit is %d", len(p), MaxPatternLen)
	}
	// regexp.Compile parses the pattern the same way; parsing it here first
	// gives the *syntax.Error that says what is wrong (Code) and quotes the
	// broken part of the pattern (Expr), the caller's own configuration,
	// never event data.
	if _, err := syntax.Parse(p, syntax.Perl); err != nil {
		var se *syntax.Error
		if !errors.As(err, &se) {
			return nil, invalid(field, "is not a valid Go regular expression")
		}
		return nil, invalid(field, "is not a valid Go regular expression: %s: `%s`", se.Code, se.Expr)
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return nil, invalid(field, "is not a valid Go regular expression")
	}
	if re.MatchString("") {
		return nil, invalid(field, "%q matches the empty string and so every field; make it require at least one character", clip(p))
	}
	return re, nil
}

// CheckMatcherCount returns nil when a workspace that already has existing
// custom matchers may add one more, and ErrTooManyMatchers (wrapped, naming
// the count) when it already has MaxCustomMatchers or more. Stores call it
// before creating a matcher and enforce the same bound in their conditional
// write, so that two concurrent creates cannot both pass.
func CheckMatcherCount(existing int) error {
	if existing >= MaxCustomMatchers {
		return fmt.Errorf("workspace has %d custom matchers: %w", existing, ErrTooManyMatchers)
	}
	return nil
}

// CheckEditable returns ErrDefaultMatcher when id names a built-in matcher,
// which may be neither edited nor deleted, and nil otherwise.
func CheckEditable(id string) error {
	if IsDefaultID(id) {
		return fmt.Errorf("matcher %s: %w", clip(id), ErrDefaultMatcher)
	}
	return nil
}

// IsDefaultID reports whether id belongs to the built-in matchers' ID space.
func IsDefaultID(id string) bool { return strings.HasPrefix(id, DefaultIDPrefix) }
