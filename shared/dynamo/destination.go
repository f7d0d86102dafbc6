package dynamo

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/phiguard/phiguard/shared/phi"
)

// destinationFields are the attributes UpdateDestination may change.
var destinationFields = []string{"sourceId", "name", "type", "enabled", "settings", "hashing", "updatedAt"}

// countUpdate returns the update that adds delta to the destination count of source srcID,
// under the condition that the source exists.
func (s *Store) countUpdate(wsID, srcID string, delta int64) types.TransactWriteItem {
	b := newExpr()
	return types.TransactWriteItem{Update: &types.Update{
		TableName:                 s.table,
		Key:                       key(wsPK(wsID), prefixSrc+srcID),
		UpdateExpression:          aws.String("ADD " + b.n(attrDestinationCount) + " " + b.v("delta", num(delta))),
		ConditionExpression:       aws.String("attribute_exists(" + b.n(Table.PartitionKey) + ")"),
		ExpressionAttributeNames:  b.nameMap(),
		ExpressionAttributeValues: b.valueMap(),
	}}
}

func errNoSource(srcID string) error {
	return phi.Errorf(phi.EINVALID, "source %s does not exist in this workspace; create it first or connect another source", clipID(srcID)).
		WithDetails(map[string]string{"field": "sourceId"})
}

// CreateDestination stores a new destination of workspace d.WorkspaceID, connected to source
// d.SourceID, and counts it on the source in the same transaction. It sets d.Version to 1 and
// fills zero CreatedAt/UpdatedAt with now. It returns EINVALID for a malformed id or a source
// that does not exist, ECONFLICT when the destination already exists.
func (s *Store) CreateDestination(ctx context.Context, d *phi.Destination) error {
	return s.CreateSignedDestination(ctx, d, nil)
}

// CreateSignedDestination is CreateDestination storing, in the same transaction, the
// destination's signing secrets (sec's ciphertexts, version 1) when sec is not nil, so that a
// webhook destination never exists without them. sec's ids must be d's.
func (s *Store) CreateSignedDestination(ctx context.Context, d *phi.Destination, sec *phi.SigningSecrets) error {
	if err := checkID(phi.PrefixWorkspace, d.WorkspaceID, "workspace"); err != nil {
		return err
	}
	if err := checkID(phi.PrefixDestination, d.ID, "destination"); err != nil {
		return err
	}
	if !phi.ValidID(phi.PrefixSource, d.SourceID) {
		return errNoSource(d.SourceID)
	}
	if d.CreatedAt.IsZero() {
		d.CreatedAt = s.now()
	}
	if d.UpdatedAt.IsZero() {
		d.UpdatedAt = d.CreatedAt
	}
	v := *d
	v.Version = 1
	m, err := item(wsPK(d.WorkspaceID), prefixDst+d.ID, v, nil)
	if err != nil {
		return err
	}
	b := newExpr()
	items := []types.TransactWriteItem{
		s.countUpdate(d.WorkspaceID, d.SourceID, 1),
		{Put: &types.Put{TableName: s.table, Item: m,
			ConditionExpression: aws.String("attribute_not_exists(" + b.n(Table.PartitionKey) + ")"), ExpressionAttributeNames: b.nameMap()}},
	}
	if sec != nil {
		if sec.WorkspaceID != d.WorkspaceID || sec.DestinationID != d.ID || len(sec.Secrets) == 0 {
			return fmt.Errorf("create destination %s: signing secrets of another destination, or none", d.ID)
		}
		put, err := s.putSigning(sec, 0)
		if err != nil {
			return err
		}
		items = append(items, put)
	}
	_, err = s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if reasons, ok := canceled(err); ok {
		if _, failed := failedAt(reasons, 0); failed {
			return errNoSource(d.SourceID)
		}
		if _, failed := failedAt(reasons, 1); failed {
			return phi.Errorf(phi.ECONFLICT, "destination %s already exists", d.ID)
		}
		if _, failed := failedAt(reasons, 2); failed {
			return phi.Errorf(phi.ECONFLICT, "destination %s already has signing secrets", d.ID)
		}
	}
	if err != nil {
		return transactionError(err, "create destination "+d.ID, "destination "+d.ID)
	}
	d.Version = 1
	if sec != nil {
		sec.Version = 1
	}
	return nil
}

// GetDestination returns destination id of workspace wsID, or ENOTFOUND.
func (s *Store) GetDestination(ctx context.Context, wsID, id string) (*phi.Destination, error) {
	return getOne[phi.Destination](ctx, s, wsID, phi.PrefixDestination, id, prefixDst+id, "destination")
}

// ListDestinations returns one page of workspace wsID's destinations, in id order, and the
// next page's cursor ("" after the last page). It returns EBADREQUEST for a malformed cursor.
func (s *Store) ListDestinations(ctx context.Context, wsID string, page phi.Page) ([]phi.Destination, string, error) {
	return listPrefix[phi.Destination](ctx, s, wsID, prefixDst, page)
}

// UpdateDestination saves d's source, name, type, enabled flag, settings and hashing settings
// when the stored version is d.Version, then sets d.Version and d.UpdatedAt to the stored
// values. Moving the destination to another source moves its count between the sources in
// the same transaction. It returns ENOTFOUND for a missing destination, EPRECONDITION for
// another version, EINVALID when the new source does not exist.
func (s *Store) UpdateDestination(ctx context.Context, d *phi.Destination) error {
	cur, err := s.GetDestination(ctx, d.WorkspaceID, d.ID)
	if err != nil {
		return err
	}
	if cur.Version != d.Version {
		return errVersion()
	}
	v := *d
	v.UpdatedAt = s.now()
	m, err := marshal(v)
	if err != nil {
		return fmt.Errorf("marshal destination %s: %w", d.ID, err)
	}
	set := pick(m, destinationFields...)
	pk, sk := wsPK(d.WorkspaceID), prefixDst+d.ID
	if d.SourceID == cur.SourceID {
		out, err := s.updateVersioned(ctx, pk, sk, set, d.Version, "destination", d.ID)
		if err != nil {
			return err
		}
		if err := unmarshal(out, d); err != nil {
			return fmt.Errorf("decode destination %s: %w", d.ID, err)
		}
		return nil
	}
	if !phi.ValidID(phi.PrefixSource, d.SourceID) {
		return errNoSource(d.SourceID)
	}
	b := newExpr()
	_, err = s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: &types.Update{
			TableName:                           s.table,
			Key:                                 key(pk, sk),
			UpdateExpression:                    aws.String(b.set(set, b.n(attrVersion)+" = "+b.n(attrVersion)+" + "+b.v("one", num(1)))),
			ConditionExpression:                 aws.String("attribute_exists(" + b.n(Table.PartitionKey) + ") AND " + b.n(attrVersion) + " = " + b.v("expected", num(d.Version))),
			ExpressionAttributeNames:            b.nameMap(),
			ExpressionAttributeValues:           b.valueMap(),
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}},
		s.countUpdate(d.WorkspaceID, cur.SourceID, -1),
		s.countUpdate(d.WorkspaceID, d.SourceID, 1),
	}})
	if reasons, ok := canceled(err); ok {
		if old, failed := failedAt(reasons, 0); failed {
			if old == nil {
				return errNotFound("destination", d.ID)
			}
			return errVersion()
		}
		if _, failed := failedAt(reasons, 2); failed {
			return errNoSource(d.SourceID)
		}
	}
	if err != nil {
		return transactionError(err, "update destination "+d.ID, "destination "+d.ID)
	}
	d.Version++
	d.UpdatedAt = v.UpdatedAt
	return nil
}

// DeleteDestination deletes destination id of workspace wsID and uncounts it on its source,
// in one transaction. Its keys stay, as history (see docs/STORE.md). It returns ENOTFOUND when
// there is no such destination and ECONFLICT when it changed while being deleted.
func (s *Store) DeleteDestination(ctx context.Context, wsID, id string) error {
	cur, err := s.GetDestination(ctx, wsID, id)
	if err != nil {
		return err
	}
	b := newExpr()
	_, err = s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Delete: &types.Delete{
			TableName:                           s.table,
			Key:                                 key(wsPK(wsID), prefixDst+id),
			ConditionExpression:                 aws.String(b.n(attrVersion) + " = " + b.v("expected", num(cur.Version))),
			ExpressionAttributeNames:            b.nameMap(),
			ExpressionAttributeValues:           b.valueMap(),
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}},
		s.countUpdate(wsID, cur.SourceID, -1),
		// The signing secrets go with their destination: nothing may sign for it any more.
		{Delete: &types.Delete{TableName: s.table, Key: key(signingPK(wsID), prefixDst+id)}},
	}})
	if reasons, ok := canceled(err); ok {
		if old, failed := failedAt(reasons, 0); failed && old == nil {
			return errNotFound("destination", id)
		}
	}
	if err != nil {
		return transactionError(err, "delete destination "+id, "destination "+id)
	}
	return nil
}

// AttrDelivery is the destination item's delivery status (phi.Destination.Delivery), which only
// SetDeliveryStatus writes: the one attribute the delivery function may write (infra).
const AttrDelivery = "delivery"

// SetDeliveryStatus stores st as destination dstID's delivery status, without changing its
// version or anything else of it. When unchangedSince is not zero, it stores st only if the
// stored status is degraded with that LastFailureAt — no failure was recorded since the caller
// read it — and returns EPRECONDITION otherwise (the destination was deleted, or another
// failure was recorded); without it, ENOTFOUND when the destination does not exist. It names
// no attribute but the item's key and AttrDelivery and asks for none back, so that a role
// allowed to write only those may call it.
func (s *Store) SetDeliveryStatus(ctx context.Context, wsID, dstID string, st phi.DeliveryStatus, unchangedSince time.Time) error {
	if err := checkID(phi.PrefixWorkspace, wsID, "workspace"); err != nil {
		return err
	}
	if err := checkID(phi.PrefixDestination, dstID, "destination"); err != nil {
		return err
	}
	av, err := marshal(st)
	if err != nil {
		return fmt.Errorf("marshal delivery status of %s: %w", dstID, err)
	}
	b := newExpr()
	cond := "attribute_exists(" + b.n(Table.PartitionKey) + ")"
	if !unchangedSince.IsZero() {
		at, err := timeAttr(unchangedSince)
		if err != nil {
			return err
		}
		d := b.n(AttrDelivery)
		cond += " AND " + d + "." + b.n("state") + " = " + b.v("degraded", str(phi.DeliveryDegraded)) +
			" AND " + d + "." + b.n("lastFailureAt") + " = " + b.v("since", at)
	}
	_, err = s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 s.table,
		Key:                       key(wsPK(wsID), prefixDst+dstID),
		UpdateExpression:          aws.String("SET " + b.n(AttrDelivery) + " = " + b.v("st", &types.AttributeValueMemberM{Value: av})),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  b.nameMap(),
		ExpressionAttributeValues: b.valueMap(),
	})
	if _, failed := conditionFailed(err); failed {
		if unchangedSince.IsZero() {
			return errNotFound("destination", dstID)
		}
		return phi.Errorf(phi.EPRECONDITION, "destination %s was deleted or recorded another delivery failure since", dstID)
	}
	if err != nil {
		return fmt.Errorf("set delivery status of %s: %w", dstID, err)
	}
	return nil
}
