package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
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
	case stack.FunctionOperator, stack.FunctionConfig, stack.FunctionKeygen, stack.FunctionConsole:
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

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		name string
		xs   []float64
		want float64
	}{
		{"no samples give zero", nil, 0},
		{"an odd count gives the middle value", []float64{9, 1, 5}, 5},
		{"an even count gives the mean of the middle two", []float64{4, 1, 9, 2}, 3},
		{"one outlier does not move it", []float64{5, 5, 50}, 5},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := median(tt.xs); got != tt.want {
				t.Errorf("median(%v) = %v, want %v", tt.xs, got, tt.want)
			}
		})
	}
}

func TestReportComparesMediansWithTheBaselineAndMarksTheOnesOverTarget(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{baseline, "fast", "slow"} {
		p := bootstrapPath(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, 1<<20), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	err := report(&out, dir, []string{baseline, "fast", "slow"}, map[string][]float64{
		baseline: {4, 5, 40}, // median 5: the outlier does not count
		"fast":   {9, 8, 10}, // 9/5 = 1.80
		"slow":   {11, 12, 13},
	})
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]string{}
	for _, l := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			lines[f[0]] = l
		}
	}
	for name, want := range map[string]*regexp.Regexp{
		"minimal": regexp.MustCompile(`\s5\.00\s+4\.0–40\.0\s+1\.00$`),
		"fast":    regexp.MustCompile(`\s9\.00\s+8\.0–10\.0\s+1\.80$`),
		"slow":    regexp.MustCompile(`\s12\.00\s+11\.0–13\.0\s+2\.40 over$`),
	} {
		if !want.MatchString(lines[name]) {
			t.Errorf("%s line %q does not match %s\n%s", name, lines[name], want, out.String())
		}
	}
	if !strings.Contains(out.String(), "median of 3 cold starts") {
		t.Errorf("the report does not say how many cold starts it measured:\n%s", out.String())
	}
}
