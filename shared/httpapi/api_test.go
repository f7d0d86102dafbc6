package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/phiguard/phiguard/shared/audit"
	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/catalog"
	"github.com/phiguard/phiguard/shared/delivery"
	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/logtest"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/privacy"
	"github.com/phiguard/phiguard/shared/stack"
	"github.com/phiguard/phiguard/shared/webhook"
	"github.com/phiguard/phiguard/shared/workspace"
)

const testOperatorSecret = "operator-secret-for-tests-0123456789abcdef"

// api is the whole API served in-process against a fresh DynamoDB table in moto: the config
// and operator routers, and a keygen router whose handlers only answer "reached" (key
// generation is another package's; its routes still pass through this package's pipeline).
type api struct {
	store *dynamo.Store
	h     http.Handler
	logs  *logtest.Buffer
	ops   *opCounter // the DynamoDB operations of newAPI's store
	// table and client reach newAPI's table directly, as someone tampering with it would.
	table  string
	client *dynamodb.Client
	// queues are the delivery queue and its dead-letter queue the dead-letter routes use.
	queues *deliveryQueues
}

// opCounter counts DynamoDB operations by name.
type opCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *opCounter) seen() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.n)
}

// withOpCounter returns a copy of client that counts its operations in c and refuses Scan: no
// request path may scan the table (docs/STORE.md), so any route that did fails its test.
func withOpCounter(client *dynamodb.Client, c *opCounter) *dynamodb.Client {
	hook := middleware.InitializeMiddlewareFunc("count-ops", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		op := awsmiddleware.GetOperationName(ctx)
		c.mu.Lock()
		c.n[op]++
		c.mu.Unlock()
		if op == "Scan" {
			return middleware.InitializeOutput{}, middleware.Metadata{}, errors.New("Scan on a request path")
		}
		return next.HandleInitialize(ctx, in)
	})
	return dynamodb.New(client.Options(), func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error { return st.Initialize.Add(hook, middleware.Before) })
	})
}

func newAPI(t *testing.T) *api {
	t.Helper()
	ops := &opCounter{n: map[string]int{}}
	client := withOpCounter(awstest.Clients(t).DynamoDB, ops)
	name := awstest.UniqueName("httpapi-test")
	if err := dynamo.CreateTable(context.Background(), client, name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	store := dynamo.New(client, name)
	a := newAPIWith(t, store, store)
	a.ops, a.table, a.client = ops, name, client
	return a
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
// testTester stands in for the AWS destinations' tester (shared/awsdest, tested against the
// emulators there): it reports a written test record.
var testTester = testerFunc(func(_ context.Context, d *phi.Destination) catalog.TestResult {
	return catalog.TestResult{Delivered: true, Step: "write", RecordID: "test-1", Location: d.Settings.QueueARN, Message: "wrote the test record"}
})

type testerFunc func(context.Context, *phi.Destination) catalog.TestResult

func (f testerFunc) Test(ctx context.Context, d *phi.Destination) catalog.TestResult {
	return f(ctx, d)
}

var testAssumingRoles = []string{"arn:aws:iam::999988887777:role/phiguard-delivery-fn", "arn:aws:iam::999988887777:role/phiguard-config-fn"}

// awsDestination stores an SQS destination in workspace ws and returns its id.
func (a *api) awsDestination(t *testing.T, ws *testWorkspace) string {
	t.Helper()
	d := phi.Destination{ID: phi.NewID(phi.PrefixDestination), WorkspaceID: ws.ID, SourceID: ws.Source, Name: "queue", Type: phi.DestinationSQS,
		Settings: phi.DestinationSettings{RoleARN: "arn:aws:iam::123456789012:role/phiguard-delivery/q", QueueARN: "arn:aws:sqs:us-east-1:123456789012:events"}}
	if err := a.store.CreateDestination(context.Background(), &d); err != nil {
		t.Fatal(err)
	}
	return d.ID
}

var testWebhooks = webhook.Policy{Resolver: testResolver{
	"intranet.example": {netip.MustParseAddr("93.184.215.14"), netip.MustParseAddr("10.20.30.40")},
	"metadata.example": {netip.MustParseAddr("169.254.169.254")},
	"home.example":     {netip.MustParseAddr("127.0.0.1")},
}}

// testCMK returns a key of the KMS emulator, created once per test binary, under which the
// config routes generate signing secrets.
func testCMK(t *testing.T) string {
	t.Helper()
	cmk.once.Do(func() {
		out, err := awstest.Clients(t).KMS.CreateKey(context.Background(), &kms.CreateKeyInput{Description: aws.String("httpapi test")})
		if err == nil {
			cmk.id = aws.ToString(out.KeyMetadata.KeyId)
		}
		cmk.err = err
	})
	if cmk.err != nil {
		t.Fatal(cmk.err)
	}
	return cmk.id
}

var cmk struct {
	once sync.Once
	id   string
	err  error
}

// signingKey is the audit signing key of this test binary, created in local-kms once.
var signingKey struct {
	once sync.Once
	id   string
	err  error
}

// auditSigningKey returns the id of an ECC_NIST_P256 signing key in local-kms.
func auditSigningKey(t *testing.T, c *kms.Client) string {
	t.Helper()
	signingKey.once.Do(func() {
		out, err := c.CreateKey(context.Background(), &kms.CreateKeyInput{KeySpec: kmstypes.KeySpecEccNistP256, KeyUsage: kmstypes.KeyUsageTypeSignVerify})
		if signingKey.err = err; err == nil {
			signingKey.id = aws.ToString(out.KeyMetadata.KeyId)
		}
	})
	if signingKey.err != nil {
		t.Fatal(signingKey.err)
	}
	return signingKey.id
}

// newAPIWith builds the API on store, with cfgStore for the config routes (a test may wrap the
// store to inject an audit failure).
func newAPIWith(t *testing.T, store *dynamo.Store, cfgStore ConfigStore) *api {
	t.Helper()
	return newAPIWithPolicy(t, store, cfgStore, testWebhooks)
}

// newAPIWithPolicy is newAPIWith with the webhook policy of the config routes.
func newAPIWithPolicy(t *testing.T, store *dynamo.Store, cfgStore ConfigStore, webhooks webhook.Policy) *api {
	t.Helper()
	logs := &logtest.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	auth := InProcess{Tokens: store, OperatorSecret: testOperatorSecret}
	kmsClient := awstest.Clients(t).KMS
	trail := &audit.Trail{Store: store, KMS: kmsClient, SigningKey: auditSigningKey(t, kmsClient)}
	q := newDeliveryQueues(t)
	signing := &webhook.Generator{KMS: kmsClient, CMK: testCMK(t)}
	cfg, err := (&ConfigAPI{Service: &workspace.Service{Store: cfgStore, Webhooks: webhooks, Tester: testTester, AssumingRoles: testAssumingRoles, Signing: signing}, Audit: cfgStore, Trail: trail, Auth: auth, Logger: logger, Idempotency: store,
		DeadLetters: &delivery.DeadLetters{Queue: q.sqs, QueueURL: q.url, DLQURL: q.dlq}}).Handler()
	if err != nil {
		t.Fatal(err)
	}
	op, err := (&OperatorAPI{Operator: &workspace.Operator{Store: store}, Audit: store, Auth: auth, Logger: logger}).Handler()
	if err != nil {
		t.Fatal(err)
	}
	stubs := NewRouter(RouterConfig{Auth: auth, Audit: store, Logger: logger, Idempotency: store}, stack.FunctionKeygen)
	for _, rt := range stack.Routes {
		if rt.Function == stack.FunctionKeygen {
			stubs.Handle(rt, func(w http.ResponseWriter, r *http.Request) error {
				WriteJSON(w, http.StatusOK, map[string]bool{"reached": true})
				return nil
			})
		}
	}
	kg, err := stubs.Handler()
	if err != nil {
		t.Fatal(err)
	}
	h, err := Combine(map[string]http.Handler{stack.FunctionConfig: cfg, stack.FunctionOperator: op, stack.FunctionKeygen: kg})
	if err != nil {
		t.Fatal(err)
	}
	return &api{store: store, h: h, logs: logs, queues: q}
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

// testWorkspace is a workspace created through the operator API, with a token per role.
type testWorkspace struct {
	ID                      string
	Owner, Member, Readonly string // token secrets
	MemberID                string
	Source, Destination     string
}

func (a *api) newWorkspace(t *testing.T, tier string, baaSigned bool) *testWorkspace {
	t.Helper()
	body := `{"name":"Acme Health","tier":"` + tier + `"}`
	if baaSigned {
		body = `{"name":"Acme Health","tier":"` + tier + `","baa":{"signed":true,"signedBy":"Dana Scully, CISO"}}`
	}
	var created CreatedWorkspace
	a.must(t, 201, "POST", "/operator/workspaces", testOperatorSecret, body).json(t, &created)
	ws := &testWorkspace{ID: created.ID, Owner: created.OwnerToken.Secret}
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

// lifecycleRoutes close, reopen and purge a workspace: the authorization matrix gives each its
// own workspace (lifecycleVictim), so that closing does not revoke the tokens the other routes
// are tried with.
var lifecycleRoutes = map[stack.Route]bool{stack.RouteCloseWorkspace: true, stack.RouteReopenWorkspace: true, stack.RoutePurgeWorkspace: true}

// lifecycleVictim returns a new workspace in the state that route succeeds in: open to close,
// closed to reopen, closed past its grace period to purge.
func lifecycleVictim(t *testing.T, a *api, rt stack.Route) string {
	t.Helper()
	ws := a.newWorkspace(t, "business", true)
	now := time.Now().UTC()
	var err error
	switch rt {
	case stack.RouteReopenWorkspace:
		_, err = a.store.CloseWorkspace(context.Background(), ws.ID, phi.Closure{At: now, By: "operator:test", Reason: "test", PurgeAfter: now.Add(phi.ClosureGracePeriod)})
	case stack.RoutePurgeWorkspace:
		past := now.Add(-phi.ClosureGracePeriod - time.Hour)
		_, err = a.store.CloseWorkspace(context.Background(), ws.ID, phi.Closure{At: past, By: "operator:test", Reason: "test", PurgeAfter: past.Add(phi.ClosureGracePeriod)})
	}
	if err != nil {
		t.Fatal(err)
	}
	return ws.ID
}

// validBodies are well-formed bodies per route, so that an allowed caller gets past decoding.
var validBodies = map[string]string{
	"POST /operator/workspaces":                                                         `{"name":"Matrix"}`,
	"PUT /operator/workspaces/{workspaceId}/plan":                                       `{"tier":"business","baa":{"signed":true,"signedBy":"Dana Scully, CISO"}}`,
	"POST /operator/workspaces/{workspaceId}/owner-tokens":                              `{"name":"recovery for Dana"}`,
	"POST /operator/workspaces/{workspaceId}/reopen":                                    `{"name":"owner after reopening"}`,
	"POST /operator/workspaces/{workspaceId}/close":                                     `{"reason":"the customer's offboarding request"}`,
	"POST /workspaces/{workspaceId}/tokens":                                             `{"name":"matrix","role":"readonly"}`,
	"POST /workspaces/{workspaceId}/sources":                                            `{"name":"matrix"}`,
	"PUT /workspaces/{workspaceId}/sources/{sourceId}":                                  `{"name":"web"}`,
	"POST /workspaces/{workspaceId}/destinations":                                       `{"sourceId":"SRC","name":"matrix","type":"webhook","settings":{"url":"https://x.example/h"}}`,
	"PUT /workspaces/{workspaceId}/destinations/{destinationId}":                        `{"sourceId":"SRC","name":"crm","type":"webhook","settings":{"url":"https://crm.example/hook"}}`,
	"PUT /workspaces/{workspaceId}/destinations/{destinationId}/hashing":                `{"enabled":false,"fields":[],"blockRed":true}`,
	"POST /workspaces/{workspaceId}/destinations/{destinationId}/signing-secret/rotate": `{"overlapSeconds":60}`,
	"POST /workspaces/{workspaceId}/privacy/matchers":                                   `{"name":"member number","classification":"yellow","target":"key","mode":"exact","synonyms":["member id"]}`,
	"PUT /workspaces/{workspaceId}/privacy/classifications":                             `{"classifications":[{"path":"traits.email","classification":"yellow"}]}`,
	"POST /workspaces/{workspaceId}/destinations/{destinationId}/keys":                  `{"algorithm":"hpke-p256"}`,
}

// leastRole is the least role each customer route needs, written from the issue rather than
// read from stack.Routes: only owners reach tokens, the Privacy Portal, hashing settings, keys and
// the audit log; members manage sources and destinations; readonly reads non-PHI config.
var leastRole = map[string]phi.Role{
	"GET /workspaces/{workspaceId}/destinations/{destinationId}/access-policy": phi.RoleReadonly,
	"POST /workspaces/{workspaceId}/destinations/{destinationId}/test":         phi.RoleOwner,
	"GET /catalog":                                                       phi.RoleReadonly,
	"GET /workspaces/{workspaceId}":                                      phi.RoleReadonly,
	"GET /workspaces/{workspaceId}/tokens":                               phi.RoleOwner,
	"POST /workspaces/{workspaceId}/tokens":                              phi.RoleOwner,
	"DELETE /workspaces/{workspaceId}/tokens/{tokenId}":                  phi.RoleOwner,
	"GET /workspaces/{workspaceId}/sources":                              phi.RoleReadonly,
	"POST /workspaces/{workspaceId}/sources":                             phi.RoleMember,
	"GET /workspaces/{workspaceId}/sources/{sourceId}":                   phi.RoleReadonly,
	"PUT /workspaces/{workspaceId}/sources/{sourceId}":                   phi.RoleMember,
	"DELETE /workspaces/{workspaceId}/sources/{sourceId}":                phi.RoleMember,
	"GET /workspaces/{workspaceId}/destinations":                         phi.RoleReadonly,
	"POST /workspaces/{workspaceId}/destinations":                        phi.RoleMember,
	"GET /workspaces/{workspaceId}/destinations/{destinationId}":         phi.RoleReadonly,
	"PUT /workspaces/{workspaceId}/destinations/{destinationId}":         phi.RoleMember,
	"DELETE /workspaces/{workspaceId}/destinations/{destinationId}":      phi.RoleMember,
	"PUT /workspaces/{workspaceId}/destinations/{destinationId}/hashing": phi.RoleOwner,
	// Members create destinations and receive their signing secret; so they may rotate it.
	"POST /workspaces/{workspaceId}/destinations/{destinationId}/signing-secret/rotate": phi.RoleMember,
	"GET /workspaces/{workspaceId}/privacy/matchers":                                    phi.RoleOwner,
	"POST /workspaces/{workspaceId}/privacy/matchers":                                   phi.RoleOwner,
	"DELETE /workspaces/{workspaceId}/privacy/matchers/{matcherId}":                     phi.RoleOwner,
	"GET /workspaces/{workspaceId}/privacy/inbox":                                       phi.RoleOwner,
	"GET /workspaces/{workspaceId}/privacy/classifications":                             phi.RoleOwner,
	"PUT /workspaces/{workspaceId}/privacy/classifications":                             phi.RoleOwner,
	"GET /workspaces/{workspaceId}/audit":                                               phi.RoleOwner,
	"GET /workspaces/{workspaceId}/export":                                              phi.RoleOwner,
	"GET /workspaces/{workspaceId}/audit/verify":                                        phi.RoleOwner,
	"GET /workspaces/{workspaceId}/audit/export":                                        phi.RoleOwner,
	"GET /workspaces/{workspaceId}/destinations/{destinationId}/keys":                   phi.RoleOwner,
	"POST /workspaces/{workspaceId}/destinations/{destinationId}/keys":                  phi.RoleOwner,
	"POST /workspaces/{workspaceId}/destinations/{destinationId}/keys/import":           phi.RoleOwner,
	"POST /workspaces/{workspaceId}/destinations/{destinationId}/keys/{keyId}/revoke":   phi.RoleOwner,
	"POST /workspaces/{workspaceId}/destinations/{destinationId}/keys/{keyId}/activate": phi.RoleOwner,
	"POST /workspaces/{workspaceId}/destinations/{destinationId}/hmac-keys":             phi.RoleOwner,
	"GET /workspaces/{workspaceId}/destinations/{destinationId}/dead-letters":           phi.RoleOwner,
	"POST /workspaces/{workspaceId}/destinations/{destinationId}/dead-letters/replay":   phi.RoleOwner,
}

// The authorization matrix: every route of stack.Routes × every kind of caller, each cell
// asserting its exact status. An allowed caller gets the route's success status (the request is
// well formed, names existing resources and, for a PUT, the current ETag); a refused one gets
// 401, 403 or 404 "workspace not found" and changes nothing. Every call of an audited route by
// an authenticated caller of the workspace leaves an audit record with the route's action, the
// caller, the outcome and the request id.
func TestAuthorizationMatrix(t *testing.T) {
	a := newAPI(t)
	ctx := context.Background()
	wsA := a.newWorkspace(t, "business", true)
	awsDst := a.awsDestination(t, wsA)
	wsB := a.newWorkspace(t, "business", true)

	type outcome int
	const (
		allowed      outcome = iota // the route's success status
		unauthorized                // 401
		forbidden                   // 403
		hidden                      // 404 "workspace not found"
	)
	tokenID := func(secret string) string {
		tok, err := a.store.LookupToken(ctx, phi.HashToken(secret))
		if err != nil {
			t.Fatal(err)
		}
		return tok.ID
	}
	callers := []struct {
		name  string
		token string
		role  phi.Role
		actor string // the audit actor of an authenticated caller
	}{
		{"owner", wsA.Owner, phi.RoleOwner, tokenID(wsA.Owner)},
		{"member", wsA.Member, phi.RoleMember, wsA.MemberID},
		{"readonly", wsA.Readonly, phi.RoleReadonly, tokenID(wsA.Readonly)},
		{"no token", "", "", ""},
		{"bad token", "phit_" + strings.Repeat("x", 43), "", ""},
		{"other workspace's owner", wsB.Owner, "", tokenID(wsB.Owner)},
		{"operator", testOperatorSecret, "", "operator:local"},
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
		case caller == "other workspace's owner" && strings.Contains(rt.Path, "{workspaceId}"):
			return hidden
		case caller == "other workspace's owner":
			return allowed // the catalog is the same for every workspace
		case rank(role) >= rank(leastRole[rt.Key()]):
			return allowed
		}
		return forbidden
	}
	for _, rt := range stack.Routes {
		if rt.Auth == stack.AuthToken && rt.Role != leastRole[rt.Key()] {
			t.Errorf("%s: stack.Routes asks for %q, the issue for %q", rt.Key(), rt.Role, leastRole[rt.Key()])
		}
	}
	success := func(rt stack.Route) int {
		switch {
		case lifecycleRoutes[rt]:
			return http.StatusOK
		case rt.Function == stack.FunctionKeygen:
			return http.StatusOK // this test's keygen stubs answer 200
		case rt == stack.RouteReplayDeadLetters:
			return http.StatusOK // creates nothing: answers with what it moved
		case rt == stack.RouteTestDestination:
			return http.StatusOK // a test's result, not a created resource
		case rt == stack.RouteRotateSigningSecret:
			return http.StatusOK // a new secret for an existing destination
		case rt.Method == "POST":
			return http.StatusCreated
		case rt.Method == "DELETE":
			return http.StatusNoContent
		}
		return http.StatusOK
	}
	// victim creates, in the store, a fresh resource for a DELETE route to delete, and returns
	// its path parameter and a check that it is still there.
	victim := func(t *testing.T, rt stack.Route) (map[string]string, func() bool) {
		t.Helper()
		var err error
		var ids map[string]string
		var exists func() bool
		switch {
		case strings.HasSuffix(rt.Path, "{tokenId}"):
			secret := phi.NewTokenSecret()
			tok := phi.Token{ID: phi.NewID(phi.PrefixToken), WorkspaceID: wsA.ID, Name: "victim", Role: phi.RoleReadonly}
			err = a.store.CreateToken(ctx, &tok, phi.HashToken(secret))
			ids = map[string]string{"tokenId": tok.ID}
			exists = func() bool {
				got, err := a.store.LookupToken(ctx, phi.HashToken(secret))
				return err == nil && got.RevokedAt == nil
			}
		case strings.HasSuffix(rt.Path, "{sourceId}"):
			src := phi.Source{ID: phi.NewID(phi.PrefixSource), WorkspaceID: wsA.ID, Name: "victim"}
			err = a.store.CreateSource(ctx, &src)
			ids = map[string]string{"sourceId": src.ID}
			exists = func() bool { _, err := a.store.GetSource(ctx, wsA.ID, src.ID); return err == nil }
		case strings.HasSuffix(rt.Path, "{destinationId}"):
			d := phi.Destination{ID: phi.NewID(phi.PrefixDestination), WorkspaceID: wsA.ID, SourceID: wsA.Source, Name: "victim",
				Type: phi.DestinationWebhook, Settings: phi.DestinationSettings{URL: "https://v.example/h"}}
			err = a.store.CreateDestination(ctx, &d)
			ids = map[string]string{"destinationId": d.ID}
			exists = func() bool { _, err := a.store.GetDestination(ctx, wsA.ID, d.ID); return err == nil }
		case strings.HasSuffix(rt.Path, "{matcherId}"):
			m := privacy.Matcher{Name: "victim", Classification: privacy.Yellow, Target: privacy.TargetKey, Mode: privacy.ModeExact, Synonyms: []string{"victim"}}
			err = a.store.PutMatcher(ctx, wsA.ID, &m)
			ids = map[string]string{"matcherId": m.ID}
			exists = func() bool {
				ms, _, err := a.store.ListMatchers(ctx, wsA.ID, phi.Page{Limit: MaxPageLimit})
				return err == nil && slices.ContainsFunc(ms, func(x privacy.Matcher) bool { return x.ID == m.ID })
			}
		default:
			t.Fatalf("no victim for %s", rt.Key())
		}
		if err != nil {
			t.Fatal(err)
		}
		return ids, exists
	}
	for _, rt := range stack.Routes {
		key := rt.Key()
		acc := rt
		for _, c := range callers {
			t.Run(key+"/"+c.name, func(t *testing.T) {
				ids := map[string]string{"sourceId": wsA.Source, "destinationId": wsA.Destination}
				if awsOnly(rt) {
					ids["destinationId"] = awsDst
				}
				var exists func() bool
				if rt.Method == "DELETE" {
					ids, exists = victim(t, rt)
				}
				path, auditWS := fill(rt.Path, wsA.ID, ids), wsA.ID
				if lifecycleRoutes[rt] {
					// Each acts on a workspace of its own, in the state its success needs.
					auditWS = lifecycleVictim(t, a, rt)
					path = fill(rt.Path, auditWS, ids)
				}
				var headers []string
				if ifMatchRoutes[key] {
					// The current ETag, read by a caller allowed to read it.
					reader := wsA.Owner
					if rt.Auth == stack.AuthOperator {
						reader = testOperatorSecret
					}
					headers = []string{"If-Match", currentETag(t, a, path, reader)}
				}
				res := a.do(t, rt.Method, path, c.token, validBodyFor(rt, wsA.Source), headers...)
				want := expect(rt, c.name, c.role)
				var code, msg string
				if res.Status >= 400 {
					code, msg, _ = decodeErr(t, []byte(res.Body))
				}
				switch want {
				case allowed:
					if res.Status != success(rt) {
						t.Fatalf("want %d, got %d: %s", success(rt), res.Status, res.Body)
					}
				case unauthorized:
					if res.Status != 401 || code != phi.EUNAUTHORIZED || res.Header.Get("WWW-Authenticate") == "" {
						t.Fatalf("want 401 with WWW-Authenticate, got %d: %s", res.Status, res.Body)
					}
				case forbidden:
					if res.Status != 403 || code != phi.EFORBIDDEN || !strings.Contains(msg, string(acc.Role)) {
						t.Fatalf("want 403 naming the %s role, got %d: %s", acc.Role, res.Status, res.Body)
					}
				case hidden:
					if res.Status != 404 || code != phi.ENOTFOUND || msg != "workspace not found" {
						t.Fatalf("want 404 workspace not found, got %d: %s", res.Status, res.Body)
					}
				}
				if exists != nil && (want == allowed) == exists() {
					t.Errorf("after a %d, the resource exists: %v", res.Status, !(want == allowed))
				}
				if acc.Action == "" || (want != allowed && want != forbidden) {
					return
				}
				if key == "POST /operator/workspaces" {
					var created CreatedWorkspace
					res.json(t, &created)
					auditWS = created.ID
				}
				wantOutcome := audit.OutcomeSuccess
				if want == forbidden {
					wantOutcome = audit.OutcomeDenied
				}
				rec := auditRecordOf(t, a, auditWS, res.Header.Get("X-Request-Id"))
				if rec.Action != acc.Action || rec.Actor != c.actor || rec.Outcome != wantOutcome || rec.Target == "" || strings.Contains(rec.Target, "?") {
					t.Errorf("audit record = %+v; want action %s, actor %s, outcome %s and a target", rec, acc.Action, c.actor, wantOutcome)
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
	// No route scanned the table (the test client refuses Scan; this proves the hook was on).
	if ops := a.ops.seen(); ops["Scan"] != 0 || ops["Query"] == 0 || ops["GetItem"] == 0 {
		t.Errorf("DynamoDB operations of the matrix: %v; want Query and GetItem, never Scan", ops)
	}
}

// auditRecordOf returns the one audit record of workspace wsID written under requestID.
func auditRecordOf(t *testing.T, a *api, wsID, requestID string) phi.AuditRecord {
	t.Helper()
	if requestID == "" {
		t.Fatal("the response has no X-Request-Id")
	}
	var found []phi.AuditRecord
	page := phi.Page{Limit: MaxPageLimit}
	for {
		recs, next, err := a.store.ListAudit(context.Background(), wsID, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), page)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			// A route that generates a secret also writes an "attempted" record before it does
			// (audit.Attempt); the outcome is the other record.
			if r.RequestID == requestID && r.Outcome != audit.OutcomeAttempted {
				found = append(found, r)
			}
		}
		if next == "" {
			break
		}
		page.Cursor = next
	}
	if len(found) != 1 {
		t.Fatalf("request %s left %d audit records in %s, want 1: %+v", requestID, len(found), wsID, found)
	}
	return found[0]
}

// awsOnly reports whether rt serves AWS destinations only (a webhook gets 409).
func awsOnly(rt stack.Route) bool {
	return rt == stack.RouteGetAccessPolicy || rt == stack.RouteTestDestination
}
