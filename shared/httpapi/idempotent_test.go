package httpapi

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

// unusedIdempotency is the idempotency store of routers whose tests send no Idempotency-Key.
type unusedIdempotency struct{}

var errUnusedIdempotency = errors.New("this test sends no Idempotency-Key")

func (unusedIdempotency) ClaimRequest(context.Context, *phi.IdempotentRequest) (*phi.IdempotentRequest, error) {
	return nil, errUnusedIdempotency
}
func (unusedIdempotency) FinishRequest(context.Context, *phi.IdempotentRequest) error {
	return errUnusedIdempotency
}
func (unusedIdempotency) ReleaseRequest(context.Context, *phi.IdempotentRequest) error {
	return errUnusedIdempotency
}

// countSources returns how many sources the workspace lists.
func (a *api) countSources(t *testing.T, ws *testWorkspace) int {
	t.Helper()
	var page struct {
		Items []phi.Source `json:"items"`
	}
	a.must(t, 200, "GET", "/workspaces/"+ws.ID+"/sources", ws.Member, "").json(t, &page)
	return len(page.Items)
}

func TestIdempotencyKeyReplaysTheFirstResponseAndActsOnce(t *testing.T) {
	a := newAPI(t)
	ws := a.newWorkspace(t, "business", true)
	path := "/workspaces/" + ws.ID + "/sources"
	before := a.countSources(t, ws)
	first := a.must(t, 201, "POST", path, ws.Member, `{"name":"app"}`, IdempotencyKeyHeader, "create-app-1")
	if first.Header.Get(ReplayedHeader) != "" {
		t.Fatalf("the first response is marked replayed")
	}
	again := a.must(t, 201, "POST", path, ws.Member, `{"name":"app"}`, IdempotencyKeyHeader, "create-app-1")
	if again.Body != first.Body || again.Header.Get("Location") != first.Header.Get("Location") || again.Header.Get("Content-Type") != first.Header.Get("Content-Type") || again.Header.Get("ETag") != first.Header.Get("ETag") || first.Header.Get("ETag") == "" {
		t.Fatalf("replay differs:\n%s %v\n%s %v", first.Body, first.Header, again.Body, again.Header)
	}
	if again.Header.Get(ReplayedHeader) != "true" {
		t.Fatalf("replay not marked: %v", again.Header)
	}
	if n := a.countSources(t, ws); n != before+1 {
		t.Fatalf("%d sources after a create and its replay, want %d", n, before+1)
	}
	// Without a key, each request acts.
	a.must(t, 201, "POST", path, ws.Member, `{"name":"app2"}`)
	a.must(t, 201, "POST", path, ws.Member, `{"name":"app3"}`)
	if n := a.countSources(t, ws); n != before+3 {
		t.Fatalf("%d sources, want %d", n, before+3)
	}
	// A refused request is replayed too (the first answer stands), and acts no more.
	bad := a.must(t, 422, "POST", path, ws.Member, `{"name":""}`, IdempotencyKeyHeader, "bad-1")
	bad2 := a.must(t, 422, "POST", path, ws.Member, `{"name":""}`, IdempotencyKeyHeader, "bad-1")
	if bad2.Header.Get(ReplayedHeader) != "true" || bad2.Body != bad.Body {
		t.Fatalf("refusal not replayed: %s / %s", bad.Body, bad2.Body)
	}
}

func TestIdempotencyKeyWithAnotherRequestIs422(t *testing.T) {
	a := newAPI(t)
	ws := a.newWorkspace(t, "business", true)
	path := "/workspaces/" + ws.ID + "/sources"
	before := a.countSources(t, ws)
	a.must(t, 201, "POST", path, ws.Member, `{"name":"app"}`, IdempotencyKeyHeader, "k")
	res := a.must(t, 422, "POST", path, ws.Member, `{"name":"other"}`, IdempotencyKeyHeader, "k")
	if res.errCode(t) != "invalid" || !strings.Contains(res.Body, "different request") {
		t.Fatalf("422 body: %s", res.Body)
	}
	// The same key on another route is another request, too.
	a.must(t, 422, "POST", "/workspaces/"+ws.ID+"/destinations", ws.Member, `{"name":"app"}`, IdempotencyKeyHeader, "k")
	if n := a.countSources(t, ws); n != before+1 {
		t.Fatalf("%d sources, want %d", n, before+1)
	}
}

func TestIdempotencyKeyInFlightIs409(t *testing.T) {
	a := newAPI(t)
	ws := a.newWorkspace(t, "business", true)
	path := "/workspaces/" + ws.ID + "/sources"
	body := `{"name":"app"}`
	now := time.Now()
	held, err := a.store.ClaimRequest(context.Background(), &phi.IdempotentRequest{
		WorkspaceID: ws.ID, ScopeHash: digest(ws.MemberID, "k"), RequestHash: digest("POST", path, "", body),
		CreatedAt: now, ExpiresAt: now.Add(idempotencyLease),
	})
	if err != nil || held != nil {
		t.Fatal(held, err)
	}
	before := a.countSources(t, ws)
	res := a.must(t, 409, "POST", path, ws.Member, body, IdempotencyKeyHeader, "k")
	if !strings.Contains(res.Body, "still in progress") {
		t.Fatalf("409 body: %s", res.Body)
	}
	if n := a.countSources(t, ws); n != before {
		t.Fatalf("%d sources, want %d", n, before)
	}
}

func TestIdempotencyKeyNeverReplaysASecret(t *testing.T) {
	a := newAPI(t)
	ws := a.newWorkspace(t, "business", true)
	base := "/workspaces/" + ws.ID
	var tok CreatedToken
	a.must(t, 201, "POST", base+"/tokens", ws.Owner, `{"name":"deploy","role":"member"}`, IdempotencyKeyHeader, "tok-1").json(t, &tok)
	again := a.must(t, 409, "POST", base+"/tokens", ws.Owner, `{"name":"deploy","role":"member"}`, IdempotencyKeyHeader, "tok-1")
	if strings.Contains(again.Body, tok.Secret) || !strings.Contains(again.Body, "shown once") || !strings.Contains(again.Body, "revoke") {
		t.Fatalf("retried token creation: %s", again.Body)
	}
	var rotated struct {
		SigningSecret string `json:"signingSecret"`
	}
	rotate := base + "/destinations/" + ws.Destination + "/signing-secret/rotate"
	a.must(t, 200, "POST", rotate, ws.Member, `{"overlapSeconds":60}`, IdempotencyKeyHeader, "rot-1").json(t, &rotated)
	if rotated.SigningSecret == "" {
		t.Fatal("no signing secret")
	}
	again = a.must(t, 409, "POST", rotate, ws.Member, `{"overlapSeconds":60}`, IdempotencyKeyHeader, "rot-1")
	if strings.Contains(again.Body, rotated.SigningSecret) || !strings.Contains(again.Body, "rotate again") {
		t.Fatalf("retried rotation: %s", again.Body)
	}
	var created CreatedWorkspace
	body := `{"name":"Beta Health","tier":"business"}`
	a.must(t, 201, "POST", "/operator/workspaces", testOperatorSecret, body, IdempotencyKeyHeader, "ws-1").json(t, &created)
	again = a.must(t, 409, "POST", "/operator/workspaces", testOperatorSecret, body, IdempotencyKeyHeader, "ws-1")
	if strings.Contains(again.Body, created.OwnerToken.Secret) || !strings.Contains(again.Body, "owner-tokens") {
		t.Fatalf("retried workspace creation: %s", again.Body)
	}
	// Nothing in the table holds a secret that was shown (a scan, which the API's own client
	// refuses).
	out, err := awstest.Clients(t).DynamoDB.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(a.table)})
	if err != nil {
		t.Fatal(err)
	}
	records := 0
	for _, it := range out.Items {
		text := itemText(&types.AttributeValueMemberM{Value: it})
		if strings.Contains(text, "REQ#") {
			records++
		}
		for _, secret := range []string{tok.Secret, rotated.SigningSecret, created.OwnerToken.Secret} {
			if strings.Contains(text, secret) {
				t.Errorf("a stored item holds a secret that was shown once: %.40s", text)
			}
		}
	}
	if records != 3 {
		t.Errorf("%d idempotency records, want 3", records)
	}
}

func TestIdempotencyKeyIsScopedToTheWorkspaceAndCaller(t *testing.T) {
	a := newAPI(t)
	wsA := a.newWorkspace(t, "business", true)
	wsB := a.newWorkspace(t, "business", true)
	body := `{"name":"app"}`
	resA := a.must(t, 201, "POST", "/workspaces/"+wsA.ID+"/sources", wsA.Member, body, IdempotencyKeyHeader, "shared")
	resB := a.must(t, 201, "POST", "/workspaces/"+wsB.ID+"/sources", wsB.Member, body, IdempotencyKeyHeader, "shared")
	if resB.Header.Get(ReplayedHeader) != "" || resB.Body == resA.Body {
		t.Fatalf("workspace B got workspace A's response: %s", resB.Body)
	}
	// Another token of the same workspace with the same key and request acts on its own.
	resO := a.must(t, 201, "POST", "/workspaces/"+wsA.ID+"/sources", wsA.Owner, body, IdempotencyKeyHeader, "shared")
	if resO.Header.Get(ReplayedHeader) != "" || resO.Body == resA.Body {
		t.Fatalf("the owner got the member's response: %s", resO.Body)
	}
}

func TestIdempotencyKeyMalformedIs400(t *testing.T) {
	a := newAPI(t)
	ws := a.newWorkspace(t, "business", true)
	path := "/workspaces/" + ws.ID + "/sources"
	before := a.countSources(t, ws)
	for _, k := range []string{"", strings.Repeat("k", 256), "caf\u00e9", "tab\there", "nul\x00"} {
		res := a.must(t, 400, "POST", path, ws.Member, `{"name":"app"}`, IdempotencyKeyHeader, k)
		if !strings.Contains(res.Body, "Idempotency-Key") {
			t.Errorf("key %q: %s", k, res.Body)
		}
	}
	a.must(t, 201, "POST", path, ws.Member, `{"name":"app"}`, IdempotencyKeyHeader, strings.Repeat("k", 255))
	if n := a.countSources(t, ws); n != before+1 {
		t.Fatalf("%d sources, want %d", n, before+1)
	}
}

// itemText is every string and binary value of v, as text.
func itemText(v types.AttributeValue) string {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return v.Value + " "
	case *types.AttributeValueMemberB:
		return string(v.Value) + " "
	case *types.AttributeValueMemberM:
		var b strings.Builder
		for k, e := range v.Value {
			b.WriteString(k + " " + itemText(e))
		}
		return b.String()
	case *types.AttributeValueMemberL:
		var b strings.Builder
		for _, e := range v.Value {
			b.WriteString(itemText(e))
		}
		return b.String()
	}
	return ""
}

// Every POST of stack.Routes documents the optional Idempotency-Key header and its 409 and 422,
// and every route that shows a secret once is one the middleware knows (or keygen's own).
func TestOpenAPIEveryPOSTTakesAnIdempotencyKey(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	for _, rt := range stack.Routes {
		if rt.Method != "POST" {
			continue
		}
		op := doc.Paths[rt.Path]["post"]
		found := false
		for _, p := range op.Parameters {
			if p.Name == IdempotencyKeyHeader {
				found = p.In == "header" && !p.Required
			}
		}
		if !found {
			t.Errorf("%s: no optional Idempotency-Key header parameter", rt.Key())
		}
		for _, code := range []string{"400", "409", "422"} {
			if _, ok := op.Responses[code]; !ok {
				t.Errorf("%s: no %s response", rt.Key(), code)
			}
		}
		// A route whose success shows a secret once (so documented) is one whose response the
		// middleware never stores, or keygen's own; and the other way round.
		documented := false
		for code, raw := range op.Responses {
			if strings.HasPrefix(code, "2") && (strings.Contains(string(raw), "shown this once") || strings.Contains(string(raw), "headers/NoCache")) {
				documented = true
			}
		}
		_, secret := shownOnce[rt]
		if documented != (secret || selfIdempotent[rt]) {
			t.Errorf("%s: its success documented as showing a secret once: %v; the middleware stores nothing of it: %v", rt.Key(), documented, secret || selfIdempotent[rt])
		}
	}
}
