package delivery

import (
	"sync"
	"time"
)

// Breaker settings: after BreakerFailures consecutive retryable failures a destination's
// circuit opens for BreakerOpen; the engine then re-schedules its copies without calling it.
// When the time is up the circuit is half-open: one copy is sent as a probe, and its success
// closes the circuit, its failure opens it again.
const (
	DefaultBreakerFailures = 5
	DefaultBreakerOpen     = 30 * time.Second
)

// breaker is a circuit breaker per destination, kept per container (a Lambda execution
// environment): each container learns on its own that a destination is down, at the cost of
// BreakerFailures failed attempts.
type breaker struct {
	failures int
	open     time.Duration
	now      func() time.Time

	mu    sync.Mutex
	state map[string]*circuit
}

type circuit struct {
	failures  int
	openUntil time.Time // zero while closed
	probing   bool      // half-open and a probe is out
}

func newBreaker(failures int, open time.Duration, now func() time.Time) *breaker {
	return &breaker{failures: failures, open: open, now: now, state: map[string]*circuit{}}
}

// allow says whether copies may be sent to the destination key now. When they may not, wait is
// how long the circuit stays open; when probe is true the circuit is half-open and exactly one
// copy may be sent, whose outcome decides.
func (b *breaker) allow(key string) (ok, probe bool, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.state[key]
	if c == nil || c.openUntil.IsZero() {
		return true, false, 0
	}
	now := b.now()
	if now.Before(c.openUntil) {
		return false, false, c.openUntil.Sub(now)
	}
	if c.probing {
		return false, false, b.open
	}
	c.probing = true
	return true, true, 0
}

// record counts one attempt's outcome: a success closes the circuit, a retryable failure
// counts towards opening it (and re-opens a half-open one). It reports whether the circuit is
// open after it.
func (b *breaker) record(key string, failed bool) (open bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.state[key]
	if !failed {
		delete(b.state, key)
		return false
	}
	if c == nil {
		c = &circuit{}
		b.state[key] = c
	}
	c.failures++
	if c.probing || c.failures >= b.failures {
		c.openUntil, c.probing = b.now().Add(b.open), false
	}
	return !c.openUntil.IsZero()
}

// openFor returns how long the destination's circuit stays open; 0 when it is closed or
// half-open.
func (b *breaker) openFor(key string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c := b.state[key]; c != nil && !c.openUntil.IsZero() {
		return max(c.openUntil.Sub(b.now()), 0)
	}
	return 0
}
