package httpapi

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/phiguard/phiguard/shared/workspace"
)

// The API refuses what encoding/json would accept but change: the stored value must be what the
// caller sent, or the request is refused with 400 naming the problem.
func TestBodiesThatJSONWouldQuietlyChangeAreRefused(t *testing.T) {
	a := newAPI(t)
	ws := a.newWorkspace(t, "business", true)
	srcs := "/workspaces/" + ws.ID + "/sources"
	for _, c := range []struct {
		name, body, says string
	}{
		{"invalid UTF-8", "{\"name\":\"\xff\xfe\"}", "UTF-8"},
		{"a lone high surrogate", `{"name":"a\ud800b"}`, "surrogate"},
		{"a lone low surrogate", `{"name":"a\udc00b"}`, "surrogate"},
		{"a high surrogate at the end of a string", `{"name":"ab\ud800"}`, "surrogate"},
		{"a member given twice", `{"name":"one","name":"two"}`, `appears twice`},
		{"a member given as null", `{"name":null}`, `must not be null`},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := a.must(t, 400, "POST", srcs, ws.Owner, c.body)
			if !strings.Contains(res.Body, c.says) {
				t.Errorf("message does not say %q: %s", c.says, res.Body)
			}
		})
	}
	t.Run("a valid surrogate pair and an escaped backslash pass", func(t *testing.T) {
		var src struct{ Name string }
		a.must(t, 201, "POST", srcs, ws.Owner, `{"name":"web \ud83d\ude00 \\ud800"}`).json(t, &src)
		if src.Name != "web 😀 \\ud800" {
			t.Errorf("stored name %q", src.Name)
		}
	})
}

// Content negotiation and query parameters are strict: a caller that accepts no JSON gets 406,
// a parameter given twice or empty gets 400 (the second value would be silently ignored), and
// every error the router answers itself carries a request id.
func TestNegotiationAndQueryParametersAreStrict(t *testing.T) {
	a := newAPI(t)
	ws := a.newWorkspace(t, "business", true)
	base := "/workspaces/" + ws.ID
	a.must(t, 406, "GET", base, ws.Owner, "", "Accept", "text/plain")
	a.must(t, 406, "GET", base, ws.Owner, "", "Accept", "application/json;q=0")
	for _, accept := range []string{"application/json", "*/*", "application/*", "text/plain, application/json;q=0.5"} {
		a.must(t, 200, "GET", base, ws.Owner, "", "Accept", accept)
	}
	a.must(t, 200, "GET", base+"/privacy/classifications", ws.Owner, "", "Accept", "text/csv")
	// The CSV export has no pages: page parameters with it are refused, not ignored (schemathesis).
	for _, q := range []string{"?limit=-1", "?limit=5", "?cursor=x"} {
		a.must(t, 400, "GET", base+"/privacy/classifications"+q, ws.Owner, "", "Accept", "text/csv")
	}
	a.must(t, 406, "GET", base+"/sources", ws.Owner, "", "Accept", "text/csv")

	for _, q := range []string{"?limit=1&limit=2", "?to=", "?from=&to=2025-01-01T00:00:00Z"} {
		res := a.must(t, 400, "GET", base+"/audit"+q, ws.Owner, "")
		if !strings.Contains(res.Body, "query parameter") {
			t.Errorf("%s: %s", q, res.Body)
		}
	}
	a.must(t, 200, "GET", base+"/sources?cursor=", ws.Owner, "") // an empty cursor is the first page

	for _, path := range []string{"/nowhere", base + "//sources"} {
		if res := a.do(t, "GET", path, ws.Owner, ""); res.Header.Get("X-Request-Id") == "" {
			t.Errorf("%s: %d without X-Request-Id", path, res.Status)
		}
	}
}

// A 204 carries the headers every response does; an audit query whose from lies after the
// default to says that to defaults to now; the default matchers' lists are arrays, never null.
func TestResponsesMatchTheirSchema(t *testing.T) {
	a := newAPI(t)
	ws := a.newWorkspace(t, "business", true)
	base := "/workspaces/" + ws.ID
	var src struct{ ID string }
	a.must(t, 201, "POST", base+"/sources", ws.Member, `{"name":"spare"}`).json(t, &src)
	res := a.must(t, 204, "DELETE", base+"/sources/"+src.ID, ws.Member, "")
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("204 Cache-Control = %q", res.Header.Get("Cache-Control"))
	}
	res = a.must(t, 422, "GET", base+"/audit?from=2999-01-01T00:00:00Z", ws.Owner, "")
	if !strings.Contains(res.Body, "to defaults to now") {
		t.Errorf("the message does not explain the default to: %s", res.Body)
	}
	res = a.must(t, 200, "GET", base+"/privacy/matchers", ws.Owner, "")
	if strings.Contains(res.Body, "null") {
		t.Errorf("matchers carry null: %s", res.Body)
	}
	var list workspace.MatcherList
	res.json(t, &list)
	if len(list.Defaults) == 0 {
		t.Fatal("no default matchers")
	}
}

// A whole number written with a fraction or an exponent is an integer to JSON Schema, so an
// integer field takes it; a fraction is still refused.
func TestIntegralNumbersAreIntegers(t *testing.T) {
	for in, want := range map[string]string{
		`{"rsaBits":3072.0}`:          `{"rsaBits":3072}`,
		`{"a":[1e3,0.5,{"b":-2.00}]}`: `{"a":[1000,0.5,{"b":-2}]}`,
		`{"s":"1.0","n":7}`:           `{"s":"1.0","n":7}`,
		`not json`:                    `not json`,
	} {
		if got := strings.TrimSpace(string(integralNumbers([]byte(in)))); got != want {
			var a, b any
			_ = json.Unmarshal([]byte(got), &a)
			_ = json.Unmarshal([]byte(want), &b)
			if !reflect.DeepEqual(a, b) || a == nil && got != want {
				t.Errorf("%s -> %s, want %s", in, got, want)
			}
		}
	}
}
