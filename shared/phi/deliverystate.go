package phi

import "time"

// Delivery states of a destination (DeliveryStatus.State).
const (
	DeliveryOK       = "ok"       // copies are delivered (or none were dead-lettered recently)
	DeliveryDegraded = "degraded" // copies were dead-lettered because the destination failed them
)

// DeliveryStatus is a destination's delivery state as the delivery function records it: it turns
// degraded when copies are dead-lettered because the destination refused them permanently (an
// AWS destination's AccessDenied or NoSuchBucket, a webhook's 4xx) or failed every attempt, and
// ok again when copies are delivered once no failure has been recorded for a while. It is
// written on those changes only, never per copy.
type DeliveryStatus struct {
	State string `json:"state"`
	// Since is when the destination entered State.
	Since time.Time `json:"since"`
	// While degraded: LastFailureAt is the latest recorded failure (refreshed at most once a
	// minute); Reason is its code (an AWS error code such as "AccessDenied" or "NoSuchBucket",
	// "http-410", "network", …; the dead letters' lastReason), DeadLetterReason why the copies
	// were dead-lettered ("rejected" or "max-attempts"), Status the destination's HTTP status
	// when it answered, and Error the failure's text — the operation, AWS's code and message;
	// never a copy's content.
	LastFailureAt    time.Time `json:"lastFailureAt,omitzero"`
	Reason           string    `json:"reason,omitempty"`
	DeadLetterReason string    `json:"deadLetterReason,omitempty"`
	Status           int       `json:"status,omitempty"`
	Error            string    `json:"error,omitempty"`
}

// DeliveryState is d's delivery status as people see it: the recorded one, or ok since d was
// created when none was recorded.
func (d *Destination) DeliveryState() DeliveryStatus {
	if d.Delivery != nil {
		return *d.Delivery
	}
	return DeliveryStatus{State: DeliveryOK, Since: d.CreatedAt}
}

// Degraded reports whether s says the destination is degraded; a nil s is ok.
func (s *DeliveryStatus) Degraded() bool { return s != nil && s.State == DeliveryDegraded }

// Message says a degraded status for people: what happened to the copies and what to do; ""
// when s is not degraded.
func (s *DeliveryStatus) Message() string {
	if !s.Degraded() {
		return ""
	}
	what := "the destination refused copies permanently (" + s.Reason + ")"
	if s.DeadLetterReason != "rejected" {
		what = "copies failed every attempt (last: " + s.Reason + ")"
	}
	return what + "; they are in the dead-letter queue. Fix the destination (Test destination says what is wrong), then replay its dead letters (on its console page, with phictl dead-letters replay, or through the API); new copies are still attempted, and copies delivered once two minutes pass without a failure restore this state"
}
