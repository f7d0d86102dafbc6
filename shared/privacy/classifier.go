package privacy

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// MaxValueLen is the longest value, in bytes, that value matchers look at.
// Longer values are not value-matched at all (key matchers still run): the
// shapes value matchers recognise — emails, card numbers, addresses — are
// short, and the pipeline must not spend time on blobs.
const MaxValueLen = 4096

// maxTermValueLen bounds the values compared with synonyms: no value longer
// than this can normalize to a synonym of at most MaxSynonymLen characters
// (a character is at most 4 bytes), so the work is skipped.
const maxTermValueLen = 4 * MaxSynonymLen

// Recommendation is what Classifier.Recommend suggests for a field: the
// classification, and the matcher that fired (empty when none did). It never
// holds a field value.
type Recommendation struct {
	Classification Classification `json:"classification"`
	MatcherID      string         `json:"matcherId,omitempty"`
	MatcherName    string         `json:"matcherName,omitempty"`
}

// Classifier recommends classifications with one workspace's matchers: its
// custom matchers, then the defaults that no custom matcher overrides.
// Build it once with NewClassifier (it compiles every pattern) and reuse it;
// it is safe for concurrent use and Recommend does not allocate for keys that
// fit its scratch buffers.
type Classifier struct {
	matchers []compiled // custom first, then defaults
	custom   int        // matchers[:custom] are custom

	keyTerms, valueTerms       map[string][]int32 // compact term -> exact-mode matchers
	keySimilar, valueSimilar   []similarTerm
	keyPatterns, valuePatterns []int32 // matchers that have patterns, by target
}

type compiled struct {
	Matcher
	// pats holds the matcher's patterns as one alternation when they
	// combine cleanly, or one by one otherwise.
	pats []pattern
}

type similarTerm struct {
	matcher int32
	compact string
	grams   []uint64
}

// How convincingly a matcher fired; among matchers of one group and one
// classification the strongest is reported.
const (
	strengthSimilar = 1 + iota
	strengthPattern
	strengthExact
)

type hit struct {
	idx      int32 // -1: nothing fired
	strength int
}

// NewClassifier validates and compiles a workspace's custom matchers together
// with the defaults. A default is left out when a custom matcher has the same
// name (SameName). It returns an error wrapping ErrTooManyMatchers when there
// are more than MaxCustomMatchers, and one wrapping the *InvalidError values
// of the first invalid matcher (naming its position) otherwise; it never
// returns a partial Classifier. Custom matchers are evaluated in the order
// given, which breaks ties, so pass a stable order (by ID or creation time).
func NewClassifier(custom []Matcher) (*Classifier, error) {
	if len(custom) > MaxCustomMatchers {
		return nil, fmt.Errorf("compile %d custom matchers: %w", len(custom), ErrTooManyMatchers)
	}
	overridden := make(map[string]bool, len(custom))
	for i, m := range custom {
		if err := m.Validate(); err != nil {
			return nil, fmt.Errorf("custom matcher %d (%q): %w", i, clip(m.Name), err)
		}
		overridden[nameKey(m.Name)] = true
	}
	c := &Classifier{
		custom:     len(custom),
		keyTerms:   make(map[string][]int32),
		valueTerms: make(map[string][]int32),
	}
	all := make([]Matcher, 0, len(custom)+len(defaultMatchers))
	all = append(all, custom...)
	for _, d := range defaultMatchers {
		if !overridden[nameKey(d.Name)] {
			all = append(all, d)
		}
	}
	for i, m := range all {
		res, err := compileAll(m.Patterns)
		if err != nil {
			return nil, fmt.Errorf("matcher %s (%q): %w", clip(m.ID), clip(m.Name), err)
		}
		pats := make([]pattern, len(res))
		for j, re := range res {
			pats[j] = newPattern(re)
		}
		m.Patterns = append([]string(nil), m.Patterns...)
		m.Synonyms = append([]string(nil), m.Synonyms...)
		c.matchers = append(c.matchers, compiled{Matcher: m, pats: pats})
		c.index(int32(i), m)
	}
	return c, nil
}

// index files matcher i under the lookups Recommend uses.
func (c *Classifier) index(i int32, m Matcher) {
	terms := m.Synonyms
	if m.Target == TargetKey {
		terms = append([]string{m.Name}, terms...)
	}
	exact, similar, patterns := c.keyTerms, &c.keySimilar, &c.keyPatterns
	if m.Target == TargetValue {
		exact, similar, patterns = c.valueTerms, &c.valueSimilar, &c.valuePatterns
	}
	seen := make(map[string]bool, len(terms))
	for _, t := range terms {
		compact := string(appendNormalized(nil, t, false))
		if compact == "" || seen[compact] {
			continue
		}
		seen[compact] = true
		if m.Mode == ModeSimilar {
			*similar = append(*similar, similarTerm{
				matcher: i,
				compact: compact,
				grams:   appendBigrams(nil, []byte(compact)),
			})
		} else {
			exact[compact] = append(exact[compact], i)
		}
	}
	if len(m.Patterns) > 0 {
		*patterns = append(*patterns, i)
	}
}

// compileAll compiles patterns as one alternation, falling back to one
// regexp each when the alternation does not compile (a pattern with an
// unterminated \Q quotes the rest of the combined text).
func compileAll(patterns []string) ([]*regexp.Regexp, error) {
	if len(patterns) == 0 {
		return nil, nil
	}
	if len(patterns) > 1 {
		var b strings.Builder
		for i, p := range patterns {
			if i > 0 {
				b.WriteByte('|')
			}
			b.WriteString("(?:")
			b.WriteString(p)
			b.WriteByte(')')
		}
		if re, err := regexp.Compile(b.String()); err == nil {
			return []*regexp.Regexp{re}, nil
		}
	}
	res := make([]*regexp.Regexp, len(patterns))
	for i, p := range patterns {
		re, err := compilePattern(fmt.Sprintf("patterns[%d]", i), p)
		if err != nil {
			return nil, err
		}
		res[i] = re
	}
	return res, nil
}

// Matchers returns the matchers c evaluates, in order: custom matchers, then
// the defaults they do not override. The slice is a fresh copy.
func (c *Classifier) Matchers() []Matcher {
	out := make([]Matcher, len(c.matchers))
	for i, m := range c.matchers {
		m.Patterns = append([]string(nil), m.Patterns...)
		m.Synonyms = append([]string(nil), m.Synonyms...)
		out[i] = m.Matcher
	}
	return out
}

// Recommend returns the recommended classification of the field at path from
// its key alone (FieldPath.Key), and whether a matcher fired. Rules:
//
//   - Custom matchers win over defaults: if any custom matcher fires, only
//     custom matchers are considered.
//   - Among those considered, red beats yellow beats green; then an exact
//     term beats a pattern beats a similar term; then the earlier matcher.
//   - If nothing fires the result is Green with no matcher, and false.
//
// Value matchers do not run. Recommend does not validate path (an invalid
// path is still handled safely) and never fails.
func (c *Classifier) Recommend(path FieldPath) (Recommendation, bool) {
	s := getScratch()
	defer putScratch(s)
	best := hit{idx: -1}
	c.matchKey(path.Key(), s, &best)
	return c.result(best)
}

// RecommendValue is Recommend with value matchers too, run on value, the
// field's value rendered as text (numbers and booleans as in JSON). Only the
// pipeline may call it, on the event it holds in memory: values are never
// recorded, so this is the only place value matchers can ever run. Values
// longer than MaxValueLen bytes are judged by their key alone. Neither the
// result nor anything else keeps value.
func (c *Classifier) RecommendValue(path FieldPath, value string) (Recommendation, bool) {
	s := getScratch()
	defer putScratch(s)
	best := hit{idx: -1}
	c.matchKey(path.Key(), s, &best)
	if len(value) <= MaxValueLen {
		c.matchValue(value, s, &best)
	}
	return c.result(best)
}

// RecommendByValue is RecommendValue for a field whose key no matcher fires on: the value
// matchers alone, with the same rules, on value (numbers and booleans as in JSON). It exists for
// the pipeline, which judges keys once per path and values per event; values longer than
// MaxValueLen bytes match nothing. Neither the result nor anything else keeps value.
func (c *Classifier) RecommendByValue(value string) (Recommendation, bool) {
	best := hit{idx: -1}
	if len(value) <= MaxValueLen && (len(c.valueTerms) > 0 || len(c.valueSimilar) > 0 || len(c.valuePatterns) > 0) {
		s := getScratch()
		c.matchValue(value, s, &best)
		putScratch(s)
	}
	return c.result(best)
}

func (c *Classifier) result(best hit) (Recommendation, bool) {
	if best.idx < 0 {
		return Recommendation{Classification: Green}, false
	}
	m := &c.matchers[best.idx]
	return Recommendation{Classification: m.Classification, MatcherID: m.ID, MatcherName: m.Name}, true
}

// beats reports whether matcher idx firing with strength would replace best.
func (c *Classifier) beats(idx int32, strength int, best hit) bool {
	if best.idx < 0 {
		return true
	}
	custom, bestCustom := int(idx) < c.custom, int(best.idx) < c.custom
	if custom != bestCustom {
		return custom
	}
	r, br := c.matchers[idx].Classification.rank(), c.matchers[best.idx].Classification.rank()
	if r != br {
		return r > br
	}
	if strength != best.strength {
		return strength > best.strength
	}
	return idx < best.idx
}

func (c *Classifier) consider(idx int32, strength int, best *hit) {
	if c.beats(idx, strength, *best) {
		*best = hit{idx: idx, strength: strength}
	}
}

func (c *Classifier) matchKey(key string, s *scratch, best *hit) {
	s.words = appendNormalized(s.words[:0], key, true)
	s.compact = appendNormalized(s.compact[:0], key, false)
	c.matchTerms(s, c.keyTerms, c.keySimilar, best)
	rawDiffers := string(s.words) != key
	for _, idx := range c.keyPatterns {
		if !c.beats(idx, strengthPattern, *best) {
			continue
		}
		pats := c.matchers[idx].pats
		for j := range pats {
			if pats[j].match(s.words) || (rawDiffers && pats[j].matchString(key)) {
				c.consider(idx, strengthPattern, best)
				break
			}
		}
	}
}

func (c *Classifier) matchValue(value string, s *scratch, best *hit) {
	if len(value) <= maxTermValueLen {
		s.compact = appendNormalized(s.compact[:0], value, false)
		c.matchTerms(s, c.valueTerms, c.valueSimilar, best)
	}
	for _, idx := range c.valuePatterns {
		if !c.beats(idx, strengthPattern, *best) {
			continue
		}
		m := &c.matchers[idx]
		for j := range m.pats {
			if m.pats[j].matchString(value) && (m.check == nil || m.check(value)) {
				c.consider(idx, strengthPattern, best)
				break
			}
		}
	}
}

// matchTerms looks s.compact up among exact terms and compares it with
// similar terms.
func (c *Classifier) matchTerms(s *scratch, exact map[string][]int32, similar []similarTerm, best *hit) {
	if len(s.compact) == 0 {
		return
	}
	for _, idx := range exact[string(s.compact)] {
		c.consider(idx, strengthExact, best)
	}
	if len(similar) == 0 {
		return
	}
	s.grams = appendBigrams(s.grams[:0], s.compact)
	for _, t := range similar {
		switch {
		case t.compact == string(s.compact):
			c.consider(t.matcher, strengthExact, best)
		case c.beats(t.matcher, strengthSimilar, *best) && similarBigrams(s.grams, t.grams):
			c.consider(t.matcher, strengthSimilar, best)
		}
	}
}

// scratch holds the buffers one Recommend call works in; they are pooled so
// that the pipeline's calls do not allocate.
type scratch struct {
	words, compact []byte
	grams          []uint64
}

var scratchPool = sync.Pool{New: func() any {
	return &scratch{
		words:   make([]byte, 0, 256),
		compact: make([]byte, 0, 256),
		grams:   make([]uint64, 0, 256),
	}
}}

func getScratch() *scratch { return scratchPool.Get().(*scratch) }

func putScratch(s *scratch) {
	// Do not keep a buffer that one huge input grew.
	const maxKeep = 8 << 10
	if cap(s.words) > maxKeep || cap(s.compact) > maxKeep || cap(s.grams) > maxKeep {
		return
	}
	scratchPool.Put(s)
}

// SameName reports whether two matcher names are the same name: equal once
// normalized without spaces (see Dice), so "Social Security Number",
// "social_security_number" and "SocialSecurityNumber" are one name, and so
// are "Zip Code" and "zipcode". A custom matcher overrides the defaults it
// has the same name as; stores may use it to keep custom names unique.
func SameName(a, b string) bool {
	na := nameKey(a)
	return na != "" && na == nameKey(b)
}

// nameKey is the form in which matcher names are compared.
func nameKey(name string) string { return string(appendNormalized(nil, name, false)) }
