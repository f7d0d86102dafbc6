package devserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// DefaultReceiverLimit is how many deliveries the receiver keeps, across all hooks, unless told
// otherwise (Receiver.Limit, Config.ReceiverLimit, `make dev ARGS='-receiver-limit N'`), so a
// long `make dev` session cannot grow without limit.
const DefaultReceiverLimit = 1000

// maxWebhookBody is the largest delivery the receiver accepts.
const maxWebhookBody = 1 << 20

// Delivery is one event a webhook destination received: a request's body, or one event of a
// batched request's (BatchHeader), each recorded as a delivery of its own.
type Delivery struct {
	Hook        string    `json:"hook"`                  // the name in /hooks/{name}
	Destination string    `json:"destination,omitempty"` // the destination id the sender named, if any
	ReceivedAt  time.Time `json:"receivedAt"`
	// ID is the event's webhook id: the request's webhook-id header, or, in a batch, the
	// event's own "id" (the request's webhook-id is then Batch).
	ID    string `json:"id,omitempty"`
	Batch string `json:"batch,omitempty"`
	// Request numbers the requests the receiver accepted, from 1: the events of one batch share it.
	Request int64 `json:"request"`
	// Headers are the request's.
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
	// Verified reports whether the signature checked out; nil when no verifier is set.
	Verified    *bool  `json:"verified,omitempty"`
	VerifyError string `json:"verifyError,omitempty"`
}

// Receiver is the local webhook receiver: it accepts POST /hooks/{name} (any name — one per
// destination, chosen when the destination is configured), answers 200 and records what
// arrived; GET /received?destination=X returns, as JSON, what the hook named X — or the
// destination whose id is X — received ({"items": [...], "dropped": n, "limit": l}: n of its
// deliveries were dropped, oldest first, to stay within the limit). Nothing is logged: the bodies are what a destination
// would see, and only the person running the local service reads them.
type Receiver struct {
	// DestinationHeader is the request header naming the sending destination's id; empty
	// records none.
	DestinationHeader string
	// IDHeader names the request header of a delivery's id (webhook-id); BatchHeader the one
	// that marks a batched delivery, {"events": [{"id": …, "event": …}, …]}, whose events the
	// receiver records one by one once the request is verified. Empty: every request is one
	// delivery.
	IDHeader, BatchHeader string
	// Verify, when set, checks a delivery's signature; its result is recorded on the delivery.
	// A delivery that fails verification is answered with 401, as a careful receiver would.
	Verify func(h http.Header, body []byte) error
	// OnDelivery, when set, is called with every delivery as it is recorded (the benchmarks
	// count and time deliveries with it, beyond the Limit the receiver keeps).
	OnDelivery func(Delivery)
	// Limit is how many deliveries the receiver keeps, across all hooks; beyond it the oldest
	// are dropped, and counted. DefaultReceiverLimit when 0 or less.
	Limit int

	mu       sync.Mutex
	requests int64
	got      []Delivery
	dropped  map[string]int // by hook name and by destination id; "" counts every drop
}

func (rc *Receiver) limit() int {
	if rc.Limit <= 0 {
		return DefaultReceiverLimit
	}
	return rc.Limit
}

// ServeHTTP implements http.Handler.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/received" && r.Method == http.MethodGet:
		rc.list(w, r)
	case strings.HasPrefix(r.URL.Path, "/hooks/") && r.Method == http.MethodPost:
		rc.receive(w, r)
	default:
		http.Error(w, "POST /hooks/{name} to deliver, GET /received?destination={name or destination id} to read", http.StatusNotFound)
	}
}

func (rc *Receiver) receive(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/hooks/")
	if name == "" || strings.Contains(name, "/") {
		http.Error(w, "use /hooks/{name}", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhookBody+1))
	if err != nil || len(body) > maxWebhookBody {
		http.Error(w, "body unreadable or larger than 1 MiB", http.StatusRequestEntityTooLarge)
		return
	}
	d := Delivery{Hook: name, ReceivedAt: time.Now().UTC(), Headers: map[string]string{}}
	if rc.DestinationHeader != "" {
		d.Destination = r.Header.Get(rc.DestinationHeader)
	}
	for k := range r.Header {
		d.Headers[k] = r.Header.Get(k)
	}
	if json.Valid(body) {
		d.Body = body
	} else {
		d.Body, _ = json.Marshal(string(body))
	}
	if rc.IDHeader != "" {
		d.ID = r.Header.Get(rc.IDHeader)
	}
	status := http.StatusOK
	if rc.Verify != nil {
		ok := true
		if err := rc.Verify(r.Header, body); err != nil {
			ok, d.VerifyError, status = false, err.Error(), http.StatusUnauthorized
		}
		d.Verified = &ok
	}
	got := []Delivery{d}
	if status == http.StatusOK && rc.BatchHeader != "" && r.Header.Get(rc.BatchHeader) != "" {
		events, err := splitBatch(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got = got[:0]
		for _, ev := range events {
			e := d
			e.ID, e.Batch, e.Body = ev.ID, d.ID, ev.Event
			got = append(got, e)
		}
	}
	rc.mu.Lock()
	rc.requests++
	for i := range got {
		got[i].Request = rc.requests
	}
	rc.got = append(rc.got, got...)
	if n := len(rc.got) - rc.limit(); n > 0 {
		if rc.dropped == nil {
			rc.dropped = map[string]int{}
		}
		for _, old := range rc.got[:n] {
			rc.dropped[""]++
			rc.dropped[old.Hook]++
			if old.Destination != "" && old.Destination != old.Hook {
				rc.dropped[old.Destination]++
			}
		}
		rc.got = append([]Delivery(nil), rc.got[n:]...)
	}
	rc.mu.Unlock()
	if rc.OnDelivery != nil {
		for _, d := range got {
			rc.OnDelivery(d)
		}
	}
	w.WriteHeader(status)
}

// batchEvent is one event of a batched delivery's body (webhook.BatchBody).
type batchEvent struct {
	ID    string          `json:"id"`
	Event json.RawMessage `json:"event"`
}

// splitBatch returns the events of a batched delivery's body, or an error saying why it is not one.
func splitBatch(body []byte) ([]batchEvent, error) {
	var b struct {
		Events []batchEvent `json:"events"`
	}
	if err := json.Unmarshal(body, &b); err != nil || len(b.Events) == 0 {
		return nil, fmt.Errorf("a batched delivery's body is {\"events\": [{\"id\": …, \"event\": {…}}, …]}")
	}
	for _, e := range b.Events {
		if e.ID == "" || len(e.Event) == 0 || e.Event[0] != '{' {
			return nil, fmt.Errorf("every event of a batched delivery has an id and an event object")
		}
	}
	return b.Events, nil
}

func (rc *Receiver) list(w http.ResponseWriter, r *http.Request) {
	want := r.URL.Query().Get("destination")
	out := rc.Received(want)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{"items": out, "dropped": rc.Dropped(want), "limit": rc.limit()})
}

// Dropped returns how many deliveries of the hook named dest, or of the destination with id
// dest, the receiver dropped to stay within its limit; an empty dest counts every drop.
func (rc *Receiver) Dropped(dest string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.dropped[dest]
}

// Received returns what the hook named dest, or the destination with id dest, received, oldest
// first; an empty dest returns everything.
func (rc *Receiver) Received(dest string) []Delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := []Delivery{}
	for _, d := range rc.got {
		if dest == "" || d.Hook == dest || d.Destination == dest {
			out = append(out, d)
		}
	}
	return out
}

// selfSigned returns a TLS certificate for the loopback addresses, valid for a day, and a pool
// that trusts it. The receiver stands in for a customer's https endpoint — the only kind the
// production policy admits — so it serves TLS under its own throwaway certificate, and the
// delivery function trusts that certificate alone.
func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("generate receiver key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("generate serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "phiguard local webhook receiver"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("create receiver certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("parse receiver certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}
