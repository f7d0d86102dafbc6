package transform

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// roots are the top-level event members under which field paths live.
var roots = [...]string{"context", "traits", "properties"}

// MaxPathLen is the longest field path, in bytes, that ParsePath accepts.
const MaxPathLen = 256

// MaxPathKeys is the largest number of keys (root included) in a field path.
const MaxPathKeys = 32

// Path is a parsed, validated field path such as "properties.products[].name".
// The zero Path is not valid; obtain one from ParsePath.
type Path struct {
	text string
	keys []string // root first; "[]" markers stripped
	each bool     // the last key ends in "[]": protect array elements one by one
}

// ParsePath parses a field path (see the package documentation for the
// syntax). On failure it returns an error matching ErrInvalidPath that says
// what is wrong with the path.
func ParsePath(s string) (Path, error) {
	fail := func(reason string) (Path, error) { return Path{}, &PathError{Path: s, Reason: reason} }
	switch {
	case s == "":
		return fail("path is empty")
	case len(s) > MaxPathLen:
		return fail("path is longer than 256 bytes")
	case !utf8.ValidString(s):
		return fail("path is not valid UTF-8")
	}
	parts := strings.Split(s, ".")
	if !isRoot(parts[0]) {
		return fail("path must start with context, traits or properties")
	}
	if len(parts) < 2 {
		return fail("path must name a field under its root, e.g. traits.email")
	}
	if len(parts) > MaxPathKeys {
		return fail("path has more than 32 keys")
	}
	p := Path{text: s, keys: make([]string, 0, len(parts))}
	p.keys = append(p.keys, parts[0])
	for n, seg := range parts[1:] {
		key, arrays := seg, 0
		for strings.HasSuffix(key, "[]") {
			key = key[:len(key)-2]
			arrays++
		}
		if key == "" {
			return fail("empty key between dots (each key needs a name; [] goes right after a key)")
		}
		if reason := keyProblem(key); reason != "" {
			return fail(reason)
		}
		p.keys = append(p.keys, key)
		if n == len(parts)-2 {
			p.each = arrays > 0
		}
	}
	return p, nil
}

// String returns the path as it was written.
func (p Path) String() string { return p.text }

// Root returns the path's root: "context", "traits" or "properties".
func (p Path) Root() string {
	if len(p.keys) == 0 {
		return ""
	}
	return p.keys[0]
}

// encloses reports whether q lies strictly inside p (arrays are transparent, so "[]" markers
// do not matter).
func (p Path) encloses(q Path) bool {
	return len(q.keys) > len(p.keys) && slices.Equal(q.keys[:len(p.keys)], p.keys)
}

func isRoot(s string) bool {
	for _, r := range roots {
		if s == r {
			return true
		}
	}
	return false
}

// keyProblem says why key cannot appear in a path, or returns "".
func keyProblem(key string) string {
	for i := 0; i < len(key); i++ {
		switch c := key[i]; {
		case c == '[' || c == ']':
			return "brackets are only allowed as [] at the end of a key"
		case c == '"' || c == '\\':
			return `keys cannot contain '"' or '\'`
		case c < 0x20 || c == 0x7f:
			return "keys cannot contain control characters"
		}
	}
	if key[0] == ' ' || key[len(key)-1] == ' ' || key[0] == '\t' || key[len(key)-1] == '\t' {
		return "keys cannot start or end with white space"
	}
	return ""
}

// validPathKey reports whether an event key can be addressed by a path.
func validPathKey(key []byte) bool {
	if len(key) == 0 {
		return false
	}
	for _, c := range key {
		if c == '.' || c == '[' || c == ']' || c == '"' || c == '\\' || c < 0x20 || c == 0x7f {
			return false
		}
	}
	return key[0] != ' ' && key[len(key)-1] != ' ' && key[0] != '\t' && key[len(key)-1] != '\t'
}
