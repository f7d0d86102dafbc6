package delivery

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/phiguard/phiguard/shared/pack"
	"github.com/phiguard/phiguard/shared/stack"
)

// DeadLetterQueue is the SQS API DeadLetters uses (*sqs.Client).
type DeadLetterQueue interface {
	Queue
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
}

// DeadLetters counts and replays one destination's dead letters. SQS cannot select messages by
// attribute, so each call receives the dead-letter queue's messages in turn (hiding them while
// it looks), acts on the destination's, and makes the others visible again at once; it stops
// at the end of the queue, after MaxScan messages, or when Budget is spent — or earlier, when
// the context's deadline (the function's timeout) comes within scanReserve —, and says whether
// it saw the whole queue. Messages another reader holds at that moment are not seen.
type DeadLetters struct {
	Queue            DeadLetterQueue
	QueueURL, DLQURL string
	// MaxScan bounds the messages one call receives (10,000 when 0); Budget its time (20 s when
	// 0, within API Gateway's 29 s).
	MaxScan int
	Budget  time.Duration
}

// DeadLetterCount is what a destination has in the dead-letter queue.
type DeadLetterCount struct {
	// Messages and Copies: a message holds one or more copies (shared/pack).
	Messages int `json:"messages"`
	Copies   int `json:"copies"`
	// ByReason counts copies by their dead-letter reason (ReasonRejected, ReasonMaxAttempts, …;
	// ReasonReceiveLimit too for a message without a reason, which the redrive policy moved).
	ByReason map[string]int `json:"byReason"`
	// ByLastFailure counts copies by their last attempt's failure (Outcome.Reason: "http-410",
	// "network", or the AWS error code of an AWS destination, such as "AccessDenied" or
	// "NoSuchBucket"), so that an owner sees why; a message the redrive policy moved has none.
	ByLastFailure map[string]int `json:"byLastFailure"`
	// Scanned is how many messages of the queue were looked at; Complete is false when the scan
	// stopped at MaxScan or Budget before the end of the queue.
	Scanned  int  `json:"scanned"`
	Complete bool `json:"complete"`
}

// ReplayResult is what a replay moved.
type ReplayResult struct {
	// Messages and Copies moved back to the delivery queue, with their attempts reset.
	Messages int `json:"messages"`
	Copies   int `json:"copies"`
	// Failed counts the destination's messages that could not be moved; they stay in the
	// dead-letter queue.
	Failed   int  `json:"failed"`
	Scanned  int  `json:"scanned"`
	Complete bool `json:"complete"`
}

// scanHold is how long a scan hides a message it received; it makes every message visible
// again itself when it ends, so this matters only when the caller dies mid-scan.
const scanHold = 60

// scanReserve is what a scan leaves of its context's time for releasing the messages it holds
// and answering: the last receive may wait a second, releases take a request per 10 messages.
const scanReserve = 4 * time.Second

// Count counts the dead letters of destination dst of workspace ws. It fails with the first SQS
// error.
func (q *DeadLetters) Count(ctx context.Context, ws, dst string) (DeadLetterCount, error) {
	c := DeadLetterCount{ByReason: map[string]int{}, ByLastFailure: map[string]int{}}
	var err error
	c.Scanned, c.Complete, err = q.scan(ctx, ws, dst, func(m sqstypes.Message) bool {
		n := len(copiesOf(m))
		reason := msgAttr(m, stack.AttrReason)
		if reason == "" {
			reason = ReasonReceiveLimit
		}
		c.Messages++
		c.Copies += n
		c.ByReason[reason] += n
		if last := msgAttr(m, stack.AttrLastReason); last != "" {
			c.ByLastFailure[last] += n
		}
		return false
	})
	return c, err
}

// Replay moves the dead letters of destination dst of workspace ws back to the delivery queue,
// each copy's attempts reset to 0, without the dead-letter attributes. A message that cannot
// be sent back stays in the dead-letter queue (Failed); one sent back but not deleted will be
// delivered twice (receivers drop duplicates by dedup id). It fails with the first error of
// receiving or releasing messages.
func (q *DeadLetters) Replay(ctx context.Context, ws, dst string) (ReplayResult, error) {
	var r ReplayResult
	var err error
	r.Scanned, r.Complete, err = q.scan(ctx, ws, dst, func(m sqstypes.Message) bool {
		body, format, n := replayBody(m)
		attrs := map[string]sqstypes.MessageAttributeValue{}
		for name, v := range m.MessageAttributes {
			switch name {
			case stack.AttrReason, stack.AttrLastReason, stack.AttrLastStatus, stack.AttrAttempts, stack.AttrDeadLetteredAt:
			default:
				attrs[name] = sqstypes.MessageAttributeValue{DataType: v.DataType, StringValue: v.StringValue}
			}
		}
		if format != "" {
			attrs[stack.AttrFormat] = sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(format)}
		}
		if _, err := q.Queue.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q.QueueURL), MessageBody: aws.String(body), MessageAttributes: attrs}); err != nil {
			r.Failed++
			return false
		}
		r.Messages++
		r.Copies += n
		if _, err := q.Queue.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q.DLQURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
			return false // sent back, and still here: made visible again, replayed twice at worst
		}
		return true
	})
	return r, err
}

// scan receives the dead-letter queue's messages and calls visit for each of destination dst of
// workspace ws; every message visit does not report as consumed is made visible again. It
// returns how many messages it received and whether it reached the end of the queue.
func (q *DeadLetters) scan(ctx context.Context, ws, dst string, visit func(sqstypes.Message) bool) (scanned int, complete bool, err error) {
	maxScan, budget := q.MaxScan, q.Budget
	if maxScan <= 0 {
		maxScan = 10_000
	}
	if budget <= 0 {
		budget = 20 * time.Second
	}
	end := time.Now().Add(budget)
	if deadline, ok := ctx.Deadline(); ok && deadline.Add(-scanReserve).Before(end) {
		end = deadline.Add(-scanReserve)
	}
	var release []sqstypes.ChangeMessageVisibilityBatchRequestEntry
	defer func() {
		// Release with a context of its own: the messages must come back even when ctx ended.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		for len(release) > 0 {
			n := min(10, len(release))
			out, rerr := q.Queue.ChangeMessageVisibilityBatch(rctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(q.DLQURL), Entries: release[:n]})
			if rerr == nil && len(out.Failed) > 0 {
				rerr = fmt.Errorf("%d messages not released (%s)", len(out.Failed), aws.ToString(out.Failed[0].Code))
			}
			if rerr != nil && err == nil {
				err = fmt.Errorf("release dead letters: %w", rerr)
			}
			release = release[n:]
		}
	}()
	for scanned < maxScan && time.Now().Before(end) {
		out, rerr := q.Queue.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(q.DLQURL), MaxNumberOfMessages: int32(min(10, maxScan-scanned)),
			VisibilityTimeout: scanHold, WaitTimeSeconds: 1, MessageAttributeNames: []string{"All"},
		})
		if rerr != nil {
			return scanned, false, fmt.Errorf("receive dead letters: %w", rerr)
		}
		if len(out.Messages) == 0 {
			return scanned, true, nil
		}
		for _, m := range out.Messages {
			scanned++
			if msgAttr(m, stack.AttrWorkspace) == ws && msgAttr(m, stack.AttrDestination) == dst && visit(m) {
				continue
			}
			release = append(release, sqstypes.ChangeMessageVisibilityBatchRequestEntry{
				Id: aws.String(strconv.Itoa(len(release))), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0,
			})
		}
	}
	return scanned, false, nil
}

// copiesOf returns the copies of a dead letter, or one unusable copy for a message that is not
// a fan-out message.
func copiesOf(m sqstypes.Message) []pack.Copy {
	cs, err := pack.FromMessage([]byte(aws.ToString(m.Body)), msgAttr(m, stack.AttrFormat), msgAttr(m, stack.AttrDedupID))
	if err != nil {
		return []pack.Copy{{}}
	}
	return cs
}

// replayBody returns the body a dead letter goes back with, its stack.AttrFormat and its number
// of copies: a pack (of any format) as a pack of this release with every copy's attempts reset, or
// the body as it is.
func replayBody(m sqstypes.Message) (body, format string, copies int) {
	body, format = aws.ToString(m.Body), msgAttr(m, stack.AttrFormat)
	if format == "" {
		return body, format, 1
	}
	cs, err := pack.FromMessage([]byte(body), format, "")
	if err != nil {
		return body, format, 1
	}
	for i := range cs {
		cs[i].Attempts = 0
	}
	b, err := pack.Encode(cs)
	if err != nil {
		return body, format, len(cs)
	}
	return string(b), pack.Format, len(cs)
}

func msgAttr(m sqstypes.Message, name string) string {
	if v, ok := m.MessageAttributes[name]; ok {
		return aws.ToString(v.StringValue)
	}
	return ""
}
