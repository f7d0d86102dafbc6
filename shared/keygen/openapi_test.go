package keygen_test

import (
	"encoding/json"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/phiguard/phiguard/shared/httpapi"
	"github.com/phiguard/phiguard/shared/keygen"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

// openAPISchema is the part of a JSON schema this test reads.
type openAPISchema struct {
	Ref                  string                   `json:"$ref"`
	AdditionalProperties any                      `json:"additionalProperties"` // false, true or a schema
	Properties           map[string]openAPISchema `json:"properties"`
	AllOf                []openAPISchema          `json:"allOf"`
}

type openAPIOperation struct {
	Parameters []struct {
		Ref      string `json:"$ref"`
		Name     string `json:"name"`
		In       string `json:"in"`
		Required bool   `json:"required"`
		Schema   struct {
			MinLength int    `json:"minLength"`
			MaxLength int    `json:"maxLength"`
			Pattern   string `json:"pattern"`
		} `json:"schema"`
	} `json:"parameters"`
	RequestBody *struct {
		Required bool `json:"required"`
		Content  map[string]struct {
			Schema openAPISchema `json:"schema"`
		} `json:"content"`
	} `json:"requestBody"`
	Responses map[string]struct {
		Content map[string]struct {
			Schema openAPISchema `json:"schema"`
		} `json:"content"`
		Ref     string                     `json:"$ref"`
		Headers map[string]json.RawMessage `json:"headers"`
	} `json:"responses"`
}

type openAPIDoc struct {
	Paths      map[string]map[string]openAPIOperation `json:"paths"`
	Components struct {
		Schemas map[string]openAPISchema `json:"schemas"`
	} `json:"components"`
}

// resolve follows a component $ref.
func (d *openAPIDoc) resolve(t *testing.T, s openAPISchema) openAPISchema {
	t.Helper()
	if s.Ref == "" {
		return s
	}
	name, ok := strings.CutPrefix(s.Ref, "#/components/schemas/")
	r, found := d.Components.Schemas[name]
	if !ok || !found {
		t.Fatalf("unresolved $ref %s", s.Ref)
	}
	return r
}

// properties returns the sorted property names of s, through $ref and allOf.
func (d *openAPIDoc) properties(t *testing.T, s openAPISchema) []string {
	t.Helper()
	s = d.resolve(t, s)
	names := slices.Collect(maps.Keys(s.Properties))
	for _, part := range s.AllOf {
		names = append(names, d.properties(t, part)...)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// jsonMembers returns the sorted JSON member names of struct type typ, embedded structs included.
func jsonMembers(typ reflect.Type) []string {
	var names []string
	for f := range typ.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-":
			continue
		case f.Anonymous && name == "":
			names = append(names, jsonMembers(f.Type)...)
			continue
		case name == "":
			name = f.Name
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// docs/openapi.json describes the keygen routes as the handlers serve them: each request body
// lists exactly the members its request struct decodes (and is optional where the handler
// accepts no body), each 201 names exactly the members its response struct encodes, secrets are
// sent with Cache-Control: no-store and Pragma: no-cache, an import answers with Location, and
// every POST takes an optional Idempotency-Key header — the generate routes with their own 400,
// 409 and 422.
func TestOpenAPIDescribesTheKeygenRoutes(t *testing.T) {
	raw, err := os.ReadFile("../../docs/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc openAPIDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("docs/openapi.json: %v", err)
	}
	const dst = "/workspaces/{workspaceId}/destinations/{destinationId}"
	routes := []struct {
		key          string
		request      any // nil: no body
		optional     bool
		created      any // the 201 body; nil: no 201
		secret       bool
		wantLocation bool
		idempotent   bool // takes Idempotency-Key (the generate routes read it; the router reads the others')
		ok           any  // the 200 body whose members are checked; nil: not checked
	}{
		{"GET " + dst + "/keys", nil, false, nil, false, false, false, nil},
		{"POST " + dst + "/keys", keygen.GenerateRequest{}, true, httpapi.GeneratedKey{}, true, false, true, nil},
		{"POST " + dst + "/keys/import", keygen.ImportRequest{}, false, httpapi.GeneratedKey{}.Key, false, true, true, nil},
		{"POST " + dst + "/keys/{keyId}/revoke", nil, false, nil, false, false, true, httpapi.RevokedKey{}},
		{"POST " + dst + "/keys/{keyId}/activate", nil, false, nil, false, false, true, phi.Key{}},
		{"POST " + dst + "/hmac-keys", keygen.HMACRequest{}, true, httpapi.GeneratedHMACKey{}, true, false, true, nil},
	}
	seen := map[string]bool{}
	for _, rc := range routes {
		seen[rc.key] = true
		t.Run(rc.key, func(t *testing.T) {
			method, path, _ := strings.Cut(rc.key, " ")
			op, ok := doc.Paths[path][strings.ToLower(method)]
			if !ok {
				t.Fatal("not documented")
			}
			switch {
			case rc.request == nil && op.RequestBody != nil:
				t.Error("documents a body the handler does not read")
			case rc.request != nil && op.RequestBody == nil:
				t.Error("documents no body; the handler reads one")
			case rc.request != nil:
				if op.RequestBody.Required == rc.optional {
					t.Errorf("requestBody.required = %v; the body is optional: %v", op.RequestBody.Required, rc.optional)
				}
				s := doc.resolve(t, op.RequestBody.Content["application/json"].Schema)
				if s.AdditionalProperties != false {
					t.Error("the body schema does not refuse unknown members, as the handler does")
				}
				if got, want := doc.properties(t, s), jsonMembers(reflect.TypeOf(rc.request)); !slices.Equal(got, want) {
					t.Errorf("body members documented %v, decoded %v", got, want)
				}
			}
			idem := false
			for _, p := range op.Parameters {
				if p.Name != httpapi.IdempotencyKeyHeader {
					continue
				}
				idem = true
				if p.In != "header" || p.Required || p.Schema.MinLength != 1 || p.Schema.MaxLength != keygen.MaxIdempotencyKeyLen || p.Schema.Pattern == "" {
					t.Errorf("Idempotency-Key is documented as %+v; want an optional header of 1 to %d printable characters", p, keygen.MaxIdempotencyKeyLen)
				}
			}
			if idem != rc.idempotent {
				t.Errorf("documents Idempotency-Key: %v, want %v", idem, rc.idempotent)
			}
			if rc.idempotent && rc.secret {
				for _, code := range []string{"400", "409", "422"} {
					if r, ok := op.Responses[code]; !ok || r.Ref != "" {
						t.Errorf("response %s: documented %v, own description (not a shared $ref) %v; want one saying what Idempotency-Key does", code, ok, r.Ref == "")
					}
				}
			}
			if rc.ok != nil {
				if got, want := doc.properties(t, op.Responses["200"].Content["application/json"].Schema), jsonMembers(reflect.TypeOf(rc.ok)); !slices.Equal(got, want) {
					t.Errorf("200 members documented %v, encoded %v", got, want)
				}
			}
			if rc.created == nil {
				return
			}
			created, ok := op.Responses["201"]
			if !ok {
				t.Fatal("no 201 response")
			}
			if got, want := doc.properties(t, created.Content["application/json"].Schema), jsonMembers(reflect.TypeOf(rc.created)); !slices.Equal(got, want) {
				t.Errorf("201 members documented %v, encoded %v", got, want)
			}
			for header, want := range map[string]bool{"Cache-Control": rc.secret, "Pragma": rc.secret, "Location": rc.wantLocation} {
				if _, ok := created.Headers[header]; ok != want {
					t.Errorf("201 documents %s: %v, want %v", header, ok, want)
				}
			}
		})
	}
	for _, rt := range stack.Routes {
		if rt.Function == stack.FunctionKeygen && !seen[rt.Key()] {
			t.Errorf("keygen route %s is not checked here", rt.Key())
		}
	}
}
