package awsdest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/catalog"
	"github.com/phiguard/phiguard/shared/phi"
)

// Issue 16, "Test destination": one clearly marked test record per type, read back; failures
// in plain words naming the step and AWS's code.
func TestTestWritesOneMarkedRecordOrSaysWhatIsWrong(t *testing.T) {
	c := newCustomer(t)
	ctx := context.Background()
	s := senders(t, c)

	t.Run("s3", func(t *testing.T) {
		bucket := c.Bucket(t)
		d := c.destination(phi.DestinationS3, phi.DestinationSettings{Bucket: bucket, Region: "us-east-1", Prefix: "p/"})
		r := s.Test(ctx, d)
		if !r.Delivered || r.Code != "" || !strings.HasPrefix(r.Location, "s3://"+bucket+"/p/_phiguard-test/test-") {
			t.Fatalf("result %+v", r)
		}
		keys := c.objects(t, bucket, "")
		if len(keys) != 1 || !strings.HasPrefix(keys[0], "p/"+TestPrefix) {
			t.Fatalf("objects %v", keys)
		}
		_, body := c.object(t, bucket, keys[0])
		rec := records(t, gunzip(t, body))[0]
		if rec["_delivery"].(map[string]any)["test"] != true || rec["event"] != TestEventName || rec["_delivery"].(map[string]any)["dedupId"] != r.RecordID {
			t.Fatalf("test record %v", rec)
		}
	})
	t.Run("sqs FIFO", func(t *testing.T) {
		url, arn := c.Queue(t, true)
		r := s.Test(ctx, c.destination(phi.DestinationSQS, phi.DestinationSettings{QueueARN: arn}))
		msgs := c.Drain(t, url)
		if !r.Delivered || len(msgs) != 1 || !strings.Contains(aws.ToString(msgs[0].Body), `"test":true`) {
			t.Fatalf("result %+v, messages %v", r, msgs)
		}
	})
	t.Run("firehose", func(t *testing.T) {
		bucket, stream := c.Bucket(t), awstest.UniqueName("stream")
		if _, err := c.Clients.Firehose.CreateDeliveryStream(ctx, &firehose.CreateDeliveryStreamInput{DeliveryStreamName: aws.String(stream),
			ExtendedS3DestinationConfiguration: &fhtypes.ExtendedS3DestinationConfiguration{BucketARN: aws.String("arn:aws:s3:::" + bucket),
				RoleARN: aws.String("arn:aws:iam::" + c.ID + ":role/firehose")}}); err != nil {
			t.Fatal(err)
		}
		r := s.Test(ctx, c.destination(phi.DestinationFirehose, phi.DestinationSettings{DeliveryStreamARN: "arn:aws:firehose:us-east-1:" + c.ID + ":deliverystream/" + stream}))
		keys := c.objects(t, bucket, "")
		if !r.Delivered || len(keys) != 1 {
			t.Fatalf("result %+v, objects %v", r, keys)
		}
		_, body := c.object(t, bucket, keys[0])
		if rec := records(t, body)[0]; rec["_delivery"].(map[string]any)["test"] != true {
			t.Fatalf("record %v", rec)
		}
	})
	t.Run("eventbridge", func(t *testing.T) {
		res, err := c.Clients.EventBridge.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(awstest.UniqueName("bus"))})
		if err != nil {
			t.Fatal(err)
		}
		if r := s.Test(ctx, c.destination(phi.DestinationEventBridge, phi.DestinationSettings{EventBusARN: aws.ToString(res.EventBusArn)})); !r.Delivered {
			t.Fatalf("result %+v", r)
		}
	})
	for _, tc := range []struct {
		name       string
		s          *Senders
		d          *phi.Destination
		step, code string
		says       string
	}{
		{"a missing bucket", s, c.destination(phi.DestinationS3, phi.DestinationSettings{Bucket: "gone-" + strings.ToLower(phi.NewID("x")[2:14]), Region: "us-east-1"}),
			"write", "NoSuchBucket", "the bucket does not exist"},
		{"a missing queue", s, c.destination(phi.DestinationSQS, phi.DestinationSettings{QueueARN: "arn:aws:sqs:us-east-1:" + c.ID + ":gone"}),
			"write", "", "the queue does not exist"},
		{"a trust policy that refuses the external id", senders(t, c, failFirst("AssumeRole", "AccessDenied")),
			c.destination(phi.DestinationS3, phi.DestinationSettings{Bucket: "b-b-b", Region: "us-east-1"}), "assume-role", "AccessDenied", "external id phiguard:"},
		{"access denied on the write", senders(t, c, failFirst("PutEvents", "AccessDeniedException")),
			c.destination(phi.DestinationEventBridge, phi.DestinationSettings{EventBusARN: "arn:aws:events:us-east-1:" + c.ID + ":event-bus/default"}),
			"write", "AccessDeniedException", "the permissions policy does not allow the call"},
		{"a KMS key not usable", senders(t, c, failFirst("PutObject", "KMS.DisabledException")),
			c.destination(phi.DestinationS3, phi.DestinationSettings{Bucket: "b-b-b", Region: "us-east-1"}), "write", "KMS.DisabledException", "the KMS key is not usable"},
		{"a bucket in another region", senders(t, c, failFirst("PutObject", "PermanentRedirect")),
			c.destination(phi.DestinationS3, phi.DestinationSettings{Bucket: "b-b-b", Region: "us-east-1"}), "write", "PermanentRedirect", "another region"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.s.Test(ctx, tc.d)
			if r.Delivered || r.Step != tc.step || (tc.code != "" && r.Code != tc.code) || !strings.Contains(r.Message, tc.says) {
				t.Fatalf("result %+v; want step %s, code %s, a message saying %q", r, tc.step, tc.code, tc.says)
			}
		})
	}
}

// The trust policy catalog.AccessPolicy generates, pasted into a real role (moto, with
// scripts/emulators' trust-policy check): the destination it was made for is assumed, another
// destination pointed at the same role is refused at the assume-role step.
func TestTheGeneratedTrustPolicyAdmitsOnlyItsOwnDestination(t *testing.T) {
	c := newCustomer(t)
	ctx := context.Background()
	bucket := c.Bucket(t)
	own := c.destination(phi.DestinationS3, phi.DestinationSettings{Bucket: bucket, Region: "us-east-1"})
	access, err := catalog.AccessPolicy(own, []string{"arn:aws:iam::123456789012:role/phiguard-delivery-fn"})
	if err != nil {
		t.Fatal(err)
	}
	trust, _ := json.Marshal(access.TrustPolicy)
	role := awstest.CreateRole(t, c.Clients, catalog.RolePath, awstest.UniqueName("lake"), string(trust))
	own.Settings.RoleARN = role
	other := c.destination(phi.DestinationS3, phi.DestinationSettings{Bucket: bucket, Region: "us-east-1"})
	other.Settings.RoleARN = role
	s := senders(t, c)
	if r := s.Test(ctx, own); !r.Delivered {
		t.Fatalf("the destination whose trust policy the role has: %+v", r)
	}
	r := s.Test(ctx, other)
	if r.Delivered || r.Step != "assume-role" || r.Code != "AccessDenied" || !strings.Contains(r.Message, catalog.ExternalID(other)) {
		t.Fatalf("another destination's external id: %+v; want AccessDenied at assume-role naming %s", r, catalog.ExternalID(other))
	}
}
