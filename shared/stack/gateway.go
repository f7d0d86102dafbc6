package stack

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/phiguard/phiguard/shared/phi"
)

// GatewayResponse is one of the responses API Gateway answers itself, without calling a function
// (an authorizer's refusal, throttling, a body over its limit, an unknown path, a function that
// failed). Infra configures each as an API Gateway gateway response with the API's own error
// envelope, {"error": {"code", "message", "details": {"requestId"}}}, and the headers every
// response of the API carries (X-Request-Id, Cache-Control: no-store), so that a client parses
// one error shape whoever answered.
type GatewayResponse struct {
	// Type is API Gateway's response type, e.g. "UNAUTHORIZED" or "DEFAULT_4XX".
	Type string
	// Status overrides API Gateway's status; 0 keeps it (the DEFAULT_ types cover several).
	Status int
	// Code is the error code of the envelope, from phi's vocabulary.
	Code string
	// Message is the envelope's message; empty takes API Gateway's own message for the error
	// ($context.error.messageString), which never holds request data.
	Message string
	// Headers are extra response headers with literal values (API Gateway's quoting is infra's).
	Headers map[string]string
}

// GatewayResponses are API Gateway's own responses that a client can get, with the status and
// code each is answered with. The statuses follow the functions' own table where the two can
// answer the same thing: an unsupported media type is 400 as in httpapi.Decode, not 415.
// DEFAULT_4XX and DEFAULT_5XX catch every other type.
var GatewayResponses = []GatewayResponse{
	{Type: "UNAUTHORIZED", Status: 401, Code: phi.EUNAUTHORIZED, Message: "send Authorization: Bearer with an active workspace token",
		Headers: map[string]string{"WWW-Authenticate": `Bearer realm="phiguard"`}},
	{Type: "ACCESS_DENIED", Status: 403, Code: phi.EFORBIDDEN, Message: "these credentials may not call this route"},
	{Type: "MISSING_AUTHENTICATION_TOKEN", Status: 403, Code: phi.EFORBIDDEN, Message: "no such route, or an operator route called without a SigV4 signature; see the API reference"},
	{Type: "INVALID_SIGNATURE", Status: 403, Code: phi.EFORBIDDEN, Message: "the SigV4 signature does not match the request"},
	{Type: "EXPIRED_TOKEN", Status: 403, Code: phi.EFORBIDDEN, Message: "the AWS credentials that signed the request have expired"},
	{Type: "WAF_FILTERED", Status: 403, Code: phi.EFORBIDDEN, Message: "the request was blocked by the API's web application firewall"},
	{Type: "RESOURCE_NOT_FOUND", Status: 404, Code: phi.ENOTFOUND, Message: "no such route; see the API reference"},
	{Type: "BAD_REQUEST_PARAMETERS", Status: 400, Code: phi.EBADREQUEST},
	{Type: "BAD_REQUEST_BODY", Status: 400, Code: phi.EBADREQUEST, Message: "the request body must be a JSON object"},
	{Type: "UNSUPPORTED_MEDIA_TYPE", Status: 400, Code: phi.EBADREQUEST, Message: "Content-Type must be application/json"},
	{Type: "REQUEST_TOO_LARGE", Status: 413, Code: phi.ETOOLARGE, Message: fmt.Sprintf("the request is larger than %d bytes", MaxRequestBodyBytes)},
	{Type: "THROTTLED", Status: 429, Code: phi.ETOOMANY, Message: "too many requests; retry after a pause, with backoff",
		Headers: map[string]string{"Retry-After": "1"}},
	{Type: "QUOTA_EXCEEDED", Status: 429, Code: phi.ETOOMANY, Message: "the request quota is used up; retry later",
		Headers: map[string]string{"Retry-After": "60"}},
	{Type: "AUTHORIZER_FAILURE", Status: 500, Code: phi.EINTERNAL, Message: "internal error"},
	{Type: "AUTHORIZER_CONFIGURATION_ERROR", Status: 500, Code: phi.EINTERNAL, Message: "internal error"},
	{Type: "DEFAULT_4XX", Code: phi.EBADREQUEST},
	{Type: "DEFAULT_5XX", Code: phi.EINTERNAL, Message: "internal error"},
}

// GatewayRequestIDVar is the API Gateway variable of the request id, the one the functions get as
// requestContext.requestId and answer as X-Request-Id.
const GatewayRequestIDVar = "$context.requestId"

// gatewayMessageVar is API Gateway's own message of an error, already a quoted JSON string.
const gatewayMessageVar = "$context.error.messageString"

// Body returns the response's application/json template: the error envelope with API Gateway's
// variables for the request id (and the message, when Message is empty).
func (g GatewayResponse) Body() string {
	msg := gatewayMessageVar
	if g.Message != "" {
		msg = quote(g.Message)
	}
	return `{"error":{"code":` + quote(g.Code) + `,"message":` + msg + `,"details":{"requestId":"` + GatewayRequestIDVar + `"}}}`
}

// WAFBlock is one of the web ACL's own block responses: WAF answers them before API Gateway, with
// a static body (no request id: WAF has none to give) in the same envelope.
type WAFBlock struct {
	// Key names the body among the web ACL's custom response bodies.
	Key     string
	Status  int
	Code    string
	Message string
	Headers map[string]string
}

// WAF blocks of the web ACL's own rules; the managed rule groups' blocks are API Gateway's
// WAF_FILTERED response.
var (
	WAFBodyTooLarge = WAFBlock{Key: "too_large", Status: 413, Code: phi.ETOOLARGE,
		Message: fmt.Sprintf("the request body is larger than %d bytes", MaxRequestBodyBytes)}
	WAFRateLimited = WAFBlock{Key: "rate_limited", Status: 429, Code: phi.ETOOMANY,
		Message: "too many requests from this address in the last five minutes; retry later",
		Headers: map[string]string{"Retry-After": "300"}}
)

// Body returns the block's static JSON body.
func (b WAFBlock) Body() string {
	return `{"error":{"code":` + quote(b.Code) + `,"message":` + quote(b.Message) + `,"details":{"blockedBy":"waf"}}}`
}

// GatewayStatuses returns the statuses, as strings, that API Gateway and WAF may answer on any
// route besides the function's own: what the OpenAPI document must list for every operation.
// The DEFAULT_ types are not listed: they keep a status that another row or the functions
// already answer, or a 5xx that the document's 5XX range covers.
func GatewayStatuses() []string {
	seen := map[int]bool{}
	var out []string
	add := func(s int) {
		if s != 0 && !seen[s] {
			seen[s] = true
			out = append(out, strconv.Itoa(s))
		}
	}
	for _, g := range GatewayResponses {
		add(g.Status)
	}
	add(WAFBodyTooLarge.Status)
	add(WAFRateLimited.Status)
	return out
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
