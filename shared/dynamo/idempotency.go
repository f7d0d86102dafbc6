package dynamo

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/phiguard/phiguard/shared/phi"
)

// Idempotency records live in their own partition per workspace, so that the pipeline's snapshot
// query of the workspace partition never reads them.
const (
	suffixIdempotency = "#IDEMPOTENCY"
	prefixIdempotency = "IDEM#"
)

func idempotencyPK(wsID string) string { return prefixWS + wsID + suffixIdempotency }
func idempotencySK(dstID string, kind phi.KeyKind, keyHash string) string {
	return prefixIdempotency + dstID + "#" + string(kind) + "#" + keyHash
}

// checkIdempotency refuses a record whose ids, kind or hashes could not be a key.
func checkIdempotency(r *phi.IdempotencyRecord) error {
	if err := checkID(phi.PrefixWorkspace, r.WorkspaceID, "workspace"); err != nil {
		return err
	}
	if err := checkID(phi.PrefixDestination, r.DestinationID, "destination"); err != nil {
		return err
	}
	if r.Kind != phi.KeyEncryption && r.Kind != phi.KeyHMAC {
		return phi.Errorf(phi.EINVALID, "key kind %q is not a kind; use encryption or hmac", clipID(string(r.Kind)))
	}
	for _, h := range []string{r.KeyHash, r.RequestHash} {
		if b, err := hex.DecodeString(h); err != nil || len(b) != 32 {
			return phi.Errorf(phi.EINVALID, "idempotency hashes must be SHA-256 in hex")
		}
	}
	return nil
}

// ClaimIdempotency stores r unless a record of the same workspace, destination, kind and key hash
// exists that has not expired (r.CreatedAt and the expiry of a stored record are compared as
// epoch seconds; DynamoDB's TTL deletes expired records lazily, so they are overwritten). The
// write is one conditional PutItem, so of concurrent claims exactly one succeeds. It returns nil
// when r was stored, and the record that holds the key otherwise. r.ExpiresAt is kept as the
// table's TTL attribute. It returns EINVALID for malformed ids, kind or hashes.
func (s *Store) ClaimIdempotency(ctx context.Context, r *phi.IdempotencyRecord) (*phi.IdempotencyRecord, error) {
	if err := checkIdempotency(r); err != nil {
		return nil, err
	}
	if err := checkID(phi.PrefixKey, r.KeyID, "key"); err != nil {
		return nil, err
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.now()
	}
	m, err := item(idempotencyPK(r.WorkspaceID), idempotencySK(r.DestinationID, r.Kind, r.KeyHash), r,
		map[string]types.AttributeValue{Table.TTLAttribute: num(r.ExpiresAt.Unix())})
	if err != nil {
		return nil, err
	}
	b := newExpr()
	_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: s.table,
		Item:      m,
		ConditionExpression: aws.String("attribute_not_exists(" + b.n(Table.PartitionKey) + ") OR " +
			b.n(Table.TTLAttribute) + " <= " + b.v("now", num(r.CreatedAt.Unix()))),
		ExpressionAttributeNames:            b.nameMap(),
		ExpressionAttributeValues:           b.valueMap(),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if old, ok := conditionFailed(err); ok {
		if old == nil {
			// Deleted between the condition check and the report: nothing holds the key now,
			// but this claim did not store anything either.
			return nil, errConcurrent("the Idempotency-Key")
		}
		held, err := decodeIdempotency(old)
		if err != nil {
			return nil, err
		}
		return held, nil
	}
	if err != nil {
		return nil, fmt.Errorf("claim idempotency record for %s: %w", r.DestinationID, err)
	}
	return nil, nil
}

// ReleaseIdempotency deletes the record r names when it still names r.KeyID, so that a request
// that failed before generating anything can be retried with the same Idempotency-Key. A record
// that is gone or names another key is left alone and is not an error.
func (s *Store) ReleaseIdempotency(ctx context.Context, r *phi.IdempotencyRecord) error {
	if err := checkIdempotency(r); err != nil {
		return err
	}
	b := newExpr()
	_, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 s.table,
		Key:                       key(idempotencyPK(r.WorkspaceID), idempotencySK(r.DestinationID, r.Kind, r.KeyHash)),
		ConditionExpression:       aws.String(b.n("keyId") + " = " + b.v("key", str(r.KeyID))),
		ExpressionAttributeNames:  b.nameMap(),
		ExpressionAttributeValues: b.valueMap(),
	})
	if _, ok := conditionFailed(err); ok {
		return nil
	}
	if err != nil {
		return fmt.Errorf("release idempotency record for key %s: %w", r.KeyID, err)
	}
	return nil
}

// decodeIdempotency decodes a record, its expiry included.
func decodeIdempotency(m map[string]types.AttributeValue) (*phi.IdempotencyRecord, error) {
	var r phi.IdempotencyRecord
	if err := unmarshal(m, &r); err != nil {
		return nil, fmt.Errorf("decode idempotency record: %w", err)
	}
	if n, ok := m[Table.TTLAttribute].(*types.AttributeValueMemberN); ok {
		sec, err := strconv.ParseInt(n.Value, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("decode idempotency record expiry: %w", err)
		}
		r.ExpiresAt = time.Unix(sec, 0).UTC()
	}
	return &r, nil
}

// Records of the router's Idempotency-Key middleware (phi.IdempotentRequest) share the
// workspace's idempotency partition; an operator's, which name no workspace, have their own.
const (
	prefixRequest      = "REQ#"
	operatorIdempotent = "OPERATOR" + suffixIdempotency
)

func requestKey(r *phi.IdempotentRequest) (map[string]types.AttributeValue, error) {
	pk := operatorIdempotent
	if r.WorkspaceID != "" {
		if err := checkID(phi.PrefixWorkspace, r.WorkspaceID, "workspace"); err != nil {
			return nil, err
		}
		pk = idempotencyPK(r.WorkspaceID)
	}
	for _, h := range []string{r.ScopeHash, r.RequestHash} {
		if b, err := hex.DecodeString(h); err != nil || len(b) != 32 {
			return nil, phi.Errorf(phi.EINVALID, "idempotency hashes must be SHA-256 in hex")
		}
	}
	return key(pk, prefixRequest+r.ScopeHash), nil
}

// ClaimRequest stores r (in flight) unless a record of the same workspace and scope hash exists
// that has not expired; of concurrent claims exactly one succeeds. It returns nil when r was
// stored, and the record that holds the key otherwise.
func (s *Store) ClaimRequest(ctx context.Context, r *phi.IdempotentRequest) (*phi.IdempotentRequest, error) {
	k, err := requestKey(r)
	if err != nil {
		return nil, err
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.now()
	}
	m, err := item(stringAttr(k, Table.PartitionKey), stringAttr(k, Table.SortKey), r,
		map[string]types.AttributeValue{Table.TTLAttribute: num(r.ExpiresAt.Unix())})
	if err != nil {
		return nil, err
	}
	b := newExpr()
	_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: s.table,
		Item:      m,
		ConditionExpression: aws.String("attribute_not_exists(" + b.n(Table.PartitionKey) + ") OR " +
			b.n(Table.TTLAttribute) + " <= " + b.v("now", num(s.now().Unix()))),
		ExpressionAttributeNames:            b.nameMap(),
		ExpressionAttributeValues:           b.valueMap(),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if old, ok := conditionFailed(err); ok {
		if old == nil {
			return nil, errConcurrent("the Idempotency-Key")
		}
		var held phi.IdempotentRequest
		if err := unmarshal(old, &held); err != nil {
			return nil, fmt.Errorf("decode idempotent request: %w", err)
		}
		return &held, nil
	}
	if err != nil {
		return nil, fmt.Errorf("claim Idempotency-Key: %w", err)
	}
	return nil, nil
}

// FinishRequest replaces the in-flight record r claimed with r (done, its response and its
// 24-hour expiry), provided the record still holds r's request and is in flight.
func (s *Store) FinishRequest(ctx context.Context, r *phi.IdempotentRequest) error {
	k, err := requestKey(r)
	if err != nil {
		return err
	}
	m, err := item(stringAttr(k, Table.PartitionKey), stringAttr(k, Table.SortKey), r,
		map[string]types.AttributeValue{Table.TTLAttribute: num(r.ExpiresAt.Unix())})
	if err != nil {
		return err
	}
	b := newExpr()
	_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 s.table,
		Item:                      m,
		ConditionExpression:       aws.String(stillInFlight(b, r)),
		ExpressionAttributeNames:  b.nameMap(),
		ExpressionAttributeValues: b.valueMap(),
	})
	if _, ok := conditionFailed(err); ok {
		return errConcurrent("the Idempotency-Key")
	}
	if err != nil {
		return fmt.Errorf("finish Idempotency-Key: %w", err)
	}
	return nil
}

// stillInFlight is the condition that the record still holds r's request and is in flight.
func stillInFlight(b *exprBuilder, r *phi.IdempotentRequest) string {
	return b.n("requestHash") + " = " + b.v("req", str(r.RequestHash)) +
		" AND " + b.n("done") + " = " + b.v("f", &types.AttributeValueMemberBOOL{Value: false})
}

// ReleaseRequest deletes the in-flight record r claimed, so that a request that failed (5xx,
// 429) can be retried with the same Idempotency-Key. A record that is gone, done or holds
// another request is left alone and is not an error.
func (s *Store) ReleaseRequest(ctx context.Context, r *phi.IdempotentRequest) error {
	k, err := requestKey(r)
	if err != nil {
		return err
	}
	b := newExpr()
	_, err = s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 s.table,
		Key:                       k,
		ConditionExpression:       aws.String(stillInFlight(b, r)),
		ExpressionAttributeNames:  b.nameMap(),
		ExpressionAttributeValues: b.valueMap(),
	})
	if _, ok := conditionFailed(err); ok {
		return nil
	}
	if err != nil {
		return fmt.Errorf("release Idempotency-Key: %w", err)
	}
	return nil
}
