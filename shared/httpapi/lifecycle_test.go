package httpapi

import (
	"strings"
	"testing"

	"github.com/phiguard/phiguard/shared/workspace"
)

// An owner exports the configuration (audited); an operator closes the workspace with a reason
// (audited): every token stops working at once; during the grace period purging is refused and
// reopening gives a new owner token that works; the audit trail records it all and stays intact.
func TestOffboardingThroughTheAPI(t *testing.T) {
	a := newAPI(t)
	ws := a.newWorkspace(t, "business", true)
	base := "/workspaces/" + ws.ID
	op := "/operator/workspaces/" + ws.ID

	var x workspace.Export
	a.must(t, 200, "GET", base+"/export", ws.Owner, "").json(t, &x)
	if x.Format != workspace.ExportFormat || x.Workspace.ID != ws.ID || len(x.Sources) != 1 || len(x.Destinations) != 1 ||
		x.Keys == nil || x.Matchers == nil || x.Classifications == nil {
		t.Fatalf("export %+v", x)
	}
	a.must(t, 403, "GET", base+"/export", ws.Member, "")

	var closed WorkspaceView
	a.must(t, 200, "POST", op+"/close", testOperatorSecret, `{"reason":"customer request #4711"}`).json(t, &closed)
	if closed.Closed == nil || closed.Closed.Reason != "customer request #4711" || closed.Closed.By != "operator:local" ||
		!closed.Closed.PurgeAfter.After(closed.Closed.At) {
		t.Fatalf("closed %+v", closed.Closed)
	}
	for _, tok := range []string{ws.Owner, ws.Member, ws.Readonly} {
		a.must(t, 401, "GET", base, tok, "")
	}
	res := a.must(t, 409, "POST", op+"/purge", testOperatorSecret, "")
	if !strings.Contains(res.Body, "grace period") {
		t.Errorf("purge during the grace period: %s", res.Body)
	}

	var reopened ReopenedWorkspace
	a.must(t, 200, "POST", op+"/reopen", testOperatorSecret, `{}`).json(t, &reopened)
	if reopened.Closed != nil || reopened.OwnerToken.Secret == "" || reopened.OwnerToken.Name != "owner" {
		t.Fatalf("reopened %+v", reopened)
	}
	a.must(t, 409, "POST", op+"/reopen", testOperatorSecret, `{}`) // not closed
	a.must(t, 401, "GET", base, ws.Owner, "")                      // closing revoked it for good
	a.must(t, 200, "GET", base, reopened.OwnerToken.Secret, "")

	var v Verification
	a.must(t, 200, "GET", base+"/audit/verify", reopened.OwnerToken.Secret, "").json(t, &v)
	if !v.Intact {
		t.Fatalf("audit chain after the lifecycle: %+v", v)
	}
	var list struct {
		Items []struct{ Action, Outcome string }
	}
	a.must(t, 200, "GET", base+"/audit?limit=100", reopened.OwnerToken.Secret, "").json(t, &list)
	seen := map[string]string{}
	for _, r := range list.Items {
		seen[r.Action+" "+r.Outcome] = r.Outcome
	}
	for _, want := range []string{"workspace.export success", "workspace.close success", "workspace.purge failed", "workspace.reopen success", "workspace.reopen failed"} {
		if _, ok := seen[want]; !ok {
			t.Errorf("the audit log lacks %q: %v", want, seen)
		}
	}
}
