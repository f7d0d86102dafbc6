package main

import (
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/phiguard/phiguard/shared/stack"
)

// Access is what the stack grants to principals outside it, as customer-managed policies that
// their roles attach (docs/PRODUCERS.md, docs/OPERATING.md): no statement names anything but
// this stack's resources, and CloudFormation names the policies, so stacks never collide.
type Access struct {
	// Producer lets an event producer send to the ingest queue, and use the service key only
	// as SQS does for that queue (the queue is encrypted with it: a sender needs
	// kms:GenerateDataKey for the message's data key and kms:Decrypt to reuse a cached one).
	Producer awsiam.ManagedPolicy
	// Operator lets a platform operator call the operator routes of the API's stage, and no
	// other route.
	Operator awsiam.ManagedPolicy
}

// NewAccess creates the producer and operator policies.
func NewAccess(scope constructs.Construct, id string, keys *Keys, api *API, p *Pipeline) *Access {
	c := constructs.NewConstruct(scope, jsii.String(id))
	a := &Access{}
	a.Producer = awsiam.NewManagedPolicy(c, jsii.String("ProducerPolicy"), &awsiam.ManagedPolicyProps{
		Description: jsii.String("phiguard: send events to the ingest queue (attach to a producer's role)"),
		Statements: &[]awsiam.PolicyStatement{
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:       jsii.String("SendEvents"),
				Actions:   jsii.Strings("sqs:SendMessage"), // SendMessageBatch is authorized as SendMessage
				Resources: jsii.Strings(*p.Ingest.QueueArn()),
			}),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:       jsii.String("EncryptEventsThroughSQS"),
				Actions:   jsii.Strings("kms:GenerateDataKey", "kms:Decrypt"),
				Resources: jsii.Strings(*keys.Key.KeyArn()),
				Conditions: &map[string]any{
					"StringEquals": map[string]any{
						"kms:ViaService": viaService("sqs"),
						// SQS encrypts each queue's data keys under its ARN as encryption context.
						"kms:EncryptionContext:aws:sqs:arn": p.Ingest.QueueArn(),
					},
				},
			}),
		},
	})

	var routes []*string
	for _, r := range stack.Routes {
		if r.Auth == stack.AuthOperator {
			routes = append(routes, api.RestAPI.ArnForExecuteApi(jsii.String(r.Method),
				jsii.String(pathParam.ReplaceAllString(r.Path, "*")), api.RestAPI.DeploymentStage().StageName()))
		}
	}
	a.Operator = awsiam.NewManagedPolicy(c, jsii.String("OperatorPolicy"), &awsiam.ManagedPolicyProps{
		Description: jsii.String("phiguard: call the operator routes (attach to the operators' role)"),
		Statements: &[]awsiam.PolicyStatement{
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:       jsii.String("InvokeOperatorRoutes"),
				Actions:   jsii.Strings("execute-api:Invoke"),
				Resources: &routes,
			}),
		},
	})
	return a
}

// outputs are the stack outputs, named as the docs name them (README, docs/PRODUCERS.md,
// docs/OPERATING.md).
func (s *Service) outputs() {
	p := s.Pipeline
	for _, o := range []struct {
		id, description string
		value           *string
	}{
		{"ApiURL", "base URL of the REST API (stage " + apiStage + ")", s.API.RestAPI.Url()},
		{"IngestQueueURL", "producers send Segment events here (docs/PRODUCERS.md)", p.Ingest.QueueUrl()},
		{"ProducerPolicyARN", "managed policy a producer's role attaches to send events (docs/PRODUCERS.md)", s.Access.Producer.ManagedPolicyArn()},
		{"OperatorPolicyARN", "managed policy the operators' role attaches to call /operator/* (docs/OPERATING.md)", s.Access.Operator.ManagedPolicyArn()},
		{"ServiceKeyARN", "the service's KMS key, which encrypts the ingest queue and everything else at rest", s.Keys.Key.KeyArn()},
		{"AuditSigningKeyARN", "the KMS key whose public half verifies audit checkpoints: aws kms get-public-key (docs/AUDIT.md)", s.Keys.Audit.KeyArn()},
		{"TopicARN", "protected per-destination copies are published here", p.Topic.TopicArn()},
		{"AlarmTopicARN", "the service's alarms are published here (docs/OPERATING.md, \"Alarms\")", s.Monitoring.Alarms.TopicArn()},
		{"IngestDLQURL", "ingest messages that failed " + strconv.Itoa(stack.IngestMaxReceiveCount) + " times (runbook: docs/OPERATING.md)", p.IngestDLQ.QueueUrl()},
		{"RejectedQueueURL", "events rejected permanently, with a reason attribute (docs/PRODUCERS.md)", p.Rejected.QueueUrl()},
		{"WebhookDLQURL", "webhook copies dead-lettered with their reason (refused, out of attempts; docs/OPERATING.md)", p.WebhookDLQ.QueueUrl()},
		{"WebhookSubscriptionDLQURL", "fan-out messages SNS could not deliver to the webhook queue (runbook: docs/OPERATING.md)", p.WebhookSubscriptionDLQ.QueueUrl()},
	} {
		awscdk.NewCfnOutput(s.Stack, jsii.String(o.id), &awscdk.CfnOutputProps{Description: jsii.String(o.description), Value: o.value})
	}
}
