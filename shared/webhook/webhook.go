// Package webhook is the webhook destination type's delivery.Sender: it POSTs each protected
// copy the pipeline published for a webhook destination to the destination's HTTPS URL, one
// attempt at a time (the delivery engine, shared/delivery, retries), signed with the
// destination's own secret following the Standard Webhooks specification
// (https://www.standardwebhooks.com) so that its receiver — and only its receiver — can verify
// where it came from and reject replays with any Standard Webhooks library, and it decides
// which URLs a webhook may have at all (ValidateURL at configuration time, Policy.Dialer at
// delivery).
//
// # Wire contract for receivers
//
// Each copy is one POST with the copy (a JSON event with its "_phi" manifest) as the body and:
//
//	Content-Type:       application/json
//	webhook-id:         the copy's dedup id (the same on every redelivery of the event)
//	webhook-timestamp:  Unix time in seconds when the request was signed
//	webhook-signature:  "v1,<base64(HMAC-SHA-256(key, id + "." + timestamp + "." + body))>", one
//	                    per secret, space separated: during a rotation's overlap two of them
//	X-PHI-Workspace:    the workspace id
//	X-PHI-Destination:  the destination id
//
// The key is the base64-decoded part of the destination's "whsec_…" secret, which the service
// returns once, in the response that creates the destination and in each rotation's. A
// receiver recomputes the signature over the raw body, compares it in constant time with each
// v1 signature of the header, rejects timestamps more than five minutes away, and drops
// webhook-ids it has seen (docs/WEBHOOKS.md shows it with the standardwebhooks library). Any
// 2xx answer acknowledges the copy; 408, 425, 429, 5xx, timeouts and refused connections are
// retried with backoff (after Retry-After, when the answer has one); other answers and
// redirects are permanent: the copy goes to the dead-letter queue at once, with its reason.
// A receiver that does not accept the connection within 2 s, or answer within 5 s, or finish
// within 10 s, has failed the attempt.
//
// A destination whose settings.batchSize is above 1 gets, instead, up to that many copies per
// request, with the same headers and X-PHI-Batch (the number of copies): the body is
// {"events":[{"id":<the copy's dedup id>,"event":<the copy>},...]} (BatchBody), webhook-id is
// BatchID (derived from the copies' dedup ids: the same when the same copies are sent again),
// and the signature covers the whole body. The answer settles every copy of the request alike.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names of a delivery: the three of Standard Webhooks, then the service's own.
const (
	HeaderID          = "webhook-id"
	HeaderTimestamp   = "webhook-timestamp"
	HeaderSignature   = "webhook-signature"
	HeaderWorkspace   = "X-PHI-Workspace"
	HeaderDestination = "X-PHI-Destination"
	// HeaderBatch is on batched deliveries only (a destination with settings.batchSize above
	// 1): the number of events of the body, {"events": [...]} (BatchBody).
	HeaderBatch = "X-PHI-Batch"
)

// SecretPrefix starts every signing secret's text form ("whsec_" + base64 of the key).
const SecretPrefix = "whsec_"

// SecretLen is the length of the key of every signing secret the service generates: 32 bytes,
// the most the Standard Webhooks specification recommends (24 to 64).
const SecretLen = 32

// minSecretLen is the shortest key ParseSecret accepts (the specification's least).
const minSecretLen = 24

// signatureVersion prefixes each signature of the webhook-signature header.
const signatureVersion = "v1"

// DefaultTolerance is how far from now a timestamp Verify accepts by default.
const DefaultTolerance = 5 * time.Minute

// ErrSignature is matched by every error Verify returns.
var ErrSignature = errors.New("webhook signature invalid")

// FormatSecret returns the text form of key, SecretPrefix + standard base64, in one buffer of the
// exact size, so that the caller can clear it once it is sent.
func FormatSecret(key []byte) []byte {
	out := make([]byte, len(SecretPrefix)+base64.StdEncoding.EncodedLen(len(key)))
	copy(out, SecretPrefix)
	base64.StdEncoding.Encode(out[len(SecretPrefix):], key)
	return out
}

// ParseSecret returns the key of a secret in text form: SecretPrefix followed by the standard
// base64 of at least 24 bytes. It fails, without quoting the secret, otherwise.
func ParseSecret(secret string) ([]byte, error) {
	rest, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return nil, fmt.Errorf("a webhook signing secret starts with %q", SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil || len(key) < minSecretLen {
		return nil, fmt.Errorf("a webhook signing secret is %q followed by the base64 of at least %d bytes", SecretPrefix, minSecretLen)
	}
	return key, nil
}

// Sign returns base64(HMAC-SHA-256(key, id + "." + timestamp + "." + body)), one signature of
// the webhook-signature header (without its "v1," prefix).
func Sign(key []byte, id, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// SignatureHeader returns the webhook-signature value of a delivery signed with each of keys:
// "v1,<signature>" per key, in order, separated by single spaces.
func SignatureHeader(keys [][]byte, id, timestamp string, body []byte) string {
	sigs := make([]string, len(keys))
	for i, k := range keys {
		sigs[i] = signatureVersion + "," + Sign(k, id, timestamp, body)
	}
	return strings.Join(sigs, " ")
}

// SetHeaders sets the Standard Webhooks headers of a delivery of body with id, signed at now
// with each of keys.
func SetHeaders(h http.Header, keys [][]byte, id string, now time.Time, body []byte) {
	ts := strconv.FormatInt(now.Unix(), 10)
	// Set directly: the specification's names are lower case, and receivers that compare
	// header names exactly (some frameworks do) should see them so.
	h[HeaderID] = []string{id}
	h[HeaderTimestamp] = []string{ts}
	h[HeaderSignature] = []string{SignatureHeader(keys, id, ts, body)}
}

// Verify checks a delivery as a receiver should: its webhook-timestamp is a Unix time no
// further than tolerance (DefaultTolerance when 0) from now, and one of the v1 signatures of its
// webhook-signature is the signature of its webhook-id, timestamp and body under key (compared
// in constant time). It returns an error wrapping ErrSignature saying which check failed.
func Verify(key []byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	id, ts, sigs := header(h, HeaderID), header(h, HeaderTimestamp), header(h, HeaderSignature)
	if id == "" || ts == "" || sigs == "" {
		return fmt.Errorf("%w: missing %s, %s or %s", ErrSignature, HeaderID, HeaderTimestamp, HeaderSignature)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s is not a Unix time", ErrSignature, HeaderTimestamp)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: timestamp outside the %v tolerance (replay?)", ErrSignature, tolerance)
	}
	want := []byte(Sign(key, id, ts, body))
	for s := range strings.FieldsSeq(sigs) {
		v, sig, ok := strings.Cut(s, ",")
		if ok && v == signatureVersion && hmac.Equal(want, []byte(sig)) {
			return nil
		}
	}
	return fmt.Errorf("%w: no signature matches", ErrSignature)
}

// header returns h's value of name however the name was written (http.Header.Get finds only
// canonical keys; SetHeaders writes lower-case ones).
func header(h http.Header, name string) string {
	if v := h.Get(name); v != "" {
		return v
	}
	if vs := h[name]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}
