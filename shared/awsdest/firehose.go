package awsdest

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/phiguard/phiguard/shared/catalog"
	"github.com/phiguard/phiguard/shared/delivery"
	"github.com/phiguard/phiguard/shared/pack"
	"github.com/phiguard/phiguard/shared/phi"
)

// FirehoseSender puts each copy as one record (a Record and a newline, so the stream's S3
// objects are NDJSON) on the destination's stream with PutRecordBatch, in requests of at most
// 500 records and 4 MiB. Each record's outcome is its own: a record the stream failed (its
// ErrorCode) is retried alone, the others are delivered. A record over 1,000 KiB is refused
// before any call (permanent, "too-large").
type FirehoseSender struct{ s *Senders }

// Send implements delivery.Sender.
func (x FirehoseSender) Send(ctx context.Context, d *phi.Destination, copies []pack.Copy) []delivery.Outcome {
	if bad := misconfigured(d, len(copies)); bad != nil {
		return bad
	}
	lim, _ := catalog.Lookup(phi.DestinationFirehose)
	out := make([]delivery.Outcome, len(copies))
	var batch []int
	var records []types.Record
	size := 0
	c := x.s.forDestination(d)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		x.put(ctx, c, d, records, batch, out)
		batch, records, size = batch[:0], nil, 0
	}
	for i, cp := range copies {
		rec := append(Record(cp), '\n')
		if len(rec) > lim.Limits.MaxRecordBytes {
			out[i] = tooLarge(len(rec), lim.Limits.MaxRecordBytes)
			continue
		}
		if len(batch) == lim.Limits.MaxBatchRecords || size+len(rec) > lim.Limits.MaxBatchBytes {
			flush()
		}
		batch, records, size = append(batch, i), append(records, types.Record{Data: rec}), size+len(rec)
	}
	flush()
	return out
}

// put sends one PutRecordBatch and sets the outcome of each copy batch[i] it carried.
func (x FirehoseSender) put(ctx context.Context, c *clients, d *phi.Destination, records []types.Record, batch []int, out []delivery.Outcome) {
	arn, _ := catalog.ParseARN(d.Settings.DeliveryStreamARN)
	name := arn.Resource[len("deliverystream/"):]
	res, err := c.firehose.PutRecordBatch(ctx, &firehose.PutRecordBatchInput{DeliveryStreamName: aws.String(name), Records: records})
	if err != nil {
		o := outcomeOf("firehose PutRecordBatch", err)
		for _, i := range batch {
			out[i] = o
		}
		return
	}
	for j, i := range batch {
		if j >= len(res.RequestResponses) {
			out[i] = delivery.Outcome{Err: fmt.Errorf("firehose PutRecordBatch answered %d results for %d records", len(res.RequestResponses), len(batch)), Reason: "short-response"}
			continue
		}
		if r := res.RequestResponses[j]; r.ErrorCode != nil {
			out[i] = entryOutcome("firehose PutRecordBatch", aws.ToString(r.ErrorCode), aws.ToString(r.ErrorMessage), false)
		}
	}
}

// entryOutcome is the Outcome of one entry a batch call failed with code and message: retried
// unless the code is permanent or the sender is at fault (SQS's SenderFault).
func entryOutcome(op, code, msg string, senderFault bool) delivery.Outcome {
	return delivery.Outcome{Err: fmt.Errorf("%s: entry failed: %s: %s", op, code, msg), Reason: code, Permanent: senderFault || isPermanentCode(code)}
}
