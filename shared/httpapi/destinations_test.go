package httpapi

import (
	"context"
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/transform"
	"github.com/phiguard/phiguard/shared/webhook"
)

// problemField returns the field of the first problem an EINVALID response lists.
func problemField(t *testing.T, res response) string {
	t.Helper()
	var e struct {
		Error struct {
			Details []phi.Problem `json:"details"`
		} `json:"error"`
	}
	res.json(t, &e)
	if len(e.Error.Details) == 0 {
		t.Fatalf("no problems listed: %s", res.Body)
	}
	return e.Error.Details[0].Field
}

func destinationBody(src, url string) string {
	return `{"sourceId":"` + src + `","name":"crm","type":"webhook","settings":{"url":"` + url + `"}}`
}

// A destination's webhook URL is checked when the destination is created or updated: https, a
// host that resolves, and only public addresses (issue 5 §8).
func TestWebhookURLsAreCheckedWhenADestinationIsSaved(t *testing.T) {
	a := newAPI(t)
	ws := a.newWorkspace(t, "business", true)
	dsts := "/workspaces/" + ws.ID + "/destinations"
	cases := []struct {
		name string
		url  string
		want int
		says string
	}{
		{"a public host is accepted", "https://crm.example/hook", 201, ""},
		{"a public IP literal is accepted", "https://93.184.215.14/hook", 201, ""},
		{"a host that does not resolve is refused", "https://crm.invalid/hook", 422, "does not resolve"},
		{"a host with a private address among its addresses is refused", "https://intranet.example/hook", 422, "private"},
		{"a host resolving to the metadata address is refused", "https://metadata.example/latest", 422, "link-local"},
		{"the metadata address itself is refused", "https://169.254.169.254/latest/meta-data", 422, "link-local"},
		{"a private IP literal is refused", "https://10.0.0.8/hook", 422, "private"},
		{"an IPv4-mapped private address is refused", "https://[::ffff:192.168.1.1]/hook", 422, "private"},
		{"loopback is refused without the local-development allowance", "https://127.0.0.1:8443/hook", 422, "loopback"},
		{"a host resolving to loopback is refused", "https://home.example/hook", 422, "loopback"},
		{"localhost is refused", "https://localhost:8443/hook", 422, "localhost"},
		{"plain http is refused", "http://crm.example/hook", 422, "https"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := a.must(t, c.want, "POST", dsts, ws.Member, destinationBody(ws.Source, c.url))
			if c.want != 422 {
				return
			}
			if f := problemField(t, res); f != "settings.url" {
				t.Errorf("problem names %q, want settings.url: %s", f, res.Body)
			}
			if !strings.Contains(res.Body, c.says) {
				t.Errorf("message does not say %q: %s", c.says, res.Body)
			}
		})
	}

	t.Run("an update to an unsafe URL is refused and changes nothing", func(t *testing.T) {
		dst := dsts + "/" + ws.Destination
		var before DestinationView
		a.must(t, 200, "GET", dst, ws.Member, "").json(t, &before)
		res := a.must(t, 422, "PUT", dst, ws.Member, destinationBody(ws.Source, "https://intranet.example/hook"), "If-Match", ETag(before.Version))
		if problemField(t, res) != "settings.url" {
			t.Errorf("body = %s", res.Body)
		}
		var after DestinationView
		a.must(t, 200, "GET", dst, ws.Member, "").json(t, &after)
		if after.Settings.URL != before.Settings.URL || after.Version != before.Version {
			t.Errorf("refused update changed the destination: %+v", after)
		}
		a.must(t, 200, "PUT", dst, ws.Member, destinationBody(ws.Source, "https://crm.example/v2"), "If-Match", ETag(before.Version))
	})

	t.Run("local development admits its listed targets and nothing else", func(t *testing.T) {
		local := newAPIWithPolicy(t, a.store, a.store, webhook.Policy{
			LocalTargets: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:8443"), netip.MustParseAddrPort("127.0.0.1:9")},
			Resolver:     testResolver{"intranet.example": {netip.MustParseAddr("10.20.30.40")}},
		})
		for _, url := range []string{"https://127.0.0.1:8443/hook", "http://127.0.0.1:8443/hook", "http://127.0.0.1:9/h"} {
			local.must(t, 201, "POST", dsts, ws.Member, destinationBody(ws.Source, url))
		}
		for _, url := range []string{"https://localhost:8443/hook", "https://127.0.0.1:3100/", "https://[::1]/", "https://[::1]:8443/hook",
			"https://[::ffff:127.0.0.1]/", "https://[::ffff:127.0.0.1]:8443/hook", "https://foo.localhost/", "http://127.0.0.1:8080/hook",
			"https://10.0.0.8/hook", "https://intranet.example/hook", "https://169.254.169.254/"} {
			res := local.must(t, 422, "POST", dsts, ws.Member, destinationBody(ws.Source, url))
			if f := problemField(t, res); f != "settings.url" {
				t.Errorf("%s: problem names %q, want settings.url", url, f)
			}
		}
	})
}

// A webhook destination opts into batched deliveries with settings.batchSize: 1 to 100 is kept
// and returned; 0, above 100, a batch size on another type are 422 naming settings.batchSize,
// and a batch size that is not a number is 400 naming it.
func TestTheWebhookBatchSizeIsCheckedWhenADestinationIsSaved(t *testing.T) {
	a := newAPI(t)
	ws := a.newWorkspace(t, "business", true)
	dsts := "/workspaces/" + ws.ID + "/destinations"
	body := func(settings string) string {
		return `{"sourceId":"` + ws.Source + `","name":"crm","type":"webhook","settings":{"url":"https://crm.example/hook"` + settings + `}}`
	}
	var d DestinationView
	a.must(t, 201, "POST", dsts, ws.Member, body(`,"batchSize":10`)).json(t, &d)
	if d.Settings.BatchSize == nil || *d.Settings.BatchSize != 10 {
		t.Errorf("created with batchSize 10, answered %+v", d.Settings)
	}
	a.must(t, 200, "GET", dsts+"/"+d.ID, ws.Member, "").json(t, &d)
	if d.Settings.BatchSize == nil || *d.Settings.BatchSize != 10 {
		t.Errorf("read back %+v, want batchSize 10", d.Settings)
	}
	a.must(t, 201, "POST", dsts, ws.Member, body(`,"batchSize":100`))
	a.must(t, 201, "POST", dsts, ws.Member, body(`,"batchSize":1.0`))
	for _, c := range []struct{ name, body string }{
		{"none", body(`,"batchSize":0`)},
		{"negative", body(`,"batchSize":-3`)},
		{"above the most", body(`,"batchSize":101`)},
		{"on a queue", `{"sourceId":"` + ws.Source + `","name":"q","type":"sqs","settings":{"roleArn":"arn:aws:iam::123456789012:role/phiguard-delivery/q","queueArn":"arn:aws:sqs:us-east-1:123456789012:q","batchSize":5}}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if f := problemField(t, a.must(t, 422, "POST", dsts, ws.Member, c.body)); f != "settings.batchSize" {
				t.Errorf("problem names %q, want settings.batchSize", f)
			}
		})
	}
	for _, v := range []string{`"10"`, `2.5`, `true`} {
		res := a.must(t, 400, "POST", dsts, ws.Member, body(`,"batchSize":`+v))
		if _, _, det := decodeErr(t, []byte(res.Body)); det["field"] != "settings.batchSize" {
			t.Errorf("batchSize %s: 400 names %v: %s", v, det["field"], res.Body)
		}
	}
}

// Hashing settings that the pipeline could not compile into a protection plan are refused when
// saved, whether hashing is enabled or not (the pipeline applies the listed fields either way),
// so a saved configuration can never make a destination's copies fail.
func TestHashingSettingsThatWouldNotCompileAreRefused(t *testing.T) {
	a := newAPI(t)
	ws := a.newWorkspace(t, "business", true)
	classify(t, a, ws, "traits.address", "yellow", "traits.address.city", "yellow", "traits.address.ssn", "red",
		"traits.tags", "yellow", "traits.email", "yellow")
	dst := "/workspaces/" + ws.ID + "/destinations/" + ws.Destination
	put := func(t *testing.T, want int, body string) response {
		t.Helper()
		var cur DestinationView
		a.must(t, 200, "GET", dst, ws.Owner, "").json(t, &cur)
		return a.must(t, want, "PUT", dst+"/hashing", ws.Owner, body, "If-Match", ETag(cur.Version))
	}
	put(t, 200, `{"enabled":true,"fields":[{"path":"traits.email","treatment":"sha256"}],"blockRed":true}`)

	cases := []struct {
		name string
		body string
		says []string
	}{
		{"a field redacted inside a field hashed as a whole, hashing disabled",
			`{"enabled":false,"fields":[{"path":"traits.address","treatment":"sha256"},{"path":"traits.address.city","treatment":"redact"}]}`,
			[]string{`traits.address.city`, "inside"}},
		{"a field redacted inside a field hashed as a whole, hashing enabled",
			`{"enabled":true,"fields":[{"path":"traits.address","treatment":"sha256"},{"path":"traits.address.city","treatment":"redact"}]}`,
			[]string{`traits.address.city`, "inside"}},
		{"one field listed with and without [] under different treatments",
			`{"enabled":false,"fields":[{"path":"traits.tags","treatment":"sha256"},{"path":"traits.tags[]","treatment":"redact"}]}`,
			[]string{"traits.tags[]", "same field"}},
		{"a red field inside a field hashed as a whole, with red fields blocked",
			`{"enabled":true,"fields":[{"path":"traits.address","treatment":"sha256"}],"blockRed":true}`,
			[]string{"traits.address.ssn", "blockRed"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := put(t, 422, c.body)
			if f := problemField(t, res); f != "fields" {
				t.Errorf("problem names %q, want fields", f)
			}
			for _, s := range c.says {
				if !strings.Contains(res.Body, s) {
					t.Errorf("message does not say %q: %s", s, res.Body)
				}
			}
			var after DestinationView
			a.must(t, 200, "GET", dst, ws.Owner, "").json(t, &after)
			if len(after.Hashing.Fields) != 1 || after.Hashing.Fields[0].Path != "traits.email" {
				t.Errorf("a refused change was stored: %+v", after.Hashing)
			}
		})
	}

	t.Run("the same settings through PUT destination are refused too", func(t *testing.T) {
		var cur DestinationView
		a.must(t, 200, "GET", dst, ws.Owner, "").json(t, &cur)
		a.must(t, 422, "PUT", dst, ws.Owner, `{"sourceId":"`+ws.Source+`","name":"crm","type":"webhook","settings":{"url":"https://crm.example/hook"},`+
			`"hashing":{"enabled":false,"fields":[{"path":"traits.address","treatment":"sha256"},{"path":"traits.address.city","treatment":"redact"}]}}`,
			"If-Match", ETag(cur.Version))
	})

	t.Run("without blockRed the red field travels inside its hashed parent, and that compiles", func(t *testing.T) {
		var v DestinationView
		put(t, 200, `{"enabled":true,"fields":[{"path":"traits.address","treatment":"sha256"}],"blockRed":false}`).json(t, &v)
		red := []string{"traits.address.ssn"}
		if _, err := transform.Compile(transform.DestinationSpec(*v.Hashing, red)); err != nil {
			t.Fatalf("saved settings do not compile as the pipeline builds them: %v", err)
		}
	})
}

// The conflict asking for keys reads as English whichever keys are missing.
func TestMissingKeysAreNamedInPlainEnglish(t *testing.T) {
	a := newAPI(t)
	ws := a.newWorkspace(t, "business", true)
	classify(t, a, ws, "traits.email", "yellow", "traits.phone", "yellow")
	dst := "/workspaces/" + ws.ID + "/destinations/" + ws.Destination
	cases := []struct {
		name   string
		fields string
		says   []string
	}{
		{"encrypt", `{"path":"traits.email","treatment":"encrypt"}`,
			[]string{"the destination has no active encryption key pair (POST .../keys) for the encrypt treatment"}},
		{"hmac", `{"path":"traits.email","treatment":"hmac"}`,
			[]string{"the destination has no active HMAC key (POST .../hmac-keys) for the hmac treatment"}},
		{"both", `{"path":"traits.email","treatment":"encrypt"},{"path":"traits.phone","treatment":"hmac"}`,
			[]string{"no active encryption key pair (POST .../keys) for the encrypt treatment and no active HMAC key (POST .../hmac-keys)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var cur DestinationView
			a.must(t, 200, "GET", dst, ws.Owner, "").json(t, &cur)
			res := a.must(t, 409, "PUT", dst+"/hashing", ws.Owner, `{"enabled":true,"fields":[`+c.fields+`]}`, "If-Match", ETag(cur.Version))
			_, msg, _ := decodeErr(t, []byte(res.Body))
			for _, s := range c.says {
				if !strings.Contains(msg, s) {
					t.Errorf("message %q does not say %q", msg, s)
				}
			}
			if strings.Contains(msg, "active an") {
				t.Errorf("message %q", msg)
			}
		})
	}
}

// Operator routes act on a workspace as a whole; their audit targets name it, like creating one.
func TestOperatorAuditTargetsNameTheWorkspace(t *testing.T) {
	a := newAPI(t)
	ws := a.newWorkspace(t, "business", true)
	var w WorkspaceView
	a.must(t, 200, "GET", "/operator/workspaces/"+ws.ID, testOperatorSecret, "").json(t, &w)
	a.must(t, 200, "PUT", "/operator/workspaces/"+ws.ID+"/plan", testOperatorSecret, `{"tier":"team","baa":{"signed":false}}`, "If-Match", ETag(w.Version))
	var log List[phi.AuditRecord]
	a.must(t, 200, "GET", "/workspaces/"+ws.ID+"/audit?limit=100", ws.Owner, "").json(t, &log)
	want := map[string]string{
		"workspace.create":      "workspace/" + ws.ID,
		"workspace.read":        "workspace/" + ws.ID,
		"workspace.plan.update": "workspace/" + ws.ID + "/plan",
	}
	for _, r := range log.Items {
		if target, ok := want[r.Action]; ok {
			if r.Target != target {
				t.Errorf("%s target = %q, want %q", r.Action, r.Target, target)
			}
			delete(want, r.Action)
		}
	}
	if len(want) > 0 {
		t.Errorf("no audit record for %v", want)
	}
}

// The settings for unreviewed fields and identity fields are checked when saved: an unknown rule
// or default treatment is refused naming it, an identity field listed without a treatment gets
// hmac (joins keep working) without needing a classification, and two spellings of one field
// that differ only in case are refused, since event keys are matched case-insensitively.
func TestUnreviewedAndIdentitySettingsAreCheckedWhenSaved(t *testing.T) {
	a := newAPI(t)
	ws := a.newWorkspace(t, "business", true)
	classify(t, a, ws, "traits.email", "yellow")
	dst := "/workspaces/" + ws.ID + "/destinations/" + ws.Destination
	put := func(t *testing.T, want int, body string) response {
		t.Helper()
		var cur DestinationView
		a.must(t, 200, "GET", dst, ws.Owner, "").json(t, &cur)
		return a.must(t, want, "PUT", dst+"/hashing", ws.Owner, body, "If-Match", ETag(cur.Version))
	}
	for _, c := range []struct {
		name, body, field, says string
	}{
		{"an unknown unreviewed rule", `{"enabled":false,"fields":[],"unreviewed":"maybe"}`, "unreviewed", "protect, block or pass"},
		{"an unknown default treatment", `{"enabled":false,"fields":[],"defaultTreatment":"rot13"}`, "defaultTreatment", "not a treatment"},
		{"one field in two cases", `{"enabled":false,"fields":[{"path":"traits.email","treatment":"sha256"},{"path":"traits.Email","treatment":"sha256"}]}`,
			"fields[1].path", "case-insensitively"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := put(t, 422, c.body)
			if f := problemField(t, res); f != c.field {
				t.Errorf("problem names %q, want %s: %s", f, c.field, res.Body)
			}
			if !strings.Contains(res.Body, c.says) {
				t.Errorf("message does not say %q: %s", c.says, res.Body)
			}
		})
	}
	t.Run("an identity field gets hmac by default and needs no classification", func(t *testing.T) {
		var v DestinationView
		put(t, 200, `{"enabled":false,"fields":[{"path":"userId"},{"path":"traits.email"}],"unreviewed":"block","defaultTreatment":"redact"}`).json(t, &v)
		got := map[string]phi.Treatment{}
		for _, f := range v.Hashing.Fields {
			got[f.Path] = f.Treatment
		}
		if got["userId"] != phi.TreatmentHMAC || got["traits.email"] != phi.TreatmentEncrypt {
			t.Errorf("treatments %v; want userId hmac, traits.email encrypt", got)
		}
		if v.Hashing.Unreviewed != phi.UnreviewedBlock || v.Hashing.DefaultTreatment != phi.TreatmentRedact {
			t.Errorf("unreviewed %q, defaultTreatment %q were not kept", v.Hashing.Unreviewed, v.Hashing.DefaultTreatment)
		}
		// Enabled, userId passes the yellow-classification rule: only the missing keys stop it.
		res := put(t, 409, `{"enabled":true,"fields":[{"path":"userId"}]}`)
		if !strings.Contains(res.Body, "HMAC key") {
			t.Errorf("want the missing HMAC key named: %s", res.Body)
		}
	})
}

// Issue 16: an AWS destination is saved with its settings checked, shows the exact policies to
// paste, and can be tested; a webhook has neither (409).
func TestAnAWSDestinationHasItsAccessPolicyAndATest(t *testing.T) {
	a := newAPI(t)
	ws := a.newWorkspace(t, "business", true)
	dsts := "/workspaces/" + ws.ID + "/destinations"
	role, queue := "arn:aws:iam::123456789012:role/phiguard-delivery/events", "arn:aws:sqs:us-east-1:123456789012:events.fifo"
	body := func(role string) string {
		return `{"sourceId":"` + ws.Source + `","name":"queue","type":"sqs","settings":{"roleArn":"` + role + `","queueArn":"` + queue + `"}}`
	}
	if f := problemField(t, a.must(t, 422, "POST", dsts, ws.Member, body("arn:aws:iam::210987654321:role/phiguard-delivery/events"))); f != "settings.queueArn" {
		t.Errorf("a queue in another account than the role's: 422 names %s", f)
	}
	if f := problemField(t, a.must(t, 422, "POST", dsts, ws.Member, body("arn:aws:iam::123456789012:role/admin"))); f != "settings.roleArn" {
		t.Errorf("a role off the path: 422 names %s", f)
	}
	var d DestinationView
	a.must(t, 201, "POST", dsts, ws.Member, body(role)).json(t, &d)
	if d.Settings.QueueARN != queue || d.Settings.RoleARN != role {
		t.Fatalf("saved settings %+v", d.Settings)
	}

	var ap struct {
		RoleARN     string `json:"roleArn"`
		ExternalID  string `json:"externalId"`
		TrustPolicy struct {
			Statement []struct {
				Principal map[string][]string
				Action    []string
				Condition map[string]map[string]string
			}
		} `json:"trustPolicy"`
		PermissionsPolicy struct {
			Statement []struct {
				Action   []string
				Resource []string
			}
		} `json:"permissionsPolicy"`
	}
	a.must(t, 200, "GET", dsts+"/"+d.ID+"/access-policy", ws.Readonly, "").json(t, &ap)
	trust := ap.TrustPolicy.Statement[0]
	if ap.RoleARN != role || ap.ExternalID != "phiguard:"+ws.ID+":"+d.ID || trust.Condition["StringEquals"]["sts:ExternalId"] != ap.ExternalID ||
		strings.Join(trust.Principal["AWS"], ",") != strings.Join(testAssumingRoles, ",") || strings.Join(trust.Action, ",") != "sts:AssumeRole" {
		t.Errorf("access policy %+v", ap)
	}
	if p := ap.PermissionsPolicy.Statement; len(p) != 1 || strings.Join(p[0].Action, ",") != "sqs:SendMessage" || strings.Join(p[0].Resource, ",") != queue {
		t.Errorf("permissions %+v", p)
	}

	var r struct {
		Delivered bool   `json:"delivered"`
		Location  string `json:"location"`
	}
	// The test is the owner's (issue 16): a member who configured the destination may not run it.
	a.must(t, 403, "POST", dsts+"/"+d.ID+"/test", ws.Member, "")
	a.must(t, 200, "POST", dsts+"/"+d.ID+"/test", ws.Owner, "").json(t, &r)
	if !r.Delivered || r.Location != queue {
		t.Errorf("test result %+v", r)
	}

	for _, route := range []string{"/access-policy", "/test"} {
		method := map[string]string{"/access-policy": "GET", "/test": "POST"}[route]
		if res := a.must(t, 409, method, dsts+"/"+ws.Destination+route, ws.Owner, ""); !strings.Contains(res.Body, "webhook") {
			t.Errorf("%s of a webhook: %s", route, res.Body)
		}
	}
}

// A destination whose treatment lost its key, or whose workspace lost eligibility, reads
// degraded with the reason wherever its state is shown: the pipeline removes those fields.
func TestHashingStateIsDegradedWhenKeysOrEligibilityAreLost(t *testing.T) {
	a := newAPI(t)
	ws := a.newWorkspace(t, "business", true)
	classify(t, a, ws, "traits.email", "yellow", "traits.phone", "yellow")
	dst := "/workspaces/" + ws.ID + "/destinations/" + ws.Destination
	ctx := context.Background()
	newKey := func(kind phi.KeyKind) *phi.Key {
		k := &phi.Key{ID: phi.NewID(phi.PrefixKey), WorkspaceID: ws.ID, DestinationID: ws.Destination, Kind: kind, Origin: phi.OriginKMS, CreatedBy: ws.MemberID}
		if kind == phi.KeyEncryption {
			k.Algorithm, k.PublicKeyPEM = "hpke-p256", "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"
		} else {
			k.Algorithm, k.EncryptedHMACKey = "hmac-sha256", []byte("kms-ciphertext")
		}
		if err := a.store.PutActiveKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		return k
	}
	// What the keygen function's revoke route stores (this harness stubs its routes).
	revoke := func(k *phi.Key) {
		if err := a.store.RevokeKey(ctx, ws.ID, ws.Destination, k.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	enc, hmac := newKey(phi.KeyEncryption), newKey(phi.KeyHMAC)
	var cur DestinationView
	a.must(t, 200, "GET", dst, ws.Owner, "").json(t, &cur)
	a.must(t, 200, "PUT", dst+"/hashing", ws.Owner, `{"enabled":true,"fields":[{"path":"traits.email","treatment":"encrypt"},{"path":"traits.phone","treatment":"hmac"}]}`,
		"If-Match", ETag(cur.Version))
	state := func(t *testing.T, state, reason, says string) {
		t.Helper()
		for _, tok := range []string{ws.Owner, ws.Readonly} {
			var v DestinationView
			a.must(t, 200, "GET", dst, tok, "").json(t, &v)
			if v.HashingState != state || v.HashingStateReason != reason || !strings.Contains(v.HashingStateMessage, says) {
				t.Errorf("state %q, reason %q, message %q; want %q, %q, a message saying %q", v.HashingState, v.HashingStateReason, v.HashingStateMessage, state, reason, says)
			}
			var list List[DestinationView]
			a.must(t, 200, "GET", "/workspaces/"+ws.ID+"/destinations", tok, "").json(t, &list)
			if len(list.Items) != 1 || list.Items[0].HashingState != state || list.Items[0].HashingStateReason != reason {
				t.Errorf("the list says %+v", list.Items)
			}
		}
	}
	state(t, phi.HashingActive, "", "")

	t.Run("revoking the only key pair degrades it", func(t *testing.T) {
		revoke(enc)
		state(t, phi.HashingDegraded, phi.DegradedNoActiveKey, "encrypt treatment")
	})
	t.Run("a new key pair makes it active again", func(t *testing.T) {
		newKey(phi.KeyEncryption)
		state(t, phi.HashingActive, "", "")
	})
	t.Run("revoking the HMAC key degrades it", func(t *testing.T) {
		revoke(hmac)
		state(t, phi.HashingDegraded, phi.DegradedHMACKeyRevoked, "hmac treatment")
	})
	t.Run("losing eligibility degrades it, whatever its keys", func(t *testing.T) {
		newKey(phi.KeyHMAC)
		state(t, phi.HashingActive, "", "")
		var w WorkspaceView
		a.must(t, 200, "GET", "/operator/workspaces/"+ws.ID, testOperatorSecret, "").json(t, &w)
		a.must(t, 200, "PUT", "/operator/workspaces/"+ws.ID+"/plan", testOperatorSecret, `{"tier":"team","baa":{"signed":false}}`, "If-Match", ETag(w.Version))
		state(t, phi.HashingDegraded, phi.DegradedNotEligible, "not HIPAA eligible")
	})
}

// A hashing update or a plan change that degrades a destination's hashing, or makes it active
// again, is followed in the audit log by a record saying so, with the reason, under the same
// request id; a change that leaves the state as it was records nothing more.
func TestChangesThatDegradeHashingAreAudited(t *testing.T) {
	a := newAPI(t)
	ws := a.newWorkspace(t, "business", true)
	classify(t, a, ws, "traits.email", "yellow")
	dst := "/workspaces/" + ws.ID + "/destinations/" + ws.Destination
	k := &phi.Key{ID: phi.NewID(phi.PrefixKey), WorkspaceID: ws.ID, DestinationID: ws.Destination, Kind: phi.KeyEncryption, Origin: phi.OriginKMS,
		Algorithm: "hpke-p256", PublicKeyPEM: "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n", CreatedBy: ws.MemberID}
	if err := a.store.PutActiveKey(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	put := func(t *testing.T, defaultTreatment, state string) {
		t.Helper()
		var cur DestinationView
		a.must(t, 200, "GET", dst, ws.Owner, "").json(t, &cur)
		var v DestinationView
		a.must(t, 200, "PUT", dst+"/hashing", ws.Owner, `{"enabled":true,"defaultTreatment":"`+defaultTreatment+`","fields":[{"path":"traits.email","treatment":"encrypt"}]}`,
			"If-Match", ETag(cur.Version)).json(t, &v)
		if v.HashingState != state {
			t.Fatalf("hashing state %q, want %q", v.HashingState, state)
		}
	}
	plan := func(t *testing.T, body string) {
		t.Helper()
		var w WorkspaceView
		a.must(t, 200, "GET", "/operator/workspaces/"+ws.ID, testOperatorSecret, "").json(t, &w)
		a.must(t, 200, "PUT", "/operator/workspaces/"+ws.ID+"/plan", testOperatorSecret, body, "If-Match", ETag(w.Version))
	}
	// hashingRecords returns "cause → consequence" for each hashing-state record, checking that
	// it follows the successful record of its cause, of the same request and actor.
	hashingRecords := func(t *testing.T) []string {
		t.Helper()
		recs, err := a.store.AuditRecords(context.Background(), ws.ID, time.Time{}, time.Time{}, 1000)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for i, r := range recs {
			if !strings.HasPrefix(r.Action, "destination.hashing.") || r.Action == "destination.hashing.update" {
				continue
			}
			prev := recs[i-1]
			if prev.RequestID != r.RequestID || prev.Actor != r.Actor || prev.Outcome != "success" || r.Outcome != "success" || r.Target != "destinations/"+ws.Destination {
				t.Errorf("record %+v follows %+v", r, prev)
			}
			out = append(out, prev.Action+" → "+r.Action)
		}
		return out
	}
	want := func(t *testing.T, records ...string) {
		t.Helper()
		if got := hashingRecords(t); !slices.Equal(got, records) {
			t.Errorf("hashing-state records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(records, "\n"))
		}
	}

	put(t, "sha256", phi.HashingActive)
	want(t)
	t.Run("a default treatment without its key degrades it", func(t *testing.T) {
		put(t, "hmac", phi.HashingDegraded)
		want(t, "destination.hashing.update → destination.hashing.degraded.hmac-key-revoked")
	})
	t.Run("a default treatment with its key restores it", func(t *testing.T) {
		put(t, "encrypt", phi.HashingActive)
		put(t, "encrypt", phi.HashingActive)
		want(t, "destination.hashing.update → destination.hashing.degraded.hmac-key-revoked",
			"destination.hashing.update → destination.hashing.restored")
	})
	t.Run("losing eligibility degrades it, regaining it restores it", func(t *testing.T) {
		plan(t, `{"tier":"team","baa":{"signed":false}}`)
		plan(t, `{"tier":"free","baa":{"signed":false}}`) // still not eligible: nothing more
		plan(t, `{"tier":"business","baa":{"signed":true,"signedBy":"Dr. Ada"}}`)
		want(t, "destination.hashing.update → destination.hashing.degraded.hmac-key-revoked",
			"destination.hashing.update → destination.hashing.restored",
			"workspace.plan.update → destination.hashing.degraded.workspace-not-eligible",
			"workspace.plan.update → destination.hashing.restored")
	})
}

// A destination's delivery state is shown to everyone who can see the destination: ok since it
// was created until the delivery function records a failure, then degraded with the failure
// and what to do, in the destination and in the list; an owner's edit keeps it.
func TestTheDeliveryStateIsShownWithTheDestination(t *testing.T) {
	a := newAPI(t)
	ws := a.newWorkspace(t, "business", true)
	dst := "/workspaces/" + ws.ID + "/destinations/" + ws.Destination
	delivery := func(t *testing.T, tok string) (DestinationView, DeliveryView) {
		t.Helper()
		var v DestinationView
		a.must(t, 200, "GET", dst, tok, "").json(t, &v)
		var list List[DestinationView]
		a.must(t, 200, "GET", "/workspaces/"+ws.ID+"/destinations", tok, "").json(t, &list)
		if len(list.Items) != 1 || list.Items[0].Delivery != v.Delivery {
			t.Errorf("the list says %+v; the destination %+v", list.Items, v.Delivery)
		}
		return v, v.Delivery
	}
	v, d := delivery(t, ws.Readonly)
	if d.State != phi.DeliveryOK || !d.Since.Equal(v.CreatedAt) || d.Message != "" || d.Reason != "" {
		t.Errorf("a destination never degraded: %+v; want ok since its creation %v", d, v.CreatedAt)
	}

	at := time.Now().UTC().Truncate(time.Second)
	st := phi.DeliveryStatus{State: phi.DeliveryDegraded, Since: at, LastFailureAt: at, Reason: "NoSuchBucket", DeadLetterReason: "rejected",
		Status: 404, Error: "PutObject: api error NoSuchBucket: The specified bucket does not exist"}
	if err := a.store.SetDeliveryStatus(context.Background(), ws.ID, ws.Destination, st, time.Time{}); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{ws.Owner, ws.Readonly} {
		if _, d := delivery(t, tok); d.DeliveryStatus != st || !strings.Contains(d.Message, "refused copies permanently (NoSuchBucket)") || !strings.Contains(d.Message, "replay") {
			t.Errorf("degraded: %+v; want %+v and a message saying what happened and to replay", d, st)
		}
	}
	v, _ = delivery(t, ws.Owner)
	settings, _ := json.Marshal(v.Settings)
	a.must(t, 200, "PUT", dst, ws.Owner, `{"sourceId":"`+v.SourceID+`","name":"renamed","type":"`+string(v.Type)+`","settings":`+string(settings)+`}`, "If-Match", ETag(v.Version))
	if v2, d := delivery(t, ws.Owner); v2.Version != v.Version+1 || d.DeliveryStatus != st {
		t.Errorf("after an edit, version %d, delivery %+v; want version %d and the state kept", v2.Version, d, v.Version+1)
	}
}
