package transform

import (
	"errors"
	"fmt"
)

// ErrMalformed is matched (with errors.Is) by every error that reports an
// event which is not a valid JSON object within the nesting limit. The caller
// should treat it as a permanent error: retrying cannot fix the input.
var ErrMalformed = errors.New("malformed event")

// ErrInvalidPath is matched by every error that reports a field path that
// does not follow the path syntax of this package.
var ErrInvalidPath = errors.New("invalid field path")

// ErrInvalidPlan is matched by every error that reports a destination
// configuration that cannot be compiled into a Plan (bad treatment,
// conflicting or overlapping paths, bad default country code).
var ErrInvalidPlan = errors.New("invalid protection plan")

// SyntaxError describes where and why an event was rejected. It never quotes
// the event's bytes, so it is safe to log.
type SyntaxError struct {
	// Offset is the byte offset in the event at which the problem was found.
	Offset int
	// Reason says what was wrong, e.g. "unterminated string".
	Reason string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("transform: malformed event at byte %d: %s", e.Offset, e.Reason)
}

// Is reports whether target is ErrMalformed.
func (e *SyntaxError) Is(target error) bool { return target == ErrMalformed }

func syntaxErr(off int, reason string) error { return &SyntaxError{Offset: off, Reason: reason} }

// PathError reports a field path that cannot be parsed. Paths are
// configuration (key names), never event values, so the path is quoted.
type PathError struct {
	Path   string
	Reason string
}

func (e *PathError) Error() string {
	return fmt.Sprintf("transform: invalid field path %q: %s", e.Path, e.Reason)
}

// Is reports whether target is ErrInvalidPath.
func (e *PathError) Is(target error) bool { return target == ErrInvalidPath }
