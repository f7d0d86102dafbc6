package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
	"github.com/phiguard/phiguard/shared/webhook"
)

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const testOperatorSecret = "operator-secret-for-tests-0123456789abcdef"

// api is the whole API served in-process against a fresh DynamoDB table in moto: the config
// and operator routers, and a keygen router whose handlers only answer "reached" (key
// generation is another package's; its routes still pass through this package's pipeline).
type api struct {
	store *dynamo.Store
	h     http.Handler
	logs  *syncBuffer
}

func newAPI(t *testing.T) *api {
	t.Helper()
	client := awstest.Clients(t).DynamoDB
	name := awstest.UniqueName("httpapi-test")
	if err := dynamo.CreateTable(context.Background(), client, name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	store := dynamo.New(client, name)
	return newAPIWith(t, store, store)
}

// testResolver stands in for DNS, which this machine lacks for public names: host names under
// .example resolve to a public address, except those named in addrs; anything else does not
// resolve.
type testResolver map[string][]netip.Addr

func (r testResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := r[host]; ok {
		return a, nil
	}
	if strings.HasSuffix(host, ".example") {
		return []netip.Addr{netip.MustParseAddr("93.184.215.14")}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// testWebhooks is the production webhook policy on testResolver.
var testWebhooks = webhook.Policy{Resolver: testResolver{
	"intranet.example": {netip.MustParseAddr("93.184.215.14"), netip.MustParseAddr("10.20.30.40")},
	"metadata.example": {netip.MustParseAddr("169.254.169.254")},
	"home.example":     {netip.MustParseAddr("127.0.0.1")},
}}

// newAPIWith builds the API on store, with cfgStore for the config routes (a test may wrap the
// store to inject an audit failure).
func newAPIWith(t *testing.T, store *dynamo.Store, cfgStore ConfigStore) *api {
	t.Helper()
	return newAPIWithPolicy(t, store, cfgStore, testWebhooks)
}

// newAPIWithPolicy is newAPIWith with the webhook policy of the config routes.
func newAPIWithPolicy(t *testing.T, store *dynamo.Store, cfgStore ConfigStore, webhooks webhook.Policy) *api {
	t.Helper()
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	auth := InProcess{Tokens: store, OperatorSecret: testOperatorSecret}
	cfg, err := (&Config{Store: cfgStore, Auth: auth, Logger: logger, Webhooks: webhooks}).Handler()
	if err != nil {
		t.Fatal(err)
	}
	op, err := (&Operator{Store: store, Auth: auth, Logger: logger}).Handler()
	if err != nil {
		t.Fatal(err)
	}
	stubs := map[string]http.Handler{}
	for _, rt := range stack.Routes {
		if rt.Function == stack.FunctionKeygen {
			stubs[RouteKey(rt)] = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				WriteJSON(w, http.StatusOK, map[string]bool{"reached": true})
			})
		}
	}
	kg, err := NewRouter(RouterConfig{Auth: auth, Audit: store, Logger: logger}, stack.FunctionKeygen, stubs)
	if err != nil {
		t.Fatal(err)
	}
	h, err := Combine(map[string]http.Handler{stack.FunctionConfig: cfg, stack.FunctionOperator: op, stack.FunctionKeygen: kg})
	if err != nil {
		t.Fatal(err)
	}
	return &api{store: store, h: h, logs: logs}
}

// response is a finished request.
type response struct {
	Status int
	Header http.Header
	Body   string
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.Body), v); err != nil {
		t.Fatalf("response %d is not JSON: %v: %s", r.Status, err, r.Body)
	}
}

func (r response) errCode(t *testing.T) string {
	t.Helper()
	code, _, _ := decodeErr(t, []byte(r.Body))
	return code
}

// do sends one request; token "" sends no Authorization header. Extra headers come in pairs.
func (a *api) do(t *testing.T, method, path, token, body string, headers ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, "http://api.test"+path, rd)
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	a.h.ServeHTTP(w, r)
	return response{Status: w.Code, Header: w.Header(), Body: w.Body.String()}
}

// must sends a request and fails the test unless it answers want.
func (a *api) must(t *testing.T, want int, method, path, token, body string, headers ...string) response {
	t.Helper()
	res := a.do(t, method, path, token, body, headers...)
	if res.Status != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, res.Status, want, res.Body)
	}
	return res
}

// workspace is a workspace created through the operator API, with a token per role.
type workspace struct {
	ID                      string
	Owner, Member, Readonly string // token secrets
	MemberID                string
	Source, Destination     string
}

func (a *api) newWorkspace(t *testing.T, tier string, baaSigned bool) *workspace {
	t.Helper()
	body := `{"name":"Acme Health","tier":"` + tier + `"}`
	if baaSigned {
		body = `{"name":"Acme Health","tier":"` + tier + `","baa":{"signed":true,"signedBy":"Dana Scully, CISO"}}`
	}
	var created CreatedWorkspace
	a.must(t, 201, "POST", "/operator/workspaces", testOperatorSecret, body).json(t, &created)
	ws := &workspace{ID: created.ID, Owner: created.OwnerToken.Secret}
	base := "/workspaces/" + ws.ID
	var tok CreatedToken
	a.must(t, 201, "POST", base+"/tokens", ws.Owner, `{"name":"ci","role":"member"}`).json(t, &tok)
	ws.Member, ws.MemberID = tok.Secret, tok.ID
	a.must(t, 201, "POST", base+"/tokens", ws.Owner, `{"name":"dashboards","role":"readonly"}`).json(t, &tok)
	ws.Readonly = tok.Secret
	var src phi.Source
	a.must(t, 201, "POST", base+"/sources", ws.Member, `{"name":"web"}`).json(t, &src)
	ws.Source = src.ID
	var dst DestinationView
	a.must(t, 201, "POST", base+"/destinations", ws.Member,
		`{"sourceId":"`+src.ID+`","name":"crm","type":"webhook","settings":{"url":"https://crm.example/hook"}}`).json(t, &dst)
	ws.Destination = dst.ID
	return ws
}

// fill replaces a route's path parameters: workspaceId with ws, the other ids with values from
// ids (or fresh, well-formed ids of nothing).
func fill(path, ws string, ids map[string]string) string {
	prefixes := map[string]string{"tokenId": phi.PrefixToken, "sourceId": phi.PrefixSource, "destinationId": phi.PrefixDestination, "matcherId": phi.PrefixMatcher, "keyId": phi.PrefixKey}
	path = strings.ReplaceAll(path, "{workspaceId}", ws)
	for name, prefix := range prefixes {
		v, ok := ids[name]
		if !ok {
			v = phi.NewID(prefix)
		}
		path = strings.ReplaceAll(path, "{"+name+"}", v)
	}
	return path
}

// validBodies are well-formed bodies per route, so that an allowed caller gets past decoding.
var validBodies = map[string]string{
	"POST /operator/workspaces":                                          `{"name":"Matrix"}`,
	"PUT /operator/workspaces/{workspaceId}/plan":                        `{"tier":"business","baa":{"signed":true,"signedBy":"Dana Scully, CISO"}}`,
	"POST /workspaces/{workspaceId}/tokens":                              `{"name":"matrix","role":"readonly"}`,
	"POST /workspaces/{workspaceId}/sources":                             `{"name":"matrix"}`,
	"PUT /workspaces/{workspaceId}/sources/{sourceId}":                   `{"name":"web"}`,
	"POST /workspaces/{workspaceId}/destinations":                        `{"sourceId":"SRC","name":"matrix","type":"webhook","settings":{"url":"https://x.example/h"}}`,
	"PUT /workspaces/{workspaceId}/destinations/{destinationId}":         `{"sourceId":"SRC","name":"crm","type":"webhook","settings":{"url":"https://crm.example/hook"}}`,
	"PUT /workspaces/{workspaceId}/destinations/{destinationId}/hashing": `{"enabled":false,"fields":[],"blockRed":true}`,
	"POST /workspaces/{workspaceId}/privacy/matchers":                    `{"name":"member number","classification":"yellow","target":"key","mode":"exact","synonyms":["member id"]}`,
	"PUT /workspaces/{workspaceId}/privacy/classifications":              `{"classifications":[{"path":"traits.email","classification":"yellow"}]}`,
	"POST /workspaces/{workspaceId}/destinations/{destinationId}/keys":   `{"algorithm":"hpke-p256"}`,
}

// The authorization matrix: every route of stack.Routes × every kind of caller.
func TestAuthorizationMatrix(t *testing.T) {
	a := newAPI(t)
	wsA := a.newWorkspace(t, "business", true)
	wsB := a.newWorkspace(t, "business", true)

	type outcome int
	const (
		allowed      outcome = iota // passes authentication, scoping and the role check
		unauthorized                // 401
		forbidden                   // 403
		hidden                      // 404 "workspace not found"
	)
	callers := []struct {
		name  string
		token string
		role  phi.Role
	}{
		{"owner", wsA.Owner, phi.RoleOwner},
		{"member", wsA.Member, phi.RoleMember},
		{"readonly", wsA.Readonly, phi.RoleReadonly},
		{"no token", "", ""},
		{"bad token", "phit_" + strings.Repeat("x", 43), ""},
		{"other workspace's owner", wsB.Owner, ""},
		{"operator", testOperatorSecret, ""},
	}
	expect := func(rt stack.Route, caller string, role phi.Role) outcome {
		switch {
		case caller == "no token" || caller == "bad token":
			return unauthorized
		case rt.Auth == stack.AuthOperator:
			if caller == "operator" {
				return allowed
			}
			return unauthorized
		case caller == "operator":
			return unauthorized
		case caller == "other workspace's owner":
			return hidden
		case rank(role) >= rank(Accesses[RouteKey(rt)].Role):
			return allowed
		}
		return forbidden
	}
	ids := map[string]string{"sourceId": wsA.Source, "destinationId": wsA.Destination}
	for _, rt := range stack.Routes {
		for _, c := range callers {
			t.Run(RouteKey(rt)+"/"+c.name, func(t *testing.T) {
				ids := ids
				if rt.Method == "DELETE" {
					ids = nil // fresh ids of nothing: an allowed delete answers 404, and the fixture survives
				}
				path := fill(rt.Path, wsA.ID, ids)
				body := strings.ReplaceAll(validBodies[RouteKey(rt)], "SRC", wsA.Source)
				res := a.do(t, rt.Method, path, c.token, body)
				want := expect(rt, c.name, c.role)
				_, msg, _ := decodeErr(t, append([]byte(nil), res.Body...))
				switch want {
				case allowed:
					if res.Status == 401 || res.Status == 403 || res.Status >= 500 || (res.Status == 404 && msg == "workspace not found") {
						t.Fatalf("want the route reached, got %d: %s", res.Status, res.Body)
					}
				case unauthorized:
					if res.Status != 401 || res.Header.Get("WWW-Authenticate") == "" {
						t.Fatalf("want 401 with WWW-Authenticate, got %d: %s", res.Status, res.Body)
					}
				case forbidden:
					if res.Status != 403 {
						t.Fatalf("want 403, got %d: %s", res.Status, res.Body)
					}
				case hidden:
					if res.Status != 404 || msg != "workspace not found" {
						t.Fatalf("want 404 workspace not found, got %d: %s", res.Status, res.Body)
					}
				}
			})
		}
	}
	// The other workspace is untouched by all of this: its single source and destination remain.
	var srcs List[phi.Source]
	a.must(t, 200, "GET", "/workspaces/"+wsB.ID+"/sources", wsB.Owner, "").json(t, &srcs)
	if len(srcs.Items) != 1 {
		t.Errorf("workspace B has %d sources after the matrix", len(srcs.Items))
	}
}
