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
	DegradedNoActiveKey    = "no-active-key"          // the encrypt treatment has no active encryption key pair
	DegradedHMACKeyRevoked = "hmac-key-revoked"       // the hmac treatment has no active HMAC key
)

// HashingStatus is a destination's effective hashing state; Reason (one of the Degraded… codes)
// and Message (for people) are set when it is degraded.
type HashingStatus struct {
	State, Reason, Message string
}

// HashingState computes d's effective hashing state in ws from what is stored: the workspace's
// eligibility and keys, d's keys (only looked at when hashing is enabled and the workspace
// eligible). The pipeline removes a field whose treatment has no active key of its kind
// (transform.ReasonKeyUnavailable), so such a destination is degraded, not active.
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
	if d.Hashing.Uses(TreatmentEncrypt) && !active(KeyEncryption) {
		return HashingStatus{HashingDegraded, DegradedNoActiveKey,
			"no active encryption key pair: fields with the encrypt treatment are removed from events (fail closed) until a new key pair is active"}
	}
	if d.Hashing.Uses(TreatmentHMAC) && !active(KeyHMAC) {
		return HashingStatus{HashingDegraded, DegradedHMACKeyRevoked,
			"no active HMAC key: fields with the hmac treatment are removed from events (fail closed) until a new HMAC key is active"}
	}
	return HashingStatus{State: HashingActive}
}
