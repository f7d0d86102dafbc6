package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"

	"github.com/phiguard/phiguard/shared/catalog"
	"github.com/phiguard/phiguard/shared/stack"
)

// assumableRolesFinding is the resource of the sts:AssumeRole statement as cdk-nag prints it.
const assumableRolesFinding = "Resource::arn:<AWS::Partition>:iam::*:role/phiguard-delivery/*"

// grantDestinationAccess lets the two functions that reach the customers' AWS destinations —
// delivery (the senders, shared/awsdest) and config (the destination test) — assume the
// customers' roles on catalog.RolePath, and nothing else in another account: every call into a
// customer's account is made with that role's credentials, obtained with the destination's
// external id. The config function names both roles as the trust policy's principals in the
// access policies it shows (stack.EnvAssumingRoleARNs).
func grantDestinationAccess(s *Service) {
	delivery, config := s.Pipeline.Delivery, s.API.Functions[stack.FunctionConfig]
	roles := catalog.AssumableRoles(*awscdk.Aws_PARTITION())
	for _, fn := range []awslambda.Function{delivery, config} {
		fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("AssumeCustomerDestinationRoles"),
			Actions:   jsii.Strings("sts:AssumeRole"),
			Resources: jsii.Strings(roles),
		}))
		suppress(fn.Role(), true, finding{rule: "AwsSolutions-IAM5", appliesTo: []string{assumableRolesFinding},
			reason: "The customers' destination roles live in the customers' accounts, which the stack cannot name: the " +
				"statement allows sts:AssumeRole on the documented path " + catalog.RolePath + " only (docs/DESTINATIONS.md), " +
				"and each role's trust policy admits this role only with the destination's external id."})
	}
	config.AddEnvironment(jsii.String(stack.EnvAssumingRoleARNs),
		awscdk.Fn_Join(jsii.String(","), &[]*string{delivery.Role().RoleArn(), config.Role().RoleArn()}), nil)
}
