package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"

	"github.com/phiguard/phiguard/shared/stack"
)

// Issue 16: only the delivery and config roles may call sts:AssumeRole, only on the documented
// path, and nothing else reaches another account; the config function names both roles as the
// principals of the access policies it shows.
func TestOnlyDeliveryAndConfigAssumeCustomerRolesOnThePath(t *testing.T) {
	s := synth(t)
	want := map[string]bool{
		`[{"Ref":"` + roleID(s, s.svc.Pipeline.Delivery.Role()) + `"}]`:                   true,
		`[{"Ref":"` + roleID(s, s.svc.API.Functions[stack.FunctionConfig].Role()) + `"}]`: true,
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
		t.Errorf("roles with an sts: statement %v, want exactly the delivery and config roles %v", got, want)
	}
	for r := range want {
		if !got[r] {
			t.Errorf("%s may not assume customer roles", r)
		}
	}
	config := s.svc.API.Functions[stack.FunctionConfig]
	for id, f := range s.resources("AWS::Lambda::Function") {
		vars, _ := props(f)["Environment"].(map[string]any)["Variables"].(map[string]any)
		v, ok := vars[stack.EnvAssumingRoleARNs]
		if id != idOf(s.svc.Stack, config.Node().DefaultChild().(awscdk.CfnElement)) {
			if ok {
				t.Errorf("%s declares %s", id, stack.EnvAssumingRoleARNs)
			}
			continue
		}
		j := toJSON(v)
		for _, fn := range []string{roleID(s, s.svc.Pipeline.Delivery.Role()), roleID(s, config.Role())} {
			if !strings.Contains(j, `{"Fn::GetAtt":["`+fn+`","Arn"]}`) {
				t.Errorf("config's %s = %s, want it to name role %s", stack.EnvAssumingRoleARNs, j, fn)
			}
		}
	}
}
