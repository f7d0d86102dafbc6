package console

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/workspace"
)

// The webhook's batch size travels from the setup form's setting.batchSize input to the API's
// settings and back: digits set it, an empty input leaves the default, and a value the catalog
// refuses comes back as the problem of settings.batchSize, which the form shows beside it.
func TestTheSetupFormCarriesTheWebhookBatchSize(t *testing.T) {
	owner := phi.Actor{WorkspaceID: phi.NewID(phi.PrefixWorkspace), Role: phi.RoleOwner}
	form := func(batch string) setupForm {
		r := httptest.NewRequest("POST", "/console/destinations/new", strings.NewReader(url.Values{
			"name": {"Hook"}, "source": {phi.NewID(phi.PrefixSource)}, "url": {"https://hooks.example.com/in"}, "setting.batchSize": {batch},
		}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if err := r.ParseForm(); err != nil {
			t.Fatal(err)
		}
		sf := parseSetup(r, "new/webhook/x")
		sf.Type = phi.DestinationWebhook
		return sf
	}
	in := form("10").input(false)
	if in.Settings.BatchSize == nil || *in.Settings.BatchSize != 10 {
		t.Fatalf("batchSize 10 became %v", in.Settings.BatchSize)
	}
	if err := workspace.CheckDestination(owner, in); err != nil {
		t.Fatalf("a batch of 10 is refused: %v", err)
	}
	back := formOf(&phi.Destination{Type: phi.DestinationWebhook, Settings: in.Settings})
	if got := back.Setting("batchSize"); got != "10" {
		t.Errorf("the settings page shows batchSize %q, want 10", got)
	}
	if in := form("").input(false); in.Settings.BatchSize != nil {
		t.Errorf("an empty input set batchSize %v; want the default (absent)", *in.Settings.BatchSize)
	}
	for _, bad := range []string{"0", "101", "ten"} {
		fe := problemsOf(workspace.CheckDestination(owner, form(bad).input(false)))
		if fe == nil || !strings.Contains(fe.Field("settings.batchSize"), "from 1 to 100") {
			t.Errorf("batchSize %q: form errors %+v; want the bounds beside settings.batchSize", bad, fe)
		}
	}
}
