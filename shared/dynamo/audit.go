package dynamo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/phiguard/phiguard/shared/phi"
)

// AuditRetention is how long an audit record is kept before DynamoDB's TTL may delete it:
// seven years, beyond HIPAA's six.
const AuditRetention = 7 * 365 * 24 * time.Hour

// auditTimeLayout is fixed-width, so that sort keys order as times do (RFC 3339 with
// trailing zeros trimmed does not).
const auditTimeLayout = "2006-01-02T15:04:05.000000000Z"

func auditSK(at time.Time, id string) string { return at.UTC().Format(auditTimeLayout) + "#" + id }

// AppendAudit appends r to its workspace's audit log. A missing r.ID is assigned and a zero
// r.At set to now; the record expires AuditRetention after r.At. Records are never
// overwritten: the write is conditional on the item not existing. Appending the same record
// again succeeds without writing — the SDK retries a write whose response was lost, and the
// retry then finds the first attempt's item. It returns EINVALID for a malformed workspace or
// record id, ECONFLICT when another record with the same id and time already exists.
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
	m, err := item(auditPK(r.WorkspaceID), auditSK(r.At, r.ID), r, map[string]types.AttributeValue{
		Table.TTLAttribute: num(r.At.Add(AuditRetention).Unix()),
	})
	if err != nil {
		return err
	}
	b := newExpr()
	_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           s.table,
		Item:                                m,
		ConditionExpression:                 aws.String("attribute_not_exists(" + b.n(Table.PartitionKey) + ")"),
		ExpressionAttributeNames:            b.nameMap(),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if old, ok := conditionFailed(err); ok {
		var stored phi.AuditRecord
		if old != nil && unmarshal(old, &stored) == nil && sameRecord(stored, *r) {
			return nil // our own earlier attempt
		}
		return phi.Errorf(phi.ECONFLICT, "audit record %s already exists; audit records are append-only", r.ID)
	}
	if err != nil {
		return fmt.Errorf("append audit record to %s: %w", r.WorkspaceID, err)
	}
	return nil
}

// sameRecord reports whether a and b record the same event (times compared as instants, so a
// monotonic clock reading does not count).
func sameRecord(a, b phi.AuditRecord) bool {
	at := a.At.Equal(b.At)
	a.At, b.At = time.Time{}, time.Time{}
	return at && a == b
}

// ListAudit returns one page of workspace wsID's audit records with from <= At <= to, newest
// first, and the next page's cursor ("" after the last page). A zero from means since the
// beginning, a zero to means until now and beyond. It returns EINVALID when from is after to
// and EBADREQUEST for a malformed cursor (or one issued for another time range).
func (s *Store) ListAudit(ctx context.Context, wsID string, from, to time.Time, page phi.Page) ([]phi.AuditRecord, string, error) {
	if !phi.ValidID(phi.PrefixWorkspace, wsID) {
		return nil, "", errNotFound("workspace", clipID(wsID))
	}
	if !from.IsZero() && !to.IsZero() && from.After(to) {
		return nil, "", phi.Errorf(phi.EINVALID, "the time range starts after it ends; swap from and to")
	}
	lo, hi := "0", "9"
	if !from.IsZero() {
		lo = from.UTC().Format(auditTimeLayout)
	}
	if !to.IsZero() {
		hi = to.UTC().Format(auditTimeLayout) + "#~" // '~' sorts after every id character
	}
	pk := auditPK(wsID)
	b := newExpr()
	q := &dynamodb.QueryInput{
		KeyConditionExpression: aws.String(b.n(Table.PartitionKey) + " = " + b.v("pk", str(pk)) +
			" AND " + b.n(Table.SortKey) + " BETWEEN " + b.v("lo", str(lo)) + " AND " + b.v("hi", str(hi))),
		ExpressionAttributeNames:  b.nameMap(),
		ExpressionAttributeValues: b.valueMap(),
		ScanIndexForward:          aws.Bool(false),
	}
	inRange := func(sk string) bool { return strings.Contains(sk, "#") && sk >= lo && sk <= hi }
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
