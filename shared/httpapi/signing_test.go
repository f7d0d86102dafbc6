package httpapi

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/phiguard/phiguard/shared/audit"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/webhook"
)

// createdDestination is the 201 body of a webhook destination's creation.
type createdDestination struct {
	DestinationView
	SigningSecret string `json:"signingSecret"`
}

// rotated is the 200 body of a rotation.
type rotated struct {
	SigningSecretsView
	SigningSecret string `json:"signingSecret"`
}

// A webhook destination's signing secret is in its creation response alone, marked no-store;
// no later response, log line or audit record holds it, and the table holds only its KMS
// ciphertext. Each destination gets its own.
func TestSigningSecretsAreShownOnceAtCreation(t *testing.T) {
	a := newAPI(t)
	ws := a.newWorkspace(t, "business", true)
	dsts := "/workspaces/" + ws.ID + "/destinations"
	var one, two createdDestination
	res := a.must(t, 201, "POST", dsts, ws.Member, destinationBody(ws.Source, "https://crm.example/hook"))
	res.json(t, &one)
	if res.Header.Get("Cache-Control") != "no-store" || res.Header.Get("Pragma") != "no-cache" || res.Header.Get("ETag") == "" || res.Header.Get("Location") == "" {
		t.Errorf("creation headers %v; want no-store, no-cache, an ETag and a Location", res.Header)
	}
	a.must(t, 201, "POST", dsts, ws.Member, destinationBody(ws.Source, "https://crm.example/hook")).json(t, &two)
	key, err := webhook.ParseSecret(one.SigningSecret)
	if err != nil || len(key) != webhook.SecretLen || one.ID == "" || one.Name != "crm" {
		t.Fatalf("creation response %+v: want the destination and a whsec_ secret of %d bytes (%v)", one.DestinationView, webhook.SecretLen, err)
	}
	if one.SigningSecret == two.SigningSecret {
		t.Error("two destinations got the same signing secret")
	}
	secret := strings.TrimPrefix(one.SigningSecret, "whsec_")
	later := []response{
		a.must(t, 200, "GET", dsts+"/"+one.ID, ws.Owner, ""),
		a.must(t, 200, "GET", dsts, ws.Readonly, ""),
		a.must(t, 200, "PUT", dsts+"/"+one.ID, ws.Member, destinationBody(ws.Source, "https://crm.example/other"), "If-Match", ETag(one.Version)),
		a.must(t, 200, "GET", "/workspaces/"+ws.ID+"/audit?limit=100", ws.Owner, ""),
	}
	for _, r := range later {
		if strings.Contains(r.Body, "signingSecret") || strings.Contains(r.Body, secret) {
			t.Errorf("a later response shows the signing secret: %d %s", r.Status, r.Body)
		}
	}
	if strings.Contains(a.logs.String(), secret) {
		t.Error("the logs contain the signing secret")
	}
	stored, err := a.store.GetSigningSecrets(context.Background(), ws.ID, one.ID)
	if err != nil || len(stored.Secrets) != 1 || strings.Contains(string(stored.Secrets[0].Ciphertext), string(key)) {
		t.Fatalf("stored secrets %+v, %v; want one ciphertext, not the key", stored, err)
	}
	// Deleting the destination deletes its secrets.
	a.must(t, 204, "DELETE", dsts+"/"+two.ID, ws.Member, "")
	if _, err := a.store.GetSigningSecrets(context.Background(), ws.ID, two.ID); phi.ErrorCode(err) != phi.ENOTFOUND {
		t.Errorf("after the destination's deletion its signing secrets: %v, want ENOTFOUND", err)
	}
}

// A rotation returns the new secret once and keeps the replaced one signing for the overlap
// asked for (a day by default, none for 0); it is audited, refused for a bad overlap, an unknown
// destination or a readonly token, and a rotation during an overlap ends the earlier one.
func TestSigningSecretRotationOverlapsAndIsAudited(t *testing.T) {
	a := newAPI(t)
	ws := a.newWorkspace(t, "business", true)
	var d createdDestination
	a.must(t, 201, "POST", "/workspaces/"+ws.ID+"/destinations", ws.Member, destinationBody(ws.Source, "https://crm.example/hook")).json(t, &d)
	rotate := "/workspaces/" + ws.ID + "/destinations/" + d.ID + "/signing-secret/rotate"
	before := time.Now()

	var r1 rotated
	res := a.must(t, 200, "POST", rotate, ws.Member, "")
	res.json(t, &r1)
	if res.Header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(r1.SigningSecret, "whsec_") || r1.SigningSecret == d.SigningSecret {
		t.Fatalf("rotation: Cache-Control %q, secret new %v", res.Header.Get("Cache-Control"), r1.SigningSecret != d.SigningSecret)
	}
	if r1.PreviousExpiresAt == nil || r1.PreviousExpiresAt.Sub(before) < 24*time.Hour-time.Minute || r1.PreviousExpiresAt.Sub(before) > 24*time.Hour+time.Minute {
		t.Errorf("default overlap ends at %v, want a day from now", r1.PreviousExpiresAt)
	}
	stored, _ := a.store.GetSigningSecrets(context.Background(), ws.ID, d.ID)
	if len(stored.Secrets) != 2 || stored.Secrets[0].ExpiresAt != nil || stored.Secrets[1].ExpiresAt == nil {
		t.Fatalf("after a rotation with an overlap: %+v, want the new secret and the old one expiring", stored.Secrets)
	}

	var r2 rotated
	a.must(t, 200, "POST", rotate, ws.Owner, `{"overlapSeconds":0}`).json(t, &r2)
	if r2.PreviousExpiresAt != nil {
		t.Errorf("overlapSeconds 0: the replaced secret still signs until %v", r2.PreviousExpiresAt)
	}
	stored, _ = a.store.GetSigningSecrets(context.Background(), ws.ID, d.ID)
	if len(stored.Secrets) != 1 || stored.Version != 3 {
		t.Errorf("after a rotation without overlap: %d secrets at version %d, want 1 at 3", len(stored.Secrets), stored.Version)
	}

	for _, c := range []struct {
		name, token, path, body string
		status                  int
	}{
		{"a negative overlap", ws.Member, rotate, `{"overlapSeconds":-1}`, 422},
		{"an overlap over seven days", ws.Member, rotate, `{"overlapSeconds":604801}`, 422},
		{"an overlap that is not a number", ws.Member, rotate, `{"overlapSeconds":"1d"}`, 400},
		{"an unknown member", ws.Member, rotate, `{"overlap":60}`, 400},
		{"an unknown destination", ws.Member, "/workspaces/" + ws.ID + "/destinations/" + phi.NewID(phi.PrefixDestination) + "/signing-secret/rotate", ``, 404},
		{"a readonly token", ws.Readonly, rotate, ``, 403},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := a.must(t, c.status, "POST", c.path, c.token, c.body)
			if strings.Contains(res.Body, "whsec_") {
				t.Errorf("a refused rotation carries a secret: %s", res.Body)
			}
		})
	}
	if after, _ := a.store.GetSigningSecrets(context.Background(), ws.ID, d.ID); after.Version != 3 {
		t.Errorf("refused rotations changed the secrets: version %d, want 3", after.Version)
	}

	recs, _, err := a.store.ListAudit(context.Background(), ws.ID, before.Add(-time.Minute), time.Now().Add(time.Minute), phi.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	outcomes := map[string]int{}
	for _, r := range recs {
		if r.Action == "destination.signing-secret.rotate" && r.Target == "destinations/"+d.ID+"/signing-secret/rotate" {
			outcomes[r.Outcome]++
		}
	}
	if outcomes[audit.OutcomeAttempted] != 2 || outcomes[audit.OutcomeSuccess] != 2 || outcomes[audit.OutcomeDenied] != 1 {
		t.Errorf("rotation audit records by outcome %v; want 2 attempted and 2 successes (before and after each rotation) and 1 denied", outcomes)
	}
	for _, s := range []string{d.SigningSecret, r1.SigningSecret, r2.SigningSecret} {
		if strings.Contains(a.logs.String(), strings.TrimPrefix(s, "whsec_")) {
			t.Error("the logs contain a signing secret")
		}
	}
}
