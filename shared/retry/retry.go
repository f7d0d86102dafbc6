// Package retry holds the backoff and the deadline-aware wait that the pipeline's publisher
// and the store share when they retry within one Lambda invocation. (Deliveries are not retried
// within an invocation: shared/delivery re-schedules them on their queue.)
package retry

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff returns the delay before retry n (n >= 1): base·2^(n-1), capped at limit, with full
// jitter over its upper half so that concurrent retries spread out.
func Backoff(base, limit time.Duration, n int) time.Duration {
	d := base << (n - 1)
	if d > limit || d <= 0 {
		d = limit
	}
	return d/2 + rand.N(d/2+1)
}

// DeadlineMargin is the time kept free before an invocation's deadline, to respond in time.
const DeadlineMargin = 2 * time.Second

// Sleep waits d and reports true, or reports false at once when ctx ends first or when waiting
// would leave less than DeadlineMargin before ctx's deadline.
func Sleep(ctx context.Context, d time.Duration) bool {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl)-d < DeadlineMargin {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
