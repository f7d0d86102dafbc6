package awsdest

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/phiguard/phiguard/shared/catalog"
	"github.com/phiguard/phiguard/shared/phi"
)

// TestPrefix is where, below the destination's prefix, an S3 test record is written: Athena
// and Hive skip objects under a name starting with "_", so test records never reach a query.
const TestPrefix = "_phiguard-test/"

// Test assumes d's role and writes one test record (TestRecord) the way d's sender writes
// records, and says what happened in plain words: never an error, whatever AWS answers. d must
// be of an AWS type with settings that pass catalog.Check (the caller checks).
func (s *Senders) Test(ctx context.Context, d *phi.Destination) catalog.TestResult {
	ext := catalog.ExternalID(d)
	c := s.forDestination(d)
	if _, err := c.creds.Retrieve(ctx); err != nil {
		r := failure("assume-role", err)
		r.Message = fmt.Sprintf("phiguard could not assume the role %s with the external id %s: %s. Check that the role exists, "+
			"that it is on the path %s, and that its trust policy is the one GET …/destinations/%s/access-policy gives.",
			d.Settings.RoleARN, ext, r.Message, catalog.RolePath, d.ID)
		return r
	}
	rec, id := TestRecord(s.now())
	var where string
	var err error
	switch d.Type {
	case phi.DestinationS3:
		where = d.Settings.Prefix + TestPrefix + id + ".ndjson.gz"
		_, err = c.s3.PutObject(ctx, S3Sender{s}.put(d, where, gzipLines([][]byte{rec}), 1))
		where = "s3://" + d.Settings.Bucket + "/" + where
	case phi.DestinationFirehose:
		where = d.Settings.DeliveryStreamARN
		arn, _ := catalog.ParseARN(where)
		_, err = c.firehose.PutRecord(ctx, &firehose.PutRecordInput{
			DeliveryStreamName: aws.String(strings.TrimPrefix(arn.Resource, "deliverystream/")),
			Record:             &fhtypes.Record{Data: append(rec, '\n')},
		})
	case phi.DestinationEventBridge:
		where = d.Settings.EventBusARN
		var res *eventbridge.PutEventsOutput
		if res, err = c.eventbridge.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{entry(d, catalog.EventBridgeTestDetailType, rec)}}); err == nil && res.FailedEntryCount > 0 && len(res.Entries) > 0 {
			err = &smithy.GenericAPIError{Code: aws.ToString(res.Entries[0].ErrorCode), Message: aws.ToString(res.Entries[0].ErrorMessage)}
		}
	case phi.DestinationSQS:
		where = d.Settings.QueueARN
		e := message(d, "0", rec, id, strings.HasSuffix(where, ".fifo"))
		_, err = c.sqs.SendMessage(ctx, &sqs.SendMessageInput{
			QueueUrl: aws.String(QueueURL(where)), MessageBody: e.MessageBody, MessageAttributes: e.MessageAttributes,
			MessageDeduplicationId: e.MessageDeduplicationId, MessageGroupId: e.MessageGroupId,
		})
	default:
		return catalog.TestResult{Step: "write", Message: fmt.Sprintf("%s destinations have no test record", phi.Clip(string(d.Type), 40))}
	}
	if err != nil {
		r := failure("write", err)
		r.Message = fmt.Sprintf("phiguard assumed the role, but writing the test record to %s failed: %s", where, r.Message)
		return r
	}
	return catalog.TestResult{Delivered: true, Step: "write", RecordID: id, Location: where,
		Message: fmt.Sprintf("phiguard assumed %s and wrote the test record %s to %s.", d.Settings.RoleARN, id, where)}
}

// failure describes err, a failed call at step, in plain words: AWS's code, what it means for
// this destination, and AWS's own message.
func failure(step string, err error) catalog.TestResult {
	r := catalog.TestResult{Step: step}
	var api smithy.APIError
	if !errors.As(err, &api) {
		o := outcomeOf(step, err)
		r.Message = "AWS could not be reached (" + o.Reason + "); try again in a minute"
		return r
	}
	r.Code = api.ErrorCode()
	hint, ok := hints[r.Code]
	if !ok {
		switch {
		case strings.HasPrefix(r.Code, "KMS"):
			hint = "the KMS key is not usable: it must exist, be enabled, be in the resource's region, and its key policy must let the role call kms:GenerateDataKey"
		case throttled[r.Code]:
			hint = "AWS throttled the request; try again in a minute"
		default:
			hint = "AWS refused the request"
		}
	}
	r.Message = fmt.Sprintf("%s (%s", hint, r.Code)
	if m := api.ErrorMessage(); m != "" {
		r.Message += ": " + phi.Clip(m, 300)
	}
	r.Message += ")"
	return r
}

// hints say what an AWS error code means for a destination.
var hints = map[string]string{
	"AccessDenied":                            "access denied: at the assume-role step, the trust policy does not let phiguard assume the role with this external id; at the write step, the permissions policy does not allow the call (or the KMS key policy does not let the role use the key)",
	"AccessDeniedException":                   "access denied: the permissions policy does not allow the call",
	"NoSuchBucket":                            "the bucket does not exist",
	"PermanentRedirect":                       "the bucket is in another region than settings.region: set it to the bucket's region",
	"AuthorizationHeaderMalformed":            "the bucket is in another region than settings.region: set it to the bucket's region",
	"IllegalLocationConstraintException":      "the bucket is in another region than settings.region: set it to the bucket's region",
	"InvalidAccessKeyId":                      "the assumed role's credentials were refused",
	"ResourceNotFoundException":               "the stream or event bus does not exist",
	"AWS.SimpleQueueService.NonExistentQueue": "the queue does not exist",
	"QueueDoesNotExist":                       "the queue does not exist",
}
