package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// gatewayFixture is a sample event of events/ that API Gateway sends a function.
type gatewayFixture struct {
	file string
	raw  []byte
	doc  map[string]any // raw, decoded
}

// gatewayFixtures returns the sample events that are API Gateway REST proxy requests and those
// that are REQUEST authorizer events (which carry a methodArn besides the request's fields).
func gatewayFixtures(t *testing.T) (proxy, authorizer []gatewayFixture) {
	t.Helper()
	files, err := filepath.Glob("../../events/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no sample events: %v", err)
	}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		_, method := doc["httpMethod"]
		_, resource := doc["resource"]
		_, path := doc["path"]
		_, methodARN := doc["methodArn"]
		f := gatewayFixture{file: filepath.Base(file), raw: raw, doc: doc}
		switch {
		case !method || !resource && !path:
		case methodARN:
			authorizer = append(authorizer, f)
		default:
			proxy = append(proxy, f)
		}
	}
	if len(proxy) == 0 {
		t.Fatal("no API Gateway proxy request among the sample events")
	}
	return proxy, authorizer
}

// reencode decodes raw into an E, encodes it again and returns both the event and the new JSON,
// decoded.
func reencode[E any](t *testing.T, raw []byte) (E, any) {
	t.Helper()
	var ev E
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return ev, doc
}

// jsonDiff lists where the decoded JSON values want and got differ, from path. A member that
// one object lacks and the other holds as a zero value (null, "", false, 0, [], or an object
// of zero values) is no difference: it carries nothing, and the Go types write some zero fields and omit others.
func jsonDiff(path string, want, got any) []string {
	if isZeroJSON(want) && isZeroJSON(got) {
		return nil
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: %v, want an object", path, got)}
		}
		keys := slices.Sorted(maps.Keys(w))
		for k := range g {
			if _, ok := w[k]; !ok {
				keys = append(keys, k)
			}
		}
		var diffs []string
		for _, k := range keys {
			diffs = append(diffs, jsonDiff(path+"."+k, w[k], g[k])...)
		}
		return diffs
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{fmt.Sprintf("%s: %v, want %v", path, got, want)}
		}
		var diffs []string
		for i := range w {
			diffs = append(diffs, jsonDiff(fmt.Sprintf("%s[%d]", path, i), w[i], g[i])...)
		}
		return diffs
	}
	if !reflect.DeepEqual(want, got) {
		return []string{fmt.Sprintf("%s: %v, want %v", path, got, want)}
	}
	return nil
}

func isZeroJSON(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return v == ""
	case bool:
		return !v
	case float64:
		return v == 0
	case map[string]any:
		for _, m := range v {
			if !isZeroJSON(m) {
				return false
			}
		}
		return true
	case []any:
		return len(v) == 0
	}
	return false
}

// As aws-lambda-go's tests do for its event types: each API Gateway sample decodes into its
// aws-lambda-go type and encodes again to the same JSON, so no field of the samples is one the
// functions never see.
func TestGatewaySamplesSurviveDecodingAndEncodingAgain(t *testing.T) {
	proxy, authorizer := gatewayFixtures(t)
	for _, f := range proxy {
		t.Run(f.file, func(t *testing.T) {
			_, got := reencode[events.APIGatewayProxyRequest](t, f.raw)
			for _, d := range jsonDiff("$", f.doc, got) {
				t.Errorf("events.APIGatewayProxyRequest: %s", d)
			}
		})
	}
	for _, f := range authorizer {
		t.Run(f.file, func(t *testing.T) {
			_, got := reencode[events.APIGatewayCustomAuthorizerRequestTypeRequest](t, f.raw)
			for _, d := range jsonDiff("$", f.doc, got) {
				t.Errorf("events.APIGatewayCustomAuthorizerRequestTypeRequest: %s", d)
			}
		})
	}
}

// muxPattern returns the http.ServeMux pattern of an API Gateway resource path: the same
// {name} segments, and a greedy {name+} as a trailing {name...}.
func muxPattern(method, resource string) string {
	return method + " " + strings.ReplaceAll(resource, "+}", "...}")
}

// Every API Gateway proxy sample, through NewRequest, reaches the handler as the *http.Request
// API Gateway meant: method, path (from which the resource's pattern recovers the path
// parameters), query, headers, body, caller and gateway context.
func TestGatewaySamplesBecomeTheRequestTheyDescribe(t *testing.T) {
	proxy, _ := gatewayFixtures(t)
	for _, f := range proxy {
		t.Run(f.file, func(t *testing.T) {
			var ev events.APIGatewayProxyRequest
			if err := json.Unmarshal(f.raw, &ev); err != nil {
				t.Fatal(err)
			}
			r, err := NewRequest(t.Context(), ev)
			if err != nil {
				t.Fatal(err)
			}
			if r.Method != ev.HTTPMethod || r.URL.Path != ev.Path || r.RequestURI != r.URL.RequestURI() {
				t.Errorf("request line = %s %s (%s), want %s %s", r.Method, r.URL.Path, r.RequestURI, ev.HTTPMethod, ev.Path)
			}

			matched := false
			mux := http.NewServeMux()
			mux.HandleFunc(muxPattern(ev.HTTPMethod, ev.Resource), func(_ http.ResponseWriter, r *http.Request) {
				matched = true
				for name, want := range ev.PathParameters {
					if got := r.PathValue(name); got != want {
						t.Errorf("path parameter %s = %q, want %q", name, got, want)
					}
				}
			})
			mux.ServeHTTP(httptest.NewRecorder(), r)
			if !matched {
				t.Errorf("path %s does not match the resource %s", r.URL.Path, ev.Resource)
			}

			query := url.Values(ev.MultiValueQueryStringParameters)
			if len(query) == 0 {
				query = url.Values{}
				for k, v := range ev.QueryStringParameters {
					query.Set(k, v)
				}
			}
			if got := r.URL.Query(); len(got)+len(query) > 0 && !reflect.DeepEqual(got, query) {
				t.Errorf("query = %v, want %v", got, query)
			}
			for k, v := range ev.QueryStringParameters {
				if !slices.Contains(r.URL.Query()[k], v) {
					t.Errorf("query parameter %s = %v, want it to hold %q", k, r.URL.Query()[k], v)
				}
			}

			for k, vs := range ev.MultiValueHeaders {
				if got := r.Header.Values(k); !slices.Equal(got, vs) {
					t.Errorf("header %s = %q, want %q", k, got, vs)
				}
			}
			for k, v := range ev.Headers {
				if !slices.Contains(r.Header.Values(k), v) {
					t.Errorf("header %s = %q, want it to hold %q", k, r.Header.Values(k), v)
				}
			}
			if r.Host != headerValue(ev.Headers, "Host") {
				t.Errorf("Host = %q, want %q", r.Host, headerValue(ev.Headers, "Host"))
			}

			body := []byte(ev.Body)
			if ev.IsBase64Encoded {
				if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
					t.Fatal(err)
				}
			}
			got, err := io.ReadAll(r.Body)
			if err != nil || string(got) != string(body) || r.ContentLength != int64(len(body)) {
				t.Errorf("body = %q (length %d), %v; want %q", got, r.ContentLength, err, body)
			}

			if r.RemoteAddr != ev.RequestContext.Identity.SourceIP {
				t.Errorf("RemoteAddr = %q, want the caller's %q", r.RemoteAddr, ev.RequestContext.Identity.SourceIP)
			}
			g, ok := gatewayContext(r.Context())
			if !ok || g.RequestID != ev.RequestContext.RequestID || !reflect.DeepEqual(g.Identity, ev.RequestContext.Identity) ||
				!reflect.DeepEqual(g.Authorizer, ev.RequestContext.Authorizer) {
				t.Errorf("gateway context = %+v (%t), want the event's request id, identity and authorizer", g, ok)
			}
		})
	}
}

// A handler's response, through Lambda, encodes to the proxy response API Gateway reads, and
// that JSON decodes to the same status, multi-value headers and body — base64 when the body is
// not UTF-8.
func TestLambdaResponsesSurviveEncodingForAPIGateway(t *testing.T) {
	binary := []byte{0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a, 0xff, 0x00}
	for _, tt := range []struct {
		name    string
		status  int // written by the handler; 0 writes none
		header  http.Header
		body    []byte
		want    int
		base64d bool
	}{
		{"a JSON body with its status", 201, http.Header{"Content-Type": {"application/json"}}, []byte(`{"id":"src_1"}`), 201, false},
		{"multi-value headers", 200, http.Header{"Set-Cookie": {"a=1", "b=2"}, "Vary": {"Accept", "Origin"}}, []byte("ok"), 200, false},
		{"no body", 204, http.Header{"X-Request-Id": {"req-1"}}, nil, 204, false},
		{"a body without a status", 0, http.Header{}, []byte("implicit"), 200, false},
		{"nothing written", 0, http.Header{}, nil, 200, false},
		{"UTF-8 text beyond ASCII", 200, http.Header{"Content-Type": {"text/csv; charset=utf-8"}}, []byte("name,prénom\n✓,Zoë\n"), 200, false},
		{"a binary body", 200, http.Header{"Content-Type": {"image/png"}}, binary, 200, true},
		{"a body cut inside a UTF-8 sequence", 500, http.Header{}, []byte("caf\xc3"), 500, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				maps.Copy(w.Header(), tt.header)
				if tt.status != 0 {
					w.WriteHeader(tt.status)
				}
				if tt.body != nil {
					_, _ = w.Write(tt.body)
				}
			})
			resp, err := Lambda(h)(t.Context(), events.APIGatewayProxyRequest{HTTPMethod: "GET", Path: "/"})
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(resp)
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"statusCode", "multiValueHeaders", "body"} {
				if _, ok := doc[k]; !ok {
					t.Errorf("the response JSON has no %s: %s", k, b)
				}
			}
			if got, _ := doc["isBase64Encoded"].(bool); got != tt.base64d {
				t.Errorf("isBase64Encoded = %v, want %t: %s", doc["isBase64Encoded"], tt.base64d, b)
			}

			var back events.APIGatewayProxyResponse
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if back.StatusCode != tt.want {
				t.Errorf("status = %d, want %d", back.StatusCode, tt.want)
			}
			if len(back.MultiValueHeaders)+len(tt.header) > 0 && !reflect.DeepEqual(http.Header(back.MultiValueHeaders), tt.header) {
				t.Errorf("multiValueHeaders = %v, want %v", back.MultiValueHeaders, tt.header)
			}
			body := []byte(back.Body)
			if back.IsBase64Encoded {
				if body, err = base64.StdEncoding.DecodeString(back.Body); err != nil {
					t.Fatalf("body is flagged base64 but is not: %v", err)
				}
			}
			if string(body) != string(tt.body) {
				t.Errorf("body = %q, want %q", body, tt.body)
			}
			if !reflect.DeepEqual(back, resp) {
				t.Errorf("decoded response = %+v, want what Lambda returned, %+v", back, resp)
			}
		})
	}
}
