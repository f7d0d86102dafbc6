// Package httpapi is the service's HTTP glue and its customer and operator APIs.
//
// Handlers are plain net/http. A router is built per function from stack.Routes (Router), so the
// route table is written once; the same handlers serve AWS Lambda behind API Gateway (Lambda
// adapts a REST proxy event to an *http.Request and back) and a local HTTP server or a test
// (httptest). Every request runs through one pipeline: authentication (an [Authenticator]),
// workspace scoping (a token of workspace A gets 404 for anything of workspace B, before
// anything else), the role check of the route's [Access], the handler, and — for routes that
// touch PHI-related configuration — an audit record written before the response leaves.
//
// Errors are *phi.Error values mapped to a status in exactly one table (statusOf) and written as
// {"error": {"code", "message", "details"}}. Anything else is logged (ids only) and answered
// with 500 "internal error".
package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

// MaxBodyBytes is the largest request body any route accepts; larger bodies get 413.
const MaxBodyBytes = stack.MaxRequestBodyBytes

// statusOf is the one table from the error vocabulary to HTTP status codes.
var statusOf = map[string]int{
	phi.EINVALID:         http.StatusUnprocessableEntity,
	phi.EBADREQUEST:      http.StatusBadRequest,
	phi.ETOOLARGE:        http.StatusRequestEntityTooLarge,
	phi.ENOTFOUND:        http.StatusNotFound,
	phi.ECONFLICT:        http.StatusConflict,
	phi.EPRECONDITION:    http.StatusPreconditionFailed,
	phi.EPRECONDREQUIRED: http.StatusPreconditionRequired,
	phi.ENOTACCEPTABLE:   http.StatusNotAcceptable,
	phi.EFORBIDDEN:       http.StatusForbidden,
	phi.ETOOMANY:         http.StatusTooManyRequests,
	phi.EUNAUTHORIZED:    http.StatusUnauthorized,
	phi.EINTERNAL:        http.StatusInternalServerError,
}

// StatusOf returns the HTTP status for err's code (see phi.ErrorCode); 500 for anything that
// is not an application error, and 200 for nil.
func StatusOf(err error) int {
	if err == nil {
		return http.StatusOK
	}
	if s, ok := statusOf[phi.ErrorCode(err)]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Details any    `json:"details,omitempty"`
	} `json:"error"`
}

// WriteError writes err as a JSON error response. Application errors (*phi.Error) show their
// code, message and details; anything else — and any EINTERNAL — is logged with the request id
// and answered with 500 "internal error", so no cause ever reaches the caller.
func WriteError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	status := StatusOf(err)
	var body errorBody
	body.Error.Code = phi.ErrorCode(err)
	if status == http.StatusInternalServerError {
		body.Error.Code = phi.EINTERNAL
		body.Error.Message = "internal error"
		if logger != nil {
			logger.ErrorContext(r.Context(), "request failed",
				"requestId", RequestID(r.Context()), "route", RoutePattern(r), "error", err.Error())
		}
	} else {
		body.Error.Message = phi.ErrorMessage(err)
		body.Error.Details = phi.ErrorDetails(err)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="phiguard"`)
	}
	WriteJSON(w, status, body)
}

// WriteJSON writes v as a JSON response with the given status. Responses are never cached by
// intermediaries (they carry configuration, and sometimes a secret shown once). A value that
// cannot be encoded is a programming error; it is answered with a bare 500.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":{"code":"internal","message":"internal error"}}`, http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// NoContent answers 204 with the headers every response carries: never cached.
func NoContent(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// NoBody refuses (400) a request to a route that takes no body but was sent one, so that a
// caller who thinks it configures something learns that nothing was read.
func NoBody(r *http.Request) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1024))
	if err != nil {
		return phi.Errorf(phi.EBADREQUEST, "could not read the request body")
	}
	if strings.TrimSpace(string(b)) != "" {
		return phi.Errorf(phi.EBADREQUEST, "this route takes no request body; send none")
	}
	return nil
}

// Decode reads r's JSON body into v, refusing with a *phi.Error: ETOOLARGE (413) over
// MaxBodyBytes; EBADREQUEST (400) for a non-JSON content type, malformed JSON, an unknown field,
// a value of the wrong type (naming the field), trailing data, an empty body or a bare null, and
// what checkStrictJSON refuses (invalid UTF-8, lone surrogates, duplicate members, null members).
func Decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return phi.Errorf(phi.EBADREQUEST, "Content-Type must be application/json")
		}
	}
	if r.ContentLength > MaxBodyBytes {
		return tooLarge()
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return phi.Errorf(phi.EBADREQUEST, "could not read the request body")
	}
	if len(body) > MaxBodyBytes {
		return tooLarge()
	}
	switch strings.TrimSpace(string(body)) {
	case "":
		return phi.Errorf(phi.EBADREQUEST, "the request body is empty; send a JSON object")
	case "null":
		// encoding/json would leave v untouched: a PUT of null would silently reset the
		// resource to its zero value (hashing off, blockRed off).
		return phi.Errorf(phi.EBADREQUEST, "the request body must be a JSON object, not null")
	}
	if err := checkStrictJSON(body); err != nil {
		return err
	}
	body = integralNumbers(body)
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return phi.Errorf(phi.EBADREQUEST, "the request body holds more than one JSON value")
	}
	return nil
}

// integralNumbers rewrites the numbers of a JSON text that are whole but written with a
// fraction or an exponent (172.0, 1e3) as integers: JSON Schema's "integer" admits them, and
// encoding/json would refuse them for an int field. Other numbers, and a text that is not JSON,
// are left alone (Decode reports the latter).
func integralNumbers(body []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return body
	}
	changed := false
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				x[k] = walk(e)
			}
		case []any:
			for i, e := range x {
				x[i] = walk(e)
			}
		case json.Number:
			if strings.ContainsAny(string(x), ".eE") {
				if f, err := x.Float64(); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
					changed = true
					return json.Number(strconv.FormatInt(int64(f), 10))
				}
			}
		}
		return v
	}
	v = walk(v)
	if !changed || dec.More() {
		return body
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return body
	}
	return out.Bytes()
}

func tooLarge() error {
	return phi.Errorf(phi.ETOOLARGE, "the request body is larger than %d bytes", MaxBodyBytes)
}

// decodeError turns an encoding/json error into a message that names the field or position,
// never echoing a value from the body.
func decodeError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return phi.Errorf(phi.EBADREQUEST, "the request body is not valid JSON (at byte %d)", syntax.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return phi.Errorf(phi.EBADREQUEST, "the request body must be %s, not %s", jsonKind(typ.Type.Kind().String()), typ.Value).
				WithDetails(map[string]string{"expected": jsonKind(typ.Type.Kind().String()), "got": typ.Value})
		}
		return phi.Errorf(phi.EBADREQUEST, "field %q must be %s, not %s", field, jsonKind(typ.Type.Kind().String()), typ.Value).
			WithDetails(map[string]string{"field": field})
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return phi.Errorf(phi.EBADREQUEST, "the request body is truncated JSON")
	}
	// encoding/json reports an unknown field (DisallowUnknownFields) with a plain errors.New and
	// no type to match with errors.As, so this one case reads the error's text.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		if !echoable(name) {
			return phi.Errorf(phi.EBADREQUEST, "the body has an unknown field (its name is not shown: it does not look like a field name); see the API reference for this route's fields")
		}
		return phi.Errorf(phi.EBADREQUEST, "unknown field %q; see the API reference for this route's fields", name).
			WithDetails(map[string]string{"field": name})
	}
	return phi.Errorf(phi.EBADREQUEST, "the request body could not be decoded as JSON")
}

// echoable reports whether a caller-supplied field name may be quoted back: short, shaped like
// the API's own field names, and not a token someone pasted into the wrong place.
func echoable(name string) bool {
	if name == "" || len(name) > 32 || strings.HasPrefix(name, phi.TokenPrefix) {
		return false
	}
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '_'):
		default:
			return false
		}
	}
	return true
}

// jsonKind names a Go kind the way a JSON author would.
func jsonKind(kind string) string {
	switch {
	case kind == "string":
		return "a string"
	case kind == "bool":
		return "a boolean"
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"), strings.HasPrefix(kind, "float"):
		return "a number"
	case kind == "slice", kind == "array":
		return "an array"
	case kind == "struct", kind == "map":
		return "an object"
	}
	return "a " + kind
}

// clip shortens caller text quoted back in a message, so a pasted blob never floods a response
// or a log line, and withholds text that carries an API token (a secret pasted into the wrong
// field), so a token is never echoed after its creation response.
func clip(s string) string { return phi.Clip(s, 40) }

// ETag returns the strong entity tag for a resource version.
func ETag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// IfMatch returns the version the request's If-Match header names. A PUT must send it (from
// the ETag of a GET), so concurrent edits never silently overwrite each other: a missing or empty
// header is EPRECONDREQUIRED (428) asking for it; anything but one strong ETag of this API
// ("3", matching IfMatchPattern) or "*" is EBADREQUEST (400) — a weak ETag never matches under
// If-Match's strong comparison, and this API answers none. "*" matches any current
// representation (RFC 9110 13.1.1) and returns phi.AnyVersion.
func IfMatch(r *http.Request) (int64, error) {
	vs := r.Header.Values("If-Match")
	if len(vs) == 0 || (len(vs) == 1 && strings.TrimSpace(vs[0]) == "") {
		return 0, phi.Errorf(phi.EPRECONDREQUIRED, "send If-Match with the ETag from a GET of this resource (or * to replace whatever is current), so concurrent edits cannot overwrite each other")
	}
	v := strings.TrimSpace(vs[0])
	if len(vs) == 1 && v == "*" {
		return phi.AnyVersion, nil
	}
	if len(vs) > 1 || !ifMatchETag.MatchString(v) {
		return 0, phi.Errorf(phi.EBADREQUEST, "If-Match must be one ETag returned by this API, quoted like \"3\", or *").
			WithDetails(map[string]string{"header": "If-Match"})
	}
	n, err := strconv.ParseInt(strings.Trim(v, `"`), 10, 64)
	if err != nil {
		return 0, phi.Errorf(phi.EBADREQUEST, "If-Match must be one ETag returned by this API, quoted like \"3\", or *").
			WithDetails(map[string]string{"header": "If-Match"})
	}
	return n, nil
}

// IfMatchPattern is the If-Match header IfMatch accepts, as the OpenAPI document states it: "*",
// or one strong ETag of a version (a positive int64, quoted).
const IfMatchPattern = `^(\*|"[1-9][0-9]{0,17}")$`

var ifMatchETag = regexp.MustCompile(IfMatchPattern)

// PathID returns the path parameter name, checked with phi.ValidID against prefix; a malformed
// id is EBADREQUEST (400) naming the parameter and the expected shape, before any store call.
func PathID(r *http.Request, name, prefix string) (string, error) {
	id := r.PathValue(name)
	if !phi.ValidID(prefix, id) {
		return "", phi.Errorf(phi.EBADREQUEST, "path parameter %s is not a valid id; expected %s followed by 26 lower-case letters and digits", name, prefix).
			WithDetails(map[string]string{"parameter": name})
	}
	return id, nil
}

// Page limits of ?limit= (phi's).
const (
	DefaultPageLimit = phi.DefaultPageLimit
	MaxPageLimit     = phi.MaxPageLimit
)

// PageParams reads ?limit= (1..MaxPageLimit, default DefaultPageLimit) and ?cursor= (opaque,
// as returned in nextCursor). A bad limit or an oversized cursor is EBADREQUEST (400); a
// cursor the store cannot decode is refused by the store, also with 400.
func PageParams(r *http.Request) (phi.Page, error) {
	q := r.URL.Query()
	p := phi.Page{Limit: DefaultPageLimit, Cursor: q.Get("cursor")}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxPageLimit {
			return p, phi.Errorf(phi.EBADREQUEST, "limit must be a whole number from 1 to %d", MaxPageLimit).
				WithDetails(map[string]string{"parameter": "limit"})
		}
		p.Limit = n
	}
	if len(p.Cursor) > 2048 {
		return p, phi.Errorf(phi.EBADREQUEST, "cursor is not one this API returned").
			WithDetails(map[string]string{"parameter": "cursor"})
	}
	return p, nil
}

// List is the JSON shape of every paginated list: the page's items and, when there are more,
// the cursor for the next page.
type List[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"nextCursor,omitempty"`
}

// NewList returns a List that encodes an empty page as [] rather than null.
func NewList[T any](items []T, next string) List[T] {
	if items == nil {
		items = []T{}
	}
	return List[T]{Items: items, NextCursor: next}
}

// wrap adds context to a store error while keeping its *phi.Error for the status table.
func wrap(err error, format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, err)...)
}
