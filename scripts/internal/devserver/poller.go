package devserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// SQSHandler is the signature of an SQS-triggered Lambda handler that reports partial batch
// failures (ReportBatchItemFailures).
type SQSHandler func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)

// QueueClient is the part of the SQS API a Poller uses. *sqs.Client satisfies it.
type QueueClient interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// maxReceive is the most messages one SQS ReceiveMessage call returns.
const maxReceive = 10

// Poller is a local stand-in for Lambda's SQS event source mapping: it receives messages from
// one queue, accumulates them into a batch of up to BatchSize (SQS returns at most 10 per call)
// or until Window has passed since the first message arrived, invokes Handler with the batch as
// an events.SQSEvent shaped exactly like Lambda's, and deletes the messages that succeeded.
// As with ReportBatchItemFailures: a handler error fails the whole batch; listed item failures
// stay on the queue (SQS redelivers them after the visibility timeout and, past the redrive
// limit, moves them to the DLQ); a failure naming a message that is not in the batch, or an
// empty identifier, fails the whole batch.
type Poller struct {
	Name      string // for logs, e.g. the function name
	Client    QueueClient
	QueueURL  string
	BatchSize int
	Window    time.Duration
	// Timeout bounds one handler invocation, like a function's timeout; 30s when zero.
	Timeout time.Duration
	// Concurrency is how many batches are collected and handled at once, as the event source
	// runs up to its maximum concurrency of invocations; 1 when zero.
	Concurrency int
	Handler     SQSHandler
	Region      string
	Logger      *slog.Logger

	queueARN string
	mu       sync.Mutex
	stats    PollerStats
}

// PollerStats counts what a Poller did.
type PollerStats struct {
	Invocations int // handler calls
	Received    int // messages handed to the handler
	Deleted     int // messages deleted after success
	Failed      int // messages left on the queue (item failures and failed batches)
	// HandlerTime is the handler's run time summed over its invocations: what Lambda bills as
	// duration.
	HandlerTime time.Duration
	// InFlight is the number of batches being handled now (the counters above count finished ones).
	InFlight int
}

// Stats returns a copy of the counters.
func (p *Poller) Stats() PollerStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Run polls until ctx is cancelled, then returns nil. It returns an error only when the queue
// cannot be resolved at start (wrong URL, emulators down). Errors while polling are logged and
// retried after a pause, as the event source mapping does.
func (p *Poller) Run(ctx context.Context) error {
	if p.Handler == nil || p.Client == nil || p.QueueURL == "" {
		return fmt.Errorf("poller %s: a handler, an SQS client and a queue URL are required", p.Name)
	}
	if p.BatchSize < 1 {
		return fmt.Errorf("poller %s: batch size must be at least 1, not %d", p.Name, p.BatchSize)
	}
	if p.Timeout == 0 {
		p.Timeout = 30 * time.Second
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	attrs, err := p.Client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(p.QueueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return fmt.Errorf("poller %s: resolve queue %s: %w", p.Name, p.QueueURL, err)
	}
	p.queueARN = attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	var wg sync.WaitGroup
	for range max(1, p.Concurrency) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.poll(ctx)
		}()
	}
	wg.Wait()
	return nil
}

// poll collects and handles batches until ctx is cancelled.
func (p *Poller) poll(ctx context.Context) {
	for ctx.Err() == nil {
		batch, err := p.collect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			p.Logger.Warn("receive failed; retrying", "poller", p.Name, "error", err.Error())
			sleep(ctx, time.Second)
			continue
		}
		if len(batch) == 0 {
			continue
		}
		p.invoke(ctx, batch)
	}
}

// collect returns the next batch: it long-polls for a first message, then keeps receiving until
// BatchSize messages are in hand or Window has passed since the first arrived.
func (p *Poller) collect(ctx context.Context) ([]sqstypes.Message, error) {
	var batch []sqstypes.Message
	seen := map[string]int{}
	var deadline time.Time
	for len(batch) < p.BatchSize {
		wait := int32(1) // long poll for the first message; short once a batch is open
		if len(batch) > 0 {
			left := time.Until(deadline)
			if left <= 0 {
				break
			}
			wait = 0
			if left >= time.Second {
				wait = 1
			}
		}
		out, err := p.Client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(p.QueueURL),
			MaxNumberOfMessages:         int32(min(maxReceive, p.BatchSize-len(batch))),
			WaitTimeSeconds:             wait,
			MessageAttributeNames:       []string{"All"},
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
		})
		if err != nil {
			if len(batch) > 0 && ctx.Err() == nil {
				break // hand over what is in hand; the next receive retries
			}
			return batch, err
		}
		for _, m := range out.Messages {
			id := aws.ToString(m.MessageId)
			if i, ok := seen[id]; ok {
				batch[i] = m // a redelivery inside the window: keep the newest receipt handle
				continue
			}
			seen[id] = len(batch)
			batch = append(batch, m)
		}
		if len(batch) > 0 && deadline.IsZero() {
			deadline = time.Now().Add(p.Window)
		}
		if len(batch) > 0 && len(out.Messages) == 0 && wait == 0 {
			sleep(ctx, 50*time.Millisecond)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return batch, nil
}

// invoke calls the handler with batch and deletes what succeeded.
func (p *Poller) invoke(ctx context.Context, batch []sqstypes.Message) {
	ev := p.Event(batch)
	p.mu.Lock()
	p.stats.InFlight++
	p.mu.Unlock()
	hctx, cancel := context.WithTimeout(ctx, p.Timeout)
	start := time.Now()
	resp, err := p.Handler(hctx, ev)
	took := time.Since(start)
	cancel()
	failed, err := failedIDs(ev, resp, err)

	var del []sqstypes.DeleteMessageBatchRequestEntry
	for i, m := range batch {
		if err == nil && !failed[aws.ToString(m.MessageId)] {
			del = append(del, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
		}
	}
	nFailed := len(batch) - len(del)
	if err != nil {
		p.Logger.Warn("batch failed; every message stays on the queue", "poller", p.Name, "messages", len(batch), "error", err.Error())
	} else if nFailed > 0 {
		p.Logger.Info("partial batch failure", "poller", p.Name, "messages", len(batch), "failed", nFailed)
	}
	deleted := p.delete(ctx, del)
	p.mu.Lock()
	p.stats.Invocations++
	p.stats.Received += len(batch)
	p.stats.Deleted += deleted
	p.stats.Failed += nFailed
	p.stats.HandlerTime += took
	p.stats.InFlight--
	p.mu.Unlock()
	p.Logger.Debug("batch done", "poller", p.Name, "messages", len(batch), "deleted", deleted, "failed", nFailed)
}

// failedIDs interprets a handler's result the way the event source mapping does. A non-nil
// error means the whole batch failed.
func failedIDs(ev events.SQSEvent, resp events.SQSEventResponse, err error) (map[string]bool, error) {
	if err != nil {
		return nil, fmt.Errorf("handler returned an error: %w", err)
	}
	in := make(map[string]bool, len(ev.Records))
	for _, r := range ev.Records {
		in[r.MessageId] = true
	}
	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		if f.ItemIdentifier == "" || !in[f.ItemIdentifier] {
			return nil, errors.New("handler reported a batch item failure that names no message of the batch; the whole batch fails")
		}
		failed[f.ItemIdentifier] = true
	}
	return failed, nil
}

// delete removes the entries in chunks of 10 and returns how many SQS confirmed.
func (p *Poller) delete(ctx context.Context, entries []sqstypes.DeleteMessageBatchRequestEntry) int {
	n := 0
	for len(entries) > 0 {
		chunk := entries[:min(maxReceive, len(entries))]
		entries = entries[len(chunk):]
		// Deleting after a successful invocation must not be lost to a Ctrl-C in between.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		out, err := p.Client.DeleteMessageBatch(dctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(p.QueueURL), Entries: chunk})
		cancel()
		if err != nil {
			p.Logger.Warn("delete failed; the messages will be redelivered", "poller", p.Name, "messages", len(chunk), "error", err.Error())
			continue
		}
		n += len(out.Successful)
		if len(out.Failed) > 0 {
			p.Logger.Warn("some deletes failed; those messages will be redelivered", "poller", p.Name, "failed", len(out.Failed))
		}
	}
	return n
}

// Event builds the events.SQSEvent Lambda would deliver for msgs.
func (p *Poller) Event(msgs []sqstypes.Message) events.SQSEvent {
	ev := events.SQSEvent{Records: make([]events.SQSMessage, len(msgs))}
	for i, m := range msgs {
		rec := events.SQSMessage{
			MessageId:              aws.ToString(m.MessageId),
			ReceiptHandle:          aws.ToString(m.ReceiptHandle),
			Body:                   aws.ToString(m.Body),
			Md5OfBody:              aws.ToString(m.MD5OfBody),
			Md5OfMessageAttributes: aws.ToString(m.MD5OfMessageAttributes),
			Attributes:             map[string]string{},
			MessageAttributes:      map[string]events.SQSMessageAttribute{},
			EventSourceARN:         p.queueARN,
			EventSource:            "aws:sqs",
			AWSRegion:              p.Region,
		}
		for k, v := range m.Attributes {
			rec.Attributes[k] = v
		}
		for k, v := range m.MessageAttributes {
			rec.MessageAttributes[k] = events.SQSMessageAttribute{
				DataType:         aws.ToString(v.DataType),
				StringValue:      v.StringValue,
				BinaryValue:      v.BinaryValue,
				StringListValues: []string{},
				BinaryListValues: [][]byte{},
			}
		}
		ev.Records[i] = rec
	}
	return ev
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
