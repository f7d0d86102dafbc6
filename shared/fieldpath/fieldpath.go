// Package fieldpath is the one grammar of event field paths — "traits.email",
// "properties.products[].name", "userId" — shared by the Privacy Portal
// (classifications, inbox), destinations' hashing settings, the event transform
// and phictl. It depends on the standard library only.
//
// # Grammar
//
// A path is either one of the four identity fields of the Segment spec, alone —
// "userId", "anonymousId", "groupId" or "previousId" — or a root ("context",
// "traits" or "properties") followed by one or more keys, each introduced by a
// dot:
//
//	path     = identity | root 1*( "." segment )
//	segment  = key *( "[]" )
//	key      = 1*( char | "\" escaped )
//	escaped  = "." | "[" | "]" | "\" | DQUOTE
//
// "[]" after a key says the value there is an array and stands for every
// element ("properties.products[].name" is the name of each product; repeat it
// for nested arrays). A backslash escapes '.', '[', ']', '\' and '"' inside a
// key, so every key an event can carry that is not excluded below can be
// named: "traits.a\.b" is the key "a.b" under traits, "properties.x\[0\]" the
// key "x[0]", `traits.say\"hi\"` the key `say"hi"`. A backslash before any other
// character is an error. Roots and identity fields are written exactly as
// above, without escapes or "[]".
//
// A key (after unescaping) must be valid UTF-8 made of printable characters
// (unicode.IsGraphic: letters, marks, numbers, punctuation, symbols and spaces;
// no control or format characters) and must not start or end with white space.
// Event keys outside these rules (the empty key, " pad", keys with control
// characters) and paths longer than MaxLen bytes or MaxKeys keys cannot be
// named; see Addressable.
//
// Paths that contain no backslash parse exactly as before this grammar had
// escapes.
//
// # Case
//
// Configured paths are written as above, but protection matches event keys
// case-insensitively: an event key that differs only in case from a configured
// key (Unicode simple case folding, the semantics of strings.EqualFold) is the
// same field, so "Traits.Email" in an event is "traits.email". Fold and
// Path.Canonical give the one folded form used for that comparison.
package fieldpath

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The roots field paths live under, as in the Segment spec.
const (
	Context    = "context"
	Traits     = "traits"
	Properties = "properties"
)

// The identity fields: top-level event members a path can name on their own.
const (
	UserID      = "userId"
	AnonymousID = "anonymousId"
	GroupID     = "groupId"
	PreviousID  = "previousId"
)

var (
	roots      = [...]string{Context, Traits, Properties}
	identities = [...]string{UserID, AnonymousID, GroupID, PreviousID}
)

// Limits on a path, so that stored paths and DynamoDB sort keys stay small and
// the transform's recursion stays bounded.
const (
	// MaxLen is the longest path, in bytes as written (escapes included).
	MaxLen = 512
	// MaxKeys is the largest number of keys in a path, root included.
	MaxKeys = 32
)

// Roots returns the three roots, in the order context, traits, properties.
func Roots() []string { return roots[:] }

// Identities returns the four identity fields: userId, anonymousId, groupId,
// previousId.
func Identities() []string { return identities[:] }

// IsRoot reports whether s is exactly one of the roots.
func IsRoot(s string) bool {
	for _, r := range roots {
		if s == r {
			return true
		}
	}
	return false
}

// IsIdentity reports whether s is exactly one of the identity fields (so a
// path that is an identity field is one for which IsIdentity holds).
func IsIdentity(s string) bool {
	for _, r := range identities {
		if s == r {
			return true
		}
	}
	return false
}

// CanonicalTop returns the root or identity field that the top-level event key
// key stands for under the case rule ("Traits" → "traits", "USERID" →
// "userId"), or "" when it stands for none.
func CanonicalTop[S ~string | ~[]byte](key S) string {
	if len(key) < len("traits") || len(key) > 3*len("anonymousId") {
		return "" // folding can widen a character to 3 bytes (K, the Kelvin sign)
	}
	for _, r := range roots {
		if strings.EqualFold(string(key), r) {
			return r
		}
	}
	for _, r := range identities {
		if strings.EqualFold(string(key), r) {
			return r
		}
	}
	return ""
}

// Path is a parsed, valid field path. The zero Path is not valid; obtain one
// from Parse.
type Path struct {
	text string
	keys []string // unescaped, "[]" markers stripped; keys[0] is the root or identity field
	each bool     // the last key is followed by "[]"
}

// Parse parses s in the grammar of the package documentation. On failure it
// returns an *Error saying what is wrong.
func Parse(s string) (Path, error) {
	fail := func(pr Problem, seg int, text string, n int) (Path, error) {
		return Path{}, &Error{Path: s, Problem: pr, Segment: seg, Text: text, N: n}
	}
	switch {
	case s == "":
		return fail(Empty, 0, "", 0)
	case len(s) > MaxLen:
		return fail(TooLong, 0, "", len(s))
	case !utf8.ValidString(s):
		return fail(NotUTF8, 0, "", 0)
	}
	segs := split(s)
	if len(segs) > MaxKeys {
		return fail(TooDeep, 0, "", len(segs))
	}
	root := segs[0]
	switch {
	case IsIdentity(root):
		if len(segs) > 1 {
			return fail(IdentityAlone, 1, root, 0)
		}
		return Path{text: s, keys: []string{root}}, nil
	case IsRoot(root):
	default:
		r := strings.TrimRight(root, "[]")
		switch {
		case IsRoot(r):
			return fail(RootArray, 1, r, 0)
		case IsIdentity(r):
			return fail(IdentityAlone, 1, r, 0)
		}
		return fail(BadRoot, 1, root, 0)
	}
	if len(segs) == 1 {
		return fail(RootOnly, 1, root, 0)
	}
	if len(segs) == 2 && segs[1] == "" {
		return fail(TrailingDot, 2, "", 0)
	}
	p := Path{text: s, keys: make([]string, 1, len(segs))}
	p.keys[0] = root
	for i, seg := range segs[1:] {
		n := i + 2
		key, arrays, pr, r := parseSegment(seg)
		if pr != 0 {
			return fail(pr, n, seg, int(r))
		}
		p.keys = append(p.keys, key)
		p.each = arrays > 0
	}
	return p, nil
}

// split cuts s at every dot that is not escaped.
func split(s string) []string {
	var segs []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '.':
			segs = append(segs, s[start:i])
			start = i + 1
		}
	}
	return append(segs, s[start:])
}

// escapable are the characters a backslash escapes inside a key.
const escapable = `.[]\"`

// parseSegment unescapes one key segment and counts its "[]" markers, or names
// its problem (with the offending rune for NotPrintable).
func parseSegment(seg string) (key string, arrays int, pr Problem, bad rune) {
	if seg == "" {
		return "", 0, EmptyKey, 0
	}
	var b []byte // nil until an escape is seen: then the unescaped key
	end := len(seg)
loop:
	for i := 0; i < len(seg); {
		switch c := seg[i]; c {
		case '\\':
			if i+1 >= len(seg) || strings.IndexByte(escapable, seg[i+1]) < 0 {
				return "", 0, BadEscape, 0
			}
			if b == nil {
				b = append(make([]byte, 0, len(seg)), seg[:i]...)
			}
			b = append(b, seg[i+1])
			i += 2
		case '[':
			rest := seg[i:]
			if len(rest)%2 != 0 || strings.ReplaceAll(rest, "[]", "") != "" {
				return "", 0, BadBrackets, 0
			}
			arrays, end = len(rest)/2, i
			break loop
		case ']':
			return "", 0, BadBrackets, 0
		case '"':
			return "", 0, Quote, 0
		default:
			if b != nil {
				b = append(b, c)
			}
			i++
		}
	}
	if b != nil {
		key = string(b)
	} else {
		key = seg[:end]
	}
	if key == "" {
		return "", 0, NoKey, 0
	}
	for _, r := range key {
		if !unicode.IsGraphic(r) {
			return "", 0, NotPrintable, r
		}
	}
	if first, _ := utf8.DecodeRuneInString(key); unicode.IsSpace(first) {
		return "", 0, LeadingSpace, 0
	}
	if last, _ := utf8.DecodeLastRuneInString(key); unicode.IsSpace(last) {
		return "", 0, TrailingSpace, 0
	}
	return key, arrays, 0, 0
}

// String returns the path as it was written.
func (p Path) String() string { return p.text }

// Len returns the number of keys, root (or identity field) included.
func (p Path) Len() int { return len(p.keys) }

// Key returns key i (0 is the root or identity field), unescaped and without
// "[]" markers. It panics if i is out of range, like a slice index.
func (p Path) Key(i int) string { return p.keys[i] }

// Keys returns a fresh copy of the keys, unescaped, "[]" markers dropped.
func (p Path) Keys() []string { return append([]string(nil), p.keys...) }

// Root returns the first key: a root, or the identity field. It returns "" for
// the zero Path.
func (p Path) Root() string {
	if len(p.keys) == 0 {
		return ""
	}
	return p.keys[0]
}

// Last returns the last key, unescaped and without "[]" markers ("name" for
// "properties.products[].name"); "" for the zero Path.
func (p Path) Last() string {
	if len(p.keys) == 0 {
		return ""
	}
	return p.keys[len(p.keys)-1]
}

// Each reports whether the last key is followed by "[]": the value there is an
// array whose elements are meant one by one.
func (p Path) Each() bool { return p.each }

// Identity reports whether p is one of the identity fields.
func (p Path) Identity() bool { return len(p.keys) == 1 }

// Canonical returns the form in which two paths are compared: the keys folded
// (Fold), "[]" markers dropped (arrays are transparent), joined with NUL. Two
// paths select the same event field exactly when their canonical forms are
// equal.
func (p Path) Canonical() string {
	n := len(p.keys)
	for _, k := range p.keys {
		n += len(k)
	}
	b := make([]byte, 0, n)
	for i, k := range p.keys {
		if i > 0 {
			b = append(b, 0)
		}
		b = AppendFold(b, k)
	}
	return string(b)
}

// Escape returns key written for a path: '.', '[', ']', '\' and '"' preceded by
// a backslash. Escape("a.b") is `a\.b`.
func Escape(key string) string {
	if !strings.ContainsAny(key, escapable) {
		return key
	}
	return string(AppendEscaped(nil, key))
}

// AppendEscaped appends key, escaped as by Escape, to dst and returns the
// extended slice.
func AppendEscaped[S ~string | ~[]byte](dst []byte, key S) []byte {
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch c {
		case '.', '[', ']', '\\', '"':
			dst = append(dst, '\\', c)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// Format returns the path naming keys, each escaped, joined with dots:
// Format("traits", "a.b") is `traits.a\.b`. The first key should be a root or
// an identity field (they need no escaping); append "[]" to the result, or to
// a key, to mark arrays. Format does not validate: Parse the result when the
// keys come from outside (see Addressable).
func Format(keys ...string) string {
	var b []byte
	for i, k := range keys {
		if i > 0 {
			b = append(b, '.')
		}
		b = AppendEscaped(b, k)
	}
	return string(b)
}

// Addressable reports whether an event key can be written as a key of a path:
// it is non-empty valid UTF-8 of printable characters, not starting or ending
// with white space. (Whether the whole path also fits MaxLen and MaxKeys is for
// the caller to check.)
func Addressable[S ~string | ~[]byte](key S) bool {
	if len(key) == 0 {
		return false
	}
	ascii := true
	for i := 0; i < len(key); i++ {
		if c := key[i]; c >= utf8.RuneSelf {
			ascii = false
			break
		} else if c < 0x20 || c == 0x7f {
			return false
		}
	}
	if ascii {
		return key[0] != ' ' && key[len(key)-1] != ' '
	}
	s := string(key)
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsGraphic(r) {
			return false
		}
	}
	first, _ := utf8.DecodeRuneInString(s)
	last, _ := utf8.DecodeLastRuneInString(s)
	return !unicode.IsSpace(first) && !unicode.IsSpace(last)
}

// NeedsFold reports whether key may differ from its folded form: it holds an
// ASCII capital letter or any non-ASCII byte. A key for which it is false is
// its own folded form.
func NeedsFold[S ~string | ~[]byte](key S) bool {
	for i := 0; i < len(key); i++ {
		if c := key[i]; c >= utf8.RuneSelf || 'A' <= c && c <= 'Z' {
			return true
		}
	}
	return false
}

// Fold returns key's case-folded form: each rune replaced by one fixed member
// of its Unicode simple case folding orbit (lower case for ASCII letters), so
// that Fold(a) == Fold(b) exactly when strings.EqualFold(a, b). Invalid UTF-8
// bytes are kept as they are.
func Fold(key string) string {
	if !NeedsFold(key) {
		return key
	}
	return string(AppendFold(nil, key))
}

// AppendFold appends key's folded form (see Fold) to dst and returns the
// extended slice.
func AppendFold[S ~string | ~[]byte](dst []byte, key S) []byte {
	for i := 0; i < len(key); {
		c := key[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(string(key[i:min(i+utf8.UTFMax, len(key))]))
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, c)
			i++
			continue
		}
		dst = utf8.AppendRune(dst, foldRune(r))
		i += size
	}
	return dst
}

// foldRune returns the smallest rune of r's simple folding orbit, lower-cased
// when that is an ASCII capital (so ASCII folds to lower case).
func foldRune(r rune) rune {
	m := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		m = min(m, f)
	}
	if 'A' <= m && m <= 'Z' {
		m += 'a' - 'A'
	}
	return m
}

// Problem names what is wrong with a path.
type Problem uint8

// The problems Parse reports.
const (
	Empty         Problem = iota + 1 // the path is empty
	TooLong                          // longer than MaxLen bytes (Error.N: its length)
	NotUTF8                          // not valid UTF-8
	TooDeep                          // more than MaxKeys keys (Error.N: how many)
	BadRoot                          // does not start with a root or an identity field
	RootArray                        // "[]" after a root
	RootOnly                         // a root without a key
	TrailingDot                      // a root and a dot, no key
	IdentityAlone                    // something after an identity field
	EmptyKey                         // two dots in a row or a trailing dot
	NoKey                            // "[]" without a key before it
	BadBrackets                      // brackets other than "[]" at the end of a key
	BadEscape                        // a backslash before a character it does not escape
	Quote                            // an unescaped '"'
	NotPrintable                     // a control or format character (Error.N: the rune)
	LeadingSpace                     // a key starts with white space
	TrailingSpace                    // a key ends with white space
)

// Error reports a path that does not follow the grammar. Text is the offending
// segment as written; Describe and Message quote it (and the path) only through
// the caller's quote function, so a caller can clip or withhold what it echoes.
type Error struct {
	Path    string
	Problem Problem
	Segment int    // 1-based position of the offending segment; 0 when the problem is the whole path
	Text    string // the offending segment (for RootArray and IdentityAlone: the root or identity field)
	N       int    // TooLong: bytes; TooDeep: segments; NotPrintable: the rune
}

// Error returns "invalid field path: " and Message with Go-quoted input cut to
// 64 bytes.
func (e *Error) Error() string { return "invalid field path: " + e.Message(quote64) }

func quote64(s string) string {
	if len(s) > 64 {
		n := 0
		for i := range s {
			if i > 64 {
				break
			}
			n = i
		}
		s = s[:n] + "…"
	}
	return strconv.Quote(s)
}

const example = "e.g. properties.products[].name"

// Describe says what is wrong and how to write it instead, quoting at most the
// offending segment (through quote), never the whole path.
func (e *Error) Describe(quote func(string) string) string {
	n, q := e.Segment, func() string { return quote(e.Text) }
	switch e.Problem {
	case Empty:
		return "is empty; write a dot-separated path under context, traits or properties, " + example
	case TooLong:
		return fmt.Sprintf("is %d bytes long; the limit is %d", e.N, MaxLen)
	case NotUTF8:
		return "is not valid UTF-8"
	case TooDeep:
		return fmt.Sprintf("has %d segments; the limit is %d", e.N, MaxKeys)
	case BadRoot:
		return "must start with context, traits or properties, or be one of the identity fields userId, anonymousId, groupId, previousId; " + example
	case RootArray:
		return fmt.Sprintf("the root %s is an object, not an array; remove the []", q())
	case RootOnly:
		return fmt.Sprintf("names a root, not a field; add a key, e.g. %s.email", e.Text)
	case TrailingDot:
		return "ends with a dot; add the key after it"
	case IdentityAlone:
		return fmt.Sprintf("the identity field %s is a top-level value with no keys or [] after it; write it alone", q())
	case EmptyKey:
		return fmt.Sprintf("segment %d is empty (two dots in a row or a trailing dot)", n)
	case NoKey:
		return fmt.Sprintf("segment %d %s has no key before []; write the array's key, e.g. items[]", n, q())
	case BadBrackets:
		return fmt.Sprintf(`segment %d %s: brackets may only appear as [] at the end of a key, e.g. items[]; escape a bracket that is part of the key as \[ or \]`, n, q())
	case BadEscape:
		return fmt.Sprintf(`segment %d %s: a backslash may only escape '.', '[', ']', '"' or '\'; write a backslash in a key as \\`, n, q())
	case Quote:
		return fmt.Sprintf(`segment %d %s: write a quote in a key as \"`, n, q())
	case NotPrintable:
		return fmt.Sprintf("segment %d contains the control or non-printable character %U", n, rune(e.N))
	case LeadingSpace:
		return fmt.Sprintf("segment %d %s starts with a space", n, q())
	case TrailingSpace:
		return fmt.Sprintf("segment %d %s ends with a space", n, q())
	}
	return "is not a valid field path"
}

// Message is Describe with the path itself as the subject where the sentence
// needs one: `"email" must start with …`, `"traits..x": segment 2 is empty …`.
func (e *Error) Message(quote func(string) string) string {
	switch {
	case e.Problem == BadRoot || e.Problem == RootOnly || e.Problem == TrailingDot:
		return quote(e.Path) + " " + e.Describe(quote)
	case e.Segment > 1:
		return quote(e.Path) + ": " + e.Describe(quote)
	}
	return e.Describe(quote)
}
