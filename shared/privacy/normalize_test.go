package privacy_test

import (
	"math"
	"testing"

	"github.com/phiguard/phiguard/shared/privacy"
)

func TestNormalizeKey(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "camelCase splits into words", in: "firstName", want: "first name"},
		{name: "snake_case splits into words", in: "first_name", want: "first name"},
		{name: "kebab-case splits into words", in: "First-Name", want: "first name"},
		{name: "dots split into words", in: "first.name", want: "first name"},
		{name: "spaces collapse", in: "  first   name ", want: "first name"},
		{name: "an acronym ends before the next word", in: "SSNNumber", want: "ssn number"},
		{name: "an acronym in the middle is one word", in: "userIPAddress", want: "user ip address"},
		{name: "PascalCase splits into words", in: "SocialSecurityNumber", want: "social security number"},
		{name: "digits are their own word", in: "address2", want: "address 2"},
		{name: "a leading dollar sign is dropped", in: "$email", want: "email"},
		{name: "non-ASCII letters are lower-cased", in: "PrénomÉlève", want: "prénom élève"},
		{name: "a key without letters or digits is empty", in: "__--", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := privacy.NormalizeKey(tt.in); got != tt.want {
				t.Errorf("NormalizeKey(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestDice(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want float64
	}{
		// Reference value from the Sørensen–Dice literature (Wikibooks,
		// "Algorithm Implementation/Strings/Dice's coefficient").
		{name: "night and nacht share one bigram of four each", a: "night", b: "nacht", want: 0.25},
		// string-similarity's documented example compareTwoStrings("healed", "sealed").
		{name: "healed and sealed share four bigrams of five", a: "healed", b: "sealed", want: 0.8},
		{name: "repeated bigrams count as a multiset, not a set", a: "aaaa", b: "aa", want: 0.5},
		{name: "a repeated bigram matches only as often as it occurs in both", a: "abab", b: "ab", want: 0.5},
		{name: "strings without common bigrams score zero", a: "french", b: "quebec", want: 0},
		{name: "identical strings score one", a: "france", b: "france", want: 1},
		{name: "spellings of one key score one", a: "firstName", b: "first_name", want: 1},
		{name: "identical one-letter strings score one", a: "a", b: "A", want: 1},
		{name: "different one-letter strings score zero", a: "a", b: "b", want: 0},
		{name: "empty strings score zero", a: "", b: "", want: 0},
		{name: "medical_rx against medical record is exactly 0.7", a: "medical_rx", b: "medical record", want: 0.7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := privacy.Dice(tt.a, tt.b)
			if math.Abs(got-tt.want) > 1e-12 {
				t.Errorf("Dice(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
			if back := privacy.Dice(tt.b, tt.a); back != got {
				t.Errorf("Dice is not symmetric: %v and %v", got, back)
			}
		})
	}
}

func TestSimilarIsStrictlyAboveThreshold(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		// 10 bigrams each, 7 shared: 2·7/20 = 0.7 exactly.
		{name: "a coefficient of exactly 0.7 is not similar", a: "abcdefghijk", b: "abcdefghxyz", want: false},
		{name: "exactly 0.7 between real words is not similar", a: "medical_rx", b: "medical record", want: false},
		// 8 of 10 shared: 0.8.
		{name: "a coefficient of 0.8 is similar", a: "abcdefghijk", b: "abcdefghiyz", want: true},
		{name: "a misspelling is similar", a: "adress", b: "address", want: true},
		{name: "spellings of one key are similar", a: "emailAddress", b: "email_address", want: true},
		{name: "unrelated words are not similar", a: "revenue", b: "address", want: false},
		{name: "race and trace are similar, which is why defaults match exactly", a: "race", b: "trace", want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := privacy.Similar(tt.a, tt.b); got != tt.want {
				t.Errorf("Similar(%q, %q) = %v (Dice %v), want %v", tt.a, tt.b, got, privacy.Dice(tt.a, tt.b), tt.want)
			}
		})
	}
}
