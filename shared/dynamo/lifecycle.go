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

// attrClosed is the closure of a closed workspace, on its META item (phi.Workspace.Closed).
const attrClosed = "closed"

func errClosed(w *phi.Workspace) error {
	return phi.Errorf(phi.ECONFLICT, "workspace %s is closed (since %s); an operator can reopen it until %s", w.ID,
		w.Closed.At.UTC().Format(time.RFC3339), w.Closed.PurgeAfter.UTC().Format(time.RFC3339))
}

// CloseWorkspace closes workspace wsID with closure c — recorded on the workspace, conditional
// on it not being closed already — and then revokes every one of its tokens (the last owner
// token too: nobody may act in a closed workspace) and every key, so that its tokens stop
// working at once (the authorizer and the console read them consistently on every request)
// and no key is used again. Closing a closed workspace keeps the first closure and revokes
// whatever is left, so a close that failed half-way is finished by calling it again. It
// returns the workspace as stored, ENOTFOUND for an unknown one, ECONFLICT for a purged one.
func (s *Store) CloseWorkspace(ctx context.Context, wsID string, c phi.Closure) (*phi.Workspace, error) {
	w, err := s.GetWorkspace(ctx, wsID)
	if err != nil {
		return nil, err
	}
	if w.Closed != nil && w.Closed.PurgedAt != nil {
		return nil, phi.Errorf(phi.ECONFLICT, "workspace %s was purged", wsID)
	}
	if w.Closed == nil {
		closure, err := marshal(struct {
			Closed phi.Closure `json:"closed"`
		}{c})
		if err != nil {
			return nil, fmt.Errorf("marshal closure of %s: %w", wsID, err)
		}
		b := newExpr()
		changed, err := s.changed(b)
		if err != nil {
			return nil, err
		}
		w, err = s.updateMeta(ctx, wsID, b, "SET "+b.n(attrClosed)+" = "+b.v("closed", closure[attrClosed])+", "+changed,
			"attribute_exists("+b.n(Table.PartitionKey)+") AND attribute_not_exists("+b.n(attrClosed)+")", "close workspace "+wsID)
		if _, ok := conditionFailed(err); ok {
			return s.CloseWorkspace(ctx, wsID, c) // closed concurrently: finish revoking
		}
		if err != nil {
			return nil, err
		}
	}
	at := w.Closed.At
	items, err := s.queryAll(ctx, prefixQuery(wsPK(wsID), prefixTok), wsPK(wsID))
	if err != nil {
		return nil, err
	}
	for _, m := range items {
		var t phi.Token
		if err := unmarshal(m, &t); err != nil {
			return nil, fmt.Errorf("decode token of %s: %w", wsID, err)
		}
		if t.RevokedAt == nil {
			if err := s.revokeToken(ctx, wsID, t.ID, at, false); err != nil {
				return nil, fmt.Errorf("close workspace %s: %w", wsID, err)
			}
		}
	}
	keys, err := s.queryAll(ctx, prefixQuery(wsPK(wsID), prefixKey), wsPK(wsID))
	if err != nil {
		return nil, err
	}
	for _, m := range keys {
		k, err := decodeKey(m)
		if err != nil {
			return nil, fmt.Errorf("decode key of %s: %w", wsID, err)
		}
		if k.Status != phi.KeyRevoked {
			if err := s.RevokeKey(ctx, wsID, k.DestinationID, k.ID, at); err != nil {
				return nil, fmt.Errorf("close workspace %s: %w", wsID, err)
			}
		}
	}
	return w, nil
}

// ReopenWorkspace reopens closed workspace wsID before its closure's PurgeAfter (now is the
// time of the request): the closure is removed, conditional on it still being the one read and
// the workspace not purged. Tokens and keys stay revoked: the operator issues an owner token,
// and the owner generates keys again. It returns the workspace as stored, ENOTFOUND for an
// unknown workspace, ECONFLICT when it is not closed, past its grace period or purged.
func (s *Store) ReopenWorkspace(ctx context.Context, wsID string, now time.Time) (*phi.Workspace, error) {
	w, err := s.GetWorkspace(ctx, wsID)
	if err != nil {
		return nil, err
	}
	switch {
	case w.Closed == nil:
		return nil, phi.Errorf(phi.ECONFLICT, "workspace %s is not closed", wsID)
	case w.Closed.PurgedAt != nil:
		return nil, phi.Errorf(phi.ECONFLICT, "workspace %s was purged; it cannot be reopened", wsID)
	case !now.Before(w.Closed.PurgeAfter):
		return nil, phi.Errorf(phi.ECONFLICT, "workspace %s's grace period ended at %s; it can no longer be reopened", wsID,
			w.Closed.PurgeAfter.UTC().Format(time.RFC3339))
	}
	b := newExpr()
	changed, err := s.changed(b)
	if err != nil {
		return nil, err
	}
	got, err := s.updateMeta(ctx, wsID, b, "SET "+changed+" REMOVE "+b.n(attrClosed),
		b.n(attrVersion)+" = "+b.v("v", num(w.Version)), "reopen workspace "+wsID)
	if _, ok := conditionFailed(err); ok {
		return nil, errConcurrent("workspace " + wsID)
	}
	return got, err
}

// PurgeWorkspace deletes closed workspace wsID's configuration once its grace period is over
// (now at or after Closed.PurgeAfter): every item of its partition but the workspace itself —
// sources, destinations, keys, active-key pointers, classifications, matchers, token metadata —
// the tokens' lookup items, its inbox, its idempotency records and its webhook signing secrets. The workspace item stays as
// a tombstone with Closed.PurgedAt set, so that its audit trail (kept for the retention period,
// then expired by TTL) still names a workspace, and the pipeline still rejects its events as
// closed. Console sessions are not indexed by workspace: they stopped working at closing (their
// token is re-checked on every request) and expire by TTL within their absolute limit. Purging a
// purged workspace deletes whatever is left. It returns the workspace as stored, ENOTFOUND for
// an unknown workspace, ECONFLICT when it is not closed or its grace period is not over.
func (s *Store) PurgeWorkspace(ctx context.Context, wsID string, now time.Time) (*phi.Workspace, error) {
	w, err := s.GetWorkspace(ctx, wsID)
	if err != nil {
		return nil, err
	}
	switch {
	case w.Closed == nil:
		return nil, phi.Errorf(phi.ECONFLICT, "workspace %s is not closed; close it first", wsID)
	case now.Before(w.Closed.PurgeAfter):
		return nil, phi.Errorf(phi.ECONFLICT, "workspace %s is in its grace period until %s; it can be purged after that", wsID,
			w.Closed.PurgeAfter.UTC().Format(time.RFC3339))
	}
	var doomed []map[string]types.AttributeValue
	for _, pk := range []string{wsPK(wsID), inboxPK(wsID), idempotencyPK(wsID), signingPK(wsID)} {
		b := newExpr()
		items, err := s.queryAll(ctx, &dynamodb.QueryInput{
			KeyConditionExpression:    aws.String(b.n(Table.PartitionKey) + " = " + b.v("pk", str(pk))),
			ExpressionAttributeNames:  b.nameMap(),
			ExpressionAttributeValues: b.valueMap(),
		}, pk)
		if err != nil {
			return nil, err
		}
		for _, m := range items {
			sk := stringAttr(m, Table.SortKey)
			if pk == wsPK(wsID) && sk == skMeta {
				continue
			}
			if h := stringAttr(m, attrSecretHash); h != "" && strings.HasPrefix(sk, prefixTok) {
				doomed = append(doomed, key(prefixTokHash+h, skToken))
			}
			doomed = append(doomed, key(pk, sk))
		}
	}
	if err := s.deleteAll(ctx, doomed); err != nil {
		return nil, fmt.Errorf("purge workspace %s: %w", wsID, err)
	}
	if w.Closed.PurgedAt == nil {
		at, err := timeAttr(now.UTC())
		if err != nil {
			return nil, err
		}
		b := newExpr()
		if w, err = s.updateMeta(ctx, wsID, b, "SET "+b.n(attrClosed)+".purgedAt = "+b.v("at", at),
			"attribute_exists("+b.n(attrClosed)+")", "mark workspace "+wsID+" purged"); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// changed returns the clauses, built with b, that record a change of a workspace's item: its
// updatedAt now and its version one up.
func (s *Store) changed(b *exprBuilder) (string, error) {
	now, err := timeAttr(s.now())
	if err != nil {
		return "", err
	}
	return b.n("updatedAt") + " = " + b.v("now", now) + ", " + b.n(attrVersion) + " = " + b.n(attrVersion) + " + " + b.v("one", num(1)), nil
}

// updateMeta applies update under condition (expressions built with b) to workspace wsID's
// item and returns the workspace as stored after it. Its errors are wrapped with op; a failed
// condition stays DynamoDB's, for the caller to tell with conditionFailed.
func (s *Store) updateMeta(ctx context.Context, wsID string, b *exprBuilder, update, condition, op string) (*phi.Workspace, error) {
	out, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 s.table,
		Key:                       key(wsPK(wsID), skMeta),
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String(condition),
		ExpressionAttributeNames:  b.nameMap(),
		ExpressionAttributeValues: b.valueMap(),
		ReturnValues:              types.ReturnValueAllNew,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	w := &phi.Workspace{}
	if err := unmarshal(out.Attributes, w); err != nil {
		return nil, fmt.Errorf("decode workspace %s: %w", wsID, err)
	}
	return w, nil
}

// batchWriteLimit is BatchWriteItem's most requests per call.
const batchWriteLimit = 25

// deleteAll deletes the items with the given keys, in batches, retrying unprocessed ones.
func (s *Store) deleteAll(ctx context.Context, keys []map[string]types.AttributeValue) error {
	for len(keys) > 0 {
		n := min(len(keys), batchWriteLimit)
		reqs := make([]types.WriteRequest, 0, n)
		for _, k := range keys[:n] {
			reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: k}})
		}
		keys = keys[n:]
		for attempt := 0; len(reqs) > 0; attempt++ {
			if attempt == 10 {
				return fmt.Errorf("batch delete: %d items still unprocessed", len(reqs))
			}
			out, err := s.client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{*s.table: reqs}})
			if err != nil {
				return fmt.Errorf("batch delete: %w", err)
			}
			reqs = out.UnprocessedItems[*s.table]
		}
	}
	return nil
}
