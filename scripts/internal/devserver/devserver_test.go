package devserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
	"github.com/phiguard/phiguard/shared/webhook"
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
		{name: "a console page, any method", method: "POST", path: "/console/destinations/dst_2/save", want: "/console/{proxy+}", params: map[string]string{"proxy": "destinations/dst_2/save"}},
		{name: "the console's root", method: "GET", path: "/console", want: "/console", params: map[string]string{}},
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

// The local receiver accepts a delivery only under a live secret of the destination it names: a
// delivery signed with another destination's secret (what any receiver could forge with a shared
// key) is refused.
func TestTheReceiverVerifiesEachDestinationsOwnSecret(t *testing.T) {
	keys := map[string][]byte{"dst_a": bytes.Repeat([]byte{'a'}, webhook.SecretLen), "dst_b": bytes.Repeat([]byte{'b'}, webhook.SecretLen)}
	verify := verifier(secretsFunc(func(_ context.Context, ws, dst string) ([][]byte, error) {
		if k, ok := keys[dst]; ok && ws == "ws_1" {
			return [][]byte{k}, nil
		}
		return nil, phi.Errorf(phi.ENOTFOUND, "no secrets")
	}))
	signed := func(key []byte, dst string) (http.Header, []byte) {
		body := []byte(`{"n":1}`)
		h := http.Header{}
		webhook.SetHeaders(h, [][]byte{key}, "msg_1", time.Now(), body)
		h.Set(webhook.HeaderWorkspace, "ws_1")
		h.Set(webhook.HeaderDestination, dst)
		return h, body
	}
	if err := verify(signed(keys["dst_a"], "dst_a")); err != nil {
		t.Errorf("a delivery signed with its destination's secret: %v", err)
	}
	if err := verify(signed(keys["dst_b"], "dst_a")); err == nil {
		t.Error("a delivery to dst_a signed with dst_b's secret was accepted")
	}
	if err := verify(signed(keys["dst_a"], "dst_unknown")); err == nil {
		t.Error("a delivery naming a destination without secrets was accepted")
	}
}

// secretsFunc is a webhook.Secrets from a function.
type secretsFunc func(ctx context.Context, wsID, dstID string) ([][]byte, error)

func (f secretsFunc) SigningKeys(ctx context.Context, wsID, dstID string) ([][]byte, error) {
	return f(ctx, wsID, dstID)
}

// The receiver keeps its Limit of deliveries across all hooks, drops the oldest beyond it, and
// says how many of what was asked for it dropped (issue 12, point 5).
func TestTheReceiverKeepsItsLimitAndCountsWhatItDropped(t *testing.T) {
	rc := &Receiver{DestinationHeader: "X-Destination", Limit: 3}
	post := func(hook, dst string, n int) {
		req := httptest.NewRequest("POST", "/hooks/"+hook, strings.NewReader(fmt.Sprintf(`{"n":%d}`, n)))
		req.Header.Set("X-Destination", dst)
		rc.ServeHTTP(httptest.NewRecorder(), req)
	}
	for i := range 4 {
		post("a", "dst_a", i)
	}
	post("b", "dst_b", 4)
	post("b", "dst_b", 5)
	list := func(q string) (items []Delivery, dropped, limit int) {
		w := httptest.NewRecorder()
		rc.ServeHTTP(w, httptest.NewRequest("GET", "/received"+q, nil))
		var out struct {
			Items   []Delivery `json:"items"`
			Dropped int        `json:"dropped"`
			Limit   int        `json:"limit"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatal(err)
		}
		return out.Items, out.Dropped, out.Limit
	}
	for _, c := range []struct {
		query          string
		kept, dropped  int
		firstKeptValue string
	}{
		{"", 3, 3, `{"n":3}`},
		{"?destination=a", 1, 3, `{"n":3}`},
		{"?destination=dst_a", 1, 3, `{"n":3}`},
		{"?destination=b", 2, 0, `{"n":4}`},
	} {
		items, dropped, limit := list(c.query)
		if len(items) != c.kept || dropped != c.dropped || limit != 3 || string(items[0].Body) != c.firstKeptValue {
			t.Errorf("GET /received%s: %d kept (first %s), %d dropped, limit %d; want %d kept (first %s), %d dropped, limit 3",
				c.query, len(items), items[0].Body, dropped, limit, c.kept, c.firstKeptValue, c.dropped)
		}
	}
	if (&Receiver{}).limit() != DefaultReceiverLimit {
		t.Errorf("a receiver without a Limit keeps %d, want %d", (&Receiver{}).limit(), DefaultReceiverLimit)
	}
}

func TestMainRefusesAReceiverLimitBelowOne(t *testing.T) {
	var stderr strings.Builder
	err := Main(context.Background(), []string{"-receiver-limit", "0"}, func(string) string { return "" }, io.Discard, &stderr)
	if err == nil || !strings.Contains(err.Error(), "-receiver-limit") {
		t.Errorf("Main(-receiver-limit 0) = %v; want an error naming the flag", err)
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

// startTest starts the local service on free ports with a unique prefix and cfg's other
// settings.
func startTest(t *testing.T, cfg Config) *Server {
	t.Helper()
	awstest.Clients(t)
	cfg.APIAddr, cfg.ReceiverAddr, cfg.Prefix = "127.0.0.1:0", "127.0.0.1:0", awstest.UniqueName("devsrv")
	s, err := Start(context.Background(), cfg)
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
	s := startTest(t, Config{})
	ctx := context.Background()
	do := func(method, path, bearer, body string) (int, map[string]any) {
		t.Helper()
		code, m, _ := apiCall(t, s, method, path, bearer, body)
		return code, m
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
	s := startTest(t, Config{})
	addr := strings.TrimPrefix(s.APIURL, "http://")
	_, err := Start(context.Background(), Config{APIAddr: addr, ReceiverAddr: "127.0.0.1:0", Prefix: awstest.UniqueName("devsrv")})
	if err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("err = %v; want the port-in-use message", err)
	}
}

func TestWebhookTargetsListTheReceiverThenTheExtraTargets(t *testing.T) {
	tcp := func(s string) net.Addr { return net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s)) }
	for _, tt := range []struct {
		name     string
		receiver net.Addr
		extra    []string
		want     string // the variable's value, or what the error says
		ok       bool
	}{
		{"the receiver alone", tcp("127.0.0.1:3001"), nil, "127.0.0.1:3001", true},
		{"the receiver and a test's servers", tcp("127.0.0.1:3001"), []string{"127.0.0.1:41000", "[::1]:41001"}, "127.0.0.1:3001,127.0.0.1:41000,[::1]:41001", true},
		{"an IPv6 receiver", tcp("[::1]:3001"), nil, "[::1]:3001", true},
		{"a receiver listening IPv4-mapped is listed as IPv4", tcp("[::ffff:127.0.0.1]:3001"), nil, "127.0.0.1:3001", true},
		{"a receiver on every interface is refused", tcp("0.0.0.0:3001"), nil, "-receiver-addr", false},
		{"a receiver on a LAN address is refused", tcp("192.168.1.20:3001"), nil, "not a loopback address", false},
		{"an extra target that is not loopback is refused", tcp("127.0.0.1:3001"), []string{"10.0.0.5:80"}, stack.EnvLocalWebhookTargets, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var extra []netip.AddrPort
			for _, e := range tt.extra {
				extra = append(extra, netip.MustParseAddrPort(e))
			}
			got, err := webhookTargets(tt.receiver, extra)
			if tt.ok && (err != nil || got != tt.want) {
				t.Fatalf("webhookTargets = %q, %v; want %q", got, err, tt.want)
			}
			if !tt.ok && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("err = %v, want one saying %q", err, tt.want)
			}
		})
	}
}

// apiCall sends one request to the local API — bearer as its token unless "", body as its JSON
// body (a string as it is, anything else but nil encoded), then headers as name, value pairs —
// and returns its status, decoded JSON body and headers.
func apiCall(tb testing.TB, s *Server, method, path, bearer string, body any, headers ...string) (int, map[string]any, http.Header) {
	tb.Helper()
	raw, ok := body.(string)
	if !ok && body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			tb.Fatal(err)
		}
		raw = string(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, s.APIURL+path, strings.NewReader(raw))
	if err != nil {
		tb.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if raw != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m, resp.Header
}

// apiWant is apiCall that fails the test unless the status is want.
func apiWant(tb testing.TB, s *Server, method, path, bearer string, body any, want int, headers ...string) (map[string]any, http.Header) {
	tb.Helper()
	code, m, h := apiCall(tb, s, method, path, bearer, body, headers...)
	if code != want {
		tb.Fatalf("%s %s: %d %v, want %d", method, path, code, m, want)
	}
	return m, h
}

// A test registers a local server of its own (plain http, like the fault servers of the
// reliability tests) as a webhook target: the API accepts a destination pointing at it, the
// delivery function reaches it, and every other local address — another loopback port, a
// name for loopback, the loopback addresses of issue 10 §4 — is refused with 422.
func TestAnExtraWebhookTargetIsReachableAndNothingElseLocal(t *testing.T) {
	type delivery struct {
		h    http.Header
		body []byte
	}
	got := make(chan delivery, 10)
	extra := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- delivery{r.Header.Clone(), body}
	}))
	t.Cleanup(extra.Close)
	unlisted := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the unlisted server got %s %s", r.Method, r.URL)
	}))
	t.Cleanup(unlisted.Close)
	s := startTest(t, Config{ExtraWebhookTargets: []netip.AddrPort{netip.MustParseAddrPort(extra.Listener.Addr().String())}})
	ctx := context.Background()
	ws, err := s.CreateSampleWorkspace(ctx)
	if err != nil {
		t.Fatal(err)
	}
	code, src, _ := apiCall(t, s, "POST", "/workspaces/"+ws.ID+"/sources", ws.OwnerToken, `{"name":"web"}`)
	if code != 201 {
		t.Fatalf("create source: %d %v", code, src)
	}
	destination := func(url string) (int, map[string]any) {
		code, m, _ := apiCall(t, s, "POST", "/workspaces/"+ws.ID+"/destinations", ws.OwnerToken,
			`{"sourceId":"`+src["id"].(string)+`","name":"hook","type":"webhook","settings":{"url":"`+url+`"}}`)
		return code, m
	}
	rcvPort := s.ReceiverURL[strings.LastIndex(s.ReceiverURL, ":"):]
	for _, url := range []string{
		unlisted.URL + "/hook", // a loopback port nobody listed
		"http://127.0.0.1:9/h",
		// issue 10 §4: the receiver's address on another port, loopback names and spellings
		"https://127.0.0.1:3100/", "https://[::1]/", "https://localhost:3100/", "https://[::ffff:127.0.0.1]/", "https://foo.localhost/",
		// the receiver's own port, by name and IPv4-mapped
		"https://localhost" + rcvPort + "/hooks/x", "https://[::ffff:127.0.0.1]" + rcvPort + "/hooks/x",
	} {
		t.Run(url+" is refused", func(t *testing.T) {
			code, body := destination(url)
			if code != 422 || !strings.Contains(fmt.Sprint(body), "settings.url") {
				t.Fatalf("POST destination %s: %d %v; want 422 naming settings.url", url, code, body)
			}
		})
	}
	if code, body := destination(s.HookURL("crm")); code != 201 {
		t.Fatalf("the receiver's URL: %d %v", code, body)
	}
	code, dst := destination(extra.URL + "/hook")
	if code != 201 {
		t.Fatalf("the extra target's URL: %d %v", code, dst)
	}

	_, err = s.Clients.SQS.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:    aws.String(s.Resources.IngestQueueURL),
		MessageBody: aws.String(`{"type":"track","event":"Checked In","messageId":"extra-target-1","userId":"u-1","properties":{"clinic":"north"}}`),
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{
			stack.AttrWorkspace: {DataType: aws.String("String"), StringValue: aws.String(ws.ID)},
			stack.AttrSource:    {DataType: aws.String("String"), StringValue: aws.String(src["id"].(string))},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The destination's signing secret, shown once in its creation response, verifies what the
	// extra target received.
	key, err := webhook.ParseSecret(fmt.Sprint(dst["signingSecret"]))
	if err != nil {
		t.Fatalf("the create response has no signing secret: %v", err)
	}
	select {
	case d := <-got:
		if d.h.Get(webhook.HeaderDestination) != dst["id"] {
			t.Errorf("delivery headers %v; want the destination %v", d.h, dst["id"])
		}
		if err := webhook.Verify(key, d.h, d.body, time.Now(), 0); err != nil {
			t.Errorf("the delivery does not verify with its destination's secret: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("no delivery reached the extra target within 60s")
	}
}
