package phi

import (
	"errors"
	"fmt"
	"strings"
)

// Error codes: the service's one error vocabulary. The HTTP layer maps each code to a status in
// exactly one table; everything else matches on codes with [ErrorCode], never on error text.
const (
	EINVALID         = "invalid"               // a well-formed request that breaks a rule (422)
	EBADREQUEST      = "bad_request"           // malformed input: not JSON, unknown field, wrong type (400)
	ETOOLARGE        = "too_large"             // body or value over a limit (413)
	ENOTFOUND        = "not_found"             // no such resource, or not visible to the caller (404)
	ENOTACCEPTABLE   = "not_acceptable"        // the caller accepts none of the route's media types (406)
	ECONFLICT        = "conflict"              // the resource's state forbids it (409)
	EPRECONDITION    = "precondition_failed"   // If-Match / version mismatch (412)
	EPRECONDREQUIRED = "precondition_required" // a change that must name the version it replaces did not (428)
	EFORBIDDEN       = "forbidden"             // authenticated, but not allowed (403)
	ETOOMANY         = "too_many_requests"     // throttled by API Gateway or the web ACL (429); retry later
	EUNAUTHORIZED    = "unauthorized"          // no or bad credentials (401)
	EINTERNAL        = "internal"              // our fault; details are logged, never returned (500)
)

// Error is an application error: a code from the vocabulary above, a message safe to show the
// caller, and optional details (for example the offending fields). Err, the cause, is for logs
// only and is never shown to a caller. Messages and details must never contain PHI, tokens or
// key material.
type Error struct {
	Code    string
	Message string
	Details any
	Err     error
}

// Error returns the code and message, and the cause when there is one.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an application error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithDetails returns a copy of e carrying details for the caller.
func (e *Error) WithDetails(details any) *Error {
	c := *e
	c.Details = details
	return &c
}

// ErrorCode returns the code of the first application error in err's chain, EINTERNAL for any
// other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the caller-safe message of the first application error in err's chain,
// and "internal error" for anything else, so internal details never reach a caller.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// ErrorDetails returns the details of the first application error in err's chain, or nil.
func ErrorDetails(err error) any {
	var e *Error
	if errors.As(err, &e) {
		return e.Details
	}
	return nil
}

// Clip prepares caller input for quoting in an error message or a log line: text that carries
// an API token (a secret pasted into the wrong field) is withheld, and anything longer than max
// bytes is cut at a character boundary and marked with "…", so a pasted blob never floods a
// response or a log.
func Clip(s string, max int) string {
	if strings.Contains(s, TokenPrefix) {
		return "(a value that looks like an API token, not shown)"
	}
	if len(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if i > max {
			break
		}
		n = i
	}
	return s[:n] + "…"
}
