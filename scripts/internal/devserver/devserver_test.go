package devserver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/stack"
)

func TestMatchRouteFindsTheTemplateAPIGatewayWouldMatch(t *testing.T) {
	tests := []struct {
		name, method, path, want string
		params                   map[string]string
	}{
		{name: "a top-level operator route", method: "POST", path: "/operator/workspaces", want: "/operator/workspaces", params: map[string]string{}},
		{name: "a route with two parameters", method: "PUT", path: "/workspaces/ws_1/destinations/dst_2/hashing",
			want: "/workspaces/{workspaceId}/destinations/{destinationId}/hashing", params: map[string]string{"workspaceId": "ws_1", "destinationId": "dst_2"}},
		{name: "a keygen route", method: "POST", path: "/workspaces/ws_1/destinations/dst_2/keys",
			want: "/workspaces/{workspaceId}/destinations/{destinationId}/keys", params: map[string]string{"workspaceId": "ws_1", "destinationId": "dst_2"}},
		{name: "an unknown path falls to the proxy resource", method: "GET", path: "/nope", want: "/{proxy+}", params: map[string]string{"proxy": "nope"}},
		{name: "a known path with another method falls to the proxy resource", method: "PATCH", path: "/operator/workspaces", want: "/{proxy+}", params: map[string]string{"proxy": "operator/workspaces"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, params := matchRoute(tt.method, tt.path)
			if got != tt.want {
				t.Errorf("resource = %q, want %q", got, tt.want)
			}
			if len(params) != len(tt.params) {
				t.Errorf("params = %v, want %v", params, tt.params)
			}
			for k, v := range tt.params {
				if params[k] != v {
					t.Errorf("param %s = %q, want %q", k, params[k], v)
				}
			}
		})
	}
}

func TestGatewayHandsTheHandlerAProxyEventAndWritesItsResponse(t *testing.T) {
	var got events.APIGatewayProxyRequest
	g := Gateway{Invoke: func(_ context.Context, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		got = ev
		return events.APIGatewayProxyResponse{
			StatusCode:        201,
			MultiValueHeaders: map[string][]string{"X-Two": {"a", "b"}, "Content-Type": {"application/json"}},
			Body:              "AAEC", IsBase64Encoded: true,
		}, nil
	}}
	body := string([]byte{0xff, 0x00, 'x'})
	req := httptest.NewRequest("POST", "/workspaces/ws_1/sources?limit=5&limit=6", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer t")
	w := httptest.NewRecorder()
	g.ServeHTTP(w, req)

	if got.HTTPMethod != "POST" || got.Path != "/workspaces/ws_1/sources" || got.Resource != "/workspaces/{workspaceId}/sources" {
		t.Errorf("event method/path/resource = %s %s %s", got.HTTPMethod, got.Path, got.Resource)
	}
	if got.PathParameters["workspaceId"] != "ws_1" {
		t.Errorf("path parameters = %v", got.PathParameters)
	}
	if got.Headers["Authorization"] != "Bearer t" {
		t.Errorf("headers = %v", got.Headers)
	}
	if vs := got.MultiValueQueryStringParameters["limit"]; len(vs) != 2 || got.QueryStringParameters["limit"] != "6" {
		t.Errorf("query = %v / %v", got.MultiValueQueryStringParameters, got.QueryStringParameters)
	}
	if !got.IsBase64Encoded || got.Body != "/wB4" {
		t.Errorf("a non-UTF-8 body must arrive base64-encoded: %q %v", got.Body, got.IsBase64Encoded)
	}
	if got.RequestContext.RequestID == "" || got.RequestContext.Stage != "local" || got.RequestContext.Identity.SourceIP == "" {
		t.Errorf("request context = %+v", got.RequestContext)
	}
	if w.Code != 201 || w.Body.String() != "\x00\x01\x02" || len(w.Header().Values("X-Two")) != 2 {
		t.Errorf("response = %d %q %v", w.Code, w.Body.String(), w.Header())
	}
}

func TestGatewayAnswersAnInvocationErrorWith502(t *testing.T) {
	g := Gateway{Invoke: func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		return events.APIGatewayProxyResponse{}, errors.New("crash")
	}}
	w := httptest.NewRecorder()
	g.ServeHTTP(w, httptest.NewRequest("GET", "/x", nil))
	if w.Code != http.StatusBadGateway || strings.Contains(w.Body.String(), "crash") {
		t.Errorf("got %d %q; want 502 without the cause", w.Code, w.Body.String())
	}
}

func TestReceiverRecordsWhatEachDestinationReceived(t *testing.T) {
	rc := &Receiver{DestinationHeader: "X-Destination", Verify: func(h http.Header, body []byte) error {
		if h.Get("X-Sig") != "good" {
			return errors.New("bad signature")
		}
		return nil
	}}
	post := func(path, dst, sig, body string) int {
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("X-Destination", dst)
		req.Header.Set("X-Sig", sig)
		w := httptest.NewRecorder()
		rc.ServeHTTP(w, req)
		return w.Code
	}
	if c := post("/hooks/analytics", "dst_a", "good", `{"n":1}`); c != 200 {
		t.Errorf("a verified delivery got %d", c)
	}
	if c := post("/hooks/crm", "dst_b", "forged", `{"n":2}`); c != 401 {
		t.Errorf("a delivery with a bad signature got %d; want 401", c)
	}
	post("/hooks/analytics", "dst_a", "good", "not json")

	get := func(q string) []Delivery {
		w := httptest.NewRecorder()
		rc.ServeHTTP(w, httptest.NewRequest("GET", "/received"+q, nil))
		var out struct{ Items []Delivery }
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatal(err)
		}
		return out.Items
	}
	if got := get("?destination=analytics"); len(got) != 2 || string(got[0].Body) != `{"n":1}` || string(got[1].Body) != `"not json"` {
		t.Errorf("by hook name: %+v", got)
	}
	if got := get("?destination=dst_b"); len(got) != 1 || *got[0].Verified || got[0].VerifyError == "" {
		t.Errorf("by destination id: %+v", got)
	}
	if got := get(""); len(got) != 3 {
		t.Errorf("everything: %d deliveries, want 3", len(got))
	}
	w := httptest.NewRecorder()
	rc.ServeHTTP(w, httptest.NewRequest("DELETE", "/received", nil))
	if w.Code != 404 {
		t.Errorf("unknown request got %d", w.Code)
	}
}

func TestCheckEmulatorsRefusesAnythingButLoopback(t *testing.T) {
	good := map[string]string{}
	for _, v := range stack.EndpointVars {
		good[v] = "http://127.0.0.1:4566"
	}
	tests := []struct {
		name    string
		set     map[string]string
		wantErr string
	}{
		{name: "every endpoint on loopback is accepted", set: nil},
		{name: "localhost is accepted", set: map[string]string{"AWS_ENDPOINT_URL_KMS": "http://localhost:9"}},
		{name: "a missing endpoint is refused", set: map[string]string{"AWS_ENDPOINT_URL_SQS": ""}, wantErr: "AWS_ENDPOINT_URL_SQS is not set"},
		{name: "a real AWS endpoint is refused", set: map[string]string{"AWS_ENDPOINT_URL_DYNAMODB": "https://dynamodb.us-east-1.amazonaws.com"}, wantErr: "not a loopback address"},
		{name: "a LAN address is refused", set: map[string]string{"AWS_ENDPOINT_URL_SNS": "http://10.0.0.5:4566"}, wantErr: "not a loopback address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range good {
				env[k] = v
			}
			for k, v := range tt.set {
				env[k] = v
			}
			err := checkEmulators(func(k string) string { return env[k] })
			if tt.wantErr == "" && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestListenNamesThePortInUseAndTheFlag(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = listen("API", ln.Addr().String(), "-api-addr")
	if err == nil {
		t.Fatal("listening on a busy port succeeded")
	}
	msg := err.Error()
	if !strings.Contains(msg, "already in use") || !strings.Contains(msg, ln.Addr().String()) || !strings.Contains(msg, "-api-addr") || strings.Contains(msg, "\n") {
		t.Errorf("error %q must be one line naming the address and the flag", msg)
	}
}

func TestMainReportsABusyPortAsOneLine(t *testing.T) {
	awstest.Clients(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = Main(context.Background(), []string{"-api-addr", ln.Addr().String(), "-receiver-addr", "127.0.0.1:0", "-prefix", awstest.UniqueName("busy")},
		func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("err = %v; want the port-in-use message", err)
	}
}

// startTest starts the local service on free ports with a unique prefix.
func startTest(t *testing.T) *Server {
	t.Helper()
	awstest.Clients(t)
	s, err := Start(context.Background(), Config{APIAddr: "127.0.0.1:0", ReceiverAddr: "127.0.0.1:0", Prefix: awstest.UniqueName("devsrv")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func TestStartServesTheAPIWithTheInProcessAuthorizer(t *testing.T) {
	s := startTest(t)
	ctx := context.Background()
	do := func(method, path, bearer, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, s.APIURL+path, strings.NewReader(body))
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	if code, _ := do("POST", "/operator/workspaces", "", `{"name":"x"}`); code != 401 {
		t.Errorf("operator route without a credential: %d, want 401", code)
	}
	if code, _ := do("POST", "/operator/workspaces", strings.Repeat("x", 40), `{"name":"x"}`); code != 401 {
		t.Errorf("operator route with a wrong credential: %d, want 401", code)
	}
	ws, err := s.CreateSampleWorkspace(ctx)
	if err != nil {
		t.Fatal(err)
	}
	code, body := do("GET", "/workspaces/"+ws.ID, ws.OwnerToken, "")
	if code != 200 || body["hipaaEligible"] != true {
		t.Errorf("owner reads the sample workspace: %d %v; want 200 and the HIPAA badge", code, body)
	}
	if code, _ := do("GET", "/workspaces/"+ws.ID, s.OperatorSecret, ""); code != 401 {
		t.Errorf("the operator credential on a token route: %d, want 401", code)
	}
	if code, _ := do("GET", "/no/such/route", ws.OwnerToken, ""); code != 404 {
		t.Errorf("unknown route: %d, want 404", code)
	}

	var banner strings.Builder
	PrintBanner(&banner, s, ws)
	for _, want := range []string{s.APIURL, s.ReceiverURL, s.OperatorSecret, ws.OwnerToken, "curl -s"} {
		if !strings.Contains(banner.String(), want) {
			t.Errorf("banner lacks %q", want)
		}
	}
	if n := strings.Count(banner.String(), "\n  curl "); n < 3 {
		t.Errorf("banner shows %d commands to try; want at least 3", n)
	}
}

func TestStartRefusesAPortInUseAndLeavesNothingRunning(t *testing.T) {
	s := startTest(t)
	addr := strings.TrimPrefix(s.APIURL, "http://")
	_, err := Start(context.Background(), Config{APIAddr: addr, ReceiverAddr: "127.0.0.1:0", Prefix: awstest.UniqueName("devsrv")})
	if err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("err = %v; want the port-in-use message", err)
	}
}
