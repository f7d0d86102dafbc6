package browsertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/phiguard/phiguard/scripts/internal/devserver"
	"github.com/phiguard/phiguard/shared/fieldcrypt"
	"github.com/phiguard/phiguard/shared/logtest"
	"github.com/phiguard/phiguard/shared/stack"
)

// suite is what the browser tests share: one local service, one browser, the axe script and
// the screenshots folder.
type suite struct {
	t       *testing.T
	s       *devserver.Server
	log     *logtest.Buffer
	browser context.Context
	axe     string
	shots   string
	n       int
	mu      sync.Mutex
	// pages collects the HTML of every page seen after a private key was saved, to search it.
	pages []string
	// axeFindings lists every serious or critical violation, by page.
	axeFindings []string
	axeChecked  int
}

// browserFor returns a browser context of its own (its own cookies and storage): one person.
func (st *suite) person(t *testing.T) (context.Context, context.CancelFunc) {
	// A browser context of its own, and a tab in a window of its own: Chromium's headless mode
	// opens a tab in a new browser context only in a new window.
	c := chromedp.FromContext(st.browser)
	exec := cdp.WithExecutor(st.browser, c.Browser)
	bcID, err := target.CreateBrowserContext().WithDisposeOnDetach(true).Do(exec)
	if err != nil {
		t.Fatalf("create a browser context: %v", err)
	}
	tid, err := target.CreateTarget("about:blank").WithBrowserContextID(bcID).WithNewWindow(true).Do(exec)
	if err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	ctx, cancel := chromedp.NewContext(st.browser, chromedp.WithTargetID(tid))
	if err := chromedp.Run(ctx, emulation.SetDeviceMetricsOverride(1280, 900, 1, false)); err != nil {
		t.Fatalf("open a browser context: %v", err)
	}
	return ctx, func() {
		cancel()
		_ = target.DisposeBrowserContext(bcID).Do(exec)
	}
}

// run runs actions in ctx, failing the test with what was being done.
func (st *suite) run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Run(tctx, actions...); err != nil {
		var loc, body string
		_ = chromedp.Run(ctx, chromedp.Location(&loc), chromedp.Evaluate(`document.body ? document.body.innerText : ""`, &body))
		t.Fatalf("%s (at %s): %v\npage text:\n%s", what, loc, err, body[:min(len(body), 1500)])
	}
}

// check photographs the page as build/console/NN-name.png and runs axe-core on it, recording
// every serious or critical violation.
func (st *suite) check(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	st.mu.Lock()
	st.n++
	n := st.n
	st.mu.Unlock()
	var shot []byte
	var violations []string
	st.run(t, ctx, "screenshot and axe "+name,
		chromedp.WaitReady("body"),
		chromedp.FullScreenshot(&shot, 100), // 100: PNG,
		chromedp.Evaluate(st.axe, &violations, func(p *cdpruntime.EvaluateParams) *cdpruntime.EvaluateParams {
			return p.WithAwaitPromise(true)
		}),
	)
	if err := os.WriteFile(filepath.Join(st.shots, fmt.Sprintf("%02d-%s.png", n, name)), shot, 0o644); err != nil {
		t.Fatal(err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.axeChecked++
	for _, v := range violations {
		st.axeFindings = append(st.axeFindings, name+": "+v)
		t.Errorf("axe on %s: %s", name, v)
	}
}

// html returns the page's current HTML.
func (st *suite) html(t *testing.T, ctx context.Context) string {
	t.Helper()
	var h string
	st.run(t, ctx, "read the page", chromedp.OuterHTML("html", &h, chromedp.ByQuery))
	return h
}

// remember keeps the current page's HTML for the private-key search.
func (st *suite) remember(t *testing.T, ctx context.Context) {
	h := st.html(t, ctx)
	st.mu.Lock()
	st.pages = append(st.pages, h)
	st.mu.Unlock()
}

// nav opens console path p.
func (st *suite) nav(t *testing.T, ctx context.Context, p string) {
	t.Helper()
	st.run(t, ctx, "open "+p, chromedp.Navigate(strings.TrimSuffix(st.s.ConsoleURL, "/")+p), chromedp.WaitReady("body"))
}

func (st *suite) location(t *testing.T, ctx context.Context) string {
	var loc string
	st.run(t, ctx, "read the location", chromedp.Location(&loc))
	return loc
}

func (st *suite) text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	var s string
	st.run(t, ctx, "read "+sel, chromedp.Text(sel, &s, chromedp.ByQuery))
	return s
}

func (st *suite) exists(t *testing.T, ctx context.Context, sel string) bool {
	t.Helper()
	var n int
	st.run(t, ctx, "count "+sel, chromedp.Evaluate(fmt.Sprintf("document.querySelectorAll(%q).length", sel), &n))
	return n > 0
}

// submit clicks the button (or link) sel and waits until the next page has loaded.
func (st *suite) submit(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	st.run(t, ctx, "click "+sel,
		chromedp.Evaluate(`document.documentElement.dataset.old = "1"`, nil),
		chromedp.Click(sel, chromedp.ByQuery, chromedp.NodeVisible))
	deadline := time.Now().Add(20 * time.Second)
	for {
		var loaded bool
		err := chromedp.Run(ctx, chromedp.Evaluate(`document.readyState === "complete" && document.documentElement.dataset.old !== "1"`, &loaded))
		if err == nil && loaded {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after clicking %s no new page loaded (%v)", sel, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// signingSecretShownOnce checks the page that follows saving a new webhook destination: it shows
// the destination's signing secret (whsec_…) this once, and its Continue link goes on to the
// destination, whose page does not show it again.
func (st *suite) signingSecretShownOnce(t *testing.T, ctx context.Context) {
	t.Helper()
	var secret string
	st.run(t, ctx, "read the signing secret", chromedp.Value("#signing-secret", &secret, chromedp.ByQuery))
	if !strings.HasPrefix(secret, "whsec_") || len(secret) < 40 {
		t.Fatalf("the page after Save shows no signing secret: %q", secret)
	}
	st.submit(t, ctx, "#continue")
	var html string
	st.run(t, ctx, "read the destination page", chromedp.OuterHTML("html", &html, chromedp.ByQuery))
	if strings.Contains(html, secret[len("whsec_"):]) {
		t.Fatal("the destination's page shows its signing secret again")
	}
}

// signIn signs in with token on the sign-in page.
func (st *suite) signIn(t *testing.T, ctx context.Context, token string) {
	t.Helper()
	st.nav(t, ctx, "/sign-in")
	st.run(t, ctx, "type the token", chromedp.SendKeys("#token", token, chromedp.ByQuery))
	st.submit(t, ctx, `main form button[type=submit]`)
}

// operator calls the operator REST API (the platform operator is not a console user).
// signedInMember creates a member token in workspace ws with the owner's token and returns a
// person of their own, signed in with it.
func (st *suite) signedInMember(t *testing.T, ws, ownerToken string) (context.Context, context.CancelFunc) {
	t.Helper()
	code, _, tok := st.api(t, "POST", "/workspaces/"+ws+"/tokens", ownerToken, map[string]string{"name": "analyst", "role": "member"}, "")
	if code != http.StatusCreated {
		t.Fatalf("create a member token: %d %v", code, tok)
	}
	member, cancel := st.person(t)
	st.signIn(t, member, tok["secret"].(string))
	return member, cancel
}

func (st *suite) operator(t *testing.T, method, path string, body any, etag string) (int, http.Header, map[string]any) {
	t.Helper()
	return st.api(t, method, path, st.s.OperatorSecret, body, etag)
}

func (st *suite) api(t *testing.T, method, path, bearer string, body any, etag string) (int, http.Header, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, st.s.APIURL+path, rd)
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Content-Type", "application/json")
	if etag != "" {
		req.Header.Set("If-Match", etag)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, resp.Header, out
}

// keyStatus reads key keyID's status through the REST API, as the owner.
func (st *suite) keyStatus(t *testing.T, ws, token, dst, keyID string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", st.s.APIURL+"/workspaces/"+ws+"/destinations/"+dst+"/keys", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Items []struct{ ID, Status string }
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	for _, k := range out.Items {
		if k.ID == keyID {
			return k.Status
		}
	}
	return fmt.Sprintf("absent (%d keys, HTTP %d)", len(out.Items), resp.StatusCode)
}

// newWorkspace creates a workspace on tier (a signed BAA with business) and returns its id and
// owner token.
func (st *suite) newWorkspace(t *testing.T, name string, tier string) (string, string) {
	t.Helper()
	body := map[string]any{"name": name, "tier": tier}
	code, _, out := st.operator(t, "POST", "/operator/workspaces", body, "")
	if code != http.StatusCreated {
		t.Fatalf("create workspace: %d %v", code, out)
	}
	tok, _ := out["ownerToken"].(map[string]any)
	return out["id"].(string), tok["secret"].(string)
}

// signBAA moves ws to the business tier with a signed BAA.
func (st *suite) signBAA(t *testing.T, ws string) {
	t.Helper()
	_, h, _ := st.operator(t, "GET", "/operator/workspaces/"+ws, nil, "")
	code, _, out := st.operator(t, "PUT", "/operator/workspaces/"+ws+"/plan",
		map[string]any{"tier": "business", "baa": map[string]any{"signed": true, "signedBy": "Dr. Alice Monroe, CPO"}}, h.Get("ETag"))
	if code != http.StatusOK {
		t.Fatalf("sign the BAA: %d %v", code, out)
	}
}

// patient events: identify and track, with PHI in traits and properties.
type patient struct{ id, name, email, phone, mrn, diagnosis string }

var patients = []patient{
	{"patient-1042", "Maria Gonzalez", "maria.gonzalez@example.com", "+1 415 555 0142", "MRN-00981273", "Type 2 diabetes mellitus"},
	{"patient-2077", "James O'Connor", "j.oconnor@example.org", "+1 312 555 0199", "MRN-00417765", "Hypertension, stage 1"},
}

// push sends one identify and one track event per patient to the ingest queue, with message
// ids tagged by round, and returns the ids.
func (st *suite) push(t *testing.T, ws, src, round string) []string {
	t.Helper()
	var ids []string
	for i, p := range patients {
		for _, ev := range []map[string]any{
			{"type": "identify", "messageId": fmt.Sprintf("%s-identify-%d", round, i), "userId": p.id, "timestamp": time.Now().UTC().Format(time.RFC3339),
				"traits": map[string]any{"name": p.name, "email": p.email, "phone": p.phone, "plan": "gold"}},
			{"type": "track", "event": "Appointment Booked", "messageId": fmt.Sprintf("%s-track-%d", round, i), "userId": p.id, "timestamp": time.Now().UTC().Format(time.RFC3339),
				"properties": map[string]any{"mrn": p.mrn, "diagnosis": p.diagnosis, "clinic": "Northgate Family Practice"}},
		} {
			raw, _ := json.Marshal(ev)
			_, err := st.s.Clients.SQS.SendMessage(context.Background(), &sqs.SendMessageInput{
				QueueUrl: aws.String(st.s.Resources.IngestQueueURL), MessageBody: aws.String(string(raw)),
				MessageAttributes: map[string]sqstypes.MessageAttributeValue{
					stack.AttrWorkspace: {DataType: aws.String("String"), StringValue: aws.String(ws)},
					stack.AttrSource:    {DataType: aws.String("String"), StringValue: aws.String(src)},
				},
			})
			if err != nil {
				t.Fatalf("push an event: %v", err)
			}
			ids = append(ids, ev["messageId"].(string))
		}
	}
	return ids
}

// sent returns the clear value of path in the event with message id id, as pushed.
func sent(id, path string) string {
	var i int
	fmt.Sscanf(id[strings.LastIndexByte(id, '-')+1:], "%d", &i)
	p := patients[i]
	return map[string]string{"traits.name": p.name, "traits.email": p.email, "traits.phone": p.phone,
		"properties.mrn": p.mrn, "properties.diagnosis": p.diagnosis}[path]
}

// received waits until destination dst received a copy of every id, and returns them by id.
func (st *suite) received(t *testing.T, dst string, ids []string) map[string]map[string]any {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := st.s.ReceiverClient.Get(st.s.ReceiverURL + "/received?destination=" + dst)
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			Items []devserver.Delivery `json:"items"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		got := map[string]map[string]any{}
		for _, d := range out.Items {
			var ev map[string]any
			if json.Unmarshal(d.Body, &ev) == nil {
				if id, _ := ev["messageId"].(string); id != "" {
					got[id] = ev
				}
			}
		}
		missing := 0
		for _, id := range ids {
			if got[id] == nil {
				missing++
			}
		}
		if missing == 0 {
			only := map[string]map[string]any{}
			for _, id := range ids {
				only[id] = got[id]
			}
			return only
		}
		if time.Now().After(deadline) {
			t.Fatalf("destination %s received %d of %d copies in time", dst, len(ids)-missing, len(ids))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func lookup(ev map[string]any, path string) any {
	var cur any = ev
	for _, seg := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[seg]
	}
	return cur
}

// decrypt opens every encrypted field of the copies with the private key (fieldcrypt's
// Keyring, phictl's code path) and returns how many opened to the value pushed and how many did
// not open.
func decrypt(t *testing.T, pemKey, keyID string, got map[string]map[string]any, paths []string) (opened, failed int) {
	t.Helper()
	k, err := fieldcrypt.ParsePrivateKey([]byte(pemKey))
	if err != nil {
		t.Fatalf("the private key does not parse: %v", err)
	}
	ring := &fieldcrypt.Keyring{}
	if err := ring.Add(keyID, k); err != nil {
		t.Fatal(err)
	}
	for id, ev := range got {
		for _, p := range paths {
			tok, ok := lookup(ev, p).(string)
			if !ok {
				continue
			}
			if want := sent(id, p); tok == want {
				t.Errorf("%s of %s arrived in clear", p, id)
				continue
			}
			clear, err := ring.Open(tok)
			if err != nil || string(clear) != sent(id, p) {
				failed++
				continue
			}
			opened++
		}
	}
	return opened, failed
}

// tableHolds reports whether any item of the service's table holds s (the test reads the whole
// emulated table; the service itself never scans).
func (st *suite) tableHolds(t *testing.T, s string) bool {
	t.Helper()
	p := dynamodb.NewScanPaginator(st.s.Clients.DynamoDB, &dynamodb.ScanInput{TableName: aws.String(st.s.Resources.Table)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(page.Items)
		if strings.Contains(string(b), s) {
			return true
		}
	}
	return false
}

// waitDownload waits for file name in dir and returns its content.
func waitDownload(t *testing.T, dir, name string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err == nil && len(b) > 0 {
			return string(b)
		}
		if time.Now().After(deadline) {
			entries, _ := os.ReadDir(dir)
			t.Fatalf("download %s did not arrive in %s (%d files)", name, dir, len(entries))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// allowDownloads makes the browser save downloads of ctx's browser context into dir.
func allowDownloads(t *testing.T, ctx context.Context, dir string) {
	t.Helper()
	c := chromedp.FromContext(ctx)
	tinfo, err := target.GetTargetInfo().WithTargetID(c.Target.TargetID).Do(cdp.WithExecutor(ctx, c.Browser))
	if err != nil {
		t.Fatalf("read the tab: %v", err)
	}
	if err := browser.SetDownloadBehavior(browser.SetDownloadBehaviorBehaviorAllow).WithDownloadPath(dir).
		WithBrowserContextID(tinfo.BrowserContextID).Do(cdp.WithExecutor(ctx, c.Browser)); err != nil {
		t.Fatalf("allow downloads: %v", err)
	}
}

var keyIDPattern = regexp.MustCompile(`key_[0-9a-z]{26}`)
