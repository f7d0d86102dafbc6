package dynamo

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/phiguard/phiguard/shared/phi"
)

// Store-only attributes of keys. The active-key pointer item (sk ACTIVEKEY#<dst>#<kind>)
// names the one active key of a destination and kind; every key rotation and revocation
// changes it under a condition on its old value, which is what makes "one active key" hold
// under concurrent rotations.
const (
	attrEncryptedHMACKey = "encryptedHmacKey"
	attrActiveKeyID      = "activeKeyId"
	attrStatus           = "status"
)

// rotationAttempts bounds PutActiveKey's retries when a concurrent rotation of the same
// destination and kind wins the race.
const rotationAttempts = 4

func keySK(dstID, keyID string) string { return prefixKey + dstID + "#" + keyID }
func activeSK(dstID string, kind phi.KeyKind) string {
	return prefixActive + dstID + "#" + string(kind)
}

// PutActiveKey stores k as the active key of its destination and kind and makes the previous
// active key of that destination and kind decrypt-only, in one transaction; k.Status is set
// to active and a zero k.CreatedAt to now. k carries metadata only — a public key, or for
// HMAC keys the KMS ciphertext of the key — never a private or plaintext key. When another
// rotation of the same destination and kind commits first, it retries on top of it, so the
// key stored last is the active one. It returns EINVALID for a malformed id or kind, an
// encryption key without a public key or an HMAC key without its ciphertext; ENOTFOUND when
// the destination does not exist; ECONFLICT when the key id exists or rotations keep racing.
func (s *Store) PutActiveKey(ctx context.Context, k *phi.Key) error {
	if err := checkID(phi.PrefixWorkspace, k.WorkspaceID, "workspace"); err != nil {
		return err
	}
	if err := checkID(phi.PrefixDestination, k.DestinationID, "destination"); err != nil {
		return err
	}
	if err := checkID(phi.PrefixKey, k.ID, "key"); err != nil {
		return err
	}
	switch {
	case k.Kind != phi.KeyEncryption && k.Kind != phi.KeyHMAC:
		return phi.Errorf(phi.EINVALID, "key kind %q is not a kind; use encryption or hmac", clipID(string(k.Kind)))
	case k.Kind == phi.KeyEncryption && k.PublicKeyPEM == "":
		return phi.Errorf(phi.EINVALID, "an encryption key needs its public key")
	case k.Kind == phi.KeyHMAC && len(k.EncryptedHMACKey) == 0:
		return phi.Errorf(phi.EINVALID, "an HMAC key needs its KMS-encrypted key")
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = s.now()
	}
	v := *k
	v.Status = phi.KeyActive
	v.RevokedAt = nil
	var extra map[string]types.AttributeValue
	if len(k.EncryptedHMACKey) > 0 {
		extra = map[string]types.AttributeValue{attrEncryptedHMACKey: &types.AttributeValueMemberB{Value: k.EncryptedHMACKey}}
	}
	pk := wsPK(k.WorkspaceID)
	m, err := item(pk, keySK(k.DestinationID, k.ID), v, extra)
	if err != nil {
		return err
	}
	for range rotationAttempts {
		ptr, err := s.getItem(ctx, pk, activeSK(k.DestinationID, k.Kind))
		if err != nil {
			return err
		}
		prev := stringAttr(ptr, attrActiveKeyID)
		if prev == k.ID {
			return phi.Errorf(phi.ECONFLICT, "key %s already exists", k.ID)
		}
		tx := s.rotation(k, m, prev)
		_, err = s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx})
		if reasons, ok := canceled(err); ok {
			if _, failed := failedAt(reasons, 0); failed {
				return errNotFound("destination", k.DestinationID)
			}
			if _, failed := failedAt(reasons, 1); failed {
				return phi.Errorf(phi.ECONFLICT, "key %s already exists", k.ID)
			}
			continue // a concurrent rotation moved the pointer or the previous key: read again
		}
		if err != nil {
			return transactionError(err, "store key "+k.ID, "the destination's keys")
		}
		k.Status = phi.KeyActive
		k.RevokedAt = nil
		return nil
	}
	return errConcurrent("the destination's keys")
}

// rotation returns the transaction that makes the key item m active in place of prev ("" when
// the destination has no active key of that kind): the destination must exist, the key must
// be new, the pointer must still name prev, and prev must still be active.
func (s *Store) rotation(k *phi.Key, m map[string]types.AttributeValue, prev string) []types.TransactWriteItem {
	pk := wsPK(k.WorkspaceID)
	b := newExpr()
	exists := aws.String("attribute_exists(" + b.n(Table.PartitionKey) + ")")
	notExists := aws.String("attribute_not_exists(" + b.n(Table.PartitionKey) + ")")
	ptr := key(pk, activeSK(k.DestinationID, k.Kind))
	ptr[attrActiveKeyID] = str(k.ID)
	tx := []types.TransactWriteItem{
		{ConditionCheck: &types.ConditionCheck{TableName: s.table, Key: key(pk, prefixDst+k.DestinationID),
			ConditionExpression: exists, ExpressionAttributeNames: b.nameMap()}},
		{Put: &types.Put{TableName: s.table, Item: m, ConditionExpression: notExists, ExpressionAttributeNames: b.nameMap()}},
	}
	if prev == "" {
		return append(tx, types.TransactWriteItem{Put: &types.Put{TableName: s.table, Item: ptr,
			ConditionExpression: notExists, ExpressionAttributeNames: b.nameMap()}})
	}
	pb := newExpr()
	sb := newExpr()
	return append(tx,
		types.TransactWriteItem{Put: &types.Put{TableName: s.table, Item: ptr,
			ConditionExpression:       aws.String(pb.n(attrActiveKeyID) + " = " + pb.v("prev", str(prev))),
			ExpressionAttributeNames:  pb.nameMap(),
			ExpressionAttributeValues: pb.valueMap()}},
		types.TransactWriteItem{Update: &types.Update{TableName: s.table, Key: key(pk, keySK(k.DestinationID, prev)),
			UpdateExpression:          aws.String("SET " + sb.n(attrStatus) + " = " + sb.v("decrypt", str(string(phi.KeyDecryptOnly)))),
			ConditionExpression:       aws.String(sb.n(attrStatus) + " = " + sb.v("active", str(string(phi.KeyActive)))),
			ExpressionAttributeNames:  sb.nameMap(),
			ExpressionAttributeValues: sb.valueMap()}},
	)
}

// decodeKey decodes a key item, its KMS ciphertext included.
func decodeKey(m map[string]types.AttributeValue) (phi.Key, error) {
	var k phi.Key
	if err := unmarshal(m, &k); err != nil {
		return k, fmt.Errorf("decode key %s: %w", stringAttr(m, Table.SortKey), err)
	}
	if b, ok := m[attrEncryptedHMACKey].(*types.AttributeValueMemberB); ok {
		k.EncryptedHMACKey = b.Value
	}
	return k, nil
}

// ListKeys returns every key of destination dstID of workspace wsID, whatever its status,
// newest first. A destination without keys, or that does not exist, has none. It returns
// ENOTFOUND for malformed ids.
func (s *Store) ListKeys(ctx context.Context, wsID, dstID string) ([]phi.Key, error) {
	if !phi.ValidID(phi.PrefixWorkspace, wsID) || !phi.ValidID(phi.PrefixDestination, dstID) {
		return nil, errNotFound("destination", clipID(dstID))
	}
	items, err := s.queryAll(ctx, prefixQuery(wsPK(wsID), prefixKey+dstID+"#"), wsPK(wsID))
	if err != nil {
		return nil, err
	}
	keys := make([]phi.Key, 0, len(items))
	for _, m := range items {
		k, err := decodeKey(m)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b phi.Key) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return keys, nil
}

// GetKey returns key keyID of destination dstID of workspace wsID, or ENOTFOUND.
func (s *Store) GetKey(ctx context.Context, wsID, dstID, keyID string) (*phi.Key, error) {
	if !phi.ValidID(phi.PrefixWorkspace, wsID) || !phi.ValidID(phi.PrefixDestination, dstID) || !phi.ValidID(phi.PrefixKey, keyID) {
		return nil, errNotFound("key", clipID(keyID))
	}
	m, err := s.getItem(ctx, wsPK(wsID), keySK(dstID, keyID))
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errNotFound("key", keyID)
	}
	k, err := decodeKey(m)
	if err != nil {
		return nil, err
	}
	return &k, nil
}

// RevokeKey marks key keyID revoked at at so that it is never used again, and drops the KMS
// ciphertext of an HMAC key. Revoking the active key leaves its destination without an
// active key of that kind (encrypt then fails closed until a new key is generated).
// Revoking a revoked key succeeds and keeps the first time. It returns ENOTFOUND when there
// is no such key, ECONFLICT when a concurrent rotation changed it.
func (s *Store) RevokeKey(ctx context.Context, wsID, dstID, keyID string, at time.Time) error {
	k, err := s.GetKey(ctx, wsID, dstID, keyID)
	if err != nil {
		return err
	}
	if k.Status == phi.KeyRevoked {
		return nil
	}
	atAV, err := timeAttr(at.UTC())
	if err != nil {
		return fmt.Errorf("marshal revocation time: %w", err)
	}
	pk := wsPK(wsID)
	b := newExpr()
	tx := []types.TransactWriteItem{{Update: &types.Update{
		TableName: s.table,
		Key:       key(pk, keySK(dstID, keyID)),
		UpdateExpression: aws.String("SET " + b.n(attrStatus) + " = " + b.v("revoked", str(string(phi.KeyRevoked))) +
			", " + b.n("revokedAt") + " = " + b.v("at", atAV) + " REMOVE " + b.n(attrEncryptedHMACKey)),
		ConditionExpression:       aws.String(b.n(attrStatus) + " = " + b.v("cur", str(string(k.Status)))),
		ExpressionAttributeNames:  b.nameMap(),
		ExpressionAttributeValues: b.valueMap(),
	}}}
	if k.Status == phi.KeyActive {
		pb := newExpr()
		tx = append(tx, types.TransactWriteItem{Delete: &types.Delete{
			TableName:                 s.table,
			Key:                       key(pk, activeSK(dstID, k.Kind)),
			ConditionExpression:       aws.String(pb.n(attrActiveKeyID) + " = " + pb.v("id", str(keyID))),
			ExpressionAttributeNames:  pb.nameMap(),
			ExpressionAttributeValues: pb.valueMap(),
		}})
	}
	_, err = s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx})
	if err != nil {
		return transactionError(err, "revoke key "+keyID, "key "+keyID)
	}
	return nil
}
