package soak_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/phiguard/phiguard/scripts/internal/devserver"
	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/delivery"
	"github.com/phiguard/phiguard/shared/eventcorpus"
	"github.com/phiguard/phiguard/shared/faults"
	"github.com/phiguard/phiguard/shared/pack"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/pipeline"
	"github.com/phiguard/phiguard/shared/stack"
	"github.com/phiguard/phiguard/shared/webhook"
)

// The campaign's size and pace. make soak runs 10,000 events; make test the default.
const (
	EnvEvents = "PHI_SOAK_EVENTS" // events to push (default 300, at least 100)
	EnvRate   = "PHI_SOAK_RATE"   // events per second the producer sends (default: events/60, at most 50)
	EnvLog    = "PHI_SOAK_LOG"    // when set, the functions' warnings and errors go to stderr
)

// waves is how many parts the events are pushed in; the owner acts between them.
const waves = 10

// protectedPaths are classified yellow, and every destination protects each of them one way or
// another; redPath is classified red and every destination blocks it.
var protectedPaths = []string{
	"traits.email", "traits.phone", "traits.name", "traits.first_name", "traits.last_name", "traits.address",
	"traits.birthday", "context.ip", "context.traits.email", "context.traits.phone", "properties.products[].name",
	"properties.shipping_address",
}

const redPath = "traits.ssn"

// The campaign's destinations, all webhooks: two healthy ones on the local receiver (whose
// keys are rotated and revoked mid-stream), and three fault servers.
const (
	dWarehouse = iota // receiver; encrypts everything; key pair rotated, then revoked, then replaced
	dAds              // receiver; HMAC, SHA-256 and redaction; signing secret rotated, HMAC key revoked then replaced
	dFlaky            // fault server; each copy fails in one of the ways of shared/faults before it succeeds
	dOutage           // nothing listens for the first part of the campaign (connections refused), then healthy
	dGone             // answers 410 to everything until the end, when its dead letters are replayed
	nDests
)

var destNames = [nDests]string{"warehouse", "ads", "flaky", "outage", "gone"}

// treatmentsOf returns each destination's treatment of each protected path.
func treatmentsOf(d int) map[string]string {
	m := map[string]string{}
	for _, p := range protectedPaths {
		switch d {
		case dWarehouse, dFlaky:
			m[p] = "encrypt"
		case dOutage:
			m[p] = "redact"
		case dAds, dGone:
			switch {
			case strings.HasSuffix(p, "email") && d == dAds:
				m[p] = "hmac"
			case strings.HasSuffix(p, "email"), strings.HasSuffix(p, "phone"), strings.HasSuffix(p, "name") && !strings.Contains(p, "products"):
				m[p] = "sha256"
			default:
				m[p] = "redact"
			}
		}
	}
	return m
}

// hashingOf returns destination d's hashing settings. A destination that encrypts nothing has
// no key pair, so fields not reviewed yet are redacted rather than encrypted by default: with
// the default (encrypt) its hashing would read degraded (phi.HashingState).
func hashingOf(d int) map[string]any {
	var fields []any
	encrypts := false
	for _, p := range protectedPaths {
		fields = append(fields, map[string]string{"path": p, "treatment": treatmentsOf(d)[p]})
		encrypts = encrypts || treatmentsOf(d)[p] == "encrypt"
	}
	h := map[string]any{"enabled": true, "blockRed": true, "fields": fields}
	if !encrypts {
		h["defaultTreatment"] = "redact"
	}
	return h
}

// TestSoakCampaign pushes events through the local stack under every fault and accounts for
// every protected copy. It fails unless, for every destination, nothing is lost and no protected
// value is found in clear.
func TestSoakCampaign(t *testing.T) {
	awstest.Clients(t)
	n := envInt(t, EnvEvents, 300, 100)
	rate := envInt(t, EnvRate, min(50, max(1, n/60)), 1)
	c := newCampaign(t, n, float64(rate))
	start := time.Now()
	c.push()
	pushed := time.Since(start)
	c.settle("the events")
	c.replayGone()
	c.settle("the replayed dead letters")
	c.drain()
	ok := c.report(time.Since(start), pushed)
	if !ok {
		t.Fail()
	}
}

func envInt(t *testing.T, name string, def, least int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < least {
		t.Fatalf("%s=%q: want a whole number of at least %d", name, v, least)
	}
	return n
}

// campaign is one run's world and ledger.
type campaign struct {
	t      *testing.T
	ctx    context.Context
	s      *devserver.Server
	inj    *faults.AWS
	api    *client
	rate   float64
	rng    *rand.Rand
	events [][]byte
	ids    []string           // messageId of each event
	secret []eventSecrets     // what must never be in clear, per event
	copyOf map[string]copyRef // dedup id → event and destination

	ws, src string
	dst     [nDests]string // destination ids
	servers [nDests]*faults.Server
	outage  netip.AddrPort
	flaky   *flakyDest
	gone    atomic.Bool // the gone destination accepts deliveries

	mu         sync.Mutex
	delivered  map[string]int // dedup id → deliveries answered 2xx (verified, for the receiver)
	clear      [nDests]int    // requests with a protected value in clear
	clearWhere map[string]int // "destination path" → count, never the value
	unverified int            // receiver deliveries whose signature did not verify
	resent     []int          // times each event was sent again

	sentMessages, sentMalformed int
	wantRejected                map[string]int // reason → messages or events the pipeline must reject
	checks                      []string       // owner actions and what the API showed after them
	failures                    []string

	dead       map[string]string // dedup id → dead-letter reason, at the end
	deadBy     [nDests]map[string]int
	deadBefore [nDests]map[string]int // dead-lettered copies by reason before the replay (the API's count)
	dropped    [nDests]map[string]int // delivered copies by the reasons their manifest gives for removed fields
	rejected   map[string]int
	ingestDLQ  int
	subDLQ     int
	inDLQClear int
}

type copyRef struct{ event, dest int }

// eventSecrets is what an event holds that no copy may carry in clear: distinctive values
// searched anywhere in a request (lower case), and the JSON of the value at each protected path,
// compared where the copy has that path.
type eventSecrets struct {
	anywhere []string
	at       map[string][]string
}

func newCampaign(t *testing.T, n int, rate float64) *campaign {
	ctx := context.Background()
	c := &campaign{
		t: t, ctx: ctx, rate: rate, rng: rand.New(rand.NewPCG(20261202, 7)),
		copyOf: map[string]copyRef{}, delivered: map[string]int{}, clearWhere: map[string]int{},
		wantRejected: map[string]int{}, dead: map[string]string{}, rejected: map[string]int{},
		flaky: &flakyDest{attempts: map[string]int{}, seen: map[string]int{}},
	}
	for d := range c.deadBy {
		c.deadBy[d], c.deadBefore[d], c.dropped[d] = map[string]int{}, map[string]int{}, map[string]int{}
	}
	c.events = eventcorpus.Events(n)
	c.resent = make([]int, n)
	for _, ev := range c.events {
		c.ids = append(c.ids, messageID(t, ev))
		c.secret = append(c.secret, secretsOf(t, ev))
	}

	// The fault servers, and the address of the one that is down at first.
	c.flaky.event = func(id string) int {
		if ref, ok := c.copyOf[id]; ok {
			return ref.event
		}
		return -1
	}
	c.servers[dFlaky] = faults.New(t, c.flaky.behavior())
	c.servers[dGone] = faults.New(t, func(n int, w http.ResponseWriter, r *http.Request, done <-chan struct{}) {
		if c.gone.Load() {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.WriteHeader(http.StatusGone)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.outage = netip.MustParseAddrPort(ln.Addr().String())
	ln.Close()

	// Errors and throttling in the pipeline's own AWS calls: some attempts at random (the SDK
	// retries them; a few exhaust its retries) and short outages in which every attempt fails.
	c.inj = faults.NewAWS(20261202,
		faults.AWSFault{Service: "DynamoDB", Code: "ProvisionedThroughputExceededException", Status: 400, Rate: 0.05, Every: 29 * time.Second, For: 3 * time.Second},
		faults.AWSFault{Service: "DynamoDB", Code: "InternalServerError", Status: 500, Rate: 0.02},
		faults.AWSFault{Service: "SNS", Code: "Throttling", Status: 400, Rate: 0.05, Every: 23 * time.Second, For: 3 * time.Second},
		faults.AWSFault{Service: "SNS", Code: "InternalError", Status: 500, Rate: 0.03},
		faults.AWSFault{Service: "KMS", Code: "ThrottlingException", Status: 400, Rate: 0.3},
		faults.AWSFault{Service: "KMS", Code: "KMSInternalException", Status: 500, Every: 31 * time.Second, For: 3 * time.Second},
	)
	var logger *slog.Logger
	if os.Getenv(EnvLog) != "" {
		logger = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	s, err := devserver.Start(ctx, devserver.Config{
		APIAddr: "127.0.0.1:0", ReceiverAddr: "127.0.0.1:0", Prefix: awstest.UniqueName("soak"), Logger: logger,
		ReceiverLimit:       100, // the ledger is kept here, from OnDelivery
		ExtraWebhookTargets: []netip.AddrPort{c.servers[dFlaky].Addr, c.servers[dGone].Addr, c.outage},
		PipelineAWS:         c.inj.Attach,
		OnDelivery:          c.received,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c.s = s
	c.setUp()
	return c
}

// setUp creates, through the API, a HIPAA-eligible workspace with the classifications, a
// source and the five destinations with their keys and hashing settings.
func (c *campaign) setUp() {
	sample, err := c.s.CreateSampleWorkspace(c.ctx)
	if err != nil {
		c.t.Fatal(err)
	}
	c.ws = sample.ID
	c.api = &client{t: c.t, base: c.s.APIURL + "/workspaces/" + c.ws, token: sample.OwnerToken}
	c.classify("yellow")
	m, _ := c.api.do("POST", "/sources", "", map[string]any{"name": "soak storefront"}, 201)
	c.src = m["id"].(string)
	for d := range nDests {
		url := c.s.HookURL(destNames[d])
		switch d {
		case dFlaky, dGone:
			url = c.servers[d].URL + "/hook"
		case dOutage:
			url = "http://" + c.outage.String() + "/hook"
		}
		m, _ := c.api.do("POST", "/destinations", "", map[string]any{
			"sourceId": c.src, "name": destNames[d], "type": "webhook", "settings": map[string]any{"url": url}}, 201)
		c.dst[d] = m["id"].(string)
		uses := map[string]bool{}
		for _, tr := range treatmentsOf(d) {
			uses[tr] = true
		}
		if uses["encrypt"] {
			c.newKeyPair(d)
		}
		if uses["hmac"] {
			c.newHMACKey(d)
		}
		_, hdr := c.api.do("GET", c.path(d), "", nil, 200)
		c.api.do("PUT", c.path(d)+"/hashing", hdr.Get("ETag"), hashingOf(d), 200)
	}
	for i, id := range c.ids {
		for d := range nDests {
			c.copyOf[pipeline.DedupID(id, c.dst[d])] = copyRef{event: i, dest: d}
		}
	}
}

func (c *campaign) path(d int) string { return "/destinations/" + c.dst[d] }

// classify classifies every protected path yellow and traits.ssn red, with traits.birthday
// classified birthday ("yellow" or "red").
func (c *campaign) classify(birthday string) {
	var items []map[string]string
	for _, p := range protectedPaths {
		cl := "yellow"
		if p == "traits.birthday" {
			cl = birthday
		}
		items = append(items, map[string]string{"path": p, "classification": cl})
	}
	items = append(items, map[string]string{"path": redPath, "classification": "red"})
	c.api.do("PUT", "/privacy/classifications", "", map[string]any{"classifications": items}, 200)
}

func (c *campaign) newKeyPair(d int) {
	k, _ := c.api.do("POST", c.path(d)+"/keys", "", map[string]any{"algorithm": "hpke-p256"}, 201)
	c.api.do("POST", c.path(d)+"/keys/"+k["id"].(string)+"/activate", "", nil, 200)
}

func (c *campaign) newHMACKey(d int) {
	k, _ := c.api.do("POST", c.path(d)+"/hmac-keys", "", nil, 201)
	c.api.do("POST", c.path(d)+"/keys/"+k["id"].(string)+"/activate", "", nil, 200)
}

// revokeKeys revokes every key of destination d of kind ("encryption" or "hmac") that is not
// revoked already.
func (c *campaign) revokeKeys(d int, kind string) {
	m, _ := c.api.do("GET", c.path(d)+"/keys?limit=100", "", nil, 200)
	for _, it := range m["items"].([]any) {
		k := it.(map[string]any)
		if k["kind"] == kind && k["status"] != "revoked" && k["status"] != "pending" {
			c.api.do("POST", c.path(d)+"/keys/"+k["id"].(string)+"/revoke", "", nil, 200)
		}
	}
}

// expectState checks that the API shows destination d's hashing state as want (and reason).
func (c *campaign) expectState(d int, want, reason string) {
	m, _ := c.api.do("GET", c.path(d), "", nil, 200)
	got := fmt.Sprintf("%v/%v", m["hashingState"], m["hashingStateReason"])
	exp := want + "/" + reason
	if reason == "" {
		exp = want + "/<nil>"
	}
	line := fmt.Sprintf("%s: hashing state %s", destNames[d], got)
	if got != exp {
		c.failures = append(c.failures, fmt.Sprintf("%s, want %s", line, exp))
	}
	c.checks = append(c.checks, line)
}

// act is what the owner does before wave w.
func (c *campaign) act(w int) {
	switch w {
	case 2:
		c.newKeyPair(dWarehouse) // rotation: the previous key pair becomes decrypt-only
		c.checks = append(c.checks, "warehouse: key pair rotated")
		c.expectState(dWarehouse, "active", "")
	case 3:
		c.api.do("POST", c.path(dAds)+"/signing-secret/rotate", "", map[string]any{"overlapSeconds": 120}, 200)
		c.checks = append(c.checks, "ads: signing secret rotated with a 120 s overlap")
	case 4:
		c.classify("red") // birthday now blocked as red everywhere
		c.checks = append(c.checks, "traits.birthday reclassified red")
	case 5:
		c.revokeKeys(dWarehouse, "encryption")
		c.expectState(dWarehouse, "degraded", "no-active-key")
		c.revokeKeys(dAds, "hmac")
		c.expectState(dAds, "degraded", "hmac-key-revoked")
	case 7:
		c.newKeyPair(dWarehouse)
		c.expectState(dWarehouse, "active", "")
		c.newHMACKey(dAds)
		c.expectState(dAds, "active", "")
		c.classify("yellow")
		c.checks = append(c.checks, "traits.birthday reclassified yellow")
	}
}

// push sends the events in waves at the campaign's rate, with the owner's actions between
// waves, malformed messages in every wave, re-sends of earlier events in some, and the
// destination that was down coming up after the first third.
func (c *campaign) push() {
	per := (len(c.events) + waves - 1) / waves
	p := &pacer{rate: c.rate, start: time.Now()}
	for w := range waves {
		if w == waves/3 {
			s, err := faults.NewAt(c.t, c.outage, faults.Status(http.StatusNoContent))
			if err != nil {
				c.t.Fatal(err)
			}
			c.mu.Lock()
			c.servers[dOutage] = s
			c.mu.Unlock()
			c.checks = append(c.checks, fmt.Sprintf("outage: refused connections for %.0f s, then came up", time.Since(p.start).Seconds()))
		}
		c.act(w)
		lo, hi := min(w*per, len(c.events)), min((w+1)*per, len(c.events))
		idx := make([]int, 0, hi-lo)
		for i := lo; i < hi; i++ {
			idx = append(idx, i)
		}
		if w%3 == 0 && w > 0 {
			for range lo / 20 { // re-send 5% of the events sent so far
				i := c.rng.IntN(lo)
				c.resent[i]++
				idx = append(idx, i)
			}
		}
		c.rng.Shuffle(len(idx), func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
		c.send(p, c.wave(w, idx))
	}
}

// entry is one ingest message.
type entry struct {
	body   string
	attrs  map[string]string
	events int
}

// wave returns the messages of wave w: the events idx, one per message except every seventh
// message, a batch of three (one batch holding an invalid event), and one malformed message of
// each kind.
func (c *campaign) wave(w int, idx []int) []entry {
	attrs := map[string]string{stack.AttrWorkspace: c.ws, stack.AttrSource: c.src}
	var out []entry
	badBatch := false
	for k := 0; k < len(idx); {
		if len(out)%7 == 6 && k+3 <= len(idx) {
			group := [][]byte{c.events[idx[k]], c.events[idx[k+1]], c.events[idx[k+2]]}
			if !badBatch {
				group = append(group, []byte(`{"type":42,"messageId":"soak-invalid-`+strconv.Itoa(w)+`"}`))
				badBatch = true
			}
			out = append(out, entry{body: `{"batch":[` + string(bytes.Join(group, []byte(","))) + `]}`, attrs: attrs, events: 3})
			k += 3
			continue
		}
		out = append(out, entry{body: string(c.events[idx[k]]), attrs: attrs, events: 1})
		k++
	}
	if !badBatch { // a wave too small for a batch still gets its invalid event
		out = append(out, entry{body: `{"batch":[{"type":42,"messageId":"soak-invalid-` + strconv.Itoa(w) + `"}]}`, attrs: attrs})
	}
	c.wantRejected[pipeline.ReasonInvalidEvent]++
	extra := fmt.Sprintf(`{"type":"track","event":"Soak","messageId":"soak-malformed-%d","anonymousId":"a"}`, w)
	unknown := phi.NewID(phi.PrefixSource)
	big := fmt.Sprintf(`{"type":"track","event":"Big","messageId":"soak-big-%d","anonymousId":"a","properties":{"blob":%q}}`, w, strings.Repeat("x", pipeline.MaxEventBytes))
	for reason, e := range map[string]entry{
		pipeline.ReasonNotJSON:          {body: "soak: this is not JSON {", attrs: attrs},
		pipeline.ReasonMissingAttribute: {body: extra, attrs: map[string]string{stack.AttrWorkspace: c.ws}},
		pipeline.ReasonUnknownSource:    {body: extra, attrs: map[string]string{stack.AttrWorkspace: c.ws, stack.AttrSource: unknown}},
		pipeline.ReasonOversize:         {body: big, attrs: attrs},
	} {
		c.wantRejected[reason]++
		c.sentMalformed++
		out = append(out, e)
	}
	c.rng.Shuffle(len(out), func(a, b int) { out[a], out[b] = out[b], out[a] })
	return out
}

// pacer spaces the producer's sends to a rate of events per second.
type pacer struct {
	rate  float64
	start time.Time
	sent  int
}

func (p *pacer) wait(events int) {
	p.sent += events
	if d := time.Until(p.start.Add(time.Duration(float64(p.sent) / p.rate * float64(time.Second)))); d > 0 {
		time.Sleep(d)
	}
}

// send puts entries on the ingest queue, ten per SendMessageBatch, at the pacer's rate.
func (c *campaign) send(p *pacer, entries []entry) {
	for i := 0; i < len(entries); i += 10 {
		var batch []sqstypes.SendMessageBatchRequestEntry
		events := 0
		for k, e := range entries[i:min(i+10, len(entries))] {
			attrs := map[string]sqstypes.MessageAttributeValue{}
			for name, v := range e.attrs {
				attrs[name] = sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
			}
			batch = append(batch, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(k)), MessageBody: aws.String(e.body), MessageAttributes: attrs})
			events += max(1, e.events)
		}
		p.wait(events)
		out, err := c.s.Clients.SQS.SendMessageBatch(c.ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(c.s.Resources.IngestQueueURL), Entries: batch})
		if err == nil && len(out.Failed) > 0 {
			err = fmt.Errorf("%d entries failed: %s", len(out.Failed), aws.ToString(out.Failed[0].Message))
		}
		if err != nil {
			c.t.Fatalf("push: %v", err)
		}
		c.sentMessages += len(batch)
	}
}

// received records a delivery to the local receiver.
func (c *campaign) received(d devserver.Delivery) {
	id := d.Headers[http.CanonicalHeaderKey(webhook.HeaderID)]
	h := http.Header{}
	for k, v := range d.Headers {
		h.Set(k, v)
	}
	c.record(id, h, d.Body, d.Verified != nil && *d.Verified)
}

// record checks one request for protected values in clear and, when it was accepted, counts the
// delivery of its copy.
func (c *campaign) record(id string, h http.Header, body []byte, accepted bool) {
	ref, known := c.copyOf[id]
	var where []string
	if known {
		where = c.inClear(ref, h, body)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !known {
		c.failures = append(c.failures, fmt.Sprintf("a request with an unknown webhook-id %.16q", id))
		return
	}
	if len(where) > 0 {
		c.clear[ref.dest]++
		for _, p := range where {
			c.clearWhere[destNames[ref.dest]+" "+p]++
		}
	}
	if accepted {
		if c.delivered[id] == 0 {
			for _, r := range droppedReasons(body) {
				c.dropped[ref.dest][r]++
			}
		}
		c.delivered[id]++
	} else if ref.dest <= dAds {
		c.unverified++
	}
}

// inClear returns where request (h, body), a copy of event ref.event, holds a protected value
// of that event in clear: the path, or "anywhere" for a distinctive value found in the headers
// or the body outside its path. Never the value.
func (c *campaign) inClear(ref copyRef, h http.Header, body []byte) []string {
	sec := c.secret[ref.event]
	var raw bytes.Buffer
	for k, vs := range h {
		raw.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
	}
	raw.Write(body)
	lower := bytes.ToLower(raw.Bytes())
	var where []string
	for _, v := range sec.anywhere {
		if bytes.Contains(lower, []byte(v)) {
			where = append(where, "anywhere")
			break
		}
	}
	var copy any
	if json.Unmarshal(body, &copy) != nil {
		return where
	}
	for p, orig := range sec.at {
		for _, v := range valuesAt(copy, p) {
			b, _ := json.Marshal(v)
			if slices.Contains(orig, string(b)) {
				where = append(where, p)
				break
			}
		}
	}
	return where
}

// droppedReasons returns the distinct reasons the copy's manifest (docs/ENCRYPTION.md, "_phi")
// gives for the fields it removed.
func droppedReasons(body []byte) []string {
	var m struct {
		PHI struct {
			Dropped []struct {
				Reason string `json:"reason"`
			} `json:"dropped"`
		} `json:"_phi"`
	}
	_ = json.Unmarshal(body, &m)
	var out []string
	for _, d := range m.PHI.Dropped {
		if !slices.Contains(out, d.Reason) {
			out = append(out, d.Reason)
		}
	}
	return out
}

// secretsOf returns what event ev must never show in clear.
func secretsOf(t *testing.T, ev []byte) eventSecrets {
	var m any
	if err := json.Unmarshal(ev, &m); err != nil {
		t.Fatal(err)
	}
	s := eventSecrets{at: map[string][]string{}}
	for _, p := range append(slices.Clone(protectedPaths), redPath) {
		for _, v := range valuesAt(m, p) {
			b, _ := json.Marshal(v)
			s.at[p] = append(s.at[p], string(b))
			// Distinctive strings (e-mail addresses, phone numbers, names, streets, SSNs):
			// searched anywhere, in lower case.
			switch v := v.(type) {
			case string:
				if len(strings.TrimSpace(v)) >= 8 {
					s.anywhere = append(s.anywhere, strings.ToLower(strings.TrimSpace(v)))
				}
			case map[string]any:
				if st, ok := v["street"].(string); ok {
					s.anywhere = append(s.anywhere, strings.ToLower(st))
				}
			}
		}
	}
	return s
}

// valuesAt returns the values at path in v ("a.b", "a.b[].c": every element of the array a.b).
func valuesAt(v any, path string) []any {
	cur := []any{v}
	for _, seg := range strings.Split(path, ".") {
		key, array := strings.CutSuffix(seg, "[]")
		var next []any
		for _, x := range cur {
			m, ok := x.(map[string]any)
			if !ok {
				continue
			}
			y, ok := m[key]
			if !ok {
				continue
			}
			if a, ok := y.([]any); ok && array {
				next = append(next, a...)
			} else if !array {
				next = append(next, y)
			}
		}
		cur = next
	}
	return cur
}

func messageID(t *testing.T, ev []byte) string {
	var m struct {
		MessageID string `json:"messageId"`
	}
	if err := json.Unmarshal(ev, &m); err != nil || m.MessageID == "" {
		t.Fatalf("corpus event without a messageId: %v", err)
	}
	return m.MessageID
}

// settle waits until the ingest and delivery queues are empty (nothing visible, in flight or
// delayed) and the pollers idle, three checks in a row, or fails after a deadline that grows
// with the campaign's size.
func (c *campaign) settle(what string) {
	deadline := time.Now().Add(10*time.Minute + time.Duration(len(c.events))*20*time.Millisecond)
	quiet := 0
	for quiet < 3 {
		if time.Now().After(deadline) {
			c.failures = append(c.failures, "the queues did not settle after "+what+" before the deadline")
			return
		}
		time.Sleep(2 * time.Second)
		if c.queueEmpty(c.s.Resources.IngestQueueURL) && c.queueEmpty(c.s.Resources.DestinationQueueURL) &&
			c.s.Ingest.Stats().InFlight == 0 && c.s.Delivery.Stats().InFlight == 0 {
			quiet++
		} else {
			quiet = 0
		}
	}
}

func (c *campaign) queueEmpty(url string) bool {
	out, err := c.s.Clients.SQS.GetQueueAttributes(c.ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible, sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed}})
	if err != nil {
		c.t.Logf("queue attributes: %v", err)
		return false
	}
	for _, v := range out.Attributes {
		if v != "0" {
			return false
		}
	}
	return true
}

// replayGone lets the gone destination accept deliveries and replays its dead letters through
// the API, as its owner would once it is fixed.
func (c *campaign) replayGone() {
	for d := range nDests {
		m, _ := c.api.do("GET", c.path(d)+"/dead-letters", "", nil, 200)
		for r, n := range m["byReason"].(map[string]any) {
			c.deadBefore[d][r] += int(n.(float64))
		}
	}
	c.gone.Store(true)
	moved := 0
	for range 20 {
		m, _ := c.api.do("POST", c.path(dGone)+"/dead-letters/replay", "", nil, 200)
		n := int(m["copies"].(float64))
		moved += n
		if n == 0 && m["complete"] == true {
			break
		}
	}
	c.checks = append(c.checks, fmt.Sprintf("gone: fixed, and %d dead-lettered copies replayed through the API", moved))
}

// drain reads what is left in the dead-letter and rejected-events queues, and the fault
// servers' requests, into the ledger.
func (c *campaign) drain() {
	for _, m := range c.receiveAll(c.s.Resources.DeliveryDLQURL) {
		reason := attr(m, stack.AttrReason)
		if reason == "" {
			reason = delivery.ReasonReceiveLimit
		}
		cs, err := pack.FromMessage([]byte(aws.ToString(m.Body)), attr(m, stack.AttrFormat), attr(m, stack.AttrDedupID))
		if err != nil {
			c.failures = append(c.failures, "a dead letter that is not a fan-out message: "+reason)
			continue
		}
		for _, cp := range cs {
			ref, ok := c.copyOf[cp.DedupID]
			if !ok {
				c.failures = append(c.failures, "a dead letter of an unknown copy")
				continue
			}
			c.dead[cp.DedupID] = reason
			c.deadBy[ref.dest][reason]++
			if len(c.inClear(ref, nil, cp.Event)) > 0 {
				c.inDLQClear++
			}
		}
	}
	for _, m := range c.receiveAll(c.s.Resources.RejectedQueueURL) {
		c.rejected[attr(m, pipeline.AttrReason)]++
	}
	c.ingestDLQ = len(c.receiveAll(c.s.Resources.IngestDLQURL))
	c.subDLQ = len(c.receiveAll(c.s.Resources.SubscriptionDLQURL))
	for _, s := range c.servers {
		if s == nil {
			continue
		}
		for _, r := range s.Requests() {
			c.record(r.Header.Get(webhook.HeaderID), r.Header, r.Body, r.Status >= 200 && r.Status < 300)
		}
	}
}

// receiveAll receives and deletes every message of a queue.
func (c *campaign) receiveAll(url string) []sqstypes.Message {
	var all []sqstypes.Message
	for empty := 0; empty < 2; {
		out, err := c.s.Clients.SQS.ReceiveMessage(c.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url),
			MaxNumberOfMessages: 10, MessageAttributeNames: []string{"All"}, VisibilityTimeout: 300})
		if err != nil {
			c.t.Fatalf("drain %s: %v", url, err)
		}
		if len(out.Messages) == 0 {
			empty++
			continue
		}
		for _, m := range out.Messages {
			all = append(all, m)
			if _, err := c.s.Clients.SQS.DeleteMessage(c.ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				c.t.Fatalf("drain %s: %v", url, err)
			}
		}
	}
	return all
}

func attr(m sqstypes.Message, name string) string {
	if v, ok := m.MessageAttributes[name]; ok {
		return aws.ToString(v.StringValue)
	}
	return ""
}

// report prints the accounting lines and returns whether the campaign passed.
func (c *campaign) report(took, pushed time.Duration) bool {
	ok := true
	fail := func(format string, args ...any) {
		ok = false
		fmt.Printf("soak FAIL: "+format+"\n", args...)
	}
	n := len(c.events)
	resends := 0
	for _, r := range c.resent {
		resends += r
	}
	fmt.Printf("soak: %d events (%d re-sent) and %d malformed messages in %d ingest messages, pushed in %.0f s at %.0f events/s; %d destinations; finished in %.0f s\n",
		n, resends, c.sentMalformed, c.sentMessages, pushed.Seconds(), c.rate, nDests, took.Seconds())
	for _, line := range c.checks {
		fmt.Printf("soak owner: %s\n", line)
	}
	for d := range nDests {
		delivered, dead, lost, dups, both := 0, 0, 0, 0, 0
		for i, id := range c.ids {
			cid := pipeline.DedupID(id, c.dst[d])
			got := c.delivered[cid]
			_, dl := c.dead[cid]
			switch {
			case got > 0 && dl:
				both++
				delivered++
			case got > 0:
				delivered++
			case dl:
				dead++
			default:
				lost++
			}
			if extra := got - 1 - c.resent[i]; extra > 0 {
				dups += extra
			}
		}
		fmt.Printf("soak destination %s: %d expected, %d delivered, %d rejected at ingest %s, %d dead-lettered %s (before the replay %s), %d lost, %d duplicated beyond re-sends, %d requests with protected values in clear\n",
			destNames[d], n, delivered, c.rejected[pipeline.ReasonInvalidEvent], reasons(map[string]int{pipeline.ReasonInvalidEvent: c.rejected[pipeline.ReasonInvalidEvent]}),
			dead, reasons(c.deadBy[d]), reasons(c.deadBefore[d]), lost, dups, c.clear[d])
		fmt.Printf("soak destination %s: delivered copies with fields removed, by reason: %s\n", destNames[d], reasons(c.dropped[d]))
		if both > 0 {
			fmt.Printf("soak destination %s: %d copies both delivered and dead-lettered (a fault server that answered 200 to a request the sender gave up on)\n", destNames[d], both)
		}
		if lost > 0 {
			fail("%s lost %d copies", destNames[d], lost)
		}
		if c.clear[d] > 0 {
			fail("%s received %d requests with protected values in clear", destNames[d], c.clear[d])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(c.clearWhere)) {
		fmt.Printf("soak in clear: %s: %d\n", k, c.clearWhere[k])
	}
	if c.inDLQClear > 0 {
		fail("%d dead-lettered copies hold protected values in clear", c.inDLQClear)
	}
	fmt.Printf("soak ingest: rejected %s (want %s); %d messages in the ingest dead-letter queue, %d in the subscription dead-letter queue\n",
		reasons(c.rejected), reasons(c.wantRejected), c.ingestDLQ, c.subDLQ)
	if !maps.Equal(c.rejected, c.wantRejected) {
		fail("the rejected-events queue holds %s, want %s", reasons(c.rejected), reasons(c.wantRejected))
	}
	if c.ingestDLQ > 0 || c.subDLQ > 0 {
		fail("messages in the ingest (%d) or subscription (%d) dead-letter queue", c.ingestDLQ, c.subDLQ)
	}
	if c.unverified > 0 {
		fail("%d deliveries to the receiver did not verify under the destination's signing secrets", c.unverified)
	}
	in, de := c.s.Ingest.Stats(), c.s.Delivery.Stats()
	fmt.Printf("soak functions: hashing %d invocations, %d of %d messages failed and were received again; delivery %d invocations, %d of %d messages failed and were received again\n",
		in.Invocations, in.Failed, in.Received, de.Invocations, de.Failed, de.Received)
	injected := c.inj.Injected()
	fmt.Printf("soak AWS faults injected (attempts failed, by operation and error): %s\n", reasons(injected))
	for _, svc := range []string{"DynamoDB", "SNS", "KMS"} {
		if !slices.ContainsFunc(slices.Collect(maps.Keys(injected)), func(k string) bool { return strings.HasPrefix(k, svc+".") }) {
			fail("no %s fault was injected", svc)
		}
	}
	seen := c.flaky.counts()
	fmt.Printf("soak flaky destination answers: %s\n", reasons(seen))
	for _, kind := range flakyKinds {
		if seen[kind] == 0 {
			fail("the flaky destination never answered %s", kind)
		}
	}
	for _, f := range c.failures {
		fail("%s", f)
	}
	lost := "0"
	if !ok {
		lost = "see above"
	}
	fmt.Printf("soak: %s — lost and in clear: %s\n", map[bool]string{true: "PASS", false: "FAIL"}[ok], lost)
	return ok
}

func reasons(m map[string]int) string {
	if len(m) == 0 {
		return "{}"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// flakyDest fails each copy in one of the ways of shared/faults, chosen by its webhook-id,
// before it succeeds: most copies on the first attempt, some after one or more failures.
type flakyDest struct {
	event    func(dedupID string) int // the event index of a copy, -1 when unknown
	mu       sync.Mutex
	attempts map[string]int
	seen     map[string]int
}

// flakyKinds are the answers the flaky destination gives; each must occur.
var flakyKinds = []string{"204", "500", "429 Retry-After 1", "503 Retry-After 2", "hang", "slow body"}

var flakyBehaviors = map[string]faults.Behavior{
	"204":               faults.Status(http.StatusNoContent),
	"500":               faults.Status(http.StatusInternalServerError),
	"429 Retry-After 1": faults.RetryAfter(http.StatusTooManyRequests, time.Second),
	"503 Retry-After 2": faults.RetryAfter(http.StatusServiceUnavailable, 2*time.Second),
	"hang":              faults.Hang(),
	"slow body":         faults.SlowBody(12, time.Second), // the sender decides on the status and stops reading at its 10 s timeout
}

// script returns the failures the copy of event i meets before it is accepted. It follows the
// event's place in the corpus, so every failure occurs in any run of at least 125 events: 47 is
// prime to 125, so any 125 events in a row meet every v once, and it scatters the failing events
// (never two in a row), as a destination's real failures would be. Failures in a row would
// open the destination's circuit again and again, and each short-circuit counts an attempt and
// doubles the copies' backoff, past the campaign's deadline.
func script(i int) []string {
	switch v := (i%125*47%125 + 125) % 125; {
	case v == 0:
		return []string{"hang"}
	case v == 1:
		return []string{"slow body"}
	case v < 12:
		return []string{"500"}
	case v < 18:
		return []string{"429 Retry-After 1"}
	case v < 23:
		return []string{"503 Retry-After 2"}
	case v < 28:
		return []string{"500", "500"}
	case v < 30:
		return []string{"500", "429 Retry-After 1", "503 Retry-After 2"}
	default:
		return nil
	}
}

func (f *flakyDest) behavior() faults.Behavior {
	return func(n int, w http.ResponseWriter, r *http.Request, done <-chan struct{}) {
		id := r.Header.Get(webhook.HeaderID)
		f.mu.Lock()
		a := f.attempts[id]
		f.attempts[id]++
		kind := "204"
		if s := script(f.event(id)); a < len(s) {
			kind = s[a]
		}
		f.seen[kind]++
		f.mu.Unlock()
		flakyBehaviors[kind](n, w, r, done)
	}
}

func (f *flakyDest) counts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.seen)
}

// client calls the workspace's API as its owner.
type client struct {
	t           *testing.T
	base, token string
}

func (a *client) do(method, path, ifMatch string, body any, want int) (map[string]any, http.Header) {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, a.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	if resp.StatusCode != want {
		a.t.Fatalf("%s %s: %d %v, want %d", method, path, resp.StatusCode, m, want)
	}
	return m, resp.Header
}
