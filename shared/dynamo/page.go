package dynamo

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/phiguard/phiguard/shared/phi"
)

// Page limits (phi's, named here for the store's readers).
const (
	DefaultPageLimit = phi.DefaultPageLimit
	MaxPageLimit     = phi.MaxPageLimit
)

// pageLimit returns the number of items a page may hold.
func pageLimit(p phi.Page) int {
	switch {
	case p.Limit <= 0:
		return DefaultPageLimit
	case p.Limit > MaxPageLimit:
		return MaxPageLimit
	}
	return p.Limit
}

// cursor is the decoded form of a page cursor: the primary key of the last item returned.
type cursor struct {
	PK string `json:"pk"`
	SK string `json:"sk"`
}

func encodeCursor(m map[string]types.AttributeValue) string {
	b, _ := json.Marshal(cursor{PK: stringAttr(m, Table.PartitionKey), SK: stringAttr(m, Table.SortKey)}) // two strings always marshal
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor returns the start key encoded in c, or EBADREQUEST when c is not a cursor this
// store issued for partition pk and a sort key accepted by skOK. The check keeps a crafted
// cursor from starting a query anywhere else in the table.
func decodeCursor(c, pk string, skOK func(string) bool) (map[string]types.AttributeValue, error) {
	bad := phi.Errorf(phi.EBADREQUEST, "invalid page cursor: pass back exactly the cursor a previous page returned, or none for the first page")
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(raw) > 4096 {
		return nil, bad
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var cur cursor
	if err := dec.Decode(&cur); err != nil || dec.More() || cur.PK != pk || !skOK(cur.SK) {
		return nil, bad
	}
	return key(cur.PK, cur.SK), nil
}

// queryPage runs q (a Query on one partition, its key condition and any filter already set)
// for one page: at most pageLimit(p) items, starting after p.Cursor, and the cursor of the
// next page ("" when there is none). skOK validates a cursor's sort key. It reads one item
// more than the page holds, so that a full last page does not return a cursor to an empty
// one.
func (s *Store) queryPage(ctx context.Context, q *dynamodb.QueryInput, p phi.Page, pk string, skOK func(string) bool) ([]map[string]types.AttributeValue, string, error) {
	limit := pageLimit(p)
	if p.Cursor != "" {
		start, err := decodeCursor(p.Cursor, pk, skOK)
		if err != nil {
			return nil, "", err
		}
		q.ExclusiveStartKey = start
	}
	q.TableName = s.table
	q.ConsistentRead = aws.Bool(true)
	var items []map[string]types.AttributeValue
	for {
		q.Limit = aws.Int32(int32(limit + 1 - len(items)))
		out, err := s.client.Query(ctx, q)
		if err != nil {
			return nil, "", fmt.Errorf("query %s: %w", pk, err)
		}
		items = append(items, out.Items...)
		if len(items) > limit {
			return items[:limit], encodeCursor(items[limit-1]), nil
		}
		if len(out.LastEvaluatedKey) == 0 {
			return items, "", nil
		}
		q.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// queryAll returns every item q matches, following DynamoDB's pages.
func (s *Store) queryAll(ctx context.Context, q *dynamodb.QueryInput, pk string) ([]map[string]types.AttributeValue, error) {
	q.TableName = s.table
	q.ConsistentRead = aws.Bool(true)
	var items []map[string]types.AttributeValue
	pages := dynamodb.NewQueryPaginator(s.client, q)
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("query %s: %w", pk, err)
		}
		items = append(items, out.Items...)
	}
	return items, nil
}

// prefixQuery returns a Query for the items of partition pk whose sort key starts with prefix.
func prefixQuery(pk, prefix string) *dynamodb.QueryInput {
	b := newExpr()
	return &dynamodb.QueryInput{
		KeyConditionExpression: aws.String(b.n(Table.PartitionKey) + " = " + b.v("pk", str(pk)) +
			" AND begins_with(" + b.n(Table.SortKey) + ", " + b.v("prefix", str(prefix)) + ")"),
		ExpressionAttributeNames:  b.nameMap(),
		ExpressionAttributeValues: b.valueMap(),
	}
}

func hasPrefix(prefix string) func(string) bool {
	return func(sk string) bool { return len(sk) > len(prefix) && sk[:len(prefix)] == prefix }
}
