package dynamo

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/phiguard/phiguard/shared/phi"
)

// attrMatcherCount, on a workspace's META item, counts its custom matchers; PutMatcher and
// DeleteMatcher keep it in step in the same transaction as the matcher item.
const attrMatcherCount = "matcherCount"

// attrOwnerTokens, on a workspace's META item, counts its active owner tokens: CreateWorkspace
// sets it to 1, CreateToken adds one for an owner token, and RevokeToken takes one away only
// while more than one remains, in the same transaction as the revocation — so that no two
// revocations, however concurrent, can leave a workspace without an owner.
const attrOwnerTokens = "ownerTokens"

// CreateWorkspace stores a new workspace and its first owner token in one transaction. It
// sets w.Version to 1 and fills zero CreatedAt/UpdatedAt times (and the token's) with now.
// ownerSecretHash is the SHA-256 (hex) of the owner token's secret; the secret itself never
// reaches the store. It returns EINVALID for a malformed id, tier, role or hash, or a token
// of another workspace; ECONFLICT when the workspace or token already exists.
func (s *Store) CreateWorkspace(ctx context.Context, w *phi.Workspace, owner *phi.Token, ownerSecretHash string) error {
	if err := checkID(phi.PrefixWorkspace, w.ID, "workspace"); err != nil {
		return err
	}
	if !w.Tier.Valid() {
		return phi.Errorf(phi.EINVALID, "tier %q is not a plan tier; use free, team or business", clipID(string(w.Tier)))
	}
	if owner.WorkspaceID == "" {
		owner.WorkspaceID = w.ID
	}
	if owner.WorkspaceID != w.ID {
		return phi.Errorf(phi.EINVALID, "the owner token belongs to another workspace")
	}
	now := s.now()
	if w.CreatedAt.IsZero() {
		w.CreatedAt = now
	}
	if w.UpdatedAt.IsZero() {
		w.UpdatedAt = w.CreatedAt
	}
	ws := *w
	ws.Version = 1
	meta, err := item(wsPK(w.ID), skMeta, ws, map[string]types.AttributeValue{attrMatcherCount: num(0), attrOwnerTokens: num(1)})
	if err != nil {
		return err
	}
	tokenItems, err := s.tokenPuts(owner, ownerSecretHash, now)
	if err != nil {
		return err
	}
	b := newExpr()
	tx := append([]types.TransactWriteItem{{Put: &types.Put{
		TableName:                s.table,
		Item:                     meta,
		ConditionExpression:      aws.String("attribute_not_exists(" + b.n(Table.PartitionKey) + ")"),
		ExpressionAttributeNames: b.nameMap(),
	}}}, tokenItems...)
	_, err = s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx})
	if reasons, ok := canceled(err); ok {
		if _, failed := failedAt(reasons, 0); failed {
			return phi.Errorf(phi.ECONFLICT, "workspace %s already exists", w.ID)
		}
		if _, failed := failedAt(reasons, 1); failed {
			return phi.Errorf(phi.ECONFLICT, "token %s already exists", owner.ID)
		}
		if _, failed := failedAt(reasons, 2); failed {
			return phi.Errorf(phi.ECONFLICT, "a token with this secret already exists")
		}
	}
	if err != nil {
		return transactionError(err, "create workspace "+w.ID, "workspace "+w.ID)
	}
	w.Version = 1
	return nil
}

// GetWorkspace returns the workspace wsID, or ENOTFOUND.
func (s *Store) GetWorkspace(ctx context.Context, wsID string) (*phi.Workspace, error) {
	if !phi.ValidID(phi.PrefixWorkspace, wsID) {
		return nil, errNotFound("workspace", clipID(wsID))
	}
	m, err := s.getItem(ctx, wsPK(wsID), skMeta)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errNotFound("workspace", wsID)
	}
	var w phi.Workspace
	if err := unmarshal(m, &w); err != nil {
		return nil, fmt.Errorf("decode workspace %s: %w", wsID, err)
	}
	return &w, nil
}

// UpdateWorkspace saves w's name, tier and BAA when the stored version is w.Version, then sets
// w.Version and w.UpdatedAt to the stored values. It returns ENOTFOUND for a missing
// workspace, EPRECONDITION for another version, EINVALID for an unknown tier.
func (s *Store) UpdateWorkspace(ctx context.Context, w *phi.Workspace) error {
	if !phi.ValidID(phi.PrefixWorkspace, w.ID) {
		return errNotFound("workspace", clipID(w.ID))
	}
	if !w.Tier.Valid() {
		return phi.Errorf(phi.EINVALID, "tier %q is not a plan tier; use free, team or business", clipID(string(w.Tier)))
	}
	ws := *w
	ws.UpdatedAt = s.now()
	m, err := marshal(ws)
	if err != nil {
		return fmt.Errorf("marshal workspace %s: %w", w.ID, err)
	}
	out, err := s.updateVersioned(ctx, wsPK(w.ID), skMeta, pick(m, "name", "tier", "baa", "updatedAt"), w.Version, "workspace", w.ID)
	if err != nil {
		return err
	}
	return unmarshal(out, w)
}
