package phi

import "slices"

// Effective hashing states of a destination. The pipeline decides the same way on every
// snapshot, so the state shown is what events get.
const (
	HashingOff      = "off"      // hashing is not enabled
	HashingActive   = "active"   // enabled, the workspace is HIPAA eligible, and every treatment has its active key
	HashingDegraded = "degraded" // enabled, but the pipeline cannot apply it: the listed fields are removed (fail closed)
)

// Reasons of the degraded hashing state (HashingStatus.Reason).
const (
	DegradedNotEligible    = "workspace-not-eligible" // the workspace lost HIPAA eligibility (BAA or tier)
	DegradedNoActiveKey    = "no-active-key"          // the encrypt treatment (of a listed field, or the default of fields not reviewed yet) has no active encryption key pair
	DegradedHMACKeyRevoked = "hmac-key-revoked"       // the hmac treatment (likewise) has no active HMAC key
)

// HashingStatus is a destination's effective hashing state; Reason (one of the Degraded… codes)
// and Message (for people) are set when it is degraded.
type HashingStatus struct {
	State, Reason, Message string
}

// HashingState computes d's effective hashing state in ws from what is stored: the workspace's
// eligibility and keys, d's keys (only looked at when hashing is enabled and the workspace
// eligible). The pipeline removes a field whose treatment has no active key of its kind
// (transform.ReasonKeyUnavailable) — a listed field's treatment, or the default treatment
// of fields not reviewed yet (HashingSettings.Needs) — so such a destination is degraded, not
// active.
func HashingState(d *Destination, ws *Workspace, keys []Key) HashingStatus {
	if !d.Hashing.Enabled {
		return HashingStatus{State: HashingOff}
	}
	if r := ws.Ineligibility(); r != "" {
		return HashingStatus{HashingDegraded, DegradedNotEligible,
			"workspace not HIPAA eligible: " + r + "; protected fields are removed from events until eligibility is restored"}
	}
	active := func(kind KeyKind) bool {
		return slices.ContainsFunc(keys, func(k Key) bool { return k.Kind == kind && k.Status == KeyActive })
	}
	keyed := []struct {
		t              Treatment
		kind           KeyKind
		reason, what   string
		missing, until string
	}{
		{TreatmentEncrypt, KeyEncryption, DegradedNoActiveKey, "encrypt", "no active encryption key pair", "a new key pair is active"},
		{TreatmentHMAC, KeyHMAC, DegradedHMACKeyRevoked, "hmac", "no active HMAC key", "a new HMAC key is active"},
	}
	// The listed fields first, of either kind: they are what the owner chose; then the default
	// treatment of fields not reviewed yet (HashingSettings.UnreviewedTreatment).
	for _, c := range keyed {
		if d.Hashing.Uses(c.t) && !active(c.kind) {
			return HashingStatus{HashingDegraded, c.reason,
				c.missing + ": fields with the " + c.what + " treatment are removed from events (fail closed) until " + c.until}
		}
	}
	for _, c := range keyed {
		if d.Hashing.Needs(c.t, true) && !active(c.kind) {
			return HashingStatus{HashingDegraded, c.reason,
				c.missing + ": fields not reviewed yet, whose default treatment is " + c.what + ", are removed from events (fail closed) until " + c.until + " or the default treatment changes"}
		}
	}
	return HashingStatus{State: HashingActive}
}

// KeysDecide reports whether HashingState of d in ws depends on d's keys: hashing is enabled in
// an eligible workspace and a treatment the pipeline applies (HashingSettings.Needs) is keyed.
// A caller that reads keys only for the state may skip them otherwise.
func KeysDecide(d *Destination, ws *Workspace) bool {
	return d.Hashing.Enabled && ws.HIPAAEligible() && (d.Hashing.Needs(TreatmentEncrypt, true) || d.Hashing.Needs(TreatmentHMAC, true))
}
