package browsertest

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/phiguard/phiguard/scripts/internal/devserver"
	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/logtest"
	"github.com/phiguard/phiguard/shared/stack"
)

// newSuite starts the local service and one headless Chromium. Without Chromium the test fails,
// naming the package to install (make bootstrap installs it where it can), like the
// integration tests without the emulators: a skipped browser test would prove nothing.
func newSuite(t *testing.T) *suite {
	awstest.Clients(t)
	chromium, err := Chromium()
	if err != nil {
		t.Fatalf("the browser tests need Chromium: %v", err)
	}
	axe, err := AxeSource()
	if err != nil {
		t.Fatal(err)
	}
	logs := &logtest.Buffer{}
	s, err := devserver.Start(t.Context(), devserver.Config{
		APIAddr: "127.0.0.1:0", ReceiverAddr: "127.0.0.1:0", Prefix: awstest.UniqueName("console"),
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Env:    map[string]string{stack.EnvConfigCacheTTL: "1s"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, "console") && !strings.Contains(line, `"status":200`) {
				t.Log(line)
			}
		}
	})

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-dev-shm-usage", true))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	browserCtx, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Run(browserCtx); err != nil {
		t.Fatalf("start %s: %v", chromium, err)
	}
	shots := filepath.Join(RepoRoot(), "build", "console")
	// Emptied once per run, so that one test's suite does not delete another's screenshots.
	if err := clearShots(shots); err != nil {
		t.Fatal(err)
	}
	return &suite{t: t, s: s, log: logs, browser: browserCtx, axe: AxeScript(axe), shots: shots}
}

// clearShots empties the screenshot directory, the first time it is called in the process.
var clearShots = func() func(dir string) error {
	var once sync.Once
	var err error
	return func(dir string) error {
		once.Do(func() {
			if err = os.RemoveAll(dir); err == nil {
				err = os.MkdirAll(dir, 0o755)
			}
		})
		return err
	}
}()

// hashed are the yellow fields the destinations protect with encrypt.
var hashed = []string{"traits.email", "traits.name", "properties.mrn", "properties.diagnosis"}

// TestTheConsoleWorkflowInABrowser walks the source page's workflow in headless Chromium
// against the whole local service, with the refusals, and checks every page with axe-core.
func TestTheConsoleWorkflowInABrowser(t *testing.T) {
	st := newSuite(t)
	owner, cancel := st.person(t)
	defer cancel()
	downloads := t.TempDir()
	allowDownloads(t, owner, downloads)

	ws, ownerToken := st.newWorkspace(t, "Riverside Health", "team")
	var src, dst1, dst2, dst3 string
	var key1PEM, key1ID string
	// Each step needs the ones before it: the first that fails ends the walk.
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}

	step("sign-in, then the badge appears once the operator sets tier and BAA", func(t *testing.T) {
		st.nav(t, owner, "/")
		if loc := st.location(t, owner); !strings.HasSuffix(loc, "/console/sign-in?next=%2Fsettings") && !strings.Contains(loc, "/console/sign-in") {
			t.Fatalf("an anonymous visit lands on %s, want the sign-in page", loc)
		}
		st.check(t, owner, "sign-in")
		st.signIn(t, owner, "phit_not-a-token")
		if !strings.Contains(st.text(t, owner, "#signin-error"), "unknown or revoked") {
			t.Error("a wrong token is not refused with a clear message")
		}
		st.signIn(t, owner, ownerToken)
		if loc := st.location(t, owner); !strings.HasSuffix(loc, "/console/settings") {
			t.Fatalf("after sign-in the browser is at %s, want /console/settings", loc)
		}
		if msg := st.text(t, owner, "#not-eligible"); !strings.Contains(msg, "team tier") || !strings.Contains(msg, "PHI settings are unavailable") {
			t.Errorf("a team-tier workspace says %q; want why it is not eligible", msg)
		}
		st.check(t, owner, "settings-not-eligible")
		st.signBAA(t, ws)
		st.run(t, owner, "reload", chromedp.Reload())
		if b := st.text(t, owner, "#hipaa-badge"); b != "HIPAA eligible" {
			t.Errorf("badge = %q after the BAA is signed", b)
		}
		st.check(t, owner, "settings-hipaa-badge")
	})

	step("sources: add one", func(t *testing.T) {
		st.nav(t, owner, "/sources")
		st.run(t, owner, "name the source", chromedp.SendKeys("#source-name", "Patient app", chromedp.ByQuery))
		st.submit(t, owner, `#source-name ~ button[type=submit]`)
		u, _ := url.Parse(st.location(t, owner))
		src = u.Query().Get("created")
		if !strings.HasPrefix(src, "src_") {
			t.Fatalf("no source created: at %s", u)
		}
		st.check(t, owner, "sources")
	})

	step("Privacy Portal: matcher, inbox, inventory", func(t *testing.T) {
		st.nav(t, owner, "/privacy/matchers")
		st.run(t, owner, "fill the matcher",
			chromedp.SendKeys("#m-name", "medical record number", chromedp.ByQuery),
			chromedp.SendKeys("#m-patterns", "(?i)^mrn$", chromedp.ByQuery))
		st.submit(t, owner, `#new-m ~ form button[type=submit], form[action$="/privacy/matchers"] button[type=submit]`)
		if !strings.Contains(st.text(t, owner, "#custom-matchers"), "medical record number") {
			t.Fatal("the custom matcher is not listed")
		}
		if !strings.Contains(st.text(t, owner, "#matcher-limit"), "1 of 100") {
			t.Error("the 100-matcher limit is not explained with the count")
		}
		// A bad regular expression is refused next to the field, with what was typed kept.
		st.run(t, owner, "fill a bad matcher",
			chromedp.SendKeys("#m-name", "bad one", chromedp.ByQuery),
			chromedp.SendKeys("#m-patterns", "(unclosed", chromedp.ByQuery))
		st.submit(t, owner, `form[action$="/privacy/matchers"] button[type=submit]`)
		if !st.exists(t, owner, "#m-patterns-error") {
			t.Error("a bad pattern has no message beside the field")
		}
		var kept string
		st.run(t, owner, "read the kept pattern", chromedp.Value("#m-patterns", &kept, chromedp.ByQuery))
		if kept != "(unclosed" {
			t.Errorf("the typed pattern was not kept: %q", kept)
		}
		st.check(t, owner, "matchers")

		ids := st.push(t, ws, src, "seed")
		_ = ids
		deadline := time.Now().Add(60 * time.Second)
		for !st.exists(t, owner, `#inbox tr[data-path="properties.mrn"]`) {
			if time.Now().After(deadline) {
				t.Fatal("the inbox never listed properties.mrn")
			}
			time.Sleep(500 * time.Millisecond)
			st.nav(t, owner, "/privacy")
		}
		time.Sleep(time.Second)
		st.nav(t, owner, "/privacy")
		if rec := st.text(t, owner, `#inbox tr[data-path="properties.mrn"] td:nth-child(2)`); !strings.Contains(rec, "yellow") || !strings.Contains(rec, "medical record number") {
			t.Errorf("properties.mrn is recommended %q; want yellow by the custom matcher", rec)
		}
		st.check(t, owner, "privacy-inbox")
		// One click accepts each recommendation.
		for i := 0; st.exists(t, owner, "#inbox tbody tr"); i++ {
			if i > 30 {
				t.Fatal("the inbox does not empty")
			}
			st.submit(t, owner, `#inbox tbody tr:first-child form:first-of-type button`)
		}
		// Reclassify so that every hashed field is yellow, and clinic green.
		for _, p := range append(slices.Clone(hashed), "properties.clinic") {
			want := "yellow"
			if p == "properties.clinic" {
				want = "green"
			}
			sel := fmt.Sprintf(`#inventory tr[data-path=%q]`, p)
			if st.text(t, owner, sel+" td:nth-child(2)") == want {
				continue
			}
			st.run(t, owner, "choose "+want, chromedp.SetValue(sel+" select", want, chromedp.ByQuery))
			st.submit(t, owner, sel+" button")
		}
		st.nav(t, owner, "/privacy?class=yellow")
		rows := st.text(t, owner, "#inventory tbody")
		for _, p := range hashed {
			if !strings.Contains(rows, p) {
				t.Errorf("%s is not in the yellow inventory", p)
			}
		}
		if strings.Contains(rows, "properties.clinic") {
			t.Error("the yellow filter shows a green field")
		}
		st.check(t, owner, "privacy-inventory-yellow")
	})

	step("add destination: catalog, source, setup, generate keys, copy and download, save", func(t *testing.T) {
		st.nav(t, owner, "/destinations")
		st.submit(t, owner, "#add-destination")
		if !strings.Contains(st.text(t, owner, ".catalog"), "HIPAA eligible") {
			t.Error("the catalog does not flag HIPAA eligibility")
		}
		st.check(t, owner, "add-destination-catalog")
		st.submit(t, owner, `.catalog a.button`)
		st.check(t, owner, "add-destination-source")
		st.submit(t, owner, `main form button[type=submit]`)
		// A URL the webhook policy refuses: the API's message beside the field, what was typed kept.
		st.run(t, owner, "fill the setup step",
			chromedp.SendKeys("#dst-name", "Analytics", chromedp.ByQuery),
			chromedp.SendKeys("#dst-url", "http://127.0.0.1:9/hook", chromedp.ByQuery),
			chromedp.Click("#hash", chromedp.ByQuery))
		st.submit(t, owner, "#save-settings")
		var typed string
		st.run(t, owner, "read what was kept", chromedp.Value("#dst-name", &typed, chromedp.ByQuery))
		if msg := st.text(t, owner, "#dst-url-error"); msg == "" || typed != "Analytics" {
			t.Errorf("a refused URL shows %q beside the field and keeps the name %q", msg, typed)
		}
		st.check(t, owner, "setup-bad-url")
		st.run(t, owner, "fix the URL", chromedp.SetValue("#dst-url", st.s.HookURL("analytics-"+ws[3:11]), chromedp.ByQuery))
		// Fuzzy search: a typo still finds traits.email.
		st.run(t, owner, "search a field", chromedp.SendKeys("#field-search", "emal", chromedp.ByQuery))
		var hiddenEmail, hiddenMRN bool
		st.run(t, owner, "read the filter",
			chromedp.Evaluate(`document.querySelector('li[data-path="traits.email"]').hidden`, &hiddenEmail),
			chromedp.Evaluate(`document.querySelector('li[data-path="properties.mrn"]').hidden`, &hiddenMRN))
		if hiddenEmail || !hiddenMRN {
			t.Errorf("searching %q: traits.email hidden=%v, properties.mrn hidden=%v", "emal", hiddenEmail, hiddenMRN)
		}
		st.run(t, owner, "choose traits.email", chromedp.Click(`#f-traits-email`, chromedp.ByQuery))
		st.check(t, owner, "setup-search")
		// A field that is not yellow yet: to the Privacy Portal and back, choices kept.
		st.submit(t, owner, "#to-portal")
		st.run(t, owner, "classify a new field",
			chromedp.SendKeys("#classify-path", "properties.insuranceId", chromedp.ByQuery),
			chromedp.SetValue("#classify-class", "yellow", chromedp.ByQuery))
		st.submit(t, owner, `#classify-path ~ button, form:has(#classify-path) button[type=submit]`)
		st.submit(t, owner, "#return-link")
		var name string
		var email, hash bool
		st.run(t, owner, "read the kept form",
			chromedp.Value("#dst-name", &name, chromedp.ByQuery),
			chromedp.Evaluate(`document.querySelector("#f-traits-email").checked`, &email),
			chromedp.Evaluate(`document.querySelector("#hash").checked`, &hash))
		if name != "Analytics" || !email || !hash {
			t.Errorf("back from the Privacy Portal the setup step kept name=%q email=%v hash=%v", name, email, hash)
		}
		if !st.exists(t, owner, `li[data-path="properties.insuranceId"]`) {
			t.Error("the field classified yellow in the portal is not offered")
		}
		st.run(t, owner, "clear the search", chromedp.Evaluate(
			`const s = document.querySelector("#field-search"); s.value = ""; s.dispatchEvent(new Event("input"))`, nil))
		for _, p := range hashed[1:] {
			st.run(t, owner, "choose "+p, chromedp.Click(fmt.Sprintf(`li[data-path=%q] input[type=checkbox]`, p), chromedp.ByQuery))
		}
		st.run(t, owner, "sha256 for insuranceId",
			chromedp.Click(`li[data-path="properties.insuranceId"] input[type=checkbox]`, chromedp.ByQuery),
			chromedp.SetValue(`li[data-path="properties.insuranceId"] select`, "sha256", chromedp.ByQuery))
		st.check(t, owner, "setup-fields")
		st.submit(t, owner, "#generate")

		var disabled bool
		st.run(t, owner, "read the key page",
			chromedp.Value("#private-key", &key1PEM, chromedp.ByQuery),
			chromedp.Text("#key-id", &key1ID, chromedp.ByQuery),
			chromedp.Evaluate(`document.querySelector("#save").disabled`, &disabled))
		if !strings.Contains(key1PEM, "BEGIN PRIVATE KEY") || !keyIDPattern.MatchString(key1ID) {
			t.Fatalf("the key page shows no private key (%q, %q)", key1ID, key1PEM[:min(40, len(key1PEM))])
		}
		if !disabled {
			t.Error("Save is enabled before “I have stored the private key” is ticked")
		}
		if !strings.Contains(st.text(t, owner, "#not-recoverable"), "not recoverable") {
			t.Error("the page's warning is missing")
		}
		st.check(t, owner, "private-key")
		st.run(t, owner, "copy and download",
			chromedp.Click("#copy-key", chromedp.ByQuery),
			chromedp.Poll(`document.querySelector("#key-status").textContent !== ""`, nil),
			chromedp.Click("#download-key", chromedp.ByQuery))
		var fname string
		st.run(t, owner, "read the file name", chromedp.AttributeValue("#download-key", "data-filename", &fname, nil))
		if got := waitDownload(t, downloads, fname); got != key1PEM {
			t.Errorf("the downloaded .pem differs from the key shown")
		}
		// Until Save the key is pending: nothing encrypts under a key the owner may not hold.
		var action string
		st.run(t, owner, "read the Save form", chromedp.Evaluate(`document.querySelector("#save-form").getAttribute("action")`, &action))
		pendingDst := strings.TrimSuffix(action[strings.Index(action, "dst_"):], "/save")
		if got := st.keyStatus(t, ws, ownerToken, pendingDst, key1ID); got != "pending" {
			t.Errorf("before Save the generated key is %q, want pending", got)
		}
		st.run(t, owner, "tick", chromedp.Click("#stored", chromedp.ByQuery))
		st.run(t, owner, "Save is enabled", chromedp.Evaluate(`document.querySelector("#save").disabled`, &disabled))
		if disabled {
			t.Error("Save stays disabled after the tick")
		}
		st.submit(t, owner, "#save")
		loc := st.location(t, owner)
		dst1 = strings.TrimSuffix(strings.TrimPrefix(loc[strings.Index(loc, "/destinations/")+len("/destinations/"):], ""), "?saved=1")
		if !strings.HasPrefix(dst1, "dst_") || !st.exists(t, owner, "#saved") {
			t.Fatalf("after Save the browser is at %s", loc)
		}
		if got := st.keyStatus(t, ws, ownerToken, dst1, key1ID); got != "active" {
			t.Errorf("after Save the key is %q, want active", got)
		}
		if state := st.text(t, owner, "#hashing-state .state-active"); state != "active" {
			t.Errorf("hashing state %q after Save", state)
		}
		st.remember(t, owner)
		st.check(t, owner, "destination-saved")
		// Back after Save does not show the key again.
		_ = chromedp.Run(owner, chromedp.NavigateBack())
		time.Sleep(300 * time.Millisecond)
		st.remember(t, owner)
		st.run(t, owner, "forward", chromedp.Navigate(loc))
		st.nav(t, owner, "/destinations")
		if !strings.Contains(st.text(t, owner, "#destinations"), "active") {
			t.Error("the destinations list does not show hashing active")
		}
		st.remember(t, owner)
		st.check(t, owner, "destinations")
	})

	var r1 map[string]map[string]any
	step("events go through the pipeline and the downloaded key decrypts them", func(t *testing.T) {
		ids := st.push(t, ws, src, "r1")
		r1 = st.received(t, dst1, ids)
		opened, failed := decrypt(t, key1PEM, key1ID, r1, hashed)
		if opened != 2*len(hashed) || failed != 0 {
			t.Errorf("the downloaded key opened %d fields (%d failed); want %d", opened, failed, 2*len(hashed))
		}
		if plan := lookup(r1["r1-identify-0"], "traits.plan"); plan != "gold" {
			t.Errorf("a green field arrived as %v", plan)
		}
	})

	var key2PEM, key2ID string
	step("configure a new key pair: Save refused without the tick, then old and new data each open with their own key", func(t *testing.T) {
		st.nav(t, owner, "/destinations/"+dst1+"/keys")
		if !strings.Contains(st.text(t, owner, "#no-reencrypt"), "nothing is re-encrypted") {
			t.Error("the keys page does not say nothing is re-encrypted")
		}
		st.remember(t, owner)
		st.check(t, owner, "keys")
		st.run(t, owner, "choose RSA", chromedp.SetValue("#new-alg", "rsa-oaep-sha256:2048", chromedp.ByQuery))
		st.submit(t, owner, "#new-key-pair")
		st.run(t, owner, "read the new key",
			chromedp.Value("#private-key", &key2PEM, chromedp.ByQuery), chromedp.Text("#key-id", &key2ID, chromedp.ByQuery))
		// The server refuses a Save without the tick, even when the button is forced on.
		st.run(t, owner, "force Save on", chromedp.Evaluate(`document.querySelector("#save").disabled = false`, nil))
		st.submit(t, owner, "#save")
		if !st.exists(t, owner, "#form-error") || Contains(st.html(t, owner), key2PEM) {
			t.Error("a Save without the tick was not refused, or the refusal shows the key")
		}
		st.remember(t, owner)
		st.check(t, owner, "save-refused-without-tick")
		if k1, k2 := st.keyStatus(t, ws, ownerToken, dst1, key1ID), st.keyStatus(t, ws, ownerToken, dst1, key2ID); k1 != "active" || k2 != "pending" {
			t.Errorf("after a refused Save the old key is %q and the new %q; want active and pending", k1, k2)
		}
		st.run(t, owner, "tick", chromedp.Click("#stored", chromedp.ByQuery))
		st.submit(t, owner, "#save")
		keys := st.text(t, owner, "#keys")
		if !strings.Contains(keys, key2ID) {
			t.Fatalf("the new key is not listed: %s", keys)
		}
		var s1, s2 string
		st.run(t, owner, "read statuses",
			chromedp.AttributeValue(fmt.Sprintf(`tr[data-key=%q]`, key1ID), "data-status", &s1, nil),
			chromedp.AttributeValue(fmt.Sprintf(`tr[data-key=%q]`, key2ID), "data-status", &s2, nil))
		if s1 != "decrypt-only" || s2 != "active" {
			t.Errorf("after rotation key1 is %s and key2 %s; want decrypt-only and active", s1, s2)
		}
		st.remember(t, owner)
		time.Sleep(1500 * time.Millisecond) // the pipeline's config cache TTL in this test
		ids := st.push(t, ws, src, "r2")
		r2 := st.received(t, dst1, ids)
		if o, f := decrypt(t, key2PEM, key2ID, r2, hashed); o != 2*len(hashed) || f != 0 {
			t.Errorf("the new key opened %d new fields (%d failed)", o, f)
		}
		if o, _ := decrypt(t, key1PEM, key1ID, r1, hashed); o != 2*len(hashed) {
			t.Errorf("the old key opened %d old fields", o)
		}
		if o, _ := decrypt(t, key1PEM, key1ID, r2, hashed); o != 0 {
			t.Errorf("the old key opened %d new fields; want none", o)
		}
	})

	step("an existing destination's Settings: hash, generate, save", func(t *testing.T) {
		st.nav(t, owner, "/add-destination/webhook/setup?source="+src)
		st.run(t, owner, "fill",
			chromedp.SendKeys("#dst-name", "CRM", chromedp.ByQuery),
			chromedp.SendKeys("#dst-url", st.s.HookURL("crm-"+ws[3:11]), chromedp.ByQuery))
		st.submit(t, owner, "#save-settings")
		st.signingSecretShownOnce(t, owner)
		loc := st.location(t, owner)
		dst2 = strings.TrimSuffix(loc[strings.Index(loc, "/destinations/")+len("/destinations/"):], "?saved=1")
		if !strings.HasPrefix(dst2, "dst_") {
			t.Fatalf("the destination without hashing was not saved: %s", loc)
		}
		st.run(t, owner, "hash three fields",
			chromedp.Click("#hash", chromedp.ByQuery),
			chromedp.Click(`li[data-path="traits.email"] input[type=checkbox]`, chromedp.ByQuery),
			chromedp.Click(`li[data-path="properties.mrn"] input[type=checkbox]`, chromedp.ByQuery),
			chromedp.Click(`li[data-path="properties.diagnosis"] input[type=checkbox]`, chromedp.ByQuery),
			chromedp.SetValue(`li[data-path="properties.diagnosis"] select`, "hmac", chromedp.ByQuery),
			chromedp.SetValue("#algorithm", "hpke-xwing", chromedp.ByQuery))
		// Save before generating keys: refused beside the checkbox, with the choices kept.
		st.submit(t, owner, "#save-settings")
		if msg := st.text(t, owner, "#form-error"); !strings.Contains(msg, "Generate hashing keys") || !st.exists(t, owner, "#hash-error") {
			t.Errorf("Save without keys says %q", msg)
		}
		var kept bool
		st.run(t, owner, "read the kept choice", chromedp.Evaluate(`document.querySelector('li[data-path="properties.mrn"] input').checked`, &kept))
		if !kept {
			t.Error("the refused Save lost the chosen fields")
		}
		st.check(t, owner, "existing-destination-settings")
		st.submit(t, owner, "#generate")
		if !st.exists(t, owner, "#hmac-key") {
			t.Error("the hmac treatment got no HMAC key shown once")
		}
		var pemKey, id string
		st.run(t, owner, "read", chromedp.Value("#private-key", &pemKey, chromedp.ByQuery), chromedp.Text("#key-id", &id, chromedp.ByQuery),
			chromedp.Click("#stored", chromedp.ByQuery))
		st.submit(t, owner, "#save")
		if st.text(t, owner, "#hashing-state .state-active") != "active" {
			t.Error("hashing is not active after Save on an existing destination")
		}
		st.remember(t, owner)
		ids := st.push(t, ws, src, "r3")
		got := st.received(t, dst2, ids)
		if o, f := decrypt(t, pemKey, id, got, []string{"traits.email", "properties.mrn"}); o != 4 || f != 0 {
			t.Errorf("the X-Wing key opened %d fields (%d failed); want 4", o, f)
		}
		for id, ev := range got {
			if v, ok := lookup(ev, "properties.diagnosis").(string); strings.HasPrefix(id, "r3-track") && (!ok || v == sent(id, "properties.diagnosis") || v == "") {
				t.Errorf("the hmac field of %s arrived as %v", id, lookup(ev, "properties.diagnosis"))
			}
		}
	})

	step("generate in this browser: only the public key is uploaded", func(t *testing.T) {
		st.nav(t, owner, "/add-destination/webhook/setup?source="+src)
		st.run(t, owner, "fill",
			chromedp.SendKeys("#dst-name", "Warehouse", chromedp.ByQuery),
			chromedp.SendKeys("#dst-url", st.s.HookURL("warehouse-"+ws[3:11]), chromedp.ByQuery))
		st.submit(t, owner, "#save-settings")
		st.signingSecretShownOnce(t, owner)
		loc := st.location(t, owner)
		dst3 = strings.TrimSuffix(loc[strings.Index(loc, "/destinations/")+len("/destinations/"):], "?saved=1")
		var browserPEM string
		st.run(t, owner, "generate in the browser",
			chromedp.Click("#hash", chromedp.ByQuery),
			chromedp.Click(`li[data-path="traits.name"] input[type=checkbox]`, chromedp.ByQuery),
			chromedp.Click("details summary", chromedp.ByQuery),
			chromedp.Click("#browser-generate", chromedp.ByQuery),
			chromedp.Poll(`document.querySelector("#browser-private").value.indexOf("PRIVATE KEY") > 0`, nil),
			chromedp.Value("#browser-private", &browserPEM, chromedp.ByQuery))
		st.check(t, owner, "browser-generated-key")
		st.submit(t, owner, "#upload")
		if Contains(st.html(t, owner), browserPEM) {
			t.Error("the page after the upload shows the browser's private key")
		}
		id := keyIDPattern.FindString(st.text(t, owner, "main"))
		st.run(t, owner, "tick", chromedp.Click("#stored", chromedp.ByQuery))
		st.submit(t, owner, "#save")
		st.remember(t, owner)
		ids := st.push(t, ws, src, "r4")
		got := st.received(t, dst3, ids)
		if o, f := decrypt(t, browserPEM, id, got, []string{"traits.name"}); o != 2 || f != 0 {
			t.Errorf("the browser's key opened %d fields (%d failed); want 2", o, f)
		}
		if st.tableHolds(t, strings.Split(strings.TrimSpace(strings.Split(browserPEM, "-----")[2]), "\n")[0]) {
			t.Error("the table holds the browser's private key")
		}
	})

	step("member and readonly see what the API lets them; a revoked token's session ends", func(t *testing.T) {
		st.nav(t, owner, "/tokens")
		st.run(t, owner, "new member token",
			chromedp.SendKeys("#token-name", "analyst", chromedp.ByQuery), chromedp.SetValue("#token-role", "member", chromedp.ByQuery))
		st.submit(t, owner, `form[action$="/tokens"] button[type=submit]`)
		var secret string
		st.run(t, owner, "read the secret", chromedp.Value("#token-secret", &secret, chromedp.ByQuery))
		st.check(t, owner, "token-created")
		member, cancel := st.person(t)
		defer cancel()
		st.signIn(t, member, secret)
		nav := st.text(t, member, "nav")
		if strings.Contains(nav, "Privacy Portal") || strings.Contains(nav, "Tokens") || strings.Contains(nav, "Audit") {
			t.Errorf("a member's navigation shows owner sections: %q", nav)
		}
		st.nav(t, member, "/destinations/"+dst1)
		if st.exists(t, member, "#hashing") || st.exists(t, member, "#generate") {
			t.Error("a member sees the hashing controls")
		}
		st.check(t, member, "member-destination")
		st.nav(t, member, "/privacy")
		if h := st.text(t, member, "h1"); h != "Not allowed" {
			t.Errorf("a member opening the Privacy Portal sees %q, want the 403 page", h)
		}
		st.check(t, member, "member-403")
		// The owner revokes the member's token: the member's next request signs them out.
		st.nav(t, owner, "/tokens")
		st.submit(t, owner, `button[aria-label="Revoke token analyst"]`)
		st.nav(t, member, "/destinations")
		if loc := st.location(t, member); !strings.Contains(loc, "/console/sign-in") {
			t.Errorf("a revoked token's session still works: at %s", loc)
		}
	})

	step("a non-eligible workspace offers no PHI settings", func(t *testing.T) {
		ws2, tok2 := st.newWorkspace(t, "Team Clinic", "team")
		other, cancel := st.person(t)
		defer cancel()
		st.signIn(t, other, tok2)
		code, _, out := st.api(t, "POST", "/workspaces/"+ws2+"/sources", tok2, map[string]string{"name": "web"}, "")
		if code != http.StatusCreated {
			t.Fatalf("create a source: %d", code)
		}
		st.nav(t, other, "/add-destination/webhook/setup?source="+out["id"].(string))
		if !st.exists(t, other, "#phi-unavailable") || st.exists(t, other, "#generate") || st.exists(t, other, "#hash") {
			t.Error("a team-tier workspace offers hashing controls")
		}
		st.check(t, other, "not-eligible-setup")
	})

	step("a state-changing request without the CSRF token or from another origin is refused", func(t *testing.T) {
		st.nav(t, owner, "/sources")
		// The page's CSP (connect-src falls back to 'none') stops scripts from sending requests at
		// all; a form built without the token is what a forged page could send.
		var status int
		st.run(t, owner, "fetch is blocked by the CSP", chromedp.Evaluate(
			`fetch(location.pathname, {method: "POST", body: "name=evil"}).then(r => r.status, () => -1)`,
			&status, func(p *cdpruntime.EvaluateParams) *cdpruntime.EvaluateParams { return p.WithAwaitPromise(true) }))
		if status != -1 {
			t.Errorf("a page script could send a request (status %d); the CSP should forbid it", status)
		}
		st.run(t, owner, "build a form without the CSRF token", chromedp.Evaluate(`(() => {
			const f = document.createElement("form"); f.method = "post"; f.action = location.pathname; f.id = "forged";
			const i = document.createElement("input"); i.name = "name"; i.value = "evil"; f.appendChild(i);
			const b = document.createElement("button"); b.type = "submit"; b.textContent = "go"; f.appendChild(b);
			document.querySelector("main").appendChild(f); return true })()`, nil))
		st.submit(t, owner, "#forged button")
		if h := st.text(t, owner, "main"); !strings.Contains(h, "403") || !strings.Contains(h, "CSRF") {
			t.Errorf("a POST without the CSRF token was not refused with 403: %q", h)
		}
		st.check(t, owner, "csrf-refused")
		req, _ := http.NewRequest("POST", st.s.ConsoleURL+"sources", strings.NewReader("name=evil"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://evil.example")
		// With the owner's own session cookie (read through DevTools; pages cannot: HttpOnly).
		var cookies []*network.Cookie
		st.run(t, owner, "read the session cookie", chromedp.ActionFunc(func(ctx context.Context) error {
			var err error
			cookies, err = network.GetCookies().WithURLs([]string{st.s.ConsoleURL}).Do(ctx)
			return err
		}))
		for _, c := range cookies {
			if !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict || c.Path != "/console" {
				t.Errorf("cookie %s: HttpOnly=%v SameSite=%s Path=%s; want HttpOnly, Strict, /console", c.Name, c.HTTPOnly, c.SameSite, c.Path)
			}
			req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
		if len(cookies) != 1 {
			t.Errorf("the console set %d cookies, want its one session cookie", len(cookies))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("a cross-origin POST got %d, want 403", resp.StatusCode)
		}
		st.nav(t, owner, "/sources")
		if strings.Contains(st.text(t, owner, "main"), "evil") {
			t.Error("a refused POST created a source")
		}
	})

	step("audit log, filtered by action", func(t *testing.T) {
		st.nav(t, owner, "/audit?action=key.generate")
		rows := st.text(t, owner, "#audit-table tbody")
		if !strings.Contains(rows, "key.generate") || strings.Contains(rows, "destination.create") {
			t.Errorf("the filtered audit log shows: %s", rows)
		}
		st.remember(t, owner)
		st.check(t, owner, "audit")
	})

	step("audit trail: verification shows the chain intact", func(t *testing.T) {
		st.nav(t, owner, "/audit/verify")
		got := st.text(t, owner, "#audit-verification")
		if !strings.Contains(got, "Intact through record ") || !strings.Contains(got, "Signed checkpoints cover records through") {
			t.Errorf("the audit page's verification says: %q", got)
		}
		st.check(t, owner, "audit-verified")
	})

	step("at 375 px wide nothing scrolls sideways", func(t *testing.T) {
		phone, cancel := st.person(t)
		defer cancel()
		st.run(t, phone, "phone", emulation.SetDeviceMetricsOverride(375, 800, 2, true))
		st.signIn(t, phone, ownerToken)
		for _, p := range []string{"/settings", "/privacy", "/destinations", "/destinations/" + dst1, "/destinations/" + dst1 + "/keys", "/audit"} {
			st.nav(t, phone, p)
			var width int
			st.run(t, phone, "measure", chromedp.Evaluate(`document.documentElement.scrollWidth`, &width))
			if width > 375 {
				t.Errorf("%s is %d px wide at a 375 px viewport", p, width)
			}
			st.remember(t, phone)
			st.check(t, phone, "mobile-"+strings.ReplaceAll(strings.ReplaceAll(strings.Trim(p, "/"), dst1, "analytics"), "/", "-"))
		}
	})

	step("keyboard only: sign in with Tab and Enter, and focus is visible", func(t *testing.T) {
		kb, cancel := st.person(t)
		defer cancel()
		st.nav(t, kb, "/sign-in")
		var id, outline string
		for i := 0; i < 10 && id != "token"; i++ {
			st.run(t, kb, "Tab", chromedp.KeyEvent("\t"), chromedp.Evaluate(`document.activeElement.id`, &id))
		}
		if id != "token" {
			t.Fatal("Tab never reaches the token field")
		}
		st.run(t, kb, "focus outline", chromedp.Evaluate(`getComputedStyle(document.activeElement).outlineStyle`, &outline))
		if outline == "none" || outline == "" {
			t.Errorf("the focused field shows no outline (%q)", outline)
		}
		st.run(t, kb, "type and press Enter",
			chromedp.Evaluate(`document.documentElement.dataset.old = "1"`, nil),
			chromedp.KeyEvent(ownerToken), chromedp.KeyEvent("\r"))
		deadline := time.Now().Add(10 * time.Second)
		for !strings.HasSuffix(st.location(t, kb), "/console/settings") {
			if time.Now().After(deadline) {
				t.Fatalf("Enter did not sign in: at %s", st.location(t, kb))
			}
			time.Sleep(100 * time.Millisecond)
		}
		// The skip link is the first stop, then the header's controls.
		st.run(t, kb, "Tab from the top", chromedp.Evaluate(`document.activeElement.blur()`, nil), chromedp.KeyEvent("\t"),
			chromedp.Evaluate(`document.activeElement.textContent.trim()`, &id))
		if id != "Skip to content" {
			t.Errorf("the first Tab stop is %q, want the skip link", id)
		}
	})

	step("sign out ends the session", func(t *testing.T) {
		st.nav(t, owner, "/settings")
		st.submit(t, owner, `form[action$="/sign-out"] button`)
		st.nav(t, owner, "/settings")
		if loc := st.location(t, owner); !strings.Contains(loc, "/console/sign-in") {
			t.Errorf("after sign-out /settings is at %s", loc)
		}
	})

	step("the private keys are in no later page, browser storage, log or table", func(t *testing.T) {
		var storage string
		st.run(t, owner, "read storage", chromedp.Evaluate(`JSON.stringify(localStorage) + JSON.stringify(sessionStorage) + document.cookie`, &storage))
		for name, k := range map[string]string{"first": key1PEM, "rotated": key2PEM} {
			for i, p := range st.pages {
				if Contains(p, k) {
					t.Errorf("later page %d holds the %s private key", i, name)
				}
			}
			if Contains(storage, k) {
				t.Errorf("browser storage holds the %s private key", name)
			}
			if Contains(st.log.String(), k) {
				t.Errorf("the server's log holds the %s private key", name)
			}
			body := strings.SplitN(strings.TrimSpace(strings.Split(k, "-----")[2]), "\n", 2)[0]
			if st.tableHolds(t, body[:40]) {
				t.Errorf("the table holds the %s private key", name)
			}
		}
		if len(st.pages) < 8 {
			t.Errorf("only %d later pages were searched", len(st.pages))
		}
	})

	t.Logf("axe-core checked %d pages: %d serious or critical violations", st.axeChecked, len(st.axeFindings))
}
