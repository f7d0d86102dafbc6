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
// to active and a zero k.CreatedAt to now. It is for keys that need no confirmation (imported
// public keys); generated keys are stored with PutPendingKey and activated with ActivateKey. k carries metadata only — a public key, or for
// HMAC keys the KMS ciphertext of the key — never a private or plaintext key. When another
// rotation of the same destination and kind commits first, it retries on top of it, so the
// key stored last is the active one. It returns EINVALID for a malformed id or kind, an
// encryption key without a public key or an HMAC key without its ciphertext; ENOTFOUND when
// the destination does not exist; ECONFLICT when the key id exists or rotations keep racing.
func (s *Store) PutActiveKey(ctx context.Context, k *phi.Key) error {
	if err := checkKey(k); err != nil {
		return err
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = s.now()
	}
	v := *k
	v.Status = phi.KeyActive
	v.RevokedAt, v.ExpiresAt = nil, nil
	pk := wsPK(k.WorkspaceID)
	m, err := keyItem(&v, nil)
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
		k.RevokedAt, k.ExpiresAt = nil, nil
		return nil
	}
	return errConcurrent("the destination's keys")
}

// checkKey refuses a key that cannot be stored: EINVALID for a malformed id or kind, an
// encryption key without a public key or an HMAC key without its ciphertext.
func checkKey(k *phi.Key) error {
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
	return nil
}

// keyItem marshals v as its key item: the HMAC key's ciphertext as a binary attribute and a
// pending key's expiry as the table's TTL attribute (epoch seconds), which is also what
// ExpiresAt decodes from.
func keyItem(v *phi.Key, expires *time.Time) (map[string]types.AttributeValue, error) {
	extra := map[string]types.AttributeValue{}
	if len(v.EncryptedHMACKey) > 0 {
		extra[attrEncryptedHMACKey] = &types.AttributeValueMemberB{Value: v.EncryptedHMACKey}
	}
	c := *v
	c.ExpiresAt = nil
	if expires != nil {
		extra[Table.TTLAttribute] = num(expires.Unix())
	}
	return item(wsPK(v.WorkspaceID), keySK(v.DestinationID, v.ID), c, extra)
}

// PutPendingKey stores k as a pending key of its destination: listed, never used (the pipeline
// and the hashing rules look for active keys only), until ActivateKey makes it active. It
// expires at k.ExpiresAt, which is stored as the table's TTL attribute, so DynamoDB deletes a
// key that was never activated; k.ExpiresAt is truncated to the second it is stored with, k.Status
// set to pending and a zero k.CreatedAt to now. The active key of the destination is not touched.
// It returns EINVALID as PutActiveKey does and for a key without ExpiresAt, ENOTFOUND when the
// destination does not exist, ECONFLICT when the key id exists.
func (s *Store) PutPendingKey(ctx context.Context, k *phi.Key) error {
	if err := checkKey(k); err != nil {
		return err
	}
	if k.ExpiresAt == nil {
		return phi.Errorf(phi.EINVALID, "a pending key needs the time it expires")
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = s.now()
	}
	exp := k.ExpiresAt.UTC().Truncate(time.Second)
	v := *k
	v.Status = phi.KeyPending
	v.RevokedAt = nil
	m, err := keyItem(&v, &exp)
	if err != nil {
		return err
	}
	pk := wsPK(k.WorkspaceID)
	b := newExpr()
	_, err = s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{ConditionCheck: &types.ConditionCheck{TableName: s.table, Key: key(pk, prefixDst+k.DestinationID),
			ConditionExpression: aws.String("attribute_exists(" + b.n(Table.PartitionKey) + ")"), ExpressionAttributeNames: b.nameMap()}},
		{Put: &types.Put{TableName: s.table, Item: m,
			ConditionExpression: aws.String("attribute_not_exists(" + b.n(Table.PartitionKey) + ")"), ExpressionAttributeNames: b.nameMap()}},
	}})
	if reasons, ok := canceled(err); ok {
		if _, failed := failedAt(reasons, 0); failed {
			return errNotFound("destination", k.DestinationID)
		}
		if _, failed := failedAt(reasons, 1); failed {
			return phi.Errorf(phi.ECONFLICT, "key %s already exists", k.ID)
		}
	}
	if err != nil {
		return transactionError(err, "store pending key "+k.ID, "the destination's keys")
	}
	k.Status, k.RevokedAt, k.ExpiresAt = phi.KeyPending, nil, &exp
	return nil
}

// ActivateKey makes pending key keyID of destination dstID of workspace wsID the active key of
// its destination and kind, and the previous active key of that destination and kind
// decrypt-only, in one transaction conditional on the key still being pending and unexpired at
// now (its TTL attribute is removed, so the active key is never deleted) and on the active-key
// pointer and the previous key being as read; a concurrent rotation is retried on top of. It
// returns the key as stored. Activating the active key again returns it unchanged. It returns
// ENOTFOUND when the key or its destination does not exist, ECONFLICT when the key is
// decrypt-only or revoked, expired unactivated, or rotations keep racing.
func (s *Store) ActivateKey(ctx context.Context, wsID, dstID, keyID string, now time.Time) (*phi.Key, error) {
	pk := wsPK(wsID)
	nowAV := num(now.Unix())
	for range rotationAttempts {
		k, err := s.GetKey(ctx, wsID, dstID, keyID)
		if err != nil {
			return nil, err
		}
		switch {
		case k.Status == phi.KeyActive:
			return k, nil
		case k.Status != phi.KeyPending:
			return nil, phi.Errorf(phi.ECONFLICT, "key %s is %s; only a pending key can be activated", keyID, k.Status)
		case k.Expired(now):
			return nil, phi.Errorf(phi.ECONFLICT, "pending key %s expired unactivated", keyID)
		}
		ptr, err := s.getItem(ctx, pk, activeSK(dstID, k.Kind))
		if err != nil {
			return nil, err
		}
		prev := stringAttr(ptr, attrActiveKeyID)
		b := newExpr()
		kb := newExpr()
		tx := []types.TransactWriteItem{
			{ConditionCheck: &types.ConditionCheck{TableName: s.table, Key: key(pk, prefixDst+dstID),
				ConditionExpression: aws.String("attribute_exists(" + b.n(Table.PartitionKey) + ")"), ExpressionAttributeNames: b.nameMap()}},
			{Update: &types.Update{TableName: s.table, Key: key(pk, keySK(dstID, keyID)),
				UpdateExpression: aws.String("SET " + kb.n(attrStatus) + " = " + kb.v("active", str(string(phi.KeyActive))) +
					" REMOVE " + kb.n(Table.TTLAttribute)),
				ConditionExpression: aws.String(kb.n(attrStatus) + " = " + kb.v("pending", str(string(phi.KeyPending))) +
					" AND " + kb.n(Table.TTLAttribute) + " > " + kb.v("now", nowAV)),
				ExpressionAttributeNames:  kb.nameMap(),
				ExpressionAttributeValues: kb.valueMap()}},
		}
		tx = append(tx, s.pointerMove(wsID, dstID, k.Kind, keyID, prev)...)
		_, err = s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx})
		if reasons, ok := canceled(err); ok {
			if _, failed := failedAt(reasons, 0); failed {
				return nil, errNotFound("destination", dstID)
			}
			continue // the key, the pointer or the previous key changed: read again
		}
		if err != nil {
			return nil, transactionError(err, "activate key "+keyID, "the destination's keys")
		}
		k.Status, k.ExpiresAt = phi.KeyActive, nil
		return k, nil
	}
	return nil, errConcurrent("the destination's keys")
}

// rotation returns the transaction that makes the key item m active in place of prev ("" when
// the destination has no active key of that kind): the destination must exist, the key must
// be new, the pointer must still name prev, and prev must still be active.
func (s *Store) rotation(k *phi.Key, m map[string]types.AttributeValue, prev string) []types.TransactWriteItem {
	pk := wsPK(k.WorkspaceID)
	b := newExpr()
	exists := aws.String("attribute_exists(" + b.n(Table.PartitionKey) + ")")
	notExists := aws.String("attribute_not_exists(" + b.n(Table.PartitionKey) + ")")
	tx := []types.TransactWriteItem{
		{ConditionCheck: &types.ConditionCheck{TableName: s.table, Key: key(pk, prefixDst+k.DestinationID),
			ConditionExpression: exists, ExpressionAttributeNames: b.nameMap()}},
		{Put: &types.Put{TableName: s.table, Item: m, ConditionExpression: notExists, ExpressionAttributeNames: b.nameMap()}},
	}
	return append(tx, s.pointerMove(k.WorkspaceID, k.DestinationID, k.Kind, k.ID, prev)...)
}

// pointerMove returns the transaction items that point the active-key pointer of a destination
// and kind at keyID in place of prev ("" when there is none) — under the condition that it still
// names prev — and make prev decrypt-only under the condition that it is still active.
func (s *Store) pointerMove(wsID, dstID string, kind phi.KeyKind, keyID, prev string) []types.TransactWriteItem {
	pk := wsPK(wsID)
	ptr := key(pk, activeSK(dstID, kind))
	ptr[attrActiveKeyID] = str(keyID)
	if prev == "" {
		b := newExpr()
		return []types.TransactWriteItem{{Put: &types.Put{TableName: s.table, Item: ptr,
			ConditionExpression: aws.String("attribute_not_exists(" + b.n(Table.PartitionKey) + ")"), ExpressionAttributeNames: b.nameMap()}}}
	}
	pb := newExpr()
	sb := newExpr()
	return []types.TransactWriteItem{
		{Put: &types.Put{TableName: s.table, Item: ptr,
			ConditionExpression:       aws.String(pb.n(attrActiveKeyID) + " = " + pb.v("prev", str(prev))),
			ExpressionAttributeNames:  pb.nameMap(),
			ExpressionAttributeValues: pb.valueMap()}},
		{Update: &types.Update{TableName: s.table, Key: key(pk, keySK(dstID, prev)),
			UpdateExpression:          aws.String("SET " + sb.n(attrStatus) + " = " + sb.v("decrypt", str(string(phi.KeyDecryptOnly)))),
			ConditionExpression:       aws.String(sb.n(attrStatus) + " = " + sb.v("active", str(string(phi.KeyActive)))),
			ExpressionAttributeNames:  sb.nameMap(),
			ExpressionAttributeValues: sb.valueMap()}},
	}
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
// ciphertext of an HMAC key and a pending key's expiry (a revoked key stays listed, as
// history). Revoking the active key leaves its destination without an active key of that kind
// (encrypt then fails closed until a new key is activated); revoking a pending key only makes
// sure it is never activated.
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
			", " + b.n("revokedAt") + " = " + b.v("at", atAV) + " REMOVE " + b.n(attrEncryptedHMACKey) + ", " + b.n(Table.TTLAttribute)),
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
