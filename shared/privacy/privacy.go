// Package privacy is the domain of the Privacy Portal: the classification of
// event field paths (red, yellow, green), the matchers that recommend a
// classification for a field, and the inventory export.
//
// The package is pure logic on the standard library. Stores and HTTP handlers
// keep matchers and classifications elsewhere and call in here to validate
// them (Matcher.Validate, ParseFieldPath, ParseClassification, CheckMatcherCount),
// to compile a workspace's matchers once (NewClassifier) and to recommend a
// classification for a field (Classifier.Recommend), and to export decisions
// (WriteInventory).
//
// Values never leave memory: the pipeline records field paths, never field
// values, so value matchers can only run inside the pipeline on the event it
// is holding (Classifier.RecommendValue). Nothing this package returns —
// recommendations, errors — contains a field value.
//
// Errors: input that breaks a rule is reported as *InvalidError (which also
// matches ErrInvalid with errors.Is; map to 422); a workspace that already has
// MaxCustomMatchers custom matchers gets ErrTooManyMatchers (map to 409); an
// attempt to edit or delete a built-in matcher gets ErrDefaultMatcher (map to
// 409).
package privacy

import (
	"errors"
	"fmt"

	"github.com/phiguard/phiguard/shared/phi"
)

// ErrInvalid matches every *InvalidError with errors.Is, so a caller that maps
// errors to HTTP status can test one sentinel for "422 Unprocessable".
var ErrInvalid = errors.New("invalid input")

// ErrTooManyMatchers is returned when a workspace would exceed
// MaxCustomMatchers custom matchers. Map it to 409 Conflict.
var ErrTooManyMatchers = fmt.Errorf("a workspace can have at most %d custom matchers; delete one before adding another", MaxCustomMatchers)

// ErrDefaultMatcher is returned when a caller tries to edit or delete one of
// the built-in default matchers. Map it to 409 Conflict. The way to change a
// default is to create a custom matcher with the same name, which overrides it.
var ErrDefaultMatcher = errors.New("default matchers cannot be edited or deleted; create a custom matcher with the same name to override one")

// InvalidError reports one rule that an input breaks. Field names the input
// (for example "name", "patterns[2]" or "path") and Reason says what to change.
// Neither ever contains a field value from an event.
type InvalidError struct {
	Field  string
	Reason string
}

// Error returns "invalid <field>: <reason>".
func (e *InvalidError) Error() string {
	return fmt.Sprintf("invalid %s: %s", e.Field, e.Reason)
}

// Is reports whether target is ErrInvalid, so errors.Is(err, ErrInvalid) holds
// for every *InvalidError.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, format string, args ...any) *InvalidError {
	return &InvalidError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Problems returns every *InvalidError inside err, walking errors joined with
// errors.Join and wrapped with %w, in order. It returns nil when err holds
// none. Handlers use it to list each offending field in a 422 response.
func Problems(err error) []*InvalidError {
	var out []*InvalidError
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
		case *InvalidError:
			out = append(out, e)
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				walk(inner)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	return out
}

// Classification is how restricted a field is: red (highly restricted),
// yellow (moderately restricted; the only fields a destination may hash) or
// green (not restricted).
type Classification string

// The three classifications, as they appear in JSON, DynamoDB and the CSV.
const (
	Red    Classification = "red"
	Yellow Classification = "yellow"
	Green  Classification = "green"
)

// ParseClassification returns the classification spelled s. Only the exact
// lower-case spellings "red", "yellow" and "green" are accepted; anything else
// returns an *InvalidError for field "classification".
func ParseClassification(s string) (Classification, error) {
	c := Classification(s)
	if err := c.Validate(); err != nil {
		return "", err
	}
	return c, nil
}

// Validate returns an *InvalidError for field "classification" unless c is
// Red, Yellow or Green.
func (c Classification) Validate() error {
	switch c {
	case Red, Yellow, Green:
		return nil
	case "":
		return invalid("classification", `is required; use "red", "yellow" or "green"`)
	}
	return invalid("classification", `%q is not a classification; use "red", "yellow" or "green"`, clip(string(c)))
}

// rank orders classifications by restriction: red beats yellow beats green.
// An invalid classification ranks lowest.
func (c Classification) rank() int {
	switch c {
	case Red:
		return 3
	case Yellow:
		return 2
	case Green:
		return 1
	}
	return 0
}

// clip shortens caller input quoted back in an error message, so that a
// pasted blob never floods a response or a log line, and withholds input that
// carries an API token (a secret pasted into the wrong field).
func clip(s string) string { return phi.Clip(s, 64) }
