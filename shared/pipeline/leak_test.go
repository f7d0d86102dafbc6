package pipeline_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/phiguard/phiguard/shared/fieldcrypt"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/privacy"
)

// The tests in this file pin issue 15, "fields that escape protection", end to end against the
// emulators: each event used to reach a destination with a value in clear.

// bareWorkspace points e at a new HIPAA-eligible workspace with one source and no
// classifications at all, as a workspace is before its owner has reviewed anything.
func (e *env) bareWorkspace() {
	e.t.Helper()
	e.ws = &phi.Workspace{ID: phi.NewID(phi.PrefixWorkspace), Name: "New clinic", Tier: phi.TierBusiness,
		BAA: phi.BAA{Signed: true, SignedAt: e.now, SignedBy: "operator:test"}}
	owner := &phi.Token{ID: phi.NewID(phi.PrefixToken), Name: "owner", Role: phi.RoleOwner}
	var secret [32]byte
	_, _ = rand.Read(secret[:])
	sum := sha256.Sum256(secret[:])
	if err := e.store.CreateWorkspace(e.ctx, e.ws, owner, hex.EncodeToString(sum[:])); err != nil {
		e.t.Fatal(err)
	}
	e.src = e.source("web")
}

// Values of new fields nobody has classified: recommended red (ssn by key, a bare SSN by
// value), yellow (diagnosis by key, an e-mail address by value, mrn by a custom matcher).
const (
	newSSN       = "078-05-1120"
	newDiagnosis = "type 2 diabetes mellitus"
	valueSSN     = "219-09-9999"
	valueEmail   = "pat.ient@example.org"
	newMRN       = "MRN0042"
)

func unreviewedEvents() []string {
	return []string{
		`{"type":"identify","messageId":"m-1","userId":"u-1","traits":{"ssn":"` + newSSN + `","plan":"gold"}}`,
		`{"type":"track","messageId":"m-2","anonymousId":"a-1","event":"Visit Completed","properties":{"diagnosis":"` + newDiagnosis +
			`","ref":"` + valueSSN + `","contact":"` + valueEmail + `","mrn":"` + newMRN + `","clinic":"north","visits":3}}`,
		`{"type":"track","messageId":"m-3","anonymousId":"a-1","event":"Visit Completed","Properties":{"Diagnosis":"` + newDiagnosis + `"}}`,
	}
}

func TestUnreviewedFieldsAreNotSentInClear(t *testing.T) {
	e := newEnv(t)
	e.bareWorkspace()
	mrn := &privacy.Matcher{Name: "medical record number", Classification: privacy.Yellow, Target: privacy.TargetKey,
		Mode: privacy.ModeExact, Synonyms: []string{"mrn"}}
	if err := e.store.PutMatcher(e.ctx, e.ws.ID, mrn); err != nil {
		t.Fatal(err)
	}
	on := func(u phi.Unreviewed, def phi.Treatment) phi.HashingSettings {
		return phi.HashingSettings{Enabled: true, Fields: []phi.FieldTreatment{}, Unreviewed: u, DefaultTreatment: def}
	}
	protect := e.destination(destOpts{enabled: true, hashing: on("", ""), alg: fieldcrypt.HPKEP256})
	explicit := e.destination(destOpts{enabled: true, hashing: on(phi.UnreviewedProtect, ""), alg: fieldcrypt.RSAOAEPSHA256})
	hmacDest := e.destination(destOpts{enabled: true, hashing: on("", phi.TreatmentHMAC), withHMAC: true})
	shaDest := e.destination(destOpts{enabled: true, hashing: on("", phi.TreatmentSHA256)})
	redact := e.destination(destOpts{enabled: true, hashing: on("", phi.TreatmentRedact)})
	noKey := e.destination(destOpts{enabled: true, hashing: on("", "")})
	block := e.destination(destOpts{enabled: true, hashing: on(phi.UnreviewedBlock, ""), alg: fieldcrypt.HPKEP256})
	pass := e.destination(destOpts{enabled: true, hashing: on(phi.UnreviewedPass, ""), alg: fieldcrypt.HPKEP256})
	off := e.destination(destOpts{enabled: true, hashing: phi.HashingSettings{Fields: []phi.FieldTreatment{}}})

	var msgs []msg
	for _, ev := range unreviewedEvents() {
		msgs = append(msgs, e.msg(ev))
	}
	if resp, err := e.handler(nil).Handle(e.ctx, e.sqsEvent(msgs...)); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Handle: %v, failures %v", err, resp.BatchItemFailures)
	}
	copies := map[*dest]map[string]copyDoc{} // e.copies drains the queue: read each once
	for _, d := range []*dest{protect, explicit, hmacDest, shaDest, redact, noKey, block, pass, off} {
		copies[d] = e.copies(d)
	}
	secrets := []string{newSSN, newDiagnosis, valueSSN, valueEmail, newMRN}
	for name, d := range map[string]*dest{"protect (default)": protect, "protect": explicit, "protect with hmac": hmacDest,
		"protect with sha256": shaDest, "protect with redact": redact, "protect without a key": noKey, "block": block} {
		t.Run(name+" sends no unreviewed value in clear", func(t *testing.T) {
			got := copies[d]
			if len(got) != 3 {
				t.Fatalf("received %d copies, want 3", len(got))
			}
			for id, c := range got {
				for _, s := range secrets {
					if strings.Contains(c.raw, s) {
						t.Errorf("%s: %q sent in clear: %s", id, s, c.raw)
					}
				}
				if v, _ := c.at("traits", "plan"); id == "m-1" && v != "gold" {
					t.Errorf("a field no matcher recommends was changed: plan = %v", v)
				}
				if v, _ := c.at("properties", "clinic"); id == "m-2" && v != "north" {
					t.Errorf("a field no matcher recommends was changed: clinic = %v", v)
				}
			}
			if _, ok := got["m-1"].at("traits", "ssn"); ok {
				t.Error("traits.ssn, recommended red, is present")
			}
			_, dropped := got["m-1"].manifest()
			if !slices.Contains(dropped, "traits.ssn unreviewed") {
				t.Errorf("manifest dropped %v lacks traits.ssn unreviewed", dropped)
			}
		})
	}

	t.Run("protect encrypts recommended-yellow fields with the destination's key, for the customer to decrypt", func(t *testing.T) {
		for _, d := range []*dest{protect, explicit} {
			c := copies[d]
			for _, path := range [][]string{{"properties", "diagnosis"}, {"properties", "contact"}, {"properties", "mrn"}} {
				v, _ := c["m-2"].at(path...)
				if got := open(t, d, v); got != map[string]string{"diagnosis": newDiagnosis, "contact": valueEmail, "mrn": newMRN}[path[1]] {
					t.Errorf("%s decrypts to %q", path[1], got)
				}
			}
			if v, _ := c["m-3"].at("Properties", "Diagnosis"); open(t, d, v) != newDiagnosis {
				t.Error("a key in another case was not protected")
			}
			if _, ok := c["m-2"].at("properties", "ref"); ok {
				t.Error("a value the SSN value matcher recommends red is present")
			}
			fields, dropped := c["m-2"].manifest()
			for _, want := range []string{"properties.diagnosis encrypt", "properties.contact encrypt", "properties.mrn encrypt"} {
				if !slices.Contains(fields, want) {
					t.Errorf("manifest fields %v lack %s", fields, want)
				}
			}
			if !slices.Contains(dropped, "properties.ref unreviewed") {
				t.Errorf("manifest dropped %v lacks properties.ref unreviewed", dropped)
			}
			m, _ := c["m-2"].doc["_phi"].(map[string]any)
			for _, f := range asList(m["fields"]) {
				if f["unreviewed"] != true {
					t.Errorf("manifest entry %v is not marked unreviewed", f)
				}
			}
		}
	})

	t.Run("the default treatment decides what protect applies", func(t *testing.T) {
		if v, _ := copies[hmacDest]["m-2"].at("properties", "diagnosis"); v != hmacHex(t, hmacDest.hmacData, newDiagnosis) {
			t.Errorf("hmac: diagnosis = %v", v)
		}
		if v, _ := copies[shaDest]["m-2"].at("properties", "diagnosis"); v != sha256Hex(newDiagnosis) {
			t.Errorf("sha256: diagnosis = %v", v)
		}
		for _, d := range []*dest{redact, noKey, block} {
			if _, ok := copies[d]["m-2"].at("properties", "diagnosis"); ok {
				t.Errorf("%s: diagnosis is present", d.d.ID)
			}
		}
	})

	t.Run("only the destination whose default treatment has no key counts its copies degraded", func(t *testing.T) {
		m := e.metrics.String()
		want := `"CopiesDegraded":3,"DestinationId":"` + noKey.d.ID + `","Function":"hashing","Reason":"` + phi.DegradedNoActiveKey + `"`
		if !strings.Contains(m, want) || strings.Count(m, `"Reason":`) != 1 {
			t.Errorf("want %s, and no other destination degraded, in the metrics:\n%s", want, m)
		}
	})

	t.Run("an explicit pass, and hashing off, send them as before", func(t *testing.T) {
		for _, d := range []*dest{pass, off} {
			c := copies[d]
			for _, cp := range c {
				if strings.Contains(cp.raw, `"unreviewed"`) {
					t.Errorf("%s: %s", d.d.ID, cp.raw)
				}
			}
			for _, s := range secrets {
				if !strings.Contains(c["m-1"].raw+c["m-2"].raw, s) {
					t.Errorf("%s: %q was not passed through", d.d.ID, s)
				}
			}
		}
	})
}

func TestAClassifiedFieldIsNoLongerTreatedAsUnreviewed(t *testing.T) {
	e := newEnv(t)
	e.bareWorkspace()
	d := e.destination(destOpts{enabled: true, hashing: phi.HashingSettings{Enabled: true, Fields: []phi.FieldTreatment{}}, alg: fieldcrypt.HPKEP256})
	// The owner reviews the field (case does not matter): it is green, so it passes.
	if err := e.store.PutClassification(e.ctx, e.ws.ID, phi.Classification{Path: "properties.Diagnosis", Class: "green", DecidedBy: "tok_owner"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.handler(nil).Handle(e.ctx, e.sqsEvent(e.msg(unreviewedEvents()[1]))); err != nil {
		t.Fatal(err)
	}
	c := e.copies(d)["m-2"]
	if v, _ := c.at("properties", "diagnosis"); v != newDiagnosis {
		t.Errorf("reviewed green diagnosis = %v, want it as sent", v)
	}
	if strings.Contains(c.raw, valueEmail) || strings.Contains(c.raw, valueSSN) {
		t.Errorf("fields nobody reviewed leaked: %s", c.raw)
	}
}

func TestRedFieldsAreBlockedWhateverTheirCase(t *testing.T) {
	e := newEnv(t) // traits.ssn is classified red
	d := e.destination(destOpts{enabled: true, hashing: full, alg: fieldcrypt.HPKEP256, withHMAC: true})
	ev := `{"type":"identify","messageId":"m-1","userId":"u-1","Traits":{"SSN":"` + ssn + `","Email":"` + email + `"}}`
	if _, err := e.handler(nil).Handle(e.ctx, e.sqsEvent(e.msg(ev))); err != nil {
		t.Fatal(err)
	}
	c := e.copies(d)["m-1"]
	if strings.Contains(c.raw, ssn) || strings.Contains(c.raw, email) {
		t.Fatalf("a key in another case escaped protection: %s", c.raw)
	}
	if v, _ := c.at("Traits", "Email"); open(t, d, v) != email {
		t.Error("Traits.Email is not encrypted as traits.email")
	}
}

func TestIdentityFieldsAreProtectedForJoins(t *testing.T) {
	e := newEnv(t)
	hashing := phi.HashingSettings{Enabled: true, Unreviewed: phi.UnreviewedPass, Fields: []phi.FieldTreatment{
		{Path: "userId"}, // no treatment: hmac, so joins on it keep working
		{Path: "anonymousId", Treatment: phi.TreatmentEncrypt},
		{Path: "groupId", Treatment: phi.TreatmentSHA256},
		{Path: "previousId", Treatment: phi.TreatmentRedact},
	}}
	d := e.destination(destOpts{enabled: true, hashing: hashing, alg: fieldcrypt.HPKEP256, withHMAC: true})
	var msgs []msg
	for _, name := range []string{"identify.json", "group.json", "alias.json"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "segment", name))
		if err != nil {
			t.Fatal(err)
		}
		// The Segment examples share one messageId; make them distinct events.
		msgs = append(msgs, e.msg(strings.Replace(string(b), "022bb90c-bbac-11e4-8dfc-aa07a5b093db", name, 1)))
	}
	if resp, err := e.handler(nil).Handle(e.ctx, e.sqsEvent(msgs...)); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Handle: %v, %v", err, resp.BatchItemFailures)
	}
	got := e.copies(d)
	if len(got) != 3 {
		t.Fatalf("received %d copies, want 3", len(got))
	}
	for _, c := range got {
		for _, s := range []string{"97980cfea0067", "507f191e810c19729de860ea", "0e8c78ea9d97a7b8185e8632", "39239-239239-239239-23923", `"507f191e81"`} {
			if strings.Contains(c.raw, s) {
				t.Errorf("identity value %s sent in clear: %s", s, c.raw)
			}
		}
	}
	if v, _ := got["identify.json"].at("userId"); v != hmacHex(t, d.hmacData, "97980cfea0067") {
		t.Errorf("userId = %v, want its HMAC", v)
	}
	if v, _ := got["group.json"].at("userId"); v != hmacHex(t, d.hmacData, "97980cfea0067") {
		t.Error("the same userId does not pseudonymize the same way in another event")
	}
	if v, _ := got["identify.json"].at("anonymousId"); open(t, d, v) != "507f191e810c19729de860ea" {
		t.Error("anonymousId does not decrypt")
	}
	if v, _ := got["group.json"].at("groupId"); v != sha256Hex("0e8c78ea9d97a7b8185e8632") {
		t.Errorf("groupId = %v", v)
	}
	if _, ok := got["alias.json"].at("previousId"); ok {
		t.Error("previousId was not redacted")
	}
	fields, _ := got["identify.json"].manifest()
	if !slices.Contains(fields, "userId hmac") || !slices.Contains(fields, "anonymousId encrypt") {
		t.Errorf("manifest fields %v", fields)
	}
}

func TestInboxReportsKeysWithSpecialCharactersEscaped(t *testing.T) {
	e := newEnv(t)
	e.destination(destOpts{enabled: true, hashing: full, alg: fieldcrypt.HPKEP256})
	ev := `{"type":"identify","messageId":"m-1","userId":"u-1","traits":{"a.b":"x","tags[0]":"y","a":{"b":"z"}}}`
	if _, err := e.handler(nil).Handle(e.ctx, e.sqsEvent(e.msg(ev))); err != nil {
		t.Fatal(err)
	}
	entries, _, err := e.store.ListInbox(e.ctx, e.ws.ID, phi.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, en := range entries {
		paths = append(paths, en.Path)
	}
	for _, want := range []string{`traits.a\.b`, `traits.tags\[0\]`, "traits.a", "traits.a.b"} {
		if !slices.Contains(paths, want) {
			t.Errorf("inbox lacks %s; has %v", want, paths)
		}
	}
}
