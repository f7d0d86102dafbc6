package httpapi

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/phiguard/phiguard/shared/stack"
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
		inRoutes[RouteKey(rt)] = true
		op, ok := doc.Paths[rt.Path][strings.ToLower(rt.Method)]
		if !ok {
			t.Errorf("%s is in stack.Routes but not in docs/openapi.json", RouteKey(rt))
			continue
		}
		wantScheme := "bearer"
		if rt.Auth == stack.AuthOperator {
			wantScheme = "sigv4"
		}
		if len(op.Security) != 1 || op.Security[0][wantScheme] == nil {
			t.Errorf("%s: security %v, want %s", RouteKey(rt), op.Security, wantScheme)
		}
		if op.Function != rt.Function {
			t.Errorf("%s: x-phiguard-function %q, want %q", RouteKey(rt), op.Function, rt.Function)
		}
		for _, p := range regexp.MustCompile(`\{(\w+)\}`).FindAllStringSubmatch(rt.Path, -1) {
			if !slices.ContainsFunc(op.Parameters, func(q struct {
				Name     string `json:"name"`
				In       string `json:"in"`
				Required bool   `json:"required"`
			}) bool {
				return q.Name == p[1] && q.In == "path" && q.Required
			}) {
				t.Errorf("%s: path parameter %s is not declared", RouteKey(rt), p[1])
			}
		}
		if rt.Method == "PUT" && !strings.Contains(string(mustJSON(op.Parameters)), `"If-Match"`) {
			t.Errorf("%s: If-Match is not declared", RouteKey(rt))
		}
		for _, code := range []string{"400", "401", "404", "500"} {
			if _, ok := op.Responses[code]; !ok {
				t.Errorf("%s: no %s response", RouteKey(rt), code)
			}
		}
		if rt.Auth == stack.AuthToken {
			if _, ok := op.Responses["403"]; !ok {
				t.Errorf("%s: no 403 response", RouteKey(rt))
			}
		}
		if op.RequestBody != nil {
			for _, code := range []string{"413", "422"} {
				if _, ok := op.Responses[code]; !ok {
					t.Errorf("%s: takes a body but has no %s response", RouteKey(rt), code)
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

// Routes that return a secret once are documented as such, with Cache-Control: no-store.
func TestOpenAPIDocumentsSecretsShownOnce(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	for _, key := range []string{"POST /operator/workspaces", "POST /workspaces/{workspaceId}/tokens", "POST /workspaces/{workspaceId}/destinations/{destinationId}/keys"} {
		method, path, _ := strings.Cut(key, " ")
		op := doc.Paths[path][strings.ToLower(method)]
		created := string(op.Responses["201"])
		if !strings.Contains(created, "once") || !strings.Contains(created, "NoStore") {
			t.Errorf("%s: 201 does not say the secret is shown once with no-store: %s", key, created)
		}
	}
	if !strings.Contains(string(doc.Components.Schemas["GeneratedKey"]), "privateKey") {
		t.Error("GeneratedKey has no privateKey")
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
