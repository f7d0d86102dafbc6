package awsdest

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/phiguard/phiguard/shared/catalog"
	"github.com/phiguard/phiguard/shared/delivery"
	"github.com/phiguard/phiguard/shared/pack"
	"github.com/phiguard/phiguard/shared/phi"
)

// EventBridgeSender puts each copy as one event on the destination's bus with PutEvents:
// source catalog.EventBridgeSource, detail-type catalog.EventBridgeDetailType, the Record as its
// detail. Requests carry at most 10 entries and 256 KB, counted as EventBridge counts an entry
// (EntrySize); an entry over 256 KB alone is refused before any call (permanent, "too-large").
// Each entry's outcome is its own (per-entry ErrorCode).
type EventBridgeSender struct{ s *Senders }

// EntrySize is the size EventBridge counts for an entry (its documented calculation, without
// resources): 14 bytes for the time, and the bytes of source, detail-type and detail.
func EntrySize(source, detailType string, detail []byte) int {
	return 14 + len(source) + len(detailType) + len(detail)
}

// Send implements delivery.Sender.
func (x EventBridgeSender) Send(ctx context.Context, d *phi.Destination, copies []pack.Copy) []delivery.Outcome {
	if bad := misconfigured(d, len(copies)); bad != nil {
		return bad
	}
	lim, _ := catalog.Lookup(phi.DestinationEventBridge)
	out := make([]delivery.Outcome, len(copies))
	var batch []int
	var entries []types.PutEventsRequestEntry
	size := 0
	c := x.s.forDestination(d)
	flush := func() {
		if len(batch) > 0 {
			x.put(ctx, c, entries, batch, out)
		}
		batch, entries, size = batch[:0], nil, 0
	}
	for i, cp := range copies {
		rec := Record(cp)
		n := EntrySize(catalog.EventBridgeSource, catalog.EventBridgeDetailType, rec)
		if n > lim.Limits.MaxRecordBytes {
			out[i] = tooLarge(n, lim.Limits.MaxRecordBytes)
			continue
		}
		if len(batch) == lim.Limits.MaxBatchRecords || size+n > lim.Limits.MaxBatchBytes {
			flush()
		}
		batch, size = append(batch, i), size+n
		entries = append(entries, entry(d, catalog.EventBridgeDetailType, rec))
	}
	flush()
	return out
}

func entry(d *phi.Destination, detailType string, detail []byte) types.PutEventsRequestEntry {
	return types.PutEventsRequestEntry{
		EventBusName: aws.String(d.Settings.EventBusARN), Source: aws.String(catalog.EventBridgeSource),
		DetailType: aws.String(detailType), Detail: aws.String(string(detail)),
	}
}

// put sends one PutEvents and sets the outcome of each copy batch[i] it carried.
func (x EventBridgeSender) put(ctx context.Context, c *clients, entries []types.PutEventsRequestEntry, batch []int, out []delivery.Outcome) {
	res, err := c.eventbridge.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries})
	if err != nil {
		o := outcomeOf("eventbridge PutEvents", err)
		for _, i := range batch {
			out[i] = o
		}
		return
	}
	for j, i := range batch {
		if j >= len(res.Entries) {
			out[i] = delivery.Outcome{Err: fmt.Errorf("eventbridge PutEvents answered %d results for %d entries", len(res.Entries), len(batch)), Reason: "short-response"}
			continue
		}
		if e := res.Entries[j]; e.ErrorCode != nil {
			out[i] = entryOutcome("eventbridge PutEvents", aws.ToString(e.ErrorCode), aws.ToString(e.ErrorMessage), false)
		}
	}
}
