package dynamo

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/phiguard/phiguard/shared/phi"
)

// attrDestinationCount, on a source item, counts the destinations connected to it. Creating,
// moving and deleting a destination keep it in step in the same transaction, so DeleteSource
// can refuse atomically while it is not zero.
const attrDestinationCount = "destinationCount"

// CreateSource stores a new source of workspace src.WorkspaceID. It sets src.Version to 1 and
// fills zero CreatedAt/UpdatedAt with now. It returns EINVALID for a malformed id, ENOTFOUND
// when the workspace does not exist, ECONFLICT when the source already exists.
func (s *Store) CreateSource(ctx context.Context, src *phi.Source) error {
	if err := checkID(phi.PrefixWorkspace, src.WorkspaceID, "workspace"); err != nil {
		return err
	}
	if err := checkID(phi.PrefixSource, src.ID, "source"); err != nil {
		return err
	}
	if src.CreatedAt.IsZero() {
		src.CreatedAt = s.now()
	}
	if src.UpdatedAt.IsZero() {
		src.UpdatedAt = src.CreatedAt
	}
	v := *src
	v.Version = 1
	m, err := item(wsPK(src.WorkspaceID), prefixSrc+src.ID, v, map[string]types.AttributeValue{attrDestinationCount: num(0)})
	if err != nil {
		return err
	}
	b := newExpr()
	_, err = s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{ConditionCheck: &types.ConditionCheck{TableName: s.table, Key: key(wsPK(src.WorkspaceID), skMeta),
			ConditionExpression: aws.String("attribute_exists(" + b.n(Table.PartitionKey) + ")"), ExpressionAttributeNames: b.nameMap()}},
		{Put: &types.Put{TableName: s.table, Item: m,
			ConditionExpression: aws.String("attribute_not_exists(" + b.n(Table.PartitionKey) + ")"), ExpressionAttributeNames: b.nameMap()}},
	}})
	if reasons, ok := canceled(err); ok {
		if _, failed := failedAt(reasons, 0); failed {
			return errNotFound("workspace", src.WorkspaceID)
		}
		if _, failed := failedAt(reasons, 1); failed {
			return phi.Errorf(phi.ECONFLICT, "source %s already exists", src.ID)
		}
	}
	if err != nil {
		return transactionError(err, "create source "+src.ID, "source "+src.ID)
	}
	src.Version = 1
	return nil
}

// GetSource returns source id of workspace wsID, or ENOTFOUND.
func (s *Store) GetSource(ctx context.Context, wsID, id string) (*phi.Source, error) {
	return getOne[phi.Source](ctx, s, wsID, phi.PrefixSource, id, prefixSrc+id, "source")
}

// ListSources returns one page of workspace wsID's sources, in id order, and the next page's
// cursor ("" after the last page). It returns EBADREQUEST for a malformed cursor.
func (s *Store) ListSources(ctx context.Context, wsID string, page phi.Page) ([]phi.Source, string, error) {
	return listPrefix[phi.Source](ctx, s, wsID, prefixSrc, page)
}

// UpdateSource saves src's name when the stored version is src.Version, then sets src.Version
// and src.UpdatedAt to the stored values. It returns ENOTFOUND for a missing source and
// EPRECONDITION for another version.
func (s *Store) UpdateSource(ctx context.Context, src *phi.Source) error {
	if !phi.ValidID(phi.PrefixWorkspace, src.WorkspaceID) || !phi.ValidID(phi.PrefixSource, src.ID) {
		return errNotFound("source", clipID(src.ID))
	}
	v := *src
	v.UpdatedAt = s.now()
	m, err := marshal(v)
	if err != nil {
		return fmt.Errorf("marshal source %s: %w", src.ID, err)
	}
	out, err := s.updateVersioned(ctx, wsPK(src.WorkspaceID), prefixSrc+src.ID, pick(m, "name", "updatedAt"), src.Version, "source", src.ID)
	if err != nil {
		return err
	}
	if err := unmarshal(out, src); err != nil {
		return fmt.Errorf("decode source %s: %w", src.ID, err)
	}
	return nil
}

// DeleteSource deletes source id of workspace wsID. It returns ENOTFOUND when there is no such
// source and ECONFLICT, refusing, while destinations are connected to it.
func (s *Store) DeleteSource(ctx context.Context, wsID, id string) error {
	if !phi.ValidID(phi.PrefixWorkspace, wsID) || !phi.ValidID(phi.PrefixSource, id) {
		return errNotFound("source", clipID(id))
	}
	b := newExpr()
	cond := "attribute_exists(" + b.n(Table.PartitionKey) + ") AND (attribute_not_exists(" + b.n(attrDestinationCount) +
		") OR " + b.n(attrDestinationCount) + " = " + b.v("zero", num(0)) + ")"
	_, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                           s.table,
		Key:                                 key(wsPK(wsID), prefixSrc+id),
		ConditionExpression:                 aws.String(cond),
		ExpressionAttributeNames:            b.nameMap(),
		ExpressionAttributeValues:           b.valueMap(),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if old, ok := conditionFailed(err); ok {
		if old == nil {
			return errNotFound("source", id)
		}
		n := "some"
		if c, ok := old[attrDestinationCount].(*types.AttributeValueMemberN); ok {
			if v, err := strconv.Atoi(c.Value); err == nil {
				n = strconv.Itoa(v)
			}
		}
		return phi.Errorf(phi.ECONFLICT, "source %s still has %s connected destinations; delete them or connect them to another source first", id, n)
	}
	if err != nil {
		return fmt.Errorf("delete source %s: %w", id, err)
	}
	return nil
}

// getOne reads the item sk of workspace wsID whose id (with prefix idPrefix) is id, decoded as
// T, or returns ENOTFOUND.
func getOne[T any](ctx context.Context, s *Store, wsID, idPrefix, id, sk, what string) (*T, error) {
	if !phi.ValidID(phi.PrefixWorkspace, wsID) || !phi.ValidID(idPrefix, id) {
		return nil, errNotFound(what, clipID(id))
	}
	m, err := s.getItem(ctx, wsPK(wsID), sk)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errNotFound(what, id)
	}
	var v T
	if err := unmarshal(m, &v); err != nil {
		return nil, fmt.Errorf("decode %s %s: %w", what, id, err)
	}
	return &v, nil
}
