package dynamo

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/privacy"
)

// LoadSnapshot returns everything the pipeline needs to protect workspace wsID's events —
// the workspace, its sources, destinations, keys (every status, with HMAC keys' KMS
// ciphertext) and classifications, and its custom matchers (which recommend a classification
// for the fields nobody has classified yet) — read with one consistent, paginated Query of the
// workspace's partition. Token and active-key pointer items are filtered out on the server. It
// returns ENOTFOUND when the workspace does not exist.
func (s *Store) LoadSnapshot(ctx context.Context, wsID string) (*phi.Snapshot, []privacy.Matcher, error) {
	if !phi.ValidID(phi.PrefixWorkspace, wsID) {
		return nil, nil, errNotFound("workspace", clipID(wsID))
	}
	pk := wsPK(wsID)
	b := newExpr()
	sk := b.n(Table.SortKey)
	q := &dynamodb.QueryInput{
		KeyConditionExpression: aws.String(b.n(Table.PartitionKey) + " = " + b.v("pk", str(pk))),
		FilterExpression: aws.String("NOT begins_with(" + sk + ", " + b.v("tok", str(prefixTok)) + ") AND NOT begins_with(" +
			sk + ", " + b.v("ptr", str(prefixActive)) + ")"),
		ExpressionAttributeNames:  b.nameMap(),
		ExpressionAttributeValues: b.valueMap(),
	}
	items, err := s.queryAll(ctx, q, pk)
	if err != nil {
		return nil, nil, fmt.Errorf("load snapshot of %s: %w", wsID, err)
	}
	var snap phi.Snapshot
	var matchers []privacy.Matcher
	found := false
	for _, m := range items {
		var err error
		switch k := stringAttr(m, Table.SortKey); {
		case k == skMeta:
			found = true
			err = unmarshal(m, &snap.Workspace)
		case strings.HasPrefix(k, prefixSrc):
			err = decodeInto(m, &snap.Sources)
		case strings.HasPrefix(k, prefixDst):
			err = decodeInto(m, &snap.Destinations)
		case strings.HasPrefix(k, prefixClass):
			err = decodeInto(m, &snap.Classifications)
		case strings.HasPrefix(k, prefixMatcher):
			err = decodeInto(m, &matchers)
		case strings.HasPrefix(k, prefixKey):
			var key phi.Key
			if key, err = decodeKey(m); err == nil {
				snap.Keys = append(snap.Keys, key)
			}
		}
		if err != nil {
			return nil, nil, fmt.Errorf("load snapshot of %s: decode %s: %w", wsID, stringAttr(m, Table.SortKey), err)
		}
	}
	if !found {
		return nil, nil, errNotFound("workspace", wsID)
	}
	return &snap, matchers, nil
}

// decodeInto decodes m as a T and appends it to list.
func decodeInto[T any](m map[string]types.AttributeValue, list *[]T) error {
	var v T
	if err := unmarshal(m, &v); err != nil {
		return err
	}
	*list = append(*list, v)
	return nil
}
