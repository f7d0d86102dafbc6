package devserver

import (
	"bytes"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/phiguard/phiguard/shared/httpapi"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

// maxGatewayBody is API Gateway's REST payload limit.
const maxGatewayBody = 10 << 20

// Gateway is a local stand-in for API Gateway's REST proxy integration: each HTTP request
// becomes an events.APIGatewayProxyRequest (method, path, multi-value query and headers, body —
// base64 when not UTF-8 — and a request context with a request id, stage and source IP) and is
// handed to the same httpapi.LambdaHandler the functions run; the proxy response is written
// back. Bodies over 10 MB get 413 as from API Gateway.
type Gateway struct {
	Invoke httpapi.LambdaHandler
	Stage  string
}

// ServeHTTP implements http.Handler.
func (g Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxGatewayBody+1))
	if err != nil {
		writeGatewayError(w, http.StatusBadRequest, "could not read the request body")
		return
	}
	if len(body) > maxGatewayBody {
		writeGatewayError(w, http.StatusRequestEntityTooLarge, "Request Too Long")
		return
	}
	ev := g.Event(r, body)
	resp, err := g.Invoke(r.Context(), ev)
	if err != nil {
		// API Gateway answers an invocation error with 502.
		writeGatewayError(w, http.StatusBadGateway, "Internal server error")
		return
	}
	writeProxyResponse(w, resp)
}

// Event converts r (with its already-read body) into the proxy event API Gateway would send.
func (g Gateway) Event(r *http.Request, body []byte) events.APIGatewayProxyRequest {
	stage := g.Stage
	if stage == "" {
		stage = "local"
	}
	resource, params := matchRoute(r.Method, r.URL.Path)
	ev := events.APIGatewayProxyRequest{
		Resource:                        resource,
		PathParameters:                  params,
		Path:                            r.URL.Path,
		HTTPMethod:                      r.Method,
		Headers:                         map[string]string{},
		MultiValueHeaders:               map[string][]string{},
		QueryStringParameters:           map[string]string{},
		MultiValueQueryStringParameters: map[string][]string{},
		RequestContext: events.APIGatewayProxyRequestContext{
			RequestID:        phi.NewID("req_"),
			Stage:            stage,
			HTTPMethod:       r.Method,
			Path:             "/" + stage + r.URL.Path,
			Protocol:         r.Proto,
			RequestTime:      time.Now().UTC().Format("02/Jan/2006:15:04:05 -0700"),
			RequestTimeEpoch: time.Now().UnixMilli(),
			ResourcePath:     resource,
			Identity:         events.APIGatewayRequestIdentity{SourceIP: remoteIP(r), UserAgent: r.UserAgent()},
		},
	}
	for k, vs := range r.Header {
		ev.MultiValueHeaders[k] = append([]string(nil), vs...)
		ev.Headers[k] = vs[len(vs)-1]
	}
	if r.Host != "" {
		ev.Headers["Host"] = r.Host
		ev.MultiValueHeaders["Host"] = []string{r.Host}
	}
	for k, vs := range r.URL.Query() {
		ev.MultiValueQueryStringParameters[k] = append([]string(nil), vs...)
		ev.QueryStringParameters[k] = vs[len(vs)-1]
	}
	if utf8.Valid(body) {
		ev.Body = string(body)
	} else {
		ev.Body = base64.StdEncoding.EncodeToString(body)
		ev.IsBase64Encoded = true
	}
	return ev
}

// matchRoute finds the stack.Routes (or stack.ConsoleRoutes, which take every method) template
// that API Gateway would match for method and path, with its path parameters. An unmatched request gets the greedy proxy resource, as the API's
// catch-all does, so the handlers answer it with their JSON 404.
func matchRoute(method, path string) (string, map[string]string) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for _, rt := range stack.ConsoleRoutes {
		prefix, greedy := strings.CutSuffix(rt.Path, "/{proxy+}")
		switch {
		case !greedy && path == rt.Path:
			return rt.Path, map[string]string{}
		case greedy && strings.HasPrefix(path, prefix+"/"):
			return rt.Path, map[string]string{"proxy": strings.TrimPrefix(path, prefix+"/")}
		}
	}
	for _, rt := range stack.Routes {
		if rt.Method != method {
			continue
		}
		tmpl := strings.Split(strings.Trim(rt.Path, "/"), "/")
		if len(tmpl) != len(segs) {
			continue
		}
		params := map[string]string{}
		ok := true
		for i, t := range tmpl {
			switch {
			case strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}"):
				if segs[i] == "" {
					ok = false
				}
				params[strings.Trim(t, "{}")] = segs[i]
			case t != segs[i]:
				ok = false
			}
			if !ok {
				break
			}
		}
		if ok {
			return rt.Path, params
		}
	}
	return "/{proxy+}", map[string]string{"proxy": strings.TrimPrefix(path, "/")}
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func writeProxyResponse(w http.ResponseWriter, resp events.APIGatewayProxyResponse) {
	h := w.Header()
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		h.Del(k)
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil {
			writeGatewayError(w, http.StatusBadGateway, "Internal server error")
			return
		}
		body = b
	}
	status := resp.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = io.Copy(w, bytes.NewReader(body))
}

// writeGatewayError answers like API Gateway does for errors it raises itself.
func writeGatewayError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `{"message":"`+strings.ReplaceAll(msg, `"`, `'`)+`"}`+"\n")
}
