// Package webhook is the webhook destination type's delivery.Sender: it POSTs each protected
// copy the pipeline published for a webhook destination to the destination's HTTPS URL, one
// attempt at a time (the delivery engine, shared/delivery, retries), signed so the
// receiver can verify where it came from and reject replays, and it decides which URLs a
// webhook may have at all (ValidateURL at configuration time, Policy.Dialer at delivery).
//
// # Wire contract for receivers
//
// Each copy is one POST with the copy (a JSON event with its "_phi" manifest) as the body and:
//
//	Content-Type:      application/json
//	X-PHI-Timestamp:   Unix time in seconds when the request was signed
//	X-PHI-Signature:   hex(HMAC-SHA-256(signing key, timestamp + "." + body))
//	X-PHI-Dedup-Id:    the copy's dedup id (same on every redelivery of the event)
//	X-PHI-Destination: the destination id
//
// A receiver recomputes the signature over the raw body (Verify), compares it in constant
// time, rejects timestamps older than a few minutes, and drops dedup ids it has seen. Any 2xx
// answer acknowledges the copy; 408, 425, 429, 5xx, timeouts and refused connections are
// retried with backoff (after Retry-After, when the answer has one); other answers and
// redirects are permanent: the copy goes to the dead-letter queue at once, with its reason.
// A receiver that does not accept the connection within 2 s, or answer within 5 s, or finish
// within 10 s, has failed the attempt.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Header names of a delivery.
const (
	HeaderTimestamp   = "X-PHI-Timestamp"
	HeaderSignature   = "X-PHI-Signature"
	HeaderDedupID     = "X-PHI-Dedup-Id"
	HeaderDestination = "X-PHI-Destination"
)

// MinSigningKeyLen is the shortest signing key the delivery function accepts.
const MinSigningKeyLen = 32

// DefaultTolerance is how old a timestamp Verify accepts by default.
const DefaultTolerance = 5 * time.Minute

// ErrSignature is matched by every error Verify returns.
var ErrSignature = errors.New("webhook signature invalid")

// Sign returns hex(HMAC-SHA-256(key, timestamp + "." + body)), the X-PHI-Signature value.
func Sign(key []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks a delivery as a receiver should: signature is the hex HMAC of timestamp and
// body under key (compared in constant time), and timestamp is a Unix time no further than
// tolerance (DefaultTolerance when 0) from now. It returns an error wrapping ErrSignature
// saying which check failed.
func Verify(key []byte, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s is not a Unix time", ErrSignature, HeaderTimestamp)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: timestamp outside the %v tolerance (replay?)", ErrSignature, tolerance)
	}
	want := Sign(key, timestamp, body)
	if !hmac.Equal([]byte(want), []byte(signature)) {
		return fmt.Errorf("%w: signature does not match", ErrSignature)
	}
	return nil
}
