package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/smithy-go"

	"github.com/phiguard/phiguard/shared/pack"
	"github.com/phiguard/phiguard/shared/retry"
)

// SNS limits: at most 10 entries per PublishBatch, and 256 KiB for one message and for the
// whole request (bodies plus attributes).
const (
	publishBatchEntries = 10
	publishBatchBytes   = 256 << 10
)

// DedupID returns the dedup id of the copy of the event with messageID sent to destination
// dstID: the first 16 bytes, in lower-case hex, of SHA-256 over a version label and the two
// ids, each length-prefixed. It is the same on every redelivery of the event, so a destination
// consumer can drop duplicates.
func DedupID(messageID, dstID string) string {
	h := sha256.New()
	var n [4]byte
	h.Write([]byte("phiguard/dedup/v1"))
	for _, s := range []string{messageID, dstID} {
		binary.BigEndian.PutUint32(n[:], uint32(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// copyOut is one SNS message waiting to be published: a single copy, or a pack of copies.
type copyOut struct {
	owners []int  // indexes of the ingest messages whose copies it holds
	copies int    // how many copies it holds
	dst    string // destination id
	entry  snstypes.PublishBatchRequestEntry
	size   int // body and attributes, as SNS counts them

	// packed says that the copy goes into its destination's pack (pc, with the routing
	// attributes ws, src, typ) rather than out on its own as entry.
	packed       bool
	pc           pack.Copy
	ws, src, typ string
}

// packing is a destination's pack being filled during an invocation.
type packing struct {
	dst, ws, src, typ string
	copies            []pack.Copy
	owners            []int
	size              int // the sum of pack.Size of copies
}

// addToPack adds c to its destination's pack, publishing the pack first when c does not fit.
func (h *Handler) addToPack(ctx context.Context, inv *invocation, c copyOut) {
	p := inv.packs[c.dst]
	if p == nil {
		p = &packing{dst: c.dst, ws: c.ws, src: c.src, typ: c.typ}
		inv.packs[c.dst] = p
	}
	n := pack.Size(c.pc)
	if len(p.copies) > 0 && !pack.Fits(p.size+n) {
		h.publishPack(ctx, inv, p)
	}
	p.copies = append(p.copies, c.pc)
	p.owners = append(p.owners, c.owners...)
	p.size += n
}

// flushPacks publishes what the packs hold at the end of the invocation, leaving out the copies
// of messages that have failed meanwhile: SQS redelivers those, with every copy, so publishing
// them now would only send them twice.
func (h *Handler) flushPacks(ctx context.Context, inv *invocation) {
	for _, dst := range slices.Sorted(maps.Keys(inv.packs)) {
		p := inv.packs[dst]
		keep := 0
		for i, owner := range p.owners {
			if !inv.fail[owner] {
				p.copies[keep], p.owners[keep] = p.copies[i], owner
				keep++
			}
		}
		p.copies, p.owners = p.copies[:keep], p.owners[:keep]
		h.publishPack(ctx, inv, p)
	}
}

// publishPack queues p's copies as one message and empties p.
func (h *Handler) publishPack(ctx context.Context, inv *invocation, p *packing) {
	if len(p.copies) == 0 {
		return
	}
	body, err := pack.Encode(p.copies)
	if err != nil {
		// Every copy has a dedup id: this cannot happen. Fail the messages rather than lose them.
		for _, owner := range p.owners {
			inv.fail[owner] = true
		}
		h.log.Error("pack not encoded; its messages will be retried", "destination", p.dst, "copies", len(p.copies), "error", err.Error())
	} else {
		c := copyOut{owners: slices.Clone(p.owners), copies: len(p.copies), dst: p.dst, entry: snstypes.PublishBatchRequestEntry{
			Message: aws.String(string(body)),
			MessageAttributes: map[string]snstypes.MessageAttributeValue{
				AttrWorkspace:       strAttrSNS(p.ws),
				AttrSource:          strAttrSNS(p.src),
				AttrDestination:     strAttrSNS(p.dst),
				AttrDestinationType: strAttrSNS(p.typ),
				AttrFormat:          strAttrSNS(pack.Format),
			},
		}}
		c.size = len(body) + attrsSize(c.entry.MessageAttributes)
		inv.pub.add(ctx, c)
	}
	p.copies, p.owners, p.size = nil, nil, 0
}

// attrsSize is the size SNS counts for message attributes: names, types and values.
func attrsSize(attrs map[string]snstypes.MessageAttributeValue) int {
	n := 0
	for k, v := range attrs {
		n += len(k) + len(aws.ToString(v.DataType)) + len(aws.ToString(v.StringValue))
	}
	return n
}

// publisher batches copies into PublishBatch calls and sends up to concurrency batches at a
// time, so memory stays bounded by concurrency+1 batches however large the invocation.
type publisher struct {
	client   Publisher
	topic    *string
	attempts int
	base     time.Duration
	log      *slog.Logger

	sem chan struct{}
	wg  sync.WaitGroup
	cur []copyOut
	sz  int

	mu        sync.Mutex
	failed    map[int]bool   // message index → a copy could not be published
	published map[string]int // destination id → copies published
}

func newPublisher(client Publisher, topic string, concurrency, attempts int, base time.Duration, log *slog.Logger) *publisher {
	return &publisher{
		client: client, topic: aws.String(topic), attempts: attempts, base: base, log: log,
		sem: make(chan struct{}, concurrency), failed: map[int]bool{}, published: map[string]int{},
	}
}

// add queues c, sending the current batch first when c does not fit in it.
func (p *publisher) add(ctx context.Context, c copyOut) {
	if len(p.cur) == publishBatchEntries || (len(p.cur) > 0 && p.sz+c.size > publishBatchBytes) {
		p.flush(ctx)
	}
	p.cur = append(p.cur, c)
	p.sz += c.size
}

// flush sends the current batch in the background, waiting first when concurrency batches are
// already in flight.
func (p *publisher) flush(ctx context.Context) {
	if len(p.cur) == 0 {
		return
	}
	batch := p.cur
	p.cur, p.sz = nil, 0
	p.sem <- struct{}{}
	p.wg.Add(1)
	go func() {
		defer func() { <-p.sem; p.wg.Done() }()
		p.send(ctx, batch)
	}()
}

// wait sends what is queued and waits for every batch.
func (p *publisher) wait(ctx context.Context) {
	p.flush(ctx)
	p.wg.Wait()
}

// send publishes batch, retrying the whole call on errors and the failed entries of a partial
// success, with exponential backoff and jitter, until attempts are used up or the context's
// deadline is near. Copies still unpublished mark their messages failed.
func (p *publisher) send(ctx context.Context, batch []copyOut) {
	pending := batch
	for attempt := 0; attempt < p.attempts && len(pending) > 0; attempt++ {
		if attempt > 0 && !retry.Sleep(ctx, retry.Backoff(p.base, 2*time.Second, attempt)) {
			break
		}
		in := &sns.PublishBatchInput{TopicArn: p.topic, PublishBatchRequestEntries: make([]snstypes.PublishBatchRequestEntry, len(pending))}
		for i := range pending {
			e := pending[i].entry
			e.Id = aws.String(strconv.Itoa(i))
			in.PublishBatchRequestEntries[i] = e
		}
		out, err := p.client.PublishBatch(ctx, in)
		if err != nil {
			p.log.Warn("publish batch failed; retrying", "attempt", attempt+1, "copies", len(pending), "error_code", errorCode(err))
			continue
		}
		var again []copyOut
		p.mu.Lock()
		for _, s := range out.Successful {
			if i, err := strconv.Atoi(aws.ToString(s.Id)); err == nil && i < len(pending) {
				p.published[pending[i].dst] += pending[i].copies
			}
		}
		for _, f := range out.Failed {
			i, err := strconv.Atoi(aws.ToString(f.Id))
			if err != nil || i >= len(pending) {
				continue
			}
			if f.SenderFault {
				// The request was wrong for this entry; repeating it cannot help. The message
				// is retried by SQS and ends in the DLQ if it keeps failing.
				for _, owner := range pending[i].owners {
					p.failed[owner] = true
				}
				p.log.Error("copy refused by SNS", "destination", pending[i].dst, "copies", pending[i].copies, "error_code", aws.ToString(f.Code))
				continue
			}
			again = append(again, pending[i])
		}
		// Entries SNS reported neither way are treated as unpublished.
		if n := len(out.Successful) + len(out.Failed); n < len(pending) {
			seen := make([]bool, len(pending))
			for _, s := range out.Successful {
				if i, err := strconv.Atoi(aws.ToString(s.Id)); err == nil && i < len(pending) {
					seen[i] = true
				}
			}
			for _, f := range out.Failed {
				if i, err := strconv.Atoi(aws.ToString(f.Id)); err == nil && i < len(pending) {
					seen[i] = true
				}
			}
			for i, ok := range seen {
				if !ok {
					again = append(again, pending[i])
				}
			}
		}
		p.mu.Unlock()
		if len(again) > 0 {
			p.log.Warn("publish batch partially failed; retrying", "attempt", attempt+1, "failed", len(again), "copies", len(pending))
		}
		pending = again
	}
	if len(pending) > 0 {
		p.mu.Lock()
		for _, c := range pending {
			for _, owner := range c.owners {
				p.failed[owner] = true
			}
		}
		p.mu.Unlock()
		p.log.Error("copies not published after retries; their messages will be redelivered", "copies", len(pending))
	}
}

// errorCode returns an AWS error's code, or a fixed word for other errors, so that logs never
// carry error text that could echo request content.
func errorCode(err error) string {
	var ae smithy.APIError
	switch {
	case errors.As(err, &ae):
		return ae.ErrorCode()
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "context-done"
	}
	return "error"
}
