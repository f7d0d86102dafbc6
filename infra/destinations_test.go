package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"

	"github.com/phiguard/phiguard/shared/stack"
)

// Issue 16: only the delivery, config and console roles may call sts:AssumeRole (the senders,
// the API's and the console's destination test), only on the documented path, and nothing else
// reaches another account; the config and console functions, which show the access policies,
// name the three roles as their principals.
func TestOnlyDeliveryConfigAndConsoleAssumeCustomerRolesOnThePath(t *testing.T) {
	s := synth(t)
	config, console := s.svc.API.Functions[stack.FunctionConfig], s.svc.API.Functions[stack.FunctionConsole]
	assuming := []string{roleID(s, s.svc.Pipeline.Delivery.Role()), roleID(s, config.Role()), roleID(s, console.Role())}
	want := map[string]bool{}
	for _, r := range assuming {
		want[`[{"Ref":"`+r+`"}]`] = true
	}
	got := map[string]bool{}
	for id, p := range s.resources("AWS::IAM::Policy") {
		for _, st := range props(p)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			st := st.(map[string]any)
			if !slices.ContainsFunc(asList(st["Action"]), func(a any) bool { return strings.HasPrefix(a.(string), "sts:") }) {
				continue
			}
			roles := toJSON(props(p)["Roles"])
			got[roles] = true
			res := toJSON(st["Resource"])
			if toJSON(st["Action"]) != `"sts:AssumeRole"` || !strings.Contains(res, `":iam::*:role/phiguard-delivery/*"`) || strings.Count(res, "arn:") != 1 {
				t.Errorf("policy %s of %s: %s on %s, want only sts:AssumeRole on arn:<partition>:iam::*:role/phiguard-delivery/*", id, roles, toJSON(st["Action"]), res)
			}
		}
	}
	if len(got) != len(want) {
		t.Errorf("roles with an sts: statement %v, want exactly the delivery, config and console roles %v", got, want)
	}
	for r := range want {
		if !got[r] {
			t.Errorf("%s may not assume customer roles", r)
		}
	}
	showing := map[string]bool{
		idOf(s.svc.Stack, config.Node().DefaultChild().(awscdk.CfnElement)):  true,
		idOf(s.svc.Stack, console.Node().DefaultChild().(awscdk.CfnElement)): true,
	}
	seen := 0
	for id, f := range s.resources("AWS::Lambda::Function") {
		vars, _ := props(f)["Environment"].(map[string]any)["Variables"].(map[string]any)
		v, ok := vars[stack.EnvAssumingRoleARNs]
		if !showing[id] {
			if ok {
				t.Errorf("%s declares %s", id, stack.EnvAssumingRoleARNs)
			}
			continue
		}
		seen++
		j := toJSON(v)
		for _, fn := range assuming {
			if !strings.Contains(j, `{"Fn::GetAtt":["`+fn+`","Arn"]}`) {
				t.Errorf("%s's %s = %s, want it to name role %s", id, stack.EnvAssumingRoleARNs, j, fn)
			}
		}
	}
	if seen != len(showing) {
		t.Errorf("%d of the config and console functions declare %s, want both", seen, stack.EnvAssumingRoleARNs)
	}
}
