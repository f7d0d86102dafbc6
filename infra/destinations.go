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

// grantDestinationAccess lets the three functions that reach the customers' AWS destinations —
// delivery (the senders, shared/awsdest), config (the API's destination test) and console (the
// console's "Test destination") — assume the customers' roles on catalog.RolePath, and nothing
// else in another account: every call into a customer's account is made with that role's
// credentials, obtained with the destination's external id. The config and console functions
// show the access policies, so both name the three roles as the trust policy's principals
// (stack.EnvAssumingRoleARNs).
func grantDestinationAccess(s *Service) {
	assuming := []awslambda.Function{s.Pipeline.Delivery, s.API.Functions[stack.FunctionConfig], s.API.Functions[stack.FunctionConsole]}
	roles := catalog.AssumableRoles(*awscdk.Aws_PARTITION())
	var arns []*string
	for _, fn := range assuming {
		fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("AssumeCustomerDestinationRoles"),
			Actions:   jsii.Strings("sts:AssumeRole"),
			Resources: jsii.Strings(roles),
		}))
		suppress(fn.Role(), true, finding{rule: "AwsSolutions-IAM5", appliesTo: []string{assumableRolesFinding},
			reason: "The customers' destination roles live in the customers' accounts, which the stack cannot name: the " +
				"statement allows sts:AssumeRole on the documented path " + catalog.RolePath + " only (docs/DESTINATIONS.md), " +
				"and each role's trust policy admits this role only with the destination's external id."})
		arns = append(arns, fn.Role().RoleArn())
	}
	for _, fn := range assuming[1:] {
		fn.AddEnvironment(jsii.String(stack.EnvAssumingRoleARNs), awscdk.Fn_Join(jsii.String(","), &arns), nil)
	}
}
