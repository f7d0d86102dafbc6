package dynamo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/privacy"
)

// invalid turns a privacy validation error into EINVALID, listing every broken rule in the
// details as {"field", "reason"} objects.
func invalid(err error) error {
	problems := privacy.Problems(err)
	details := make([]map[string]string, 0, len(problems))
	for _, p := range problems {
		details = append(details, map[string]string{"field": p.Field, "reason": p.Reason})
	}
	return (&phi.Error{Code: phi.EINVALID, Message: err.Error(), Err: err}).WithDetails(details)
}

// PutClassification records the owner's classification of field path c.Path in workspace
// wsID, replacing any earlier decision for that path. A zero c.DecidedAt is set to now. It
// returns EINVALID, naming the rule, for a path that privacy.ParseFieldPath refuses or a class
// other than red, yellow or green, and ENOTFOUND for a malformed workspace id.
func (s *Store) PutClassification(ctx context.Context, wsID string, c phi.Classification) error {
	if !phi.ValidID(phi.PrefixWorkspace, wsID) {
		return errNotFound("workspace", clipID(wsID))
	}
	if err := errors.Join(privacy.FieldPath(c.Path).Validate(), privacy.Classification(c.Class).Validate()); err != nil {
		return invalid(err)
	}
	if c.DecidedAt.IsZero() {
		c.DecidedAt = s.now()
	}
	m, err := item(wsPK(wsID), prefixClass+c.Path, c, nil)
	if err != nil {
		return err
	}
	if _, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: s.table, Item: m}); err != nil {
		return fmt.Errorf("put classification in %s: %w", wsID, err)
	}
	return nil
}

// ListClassifications returns one page of workspace wsID's classifications, in path order,
// and the next page's cursor ("" after the last page). It returns EBADREQUEST for a malformed
// cursor.
func (s *Store) ListClassifications(ctx context.Context, wsID string, page phi.Page) ([]phi.Classification, string, error) {
	return listPrefix[phi.Classification](ctx, s, wsID, prefixClass, page)
}

// batchGetAttempts bounds the retries of keys a BatchGetItem left unprocessed (throttling).
const batchGetAttempts = 5

// GetClassifications returns the classifications of the given paths in workspace wsID, keyed
// by path; paths without a classification are absent from the map. Invalid paths cannot be
// classified and are absent too. It reads with consistent BatchGetItem calls of at most 100
// keys, and returns an error, wrapped, when DynamoDB keeps leaving keys unprocessed.
func (s *Store) GetClassifications(ctx context.Context, wsID string, paths []string) (map[string]phi.Classification, error) {
	if !phi.ValidID(phi.PrefixWorkspace, wsID) {
		return nil, errNotFound("workspace", clipID(wsID))
	}
	var keys []map[string]types.AttributeValue
	seen := map[string]bool{}
	for _, p := range paths {
		if seen[p] || privacy.FieldPath(p).Validate() != nil {
			continue
		}
		seen[p] = true
		keys = append(keys, key(wsPK(wsID), prefixClass+p))
	}
	out := make(map[string]phi.Classification, len(keys))
	for chunk := range slices.Chunk(keys, 100) {
		req := map[string]types.KeysAndAttributes{*s.table: {Keys: chunk, ConsistentRead: aws.Bool(true)}}
		for attempt := 0; len(req) > 0; attempt++ {
			if attempt == batchGetAttempts {
				return nil, fmt.Errorf("get classifications of %s: DynamoDB left keys unprocessed %d times", wsID, attempt)
			}
			if attempt > 0 {
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(time.Duration(attempt*attempt) * 20 * time.Millisecond):
				}
			}
			res, err := s.client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, fmt.Errorf("get classifications of %s: %w", wsID, err)
			}
			got, err := decodeAll[phi.Classification](res.Responses[*s.table])
			if err != nil {
				return nil, err
			}
			for _, c := range got {
				out[c.Path] = c
			}
			req = res.UnprocessedKeys
		}
	}
	return out, nil
}

// PutMatcher creates custom matcher m in workspace wsID, assigning a new id when m.ID is
// empty. The matcher and the workspace's matcher count change in one transaction whose
// condition keeps the count at most privacy.MaxCustomMatchers, so concurrent creates cannot
// exceed it. It returns EINVALID (details list each broken rule) when m.Validate fails or
// the id is malformed; ENOTFOUND when the workspace does not exist; ECONFLICT wrapping
// privacy.ErrTooManyMatchers at the limit, or when the id already exists.
func (s *Store) PutMatcher(ctx context.Context, wsID string, m *privacy.Matcher) error {
	if !phi.ValidID(phi.PrefixWorkspace, wsID) {
		return errNotFound("workspace", clipID(wsID))
	}
	if m.ID == "" {
		m.ID = phi.NewID(phi.PrefixMatcher)
	}
	if err := m.Validate(); err != nil {
		return invalid(err)
	}
	if err := checkID(phi.PrefixMatcher, m.ID, "matcher"); err != nil {
		return err
	}
	it, err := item(wsPK(wsID), prefixMatcher+m.ID, m, nil)
	if err != nil {
		return err
	}
	b := newExpr()
	mc := b.n(attrMatcherCount)
	pb := newExpr()
	_, err = s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: &types.Update{
			TableName:        s.table,
			Key:              key(wsPK(wsID), skMeta),
			UpdateExpression: aws.String("SET " + mc + " = if_not_exists(" + mc + ", " + b.v("zero", num(0)) + ") + " + b.v("one", num(1))),
			ConditionExpression: aws.String("attribute_exists(" + b.n(Table.PartitionKey) + ") AND (attribute_not_exists(" + mc + ") OR " +
				mc + " < " + b.v("max", num(privacy.MaxCustomMatchers)) + ")"),
			ExpressionAttributeNames:            b.nameMap(),
			ExpressionAttributeValues:           b.valueMap(),
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}},
		{Put: &types.Put{TableName: s.table, Item: it,
			ConditionExpression: aws.String("attribute_not_exists(" + pb.n(Table.PartitionKey) + ")"), ExpressionAttributeNames: pb.nameMap()}},
	}})
	if reasons, ok := canceled(err); ok {
		if old, failed := failedAt(reasons, 0); failed {
			if old == nil {
				return errNotFound("workspace", wsID)
			}
			return &phi.Error{Code: phi.ECONFLICT, Message: privacy.ErrTooManyMatchers.Error(), Err: privacy.ErrTooManyMatchers}
		}
		if _, failed := failedAt(reasons, 1); failed {
			return phi.Errorf(phi.ECONFLICT, "matcher %s already exists", m.ID)
		}
	}
	if err != nil {
		return transactionError(err, "create matcher "+m.ID, "the workspace's matchers")
	}
	return nil
}

// ListMatchers returns one page of workspace wsID's custom matchers (never the built-in
// defaults), in id order, and the next page's cursor. One page of MaxPageLimit holds them all.
// It returns EBADREQUEST for a malformed cursor.
func (s *Store) ListMatchers(ctx context.Context, wsID string, page phi.Page) ([]privacy.Matcher, string, error) {
	return listPrefix[privacy.Matcher](ctx, s, wsID, prefixMatcher, page)
}

// DeleteMatcher deletes custom matcher id of workspace wsID and uncounts it, in one
// transaction. It returns ECONFLICT wrapping privacy.ErrDefaultMatcher for a built-in
// matcher's id and ENOTFOUND when there is no such matcher.
func (s *Store) DeleteMatcher(ctx context.Context, wsID, id string) error {
	if err := privacy.CheckEditable(id); err != nil {
		return &phi.Error{Code: phi.ECONFLICT, Message: privacy.ErrDefaultMatcher.Error(), Err: err}
	}
	if !phi.ValidID(phi.PrefixWorkspace, wsID) || !phi.ValidID(phi.PrefixMatcher, id) {
		return errNotFound("matcher", clipID(id))
	}
	db := newExpr()
	b := newExpr()
	mc := b.n(attrMatcherCount)
	_, err := s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Delete: &types.Delete{TableName: s.table, Key: key(wsPK(wsID), prefixMatcher+id),
			ConditionExpression: aws.String("attribute_exists(" + db.n(Table.PartitionKey) + ")"), ExpressionAttributeNames: db.nameMap()}},
		{Update: &types.Update{
			TableName:                 s.table,
			Key:                       key(wsPK(wsID), skMeta),
			UpdateExpression:          aws.String("SET " + mc + " = " + mc + " - " + b.v("one", num(1))),
			ConditionExpression:       aws.String(mc + " > " + b.v("zero", num(0))),
			ExpressionAttributeNames:  b.nameMap(),
			ExpressionAttributeValues: b.valueMap(),
		}},
	}})
	if reasons, ok := canceled(err); ok {
		if _, failed := failedAt(reasons, 0); failed {
			return errNotFound("matcher", id)
		}
	}
	if err != nil {
		return transactionError(err, "delete matcher "+id, "the workspace's matchers")
	}
	return nil
}

// MaxInboxPaths is the most paths one RecordInboxPaths call takes.
const MaxInboxPaths = 1000

// RecordInboxPaths records that source sourceID sent events with the given field paths to
// workspace wsID. Each path is written once per source: a conditional update adds the source
// to a path's entry only when it is not there yet, so recording a known path again writes
// nothing new. Paths are validated first (privacy.ParseFieldPath) and nothing is written when
// one is invalid: the pipeline passes only paths it extracted. It returns EINVALID naming the
// first invalid path's position, or more than MaxInboxPaths paths; ENOTFOUND for malformed
// ids; the SDK's error, wrapped, when a write fails (earlier paths stay recorded — recording
// is idempotent, so the caller retries the whole call).
func (s *Store) RecordInboxPaths(ctx context.Context, wsID, sourceID string, paths []string) error {
	if !phi.ValidID(phi.PrefixWorkspace, wsID) || !phi.ValidID(phi.PrefixSource, sourceID) {
		return errNotFound("source", clipID(sourceID))
	}
	if len(paths) > MaxInboxPaths {
		return phi.Errorf(phi.EINVALID, "%d paths in one call; the limit is %d", len(paths), MaxInboxPaths)
	}
	for i, p := range paths {
		if err := privacy.FieldPath(p).Validate(); err != nil {
			return &phi.Error{Code: phi.EINVALID, Message: fmt.Sprintf("paths[%d]: %v", i, err), Err: err}
		}
	}
	now, err := timeAttr(s.now())
	if err != nil {
		return fmt.Errorf("marshal time: %w", err)
	}
	unique := slices.Clone(paths)
	slices.Sort(unique)
	for _, p := range slices.Compact(unique) {
		b := newExpr()
		src := b.n("sourceIds")
		_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: s.table,
			Key:       key(inboxPK(wsID), prefixPath+p),
			UpdateExpression: aws.String("SET " + b.n("path") + " = " + b.v("path", str(p)) + ", " +
				b.n("firstSeenAt") + " = if_not_exists(" + b.n("firstSeenAt") + ", " + b.v("now", now) + ") ADD " +
				src + " " + b.v("srcset", &types.AttributeValueMemberSS{Value: []string{sourceID}})),
			ConditionExpression:       aws.String("attribute_not_exists(" + b.n(Table.PartitionKey) + ") OR NOT contains(" + src + ", " + b.v("src", str(sourceID)) + ")"),
			ExpressionAttributeNames:  b.nameMap(),
			ExpressionAttributeValues: b.valueMap(),
		})
		if _, ok := conditionFailed(err); ok {
			continue // already recorded for this source
		}
		if err != nil {
			return fmt.Errorf("record inbox path in %s: %w", wsID, err)
		}
	}
	return nil
}

// ListInbox returns one page of the field paths seen in workspace wsID's events, in path
// order, and the next page's cursor ("" after the last page). It returns EBADREQUEST for a
// malformed cursor.
func (s *Store) ListInbox(ctx context.Context, wsID string, page phi.Page) ([]phi.InboxEntry, string, error) {
	if !phi.ValidID(phi.PrefixWorkspace, wsID) {
		return nil, "", errNotFound("workspace", clipID(wsID))
	}
	pk := inboxPK(wsID)
	items, next, err := s.queryPage(ctx, prefixQuery(pk, prefixPath), page, pk, hasPrefix(prefixPath))
	if err != nil {
		return nil, "", err
	}
	entries, err := decodeAll[phi.InboxEntry](items)
	if err != nil {
		return nil, "", err
	}
	for i := range entries {
		slices.Sort(entries[i].SourceIDs)
	}
	return entries, next, nil
}
