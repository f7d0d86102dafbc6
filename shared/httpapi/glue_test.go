package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

// Every route of stack.Routes is unique, and says who may call it: a valid role on token
// routes, none on operator routes.
func TestEveryRouteNamesWhoMayCallIt(t *testing.T) {
	seen := map[string]bool{}
	for _, rt := range stack.Routes {
		if seen[rt.Key()] {
			t.Errorf("route %s is listed twice", rt.Key())
		}
		seen[rt.Key()] = true
		if rt.Auth == stack.AuthToken && !rt.Role.Valid() {
			t.Errorf("token route %s has no valid role (%q)", rt.Key(), rt.Role)
		}
		if rt.Auth == stack.AuthOperator && rt.Role != "" {
			t.Errorf("operator route %s names a workspace role", rt.Key())
		}
	}
}

func TestOwnerOnlyRoutesArePHIRelatedAndAudited(t *testing.T) {
	for _, rt := range stack.Routes {
		for _, prefix := range []string{"/privacy", "/audit", "/tokens", "/keys", "/hmac-keys", "/hashing"} {
			if strings.Contains(rt.Path, prefix) && (rt.Role != phi.RoleOwner || rt.Action == "") {
				t.Errorf("%s touches %s but is not owner-only and audited: %+v", rt.Key(), prefix, rt)
			}
		}
	}
}

func TestRouterRefusesMissingAndUnknownHandlers(t *testing.T) {
	cfg := RouterConfig{Auth: AuthenticatorFunc(func(*http.Request, stack.Auth) (phi.Actor, error) { return phi.Actor{}, nil }), Audit: auditFunc(nil), Idempotency: unusedIdempotency{}}
	ok := func(http.ResponseWriter, *http.Request) error { return nil }
	router := func(routes ...stack.Route) *Router {
		rt := NewRouter(cfg, stack.FunctionOperator)
		for _, route := range routes {
			rt.Handle(route, ok)
		}
		return rt
	}
	var all []stack.Route
	for _, rt := range stack.Routes {
		if rt.Function == stack.FunctionOperator {
			all = append(all, rt)
		}
	}
	if _, err := router(all...).Handler(); err != nil {
		t.Fatalf("complete handler set refused: %v", err)
	}
	if _, err := router(stack.RouteCreateWorkspace).Handler(); err == nil || !strings.Contains(err.Error(), "no handler") {
		t.Errorf("missing handlers: err = %v", err)
	}
	if _, err := router(append(all, stack.RouteGetWorkspace)...).Handler(); err == nil || !strings.Contains(err.Error(), "no route") {
		t.Errorf("handler of another function's route: err = %v", err)
	}
	invented := stack.Route{Method: "GET", Path: "/nowhere", Function: stack.FunctionOperator, Auth: stack.AuthOperator}
	if _, err := router(append(all, invented)...).Handler(); err == nil || !strings.Contains(err.Error(), "no route") {
		t.Errorf("unknown route: err = %v", err)
	}
}

type auditFunc func(*phi.AuditRecord) error

func (f auditFunc) AppendAudit(_ context.Context, r *phi.AuditRecord) error {
	if f == nil {
		return nil
	}
	return f(r)
}

func decodeErr(t *testing.T, body []byte) (code, message string, details map[string]any) {
	t.Helper()
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Details any    `json:"details"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body is not JSON: %q", body)
	}
	details, _ = e.Error.Details.(map[string]any) // nil for a list of problems
	return e.Error.Code, e.Error.Message, details
}

func TestDecodeRefusesBadBodiesNamingTheProblem(t *testing.T) {
	type body struct {
		Name  string `json:"name"`
		Count int    `json:"count"`
		Inner struct {
			On bool `json:"on"`
		} `json:"inner"`
	}
	for _, tt := range []struct {
		name, body, contentType string
		code, mentions          string
	}{
		{"unknown field", `{"name":"a","colour":"red"}`, "application/json", phi.EBADREQUEST, `"colour"`},
		{"wrong type", `{"name":5}`, "", phi.EBADREQUEST, `"name" must be a string`},
		{"wrong nested type", `{"inner":{"on":"yes"}}`, "", phi.EBADREQUEST, `"inner.on" must be a boolean`},
		{"not an object", `[1,2]`, "", phi.EBADREQUEST, "must be an object, not array"},
		{"malformed", `{"name":`, "", phi.EBADREQUEST, "truncated"},
		{"syntax", `{"name" "x"}`, "", phi.EBADREQUEST, "not valid JSON"},
		{"two values", `{} {}`, "", phi.EBADREQUEST, "more than one"},
		{"empty", ``, "", phi.EBADREQUEST, "empty"},
		{"null", ` null `, "", phi.EBADREQUEST, "not null"},
		{"wrong content type", `{}`, "text/plain", phi.EBADREQUEST, "Content-Type"},
		{"pasted token as a field name", `{"phit_abcdefghijklmnopqrstuvwxyz0123456789":1}`, "", phi.EBADREQUEST, "not shown"},
		{"oversize", `{"name":"` + strings.Repeat("a", MaxBodyBytes) + `"}`, "", phi.ETOOLARGE, "larger than"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			var v body
			err := Decode(r, &v)
			if phi.ErrorCode(err) != tt.code {
				t.Fatalf("code = %q (%v), want %q", phi.ErrorCode(err), err, tt.code)
			}
			if !strings.Contains(phi.ErrorMessage(err), tt.mentions) {
				t.Errorf("message %q does not mention %q", phi.ErrorMessage(err), tt.mentions)
			}
		})
	}
}

func TestDecodeOversizeWithoutContentLengthIs413(t *testing.T) {
	r := httptest.NewRequest("POST", "/", io.MultiReader(strings.NewReader(`{"name":"`), strings.NewReader(strings.Repeat("a", MaxBodyBytes+10))))
	r.ContentLength = -1
	var v map[string]any
	if code := phi.ErrorCode(Decode(r, &v)); code != phi.ETOOLARGE {
		t.Fatalf("code = %q, want %q", code, phi.ETOOLARGE)
	}
}

func TestWriteErrorHidesInternalCauses(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	w := httptest.NewRecorder()
	WriteError(w, httptest.NewRequest("GET", "/", nil), logger, errors.New("dynamodb: secret table detail"))
	if w.Code != 500 {
		t.Fatalf("status = %d", w.Code)
	}
	code, msg, _ := decodeErr(t, w.Body.Bytes())
	if code != phi.EINTERNAL || msg != "internal error" || strings.Contains(w.Body.String(), "secret table") {
		t.Errorf("body = %s", w.Body)
	}
	if !strings.Contains(logs.String(), "secret table detail") {
		t.Errorf("internal cause was not logged: %s", logs.String())
	}
}

func TestStatusOfMapsEveryCode(t *testing.T) {
	for code, want := range map[string]int{
		phi.EINVALID: 422, phi.EBADREQUEST: 400, phi.ETOOLARGE: 413, phi.ENOTFOUND: 404, phi.ECONFLICT: 409,
		phi.EPRECONDITION: 412, phi.EPRECONDREQUIRED: 428, phi.EFORBIDDEN: 403, phi.ETOOMANY: 429, phi.EUNAUTHORIZED: 401, phi.EINTERNAL: 500,
	} {
		if got := StatusOf(phi.Errorf(code, "x")); got != want {
			t.Errorf("%s -> %d, want %d", code, got, want)
		}
	}
	if got := StatusOf(errors.New("plain")); got != 500 {
		t.Errorf("plain error -> %d", got)
	}
}

func TestIfMatchNeedsAVersionETag(t *testing.T) {
	for _, tt := range []struct {
		header string
		want   int64
		code   string
	}{
		{`"3"`, 3, ""},
		{`"123456789012345678"`, 123456789012345678, ""},
		{`W/"7"`, 0, phi.EBADREQUEST},
		{`7`, 0, phi.EBADREQUEST},
		{`"1", "2"`, 0, phi.EBADREQUEST},
		{" ", 0, phi.EPRECONDREQUIRED},
		{"", 0, phi.EPRECONDREQUIRED},
		{"*", phi.AnyVersion, ""},
		{"**", 0, phi.EBADREQUEST},
		{`"abc"`, 0, phi.EBADREQUEST},
		{`"0"`, 0, phi.EBADREQUEST},
	} {
		r := httptest.NewRequest("PUT", "/", nil)
		if tt.header != "" {
			r.Header.Set("If-Match", tt.header)
		}
		got, err := IfMatch(r)
		if phi.ErrorCode(err) != tt.code || got != tt.want {
			t.Errorf("If-Match %q: got %d, %v; want %d, code %q", tt.header, got, err, tt.want, tt.code)
		}
	}
}

func TestPageParamsValidatesLimit(t *testing.T) {
	for q, wantErr := range map[string]bool{"": false, "limit=1": false, "limit=100": false, "limit=0": true, "limit=101": true, "limit=x": true, "cursor=" + strings.Repeat("a", 3000): true} {
		_, err := PageParams(httptest.NewRequest("GET", "/?"+q, nil))
		if (err != nil) != wantErr {
			t.Errorf("%q: err = %v", q, err)
		}
	}
}

func TestLambdaAdapterRoundTripsARequest(t *testing.T) {
	var seen *http.Request
	var seenBody string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r
		b, _ := io.ReadAll(r.Body)
		seenBody = string(b)
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		w.WriteHeader(201)
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
	ev := events.APIGatewayProxyRequest{
		HTTPMethod:                      "POST",
		Path:                            "/workspaces/ws_x/sources",
		MultiValueHeaders:               map[string][]string{"Content-Type": {"application/json"}, "Accept": {"a", "b"}},
		MultiValueQueryStringParameters: map[string][]string{"limit": {"5"}, "q": {"a b&c"}},
		Body:                            base64.StdEncoding.EncodeToString([]byte(`{"name":"web"}`)),
		IsBase64Encoded:                 true,
		RequestContext: events.APIGatewayProxyRequestContext{
			RequestID: "req-123",
			Authorizer: map[string]any{
				ContextWorkspaceID: "ws_0000000000000000000000000a", ContextTokenID: "tok_0000000000000000000000000a", ContextRole: "member",
			},
		},
	}
	resp, err := Lambda(h)(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if seen.Method != "POST" || seen.URL.Path != "/workspaces/ws_x/sources" || seen.URL.Query().Get("q") != "a b&c" || seen.URL.Query().Get("limit") != "5" {
		t.Errorf("request = %s %s", seen.Method, seen.URL)
	}
	if seenBody != `{"name":"web"}` || seen.ContentLength != int64(len(seenBody)) {
		t.Errorf("body = %q (length %d)", seenBody, seen.ContentLength)
	}
	if got := seen.Header.Values("Accept"); len(got) != 2 {
		t.Errorf("multi-value header = %v", got)
	}
	a, err := Gateway{}.Authenticate(seen, stack.AuthToken)
	if err != nil || a.Role != phi.RoleMember || a.WorkspaceID != "ws_0000000000000000000000000a" {
		t.Errorf("actor = %+v, %v", a, err)
	}
	if resp.StatusCode != 201 || resp.Body != `{"ok":true}` || resp.IsBase64Encoded || len(resp.MultiValueHeaders["X-Multi"]) != 2 {
		t.Errorf("response = %+v", resp)
	}
}

func TestLambdaAdapterEncodesBinaryResponsesAndRefusesBadBase64(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte{0xff, 0xfe}) })
	resp, _ := Lambda(h)(context.Background(), events.APIGatewayProxyRequest{HTTPMethod: "GET", Path: "/"})
	if !resp.IsBase64Encoded || resp.Body != base64.StdEncoding.EncodeToString([]byte{0xff, 0xfe}) {
		t.Errorf("binary response = %+v", resp)
	}
	resp, err := Lambda(h)(context.Background(), events.APIGatewayProxyRequest{HTTPMethod: "POST", Path: "/", Body: "%%%", IsBase64Encoded: true})
	if err != nil || resp.StatusCode != 400 {
		t.Errorf("bad base64: %+v, %v", resp, err)
	}
}

func TestGatewayAuthenticatorFailsClosed(t *testing.T) {
	valid := map[string]any{ContextWorkspaceID: phi.NewID(phi.PrefixWorkspace), ContextTokenID: phi.NewID(phi.PrefixToken), ContextRole: "owner"}
	for _, tt := range []struct {
		name     string
		kind     stack.Auth
		ev       *events.APIGatewayProxyRequestContext
		operator bool
		code     string
	}{
		{"no gateway context", stack.AuthToken, nil, false, phi.EUNAUTHORIZED},
		{"token route without authorizer", stack.AuthToken, &events.APIGatewayProxyRequestContext{}, false, phi.EUNAUTHORIZED},
		{"token route with authorizer", stack.AuthToken, &events.APIGatewayProxyRequestContext{Authorizer: valid}, false, ""},
		{"malformed authorizer role", stack.AuthToken, &events.APIGatewayProxyRequestContext{Authorizer: map[string]any{ContextWorkspaceID: valid[ContextWorkspaceID], ContextTokenID: valid[ContextTokenID], ContextRole: "admin"}}, false, phi.EINTERNAL},
		{"operator route with IAM caller", stack.AuthOperator, &events.APIGatewayProxyRequestContext{Identity: events.APIGatewayRequestIdentity{UserArn: "arn:aws:iam::1:role/ops"}}, true, ""},
		{"operator route without IAM caller", stack.AuthOperator, &events.APIGatewayProxyRequestContext{}, false, phi.EUNAUTHORIZED},
		{"operator route with a customer token's context", stack.AuthOperator, &events.APIGatewayProxyRequestContext{Authorizer: valid, Identity: events.APIGatewayRequestIdentity{UserArn: "arn:x"}}, false, phi.EUNAUTHORIZED},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if tt.ev != nil {
				var err error
				r, err = NewRequest(context.Background(), events.APIGatewayProxyRequest{HTTPMethod: "GET", Path: "/", RequestContext: *tt.ev})
				if err != nil {
					t.Fatal(err)
				}
			}
			a, err := Gateway{}.Authenticate(r, tt.kind)
			if phi.ErrorCode(err) != tt.code {
				t.Fatalf("err = %v, want code %q", err, tt.code)
			}
			if err == nil && a.Operator != tt.operator {
				t.Errorf("actor = %+v", a)
			}
			if tt.operator && (a.ID != phi.OperatorPseudonym("arn:aws:iam::1:role/ops") || strings.Contains(a.ID, "arn:") || a.Principal != "arn:aws:iam::1:role/ops") {
				t.Errorf("operator actor id = %q", a.ID)
			}
		})
	}
}

// tokenFunc is a hand-written TokenLookup for the authorizer's unit tests.
type tokenFunc func(hash string) (*phi.Token, error)

func (f tokenFunc) LookupToken(_ context.Context, h string) (*phi.Token, error) { return f(h) }

func TestAuthorizerAllowsKnownTokensAndRefusesTheRest(t *testing.T) {
	const secret = "phit_goodsecretgoodsecretgoodsecret"
	ws, tok := phi.NewID(phi.PrefixWorkspace), phi.NewID(phi.PrefixToken)
	revoked := time.Now()
	store := tokenFunc(func(h string) (*phi.Token, error) {
		switch h {
		case phi.HashToken(secret):
			return &phi.Token{ID: tok, WorkspaceID: ws, Role: phi.RoleMember}, nil
		case phi.HashToken("phit_revoked"):
			return &phi.Token{ID: tok, WorkspaceID: ws, Role: phi.RoleMember, RevokedAt: &revoked}, nil
		case phi.HashToken("phit_storedown"):
			return nil, errors.New("dynamodb unavailable")
		}
		return nil, phi.Errorf(phi.ENOTFOUND, "token not found")
	})
	var logs bytes.Buffer
	a := Authorizer{Tokens: store, Logger: slog.New(slog.NewJSONHandler(&logs, nil))}
	arn := "arn:aws:execute-api:eu-west-1:123:api1/prod/GET/workspaces/x"
	for _, tt := range []struct {
		name, header string
		wantErr      string
	}{
		{"valid token", "Bearer " + secret, ""},
		{"lower-case scheme", "bearer " + secret, ""},
		{"no header", "", "Unauthorized"},
		{"basic auth", "Basic abc", "Unauthorized"},
		{"unknown token", "Bearer phit_nope", "Unauthorized"},
		{"revoked token", "Bearer phit_revoked", "Unauthorized"},
		{"store failure", "Bearer phit_storedown", "authorize:"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := events.APIGatewayCustomAuthorizerRequestTypeRequest{MethodArn: arn, Headers: map[string]string{}}
			if tt.header != "" {
				req.Headers["authorization"] = tt.header
			}
			resp, err := a.Authorize(context.Background(), req)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if tt.wantErr != "Unauthorized" && err.Error() == "Unauthorized" {
					t.Fatal("a store failure must not look like a refusal")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			st := resp.PolicyDocument.Statement
			if len(st) != 1 || st[0].Effect != "Allow" || st[0].Resource[0] != "arn:aws:execute-api:eu-west-1:123:api1/prod/*/*" {
				t.Errorf("policy = %+v", resp.PolicyDocument)
			}
			if resp.Context[ContextWorkspaceID] != ws || resp.Context[ContextTokenID] != tok || resp.Context[ContextRole] != "member" {
				t.Errorf("context = %v", resp.Context)
			}
		})
	}
	for _, s := range []string{secret, "phit_revoked", "phit_nope", "phit_storedown"} {
		if strings.Contains(logs.String(), s) {
			t.Errorf("authorizer log contains the token %q", s)
		}
	}
}

func TestInProcessOperatorCredentialIsComparedAndRequired(t *testing.T) {
	secret := strings.Repeat("s", 40)
	for _, tt := range []struct {
		name, configured, sent string
		ok                     bool
	}{
		{"right secret", secret, secret, true},
		{"wrong secret", secret, strings.Repeat("t", 40), false},
		{"prefix of the secret", secret, secret[:39], false},
		{"no secret configured", "", "", false},
		{"short secret configured", "short", "short", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if tt.sent != "" {
				r.Header.Set("Authorization", "Bearer "+tt.sent)
			}
			a, err := InProcess{OperatorSecret: tt.configured}.Authenticate(r, stack.AuthOperator)
			if tt.ok != (err == nil) || (tt.ok && !a.Operator) {
				t.Errorf("actor %+v, err %v", a, err)
			}
		})
	}
}

func TestCanonicalPaths(t *testing.T) {
	for p, want := range map[string]bool{"/": true, "/a/b": true, "/a/b/": false, "/a//b": false, "/a/../b": false, "/a/./b": false, "": false, "a/b": false} {
		if canonical(p) != want {
			t.Errorf("canonical(%q) = %v", p, !want)
		}
	}
}
