package httpapi

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/phiguard/phiguard/shared/audit"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/privacy"
	"github.com/phiguard/phiguard/shared/stack"
	"github.com/phiguard/phiguard/shared/workspace"
)

func classify(t *testing.T, a *api, ws *testWorkspace, pairs ...string) {
	t.Helper()
	var items []string
	for i := 0; i+1 < len(pairs); i += 2 {
		items = append(items, `{"path":"`+pairs[i]+`","classification":"`+pairs[i+1]+`"}`)
	}
	a.must(t, 200, "PUT", "/workspaces/"+ws.ID+"/privacy/classifications", ws.Owner, `{"classifications":[`+strings.Join(items, ",")+`]}`)
}

func TestHashingIsRefusedUntilEveryRuleHolds(t *testing.T) {
	a := newAPI(t)
	ws := a.newWorkspace(t, "business", true)
	dst := "/workspaces/" + ws.ID + "/destinations/" + ws.Destination
	classify(t, a, ws, "traits.email", "yellow", "traits.ssn", "red")
	put := func(want int, body string) response {
		t.Helper()
		var cur DestinationView
		a.must(t, 200, "GET", dst, ws.Owner, "").json(t, &cur)
		return a.must(t, want, "PUT", dst+"/hashing", ws.Owner, body, "If-Match", ETag(cur.Version))
	}

	t.Run("fields not classified yellow are listed, each with its classification", func(t *testing.T) {
		res := put(422, `{"enabled":true,"fields":[{"path":"traits.email","treatment":"sha256"},{"path":"traits.ssn","treatment":"sha256"},{"path":"traits.shoe","treatment":"sha256"}]}`)
		_, _, det := decodeErr(t, []byte(res.Body))
		fields, _ := det["fields"].([]any)
		if len(fields) != 2 || !strings.Contains(res.Body, `"traits.ssn"`) || !strings.Contains(res.Body, `"unclassified"`) || strings.Contains(res.Body, `"path":"traits.email"`) {
			t.Fatalf("details = %s", res.Body)
		}
	})
	t.Run("malformed paths and treatments are each named", func(t *testing.T) {
		res := put(422, `{"enabled":true,"fields":[{"path":"email","treatment":"sha256"},{"path":"traits.email","treatment":"rot13"}]}`)
		if !strings.Contains(res.Body, "fields[0].path") || !strings.Contains(res.Body, "fields[1].treatment") {
			t.Fatalf("body = %s", res.Body)
		}
	})
	t.Run("encrypt without an active key is a conflict asking for keys", func(t *testing.T) {
		res := put(409, `{"enabled":true,"fields":[{"path":"traits.email"}]}`)
		if !strings.Contains(res.Body, "generate hashing keys first") {
			t.Fatalf("body = %s", res.Body)
		}
	})
	t.Run("hmac without an HMAC key is a conflict too", func(t *testing.T) {
		put(409, `{"enabled":true,"fields":[{"path":"traits.email","treatment":"hmac"}]}`)
	})
	t.Run("sha256 of a yellow field needs no key", func(t *testing.T) {
		var v DestinationView
		put(200, `{"enabled":true,"fields":[{"path":"traits.email","treatment":"sha256"}],"blockRed":true,"defaultTreatment":"sha256"}`).json(t, &v)
		if v.HashingState != phi.HashingActive || v.Hashing == nil || len(v.Hashing.Fields) != 1 {
			t.Fatalf("view = %+v", v)
		}
	})
	t.Run("but fields not reviewed yet get encrypt by default, and without a key pair that is degraded", func(t *testing.T) {
		var v DestinationView
		put(200, `{"enabled":true,"fields":[{"path":"traits.email","treatment":"sha256"}],"blockRed":true}`).json(t, &v)
		if v.HashingState != phi.HashingDegraded || v.HashingStateReason != phi.DegradedNoActiveKey || !strings.Contains(v.HashingStateMessage, "not reviewed yet") {
			t.Fatalf("view = %+v", v)
		}
	})
	pending := &phi.Key{ID: phi.NewID(phi.PrefixKey), WorkspaceID: ws.ID, DestinationID: ws.Destination, Kind: phi.KeyEncryption,
		Algorithm: "hpke-p256", Origin: phi.OriginKMS, PublicKeyPEM: "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n", CreatedBy: ws.MemberID}
	t.Run("a pending key does not count: the conflict names it and says to activate it", func(t *testing.T) {
		exp := time.Now().Add(time.Hour)
		pending.ExpiresAt = &exp
		if err := a.store.PutPendingKey(context.Background(), pending); err != nil {
			t.Fatal(err)
		}
		res := put(409, `{"enabled":true,"fields":[{"path":"traits.email"}]}`)
		_, msg, details := decodeErr(t, []byte(res.Body))
		for _, says := range []string{"generate hashing keys first", pending.ID + " is pending", "/keys/" + pending.ID + "/activate"} {
			if !strings.Contains(msg, says) {
				t.Errorf("message %q does not say %q", msg, says)
			}
		}
		if !strings.Contains(string(mustJSON(details)), pending.ID) {
			t.Errorf("details %v do not list the pending key", details)
		}
	})
	t.Run("encrypt works once the destination has an active key", func(t *testing.T) {
		if _, err := a.store.ActivateKey(context.Background(), ws.ID, ws.Destination, pending.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		var v DestinationView
		put(200, `{"enabled":true,"fields":[{"path":"traits.email"}]}`).json(t, &v)
		if v.Hashing.Fields[0].Treatment != phi.TreatmentEncrypt {
			t.Fatalf("empty treatment was not defaulted to encrypt: %+v", v.Hashing)
		}
	})
	t.Run("members and readonly see the state but not the fields", func(t *testing.T) {
		for _, tok := range []string{ws.Member, ws.Readonly} {
			res := a.must(t, 200, "GET", dst, tok, "")
			if strings.Contains(res.Body, `"hashing"`) || strings.Contains(res.Body, "traits.email") || !strings.Contains(res.Body, `"hashingState":"active"`) {
				t.Fatalf("body = %s", res.Body)
			}
		}
	})
	t.Run("members cannot change hashing through the destination either", func(t *testing.T) {
		res := a.must(t, 403, "PUT", dst, ws.Member, `{"sourceId":"`+ws.Source+`","name":"crm","type":"webhook","settings":{"url":"https://crm.example/hook"},"hashing":{"enabled":false,"fields":[]}}`, "If-Match", `"1"`)
		if !strings.Contains(res.Body, "owners") {
			t.Fatalf("body = %s", res.Body)
		}
	})
	t.Run("a member's edit keeps the hashing settings", func(t *testing.T) {
		var cur DestinationView
		a.must(t, 200, "GET", dst, ws.Owner, "").json(t, &cur)
		a.must(t, 200, "PUT", dst, ws.Member, `{"sourceId":"`+ws.Source+`","name":"crm renamed","type":"webhook","settings":{"url":"https://crm.example/hook2"}}`, "If-Match", ETag(cur.Version))
		var after DestinationView
		a.must(t, 200, "GET", dst, ws.Owner, "").json(t, &after)
		if after.Name != "crm renamed" || !after.Hashing.Enabled || len(after.Hashing.Fields) != 1 {
			t.Fatalf("after = %+v", after)
		}
	})

	t.Run("a downgrade degrades hashing, refuses enabling with the reason, and is audited", func(t *testing.T) {
		var w WorkspaceView
		a.must(t, 200, "GET", "/operator/workspaces/"+ws.ID, testOperatorSecret, "").json(t, &w)
		a.must(t, 412, "PUT", "/operator/workspaces/"+ws.ID+"/plan", testOperatorSecret, `{"tier":"team","baa":{"signed":false}}`, "If-Match", ETag(w.Version+1))
		a.must(t, 422, "PUT", "/operator/workspaces/"+ws.ID+"/plan", testOperatorSecret, `{"tier":"team","baa":{"signed":true,"signedBy":"x"}}`, "If-Match", ETag(w.Version))
		a.must(t, 200, "PUT", "/operator/workspaces/"+ws.ID+"/plan", testOperatorSecret, `{"tier":"team","baa":{"signed":false}}`, "If-Match", ETag(w.Version)).json(t, &w)
		if w.HIPAAEligible || w.EligibilityReason == "" {
			t.Fatalf("workspace = %+v", w)
		}
		var v DestinationView
		a.must(t, 200, "GET", dst, ws.Readonly, "").json(t, &v)
		if v.HashingState != phi.HashingDegraded || v.HashingStateReason != phi.DegradedNotEligible || !strings.Contains(v.HashingStateMessage, "not HIPAA eligible") {
			t.Fatalf("view = %+v", v)
		}
		res := put(403, `{"enabled":true,"fields":[{"path":"traits.email","treatment":"sha256"}]}`)
		if !strings.Contains(res.Body, "team tier") {
			t.Fatalf("403 without the reason: %s", res.Body)
		}
		put(200, `{"enabled":false,"fields":[]}`)

		var log List[phi.AuditRecord]
		a.must(t, 200, "GET", "/workspaces/"+ws.ID+"/audit?limit=100", ws.Owner, "").json(t, &log)
		found := map[string]bool{}
		for _, r := range log.Items {
			found[r.Action+"/"+r.Outcome] = true
			if r.RequestID == "" || r.Actor == "" || r.Target == "" {
				t.Errorf("incomplete record %+v", r)
			}
		}
		for _, want := range []string{"workspace.plan.update/success", "workspace.plan.update/failed", "destination.hashing.update/success",
			"destination.hashing.update/denied", "destination.update/denied", "privacy.classification.update/success", "token.create/success", "workspace.create/success"} {
			if !found[want] {
				t.Errorf("audit log lacks %s; has %v", want, found)
			}
		}
	})
}

func TestDestinationEditsNeedTheCurrentETag(t *testing.T) {
	a := newAPI(t)
	ws := a.newWorkspace(t, "free", false)
	dst := "/workspaces/" + ws.ID + "/destinations/" + ws.Destination
	body := `{"sourceId":"` + ws.Source + `","name":"crm2","type":"webhook","settings":{"url":"https://crm.example/hook"}}`
	res := a.must(t, 200, "GET", dst, ws.Member, "")
	etag := res.Header.Get("ETag")
	if etag != `"1"` {
		t.Fatalf("ETag = %q", etag)
	}
	a.must(t, 428, "PUT", dst, ws.Member, body) // no If-Match
	a.must(t, 200, "PUT", dst, ws.Member, body, "If-Match", etag)
	res = a.must(t, 412, "PUT", dst, ws.Member, body, "If-Match", etag) // a second writer with the old ETag
	if res.errCode(t) != phi.EPRECONDITION {
		t.Fatalf("body = %s", res.Body)
	}
	t.Run("hashing cannot be enabled in a workspace that is not eligible", func(t *testing.T) {
		res := a.must(t, 403, "PUT", dst+"/hashing", ws.Owner, `{"enabled":true,"fields":[]}`, "If-Match", `"2"`)
		if !strings.Contains(res.Body, "HIPAA eligible") {
			t.Fatalf("body = %s", res.Body)
		}
	})
	t.Run("a webhook must be https", func(t *testing.T) {
		res := a.must(t, 422, "POST", "/workspaces/"+ws.ID+"/destinations", ws.Member, `{"sourceId":"`+ws.Source+`","name":"x","type":"webhook","settings":{"url":"http://insecure.example"}}`)
		if !strings.Contains(res.Body, "settings.url") {
			t.Fatalf("body = %s", res.Body)
		}
	})
	t.Run("a destination needs a source of this workspace", func(t *testing.T) {
		a.must(t, 422, "POST", "/workspaces/"+ws.ID+"/destinations", ws.Member, `{"sourceId":"`+phi.NewID(phi.PrefixSource)+`","name":"x","type":"webhook","settings":{"url":"https://x.example"}}`)
	})
	t.Run("a source with destinations cannot be deleted", func(t *testing.T) {
		a.must(t, 409, "DELETE", "/workspaces/"+ws.ID+"/sources/"+ws.Source, ws.Member, "")
	})
}

// ifMatchRoutes are the routes that change a versioned resource and so need If-Match; the
// OpenAPI document must declare it (and 412) on exactly these.
var ifMatchRoutes = map[string]bool{
	"PUT /operator/workspaces/{workspaceId}/plan":                        true,
	"PUT /workspaces/{workspaceId}/sources/{sourceId}":                   true,
	"PUT /workspaces/{workspaceId}/destinations/{destinationId}":         true,
	"PUT /workspaces/{workspaceId}/destinations/{destinationId}/hashing": true,
}

// Every PUT of a versioned resource refuses a request without If-Match (428 Precondition
// Required), and accepts it with the current ETag or with * (any current version, RFC 9110); the
// other PUTs do not ask for it.
func TestEveryVersionedPutNeedsIfMatch(t *testing.T) {
	a := newAPI(t)
	ws := a.newWorkspace(t, "business", true)
	ids := map[string]string{"sourceId": ws.Source, "destinationId": ws.Destination}
	for _, rt := range stack.Routes {
		if rt.Method != "PUT" {
			continue
		}
		key := rt.Key()
		t.Run(key, func(t *testing.T) {
			tok := ws.Owner
			if rt.Auth == stack.AuthOperator {
				tok = testOperatorSecret
			}
			path := fill(rt.Path, ws.ID, ids)
			body := validBodyFor(rt, ws.Source)
			if !ifMatchRoutes[key] {
				a.must(t, 200, "PUT", path, tok, body)
				return
			}
			if res := a.must(t, 428, "PUT", path, tok, body); !strings.Contains(res.Body, "If-Match") || res.errCode(t) != phi.EPRECONDREQUIRED {
				t.Errorf("428 does not ask for If-Match: %s", res.Body)
			}
			a.must(t, 200, "PUT", path, tok, body, "If-Match", currentETag(t, a, path, tok))
			before := currentETag(t, a, path, tok)
			a.must(t, 200, "PUT", path, tok, body, "If-Match", "*")
			if after := currentETag(t, a, path, tok); after == before {
				t.Errorf("If-Match: * changed nothing: ETag still %s", after)
			}
		})
	}
	routes := map[string]bool{}
	for _, rt := range stack.Routes {
		routes[rt.Key()] = true
	}
	for key := range ifMatchRoutes {
		if !routes[key] {
			t.Errorf("ifMatchRoutes names %s, which is not a route", key)
		}
	}
}

// currentETag reads the ETag of the resource a PUT route changes (a hashing PUT changes its
// destination).
func currentETag(t *testing.T, a *api, path, tok string) string {
	t.Helper()
	get := strings.TrimSuffix(strings.TrimSuffix(path, "/hashing"), "/plan")
	etag := a.must(t, 200, "GET", get, tok, "").Header.Get("ETag")
	if etag == "" {
		t.Fatalf("GET %s has no ETag", get)
	}
	return etag
}

func TestListsPaginate(t *testing.T) {
	a := newAPI(t)
	ws := a.newWorkspace(t, "free", false)
	for _, n := range []string{"b", "c"} {
		a.must(t, 201, "POST", "/workspaces/"+ws.ID+"/sources", ws.Member, `{"name":"`+n+`"}`)
	}
	seen := map[string]bool{}
	cursor := ""
	for page := 0; ; page++ {
		if page > 3 {
			t.Fatal("pagination does not end")
		}
		var l List[phi.Source]
		a.must(t, 200, "GET", "/workspaces/"+ws.ID+"/sources?limit=2&cursor="+cursor, ws.Readonly, "").json(t, &l)
		if len(l.Items) > 2 {
			t.Fatalf("page of %d items with limit 2", len(l.Items))
		}
		for _, s := range l.Items {
			seen[s.ID] = true
		}
		if l.NextCursor == "" {
			break
		}
		cursor = l.NextCursor
	}
	if len(seen) != 3 {
		t.Fatalf("saw %d distinct sources, want 3", len(seen))
	}
	a.must(t, 400, "GET", "/workspaces/"+ws.ID+"/sources?cursor=garbage", ws.Readonly, "")
	a.must(t, 400, "GET", "/workspaces/"+ws.ID+"/sources?limit=1000", ws.Readonly, "")
}

func TestPrivacyPortal(t *testing.T) {
	a := newAPI(t)
	ws := a.newWorkspace(t, "business", true)
	base := "/workspaces/" + ws.ID + "/privacy"
	var m struct {
		ID string `json:"id"`
	}
	a.must(t, 201, "POST", base+"/matchers", ws.Owner, `{"name":"member number","classification":"yellow","target":"key","mode":"similar","synonyms":["member id"]}`).json(t, &m)
	t.Run("an invalid matcher lists each broken rule", func(t *testing.T) {
		res := a.must(t, 422, "POST", base+"/matchers", ws.Owner, `{"name":"","classification":"purple","target":"key","mode":"exact","patterns":["("]}`)
		for _, f := range []string{`"name"`, `"classification"`, `"patterns[0]"`} {
			if !strings.Contains(res.Body, f) {
				t.Errorf("422 does not name %s: %s", f, res.Body)
			}
		}
	})
	t.Run("defaults are listed and cannot be deleted", func(t *testing.T) {
		var l workspace.MatcherList
		a.must(t, 200, "GET", base+"/matchers", ws.Owner, "").json(t, &l)
		if len(l.Defaults) == 0 || len(l.Items) != 1 || l.Items[0].ID != m.ID {
			t.Fatalf("list = %d defaults, items %+v", len(l.Defaults), l.Items)
		}
		a.must(t, 409, "DELETE", base+"/matchers/"+l.Defaults[0].ID, ws.Owner, "")
	})
	t.Run("the inbox recommends a classification and names the matcher", func(t *testing.T) {
		if err := a.store.RecordInboxPaths(context.Background(), ws.ID, ws.Source, []string{"traits.email", "traits.memberId", "properties.color"}); err != nil {
			t.Fatal(err)
		}
		classify(t, a, ws, "properties.color", "green")
		var l List[workspace.InboxItem]
		a.must(t, 200, "GET", base+"/inbox", ws.Owner, "").json(t, &l)
		byPath := map[string]workspace.InboxItem{}
		for _, it := range l.Items {
			byPath[it.Path] = it
		}
		if r := byPath["traits.email"].Recommendation; r == nil || r.Classification != "yellow" {
			t.Errorf("traits.email recommendation = %+v", r)
		}
		if r := byPath["traits.memberId"].Recommendation; r == nil || r.MatcherID != m.ID {
			t.Errorf("traits.memberId recommendation = %+v, want the custom matcher", r)
		}
		if byPath["properties.color"].Classification != "green" {
			t.Errorf("decided classification missing: %+v", byPath["properties.color"])
		}
	})
	t.Run("the 101st custom matcher is refused with a clear error, and deleting one makes room", func(t *testing.T) {
		var l workspace.MatcherList
		a.must(t, 200, "GET", base+"/matchers?limit=100", ws.Owner, "").json(t, &l)
		for i := len(l.Items); i < privacy.MaxCustomMatchers; i++ {
			m := privacy.Matcher{Name: fmt.Sprintf("custom %d", i), Classification: privacy.Green, Target: privacy.TargetKey, Mode: privacy.ModeExact, Synonyms: []string{fmt.Sprintf("field %d", i)}}
			if err := a.store.PutMatcher(context.Background(), ws.ID, &m); err != nil {
				t.Fatal(err)
			}
		}
		body := `{"name":"one too many","classification":"yellow","target":"key","mode":"exact","synonyms":["extra"]}`
		res := a.must(t, 409, "POST", base+"/matchers", ws.Owner, body)
		if code, msg, _ := decodeErr(t, []byte(res.Body)); code != phi.ECONFLICT || !strings.Contains(msg, "at most 100 custom matchers") || !strings.Contains(msg, "delete one") {
			t.Fatalf("101st matcher: %s", res.Body)
		}
		a.must(t, 204, "DELETE", base+"/matchers/"+m.ID, ws.Owner, "")
		a.must(t, 201, "POST", base+"/matchers", ws.Owner, body)
		a.must(t, 409, "POST", base+"/matchers", ws.Owner, body)
	})
	t.Run("classifications export as CSV", func(t *testing.T) {
		classify(t, a, ws, "traits.email", "yellow")
		res := a.must(t, 200, "GET", base+"/classifications", ws.Owner, "", "Accept", "text/csv")
		if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") {
			t.Fatalf("Content-Type = %q", res.Header.Get("Content-Type"))
		}
		rows, err := csv.NewReader(strings.NewReader(res.Body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 3 || rows[0][0] != "path" {
			t.Fatalf("rows = %v", rows)
		}
		var email []string
		for _, r := range rows {
			if r[0] == "traits.email" {
				email = r
			}
		}
		if email == nil || email[1] != "yellow" || email[2] == "" || email[3] == "" {
			t.Fatalf("traits.email row = %v (want the matcher and the deciding token)", email)
		}
	})
}

// auditDown is the real store whose audit appends fail, to prove audited routes fail closed.
type auditDown struct{ ConfigStore }

func (auditDown) AppendAudit(context.Context, *phi.AuditRecord) error {
	return errors.New("audit table unavailable")
}

func TestAuditedRoutesFailClosedWhenTheAuditLogIsDown(t *testing.T) {
	a := newAPI(t)
	ws := a.newWorkspace(t, "business", true)
	classify(t, a, ws, "traits.email", "yellow")
	down := newAPIWith(t, a.store, auditDown{a.store})
	res := down.must(t, 500, "GET", "/workspaces/"+ws.ID+"/privacy/classifications", ws.Owner, "")
	if strings.Contains(res.Body, "traits.email") || res.errCode(t) != phi.EINTERNAL {
		t.Fatalf("PHI config left without an audit record: %s", res.Body)
	}
	res = down.must(t, 500, "POST", "/workspaces/"+ws.ID+"/tokens", ws.Owner, `{"name":"x","role":"owner"}`)
	if strings.Contains(res.Body, phi.TokenPrefix) {
		t.Fatalf("token secret returned without an audit record: %s", res.Body)
	}
	// Routes without PHI-related configuration are not audited and keep working.
	down.must(t, 200, "GET", "/workspaces/"+ws.ID+"/sources", ws.Owner, "")
}

// No response, log line or audit record contains a token after its creation response.
func TestTokensNeverAppearAfterTheirCreationResponse(t *testing.T) {
	a := newAPI(t)
	ws := a.newWorkspace(t, "business", true) // creates the owner token, a member and a readonly token
	secrets := []string{ws.Owner, ws.Member, ws.Readonly}
	var later []response
	record := func(r response) response { later = append(later, r); return r }

	var created CreatedToken
	res := a.must(t, 201, "POST", "/workspaces/"+ws.ID+"/tokens", ws.Owner, `{"name":"temp","role":"member"}`)
	res.json(t, &created)
	if !strings.HasPrefix(created.Secret, phi.TokenPrefix) || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("creation response: secret %t, Cache-Control %q", strings.HasPrefix(created.Secret, phi.TokenPrefix), res.Header.Get("Cache-Control"))
	}
	secrets = append(secrets, created.Secret)

	record(a.must(t, 200, "GET", "/workspaces/"+ws.ID+"/tokens", ws.Owner, ""))
	record(a.must(t, 200, "GET", "/workspaces/"+ws.ID, created.Secret, ""))
	record(a.must(t, 204, "DELETE", "/workspaces/"+ws.ID+"/tokens/"+created.ID, ws.Owner, ""))
	record(a.must(t, 401, "GET", "/workspaces/"+ws.ID, created.Secret, ""))                          // revoked
	record(a.must(t, 401, "GET", "/workspaces/"+ws.ID, created.Secret+"x", ""))                      // unknown
	record(a.must(t, 400, "POST", "/workspaces/"+ws.ID+"/sources", ws.Owner, `{"`+ws.Member+`":1}`)) // a secret pasted as a field name
	record(a.must(t, 404, "GET", "/workspaces/"+ws.ID+"/sources/"+phi.NewID(phi.PrefixSource), ws.Member, ""))
	// Secrets pasted into fields whose bad values the 422 quotes back.
	record(a.must(t, 422, "POST", "/workspaces/"+ws.ID+"/destinations", ws.Owner,
		`{"sourceId":"`+ws.Source+`","name":"x","type":"`+ws.Member+`","settings":{"url":"https://x.example/h"}}`))
	record(a.must(t, 422, "POST", "/workspaces/"+ws.ID+"/privacy/matchers", ws.Owner,
		`{"name":"x","classification":"`+ws.Member+`","target":"`+ws.Owner+`","mode":"`+ws.Readonly+`","synonyms":["x"]}`))
	record(a.must(t, 422, "PUT", "/workspaces/"+ws.ID+"/privacy/classifications", ws.Owner,
		`{"classifications":[{"path":"`+ws.Member+`","classification":"`+ws.Owner+`"}]}`))
	var dst DestinationView
	a.must(t, 200, "GET", "/workspaces/"+ws.ID+"/destinations/"+ws.Destination, ws.Owner, "").json(t, &dst)
	record(a.must(t, 422, "PUT", "/workspaces/"+ws.ID+"/destinations/"+ws.Destination+"/hashing", ws.Owner,
		`{"enabled":false,"fields":[{"path":"traits.email","treatment":"`+ws.Member+`"}]}`, "If-Match", ETag(dst.Version)))
	record(a.must(t, 403, "GET", "/workspaces/"+ws.ID+"/audit", ws.Readonly, ""))
	record(a.must(t, 200, "GET", "/workspaces/"+ws.ID+"/audit?limit=100", ws.Owner, ""))
	record(a.must(t, 200, "GET", "/operator/workspaces/"+ws.ID, testOperatorSecret, ""))

	for _, r := range later {
		for _, s := range secrets {
			if strings.Contains(r.Body, s) || strings.Contains(r.Body, s[:20]) {
				t.Errorf("a response after creation contains a token: %d %s", r.Status, r.Body)
			}
			for k, vs := range r.Header {
				for _, v := range vs {
					if strings.Contains(v, s) {
						t.Errorf("header %s contains a token", k)
					}
				}
			}
		}
	}
	logs := a.logs.String()
	if !strings.Contains(logs, `"route"`) {
		t.Fatalf("no access log captured: %q", logs)
	}
	for _, s := range append(secrets, testOperatorSecret) {
		if strings.Contains(logs, s) || strings.Contains(logs, phi.HashToken(s)) {
			t.Errorf("the logs contain a token or its hash")
		}
	}
	recs, _, err := a.store.ListAudit(context.Background(), ws.ID, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), phi.Page{Limit: 100})
	if err != nil || len(recs) == 0 {
		t.Fatalf("audit records: %d, %v", len(recs), err)
	}
	for _, r := range recs {
		for _, s := range secrets {
			if strings.Contains(fmt.Sprintf("%+v", r), s) {
				t.Errorf("audit record %s contains a token", r.ID)
			}
		}
	}
}

func TestTheLastActiveOwnerTokenCannotBeRevoked(t *testing.T) {
	a := newAPI(t)
	var created CreatedWorkspace
	a.must(t, 201, "POST", "/operator/workspaces", testOperatorSecret, `{"name":"Solo Clinic","tier":"team"}`).json(t, &created)
	base := "/workspaces/" + created.ID + "/tokens/"
	first := created.OwnerToken

	res := a.must(t, 409, "DELETE", base+first.ID, first.Secret, "")
	if !strings.Contains(res.Body, "last active owner token") {
		t.Fatalf("refusal does not say why: %s", res.Body)
	}

	var second CreatedToken
	a.must(t, 201, "POST", "/workspaces/"+created.ID+"/tokens", first.Secret, `{"name":"backup owner","role":"owner"}`).json(t, &second)
	a.must(t, 204, "DELETE", base+first.ID, second.Secret, "")
	a.must(t, 401, "GET", "/workspaces/"+created.ID, first.Secret, "")
	a.must(t, 409, "DELETE", base+second.ID, second.Secret, "")
	a.must(t, 200, "GET", "/workspaces/"+created.ID, second.Secret, "")
}

// Owners who lost every owner token get back in through an operator: the recovery owner token
// works at once as an owner's, lets them revoke the lost one, and the issue is audited in the
// workspace. A customer token cannot issue one.
func TestAnOperatorIssuesARecoveryOwnerToken(t *testing.T) {
	a := newAPI(t)
	ws := a.newWorkspace(t, "business", true)
	recover := "/operator/workspaces/" + ws.ID + "/owner-tokens"
	a.must(t, 401, "POST", recover, ws.Owner, `{"name":"recovery for Dana"}`)
	var created CreatedToken
	a.must(t, 201, "POST", recover, testOperatorSecret, `{"name":"recovery for Dana"}`).json(t, &created)
	if created.Role != phi.RoleOwner || !strings.HasPrefix(created.Secret, phi.TokenPrefix) {
		t.Fatalf("recovery token %+v", created.Token)
	}
	var toks List[phi.Token]
	a.must(t, 200, "GET", "/workspaces/"+ws.ID+"/tokens", created.Secret, "").json(t, &toks)
	for _, tok := range toks.Items {
		if tok.ID != created.ID && tok.Role == phi.RoleOwner {
			a.must(t, 204, "DELETE", "/workspaces/"+ws.ID+"/tokens/"+tok.ID, created.Secret, "")
		}
	}
	a.must(t, 401, "GET", "/workspaces/"+ws.ID, ws.Owner, "")
	var recs List[phi.AuditRecord]
	a.must(t, 200, "GET", "/workspaces/"+ws.ID+"/audit", created.Secret, "").json(t, &recs)
	found := false
	for _, r := range recs.Items {
		if r.Action == "token.recover" && r.Outcome == audit.OutcomeSuccess && r.Target == "workspace/"+ws.ID+"/tokens/"+created.ID {
			found = true
		}
	}
	if !found {
		t.Errorf("no token.recover success record naming the new token: %+v", recs.Items)
	}
}
