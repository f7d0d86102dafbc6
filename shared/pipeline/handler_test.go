package pipeline_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/phiguard/phiguard/shared/fieldcrypt"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/pipeline"
)

// PHI values of the sample events. None may appear in clear in a copy's configured fields,
// in a log line or in a metric.
const (
	email   = "jane.doe@example.com"
	phone   = "+1 415 555 0100"
	name    = "Jane Q. Patient"
	ssn     = "123-45-6789"
	ip      = "203.0.113.9"
	product = "Insulin Pen 100U"
)

func identify(messageID string) string {
	return `{"type":"identify","messageId":"` + messageID + `","userId":"u-1","traits":{"email":"` + email + `","phone":"` + phone +
		`","name":"` + name + `","ssn":"` + ssn + `","plan":"gold"},"context":{"ip":"` + ip + `","locale":"en-US"}}`
}

func track(messageID string) string {
	return `{"type":"track","messageId":"` + messageID + `","anonymousId":"a-1","event":"Order Completed","properties":{"products":[{"name":"` +
		product + `","sku":"s-1"},{"name":"Test Strips","sku":"s-2"}],"total":42.5}}`
}

// full is a destination that uses every treatment: hpke-p256 encryption, hmac, sha256,
// redact, and blocks red fields.
var full = phi.HashingSettings{Enabled: true, BlockRed: true, Fields: []phi.FieldTreatment{
	{Path: "traits.email", Treatment: phi.TreatmentEncrypt},
	{Path: "traits.phone", Treatment: phi.TreatmentSHA256},
	{Path: "traits.name", Treatment: phi.TreatmentHMAC},
	{Path: "context.ip", Treatment: phi.TreatmentRedact},
	{Path: "properties.products[].name", Treatment: phi.TreatmentEncrypt},
}}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func hmacHex(t *testing.T, key []byte, s string) string {
	out, err := fieldcrypt.HMAC(nil, key, []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func open(t *testing.T, d *dest, v any) string {
	t.Helper()
	tok, ok := v.(string)
	if !ok {
		t.Fatalf("encrypted field is %T, want a token string", v)
	}
	pt, err := d.ring.Open(tok)
	if err != nil {
		t.Fatalf("token does not decrypt with the destination's private key: %v", err)
	}
	return string(pt)
}

func failures(resp events.SQSEventResponse) []string {
	var ids []string
	for _, f := range resp.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	slices.Sort(ids)
	return ids
}

func TestHandlerProtectsFansOutRejectsPoisonAndRetriesTransientFailures(t *testing.T) {
	e := newEnv(t)
	a := e.destination(destOpts{enabled: true, hashing: full, alg: fieldcrypt.HPKEP256, withHMAC: true})
	b := e.destination(destOpts{enabled: true, alg: fieldcrypt.HPKEXWing, hashing: phi.HashingSettings{Enabled: true, Fields: []phi.FieldTreatment{
		{Path: "traits.email", Treatment: phi.TreatmentEncrypt},
		{Path: "properties.products[].name", Treatment: phi.TreatmentHMAC}, // no HMAC key: dropped fail-closed
	}}})
	disabled := e.destination(destOpts{enabled: false, hashing: full, alg: fieldcrypt.HPKEP256})
	other := e.destination(destOpts{src: e.source("mobile"), enabled: true, hashing: full, alg: fieldcrypt.HPKEP256})

	unknownSource := e.msg(identify("m-unknown"))
	unknownSource.src = phi.NewID(phi.PrefixSource)
	ev := e.sqsEvent(
		e.msg(identify("m-1")),
		e.msg(`{"batch":[`+track("m-2")+`,{"type":"bogus","messageId":"m-bad","userId":"u"}]}`),
		e.msg(`not json {"email":"`+email+`"}`),
		unknownSource,
		e.msg(identify("m-5")),
	)
	sns := &flakySNS{real: e.clients.SNS, failDedup: map[string]bool{
		pipeline.DedupID("m-5", a.d.ID): true, pipeline.DedupID("m-5", b.d.ID): true,
	}}
	// One copy per SNS message, so that SNS can fail m-5's copies alone; packs are tested in
	// TestPacksFailAndRetryWholeAndLeaveOutFailedMessages.
	h := e.handlerWith(sns, true)

	resp, err := h.Handle(e.ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := failures(resp), []string{ev.Records[4].MessageId}; !reflect.DeepEqual(got, want) {
		t.Fatalf("batch item failures = %v, want only the message whose copies could not be published %v", got, want)
	}

	ac, bc := e.copies(a), e.copies(b)
	for _, got := range []map[string]copyDoc{ac, bc} {
		if ids := mapsKeys(got); !reflect.DeepEqual(ids, []string{"m-1", "m-2"}) {
			t.Fatalf("destination received events %v, want exactly m-1 and m-2", ids)
		}
	}
	if n := len(e.drain(disabled.queue)) + len(e.drain(other.queue)); n != 0 {
		t.Fatalf("a disabled destination or one of another source received %d copies", n)
	}

	t.Run("copies carry the routing attributes and deterministic dedup ids", func(t *testing.T) {
		for _, d := range []*dest{a, b} {
			for id, c := range map[string]map[string]copyDoc{a.d.ID: ac, b.d.ID: bc}[d.d.ID] {
				want := map[string]string{
					pipeline.AttrWorkspace: e.ws.ID, pipeline.AttrSource: e.src.ID, pipeline.AttrDestination: d.d.ID,
					pipeline.AttrDestinationType: "webhook", pipeline.AttrDedupID: pipeline.DedupID(id, d.d.ID),
				}
				if !reflect.DeepEqual(c.attrs, want) {
					t.Errorf("attributes of %s for %s = %v, want %v", id, d.d.ID, c.attrs, want)
				}
			}
		}
	})

	t.Run("every treatment is applied and encrypted fields decrypt with the private key", func(t *testing.T) {
		c := ac["m-1"]
		if v, _ := c.at("traits", "email"); open(t, a, v) != email {
			t.Error("traits.email does not decrypt to the original value")
		}
		if v, _ := c.at("traits", "phone"); v != sha256Hex("+14155550100") {
			t.Errorf("traits.phone = %v, want the SHA-256 of the E.164 number", v)
		}
		if v, _ := c.at("traits", "name"); v != hmacHex(t, a.hmacData, name) {
			t.Errorf("traits.name = %v, want the HMAC under the destination's key", v)
		}
		if _, ok := c.at("traits", "ssn"); ok {
			t.Error("the red field traits.ssn reached a destination that blocks red fields")
		}
		if _, ok := c.at("context", "ip"); ok {
			t.Error("the redacted context.ip is present")
		}
		if v, _ := c.at("traits", "plan"); v != "gold" {
			t.Errorf("untouched traits.plan = %v, want gold", v)
		}
		fields, dropped := c.manifest()
		wantFields := []string{"context.ip redact", "traits.email encrypt", "traits.name hmac", "traits.phone sha256"}
		if !reflect.DeepEqual(fields, wantFields) || !reflect.DeepEqual(dropped, []string{"traits.ssn blocked"}) {
			t.Errorf("manifest fields %v dropped %v, want %v and [traits.ssn blocked]", fields, dropped, wantFields)
		}
		products, _ := ac["m-2"].at("properties", "products")
		list, _ := products.([]any)
		if len(list) != 2 || open(t, a, list[0].(map[string]any)["name"]) != product {
			t.Errorf("products[].name not encrypted per element: %v", products)
		}
	})

	t.Run("a field without a usable key is dropped, never sent in clear", func(t *testing.T) {
		if v, _ := bc["m-1"].at("traits", "email"); open(t, b, v) != email {
			t.Error("hpke-xwing token does not decrypt")
		}
		products, _ := bc["m-2"].at("properties", "products")
		for _, p := range products.([]any) {
			if _, ok := p.(map[string]any)["name"]; ok {
				t.Error("an hmac field was sent although the destination has no HMAC key")
			}
		}
		if _, dropped := bc["m-2"].manifest(); !reflect.DeepEqual(dropped, []string{"properties.products[].name key-unavailable"}) {
			t.Errorf("manifest dropped = %v", dropped)
		}
	})

	t.Run("no configured value leaves in clear", func(t *testing.T) {
		// a configures every PHI field; b only email and product names.
		for _, c := range []copyDoc{ac["m-1"], ac["m-2"]} {
			for _, v := range []string{email, name, ssn, ip, product, "4155550100", "Test Strips"} {
				if strings.Contains(c.raw, v) {
					t.Errorf("copy for a contains %q in clear", v)
				}
			}
		}
		for _, c := range []copyDoc{bc["m-1"], bc["m-2"]} {
			for _, v := range []string{email, product, "Test Strips"} {
				if strings.Contains(c.raw, v) {
					t.Errorf("copy for b contains %q in clear", v)
				}
			}
		}
	})

	t.Run("poison goes to the rejected queue with a reason and is acknowledged", func(t *testing.T) {
		got := map[string]received{}
		for _, r := range e.drain(e.rejected) {
			got[r.attrs[pipeline.AttrReason]] = r
		}
		if len(got) != 3 {
			t.Fatalf("rejected queue holds reasons %v, want invalid-event, not-json, unknown-source", mapsKeys(got))
		}
		inv := got[pipeline.ReasonInvalidEvent]
		if inv.attrs[pipeline.AttrEventIndex] != "1" || inv.attrs[pipeline.AttrSourceMessageID] != ev.Records[1].MessageId ||
			!strings.Contains(inv.body, `"m-bad"`) || strings.Contains(inv.body, "m-2") {
			t.Errorf("the invalid event of the batch was not parked on its own: %+v", inv)
		}
		if nj := got[pipeline.ReasonNotJSON]; nj.body != ev.Records[2].Body || nj.attrs[pipeline.AttrWorkspace] != e.ws.ID {
			t.Errorf("not-json message parked as %+v", nj)
		}
		if _, ok := got[pipeline.ReasonUnknownSource]; !ok {
			t.Error("unknown source not rejected")
		}
	})

	t.Run("redelivery publishes the failed message with the same dedup ids", func(t *testing.T) {
		sns.mu.Lock()
		sns.failDedup = nil
		sns.mu.Unlock()
		again := events.SQSEvent{Records: []events.SQSMessage{ev.Records[0], ev.Records[4]}}
		resp, err := h.Handle(e.ctx, again)
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("redelivery failed: %v %v", resp, err)
		}
		re := e.copies(a)
		if ids := mapsKeys(re); !reflect.DeepEqual(ids, []string{"m-1", "m-5"}) {
			t.Fatalf("redelivery produced %v", ids)
		}
		if re["m-1"].attrs[pipeline.AttrDedupID] != ac["m-1"].attrs[pipeline.AttrDedupID] {
			t.Error("the same event got another dedup id on redelivery")
		}
		if v, _ := re["m-5"].at("traits", "email"); open(t, a, v) != email {
			t.Error("the retried copy does not decrypt")
		}
		if len(e.copies(b)) != 2 {
			t.Error("destination b did not receive the redelivered events")
		}
	})
}

func mapsKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestAThrottledPublishIsRetriedWithinTheInvocation(t *testing.T) {
	e := newEnv(t)
	a := e.destination(destOpts{enabled: true, hashing: full, alg: fieldcrypt.HPKEP256, withHMAC: true})
	var bodies []msg
	for i := range 25 { // 25 copies: one pack
		bodies = append(bodies, e.msg(identify("m-"+itoa(i))))
	}
	sns := &flakySNS{real: e.clients.SNS, failCalls: 1}
	resp, err := e.handler(sns).Handle(e.ctx, e.sqsEvent(bodies...))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("resp %v err %v: a throttled first call must be retried, not failed", resp, err)
	}
	if got := len(e.copies(a)); got != 25 {
		t.Fatalf("destination received %d distinct copies, want 25", got)
	}
	if sns.calls != 2 {
		t.Fatalf("SNS saw %d calls; want the throttled call and its retry", sns.calls)
	}
}

func TestKeysThatCannotBeUsedDropTheirFields(t *testing.T) {
	for _, tt := range []struct {
		name        string
		change      func(e *env, d *dest)
		wantDropped []string
		wantPhone   bool   // sha256 needs no key and stays
		degraded    string // phi.HashingState's reason, emitted with CopiesDegraded; "" for none
	}{
		{
			name: "revoked encryption key drops encrypt fields",
			change: func(e *env, d *dest) {
				if err := e.store.RevokeKey(e.ctx, e.ws.ID, d.d.ID, d.encKey.ID, e.now); err != nil {
					e.t.Fatal(err)
				}
			},
			wantDropped: []string{"traits.email key-unavailable", "traits.ssn blocked"},
			wantPhone:   true,
			degraded:    phi.DegradedNoActiveKey,
		},
		{
			name: "revoked HMAC key drops hmac fields",
			change: func(e *env, d *dest) {
				if err := e.store.RevokeKey(e.ctx, e.ws.ID, d.d.ID, d.hmacKey.ID, e.now); err != nil {
					e.t.Fatal(err)
				}
			},
			wantDropped: []string{"traits.name key-unavailable", "traits.ssn blocked"},
			wantPhone:   true,
			degraded:    phi.DegradedHMACKeyRevoked,
		},
		{
			name: "workspace no longer eligible drops encrypt and hmac fields",
			change: func(e *env, d *dest) {
				w, err := e.store.GetWorkspace(e.ctx, e.ws.ID)
				if err != nil {
					e.t.Fatal(err)
				}
				w.Tier = phi.TierTeam
				if err := e.store.UpdateWorkspace(e.ctx, w); err != nil {
					e.t.Fatal(err)
				}
			},
			wantDropped: []string{"traits.email key-unavailable", "traits.name key-unavailable", "traits.ssn blocked"},
			wantPhone:   true,
			degraded:    phi.DegradedNotEligible,
		},
		{
			name: "hashing switched off with fields still listed drops encrypt and hmac fields",
			change: func(e *env, d *dest) {
				cur, err := e.store.GetDestination(e.ctx, e.ws.ID, d.d.ID)
				if err != nil {
					e.t.Fatal(err)
				}
				cur.Hashing.Enabled = false
				if err := e.store.UpdateDestination(e.ctx, cur); err != nil {
					e.t.Fatal(err)
				}
			},
			wantDropped: []string{"traits.email key-unavailable", "traits.name key-unavailable", "traits.ssn blocked"},
			wantPhone:   true,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			d := e.destination(destOpts{enabled: true, hashing: full, alg: fieldcrypt.HPKEP256, withHMAC: true})
			tt.change(e, d)
			resp, err := e.handler(nil).Handle(e.ctx, e.sqsEvent(e.msg(identify("m-1"))))
			if err != nil || len(resp.BatchItemFailures) != 0 {
				t.Fatalf("resp %v err %v", resp, err)
			}
			c := e.copies(d)["m-1"]
			for _, v := range []string{email, name, ssn, ip} {
				if strings.Contains(c.raw, v) {
					t.Errorf("copy contains %q in clear", v)
				}
			}
			if _, dropped := c.manifest(); !reflect.DeepEqual(dropped, tt.wantDropped) {
				t.Errorf("manifest dropped = %v, want %v", dropped, tt.wantDropped)
			}
			if v, _ := c.at("traits", "phone"); (v == sha256Hex("+14155550100")) != tt.wantPhone {
				t.Errorf("traits.phone = %v", v)
			}
			if !strings.Contains(e.metrics.String(), `"FieldsDropped":`) {
				t.Error("no FieldsDropped metric emitted")
			}
			total, perDst := `"CopiesDegraded":0`, ""
			if tt.degraded != "" {
				total, perDst = `"CopiesDegraded":1`, `"CopiesDegraded":1,"DestinationId":"`+d.d.ID+`","Function":"hashing","Reason":"`+tt.degraded+`"`
			}
			if m := e.metrics.String(); !strings.Contains(m, total) || (perDst == "") == strings.Contains(m, `"Reason":`) || !strings.Contains(m, perDst) {
				t.Errorf("want %s and %q in the metrics:\n%s", total, perDst, m)
			}
		})
	}
}

// An event under MaxEventBytes whose protected copy cannot fit an SNS message (thousands of
// short array elements, each becoming a token) can never be published: it is rejected as
// oversize and acknowledged, not retried until it lands in the DLQ, and no destination gets a
// partial set of copies.
func TestAnEventWhoseProtectedCopyExceedsTheSNSLimitIsRejectedNotRetried(t *testing.T) {
	e := newEnv(t)
	d := e.destination(destOpts{enabled: true, alg: fieldcrypt.HPKEP256, hashing: phi.HashingSettings{Enabled: true, Fields: []phi.FieldTreatment{
		{Path: "properties.tags[]", Treatment: phi.TreatmentEncrypt},
	}}})
	plain := e.destination(destOpts{enabled: true}) // would fit: must not receive a copy either
	tags := strings.TrimSuffix(strings.Repeat(`"a",`, 3000), ",")
	big := `{"type":"track","messageId":"m-big","userId":"u","event":"Tagged","properties":{"tags":[` + tags + `]}}`
	if len(big) > pipeline.MaxEventBytes {
		t.Fatalf("test event is %d bytes, over MaxEventBytes", len(big))
	}
	ev := e.sqsEvent(e.msg(big), e.msg(`{"batch":[`+big+`,`+track("m-ok")+`]}`))
	resp, err := e.handler(nil).Handle(e.ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("batch item failures %v: a copy that can never fit SNS must be rejected, not retried", resp.BatchItemFailures)
	}
	rejected := e.drain(e.rejected)
	if len(rejected) != 2 {
		t.Fatalf("rejected queue holds %d messages, want the single event and the batch's big event", len(rejected))
	}
	for _, r := range rejected {
		if r.attrs[pipeline.AttrReason] != pipeline.ReasonOversize || r.body != big {
			t.Errorf("rejected %.60s… with reason %q, want the big event with reason %q", r.body, r.attrs[pipeline.AttrReason], pipeline.ReasonOversize)
		}
	}
	for _, x := range []*dest{d, plain} {
		if ids := mapsKeys(e.copies(x)); !reflect.DeepEqual(ids, []string{"m-ok"}) {
			t.Errorf("destination received %v, want only m-ok", ids)
		}
	}
}

// A field classified red after the destination was configured can lie inside a field the
// destination protects whole. The outer field is then blocked too: its copies keep flowing
// without the red data, instead of failing (for every destination of the source) until the DLQ.
func TestAFieldClassifiedRedInsideAProtectedFieldBlocksTheOuterField(t *testing.T) {
	e := newEnv(t)
	d := e.destination(destOpts{enabled: true, alg: fieldcrypt.HPKEP256, hashing: phi.HashingSettings{Enabled: true, BlockRed: true, Fields: []phi.FieldTreatment{
		{Path: "traits.address", Treatment: phi.TreatmentEncrypt},
		{Path: "traits.email", Treatment: phi.TreatmentEncrypt},
	}}})
	other := e.destination(destOpts{enabled: true})
	if err := e.store.PutClassification(e.ctx, e.ws.ID, phi.Classification{Path: "traits.address.ssn", Class: "red", DecidedBy: "tok_test"}); err != nil {
		t.Fatal(err)
	}
	ev := `{"type":"identify","messageId":"m-1","userId":"u","traits":{"email":"` + email + `","address":{"street":"1 Main St","ssn":"` + ssn + `"}}}`
	resp, err := e.handler(nil).Handle(e.ctx, e.sqsEvent(e.msg(ev)))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("resp %v err %v: the destination's copies must not fail", resp, err)
	}
	c, ok := e.copies(d)["m-1"]
	if !ok {
		t.Fatal("the destination received no copy")
	}
	if _, ok := c.at("traits", "address"); ok || strings.Contains(c.raw, ssn) || strings.Contains(c.raw, "Main St") {
		t.Errorf("the field enclosing a red field reached the destination: %s", c.raw)
	}
	if v, _ := c.at("traits", "email"); open(t, d, v) != email {
		t.Error("traits.email is not encrypted for the destination")
	}
	if _, dropped := c.manifest(); !slices.Contains(dropped, "traits.address blocked") {
		t.Errorf("manifest dropped = %v, want traits.address blocked", dropped)
	}
	if len(e.copies(other)) != 1 {
		t.Error("the other destination of the source did not receive its copy")
	}
}

func TestHashingDisabledWithoutFieldsPassesEventsButStillBlocksRed(t *testing.T) {
	e := newEnv(t)
	d := e.destination(destOpts{enabled: true, hashing: phi.HashingSettings{BlockRed: true}})
	resp, err := e.handler(nil).Handle(e.ctx, e.sqsEvent(e.msg(identify("m-1"))))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("resp %v err %v", resp, err)
	}
	c := e.copies(d)["m-1"]
	if v, _ := c.at("traits", "email"); v != email {
		t.Errorf("with hashing disabled and no fields, traits.email = %v, want it as sent", v)
	}
	if strings.Contains(c.raw, ssn) {
		t.Error("a red field reached a destination that blocks red fields")
	}
}

func TestConfigCacheMakesOneQueryPerWorkspacePerTTLAndNoKMSCallOnTheHotPath(t *testing.T) {
	e := newEnv(t)
	d := e.destination(destOpts{enabled: true, hashing: full, alg: fieldcrypt.HPKEP256, withHMAC: true})
	h := e.handler(nil)
	run := func(id string) {
		t.Helper()
		resp, err := h.Handle(e.ctx, e.sqsEvent(e.msg(identify(id)), e.msg(track(id+"-t"))))
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("resp %v err %v", resp, err)
		}
	}
	type calls struct{ query, decrypt, otherReads int }
	count := func() calls {
		return calls{countOf(e.ddbOps, "DynamoDB.Query"), countOf(e.kmsOps, "KMS.Decrypt"),
			countOf(e.ddbOps, "DynamoDB.GetItem") + countOf(e.ddbOps, "DynamoDB.Scan") + countOf(e.ddbOps, "DynamoDB.BatchGetItem")}
	}

	run("m-1")
	if got := count(); got != (calls{1, 1, 0}) {
		t.Fatalf("cold invocation: %+v, want one Query, one KMS Decrypt (HMAC key on first use), no other reads", got)
	}
	e.ddbOps.Reset()
	e.kmsOps.Reset()
	e.now = e.now.Add(pipeline.DefaultCacheTTL - time.Second)
	run("m-2")
	if got := count(); got != (calls{0, 0, 0}) {
		t.Fatalf("warm invocation within the TTL: %+v, want no DynamoDB read and no KMS call", got)
	}
	e.now = e.now.Add(2 * time.Second)
	run("m-3")
	if got := count(); got != (calls{1, 0, 0}) {
		t.Fatalf("after the TTL: %+v, want one Query and no KMS call (the active HMAC key stays cached)", got)
	}
	if n := len(e.copies(d)); n != 6 {
		t.Fatalf("destination received %d copies, want 6", n)
	}
}

func TestInboxRecordsNewPathsOncePerContainer(t *testing.T) {
	e := newEnv(t)
	e.destination(destOpts{enabled: true, hashing: full, alg: fieldcrypt.HPKEP256})
	h := e.handler(nil)
	if _, err := h.Handle(e.ctx, e.sqsEvent(e.msg(identify("m-1")), e.msg(track("m-2")))); err != nil {
		t.Fatal(err)
	}
	entries, _, err := e.store.ListInbox(e.ctx, e.ws.ID, phi.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, en := range entries {
		paths = append(paths, en.Path)
		if !slices.Equal(en.SourceIDs, []string{e.src.ID}) {
			t.Errorf("%s recorded for sources %v", en.Path, en.SourceIDs)
		}
	}
	for _, want := range []string{"traits.email", "traits.ssn", "context.ip", "properties.products", "properties.products[].name", "properties.total"} {
		if !slices.Contains(paths, want) {
			t.Errorf("inbox lacks %s; has %v", want, paths)
		}
	}
	raw, _ := json.Marshal(entries)
	for _, v := range []string{email, ssn, product} {
		if strings.Contains(string(raw), v) {
			t.Errorf("the inbox holds the value %q", v)
		}
	}
	e.ddbOps.Reset()
	if _, err := h.Handle(e.ctx, e.sqsEvent(e.msg(identify("m-3")))); err != nil {
		t.Fatal(err)
	}
	if n := countOf(e.ddbOps, "DynamoDB.UpdateItem"); n != 0 {
		t.Fatalf("known paths were written again: %d UpdateItem calls", n)
	}
}

func TestNoPHIValueAppearsInLogsOrMetrics(t *testing.T) {
	e := newEnv(t)
	e.destination(destOpts{enabled: true, hashing: full, alg: fieldcrypt.RSAOAEPSHA256, withHMAC: true})
	e.destination(destOpts{enabled: true, hashing: full}) // no keys: drops and their warnings
	big := `{"type":"identify","messageId":"m-big","userId":"u","traits":{"email":"` + email + `","notes":"` + strings.Repeat("x", pipeline.MaxEventBytes) + `"}}`
	tooLongForRSA := `{"type":"identify","messageId":"m-rsa","userId":"u","traits":{"email":"` + email + strings.Repeat("y", 400) + `"}}`
	badType := `{"type":"` + ssn + `","messageId":"` + name + `","userId":"` + email + `"}`
	sns := &flakySNS{real: e.clients.SNS, failCalls: 100, err: errorWithPHI{}}
	ev := e.sqsEvent(
		e.msg(identify("m-1")),
		e.msg(track("m-2")),
		e.msg(big),
		e.msg(tooLongForRSA),
		e.msg(badType),
		e.msg(`{"batch":[`+badType+`,`+identify("m-3")+`]}`),
		e.msg(`{"email":"`+email+`" not json`),
		e.msg(`{"type":"identify","messageId":"m-deep","userId":"u","traits":{"email":"`+email+`","x":`+strings.Repeat("[", 70)+strings.Repeat("]", 70)+`}}`),
	)
	h := e.handler(sns)
	resp, err := h.Handle(e.ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) == 0 {
		t.Fatal("the failing SNS client should have produced batch item failures (and their error logs)")
	}
	logs := e.logs.String() + e.metrics.String()
	if !strings.Contains(logs, "message rejected") || !strings.Contains(logs, "fields dropped fail-closed") || !strings.Contains(logs, `"EventsIn"`) {
		t.Fatalf("the test did not exercise the rejection, drop and metrics paths:\n%s", logs)
	}
	for _, v := range []string{email, "jane.doe", phone, "4155550100", name, ssn, ip, product, "xxxxxxxx", "yyyyyyyy"} {
		if strings.Contains(logs, v) {
			t.Errorf("logs or metrics contain the PHI value %q", v)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("log line is not JSON: %.80s", line)
		}
	}
}

// errorWithPHI is an SDK failure whose text quotes request content, as a badly behaved error
// might; the pipeline must not log it.
type errorWithPHI struct{}

func (errorWithPHI) Error() string { return "request failed for " + email + " / " + ssn }

// A closed workspace's events are rejected with reason workspace-closed — parked on the
// rejected queue, acknowledged, nothing delivered — once its configuration is reloaded.
func TestAClosedWorkspacesEventsAreRejectedAsClosed(t *testing.T) {
	e := newEnv(t)
	a := e.destination(destOpts{enabled: true, hashing: full, alg: fieldcrypt.HPKEP256})
	h := e.handler(nil)
	if resp, err := h.Handle(e.ctx, e.sqsEvent(e.msg(identify("m-open")))); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("open workspace: %v %v", resp, err)
	}
	if got := mapsKeys(e.copies(a)); !reflect.DeepEqual(got, []string{"m-open"}) {
		t.Fatalf("open workspace delivered %v", got)
	}
	if _, err := e.store.CloseWorkspace(e.ctx, e.ws.ID, phi.Closure{At: e.now, By: "operator:test", Reason: "offboarding", PurgeAfter: e.now.Add(phi.ClosureGracePeriod)}); err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(time.Hour) // past the configuration cache's TTL
	ev := e.sqsEvent(e.msg(identify("m-closed")))
	resp, err := h.Handle(e.ctx, ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("closed workspace: %v %v (its messages are acknowledged, not retried)", resp, err)
	}
	if got := e.copies(a); len(got) != 0 {
		t.Errorf("a closed workspace's event was delivered: %v", mapsKeys(got))
	}
	rejected := e.drain(e.rejected)
	if len(rejected) != 1 || rejected[0].attrs[pipeline.AttrReason] != pipeline.ReasonWorkspaceClosed || rejected[0].body != ev.Records[0].Body {
		t.Fatalf("rejected queue holds %+v, want the message with reason %s", rejected, pipeline.ReasonWorkspaceClosed)
	}
}
