package dynamo

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/phiguard/phiguard/shared/phi"
)

// suffixSigning ends the partition of a workspace's webhook signing secrets: their own
// partition, so the workspace snapshot (the pipeline's one query of WS#<ws>) never reads them.
const suffixSigning = "#SIGNING"

func signingPK(wsID string) string { return prefixWS + wsID + suffixSigning }

// putSigning returns the write of sec's item at version prev+1, under the condition that the
// stored item is at version prev (none at all when prev is 0).
func (s *Store) putSigning(sec *phi.SigningSecrets, prev int64) (types.TransactWriteItem, error) {
	v := *sec
	v.Version = prev + 1
	m, err := item(signingPK(sec.WorkspaceID), prefixDst+sec.DestinationID, v, nil)
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	b := newExpr()
	var cond string
	if prev > 0 {
		cond = b.n(attrVersion) + " = " + b.v("expected", num(prev))
	} else {
		cond = "attribute_not_exists(" + b.n(Table.PartitionKey) + ")"
	}
	return types.TransactWriteItem{Put: &types.Put{
		TableName: s.table, Item: m, ConditionExpression: aws.String(cond),
		ExpressionAttributeNames: b.nameMap(), ExpressionAttributeValues: b.valueMap(),
	}}, nil
}

// GetSigningSecrets returns the signing secrets of destination dstID (ciphertexts only), or
// ENOTFOUND when it has none.
func (s *Store) GetSigningSecrets(ctx context.Context, wsID, dstID string) (*phi.SigningSecrets, error) {
	if !phi.ValidID(phi.PrefixWorkspace, wsID) || !phi.ValidID(phi.PrefixDestination, dstID) {
		return nil, errNotFound("signing secrets of destination", clipID(dstID))
	}
	m, err := s.getItem(ctx, signingPK(wsID), prefixDst+dstID)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errNotFound("signing secrets of destination", dstID)
	}
	var v phi.SigningSecrets
	if err := unmarshal(m, &v); err != nil {
		return nil, fmt.Errorf("decode signing secrets of destination %s: %w", dstID, err)
	}
	return &v, nil
}

// PutSigningSecrets replaces destination sec.DestinationID's signing secrets with sec (a
// rotation), in one transaction that requires the destination to exist and the stored secrets
// to be at version sec.Version (none stored when it is 0), and sets sec.Version to the new
// version. A missing destination is ENOTFOUND; secrets written meanwhile ECONFLICT.
func (s *Store) PutSigningSecrets(ctx context.Context, sec *phi.SigningSecrets) error {
	if err := checkID(phi.PrefixWorkspace, sec.WorkspaceID, "workspace"); err != nil {
		return err
	}
	if err := checkID(phi.PrefixDestination, sec.DestinationID, "destination"); err != nil {
		return err
	}
	put, err := s.putSigning(sec, sec.Version)
	if err != nil {
		return err
	}
	b := newExpr()
	_, err = s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{ConditionCheck: &types.ConditionCheck{TableName: s.table, Key: key(wsPK(sec.WorkspaceID), prefixDst+sec.DestinationID),
			ConditionExpression: aws.String("attribute_exists(" + b.n(Table.PartitionKey) + ")"), ExpressionAttributeNames: b.nameMap()}},
		put,
	}})
	if reasons, ok := canceled(err); ok {
		if _, failed := failedAt(reasons, 0); failed {
			return errNotFound("destination", sec.DestinationID)
		}
		if _, failed := failedAt(reasons, 1); failed {
			return phi.Errorf(phi.ECONFLICT, "the signing secrets of destination %s were rotated concurrently; retry", sec.DestinationID)
		}
	}
	if err != nil {
		return transactionError(err, "rotate the signing secrets of destination "+sec.DestinationID, "destination "+sec.DestinationID)
	}
	sec.Version++
	return nil
}
