package keygen_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/phiguard/phiguard/shared/audit"
	"github.com/phiguard/phiguard/shared/httpapi"
	"github.com/phiguard/phiguard/shared/phi"
)

// Revoking the key a treatment needs degrades the destination's hashing: the revoke response
// says so, and the audit log records it right after the revocation, under the same request id;
// activating a new key records it restored. A revocation that changes nothing records nothing.
func TestRevokingTheKeyATreatmentNeedsRecordsTheDegradedState(t *testing.T) {
	e := newEnv(t)
	ws := e.newWorkspace(t, phi.TierBusiness, true)
	start := time.Now().Add(-time.Minute)
	enc := e.generateActive(t, ws, "")
	var hk httpapi.GeneratedHMACKey
	e.must(t, http.StatusCreated, "POST", hmacPath(ws), ws.Owner, "").json(t, &hk)
	e.activate(t, ws, hk.ID)
	d, err := e.store.GetDestination(e.ctx, ws.ID, ws.Destination)
	if err != nil {
		t.Fatal(err)
	}
	d.Hashing = phi.HashingSettings{Enabled: true, Fields: []phi.FieldTreatment{
		{Path: "traits.email", Treatment: phi.TreatmentEncrypt}, {Path: "userId", Treatment: phi.TreatmentHMAC}}}
	if err := e.store.UpdateDestination(e.ctx, d); err != nil {
		t.Fatal(err)
	}
	revoke := func(t *testing.T, id, state, reason string) httpapi.RevokedKey {
		t.Helper()
		res := e.must(t, http.StatusOK, "POST", keysPath(ws)+"/"+id+"/revoke", ws.Owner, "")
		var rk httpapi.RevokedKey
		res.json(t, &rk)
		if rk.ID != id || rk.Status != phi.KeyRevoked || rk.DestinationHashingState != state || rk.DestinationHashingStateReason != reason ||
			(state == phi.HashingDegraded) != (rk.DestinationHashingStateMessage != "") {
			t.Errorf("revoke answered %s; want key %s revoked, the destination %s (%q) with a message when degraded", res.Body, id, state, reason)
		}
		return rk
	}
	// consequences returns the hashing-state records, in chain order, and checks that each
	// follows the successful record of the action that caused it, with its request id.
	consequences := func(t *testing.T) []string {
		t.Helper()
		recs, err := e.store.AuditRecords(e.ctx, ws.ID, start, time.Time{}, 1000)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for i, r := range recs {
			if !strings.HasPrefix(r.Action, "destination.hashing.") {
				continue
			}
			out = append(out, r.Action)
			if prev := recs[i-1]; prev.RequestID != r.RequestID || prev.Outcome != "success" || !strings.HasPrefix(prev.Action, "key.") ||
				r.Outcome != "success" || r.Target != "destinations/"+ws.Destination || r.Actor != ws.OwnerID {
				t.Errorf("record %+v follows %+v; want it right after the successful key action of the same request, by the same actor, on the destination", r, prev)
			}
		}
		return out
	}

	t.Run("revoking the only key pair degrades it, and the log says why", func(t *testing.T) {
		revoke(t, enc.ID, phi.HashingDegraded, phi.DegradedNoActiveKey)
		if got := consequences(t); strings.Join(got, " ") != "destination.hashing.degraded.no-active-key" {
			t.Errorf("hashing records %v", got)
		}
	})
	t.Run("revoking it again records nothing more", func(t *testing.T) {
		revoke(t, enc.ID, phi.HashingDegraded, phi.DegradedNoActiveKey)
		if got := consequences(t); len(got) != 1 {
			t.Errorf("hashing records %v", got)
		}
	})
	t.Run("a new key pair activated restores it", func(t *testing.T) {
		e.generateActive(t, ws, "")
		if got := consequences(t); strings.Join(got, " ") != "destination.hashing.degraded.no-active-key destination.hashing.restored" {
			t.Errorf("hashing records %v", got)
		}
	})
	t.Run("revoking a key nothing uses keeps it active and records nothing", func(t *testing.T) {
		pending := e.generate(t, ws, "")
		revoke(t, pending.ID, phi.HashingActive, "")
		if got := consequences(t); len(got) != 2 {
			t.Errorf("hashing records %v", got)
		}
	})
	t.Run("revoking the HMAC key degrades it", func(t *testing.T) {
		revoke(t, hk.ID, phi.HashingDegraded, phi.DegradedHMACKeyRevoked)
		if got := consequences(t); len(got) != 3 || got[2] != "destination.hashing.degraded.hmac-key-revoked" {
			t.Errorf("hashing records %v", got)
		}
	})
	t.Run("the audit chain is intact", func(t *testing.T) {
		recs, err := e.store.AuditRecords(e.ctx, ws.ID, time.Time{}, time.Time{}, 1000)
		if err != nil {
			t.Fatal(err)
		}
		head, err := e.store.AuditHead(e.ctx, ws.ID)
		if err != nil {
			t.Fatal(err)
		}
		if rep := audit.Verify(audit.Chain{WorkspaceID: ws.ID, Records: recs, Head: &head}, nil); !rep.Intact || rep.Through != int64(len(recs)) {
			t.Errorf("verification: %s", rep.Summary)
		}
	})
}
