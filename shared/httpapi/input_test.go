package httpapi

import (
	"strings"
	"testing"

	"github.com/phiguard/phiguard/shared/stack"
)

// wrongTypes are bodies with one field of the wrong JSON type, per route with a body; the
// field named is the one the 400 must name.
var wrongTypes = map[string][2]string{
	"POST /operator/workspaces":                                                         {`{"name":[]}`, "name"},
	"PUT /operator/workspaces/{workspaceId}/plan":                                       {`{"tier":3}`, "tier"},
	"POST /operator/workspaces/{workspaceId}/owner-tokens":                              {`{"name":7}`, "name"},
	"POST /operator/workspaces/{workspaceId}/reopen":                                    {`{"name":7}`, "name"},
	"POST /operator/workspaces/{workspaceId}/close":                                     {`{"reason":false}`, "reason"},
	"POST /workspaces/{workspaceId}/tokens":                                             {`{"name":"x","role":1}`, "role"},
	"POST /workspaces/{workspaceId}/sources":                                            {`{"name":true}`, "name"},
	"PUT /workspaces/{workspaceId}/sources/{sourceId}":                                  {`{"name":{}}`, "name"},
	"POST /workspaces/{workspaceId}/destinations":                                       {`{"enabled":"yes"}`, "enabled"},
	"PUT /workspaces/{workspaceId}/destinations/{destinationId}":                        {`{"settings":{"url":5}}`, "settings.url"},
	"PUT /workspaces/{workspaceId}/destinations/{destinationId}/hashing":                {`{"enabled":"yes"}`, "enabled"},
	"POST /workspaces/{workspaceId}/destinations/{destinationId}/signing-secret/rotate": {`{"overlapSeconds":"1d"}`, "overlapSeconds"},
	"POST /workspaces/{workspaceId}/privacy/matchers":                                   {`{"patterns":"x"}`, "patterns"},
	"PUT /workspaces/{workspaceId}/privacy/classifications":                             {`{"classifications":[{"path":1}]}`, "classifications.path"},
}

// brokenRules are well-formed bodies that break a rule, per route with a body; the field named
// is the one the 422 must name.
var brokenRules = map[string][2]string{
	"POST /operator/workspaces":                                                         {`{"name":""}`, "name"},
	"PUT /operator/workspaces/{workspaceId}/plan":                                       {`{"tier":"gold","baa":{"signed":false}}`, "tier"},
	"POST /operator/workspaces/{workspaceId}/owner-tokens":                              {`{"name":""}`, "name"},
	"POST /operator/workspaces/{workspaceId}/reopen":                                    {`{"name":" padded "}`, "name"},
	"POST /operator/workspaces/{workspaceId}/close":                                     {`{"reason":""}`, "reason"},
	"POST /workspaces/{workspaceId}/tokens":                                             {`{"name":"x","role":"admin"}`, "role"},
	"POST /workspaces/{workspaceId}/sources":                                            {`{"name":" padded "}`, "name"},
	"PUT /workspaces/{workspaceId}/sources/{sourceId}":                                  {`{"name":""}`, "name"},
	"POST /workspaces/{workspaceId}/destinations":                                       {`{"sourceId":"SRC","name":"x","type":"webhook","settings":{"url":"http://x.example/h"}}`, "settings.url"},
	"PUT /workspaces/{workspaceId}/destinations/{destinationId}":                        {`{"sourceId":"SRC","name":"x","type":"ftp"}`, "type"},
	"PUT /workspaces/{workspaceId}/destinations/{destinationId}/hashing":                {`{"enabled":false,"fields":[{"path":"email","treatment":"sha256"}]}`, "fields[0].path"},
	"POST /workspaces/{workspaceId}/destinations/{destinationId}/signing-secret/rotate": {`{"overlapSeconds":604801}`, "overlapSeconds"},
	"POST /workspaces/{workspaceId}/privacy/matchers":                                   {`{"name":"x","classification":"purple","target":"key","mode":"exact","synonyms":["x"]}`, "classification"},
	"PUT /workspaces/{workspaceId}/privacy/classifications":                             {`{"classifications":[{"path":"traits.email","classification":"blue"}]}`, "classifications[0].classification"},
}

// Every route that takes a body refuses unknown fields, wrong types, oversize bodies and
// non-JSON with 400/413 naming the problem, and a well-formed body that breaks a rule with 422
// naming the field; every route with a path id refuses a malformed id
// with 400 naming the parameter; unknown and non-canonical paths get a JSON 404/400.
func TestBadInputIsRefusedOnEveryRoute(t *testing.T) {
	a := newAPI(t)
	ws := a.newWorkspace(t, "business", true)
	ids := map[string]string{"sourceId": ws.Source, "destinationId": ws.Destination}
	tokenFor := func(rt stack.Route) string {
		if rt.Auth == stack.AuthOperator {
			return testOperatorSecret
		}
		return ws.Owner
	}
	for _, rt := range stack.Routes {
		key := rt.Key()
		path := fill(rt.Path, ws.ID, ids)
		tok := tokenFor(rt)
		if wt, ok := wrongTypes[key]; ok {
			t.Run(key+"/unknown field", func(t *testing.T) {
				res := a.must(t, 400, rt.Method, path, tok, `{"nmae":"typo"}`, "If-Match", `"1"`)
				_, msg, det := decodeErr(t, []byte(res.Body))
				if det["field"] != "nmae" || !strings.Contains(msg, "nmae") {
					t.Errorf("error does not name the unknown field: %s", res.Body)
				}
			})
			t.Run(key+"/wrong type", func(t *testing.T) {
				res := a.must(t, 400, rt.Method, path, tok, wt[0], "If-Match", `"1"`)
				if _, _, det := decodeErr(t, []byte(res.Body)); det["field"] != wt[1] {
					t.Errorf("error names %v, want %q: %s", det["field"], wt[1], res.Body)
				}
			})
			t.Run(key+"/oversize body", func(t *testing.T) {
				res := a.must(t, 413, rt.Method, path, tok, `{"name":"`+strings.Repeat("a", MaxBodyBytes)+`"}`, "If-Match", `"1"`)
				if res.errCode(t) != "too_large" {
					t.Errorf("body = %s", res.Body)
				}
			})
			t.Run(key+"/not JSON", func(t *testing.T) {
				a.must(t, 400, rt.Method, path, tok, `name=web`, "If-Match", `"1"`)
			})
			t.Run(key+"/empty body", func(t *testing.T) {
				if optionalBody[key] {
					return // an empty body takes the defaults: tested with the route
				}
				a.must(t, 400, rt.Method, path, tok, ``, "If-Match", `"1"`)
			})
			t.Run(key+"/broken rule", func(t *testing.T) {
				br, ok := brokenRules[key]
				if !ok {
					t.Fatalf("no broken-rule body for %s", key)
				}
				var headers []string
				if ifMatchRoutes[key] {
					headers = []string{"If-Match", currentETag(t, a, path, tok)}
				}
				res := a.must(t, 422, rt.Method, path, tok, strings.ReplaceAll(br[0], "SRC", ws.Source), headers...)
				if res.errCode(t) != "invalid" || !strings.Contains(res.Body, `"field":"`+br[1]+`"`) {
					t.Errorf("422 does not name %s: %s", br[1], res.Body)
				}
			})
			t.Run(key+"/null body", func(t *testing.T) {
				a.must(t, 400, rt.Method, path, tok, `null`, "If-Match", `"1"`)
			})
		} else if rt == stack.RouteTestDestination {
			t.Run(key+"/a body", func(t *testing.T) {
				if res := a.must(t, 400, rt.Method, path, tok, `{"dryRun":true}`); !strings.Contains(res.Body, "takes no request body") {
					t.Errorf("body = %s", res.Body)
				}
			})
		} else if rt.Method != "GET" && rt.Method != "DELETE" && rt.Function != stack.FunctionKeygen && rt != stack.RouteReplayDeadLetters && rt != stack.RoutePurgeWorkspace { // the replay and the purge take no body
			t.Errorf("route %s takes a body but has no bad-input case", key)
		}
		for _, param := range params(rt.Path) {
			if rt.Function == stack.FunctionKeygen && param != "workspaceId" {
				continue // the keygen handlers validate their own ids
			}
			t.Run(key+"/bad "+param, func(t *testing.T) {
				bad := map[string]string{"sourceId": ws.Source, "destinationId": ws.Destination}
				p := strings.ReplaceAll(rt.Path, "{"+param+"}", "not-an-id")
				p = fill(p, ws.ID, bad)
				res := a.must(t, 400, rt.Method, p, tok, validBodyFor(rt, ws.Source), "If-Match", `"1"`)
				if _, _, det := decodeErr(t, []byte(res.Body)); det["parameter"] != param {
					t.Errorf("error names %v, want %s: %s", det["parameter"], param, res.Body)
				}
			})
		}
		t.Run(key+"/extra segment", func(t *testing.T) {
			res := a.must(t, 404, rt.Method, path+"/extra/extra/extra", tok, "")
			if res.errCode(t) != "not_found" {
				t.Errorf("body = %s", res.Body)
			}
		})
		t.Run(key+"/trailing slash", func(t *testing.T) {
			a.must(t, 400, rt.Method, path+"/", tok, "")
		})
		t.Run(key+"/dot segment", func(t *testing.T) {
			a.must(t, 400, rt.Method, strings.Replace(path, "/", "/./", 2), tok, "")
		})
	}
	t.Run("wrong method", func(t *testing.T) {
		res := a.must(t, 405, "PATCH", "/workspaces/"+ws.ID+"/sources", ws.Owner, `{}`)
		if !strings.Contains(res.Header.Get("Allow"), "POST") {
			t.Errorf("Allow = %q", res.Header.Get("Allow"))
		}
	})
	t.Run("unknown path", func(t *testing.T) {
		a.must(t, 404, "GET", "/nothing/here", ws.Owner, "")
	})
}

// optionalBody are the routes whose every body member has a default, so an empty body is
// accepted.
var optionalBody = map[string]bool{stack.RouteRotateSigningSecret.Key(): true}

func params(path string) []string {
	var out []string
	for _, seg := range strings.Split(path, "/") {
		if strings.HasPrefix(seg, "{") {
			out = append(out, strings.Trim(seg, "{}"))
		}
	}
	return out
}

func validBodyFor(rt stack.Route, src string) string {
	return strings.ReplaceAll(validBodies[rt.Key()], "SRC", src)
}
