package delivery

import (
	"context"
	"time"

	"github.com/phiguard/phiguard/shared/phi"
)

// Timing of the delivery status (phi.DeliveryStatus) a destination's copies record: while
// copies keep failing, a degraded destination's LastFailureAt is refreshed at most every
// FailureRefresh; copies delivered RestoreAfter after its last recorded failure restore it. Each
// container writes on those changes only, so a destination costs a few writes a minute at
// most, however many copies it is sent; RestoreAfter is longer than FailureRefresh and the
// destination cache together, so a destination that keeps failing some copies is not restored
// by another container that happens to deliver others.
const (
	FailureRefresh = time.Minute
	RestoreAfter   = 2 * time.Minute
)

// failureText bounds the failure text kept in a status.
const failureText = 300

// track records what one invocation's attempts say of destination d: degraded when copies were
// dead-lettered because it refused them or failed every attempt, ok again when copies were
// delivered and no failure has been recorded for RestoreAfter. A failed write is logged and
// left to the next invocation: the status is for people, the copies are settled either way.
func (e *Engine) track(ctx context.Context, g *group, d *phi.Destination, delivered int, out []settled) {
	var failure *settled
	for i := range out {
		if out[i].dead && (out[i].reason == ReasonRejected || out[i].reason == ReasonMaxAttempts) {
			failure = &out[i]
		}
	}
	key := g.ws + "/" + g.dst
	cur := e.knownStatus(key, d)
	now := e.cfg.Now().UTC()
	var next phi.DeliveryStatus
	var unchangedSince time.Time
	switch {
	case failure != nil:
		if cur.Degraded() && cur.Reason == failure.lastReason && now.Sub(cur.LastFailureAt) < FailureRefresh {
			return
		}
		next = phi.DeliveryStatus{State: phi.DeliveryDegraded, Since: now, LastFailureAt: now, Reason: failure.lastReason,
			DeadLetterReason: failure.reason, Status: failure.status, Error: phi.Clip(failure.failure, failureText)}
		if cur.Degraded() {
			next.Since = cur.Since
		}
	case delivered > 0 && cur.Degraded() && now.Sub(cur.LastFailureAt) >= RestoreAfter:
		next, unchangedSince = phi.DeliveryStatus{State: phi.DeliveryOK, Since: now}, cur.LastFailureAt
	default:
		return
	}
	err := e.cfg.Store.SetDeliveryStatus(ctx, g.ws, g.dst, next, unchangedSince)
	switch {
	case err == nil:
		e.mu.Lock()
		e.recorded[key] = next
		e.mu.Unlock()
		if !cur.Degraded() {
			e.log.Warn("destination delivery degraded", "workspace", g.ws, "destination", g.dst, "reason", next.Reason, "dead_letter_reason", next.DeadLetterReason)
		} else if !next.Degraded() {
			e.log.Info("destination delivery restored", "workspace", g.ws, "destination", g.dst, "degraded_since", cur.Since)
		}
	case phi.ErrorCode(err) == phi.EPRECONDITION:
		// Another container recorded a failure since this one read the status: reload it.
		e.mu.Lock()
		delete(e.dests, key)
		delete(e.recorded, key)
		e.mu.Unlock()
	default:
		e.log.Warn("destination delivery status not recorded", "workspace", g.ws, "destination", g.dst, "state", next.State, "error_code", phi.ErrorCode(err))
	}
}

// knownStatus is the newer of d's status as cached and the one this container last recorded.
func (e *Engine) knownStatus(key string, d *phi.Destination) *phi.DeliveryStatus {
	e.mu.Lock()
	rec, ok := e.recorded[key]
	e.mu.Unlock()
	if !ok || d.Delivery != nil && !changedAt(*d.Delivery).Before(changedAt(rec)) {
		return d.Delivery
	}
	return &rec
}

// changedAt is when s was last written.
func changedAt(s phi.DeliveryStatus) time.Time {
	if s.LastFailureAt.After(s.Since) {
		return s.LastFailureAt
	}
	return s.Since
}
