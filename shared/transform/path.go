package transform

import (
	"errors"
	"slices"
	"strconv"

	"github.com/phiguard/phiguard/shared/fieldpath"
)

// MaxPathLen is the longest field path, in bytes, that ParsePath accepts: the limit of the one
// field-path grammar (shared/fieldpath), 512.
const MaxPathLen = fieldpath.MaxLen

// MaxPathKeys is the largest number of keys (root included) in a field path.
const MaxPathKeys = fieldpath.MaxKeys

// Path is a parsed, validated field path such as "properties.products[].name".
// The zero Path is not valid; obtain one from ParsePath.
type Path struct {
	text   string
	keys   []string // root (or identity field) first; unescaped; "[]" markers stripped
	folded []string // keys case-folded (fieldpath.Fold): what event keys are matched against
	each   bool     // the last key ends in "[]": protect array elements one by one
}

// ParsePath parses a field path (see the package documentation for the
// syntax). On failure it returns an error matching ErrInvalidPath that says
// what is wrong with the path.
func ParsePath(s string) (Path, error) {
	fp, err := fieldpath.Parse(s)
	if err != nil {
		var e *fieldpath.Error
		if errors.As(err, &e) {
			return Path{}, &PathError{Path: s, Reason: e.Describe(strconv.Quote)}
		}
		return Path{}, &PathError{Path: s, Reason: err.Error()}
	}
	p := Path{text: s, keys: fp.Keys(), each: fp.Each()}
	p.folded = make([]string, len(p.keys))
	for i, k := range p.keys {
		p.folded[i] = fieldpath.Fold(k)
	}
	return p, nil
}

// String returns the path as it was written.
func (p Path) String() string { return p.text }

// Root returns the path's root: "context", "traits" or "properties", or the identity field
// ("userId", "anonymousId", "groupId", "previousId") the path is.
func (p Path) Root() string {
	if len(p.keys) == 0 {
		return ""
	}
	return p.keys[0]
}

// encloses reports whether q lies strictly inside p (arrays are transparent, so "[]" markers
// do not matter; keys compare case-insensitively).
func (p Path) encloses(q Path) bool {
	return len(q.folded) > len(p.folded) && slices.Equal(q.folded[:len(p.folded)], p.folded)
}
