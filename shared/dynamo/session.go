package dynamo

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/phiguard/phiguard/shared/phi"
)

// Session is a web console session as stored. The store never sees the session's secret (the
// cookie value) nor the token's: it keeps the SHA-256 of each, so the console can find the
// session from its cookie and check, on every request, that the token it was opened with is
// still valid.
type Session struct {
	IDHash      string    `json:"idHash"`      // SHA-256 (hex) of the cookie's secret; the item's key
	WorkspaceID string    `json:"workspaceId"` // the token's workspace
	TokenID     string    `json:"tokenId"`     // the token it was opened with
	TokenHash   string    `json:"tokenHash"`   // SHA-256 (hex) of that token's secret, for LookupToken
	CreatedAt   time.Time `json:"createdAt"`
	LastSeenAt  time.Time `json:"lastSeenAt"`
	// EndsAt is the absolute end of the session, whatever its activity.
	EndsAt time.Time `json:"endsAt"`
	// Draft is the console's unsaved form state (a destination's setup step), as JSON: names,
	// field paths and choices, never a field value or a secret.
	Draft string `json:"draft,omitempty"`
}

const (
	prefixSession  = "SESSION#"
	skSession      = "SESSION"
	prefixSignIn   = "SIGNINFAIL#"
	attrFailures   = "failures"
	attrLastSeenAt = "lastSeenAt"
	attrDraft      = "draft"
)

// CreateSession stores s; DynamoDB's TTL may delete it after expires (the console enforces its
// own idle and absolute limits on every read). It returns EINVALID for a malformed hash or id
// and ECONFLICT when a session with the same hash exists.
func (s *Store) CreateSession(ctx context.Context, sess *Session, expires time.Time) error {
	if err := checkSecretHash(sess.IDHash); err != nil {
		return err
	}
	if err := checkSecretHash(sess.TokenHash); err != nil {
		return err
	}
	if err := checkID(phi.PrefixWorkspace, sess.WorkspaceID, "workspace"); err != nil {
		return err
	}
	if err := checkID(phi.PrefixToken, sess.TokenID, "token"); err != nil {
		return err
	}
	m, err := item(prefixSession+sess.IDHash, skSession, sess, map[string]types.AttributeValue{
		Table.TTLAttribute: num(expires.Unix()),
	})
	if err != nil {
		return err
	}
	b := newExpr()
	_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                s.table,
		Item:                     m,
		ConditionExpression:      aws.String("attribute_not_exists(" + b.n(Table.PartitionKey) + ")"),
		ExpressionAttributeNames: b.nameMap(),
	})
	if _, ok := conditionFailed(err); ok {
		return phi.Errorf(phi.ECONFLICT, "the session already exists")
	}
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// GetSession returns the session whose secret hashes to idHash, read consistently so that a
// sign-out takes effect at once; ENOTFOUND when there is none (a malformed hash included).
// Errors never name the hash.
func (s *Store) GetSession(ctx context.Context, idHash string) (*Session, error) {
	if checkSecretHash(idHash) != nil {
		return nil, phi.Errorf(phi.ENOTFOUND, "session not found")
	}
	m, err := s.getItemNamed(ctx, prefixSession+idHash, skSession, "session item")
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, phi.Errorf(phi.ENOTFOUND, "session not found")
	}
	var out Session
	if err := unmarshal(m, &out); err != nil {
		return nil, fmt.Errorf("decode session: %w", err)
	}
	return &out, nil
}

// TouchSession records activity on session idHash at seen, moving its TTL to expires. It
// returns ENOTFOUND when the session no longer exists (signed out meanwhile).
func (s *Store) TouchSession(ctx context.Context, idHash string, seen, expires time.Time) error {
	seenAV, err := timeAttr(seen.UTC())
	if err != nil {
		return fmt.Errorf("marshal time: %w", err)
	}
	return s.updateSession(ctx, idHash, map[string]types.AttributeValue{attrLastSeenAt: seenAV, Table.TTLAttribute: num(expires.Unix())})
}

// SaveSessionDraft replaces the draft of session idHash (ENOTFOUND when it no longer exists).
func (s *Store) SaveSessionDraft(ctx context.Context, idHash, draft string) error {
	return s.updateSession(ctx, idHash, map[string]types.AttributeValue{attrDraft: str(draft)})
}

func (s *Store) updateSession(ctx context.Context, idHash string, set map[string]types.AttributeValue) error {
	if checkSecretHash(idHash) != nil {
		return phi.Errorf(phi.ENOTFOUND, "session not found")
	}
	b := newExpr()
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 s.table,
		Key:                       key(prefixSession+idHash, skSession),
		UpdateExpression:          aws.String(b.set(set)),
		ConditionExpression:       aws.String("attribute_exists(" + b.n(Table.PartitionKey) + ")"),
		ExpressionAttributeNames:  b.nameMap(),
		ExpressionAttributeValues: b.valueMap(),
	})
	if _, ok := conditionFailed(err); ok {
		return phi.Errorf(phi.ENOTFOUND, "session not found")
	}
	if err != nil {
		return fmt.Errorf("update session item: %w", err)
	}
	return nil
}

// DeleteSession deletes session idHash; deleting a session that is gone succeeds.
func (s *Store) DeleteSession(ctx context.Context, idHash string) error {
	if checkSecretHash(idHash) != nil {
		return nil
	}
	_, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: s.table, Key: key(prefixSession+idHash, skSession)})
	if err != nil {
		return fmt.Errorf("delete session item: %w", err)
	}
	return nil
}

// CountSignInFailure adds one failed console sign-in for client (a hash of the caller's
// address, never the address or the token tried) to the current window of length window, and
// returns the failures counted in that window so far. The counter expires with its window.
func (s *Store) CountSignInFailure(ctx context.Context, client string, at time.Time, window time.Duration) (int, error) {
	if checkSecretHash(client) != nil {
		return 0, phi.Errorf(phi.EINVALID, "sign-in client must be a SHA-256 hex digest")
	}
	start := at.Truncate(window)
	b := newExpr()
	out, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: s.table,
		Key:       key(prefixSignIn+client, strconv.FormatInt(start.Unix(), 10)),
		UpdateExpression: aws.String("ADD " + b.n(attrFailures) + " " + b.v("one", num(1)) +
			" SET " + b.n(Table.TTLAttribute) + " = " + b.v("exp", num(start.Add(2*window).Unix()))),
		ExpressionAttributeNames:  b.nameMap(),
		ExpressionAttributeValues: b.valueMap(),
		ReturnValues:              types.ReturnValueUpdatedNew,
	})
	if err != nil {
		return 0, fmt.Errorf("count sign-in failure: %w", err)
	}
	n, _ := out.Attributes[attrFailures].(*types.AttributeValueMemberN)
	if n == nil {
		return 0, fmt.Errorf("count sign-in failure: no count returned")
	}
	c, err := strconv.Atoi(n.Value)
	if err != nil {
		return 0, fmt.Errorf("count sign-in failure: %w", err)
	}
	return c, nil
}

// SignInFailures returns the failed sign-ins counted for client in the window containing at.
func (s *Store) SignInFailures(ctx context.Context, client string, at time.Time, window time.Duration) (int, error) {
	if checkSecretHash(client) != nil {
		return 0, nil
	}
	m, err := s.getItemNamed(ctx, prefixSignIn+client, strconv.FormatInt(at.Truncate(window).Unix(), 10), "sign-in counter")
	if err != nil || m == nil {
		return 0, err
	}
	n, _ := m[attrFailures].(*types.AttributeValueMemberN)
	if n == nil {
		return 0, nil
	}
	return strconv.Atoi(n.Value)
}
