package awsdest

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/catalog"
	"github.com/phiguard/phiguard/shared/phi"
)

// Issue 16: each sender's AWS requests per 1,000 events of 1 KiB, given in chunks of its type's
// batch limit (as the delivery engine gives them): counted, machine-independent.
func TestRequestsPer1000Events(t *testing.T) {
	c := newCustomer(t)
	ctx := context.Background()
	bucket, stream := c.Bucket(t), awstest.UniqueName("stream")
	if _, err := c.Clients.Firehose.CreateDeliveryStream(ctx, &firehose.CreateDeliveryStreamInput{DeliveryStreamName: aws.String(stream),
		ExtendedS3DestinationConfiguration: &fhtypes.ExtendedS3DestinationConfiguration{BucketARN: aws.String("arn:aws:s3:::" + bucket),
			RoleARN: aws.String("arn:aws:iam::" + c.ID + ":role/firehose")}}); err != nil {
		t.Fatal(err)
	}
	bus, err := c.Clients.EventBridge.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(awstest.UniqueName("bus"))})
	if err != nil {
		t.Fatal(err)
	}
	_, queue := c.Queue(t, false)
	for _, tc := range []struct {
		d    *phi.Destination
		op   string
		want int
	}{
		{c.destination(phi.DestinationS3, phi.DestinationSettings{Bucket: bucket, Region: "us-east-1"}), "PutObject", 2},
		{c.destination(phi.DestinationFirehose, phi.DestinationSettings{DeliveryStreamARN: "arn:aws:firehose:us-east-1:" + c.ID + ":deliverystream/" + stream}), "PutRecordBatch", 2},
		{c.destination(phi.DestinationEventBridge, phi.DestinationSettings{EventBusARN: aws.ToString(bus.EventBusArn)}), "PutEvents", 100},
		{c.destination(phi.DestinationSQS, phi.DestinationSettings{QueueARN: queue}), "SendMessageBatch", 100},
	} {
		t.Run(string(tc.d.Type), func(t *testing.T) {
			var n calls
			s := senders(t, c, n.option())
			e, _ := catalog.Lookup(tc.d.Type)
			all := copies(1000, 900)
			for i := 0; i < len(all); i += e.Limits.MaxBatchRecords {
				mustDeliver(t, s.ByType()[tc.d.Type].Send(ctx, tc.d, all[i:min(i+e.Limits.MaxBatchRecords, len(all))]), min(e.Limits.MaxBatchRecords, len(all)-i))
			}
			if got, assumed := n.count(tc.op), n.count("AssumeRole"); got != tc.want || assumed != 1 {
				t.Errorf("%d %s and %d AssumeRole per 1,000 events; want %d and 1", got, tc.op, assumed, tc.want)
			}
			t.Logf("%s: %d %s requests + %d AssumeRole per 1,000 events of ~1 KiB", tc.d.Type, n.count(tc.op), tc.op, n.count("AssumeRole"))
		})
	}
}
