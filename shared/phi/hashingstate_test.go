package phi

import (
	"strings"
	"testing"
)

func TestHashingStateSaysWhatEventsGet(t *testing.T) {
	eligible := &Workspace{Tier: TierBusiness, BAA: BAA{Signed: true}}
	lapsed := &Workspace{Tier: TierTeam}
	both := HashingSettings{Enabled: true, Fields: []FieldTreatment{
		{Path: "traits.email", Treatment: TreatmentEncrypt}, {Path: "traits.phone", Treatment: TreatmentHMAC}}}
	key := func(kind KeyKind, st KeyStatus) Key { return Key{Kind: kind, Status: st} }
	bothKeys := []Key{key(KeyEncryption, KeyActive), key(KeyHMAC, KeyActive)}
	for _, c := range []struct {
		name    string
		hashing HashingSettings
		ws      *Workspace
		keys    []Key
		state   string
		reason  string
		message string
	}{
		{"hashing off is off whatever the workspace", HashingSettings{}, lapsed, nil, HashingOff, "", ""},
		{"enabled in an eligible workspace with its keys is active", both, eligible, bothKeys, HashingActive, "", ""},
		{"enabled without keyed treatments needs no key", HashingSettings{Enabled: true, DefaultTreatment: TreatmentSHA256}, eligible, nil, HashingActive, "", ""},
		{"fields not reviewed yet that block need no key", HashingSettings{Enabled: true, Unreviewed: UnreviewedBlock}, eligible, nil, HashingActive, "", ""},
		{"the default treatment encrypt without a key pair is degraded", HashingSettings{Enabled: true, Fields: []FieldTreatment{
			{Path: "traits.email", Treatment: TreatmentSHA256}}}, eligible, nil, HashingDegraded, DegradedNoActiveKey, "not reviewed yet, whose default treatment is encrypt"},
		{"the default treatment hmac without an HMAC key is degraded", HashingSettings{Enabled: true, DefaultTreatment: TreatmentHMAC},
			eligible, []Key{key(KeyEncryption, KeyActive)}, HashingDegraded, DegradedHMACKeyRevoked, "default treatment is hmac"},
		{"the default treatment with its key is active", HashingSettings{Enabled: true, DefaultTreatment: TreatmentHMAC},
			eligible, []Key{key(KeyHMAC, KeyActive)}, HashingActive, "", ""},
		{"a listed field's missing HMAC key is named before the default treatment's key pair", HashingSettings{Enabled: true, Fields: []FieldTreatment{
			{Path: "traits.phone", Treatment: TreatmentHMAC}}}, eligible, nil, HashingDegraded, DegradedHMACKeyRevoked, "fields with the hmac treatment"},
		{"a listed field's missing key is named before the default treatment's", HashingSettings{Enabled: true, Fields: []FieldTreatment{
			{Path: "traits.phone", Treatment: TreatmentHMAC}}, DefaultTreatment: TreatmentHMAC}, eligible, nil, HashingDegraded, DegradedHMACKeyRevoked, "fields with the hmac treatment"},
		{"a workspace that lost eligibility is degraded, with why", both, lapsed, bothKeys, HashingDegraded, DegradedNotEligible, "team tier"},
		{"the only key pair revoked is degraded", both, eligible,
			[]Key{key(KeyEncryption, KeyRevoked), key(KeyHMAC, KeyActive)}, HashingDegraded, DegradedNoActiveKey, "encryption key pair"},
		{"a decrypt-only or pending key pair does not encrypt", both, eligible,
			[]Key{key(KeyEncryption, KeyDecryptOnly), key(KeyEncryption, KeyPending), key(KeyHMAC, KeyActive)}, HashingDegraded, DegradedNoActiveKey, "encrypt treatment"},
		{"the HMAC key revoked is degraded", both, eligible,
			[]Key{key(KeyEncryption, KeyActive), key(KeyHMAC, KeyRevoked)}, HashingDegraded, DegradedHMACKeyRevoked, "HMAC key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := &Destination{Hashing: c.hashing}
			got := HashingState(d, c.ws, c.keys)
			if got.State != c.state || got.Reason != c.reason || (c.message == "") != (got.Message == "") || !strings.Contains(got.Message, c.message) {
				t.Errorf("got %+v; want %q, %q, a message containing %q", got, c.state, c.reason, c.message)
			}
			if without := HashingState(d, c.ws, nil); !KeysDecide(d, c.ws) && without != got {
				t.Errorf("KeysDecide says the keys do not matter, but without them the state is %+v", without)
			}
		})
	}
}
