package privacy

import (
	"bytes"
	"regexp"
	"regexp/syntax"
	"strings"
)

// pattern is a compiled regexp with a cheap prefilter: a set of literal
// strings at least one of which every match must contain. A key that contains
// none of them cannot match, so the regexp is not run. Go's regexp engine
// costs about a microsecond per pattern on a short key when the pattern
// starts with \b (no literal prefix to search for); the filter makes the
// usual case — a key that matches nothing — a handful of substring searches.
type pattern struct {
	re       *regexp.Regexp
	filtered bool // false: no usable literals, always run re
	lits     []string
	litBytes [][]byte
}

func newPattern(re *regexp.Regexp) pattern {
	p := pattern{re: re}
	parsed, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil {
		return p // unreachable: re compiled from the same text
	}
	lits, ok := requiredLiterals(parsed)
	if !ok {
		return p
	}
	p.filtered = true
	p.lits = lits
	for _, l := range lits {
		p.litBytes = append(p.litBytes, []byte(l))
	}
	return p
}

// match reports whether the pattern matches b.
func (p *pattern) match(b []byte) bool {
	if p.filtered {
		found := false
		for _, l := range p.litBytes {
			if bytes.Contains(b, l) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return p.re.Match(b)
}

// matchString reports whether the pattern matches s.
func (p *pattern) matchString(s string) bool {
	if p.filtered {
		found := false
		for _, l := range p.lits {
			if strings.Contains(s, l) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return p.re.MatchString(s)
}

// maxLiterals bounds the literal set; past it the filter costs more than it saves.
const maxLiterals = 64

// requiredLiterals returns a set of non-empty literal strings at least one of
// which occurs in every match of re, and true; or false when it cannot name
// such a set (a case-insensitive literal, a character class, a part that can
// match the empty string). An empty set with true means re never matches.
func requiredLiterals(re *syntax.Regexp) ([]string, bool) {
	switch re.Op {
	case syntax.OpNoMatch:
		return nil, true
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 || len(re.Rune) == 0 {
			return nil, false
		}
		return []string{string(re.Rune)}, true
	case syntax.OpCapture, syntax.OpPlus:
		return requiredLiterals(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min < 1 {
			return nil, false
		}
		return requiredLiterals(re.Sub[0])
	case syntax.OpConcat:
		// Every match contains a match of every part; use the part whose
		// literals are most selective (longest shortest literal).
		var best []string
		bestLen := 0
		for _, sub := range re.Sub {
			lits, ok := requiredLiterals(sub)
			if !ok {
				continue
			}
			if len(lits) == 0 {
				return nil, true
			}
			if n := shortest(lits); n > bestLen {
				best, bestLen = lits, n
			}
		}
		return best, best != nil
	case syntax.OpAlternate:
		var all []string
		for _, sub := range re.Sub {
			lits, ok := requiredLiterals(sub)
			if !ok {
				return nil, false
			}
			all = append(all, lits...)
		}
		if len(all) > maxLiterals {
			return nil, false
		}
		return all, true
	}
	return nil, false
}

func shortest(lits []string) int {
	n := len(lits[0])
	for _, l := range lits[1:] {
		n = min(n, len(l))
	}
	return n
}
