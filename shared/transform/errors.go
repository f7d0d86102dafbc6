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

// Error returns "transform: invalid field path", the path and the reason.
func (e *PathError) Error() string { return "transform: " + e.describe() }

// Is reports whether target is ErrInvalidPath.
func (e *PathError) Is(target error) bool { return target == ErrInvalidPath }

// describe is the error without the package name: what a PlanError reports for a bad path.
func (e *PathError) describe() string {
	return fmt.Sprintf("invalid field path %q: %s", e.Path, e.Reason)
}

// PlanError reports a Spec that Compile (or ParseTreatment) refuses. Reason says why in words
// fit to show whoever configured the destination, e.g. `"traits.a" and "traits.a[]" select the
// same field with different treatments (hmac, sha256)`: it quotes configured paths and treatment
// names, which are configuration, never event values. A caller reads it with errors.As.
type PlanError struct {
	// Reason is the caller-safe explanation, without the package name or ErrInvalidPlan's text.
	Reason string
	// Err is the *PathError of a path that does not parse, nil for any other reason.
	Err error
}

// Error returns "transform: invalid protection plan: " and the reason.
func (e *PlanError) Error() string { return "transform: invalid protection plan: " + e.Reason }

// Is reports whether target is ErrInvalidPlan.
func (e *PlanError) Is(target error) bool { return target == ErrInvalidPlan }

// Unwrap returns the *PathError of a bad path, so errors.Is(err, ErrInvalidPath) holds for it.
func (e *PlanError) Unwrap() error { return e.Err }

func planErr(format string, args ...any) error {
	return &PlanError{Reason: fmt.Sprintf(format, args...)}
}

// planPathErr is the PlanError of a configured path that ParsePath refuses with err.
func planPathErr(err error) error {
	var pe *PathError
	if !errors.As(err, &pe) {
		return &PlanError{Reason: err.Error(), Err: err}
	}
	return &PlanError{Reason: pe.describe(), Err: pe}
}

// planFieldErr is err, a PlanError about the configuration of one field, naming the field's path.
func planFieldErr(path string, err error) error {
	var pe *PlanError
	if !errors.As(err, &pe) {
		return err
	}
	return &PlanError{Reason: fmt.Sprintf("field %q: %s", path, pe.Reason), Err: pe.Err}
}
