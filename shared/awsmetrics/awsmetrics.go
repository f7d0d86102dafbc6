// Package awsmetrics counts the AWS requests an SDK configuration makes, by service and
// operation, and the units AWS bills them in. The end-to-end benchmark of the local stack
// (scripts/internal/devserver) attaches a Counter to the configuration every function and event
// source uses, so "AWS requests per 1,000 events" is a count, not a timing, and does not depend
// on the machine.
//
// What is billed per request is counted the way the price lists count it: SNS and SQS bill
// each 64 KiB chunk of a request's payload as one request (a PublishBatch or SendMessageBatch of
// ten small messages is one request; one message of 200 KiB is four), and a ReceiveMessage is
// billed for the chunks of what it returns, at least one. Payload is the message bodies and
// attribute names, types and values, as the SNS and SQS quotas define it. Other operations are
// one billed request each.
package awsmetrics

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go/middleware"
)

// ChunkBytes is the payload size SNS and SQS bill as one request.
const ChunkBytes = 64 << 10

// Key names an operation of a service, as the SDK names them ("SNS", "PublishBatch").
type Key struct {
	Service   string `json:"service"`
	Operation string `json:"operation"`
}

// Count is what one operation did.
type Count struct {
	// Calls is the number of API calls (the SDK's retries of a call are not counted again).
	Calls int64 `json:"calls"`
	// Messages is the number of messages the calls carried (sent, published, received or
	// deleted); 0 for operations without messages.
	Messages int64 `json:"messages"`
	// Bytes is the messages' payload.
	Bytes int64 `json:"bytes"`
	// Billed is the number of requests AWS bills for the calls (see the package comment).
	Billed int64 `json:"billed"`
	// MessageChunks is the sum over the messages of their 64 KiB chunks: what the messages
	// cost again downstream, one SQS request per chunk for every queue an SNS message is
	// delivered to.
	MessageChunks int64 `json:"messageChunks"`
	// Empty is the number of receive calls that returned no message: polling an idle queue.
	Empty int64 `json:"empty"`
	// Time is the calls' duration summed, retries and waits included: where a caller's time
	// goes (it depends on the machine and the endpoint, unlike the counts).
	Time time.Duration `json:"time"`
}

func (c *Count) add(o Count) {
	c.Calls += o.Calls
	c.Messages += o.Messages
	c.Bytes += o.Bytes
	c.Billed += o.Billed
	c.MessageChunks += o.MessageChunks
	c.Empty += o.Empty
	c.Time += o.Time
}

// Counter counts requests. Its zero value is ready to use; it is safe for concurrent use.
type Counter struct {
	mu sync.Mutex
	m  map[Key]*Count
}

// Attach adds the counting middleware to cfg, so every client built from cfg afterwards
// (service.NewFromConfig(cfg)) is counted. Clients built before are not.
func (c *Counter) Attach(cfg *aws.Config) {
	cfg.APIOptions = append(cfg.APIOptions, func(s *middleware.Stack) error {
		return s.Initialize.Add(middleware.InitializeMiddlewareFunc("awsmetrics.Counter", c.handle), middleware.After)
	})
}

// handle records one call once it has returned, failed or not (a failed call is billed too).
func (c *Counter) handle(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	start := time.Now()
	out, md, err := next.HandleInitialize(ctx, in)
	k := Key{Service: middleware.GetServiceID(ctx), Operation: middleware.GetOperationName(ctx)}
	n := measure(in.Parameters, out.Result)
	n.Time = time.Since(start)
	c.mu.Lock()
	if c.m == nil {
		c.m = map[Key]*Count{}
	}
	if c.m[k] == nil {
		c.m[k] = &Count{}
	}
	c.m[k].add(n)
	c.mu.Unlock()
	return out, md, err
}

// measure returns the Count of one call with input params and output result (nil on error).
func measure(params, result any) Count {
	n := Count{Calls: 1}
	var sizes []int
	chunked := false
	switch in := params.(type) {
	case *sns.PublishInput:
		sizes, chunked = []int{len(aws.ToString(in.Message)) + snsAttrs(in.MessageAttributes)}, true
	case *sns.PublishBatchInput:
		for _, e := range in.PublishBatchRequestEntries {
			sizes = append(sizes, len(aws.ToString(e.Message))+snsAttrs(e.MessageAttributes))
		}
		chunked = true
	case *sqs.SendMessageInput:
		sizes, chunked = []int{len(aws.ToString(in.MessageBody)) + sqsAttrs(in.MessageAttributes)}, true
	case *sqs.SendMessageBatchInput:
		for _, e := range in.Entries {
			sizes = append(sizes, len(aws.ToString(e.MessageBody))+sqsAttrs(e.MessageAttributes))
		}
		chunked = true
	case *sqs.ReceiveMessageInput:
		if out, ok := result.(*sqs.ReceiveMessageOutput); ok {
			for _, m := range out.Messages {
				sizes = append(sizes, len(aws.ToString(m.Body))+sqsAttrs(m.MessageAttributes))
			}
		}
		if len(sizes) == 0 {
			n.Empty = 1
		}
		chunked = true
	case *sqs.DeleteMessageBatchInput:
		n.Messages = int64(len(in.Entries))
	}
	total := 0
	for _, s := range sizes {
		total += s
		n.MessageChunks += chunks(s)
	}
	n.Messages += int64(len(sizes))
	n.Bytes = int64(total)
	n.Billed = 1
	if chunked {
		n.Billed = chunks(total)
	}
	return n
}

// chunks returns how many 64 KiB chunks size bytes are billed as: at least one.
func chunks(size int) int64 { return max(1, int64((size+ChunkBytes-1)/ChunkBytes)) }

func snsAttrs(m map[string]snstypes.MessageAttributeValue) int {
	n := 0
	for k, v := range m {
		n += len(k) + len(aws.ToString(v.DataType)) + len(aws.ToString(v.StringValue)) + len(v.BinaryValue)
	}
	return n
}

func sqsAttrs(m map[string]sqstypes.MessageAttributeValue) int {
	n := 0
	for k, v := range m {
		n += len(k) + len(aws.ToString(v.DataType)) + len(aws.ToString(v.StringValue)) + len(v.BinaryValue)
	}
	return n
}

// Snapshot returns a copy of the counts so far.
func (c *Counter) Snapshot() map[Key]Count {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[Key]Count, len(c.m))
	for k, v := range c.m {
		out[k] = *v
	}
	return out
}

// Reset forgets every count (for example the provisioning calls before a measurement).
func (c *Counter) Reset() {
	c.mu.Lock()
	c.m = nil
	c.mu.Unlock()
}

// Keys returns the keys of counts, sorted by service then operation.
func Keys(counts map[Key]Count) []Key {
	keys := make([]Key, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b Key) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Operation, b.Operation))
	})
	return keys
}

// Total returns the sum of counts.
func Total(counts map[Key]Count) Count {
	var t Count
	for _, c := range counts {
		t.add(c)
	}
	return t
}
