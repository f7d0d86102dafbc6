package privacy

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// TestPrefilterNeverHidesAMatch checks the literal prefilter against the
// regexp alone: for every default pattern and a set of custom-style patterns,
// on keys built from the patterns' own words and on random text, the filtered
// match must equal the plain regexp match.
func TestPrefilterNeverHidesAMatch(t *testing.T) {
	sources := []string{
		`^mrn\b`, `(?i)patient`, `a+b`, `(?:ab|cd)e{2,3}`, `x(?:y|z)*w`, `^\d{3}-\d{2}$`, `[a-c]at`,
		`foo|`, `\Qa.b\E`, `(a|b)+c`, `(?:alpha|beta)?gamma`, `ab\b|cd`,
	}
	var corpus []string
	for _, m := range defaultMatchers {
		sources = append(sources, m.Patterns...)
		corpus = append(corpus, m.Name)
		corpus = append(corpus, m.Synonyms...)
	}
	corpus = append(corpus, "page title", "user email", "e mail", "icd 10", "i pv 6", "zip 4", "alphagamma",
		"gamma", "abab c", "mrn 1", "PATIENT id", "123-45", "cat", "bat", "xyzw", "abeee", "cdee", "a.b", "ab")
	words := strings.Fields(strings.Join(corpus, " "))
	rng := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		var b strings.Builder
		for n := rng.IntN(4) + 1; n > 0; n-- {
			if b.Len() > 0 {
				b.WriteString([]string{" ", "_", "", "-"}[rng.IntN(4)])
			}
			w := words[rng.IntN(len(words))]
			if rng.IntN(3) == 0 && len(w) > 2 {
				i := rng.IntN(len(w) - 1)
				w = w[:i] + w[i+1:] // drop a letter: near misses
			}
			b.WriteString(w)
		}
		corpus = append(corpus, b.String())
	}
	filtered := 0
	for _, src := range sources {
		re, err := regexp.Compile(src)
		if err != nil {
			t.Fatalf("compile %q: %v", src, err)
		}
		p := newPattern(re)
		if p.filtered {
			filtered++
		}
		for _, s := range corpus {
			want := re.MatchString(s)
			if got := p.matchString(s); got != want {
				t.Errorf("pattern %q on %q: matchString = %v, regexp = %v (literals %q)", src, s, got, want, p.lits)
			}
			if got := p.match([]byte(s)); got != want {
				t.Errorf("pattern %q on %q: match = %v, regexp = %v (literals %q)", src, s, got, want, p.lits)
			}
		}
	}
	// The filter must actually engage, or the test proves nothing.
	if filtered < len(sources)/2 {
		t.Errorf("only %d of %d patterns have a literal filter", filtered, len(sources))
	}
}

func TestRequiredLiterals(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string // literals joined by "|"; "-" for no filter
	}{
		{name: "a word between boundaries needs the word", src: `\bemail\b`, want: "email"},
		{name: "an alternation needs one of its words", src: `\b(?:cvv|cvc)\b`, want: "cv"},
		{name: "a concatenation uses its most selective part", src: `\bzip ?4\b`, want: "zip"},
		{name: "a case-insensitive literal has no filter", src: `(?i)email`, want: "-"},
		{name: "an optional word has no filter", src: `(?:email)?`, want: "-"},
		{name: "a character class alone has no filter", src: `[0-9]+`, want: "-"},
		{name: "a plus needs its operand", src: `(?:ab)+`, want: "ab"},
		{name: "a repeat of at least one needs its operand", src: `(?:xy){2,3}`, want: "xy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPattern(regexp.MustCompile(tt.src))
			got := "-"
			if p.filtered {
				got = strings.Join(p.lits, "|")
			}
			if got != tt.want {
				t.Errorf("literals of %q = %q, want %q", tt.src, got, tt.want)
			}
		})
	}
}
