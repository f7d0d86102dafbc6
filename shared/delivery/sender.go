// Package delivery is the delivery function's engine: it takes SQS batches of fan-out messages
// (shared/pack), groups their copies by destination, hands each destination's copies to the
// Sender of its type, and settles every copy's Outcome — delivered, retried later, or
// dead-lettered with its reason — so that one failing destination never slows another.
package delivery

import (
	"context"
	"time"

	"github.com/phiguard/phiguard/shared/pack"
	"github.com/phiguard/phiguard/shared/phi"
)

// Outcome is what happened to one copy given to a Sender.
type Outcome struct {
	// Err is nil when the copy was delivered. Its text never holds the copy's content, a URL's
	// credentials or a secret: it may be logged.
	Err error
	// Permanent says that sending the copy again cannot succeed (an HTTP 4xx other than 408 and
	// 429, access denied, a missing bucket): the copy is dead-lettered at once.
	Permanent bool
	// RetryAfter is how long the destination asked to be left alone (Retry-After, throttling);
	// zero leaves the wait to the engine's backoff.
	RetryAfter time.Duration
	// Reason is a short code without content, for logs, metrics and the dead-letter queue's
	// reason attribute: "http-503", "timeout", "connect-refused", "AccessDenied", ….
	Reason string
	// Status is the destination's answer to the attempt, an HTTP status for a webhook; 0 when
	// there was none (a timeout, a refused connection) or the type has no status codes.
	Status int
}

// Sender delivers copies to destinations of one type (webhook, S3, Firehose, EventBridge, SQS).
//
// Send is given the copies of one destination, at most the type's batch limit, and returns one
// Outcome per copy, in the same order. It must not retry for long or sleep: the engine schedules
// retries with backoff, so a slow destination holds only its own copies. It must honour ctx's
// deadline and be safe for concurrent use (the engine sends to several destinations at once).
type Sender interface {
	Send(ctx context.Context, d *phi.Destination, copies []pack.Copy) []Outcome
}

// Batcher is a Sender that can also carry several copies of one destination in one request,
// for destinations that ask for it (a webhook's settings.batchSize). The engine then gives it
// the copies a request at a time, settles every copy of a request with that request's outcome
// — each copy keeps its own attempts, backoff, dead-lettering and dedup id — and counts the
// request, not its copies, towards the destination's circuit breaker.
type Batcher interface {
	// Batch returns the most copies one request to d carries, and the most bytes of them (the
	// sum of pack.Size; a copy larger than that goes alone); copies < 2 means one copy per
	// request, through Send.
	Batch(d *phi.Destination) (copies, bytes int)
	// SendBatch delivers copies, at most Batch's, to d in one request and returns its outcome,
	// which is every one of the copies'. It follows Send's rules on time and concurrency.
	SendBatch(ctx context.Context, d *phi.Destination, copies []pack.Copy) Outcome
}
