package privacy

import (
	"errors"
	"strconv"

	"github.com/phiguard/phiguard/shared/fieldpath"
)

// Limits on a field path, so that stored paths and DynamoDB keys stay small. They are the
// limits of the one field-path grammar (shared/fieldpath).
const (
	// MaxPathLen is the longest field path in bytes, as written.
	MaxPathLen = fieldpath.MaxLen
	// MaxPathDepth is the largest number of dot-separated segments, root included.
	MaxPathDepth = fieldpath.MaxKeys
)

// The roots a field path can live under, as in the Segment spec.
const (
	RootContext    = fieldpath.Context
	RootTraits     = fieldpath.Traits
	RootProperties = fieldpath.Properties
)

// FieldPath names a field of an event in the grammar of shared/fieldpath: a root (context,
// traits or properties) and one or more keys separated by dots, or one of the identity fields
// userId, anonymousId, groupId and previousId alone. A key followed by "[]" stands for every
// element of an array, so "properties.products[].name" is the name of each product; "[]" may
// repeat for nested arrays ("matrix[][]"). A backslash escapes '.', '[', ']', '\' and '"'
// inside a key ("traits.a\.b" is the key "a.b"). Keys are printable, and may not start or end
// with a space. Event keys that differ only in case from a path's keys are the same field.
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
	_, err := fieldpath.Parse(string(p))
	var e *fieldpath.Error
	if errors.As(err, &e) {
		return invalid("path", "%s", e.Message(quoteClipped))
	}
	return err
}

// quoteClipped quotes caller input in a message, clipped (and withheld when it carries a token).
func quoteClipped(s string) string { return strconv.Quote(clip(s)) }

// Root returns the first segment of p: "context", "traits" or "properties", or the identity
// field, for a valid path.
func (p FieldPath) Root() string {
	s := string(p)
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '.':
			return s[:i]
		}
	}
	return s
}

// Key returns the last key of p, unescaped and without its array markers: "name" for
// "properties.products[].name", "emails" for "traits.emails[]", "a.b" for `traits.a\.b`. Key
// matchers compare against it. It returns "" for "", never panics, and allocates only to
// unescape a key that holds escapes.
func (p FieldPath) Key() string {
	s := string(p)
	last, esc := 0, false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			esc = true
			i++
		case '.':
			last, esc = i+1, false
		}
	}
	s = s[last:]
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
		} else if s[i] == '[' {
			s = s[:i] // array markers (or, in an invalid path, stray brackets)
			break
		}
	}
	if !esc {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b = append(b, s[i])
	}
	return string(b)
}

// String returns p as written.
func (p FieldPath) String() string { return string(p) }
