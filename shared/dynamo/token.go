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

// tokenPuts returns the two puts that store a token: its metadata under the workspace and its
// lookup item under the secret's hash. Both carry the hash (the metadata needs it to find the
// lookup item on revocation); it is a SHA-256 of a random secret and is never returned.
func (s *Store) tokenPuts(t *phi.Token, secretHash string, now time.Time) ([]types.TransactWriteItem, error) {
	if err := checkID(phi.PrefixToken, t.ID, "token"); err != nil {
		return nil, err
	}
	if err := checkID(phi.PrefixWorkspace, t.WorkspaceID, "workspace"); err != nil {
		return nil, err
	}
	if !t.Role.Valid() {
		return nil, phi.Errorf(phi.EINVALID, "role %q is not a role; use owner, member or readonly", clipID(string(t.Role)))
	}
	if err := checkSecretHash(secretHash); err != nil {
		return nil, err
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now
	}
	extra := map[string]types.AttributeValue{attrSecretHash: str(secretHash)}
	meta, err := item(wsPK(t.WorkspaceID), prefixTok+t.ID, t, extra)
	if err != nil {
		return nil, err
	}
	lookup, err := item(prefixTokHash+secretHash, skToken, t, extra)
	if err != nil {
		return nil, err
	}
	b := newExpr()
	notExists := aws.String("attribute_not_exists(" + b.n(Table.PartitionKey) + ")")
	return []types.TransactWriteItem{
		{Put: &types.Put{TableName: s.table, Item: meta, ConditionExpression: notExists, ExpressionAttributeNames: b.nameMap()}},
		{Put: &types.Put{TableName: s.table, Item: lookup, ConditionExpression: notExists, ExpressionAttributeNames: b.nameMap()}},
	}, nil
}

// CreateToken stores the metadata of a new token of workspace t.WorkspaceID and its lookup
// item, in one transaction; secretHash is the SHA-256 (hex) of the token's secret. A zero
// t.CreatedAt is set to now. It returns EINVALID for a malformed id, role or hash; ENOTFOUND
// when the workspace does not exist; ECONFLICT when the token or its hash already exists or the
// workspace is closed.
func (s *Store) CreateToken(ctx context.Context, t *phi.Token, secretHash string) error {
	puts, err := s.tokenPuts(t, secretHash, s.now())
	if err != nil {
		return err
	}
	b := newExpr()
	// A closed workspace takes no new token: closing revokes them all, and must stay so.
	exists := aws.String("attribute_exists(" + b.n(Table.PartitionKey) + ") AND attribute_not_exists(" + b.n(attrClosed) + ")")
	ws := types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName: s.table, Key: key(wsPK(t.WorkspaceID), skMeta), ConditionExpression: exists,
		ExpressionAttributeNames: b.nameMap(),
	}}
	if t.Role == phi.RoleOwner && t.RevokedAt == nil {
		ws = types.TransactWriteItem{Update: &types.Update{
			TableName: s.table, Key: key(wsPK(t.WorkspaceID), skMeta), ConditionExpression: exists,
			UpdateExpression:         aws.String("ADD " + b.n(attrOwnerTokens) + " " + b.v("one", num(1))),
			ExpressionAttributeNames: b.nameMap(), ExpressionAttributeValues: b.valueMap(),
		}}
	}
	tx := append([]types.TransactWriteItem{ws}, puts...)
	_, err = s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx})
	if reasons, ok := canceled(err); ok {
		if _, failed := failedAt(reasons, 0); failed {
			if w, err := s.GetWorkspace(ctx, t.WorkspaceID); err == nil && w.Closed != nil {
				return errClosed(w)
			}
			return errNotFound("workspace", t.WorkspaceID)
		}
		if _, failed := failedAt(reasons, 1); failed {
			return phi.Errorf(phi.ECONFLICT, "token %s already exists", t.ID)
		}
		if _, failed := failedAt(reasons, 2); failed {
			return phi.Errorf(phi.ECONFLICT, "a token with this secret already exists")
		}
	}
	if err != nil {
		return transactionError(err, "create token "+t.ID, "token "+t.ID)
	}
	return nil
}

// LookupToken returns the token whose secret hashes to secretHash, read consistently so that
// a revocation takes effect at once. A revoked token is returned with RevokedAt set: the
// caller decides. It returns ENOTFOUND when no token has that hash (a malformed hash
// included).
func (s *Store) LookupToken(ctx context.Context, secretHash string) (*phi.Token, error) {
	if checkSecretHash(secretHash) != nil {
		return nil, phi.Errorf(phi.ENOTFOUND, "token not found")
	}
	m, err := s.getItemNamed(ctx, prefixTokHash+secretHash, skToken, "token lookup item")
	if err != nil {
		return nil, fmt.Errorf("look up token: %w", err)
	}
	if m == nil {
		return nil, phi.Errorf(phi.ENOTFOUND, "token not found")
	}
	var t phi.Token
	if err := unmarshal(m, &t); err != nil {
		return nil, fmt.Errorf("decode token: %w", err)
	}
	return &t, nil
}

// ListTokens returns one page of workspace wsID's tokens (revoked ones included), in id
// order, and the next page's cursor. It returns EBADREQUEST for a malformed cursor; an
// unknown workspace has no tokens.
func (s *Store) ListTokens(ctx context.Context, wsID string, page phi.Page) ([]phi.Token, string, error) {
	return listPrefix[phi.Token](ctx, s, wsID, prefixTok, page)
}

// ErrLastOwner is the conflict of revoking a workspace's last active owner token: only owners
// reach the Privacy Portal, keys, tokens and audit log, and no customer route could let them back
// in (an operator can issue a recovery owner token).
var ErrLastOwner = phi.Errorf(phi.ECONFLICT, "this is the workspace's last active owner token; create another owner token before revoking it")

// RevokeToken marks token tokenID of workspace wsID revoked at at, on its metadata and its
// lookup item in one transaction. Revoking an active owner token also takes it off the
// workspace's count of active owner tokens, on the condition that another one remains: the
// workspace's last active owner token is refused with ErrLastOwner, however many revocations
// run at once. Revoking a revoked token keeps the first revocation time and succeeds. It returns
// ENOTFOUND when the token does not exist in that workspace.
func (s *Store) RevokeToken(ctx context.Context, wsID, tokenID string, at time.Time) error {
	return s.revokeToken(ctx, wsID, tokenID, at, true)
}

// revokeToken is RevokeToken; keepOwner false lets it revoke the last owner token too (closing
// a workspace revokes every token).
func (s *Store) revokeToken(ctx context.Context, wsID, tokenID string, at time.Time, keepOwner bool) error {
	if !phi.ValidID(phi.PrefixWorkspace, wsID) || !phi.ValidID(phi.PrefixToken, tokenID) {
		return errNotFound("token", clipID(tokenID))
	}
	m, err := s.getItem(ctx, wsPK(wsID), prefixTok+tokenID)
	if err != nil {
		return err
	}
	hash := stringAttr(m, attrSecretHash)
	if m == nil || hash == "" {
		return errNotFound("token", tokenID)
	}
	var tok phi.Token
	if err := unmarshal(m, &tok); err != nil {
		return fmt.Errorf("decode token %s: %w", tokenID, err)
	}
	if tok.RevokedAt != nil {
		return nil // revoked already: the first revocation time stands
	}
	atAV, err := timeAttr(at.UTC())
	if err != nil {
		return fmt.Errorf("marshal revocation time: %w", err)
	}
	b := newExpr()
	update := aws.String("SET " + b.n("revokedAt") + " = if_not_exists(" + b.n("revokedAt") + ", " + b.v("at", atAV) + ")")
	// The metadata is revoked only if it is still active, so that two concurrent revocations of
	// one owner token cannot both take it off the count.
	active := aws.String("attribute_exists(" + b.n(Table.PartitionKey) + ") AND attribute_not_exists(" + b.n("revokedAt") + ")")
	tx := []types.TransactWriteItem{
		{Update: &types.Update{TableName: s.table, Key: key(wsPK(wsID), prefixTok+tokenID), UpdateExpression: update,
			ConditionExpression: active, ExpressionAttributeNames: b.nameMap(), ExpressionAttributeValues: b.valueMap()}},
		{Update: &types.Update{TableName: s.table, Key: key(prefixTokHash+hash, skToken), UpdateExpression: update,
			ConditionExpression:      aws.String("attribute_exists(" + b.n(Table.PartitionKey) + ")"),
			ExpressionAttributeNames: b.nameMap(), ExpressionAttributeValues: b.valueMap()}},
	}
	if tok.Role == phi.RoleOwner {
		c := newExpr()
		n := c.n(attrOwnerTokens)
		u := &types.Update{
			TableName: s.table, Key: key(wsPK(wsID), skMeta),
			UpdateExpression:          aws.String("ADD " + n + " " + c.v("minus", num(-1))),
			ConditionExpression:       aws.String(n + " > " + c.v("one", num(1))),
			ExpressionAttributeNames:  c.nameMap(),
			ExpressionAttributeValues: c.valueMap(),
		}
		if !keepOwner {
			u.ConditionExpression = aws.String("attribute_exists(" + c.n(Table.PartitionKey) + ")")
			delete(c.values, ":one")
		}
		tx = append(tx, types.TransactWriteItem{Update: u})
	}
	_, err = s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx})
	if reasons, ok := canceled(err); ok {
		if _, failed := failedAt(reasons, 0); failed {
			return nil // revoked concurrently: the first revocation time stands
		}
		if _, failed := failedAt(reasons, 2); failed {
			return ErrLastOwner
		}
	}
	if err != nil {
		return transactionError(err, "revoke token "+tokenID, "token "+tokenID)
	}
	return nil
}
