package dynamo

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/phiguard/phiguard/shared/phi"
)

// listPrefix returns one page of the items of workspace wsID whose sort key starts with
// prefix, decoded as T, in sort-key order.
func listPrefix[T any](ctx context.Context, s *Store, wsID, prefix string, page phi.Page) ([]T, string, error) {
	if !phi.ValidID(phi.PrefixWorkspace, wsID) {
		return nil, "", errNotFound("workspace", clipID(wsID))
	}
	pk := wsPK(wsID)
	items, next, err := s.queryPage(ctx, prefixQuery(pk, prefix), page, pk, hasPrefix(prefix))
	if err != nil {
		return nil, "", err
	}
	out, err := decodeAll[T](items)
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// decodeAll decodes every item as T.
func decodeAll[T any](items []map[string]types.AttributeValue) ([]T, error) {
	out := make([]T, 0, len(items))
	for _, m := range items {
		var v T
		if err := unmarshal(m, &v); err != nil {
			return nil, fmt.Errorf("decode %s %s: %w", stringAttr(m, Table.PartitionKey), stringAttr(m, Table.SortKey), err)
		}
		out = append(out, v)
	}
	return out, nil
}
