package console

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/phiguard/phiguard/shared/audit"
	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/delivery"
	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/keygen"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/workspace"
)

// clock is a settable time for the session limits.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time         { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration)    { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }
func (c *clock) set(t time.Time) *clock { c.t = t; return c }

// sessionConsole is a local console over a fresh table in the emulator, with one workspace and
// its owner token.
func sessionConsole(t *testing.T) (http.Handler, *dynamo.Store, *clock, string, *phi.Token) {
	t.Helper()
	clients := awstest.Clients(t)
	table := awstest.UniqueName("console")
	if err := dynamo.CreateTable(t.Context(), clients.DynamoDB, table); err != nil {
		t.Fatal(err)
	}
	store := dynamo.New(clients.DynamoDB, table)
	ws := &phi.Workspace{ID: phi.NewID(phi.PrefixWorkspace), Name: "Clinic", Tier: phi.TierTeam}
	secret := phi.NewTokenSecret()
	tok := &phi.Token{ID: phi.NewID(phi.PrefixToken), WorkspaceID: ws.ID, Name: "owner", Role: phi.RoleOwner, CreatedBy: "operator:test"}
	if err := store.CreateWorkspace(t.Context(), ws, tok, phi.HashToken(secret)); err != nil {
		t.Fatal(err)
	}
	clk := (&clock{}).set(time.Now().UTC())
	c := &Console{
		Service:  &workspace.Service{Store: store},
		Keys:     &keygen.Service{Store: store, KMS: kms.NewFromConfig(clients.Config), CMK: "alias/unused"},
		Sessions: store, Tokens: store, Audit: store, LocalHTTP: true, Now: clk.now,
		Trail:       &audit.Trail{Store: store, KMS: kms.NewFromConfig(clients.Config), SigningKey: "alias/unused"},
		DeadLetters: &delivery.DeadLetters{Queue: sqs.NewFromConfig(clients.Config)},
	}
	h, err := c.Handler()
	if err != nil {
		t.Fatal(err)
	}
	return h, store, clk, secret, tok
}

func post(h http.Handler, path string, form url.Values, cookie *http.Cookie) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "http://127.0.0.1:3000"+path, strings.NewReader(form.Encode()))
	req.Host = "127.0.0.1:3000"
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://127.0.0.1:3000")
	if cookie != nil {
		req.AddCookie(cookie)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func get(h http.Handler, path string, cookie *http.Cookie) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", "http://127.0.0.1:3000"+path, nil)
	if cookie != nil {
		req.AddCookie(cookie)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func signIn(t *testing.T, h http.Handler, secret string) *http.Cookie {
	t.Helper()
	w := post(h, "/console/sign-in", url.Values{"token": {secret}}, nil)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("sign-in: %d %s", w.Code, w.Body.String())
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == CookieName {
			if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/console" {
				t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/console", c)
			}
			return c
		}
	}
	t.Fatal("no session cookie")
	return nil
}

func signedIn(w *httptest.ResponseRecorder) bool { return w.Code == http.StatusOK }

func TestSessionsEndWhenIdleAfterTheirAbsoluteLimitAndAtSignOut(t *testing.T) {
	h, store, clk, secret, _ := sessionConsole(t)

	t.Run("idle for more than 30 minutes", func(t *testing.T) {
		ck := signIn(t, h, secret)
		clk.add(29 * time.Minute)
		if !signedIn(get(h, "/console/settings", ck)) {
			t.Fatal("a session 29 minutes idle has ended")
		}
		clk.add(IdleTimeout + time.Second)
		if w := get(h, "/console/settings", ck); w.Code != http.StatusSeeOther || !strings.Contains(w.Header().Get("Location"), "/console/sign-in") {
			t.Errorf("a session idle past 30 minutes still works: %d", w.Code)
		}
	})
	t.Run("active, but older than 12 hours", func(t *testing.T) {
		ck := signIn(t, h, secret)
		for range 25 { // a request every 29 minutes keeps it from idling out
			clk.add(29 * time.Minute)
			if get(h, "/console/settings", ck).Code != http.StatusOK {
				break
			}
		}
		if signedIn(get(h, "/console/settings", ck)) {
			t.Error("a session outlived its 12-hour limit")
		}
	})
	t.Run("sign-out deletes the session", func(t *testing.T) {
		ck := signIn(t, h, secret)
		page := get(h, "/console/settings", ck).Body.String()
		csrf := page[strings.Index(page, `name="csrf" value="`)+len(`name="csrf" value="`):]
		csrf = csrf[:strings.IndexByte(csrf, '"')]
		if w := post(h, "/console/sign-out", url.Values{}, ck); w.Code != http.StatusForbidden {
			t.Errorf("sign-out without the CSRF token: %d, want 403", w.Code)
		}
		if w := post(h, "/console/sign-out", url.Values{"csrf": {csrf}}, ck); w.Code != http.StatusSeeOther {
			t.Fatalf("sign-out: %d", w.Code)
		}
		if _, err := store.GetSession(t.Context(), sessionHash(ck.Value)); phi.ErrorCode(err) != phi.ENOTFOUND {
			t.Errorf("the session item is still in the table: %v", err)
		}
		if signedIn(get(h, "/console/settings", ck)) {
			t.Error("the cookie still works after sign-out")
		}
	})
	t.Run("the table holds the session's hash, never its secret", func(t *testing.T) {
		ck := signIn(t, h, secret)
		sess, err := store.GetSession(t.Context(), sessionHash(ck.Value))
		if err != nil || sess.IDHash == ck.Value || strings.Contains(sess.Draft, ck.Value) {
			t.Errorf("stored session %+v (%v)", sess, err)
		}
	})
}

func TestFailedSignInsAreRateLimitedAndAudited(t *testing.T) {
	h, store, _, secret, tok := sessionConsole(t)
	// A revoked token is known: its refusal is audited in its workspace.
	revoked := phi.NewTokenSecret()
	old := &phi.Token{ID: phi.NewID(phi.PrefixToken), WorkspaceID: tok.WorkspaceID, Name: "old", Role: phi.RoleMember, CreatedBy: tok.ID}
	if err := store.CreateToken(t.Context(), old, phi.HashToken(revoked)); err != nil {
		t.Fatal(err)
	}
	if err := store.RevokeToken(t.Context(), tok.WorkspaceID, old.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if w := post(h, "/console/sign-in", url.Values{"token": {revoked}}, nil); w.Code != http.StatusUnauthorized {
		t.Fatalf("a revoked token signed in: %d", w.Code)
	}
	for i := 1; i < SignInLimit; i++ {
		if w := post(h, "/console/sign-in", url.Values{"token": {"phit_wrong"}}, nil); w.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, w.Code)
		}
	}
	w := post(h, "/console/sign-in", url.Values{"token": {secret}}, nil)
	if w.Code != http.StatusTooManyRequests || !strings.Contains(w.Body.String(), "Too many failed sign-ins") {
		t.Errorf("after %d failures even the right token got %d, want 429", SignInLimit, w.Code)
	}
	recs, _, err := store.ListAudit(t.Context(), tok.WorkspaceID, time.Time{}, time.Time{}, phi.Page{Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	denied := false
	for _, r := range recs {
		denied = denied || (r.Action == ActionSignIn && r.Outcome == "denied" && r.Actor == old.ID)
	}
	if !denied {
		t.Errorf("the revoked token's sign-in is not audited: %+v", recs)
	}
}

// csrfOf reads the CSRF token out of a console page.
func csrfOf(t *testing.T, page string) string {
	t.Helper()
	const attr = `name="csrf" value="`
	i := strings.Index(page, attr)
	if i < 0 {
		t.Fatal("the page has no CSRF field")
	}
	rest := page[i+len(attr):]
	return rest[:strings.IndexByte(rest, '"')]
}

func TestAMemberCanDoWhatTheAPILetsAMemberDoAndIsDeniedTheRestAudited(t *testing.T) {
	h, store, _, _, owner := sessionConsole(t)
	secret := phi.NewTokenSecret()
	member := &phi.Token{ID: phi.NewID(phi.PrefixToken), WorkspaceID: owner.WorkspaceID, Name: "analyst", Role: phi.RoleMember, CreatedBy: owner.ID}
	if err := store.CreateToken(t.Context(), member, phi.HashToken(secret)); err != nil {
		t.Fatal(err)
	}
	ck := signIn(t, h, secret)
	page := get(h, "/console/sources", ck)
	if page.Code != http.StatusOK || !strings.Contains(page.Body.String(), `id="source-name"`) {
		t.Fatalf("a member cannot add sources: %d", page.Code)
	}
	if strings.Contains(page.Body.String(), "Privacy Portal</a>") || strings.Contains(page.Body.String(), "/console/tokens") {
		t.Error("a member's navigation links owner-only pages")
	}
	csrf := csrfOf(t, page.Body.String())
	if w := post(h, "/console/sources", url.Values{"csrf": {csrf}, "name": {"web"}}, ck); w.Code != http.StatusSeeOther {
		t.Errorf("a member adding a source: %d", w.Code)
	}
	for _, tt := range []struct {
		name string
		w    *httptest.ResponseRecorder
	}{
		{"opening the Privacy Portal", get(h, "/console/privacy", ck)},
		{"classifying a field", post(h, "/console/privacy/classify", url.Values{"csrf": {csrf}, "path": {"traits.email"}, "classification": {"green"}}, ck)},
		{"reading tokens", get(h, "/console/tokens", ck)},
		{"reading the audit log", get(h, "/console/audit", ck)},
	} {
		if tt.w.Code != http.StatusForbidden || !strings.Contains(tt.w.Body.String(), "owner role") {
			t.Errorf("%s: %d, want the 403 page naming the owner role", tt.name, tt.w.Code)
		}
	}
	recs, _, err := store.ListAudit(t.Context(), owner.WorkspaceID, time.Time{}, time.Time{}, phi.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	denied := map[string]bool{}
	for _, r := range recs {
		if r.Actor == member.ID && r.Outcome == "denied" {
			denied[r.Action] = true
		}
	}
	for _, a := range []string{"privacy.inbox.read", "privacy.classification.update", "token.list", "audit.read"} {
		if !denied[a] {
			t.Errorf("the member's denied %s is not audited (%v)", a, denied)
		}
	}
}

func TestAReadonlyTokenSeesDestinationsWithoutAnyControl(t *testing.T) {
	h, store, _, _, owner := sessionConsole(t)
	ctx := t.Context()
	src := &phi.Source{ID: phi.NewID(phi.PrefixSource), WorkspaceID: owner.WorkspaceID, Name: "web"}
	if err := store.CreateSource(ctx, src); err != nil {
		t.Fatal(err)
	}
	dst := &phi.Destination{ID: phi.NewID(phi.PrefixDestination), WorkspaceID: owner.WorkspaceID, SourceID: src.ID, Name: "crm",
		Type: phi.DestinationWebhook, Enabled: true, Settings: phi.DestinationSettings{URL: "https://crm.example.com/hook"}}
	if err := store.CreateDestination(ctx, dst); err != nil {
		t.Fatal(err)
	}
	secret := phi.NewTokenSecret()
	ro := &phi.Token{ID: phi.NewID(phi.PrefixToken), WorkspaceID: owner.WorkspaceID, Name: "auditor", Role: phi.RoleReadonly, CreatedBy: owner.ID}
	if err := store.CreateToken(ctx, ro, phi.HashToken(secret)); err != nil {
		t.Fatal(err)
	}
	ck := signIn(t, h, secret)
	for path, absent := range map[string][]string{
		"/console/destinations":           {`id="add-destination"`, "/keys"},
		"/console/destinations/" + dst.ID: {`id="setup-form"`, `id="hashing"`, `id="generate"`, `name="action"`},
		"/console/sources":                {`id="source-name"`},
		"/console/settings":               {"Privacy Portal</a>", "Tokens</a>", "Audit log</a>"},
	} {
		w := get(h, path, ck)
		if w.Code != http.StatusOK {
			t.Errorf("%s: %d", path, w.Code)
			continue
		}
		for _, s := range absent {
			if strings.Contains(w.Body.String(), s) {
				t.Errorf("%s shows a readonly token %s", path, s)
			}
		}
	}
	if !strings.Contains(get(h, "/console/destinations/"+dst.ID, ck).Body.String(), "https://crm.example.com/hook") {
		t.Error("a readonly token does not see the destination's settings")
	}
}

// Closing the workspace signs its console sessions out: the next request finds the session's
// token revoked and goes to the sign-in page, and the token cannot sign in again.
func TestClosingTheWorkspaceSignsTheConsoleOut(t *testing.T) {
	h, store, clk, secret, _ := sessionConsole(t)
	ck := signIn(t, h, secret)
	if !signedIn(get(h, "/console/settings", ck)) {
		t.Fatal("not signed in")
	}
	tok, err := store.LookupToken(t.Context(), phi.HashToken(secret))
	if err != nil {
		t.Fatal(err)
	}
	now := clk.now()
	if _, err := store.CloseWorkspace(t.Context(), tok.WorkspaceID, phi.Closure{At: now, By: "operator:test", Reason: "offboarding", PurgeAfter: now.Add(phi.ClosureGracePeriod)}); err != nil {
		t.Fatal(err)
	}
	if w := get(h, "/console/settings", ck); w.Code != http.StatusSeeOther || !strings.Contains(w.Header().Get("Location"), "/console/sign-in") {
		t.Errorf("a session of a closed workspace still works: %d", w.Code)
	}
	if w := post(h, "/console/sign-in", url.Values{"token": {secret}}, nil); w.Code != http.StatusUnauthorized {
		t.Errorf("the closed workspace's owner token signed in: %d", w.Code)
	}
}
