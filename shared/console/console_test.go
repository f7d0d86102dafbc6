package console

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/phiguard/phiguard/shared/audit"
	"github.com/phiguard/phiguard/shared/delivery"
	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/keygen"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/workspace"
)

// newConsole builds a console whose store is never reached by the requests these tests send
// (pages that need no session).
func newConsole(t *testing.T, localHTTP bool) http.Handler {
	t.Helper()
	store := dynamo.New(dynamodb.New(dynamodb.Options{Region: "us-east-1"}), "unused")
	c := &Console{
		Service:  &workspace.Service{Store: store},
		Keys:     &keygen.Service{Store: store, KMS: kms.New(kms.Options{Region: "us-east-1"}), CMK: "alias/unused"},
		Sessions: store, Tokens: store, Audit: store, LocalHTTP: localHTTP,
		Trail:       &audit.Trail{Store: store, KMS: kms.New(kms.Options{Region: "us-east-1"}), SigningKey: "alias/unused"},
		DeadLetters: &delivery.DeadLetters{Queue: sqs.New(sqs.Options{Region: "us-east-1"})},
	}
	h, err := c.Handler()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestEveryResponseCarriesTheSecurityHeaders(t *testing.T) {
	deployed := newConsole(t, false)
	for _, tt := range []struct {
		name, path string
		status     int
	}{
		{"the sign-in page", "/console/sign-in", http.StatusOK},
		{"a static asset", "/console/static/console.js", http.StatusOK},
		{"an unknown page", "/console/nope", http.StatusNotFound},
		{"a page that needs a session", "/console/settings", http.StatusSeeOther},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", tt.path, nil)
			req.Header.Set("X-Forwarded-Proto", "https")
			w := httptest.NewRecorder()
			deployed.ServeHTTP(w, req)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d", w.Code, tt.status)
			}
			h := w.Header()
			csp := h.Get("Content-Security-Policy")
			if csp == "" || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("CSP %q", csp)
			}
			for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
				if h.Get(k) != want {
					t.Errorf("%s = %q, want %q", k, h.Get(k), want)
				}
			}
			if !strings.HasPrefix(h.Get("Strict-Transport-Security"), "max-age=") {
				t.Error("no HSTS on a deployed console")
			}
		})
	}
}

func TestADeployedConsoleRefusesPlainHTTPAndALocalOneSendsNoHSTS(t *testing.T) {
	w := httptest.NewRecorder()
	newConsole(t, false).ServeHTTP(w, httptest.NewRequest("GET", "/console/sign-in", nil))
	if w.Code != http.StatusBadRequest {
		t.Errorf("plain http on a deployed console got %d, want 400", w.Code)
	}
	w = httptest.NewRecorder()
	newConsole(t, true).ServeHTTP(w, httptest.NewRequest("GET", "/console/sign-in", nil))
	if w.Code != http.StatusOK || w.Header().Get("Strict-Transport-Security") != "" {
		t.Errorf("local console: %d, HSTS %q", w.Code, w.Header().Get("Strict-Transport-Security"))
	}
}

func TestASignInWithoutTheConsolesOriginIsRefusedBeforeAnyLookup(t *testing.T) {
	h := newConsole(t, true)
	for _, tt := range []struct{ name, origin, fetchSite string }{
		{"no Origin", "", ""},
		{"another origin", "http://evil.example", "cross-site"},
		{"Origin null from another site", "null", "cross-site"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/console/sign-in", strings.NewReader("token=phit_x"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			if tt.fetchSite != "" {
				req.Header.Set("Sec-Fetch-Site", tt.fetchSite)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req) // the store is unreachable: reaching it would fail with 500
			if w.Code != http.StatusForbidden {
				t.Errorf("status %d, want 403", w.Code)
			}
		})
	}
}

func TestSameOriginAcceptsTheOriginOrSameOriginFetchMetadata(t *testing.T) {
	for _, tt := range []struct {
		origin, site string
		want         bool
	}{
		{"http://127.0.0.1:3000", "", true},
		{"null", "same-origin", true},
		{"null", "same-site", false},
		{"http://127.0.0.1:3001", "same-origin", false},
		{"", "same-origin", false},
	} {
		r := httptest.NewRequest("POST", "/console/x", nil)
		r.Header.Set("Origin", tt.origin)
		r.Header.Set("Sec-Fetch-Site", tt.site)
		if got := sameOrigin(r, "http://127.0.0.1:3000"); got != tt.want {
			t.Errorf("Origin %q, Sec-Fetch-Site %q: %v, want %v", tt.origin, tt.site, got, tt.want)
		}
	}
}

func TestRedirectTargetsStayInsideTheConsole(t *testing.T) {
	for in, want := range map[string]string{
		"/destinations": "/destinations", "//evil.example": "/settings", "https://evil.example": "/settings",
		"/sign-in": "/settings", "": "/settings", "/x\r\nSet-Cookie: a": "/settings",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"/add-destination/webhook/setup?source=src_1": "/add-destination/webhook/setup?source=src_1",
		"/destinations/dst_1?draft=1":                 "/destinations/dst_1?draft=1",
		"//evil.example/destinations/":                "", "/settings": "", "https://evil.example": "",
	} {
		if got := safeReturn(in); got != want {
			t.Errorf("safeReturn(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTheFieldSearchIsFuzzy(t *testing.T) {
	for _, tt := range []struct {
		q, path string
		want    bool
	}{
		{"", "traits.email", true},
		{"email", "traits.email", true},
		{"emal", "traits.email", true},
		{"adress", "traits.address.street", true},
		{"mrn", "properties.mrn", true},
		{"emal", "properties.diagnosis", false},
		{"zip", "traits.email", false},
	} {
		if got := matchesQuery(tt.q, tt.path); got != tt.want {
			t.Errorf("matchesQuery(%q, %q) = %v, want %v", tt.q, tt.path, got, tt.want)
		}
	}
}

func TestTheCSRFTokenIsDerivedAndNotTheStoredHash(t *testing.T) {
	secret := newSessionSecret()
	if csrfToken(secret) == sessionHash(secret) || csrfToken(secret) != csrfToken(secret) || csrfToken(secret) == csrfToken(newSessionSecret()) {
		t.Error("the CSRF token must be a stable function of the session secret, distinct from its stored hash")
	}
	if len(sessionHash(secret)) != 64 {
		t.Error("the stored hash is not SHA-256 hex")
	}
}

// Templates load their script from a file and carry no inline script, handler or style, so the
// CSP needs no unsafe-inline.
func TestTemplatesHaveNoInlineScriptOrStyle(t *testing.T) {
	inline := regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>[^<]+</script>|\son[a-z]+\s*=|\sstyle\s*=|<style|javascript:`)
	err := fs.WalkDir(assets, "templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := fs.ReadFile(assets, path)
		if m := inline.FindString(string(b)); m != "" {
			t.Errorf("%s has inline code: %q", path, m)
		}
		if strings.Contains(string(b), "<script") && !strings.Contains(string(b), `<script src=`) {
			t.Errorf("%s has a script without src", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The console's JavaScript never stores anything in the browser.
func TestTheScriptStoresNothing(t *testing.T) {
	b, err := fs.ReadFile(assets, "static/console.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, banned := range []string{"localStorage", "sessionStorage", "document.cookie", "indexedDB", "fetch(", "XMLHttpRequest", "sendBeacon"} {
		if strings.Contains(string(b), banned) {
			t.Errorf("console.js uses %s", banned)
		}
	}
}

func TestProblemsBecomeMessagesBesideTheirFields(t *testing.T) {
	fe := problemsOf(phi.Invalid([]phi.Problem{{Field: "name", Reason: "is required"}, {Field: "settings.url", Reason: "must be https"}}))
	if fe == nil || fe.Field("name") != "is required" || fe.Field("settings.url") != "must be https" {
		t.Errorf("form errors %+v", fe)
	}
	if problemsOf(phi.Errorf(phi.ENOTFOUND, "x")) != nil {
		t.Error("a 404 is shown beside the form instead of as the error page")
	}
	yellow := phi.Errorf(phi.EINVALID, "only yellow").WithDetails(map[string]any{"fields": []map[string]string{{"path": "traits.plan", "classification": "green"}}})
	if fe := problemsOf(yellow); fe == nil || !strings.Contains(fe.Field("path:traits.plan"), "green") {
		t.Errorf("a non-yellow field is not named: %+v", fe)
	}
}
