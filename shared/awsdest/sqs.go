package awsdest

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/phiguard/phiguard/shared/catalog"
	"github.com/phiguard/phiguard/shared/delivery"
	"github.com/phiguard/phiguard/shared/pack"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

// SQSSender sends each copy as one message (the Record as its body, the dedup id as the
// stack.AttrDedupID message attribute) to the destination's queue with SendMessageBatch, in
// requests of at most 10 messages and 256 KiB. On a FIFO queue the dedup id is the message
// deduplication id (SQS drops a redelivery within its five-minute window) and the destination id
// the message group, so the queue keeps the order of delivery. Each message's outcome is its
// own: failed entries are retried alone, unless SQS says the sender is at fault.
type SQSSender struct{ s *Senders }

// QueueURL returns the URL of the queue with ARN arn ("" when arn is not an SQS ARN).
func QueueURL(arn string) string {
	a, err := catalog.ParseARN(arn)
	if err != nil || a.Service != "sqs" {
		return ""
	}
	host := "sqs." + a.Region + ".amazonaws.com"
	if a.Partition == "aws-cn" {
		host += ".cn"
	}
	return "https://" + host + "/" + a.Account + "/" + a.Resource
}

// Send implements delivery.Sender.
func (x SQSSender) Send(ctx context.Context, d *phi.Destination, copies []pack.Copy) []delivery.Outcome {
	if bad := misconfigured(d, len(copies)); bad != nil {
		return bad
	}
	lim, _ := catalog.Lookup(phi.DestinationSQS)
	fifo := strings.HasSuffix(d.Settings.QueueARN, ".fifo")
	out := make([]delivery.Outcome, len(copies))
	var batch []int
	var entries []types.SendMessageBatchRequestEntry
	size := 0
	c := x.s.forDestination(d)
	flush := func() {
		if len(batch) > 0 {
			x.send(ctx, c, d, entries, batch, out)
		}
		batch, entries, size = batch[:0], nil, 0
	}
	for i, cp := range copies {
		rec := Record(cp)
		n := len(rec) + len(stack.AttrDedupID) + len("String") + len(cp.DedupID) // SQS counts attributes too
		if n > lim.Limits.MaxRecordBytes {
			out[i] = tooLarge(n, lim.Limits.MaxRecordBytes)
			continue
		}
		if len(batch) == lim.Limits.MaxBatchRecords || size+n > lim.Limits.MaxBatchBytes {
			flush()
		}
		e := message(d, strconv.Itoa(len(batch)), rec, cp.DedupID, fifo)
		batch, entries, size = append(batch, i), append(entries, e), size+n
	}
	flush()
	return out
}

func message(d *phi.Destination, id string, body []byte, dedupID string, fifo bool) types.SendMessageBatchRequestEntry {
	e := types.SendMessageBatchRequestEntry{
		Id: aws.String(id), MessageBody: aws.String(string(body)),
		MessageAttributes: map[string]types.MessageAttributeValue{
			stack.AttrDedupID: {DataType: aws.String("String"), StringValue: aws.String(dedupID)},
		},
	}
	if fifo {
		e.MessageDeduplicationId = aws.String(dedupID)
		e.MessageGroupId = aws.String(d.ID)
	}
	return e
}

// send sends one SendMessageBatch and sets the outcome of each copy batch[i] it carried.
func (x SQSSender) send(ctx context.Context, c *clients, d *phi.Destination, entries []types.SendMessageBatchRequestEntry, batch []int, out []delivery.Outcome) {
	res, err := c.sqs.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(QueueURL(d.Settings.QueueARN)), Entries: entries})
	if err != nil {
		o := outcomeOf("sqs SendMessageBatch", err)
		for _, i := range batch {
			out[i] = o
		}
		return
	}
	done := make([]bool, len(batch))
	for _, s := range res.Successful {
		if j, err := strconv.Atoi(aws.ToString(s.Id)); err == nil && j >= 0 && j < len(batch) {
			done[j] = true
		}
	}
	for _, f := range res.Failed {
		if j, err := strconv.Atoi(aws.ToString(f.Id)); err == nil && j >= 0 && j < len(batch) {
			out[batch[j]] = entryOutcome("sqs SendMessageBatch", aws.ToString(f.Code), aws.ToString(f.Message), f.SenderFault)
			done[j] = true
		}
	}
	for j, i := range batch {
		if !done[j] {
			out[i] = delivery.Outcome{Err: fmt.Errorf("sqs SendMessageBatch did not answer for entry %d", j), Reason: "short-response"}
		}
	}
}
