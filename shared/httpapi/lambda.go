package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/phiguard/phiguard/shared/phi"
)

// gateway is what the adapter keeps of API Gateway's request context for the authenticator.
type gateway struct {
	RequestID  string
	Stage      string
	Identity   events.APIGatewayRequestIdentity
	Authorizer map[string]any
}

func gatewayContext(ctx context.Context) (gateway, bool) {
	g, ok := ctx.Value(gatewayKey).(gateway)
	return g, ok
}

// GatewayStage returns the API Gateway stage a request arrived through ("v1"), or "" for a
// request that did not come through the Lambda adapter. A page that links to itself needs it:
// on the API's default execute-api host the stage is the first segment of every URL.
func GatewayStage(ctx context.Context) string {
	g, _ := gatewayContext(ctx)
	return g.Stage
}

// LambdaHandler is the signature lambda.Start accepts for a REST API proxy integration.
type LambdaHandler func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error)

// Lambda adapts h to API Gateway REST proxy events, so the same handler serves Lambda and a
// local HTTP server. The event becomes an *http.Request (method, path, multi-value query and
// headers, body — base64-decoded when flagged) whose context carries the gateway's request id,
// caller identity and authorizer context for the Gateway authenticator; h's response is
// buffered and returned as the proxy response, base64-encoded when it is not UTF-8. A malformed
// event is answered with a 400 response, never an invocation error, so API Gateway shows the
// caller a JSON error rather than a 502.
func Lambda(h http.Handler) LambdaHandler {
	return func(ctx context.Context, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		r, err := NewRequest(ctx, ev)
		if err != nil {
			rec := newRecorder()
			WriteError(rec, (&http.Request{}).WithContext(ctx), nil, err)
			return rec.response(), nil
		}
		rec := newRecorder()
		h.ServeHTTP(rec, r)
		return rec.response(), nil
	}
}

// NewRequest converts a REST proxy event into an *http.Request carrying the gateway context.
// It returns an EBADREQUEST error when the body is flagged base64 but is not.
func NewRequest(ctx context.Context, ev events.APIGatewayProxyRequest) (*http.Request, error) {
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return nil, errBadEncoding
		}
		body = b
	}
	q := url.Values{}
	if len(ev.MultiValueQueryStringParameters) > 0 {
		for k, vs := range ev.MultiValueQueryStringParameters {
			q[k] = append([]string(nil), vs...)
		}
	} else {
		for k, v := range ev.QueryStringParameters {
			q.Set(k, v)
		}
	}
	path := ev.Path
	if path == "" {
		path = "/"
	}
	u := &url.URL{Path: path, RawQuery: q.Encode()}
	gw := gateway{
		RequestID:  ev.RequestContext.RequestID,
		Stage:      ev.RequestContext.Stage,
		Identity:   ev.RequestContext.Identity,
		Authorizer: ev.RequestContext.Authorizer,
	}
	ctx = context.WithValue(ctx, gatewayKey, gw)
	method := ev.HTTPMethod
	if method == "" {
		method = http.MethodGet
	}
	r, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, errBadEncoding
	}
	r.URL = u // keep the path exactly as received, unescaped once by API Gateway
	r.RequestURI = u.RequestURI()
	if len(ev.MultiValueHeaders) > 0 {
		for k, vs := range ev.MultiValueHeaders {
			for _, v := range vs {
				r.Header.Add(k, v)
			}
		}
	} else {
		for k, v := range ev.Headers {
			r.Header.Set(k, v)
		}
	}
	r.ContentLength = int64(len(body))
	r.Host = r.Header.Get("Host")
	r.RemoteAddr = ev.RequestContext.Identity.SourceIP
	return r, nil
}

var errBadEncoding = phi.Errorf(phi.EBADREQUEST, "the request could not be decoded")

// recorder buffers a handler's response for the proxy integration.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: http.Header{}} }

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

// copyTo writes the buffered response to w with status.
func (r *recorder) copyTo(w http.ResponseWriter, status int) {
	for k, vs := range r.header {
		w.Header()[k] = vs
	}
	w.WriteHeader(status)
	_, _ = w.Write(r.body.Bytes())
}

func (r *recorder) response() events.APIGatewayProxyResponse {
	status := r.status
	if status == 0 {
		status = http.StatusOK
	}
	resp := events.APIGatewayProxyResponse{StatusCode: status, MultiValueHeaders: map[string][]string{}}
	for k, vs := range r.header {
		resp.MultiValueHeaders[k] = append([]string(nil), vs...)
	}
	b := r.body.Bytes()
	if utf8.Valid(b) {
		resp.Body = string(b)
	} else {
		resp.Body = base64.StdEncoding.EncodeToString(b)
		resp.IsBase64Encoded = true
	}
	return resp
}

// headerValue returns the first value of a header in a case-insensitive single-value map.
func headerValue(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// LambdaOf turns the builder of an API function's http.Handler into the builder of its Lambda
// handler (see Lambda), for the function's main: fn.Main(name, httpapi.LambdaOf(build)).
func LambdaOf[E any](build func(context.Context, E) (http.Handler, error)) func(context.Context, E) (LambdaHandler, error) {
	return func(ctx context.Context, env E) (LambdaHandler, error) {
		h, err := build(ctx, env)
		if err != nil {
			return nil, err
		}
		return Lambda(h), nil
	}
}
