package devserver

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/phiguard/phiguard/scripts/internal/devstack"
	"github.com/phiguard/phiguard/shared/catalog"
)

// SampleAWS are the customer resources `make dev` creates in moto so that a destination of each
// AWS type can be created (through the API or the console) and tested at once: moto's default
// account stands for the customer's, and the role is one moto's IAM does not hold, which moto
// lets be assumed (a role created in moto's IAM with a trust policy has its external id checked).
type SampleAWS struct {
	RoleARN string
	Bucket  string // devstack.SampleBucket, in us-east-1
	// StreamARN is a Firehose stream into Bucket (under firehose/); BusARN an EventBridge bus
	// whose rule forwards phiguard's events to BusQueueURL; QueueARN a queue.
	StreamARN, BusARN, BusQueueURL, QueueARN, QueueURL string
}

// CreateSampleAWS creates the sample stream, bus (with its rule and target queue) and queue,
// named after prefix (the server's Config.Prefix), beside the sample bucket. It fails with the
// first SDK error.
func (s *Server) CreateSampleAWS(ctx context.Context, prefix string) (*SampleAWS, error) {
	c, p := s.Clients, prefix
	out := &SampleAWS{RoleARN: devstack.SampleRoleARN, Bucket: devstack.SampleBucket}
	queue := func(name string) (url, arn string, err error) {
		q, err := c.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
		if err != nil {
			return "", "", fmt.Errorf("create queue %s: %w", name, err)
		}
		a, err := c.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
		if err != nil {
			return "", "", fmt.Errorf("read queue %s: %w", name, err)
		}
		return aws.ToString(q.QueueUrl), a.Attributes[string(sqstypes.QueueAttributeNameQueueArn)], nil
	}
	stream, err := c.Firehose.CreateDeliveryStream(ctx, &firehose.CreateDeliveryStreamInput{DeliveryStreamName: aws.String(p + "-sample-stream"),
		ExtendedS3DestinationConfiguration: &fhtypes.ExtendedS3DestinationConfiguration{BucketARN: aws.String("arn:aws:s3:::" + out.Bucket),
			Prefix: aws.String("firehose/"), RoleARN: aws.String("arn:aws:iam::123456789012:role/firehose")}})
	if err != nil {
		return nil, fmt.Errorf("create the sample Firehose stream: %w", err)
	}
	out.StreamARN = aws.ToString(stream.DeliveryStreamARN)
	bus, err := c.EventBridge.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(p + "-sample-bus")})
	if err != nil {
		return nil, fmt.Errorf("create the sample event bus: %w", err)
	}
	out.BusARN = aws.ToString(bus.EventBusArn)
	var busQueueARN string
	if out.BusQueueURL, busQueueARN, err = queue(p + "-sample-bus-events"); err != nil {
		return nil, err
	}
	rule := p + "-sample-rule"
	if _, err := c.EventBridge.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(rule), EventBusName: bus.EventBusArn,
		EventPattern: aws.String(`{"source":["` + catalog.EventBridgeSource + `"]}`)}); err != nil {
		return nil, fmt.Errorf("create the sample bus's rule: %w", err)
	}
	if _, err := c.EventBridge.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(rule), EventBusName: bus.EventBusArn,
		Targets: []ebtypes.Target{{Id: aws.String("queue"), Arn: aws.String(busQueueARN)}}}); err != nil {
		return nil, fmt.Errorf("target the sample bus's rule at its queue: %w", err)
	}
	if out.QueueURL, out.QueueARN, err = queue(p + "-sample-queue"); err != nil {
		return nil, err
	}
	return out, nil
}

// Settings returns the settings of a destination of type t (an AWS type of the catalog) on the
// sample resources, as the API takes them.
func (a *SampleAWS) Settings(t string) map[string]string {
	s := map[string]string{"roleArn": a.RoleARN}
	switch t {
	case "s3":
		s["bucket"], s["region"], s["prefix"] = a.Bucket, "us-east-1", "events/"
	case "firehose":
		s["deliveryStreamArn"] = a.StreamARN
	case "eventbridge":
		s["eventBusArn"] = a.BusARN
	case "sqs":
		s["queueArn"] = a.QueueARN
	}
	return s
}
