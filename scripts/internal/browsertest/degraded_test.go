package browsertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/catalog"
)

// TestRevokingTheOnlyKeyPairShowsTheDestinationDegraded revokes, in the console, the only key
// pair of a destination that encrypts a field: the keys page, the destination's page and the
// destinations list then say hashing is degraded and why, and the audit page lists the
// degraded record. Before that, a Save of the destination's settings keeps the default
// treatment set through the API.
func TestRevokingTheOnlyKeyPairShowsTheDestinationDegraded(t *testing.T) {
	st := newSuite(t)
	owner, cancel := st.person(t)
	defer cancel()
	ws, tok := st.newWorkspace(t, "Lakeside Clinic", "business")
	st.signBAA(t, ws)
	base := "/workspaces/" + ws
	must := func(want int, method, path string, body any, etag string) (http.Header, map[string]any) {
		t.Helper()
		code, h, out := st.api(t, method, base+path, tok, body, etag)
		if code != want {
			t.Fatalf("%s %s: %d %v", method, path, code, out)
		}
		return h, out
	}
	_, src := must(http.StatusCreated, "POST", "/sources", map[string]string{"name": "web"}, "")
	_, d := must(http.StatusCreated, "POST", "/destinations", map[string]any{"sourceId": src["id"], "name": "CRM", "type": "webhook",
		"settings": map[string]any{"url": st.s.HookURL("crm-" + ws[3:11])}}, "")
	dst := d["id"].(string)
	must(http.StatusOK, "PUT", "/privacy/classifications", map[string]any{"classifications": []map[string]string{{"path": "traits.email", "classification": "yellow"}}}, "")
	_, key := must(http.StatusCreated, "POST", "/destinations/"+dst+"/keys", map[string]any{}, "")
	keyID := key["id"].(string)
	must(http.StatusOK, "POST", "/destinations/"+dst+"/keys/"+keyID+"/activate", nil, "")
	h, _ := must(http.StatusOK, "GET", "/destinations/"+dst, nil, "")
	must(http.StatusOK, "PUT", "/destinations/"+dst+"/hashing", map[string]any{"enabled": true, "unreviewed": "protect", "defaultTreatment": "redact",
		"fields": []map[string]string{{"path": "traits.email", "treatment": "encrypt"}}}, h.Get("ETag"))

	st.signIn(t, owner, tok)
	st.nav(t, owner, "/destinations/"+dst)
	if s := st.text(t, owner, "#hashing-state"); !strings.Contains(s, "active") {
		t.Fatalf("before the revocation the destination says %q", s)
	}
	// The console has no control for the rule of fields not reviewed yet or the default
	// treatment: its Save keeps what the API set.
	st.submit(t, owner, "#save-settings")
	if _, got := must(http.StatusOK, "GET", "/destinations/"+dst, nil, ""); fmt.Sprintf("%v %v", got["hashing"].(map[string]any)["defaultTreatment"], got["hashing"].(map[string]any)["unreviewed"]) != "redact protect" {
		t.Errorf("after a Save in the console the hashing settings are %v; want the default treatment and unreviewed rule kept", got["hashing"])
	}
	st.nav(t, owner, "/destinations/"+dst+"/keys")
	st.submit(t, owner, `tr[data-key="`+keyID+`"] button[type=submit]`)
	const says = "no active encryption key pair: fields with the encrypt treatment are removed from events"
	if s := st.text(t, owner, "#hashing-state"); !strings.Contains(s, "degraded") || !strings.Contains(s, says) {
		t.Errorf("after the revocation the keys page says %q", s)
	}
	st.nav(t, owner, "/destinations/"+dst)
	if s := st.text(t, owner, "#hashing-state"); !strings.Contains(s, "degraded") || !strings.Contains(s, says) {
		t.Errorf("after the revocation the destination's page says %q; want degraded and %q", s, says)
	}
	st.check(t, owner, "destination-degraded")
	st.nav(t, owner, "/destinations")
	if s := st.text(t, owner, "#destinations"); !strings.Contains(s, "degraded") || !strings.Contains(s, says) {
		t.Errorf("the destinations list says %q", s)
	}
	st.nav(t, owner, "/audit?action=destination.hashing.degraded.no-active-key")
	if s := st.text(t, owner, "#audit-table"); !strings.Contains(s, "destination.hashing.degraded.no-active-key") || !strings.Contains(s, "destinations/"+dst) {
		t.Errorf("the audit page lists %q", s)
	}
}

// TestADestinationThatRefusesCopiesShowsItsDeliveryDegraded sends events to an S3 destination
// whose bucket does not exist, through the whole local pipeline: once the delivery function has
// dead-lettered the refused copies, the destinations list and the destination's page say its
// delivery is degraded, with AWS's code, why the copies were dead-lettered, the error and what
// to do; before that, the page says ok.
func TestADestinationThatRefusesCopiesShowsItsDeliveryDegraded(t *testing.T) {
	st := newSuite(t)
	owner, cancel := st.person(t)
	defer cancel()
	ws, tok := st.newWorkspace(t, "Lakeside Clinic", "business")
	st.signBAA(t, ws)
	base := "/workspaces/" + ws
	must := func(want int, method, path string, body any) map[string]any {
		t.Helper()
		code, _, out := st.api(t, method, base+path, tok, body, "")
		if code != want {
			t.Fatalf("%s %s: %d %v", method, path, code, out)
		}
		return out
	}
	src := must(http.StatusCreated, "POST", "/sources", map[string]string{"name": "Patient app"})["id"].(string)
	roleName := awstest.UniqueName("lake")
	dst := must(http.StatusCreated, "POST", "/destinations", map[string]any{"sourceId": src, "name": "Data lake", "type": "s3",
		"settings": map[string]string{"roleArn": "arn:aws:iam::123456789012:role" + catalog.RolePath + roleName,
			"bucket": awstest.UniqueName("gone"), "region": "us-east-1"}})["id"].(string)
	trust, _ := json.Marshal(must(http.StatusOK, "GET", "/destinations/"+dst+"/access-policy", nil)["trustPolicy"])
	awstest.CreateRole(t, st.s.Clients, catalog.RolePath, roleName, string(trust))

	st.signIn(t, owner, tok)
	st.nav(t, owner, "/destinations/"+dst)
	if s := st.text(t, owner, "#delivery-state"); !strings.Contains(s, "Delivery: ok since") {
		t.Errorf("before any copy the destination's page says %q; want ok", s)
	}
	ids := st.push(t, ws, src, "gone")
	var delivery map[string]any
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		delivery, _ = must(http.StatusOK, "GET", "/destinations/"+dst, nil)["delivery"].(map[string]any)
		if delivery["state"] == "degraded" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the destination's delivery is %v after its copies for a missing bucket; want degraded", delivery)
		}
	}

	st.nav(t, owner, "/destinations")
	row := st.text(t, owner, `tr[data-id="`+dst+`"] td.delivery`)
	if !strings.Contains(row, "degraded") || !strings.Contains(row, "NoSuchBucket, refused") {
		t.Errorf("the destinations list says %q for its delivery; want degraded, NoSuchBucket, refused", row)
	}
	st.check(t, owner, "destinations-delivery-degraded")
	st.nav(t, owner, "/destinations/"+dst)
	s := st.text(t, owner, "#delivery-state")
	for _, want := range []string{"Delivery: degraded", "refused copies permanently (NoSuchBucket)", "dead-letter queue", "replay", "Last error:", "NoSuchBucket"} {
		if !strings.Contains(s, want) {
			t.Errorf("the destination's page says %q; want %q in it", s, want)
		}
	}
	st.check(t, owner, "destination-delivery-degraded")
	// The error is AWS's, never the copies' content.
	for _, id := range ids {
		for _, p := range []string{"traits.email", "properties.mrn"} {
			if v := sent(id, p); strings.Contains(s, v) || strings.Contains(fmt.Sprint(delivery), v) {
				t.Errorf("the delivery state shows %s of %s", p, id)
			}
		}
	}
}
