package httpapi

import (
	"encoding/json"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/phiguard/phiguard/shared/catalog"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
	"github.com/phiguard/phiguard/shared/workspace"
)

type openAPIDoc struct {
	OpenAPI    string                          `json:"openapi"`
	Paths      map[string]map[string]openAPIOp `json:"paths"`
	Components struct {
		Schemas         map[string]json.RawMessage `json:"schemas"`
		Responses       map[string]json.RawMessage `json:"responses"`
		SecuritySchemes map[string]json.RawMessage `json:"securitySchemes"`
	} `json:"components"`
}

type openAPIOp struct {
	OperationID string                `json:"operationId"`
	Security    []map[string][]string `json:"security"`
	Parameters  []struct {
		Name     string `json:"name"`
		In       string `json:"in"`
		Required bool   `json:"required"`
	} `json:"parameters"`
	RequestBody *json.RawMessage           `json:"requestBody"`
	Responses   map[string]json.RawMessage `json:"responses"`
	Function    string                     `json:"x-phiguard-function"`
}

func loadOpenAPI(t *testing.T) (openAPIDoc, []byte) {
	t.Helper()
	raw, err := os.ReadFile("../../docs/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc openAPIDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("docs/openapi.json is not valid JSON: %v", err)
	}
	return doc, raw
}

// The OpenAPI document and stack.Routes describe the same routes, in both directions, with the
// same authorization and function.
func TestOpenAPIDescribesExactlyTheRoutes(t *testing.T) {
	doc, raw := loadOpenAPI(t)
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	inRoutes := map[string]bool{}
	for _, rt := range stack.Routes {
		inRoutes[rt.Key()] = true
		op, ok := doc.Paths[rt.Path][strings.ToLower(rt.Method)]
		if !ok {
			t.Errorf("%s is in stack.Routes but not in docs/openapi.json", rt.Key())
			continue
		}
		wantScheme := "bearer"
		if rt.Auth == stack.AuthOperator {
			wantScheme = "sigv4"
		}
		if len(op.Security) != 1 || op.Security[0][wantScheme] == nil {
			t.Errorf("%s: security %v, want %s", rt.Key(), op.Security, wantScheme)
		}
		if op.Function != rt.Function {
			t.Errorf("%s: x-phiguard-function %q, want %q", rt.Key(), op.Function, rt.Function)
		}
		for _, p := range regexp.MustCompile(`\{(\w+)\}`).FindAllStringSubmatch(rt.Path, -1) {
			if !slices.ContainsFunc(op.Parameters, func(q struct {
				Name     string `json:"name"`
				In       string `json:"in"`
				Required bool   `json:"required"`
			}) bool {
				return q.Name == p[1] && q.In == "path" && q.Required
			}) {
				t.Errorf("%s: path parameter %s is not declared", rt.Key(), p[1])
			}
		}
		_, has412 := op.Responses["412"]
		_, has428 := op.Responses["428"]
		if declared := strings.Contains(string(mustJSON(op.Parameters)), `"If-Match"`); declared != ifMatchRoutes[rt.Key()] || has412 != declared || has428 != declared {
			t.Errorf("%s: If-Match declared %v, 412 documented %v, 428 documented %v; the handler needs If-Match: %v", rt.Key(), declared, has412, has428, ifMatchRoutes[rt.Key()])
		}
		// The functions' own statuses, and what API Gateway and its web ACL answer on any route.
		for _, code := range append([]string{"400", "401", "404", "406", "500", "5XX"}, stack.GatewayStatuses()...) {
			if _, ok := op.Responses[code]; !ok {
				t.Errorf("%s: no %s response", rt.Key(), code)
			}
		}
		if rt.Auth == stack.AuthToken {
			if _, ok := op.Responses["403"]; !ok {
				t.Errorf("%s: no 403 response", rt.Key())
			}
		}
		if op.RequestBody != nil {
			for _, code := range []string{"413", "422"} {
				if _, ok := op.Responses[code]; !ok {
					t.Errorf("%s: takes a body but has no %s response", rt.Key(), code)
				}
			}
		}
	}
	for path, methods := range doc.Paths {
		for method := range methods {
			if key := strings.ToUpper(method) + " " + path; !inRoutes[key] {
				t.Errorf("docs/openapi.json describes %s, which is not in stack.Routes", key)
			}
		}
	}
	// Every $ref resolves.
	for _, m := range regexp.MustCompile(`"\$ref": "#/components/(\w+)/(\w+)"`).FindAllStringSubmatch(string(raw), -1) {
		var ok bool
		switch m[1] {
		case "schemas":
			_, ok = doc.Components.Schemas[m[2]]
		case "responses":
			_, ok = doc.Components.Responses[m[2]]
		case "headers":
			ok = strings.Contains(string(raw), `"`+m[2]+`": {`)
		}
		if !ok {
			t.Errorf("unresolved $ref #/components/%s/%s", m[1], m[2])
		}
	}
}

// Routes that return a secret once are documented as such, with Cache-Control: no-store, and
// the key-generation routes also with Pragma: no-cache, as shared/keygen sends them.
func TestOpenAPIDocumentsSecretsShownOnce(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	const dst = "/workspaces/{workspaceId}/destinations/{destinationId}"
	for _, c := range []struct {
		key    string
		schema string
		pragma bool
		status string // "201" when empty
	}{
		{"POST /operator/workspaces", "CreatedWorkspace", false, ""},
		{"POST /workspaces/{workspaceId}/tokens", "CreatedToken", false, ""},
		{"POST " + dst + "/keys", "GeneratedKey", true, ""},
		{"POST " + dst + "/hmac-keys", "GeneratedHMACKey", true, ""},
		{"POST /workspaces/{workspaceId}/destinations", "CreatedDestination", true, ""},
		{"POST " + dst + "/signing-secret/rotate", "RotatedSigningSecret", true, "200"},
	} {
		method, path, _ := strings.Cut(c.key, " ")
		op := doc.Paths[path][strings.ToLower(method)]
		if c.status == "" {
			c.status = "201"
		}
		created := string(op.Responses[c.status])
		if !strings.Contains(created, "once") || !strings.Contains(created, "NoStore") {
			t.Errorf("%s: 201 does not say the secret is shown once with no-store: %s", c.key, created)
		}
		if !strings.Contains(created, `"#/components/schemas/`+c.schema+`"`) {
			t.Errorf("%s: 201 is not a %s: %s", c.key, c.schema, created)
		}
		if c.pragma && !strings.Contains(created, "NoCache") {
			t.Errorf("%s: 201 does not document Pragma: no-cache: %s", c.key, created)
		}
	}
	if !strings.Contains(string(doc.Components.Schemas["GeneratedKey"]), `"privateKey"`) {
		t.Error("GeneratedKey has no privateKey")
	}
	if !strings.Contains(string(doc.Components.Schemas["GeneratedHMACKey"]), `"secret"`) {
		t.Error("GeneratedHMACKey has no secret")
	}
	for _, name := range []string{"CreatedDestination", "RotatedSigningSecret"} {
		if !strings.Contains(string(doc.Components.Schemas[name]), `"signingSecret"`) {
			t.Errorf("%s has no signingSecret", name)
		}
	}
	imported := string(doc.Paths[dst+"/keys/import"]["post"].Responses["201"])
	if !strings.Contains(imported, `"Location"`) {
		t.Errorf("import: 201 does not document Location: %s", imported)
	}
}

// requestSchemas names the request struct of every route of this package that takes a body.
var requestSchemas = map[string]any{
	"POST /operator/workspaces":                                                         workspace.NewWorkspace{},
	"PUT /operator/workspaces/{workspaceId}/plan":                                       workspace.Plan{},
	"POST /operator/workspaces/{workspaceId}/owner-tokens":                              workspace.RecoveryToken{},
	"POST /operator/workspaces/{workspaceId}/reopen":                                    workspace.RecoveryToken{},
	"POST /operator/workspaces/{workspaceId}/close":                                     workspace.Closing{},
	"POST /workspaces/{workspaceId}/tokens":                                             workspace.TokenInput{},
	"POST /workspaces/{workspaceId}/sources":                                            workspace.SourceInput{},
	"PUT /workspaces/{workspaceId}/sources/{sourceId}":                                  workspace.SourceInput{},
	"POST /workspaces/{workspaceId}/destinations":                                       workspace.DestinationInput{},
	"PUT /workspaces/{workspaceId}/destinations/{destinationId}":                        workspace.DestinationInput{},
	"PUT /workspaces/{workspaceId}/destinations/{destinationId}/hashing":                phi.HashingSettings{},
	"POST /workspaces/{workspaceId}/destinations/{destinationId}/signing-secret/rotate": workspace.RotateRequest{},
	"POST /workspaces/{workspaceId}/privacy/matchers":                                   workspace.MatcherInput{},
	"PUT /workspaces/{workspaceId}/privacy/classifications":                             classificationsRequest{},
}

// The request body schema of every config and operator route lists exactly the JSON members its
// request struct decodes (Decode refuses unknown fields, so a member documented but not decoded
// would be refused, and one decoded but not documented would be unknown to clients).
func TestOpenAPIRequestBodiesMatchTheRequestStructs(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	for _, rt := range stack.Routes {
		if rt.Function == stack.FunctionKeygen {
			continue // shared/keygen checks its own
		}
		key := rt.Key()
		op := doc.Paths[rt.Path][strings.ToLower(rt.Method)]
		v, ok := requestSchemas[key]
		if (op.RequestBody != nil) != ok {
			t.Errorf("%s: documented body %v, request struct %v", key, op.RequestBody != nil, ok)
			continue
		}
		if !ok {
			continue
		}
		documented, closed := requestProperties(t, doc, *op.RequestBody)
		if !closed {
			t.Errorf("%s: the body schema does not say additionalProperties: false", key)
		}
		if want := jsonMembers(reflect.TypeOf(v)); !slices.Equal(documented, want) {
			t.Errorf("%s: documented members %v, the request struct decodes %v", key, documented, want)
		}
	}
}

// requestProperties returns the sorted property names of a request body's JSON schema (a $ref
// to components/schemas) and whether it refuses other properties.
func requestProperties(t *testing.T, doc openAPIDoc, body json.RawMessage) ([]string, bool) {
	t.Helper()
	var rb struct {
		Content map[string]struct {
			Schema struct {
				Ref string `json:"$ref"`
			} `json:"schema"`
		} `json:"content"`
	}
	if err := json.Unmarshal(body, &rb); err != nil {
		t.Fatal(err)
	}
	ref := rb.Content["application/json"].Schema.Ref
	name, ok := strings.CutPrefix(ref, "#/components/schemas/")
	if !ok {
		t.Fatalf("request body schema %q is not a component", ref)
	}
	var schema struct {
		AdditionalProperties *bool                      `json:"additionalProperties"`
		Properties           map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(doc.Components.Schemas[name], &schema); err != nil {
		t.Fatalf("schema %s: %v", name, err)
	}
	return slices.Sorted(maps.Keys(schema.Properties)), schema.AdditionalProperties != nil && !*schema.AdditionalProperties
}

// jsonMembers returns the sorted JSON member names encoding/json decodes into struct type typ.
func jsonMembers(typ reflect.Type) []string {
	var names []string
	for f := range typ.Fields() {
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
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

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// The OpenAPI document holds the catalog's settings schemas exactly (one *Settings schema per
// type), DestinationSettings has the members of all of them, and the type enums are the
// catalog's types.
func TestOpenAPIHoldsTheCatalogsSchemas(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	names := map[phi.DestinationType]string{
		phi.DestinationWebhook: "WebhookSettings", phi.DestinationS3: "S3Settings", phi.DestinationFirehose: "FirehoseSettings",
		phi.DestinationEventBridge: "EventBridgeSettings", phi.DestinationSQS: "SQSSettings",
	}
	union := map[string]bool{}
	for _, e := range catalog.Entries {
		name, ok := names[e.Type]
		if !ok {
			t.Fatalf("type %s has no schema name in this test", e.Type)
		}
		var got, want any
		if err := json.Unmarshal(doc.Components.Schemas[name], &got); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, _ := json.Marshal(e.Schema())
		_ = json.Unmarshal(b, &want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("components.schemas.%s differs from catalog's schema of %s:\n got %s\nwant %s", name, e.Type, doc.Components.Schemas[name], b)
		}
		for _, s := range e.Settings {
			union[s.Name] = true
		}
	}
	var settings struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	_ = json.Unmarshal(doc.Components.Schemas["DestinationSettings"], &settings)
	if got := slices.Sorted(maps.Keys(settings.Properties)); !slices.Equal(got, slices.Sorted(maps.Keys(union))) {
		t.Errorf("DestinationSettings has %v, the catalog's settings are %v", got, slices.Sorted(maps.Keys(union)))
	}
	var types []string
	for _, ty := range catalog.Types() {
		types = append(types, string(ty))
	}
	for _, schema := range []string{"Destination", "DestinationInput", "CatalogEntry"} {
		var s struct {
			Properties struct {
				Type struct {
					Enum []string `json:"enum"`
				} `json:"type"`
			} `json:"properties"`
		}
		_ = json.Unmarshal(doc.Components.Schemas[schema], &s)
		if !slices.Equal(s.Properties.Type.Enum, types) {
			t.Errorf("%s.type enum %v, want the catalog's %v", schema, s.Properties.Type.Enum, types)
		}
	}
}

// The error envelope's code is one of the vocabulary's, each documented: the status table's codes
// and the router's method_not_allowed, which API Gateway's and the web ACL's answers use too.
func TestOpenAPIListsEveryErrorCode(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	var errSchema struct {
		Properties struct {
			Error struct {
				Properties struct {
					Code struct {
						Enum []string `json:"enum"`
					} `json:"code"`
				} `json:"properties"`
			} `json:"error"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(doc.Components.Schemas["Error"], &errSchema); err != nil {
		t.Fatal(err)
	}
	want := append(slices.Collect(maps.Keys(statusOf)), "method_not_allowed")
	for _, g := range stack.GatewayResponses {
		if _, ok := statusOf[g.Code]; !ok {
			t.Errorf("gateway response %s answers code %q, which is not in the status table", g.Type, g.Code)
		}
	}
	got := errSchema.Properties.Error.Properties.Code.Enum
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("Error.code enum %v, want %v", got, want)
	}
}

// The document states the server's rules for names and If-Match exactly: every name of a request
// body has phi.CheckName's pattern and length, every If-Match IfMatchPattern.
func TestOpenAPIStatesTheNameAndIfMatchRules(t *testing.T) {
	doc, raw := loadOpenAPI(t)
	type str struct {
		MinLength int    `json:"minLength"`
		MaxLength int    `json:"maxLength"`
		Pattern   string `json:"pattern"`
	}
	names := map[string]string{
		"WorkspaceInput": "name", "TokenInput": "name", "SourceInput": "name", "DestinationInput": "name", "RecoveryToken": "name",
		"Closing": "reason", "Reopening": "name",
	}
	for schema, field := range names {
		var s struct {
			Properties map[string]str `json:"properties"`
		}
		if err := json.Unmarshal(doc.Components.Schemas[schema], &s); err != nil {
			t.Fatal(err)
		}
		if got := s.Properties[field]; got.Pattern != phi.NamePattern() || got.MinLength != 1 || got.MaxLength != phi.MaxNameLen {
			t.Errorf("%s.%s: %+v; want phi.NamePattern(), minLength 1, maxLength %d", schema, field, got, phi.MaxNameLen)
		}
	}
	if n := strings.Count(string(raw), `"pattern": `+string(mustJSON(phi.NamePattern()))); n < len(names)+2 {
		t.Errorf("the name pattern appears %d times; want every name, ownerTokenName and baa.signedBy", n)
	}
	var params struct {
		Paths map[string]map[string]struct {
			Parameters []struct {
				Name   string `json:"name"`
				Schema str    `json:"schema"`
			} `json:"parameters"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(raw, &params); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for path, ops := range params.Paths {
		for method, op := range ops {
			for _, p := range op.Parameters {
				if p.Name == "If-Match" {
					seen++
					if p.Schema.Pattern != IfMatchPattern {
						t.Errorf("%s %s: If-Match pattern %q, want %q", method, path, p.Schema.Pattern, IfMatchPattern)
					}
				}
			}
		}
	}
	if seen != len(ifMatchRoutes) {
		t.Errorf("%d If-Match parameters, want one per route of ifMatchRoutes (%d)", seen, len(ifMatchRoutes))
	}
	// ECMA-262's \uXXXX is Go's \x{XXXX}.
	ecma := regexp.MustCompile(regexp.MustCompile(`\\u([0-9a-f]{4})`).ReplaceAllString(phi.NamePattern(), `\x{$1}`))
	for _, c := range []struct {
		name string
		ok   bool
	}{{"Sample Clinic", true}, {"é 😀 🏴\U000E0067\U000E0062\U000E007F", true}, {" lead", false}, {"trail\u00a0", false}, {"a\u202eb", false}, {"a\x01b", false}, {"a\u2028b", false}} {
		if got := ecma.MatchString(c.name) && c.name != ""; got != c.ok || (phi.CheckName("n", c.name) == nil) != c.ok {
			t.Errorf("%q: pattern %v, CheckName %v; want both %v", c.name, got, phi.CheckName("n", c.name), c.ok)
		}
	}
}
