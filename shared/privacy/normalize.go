package privacy

import (
	"slices"
	"unicode"
	"unicode/utf8"
)

// SimilarityThreshold is the Dice coefficient a similar-mode matcher needs to
// exceed — strictly — to fire. A coefficient of exactly 0.7 does not match.
const SimilarityThreshold = 0.7

// NormalizeKey returns s as lower-case words separated by single spaces,
// splitting at camelCase humps, at letter/digit boundaries and at every rune
// that is neither a letter nor a digit (underscore, hyphen, dot, space, $…).
// "firstName", "first_name", "First-Name" and "first name" all become
// "first name"; "SSNNumber" becomes "ssn number"; "address2" becomes
// "address 2". It returns "" when s has no letters or digits.
//
// Key patterns are matched against this form as well as the key as written.
func NormalizeKey(s string) string {
	var buf [128]byte
	return string(appendNormalized(buf[:0], s, true))
}

// appendNormalized appends the normalized form of s to dst. With spaces false
// it appends the compact form: the same words with no separator at all, which
// exact and similar matching compare, so that "e_mail", "E-Mail" and "email"
// are one spelling.
func appendNormalized(dst []byte, s string, spaces bool) []byte {
	const (
		none = iota
		lower
		upper
		digit
	)
	start := len(dst)
	prev := none
	pendingBreak := false
	for i, r := range s {
		kind := none
		switch {
		case r < utf8.RuneSelf:
			switch {
			case 'a' <= r && r <= 'z':
				kind = lower
			case 'A' <= r && r <= 'Z':
				kind = upper
			case '0' <= r && r <= '9':
				kind = digit
			}
		case unicode.IsUpper(r) || unicode.IsTitle(r):
			kind = upper
		case unicode.IsLetter(r):
			kind = lower
		case unicode.IsDigit(r):
			kind = digit
		}
		if kind == none {
			pendingBreak = true
			prev = none
			continue
		}
		brk := pendingBreak
		switch {
		case prev == lower && kind == upper,
			prev == digit && kind != digit,
			prev != digit && prev != none && kind == digit:
			brk = true
		case prev == upper && kind == upper:
			// An acronym ends where its last capital starts a new word:
			// "SSNNumber" -> "ssn number".
			next, _ := utf8.DecodeRuneInString(s[i+utf8.RuneLen(r):])
			if unicode.IsLower(next) {
				brk = true
			}
		}
		if brk && spaces && len(dst) > start {
			dst = append(dst, ' ')
		}
		pendingBreak = false
		prev = kind
		if r < utf8.RuneSelf {
			if kind == upper {
				r += 'a' - 'A'
			}
			dst = append(dst, byte(r))
		} else {
			dst = utf8.AppendRune(dst, unicode.ToLower(r))
		}
	}
	return dst
}

// bigram packs two runes into one comparable value.
func bigram(a, b rune) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// appendBigrams appends the bigrams of s (len(runes)-1 of them, duplicates
// kept) to dst and sorts the appended part, so that two such slices can be
// intersected as multisets with one merge pass.
func appendBigrams(dst []uint64, s []byte) []uint64 {
	start := len(dst)
	prev, size := utf8.DecodeRune(s)
	for i := size; i < len(s); i += size {
		var r rune
		r, size = utf8.DecodeRune(s[i:])
		dst = append(dst, bigram(prev, r))
		prev = r
	}
	slices.Sort(dst[start:])
	return dst
}

// commonBigrams returns the size of the multiset intersection of two sorted
// bigram slices: each bigram counts min(times in a, times in b).
func commonBigrams(a, b []uint64) int {
	n, i, j := 0, 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			n++
			i++
			j++
		case a[i] < b[j]:
			i++
		default:
			j++
		}
	}
	return n
}

// similarBigrams reports whether the Dice coefficient of two sorted bigram
// multisets is strictly above SimilarityThreshold. It compares integers —
// 2c/(|a|+|b|) > 7/10 ⇔ 20c > 7(|a|+|b|) — so a coefficient of exactly 0.7 is
// never pushed over the edge by floating-point rounding.
func similarBigrams(a, b []uint64) bool {
	total := len(a) + len(b)
	if total == 0 {
		return false
	}
	// The coefficient cannot exceed 2·min/total; skip the merge when even
	// that bound is too low.
	if 20*min(len(a), len(b)) <= 7*total {
		return false
	}
	return 20*commonBigrams(a, b) > 7*total
}

// Dice returns the Sørensen–Dice coefficient of a and b over character
// bigrams, the similarity that similar-mode matchers use. Exactly:
//
//  1. Both strings are reduced to their compact normalized form: NormalizeKey
//     without the spaces ("First_Name" -> "firstname").
//  2. B(s) is the multiset of the len(s)-1 pairs of adjacent runes of s;
//     a bigram that occurs twice counts twice.
//  3. Dice(a, b) = 2·|B(a) ∩ B(b)| / (|B(a)| + |B(b)|), where ∩ is the multiset
//     intersection (each bigram counted min(times in a, times in b)).
//  4. If the compact forms are equal and non-empty, the result is 1 (this also
//     covers one-rune strings, which have no bigrams). Otherwise, if neither
//     has a bigram, the result is 0.
//
// For example Dice("night", "nacht") = 2·1/(4+4) = 0.25 and
// Dice("aaaa", "aa") = 2·1/(3+1) = 0.5. The result is in [0, 1]; Dice never
// fails.
func Dice(a, b string) float64 {
	var abuf, bbuf [64]byte
	ca := appendNormalized(abuf[:0], a, false)
	cb := appendNormalized(bbuf[:0], b, false)
	if len(ca) > 0 && string(ca) == string(cb) {
		return 1
	}
	var agrams, bgrams [64]uint64
	ga := appendBigrams(agrams[:0], ca)
	gb := appendBigrams(bgrams[:0], cb)
	if len(ga)+len(gb) == 0 {
		return 0
	}
	return 2 * float64(commonBigrams(ga, gb)) / float64(len(ga)+len(gb))
}

// Similar reports whether Dice(a, b) is strictly greater than
// SimilarityThreshold, computed without floating-point rounding.
func Similar(a, b string) bool {
	var abuf, bbuf [64]byte
	ca := appendNormalized(abuf[:0], a, false)
	cb := appendNormalized(bbuf[:0], b, false)
	if len(ca) > 0 && string(ca) == string(cb) {
		return true
	}
	var agrams, bgrams [64]uint64
	return similarBigrams(appendBigrams(agrams[:0], ca), appendBigrams(bgrams[:0], cb))
}
