package browsertest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
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
