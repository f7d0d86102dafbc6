package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/phiguard/phiguard/shared/audit"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/retry"
)

// AuditRetention is how long an audit record is kept before DynamoDB's TTL may delete it:
// seven years, beyond HIPAA's six.
const AuditRetention = 7 * 365 * 24 * time.Hour

// auditTimeLayout is fixed-width, so that sort keys order as times do (RFC 3339 with
// trailing zeros trimmed does not).
const auditTimeLayout = "2006-01-02T15:04:05.000000000Z"

func auditSK(at time.Time, id string) string { return at.UTC().Format(auditTimeLayout) + "#" + id }

// auditAppendAttempts bounds AppendAudit's retries when concurrent writers of the same
// workspace keep moving the chain head between its read and its transaction.
const auditAppendAttempts = 8

// Store-only items of the audit chain (docs/STORE.md): the head, in a partition of its own
// because it is updated (the audit partition is append-only under IAM), and the signed
// checkpoints, which live among the records and are appended like them.
const (
	suffixAuditHead  = "#AUDITHEAD"
	skAuditHead      = "HEAD"
	prefixCheckpoint = "CKPT#"
	attrSeq          = "seq"
	attrHash         = "hash"
)

func auditHeadPK(wsID string) string { return prefixWS + wsID + suffixAuditHead }

// checkpointSK is fixed-width, so that checkpoints sort by sequence number.
func checkpointSK(seq int64) string { return fmt.Sprintf("%s%020d", prefixCheckpoint, seq) }

// AppendAudit appends r to its workspace's audit chain. A missing r.ID is assigned and a zero
// r.At set to now; the record expires AuditRetention after r.At. The store sets r.Seq to one
// more than the chain head's and r.PrevHash to the head's hash, and writes the record
// (conditional on its item not existing) and the new head (conditional on the head being the
// one read) in one transaction, so concurrent writers never fork the chain: a writer that lost
// the race reads the head again and retries, at most auditAppendAttempts times. Records are never
// overwritten. Appending the same record again succeeds without writing — the SDK retries a
// write whose response was lost, and the retry then finds the first attempt's item — and sets
// r's Seq and PrevHash to the stored ones. It returns EINVALID for a malformed workspace or
// record id, ECONFLICT when another record with the same id and time already exists or the
// head kept moving.
func (s *Store) AppendAudit(ctx context.Context, r *phi.AuditRecord) error {
	if err := checkID(phi.PrefixWorkspace, r.WorkspaceID, "workspace"); err != nil {
		return err
	}
	if r.ID == "" {
		r.ID = phi.NewID(phi.PrefixAudit)
	}
	if err := checkID(phi.PrefixAudit, r.ID, "audit record"); err != nil {
		return err
	}
	if r.At.IsZero() {
		r.At = s.now()
	}
	r.At = r.At.UTC()
	pk, sk := auditPK(r.WorkspaceID), auditSK(r.At, r.ID)
	for attempt := 1; attempt <= auditAppendAttempts; attempt++ {
		head, err := s.AuditHead(ctx, r.WorkspaceID)
		if err != nil {
			return err
		}
		r.Seq, r.PrevHash = head.Seq+1, head.Hash
		if head.Seq == 0 {
			r.PrevHash = audit.Genesis
		}
		m, err := item(pk, sk, r, map[string]types.AttributeValue{
			Table.TTLAttribute: num(r.At.Add(AuditRetention).Unix()),
		})
		if err != nil {
			return err
		}
		newHead, err := item(auditHeadPK(r.WorkspaceID), skAuditHead, phi.AuditHead{Seq: r.Seq, Hash: audit.Hash(r)}, nil)
		if err != nil {
			return err
		}
		rb, hb := newExpr(), newExpr()
		recCond := "attribute_not_exists(" + rb.n(Table.PartitionKey) + ")"
		headCond := "attribute_not_exists(" + hb.n(Table.PartitionKey) + ")"
		if head.Seq > 0 {
			hb = newExpr()
			headCond = hb.n(attrSeq) + " = " + hb.v("prev", num(head.Seq))
		}
		_, err = s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
			// The same token makes DynamoDB treat the SDK's retry of a transaction whose
			// response was lost as the same transaction; each chain position gets its own
			// (at most 36 characters: the id's 26 and six digits of the seq).
			ClientRequestToken: aws.String(fmt.Sprintf("%s%06d", strings.TrimPrefix(r.ID, phi.PrefixAudit), r.Seq%1e6)),
			TransactItems: []types.TransactWriteItem{
				{Put: &types.Put{TableName: s.table, Item: m,
					ConditionExpression: aws.String(recCond), ExpressionAttributeNames: rb.nameMap()}},
				{Put: &types.Put{TableName: s.table, Item: newHead,
					ConditionExpression: aws.String(headCond), ExpressionAttributeNames: hb.nameMap(),
					ExpressionAttributeValues: hb.valueMap()}},
			},
		})
		reasons, isCanceled := canceled(err)
		if _, failed := failedAt(reasons, 0); isCanceled && failed {
			return s.sameAudit(ctx, r, pk, sk)
		}
		if err == nil {
			return nil
		}
		if !isCanceled {
			var tce *types.TransactionConflictException
			if !errors.As(err, &tce) {
				return fmt.Errorf("append audit record to %s: %w", r.WorkspaceID, err)
			}
		}
		// The head moved (or a concurrent transaction held it): read it again.
		if attempt < auditAppendAttempts && !retry.Sleep(ctx, retry.Backoff(5*time.Millisecond, 100*time.Millisecond, attempt)) {
			break
		}
	}
	return errConcurrent("the audit chain of workspace " + r.WorkspaceID)
}

// sameAudit answers an append whose record item already exists: success when it is r (the SDK
// retried a write whose response was lost; r then takes the stored Seq and PrevHash), ECONFLICT
// otherwise.
func (s *Store) sameAudit(ctx context.Context, r *phi.AuditRecord, pk, sk string) error {
	old, err := s.getItem(ctx, pk, sk)
	if err != nil {
		return err
	}
	var stored phi.AuditRecord
	if old != nil && unmarshal(old, &stored) == nil && sameRecord(stored, *r) {
		r.Seq, r.PrevHash = stored.Seq, stored.PrevHash
		return nil // our own earlier attempt
	}
	return phi.Errorf(phi.ECONFLICT, "audit record %s already exists; audit records are append-only", r.ID)
}

// sameRecord reports whether a and b record the same event (times compared as instants, so a
// monotonic clock reading does not count; the chain position is the store's, not the event's).
func sameRecord(a, b phi.AuditRecord) bool {
	at := a.At.Equal(b.At)
	a.At, b.At = time.Time{}, time.Time{}
	a.Seq, b.Seq, a.PrevHash, b.PrevHash = 0, 0, "", ""
	return at && a == b
}

// AuditHead returns the head of workspace wsID's audit chain, read consistently; the zero head
// for a workspace whose chain is empty (or unknown). It returns the SDK's error, wrapped.
func (s *Store) AuditHead(ctx context.Context, wsID string) (phi.AuditHead, error) {
	if !phi.ValidID(phi.PrefixWorkspace, wsID) {
		return phi.AuditHead{}, errNotFound("workspace", clipID(wsID))
	}
	m, err := s.getItem(ctx, auditHeadPK(wsID), skAuditHead)
	if err != nil || m == nil {
		return phi.AuditHead{}, err
	}
	var h phi.AuditHead
	if err := unmarshal(m, &h); err != nil {
		return phi.AuditHead{}, fmt.Errorf("decode the audit chain head of %s: %w", wsID, err)
	}
	return h, nil
}

// AuditRecords returns every audit record of workspace wsID with from <= At <= to (zero from:
// since the beginning; zero to: until now and beyond), oldest first, read with one consistent,
// paginated Query; at most limit records (EINVALID beyond them), so that a
// caller never holds an unbounded log in memory. It returns EINVALID when from is after to.
func (s *Store) AuditRecords(ctx context.Context, wsID string, from, to time.Time, limit int) ([]phi.AuditRecord, error) {
	if !phi.ValidID(phi.PrefixWorkspace, wsID) {
		return nil, errNotFound("workspace", clipID(wsID))
	}
	q, err := auditRangeQuery(wsID, from, to)
	if err != nil {
		return nil, err
	}
	q.ScanIndexForward = aws.Bool(true)
	q.TableName = s.table
	q.ConsistentRead = aws.Bool(true)
	var recs []phi.AuditRecord
	pages := dynamodb.NewQueryPaginator(s.client, q)
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("query the audit records of %s: %w", wsID, err)
		}
		if len(recs)+len(out.Items) > limit {
			return nil, phi.Errorf(phi.EINVALID, "the time range holds more than %d audit records; narrow from and to", limit)
		}
		page, err := decodeAll[phi.AuditRecord](out.Items)
		if err != nil {
			return nil, err
		}
		recs = append(recs, page...)
	}
	return recs, nil
}

// PutAuditCheckpoint appends c to its workspace's audit partition. A checkpoint of the same
// record already stored is kept and the call succeeds: one signed checkpoint per record is
// enough. It returns EINVALID for a malformed workspace id or a seq below 1.
func (s *Store) PutAuditCheckpoint(ctx context.Context, c *phi.AuditCheckpoint) error {
	if err := checkID(phi.PrefixWorkspace, c.WorkspaceID, "workspace"); err != nil {
		return err
	}
	if c.Seq < 1 {
		return phi.Errorf(phi.EINVALID, "a checkpoint covers record 1 or later, not %d", c.Seq)
	}
	m, err := item(auditPK(c.WorkspaceID), checkpointSK(c.Seq), c, map[string]types.AttributeValue{
		Table.TTLAttribute: num(c.At.Add(AuditRetention).Unix()),
	})
	if err != nil {
		return err
	}
	b := newExpr()
	_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                s.table,
		Item:                     m,
		ConditionExpression:      aws.String("attribute_not_exists(" + b.n(Table.PartitionKey) + ")"),
		ExpressionAttributeNames: b.nameMap(),
	})
	if _, ok := conditionFailed(err); ok {
		return nil
	}
	if err != nil {
		return fmt.Errorf("append audit checkpoint to %s: %w", c.WorkspaceID, err)
	}
	return nil
}

// AuditCheckpoints returns every signed checkpoint of workspace wsID, oldest first.
func (s *Store) AuditCheckpoints(ctx context.Context, wsID string) ([]phi.AuditCheckpoint, error) {
	if !phi.ValidID(phi.PrefixWorkspace, wsID) {
		return nil, errNotFound("workspace", clipID(wsID))
	}
	pk := auditPK(wsID)
	items, err := s.queryAll(ctx, prefixQuery(pk, prefixCheckpoint), pk)
	if err != nil {
		return nil, err
	}
	return decodeAll[phi.AuditCheckpoint](items)
}

// auditRangeQuery returns the Query of workspace wsID's audit records with from <= At <= to.
func auditRangeQuery(wsID string, from, to time.Time) (*dynamodb.QueryInput, error) {
	if !from.IsZero() && !to.IsZero() && from.After(to) {
		return nil, phi.Errorf(phi.EINVALID, "the time range starts after it ends; swap from and to")
	}
	lo, hi := auditRange(from, to)
	b := newExpr()
	return &dynamodb.QueryInput{
		KeyConditionExpression: aws.String(b.n(Table.PartitionKey) + " = " + b.v("pk", str(auditPK(wsID))) +
			" AND " + b.n(Table.SortKey) + " BETWEEN " + b.v("lo", str(lo)) + " AND " + b.v("hi", str(hi))),
		ExpressionAttributeNames:  b.nameMap(),
		ExpressionAttributeValues: b.valueMap(),
	}, nil
}

// auditRange returns the sort-key bounds of the records with from <= At <= to. Record keys
// start with a digit, so checkpoints (CKPT#…) are never inside them.
func auditRange(from, to time.Time) (lo, hi string) {
	lo, hi = "0", "9"
	if !from.IsZero() {
		lo = from.UTC().Format(auditTimeLayout)
	}
	if !to.IsZero() {
		hi = to.UTC().Format(auditTimeLayout) + "#~" // '~' sorts after every id character
	}
	return lo, hi
}

// ListAudit returns one page of workspace wsID's audit records with from <= At <= to, newest
// first, and the next page's cursor ("" after the last page). A zero from means since the
// beginning, a zero to means until now and beyond. It returns EINVALID when from is after to
// and EBADREQUEST for a malformed cursor (or one issued for another time range).
func (s *Store) ListAudit(ctx context.Context, wsID string, from, to time.Time, page phi.Page) ([]phi.AuditRecord, string, error) {
	if !phi.ValidID(phi.PrefixWorkspace, wsID) {
		return nil, "", errNotFound("workspace", clipID(wsID))
	}
	q, err := auditRangeQuery(wsID, from, to)
	if err != nil {
		return nil, "", err
	}
	q.ScanIndexForward = aws.Bool(false)
	lo, hi := auditRange(from, to)
	inRange := func(sk string) bool { return strings.Contains(sk, "#") && sk >= lo && sk <= hi }
	pk := auditPK(wsID)
	items, next, err := s.queryPage(ctx, q, page, pk, inRange)
	if err != nil {
		return nil, "", err
	}
	recs, err := decodeAll[phi.AuditRecord](items)
	if err != nil {
		return nil, "", err
	}
	return recs, next, nil
}
