package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/phiguard/phiguard/shared/stack"
)

const eventsDir = "../../events"

// decodeAs decodes raw strictly into the aws-lambda-go type that function takes and returns
// the decoded value, so the samples and the functions' signatures cannot drift apart.
func decodeAs(t *testing.T, function string, raw []byte) any {
	t.Helper()
	var v any
	switch function {
	case stack.FunctionAuthorizer:
		v = &events.APIGatewayCustomAuthorizerRequestTypeRequest{}
	case stack.FunctionOperator, stack.FunctionConfig, stack.FunctionKeygen:
		v = &events.APIGatewayProxyRequest{}
	case stack.FunctionHashing, stack.FunctionDelivery:
		v = &events.SQSEvent{}
	default:
		t.Fatalf("no event type known for function %q", function)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("does not decode as %T: %v", v, err)
	}
	return v
}

func TestEverySampleDecodesIntoItsFunctionsEventType(t *testing.T) {
	m, err := LoadManifest(eventsDir)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, s := range m.Samples {
		t.Run(s.File, func(t *testing.T) {
			if !slices.Contains(stack.Functions, s.Function) {
				t.Fatalf("unknown function %q", s.Function)
			}
			if !json.Valid(s.Expect) {
				t.Fatal("expectation is not JSON")
			}
			raw, err := os.ReadFile(filepath.Join(eventsDir, s.File))
			if err != nil {
				t.Fatal(err)
			}
			ev := decodeAs(t, s.Function, raw)
			if sqs, ok := ev.(*events.SQSEvent); ok && len(sqs.Records) == 0 {
				t.Fatal("SQS sample has no records")
			}
		})
		listed[s.File] = true
	}

	files, err := filepath.Glob(filepath.Join(eventsDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		if name == "samples.json" || name == "env.json" {
			continue
		}
		if !listed[name] {
			t.Errorf("%s is not listed in events/samples.json", name)
		}
	}
	for _, fn := range stack.Functions {
		if len(m.For(fn)) == 0 {
			t.Errorf("function %s has no sample event", fn)
		}
	}
}

func TestEveryRouteHasASample(t *testing.T) {
	m, err := LoadManifest(eventsDir)
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, s := range m.Samples {
		raw, err := os.ReadFile(filepath.Join(eventsDir, s.File))
		if err != nil {
			t.Fatal(err)
		}
		if req, ok := decodeAs(t, s.Function, raw).(*events.APIGatewayProxyRequest); ok {
			covered[req.HTTPMethod+" "+req.Resource] = true
		}
	}
	for _, r := range stack.Routes {
		if !covered[r.Method+" "+r.Path] {
			t.Errorf("no sample event for %s %s", r.Method, r.Path)
		}
	}
}

func TestMatch(t *testing.T) {
	for _, tt := range []struct {
		name      string
		want, got string
		ok        bool
	}{
		{"a subset of an object matches", `{"statusCode":200}`, `{"statusCode":200,"body":"x"}`, true},
		{"a different value does not", `{"statusCode":200}`, `{"statusCode":500}`, false},
		{"a missing key does not", `{"statusCode":200}`, `{"body":"x"}`, false},
		{"arrays must have the same length", `{"a":[]}`, `{"a":[{"id":"1"}]}`, false},
		{"array elements match as subsets", `{"a":[{"Effect":"Allow"}]}`, `{"a":[{"Effect":"Allow","Action":"x"}]}`, true},
		{"a non-JSON response does not", `{}`, `oops`, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := Match(json.RawMessage(tt.want), json.RawMessage(tt.got))
			if (err == nil) != tt.ok {
				t.Fatalf("Match = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && strings.Contains(tt.got, "oops") && !strings.Contains(err.Error(), "not JSON") {
				t.Fatalf("error %q does not say the response is not JSON", err)
			}
		})
	}
}
