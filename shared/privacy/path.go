package privacy

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on a field path, so that stored paths and DynamoDB keys stay small.
const (
	// MaxPathLen is the longest field path in bytes.
	MaxPathLen = 512
	// MaxPathDepth is the largest number of dot-separated segments, root included.
	MaxPathDepth = 32
)

// The roots a field path can live under, as in the Segment spec.
const (
	RootContext    = "context"
	RootTraits     = "traits"
	RootProperties = "properties"
)

// FieldPath names a field of an event: a root (context, traits or properties)
// and one or more keys, separated by dots. A key followed by "[]" stands for
// every element of an array, so "properties.products[].name" is the name of
// each product. "[]" may repeat for nested arrays ("matrix[][]"). Keys may
// contain any printable character except '.', '[' and ']', and may not start
// or end with a space.
//
// Obtain a FieldPath from ParseFieldPath; converting a string directly skips
// validation (the methods below still never panic).
type FieldPath string

// ParseFieldPath returns s as a FieldPath, or an *InvalidError for field
// "path" that says what is wrong and how to write it instead.
func ParseFieldPath(s string) (FieldPath, error) {
	p := FieldPath(s)
	if err := p.Validate(); err != nil {
		return "", err
	}
	return p, nil
}

// Validate returns an *InvalidError for field "path" when p is not a valid
// field path (see FieldPath), and nil otherwise.
func (p FieldPath) Validate() error {
	s := string(p)
	const example = "e.g. properties.products[].name"
	switch {
	case s == "":
		return invalid("path", "is empty; write a dot-separated path under context, traits or properties, %s", example)
	case len(s) > MaxPathLen:
		return invalid("path", "is %d bytes long; the limit is %d", len(s), MaxPathLen)
	case !utf8.ValidString(s):
		return invalid("path", "is not valid UTF-8")
	}
	if n := strings.Count(s, ".") + 1; n > MaxPathDepth {
		return invalid("path", "has %d segments; the limit is %d", n, MaxPathDepth)
	}
	root, rest, _ := strings.Cut(s, ".")
	switch root {
	case RootContext, RootTraits, RootProperties:
	default:
		if r := strings.TrimSuffix(root, "[]"); r == RootContext || r == RootTraits || r == RootProperties {
			return invalid("path", "the root %q is an object, not an array; remove the []", r)
		}
		return invalid("path", "%q must start with context, traits or properties, %s", clip(s), example)
	}
	if rest == "" {
		if strings.HasSuffix(s, ".") {
			return invalid("path", "%q ends with a dot; add the key after it", clip(s))
		}
		return invalid("path", "%q names a root, not a field; add a key, e.g. %s.email", clip(s), root)
	}
	for i, seg := range strings.Split(rest, ".") {
		if err := validateSegment(seg, i+2); err != nil {
			return invalid("path", "%q: %s", clip(s), err)
		}
	}
	return nil
}

// validateSegment checks one dot-separated segment; n is its 1-based position
// in the whole path, for the message.
func validateSegment(seg string, n int) error {
	if seg == "" {
		return fmt.Errorf("segment %d is empty (two dots in a row or a trailing dot)", n)
	}
	key := seg
	for strings.HasSuffix(key, "[]") {
		key = key[:len(key)-2]
	}
	if key == "" {
		return fmt.Errorf("segment %d %q has no key before []; write the array's key, e.g. items[]", n, clip(seg))
	}
	if strings.ContainsAny(key, "[]") {
		return fmt.Errorf("segment %d %q: brackets may only appear as [] at the end of a key, e.g. items[]", n, clip(seg))
	}
	for _, r := range key {
		if !unicode.IsGraphic(r) {
			return fmt.Errorf("segment %d contains the control or non-printable character %U", n, r)
		}
	}
	if first, _ := utf8.DecodeRuneInString(key); unicode.IsSpace(first) {
		return fmt.Errorf("segment %d %q starts with a space", n, clip(seg))
	}
	if last, _ := utf8.DecodeLastRuneInString(key); unicode.IsSpace(last) {
		return fmt.Errorf("segment %d %q ends with a space", n, clip(seg))
	}
	return nil
}

// Root returns the first segment of p ("context", "traits" or "properties"
// for a valid path).
func (p FieldPath) Root() string {
	root, _, _ := strings.Cut(string(p), ".")
	return root
}

// Key returns the last key of p without its array markers: "name" for
// "properties.products[].name", "emails" for "traits.emails[]". Key matchers
// compare against it. It returns "" for "" and never panics.
func (p FieldPath) Key() string {
	s := string(p)
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		s = s[i+1:]
	}
	for strings.HasSuffix(s, "[]") {
		s = s[:len(s)-2]
	}
	return s
}

// String returns p as written.
func (p FieldPath) String() string { return string(p) }
