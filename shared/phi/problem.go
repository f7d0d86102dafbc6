package phi

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Problem is one broken rule of a request, listed in an EINVALID error's details.
type Problem struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// Invalid returns nil for no problems, and otherwise an EINVALID error whose message names the
// first problem and whose details list them all.
func Invalid(problems []Problem) error {
	if len(problems) == 0 {
		return nil
	}
	msg := fmt.Sprintf("%s: %s", problems[0].Field, problems[0].Reason)
	if len(problems) > 1 {
		msg += fmt.Sprintf(" (and %d more problems, see details)", len(problems)-1)
	}
	return Errorf(EINVALID, "%s", msg).WithDetails(problems)
}

// InvalidField returns an EINVALID error for one field, the message "field: reason".
func InvalidField(field, format string, args ...any) error {
	return Invalid([]Problem{{Field: field, Reason: fmt.Sprintf(format, args...)}})
}

// MaxNameLen is the longest name of a workspace, token, source or destination, in characters.
const MaxNameLen = 100

// CheckName returns the problems of s as the name in field: required, valid UTF-8, at most
// MaxNameLen characters, no leading or trailing white space, printable characters only.
func CheckName(field, s string) []Problem {
	n := utf8.RuneCountInString(s)
	switch {
	case strings.TrimSpace(s) == "":
		return []Problem{{field, "is required"}}
	case !utf8.ValidString(s):
		return []Problem{{field, "is not valid UTF-8"}}
	case n > MaxNameLen:
		return []Problem{{field, fmt.Sprintf("is %d characters long; the limit is %d", n, MaxNameLen)}}
	case strings.TrimSpace(s) != s:
		return []Problem{{field, "must not start or end with whitespace"}}
	}
	for _, r := range s {
		if refusedInName(r) {
			return []Problem{{field, fmt.Sprintf("contains the non-printable character %U", r)}}
		}
	}
	return nil
}

// refusedInName reports whether a name may not hold r anywhere: control characters, the Basic
// Multilingual Plane's format characters (bidirectional overrides and zero-width characters,
// which make one name look like another) and the line and paragraph separators. Format
// characters beyond it are allowed: the tag characters spell flag emoji.
func refusedInName(r rune) bool {
	return unicode.In(r, unicode.Cc, unicode.Zl, unicode.Zp) || (r <= 0xFFFF && unicode.Is(unicode.Cf, r))
}

// NamePattern returns CheckName's rule as an ECMA-262 regular expression, the pattern of every
// name in the OpenAPI document: no refused character, and no white space (unicode.IsSpace, what
// strings.TrimSpace removes) at either end. Its length limit is MaxNameLen, a separate maxLength.
func NamePattern() string {
	refused := charClass(refusedInName)
	edge := charClass(func(r rune) bool { return refusedInName(r) || unicode.IsSpace(r) })
	return "^[^" + edge + "]([^" + refused + "]*[^" + edge + "])?$"
}

// charClass returns the ranges of the Basic Multilingual Plane's runes for which in holds, as
// the inside of a regular-expression character class with \u escapes. Every rune NamePattern
// excludes is in that plane.
func charClass(in func(rune) bool) string {
	var b strings.Builder
	for r := rune(0); r <= 0xFFFF; r++ {
		if !in(r) {
			continue
		}
		lo := r
		for r+1 <= 0xFFFF && in(r+1) {
			r++
		}
		fmt.Fprintf(&b, "\\u%04x", lo)
		if r > lo {
			fmt.Fprintf(&b, "-\\u%04x", r)
		}
	}
	return b.String()
}
