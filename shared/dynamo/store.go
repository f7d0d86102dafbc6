// Package dynamo is the service's store: every workspace, token, source, destination, key,
// classification, matcher, inbox entry and audit record lives in one DynamoDB table whose
// layout docs/STORE.md describes and [Table] defines.
//
// Invariants are kept by DynamoDB itself, with conditional writes and transactions, never by
// read-then-write: creating an existing item, updating with a stale version, a second active
// key, a 101st custom matcher or deleting a source that still feeds destinations all fail
// atomically. Failures the caller can act on are *phi.Error values (ENOTFOUND, ECONFLICT,
// EPRECONDITION, EINVALID, EBADREQUEST for a malformed page cursor); anything else is the SDK's
// error wrapped with what was being done. No method ever scans the table.
//
// The store never sees a private key or a token secret: keys arrive as metadata, tokens as
// the SHA-256 of their secret.
package dynamo

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/phiguard/phiguard/shared/phi"
)

// Store reads and writes the service's table. It is safe for concurrent use.
type Store struct {
	client *dynamodb.Client
	table  *string
	now    func() time.Time
}

// New returns a Store on the table called table. It does not contact DynamoDB.
func New(client *dynamodb.Client, table string) *Store {
	return &Store{client: client, table: aws.String(table), now: func() time.Time { return time.Now().UTC() }}
}

// Key prefixes. Ids are validated with phi.ValidID before they are put into a key, so an id
// can never contain '#' and reach another item's key space.
const (
	skMeta         = "META"
	skToken        = "TOKEN"
	prefixWS       = "WS#"
	prefixTokHash  = "TOKENHASH#"
	prefixTok      = "TOKEN#"
	prefixSrc      = "SRC#"
	prefixDst      = "DST#"
	prefixKey      = "KEY#"
	prefixActive   = "ACTIVEKEY#"
	prefixClass    = "CLASS#"
	prefixMatcher  = "MATCHER#"
	prefixPath     = "PATH#"
	suffixInbox    = "#INBOX"
	suffixAudit    = "#AUDIT"
	attrVersion    = "version"
	attrSecretHash = "secretHash"
)

func wsPK(wsID string) string    { return prefixWS + wsID }
func inboxPK(wsID string) string { return prefixWS + wsID + suffixInbox }
func auditPK(wsID string) string { return prefixWS + wsID + suffixAudit }

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		Table.PartitionKey: &types.AttributeValueMemberS{Value: pk},
		Table.SortKey:      &types.AttributeValueMemberS{Value: sk},
	}
}

// Items are the phi types marshalled with their JSON names, so the stored attributes read
// like the API's documents, plus pk, sk and the few store-only attributes documented in
// docs/STORE.md.
func marshal(v any) (map[string]types.AttributeValue, error) {
	return attributevalue.MarshalMapWithOptions(v, func(o *attributevalue.EncoderOptions) { o.TagKey = "json" })
}

func unmarshal(m map[string]types.AttributeValue, v any) error {
	return attributevalue.UnmarshalMapWithOptions(m, v, func(o *attributevalue.DecoderOptions) { o.TagKey = "json" })
}

// item marshals v and adds its key and any extra attributes.
func item(pk, sk string, v any, extra map[string]types.AttributeValue) (map[string]types.AttributeValue, error) {
	m, err := marshal(v)
	if err != nil {
		return nil, fmt.Errorf("marshal %s %s: %w", pk, sk, err)
	}
	maps.Copy(m, extra)
	maps.Copy(m, key(pk, sk))
	return m, nil
}

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func num(n int64) types.AttributeValue  { return &types.AttributeValueMemberN{Value: fmt.Sprint(n)} }

func stringAttr(m map[string]types.AttributeValue, name string) string {
	if s, ok := m[name].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

func timeAttr(t time.Time) (types.AttributeValue, error) {
	return attributevalue.Marshal(t)
}

// exprBuilder collects the placeholders of one expression. Every attribute name goes through
// a placeholder because several (name, type, status, path) are DynamoDB reserved words.
type exprBuilder struct {
	names  map[string]string
	values map[string]types.AttributeValue
}

func newExpr() *exprBuilder {
	return &exprBuilder{names: map[string]string{}, values: map[string]types.AttributeValue{}}
}

// n returns the placeholder for attribute name attr.
func (b *exprBuilder) n(attr string) string {
	b.names["#"+attr] = attr
	return "#" + attr
}

// v binds av to the value placeholder :label.
func (b *exprBuilder) v(label string, av types.AttributeValue) string {
	b.values[":"+label] = av
	return ":" + label
}

// set returns "SET #a = :a, …" for every attribute of m, in a stable order, followed by
// extra clauses (already built with b).
func (b *exprBuilder) set(m map[string]types.AttributeValue, extra ...string) string {
	clauses := make([]string, 0, len(m)+len(extra))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		clauses = append(clauses, b.n(k)+" = "+b.v("set_"+k, m[k]))
	}
	clauses = append(clauses, extra...)
	return "SET " + strings.Join(clauses, ", ")
}

func (b *exprBuilder) nameMap() map[string]string {
	if len(b.names) == 0 {
		return nil
	}
	return b.names
}

func (b *exprBuilder) valueMap() map[string]types.AttributeValue {
	if len(b.values) == 0 {
		return nil
	}
	return b.values
}

// pick returns the attributes of m named in names.
func pick(m map[string]types.AttributeValue, names ...string) map[string]types.AttributeValue {
	out := make(map[string]types.AttributeValue, len(names))
	for _, n := range names {
		if v, ok := m[n]; ok {
			out[n] = v
		}
	}
	return out
}

// conditionFailed reports whether err is a single-item write's failed condition and returns
// the item as it was (nil when it did not exist) when the write asked for ALL_OLD.
func conditionFailed(err error) (old map[string]types.AttributeValue, ok bool) {
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return ccf.Item, true
	}
	return nil, false
}

// canceled reports whether err is a canceled transaction and returns one reason per item, in
// request order.
func canceled(err error) ([]types.CancellationReason, bool) {
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) {
		return tce.CancellationReasons, true
	}
	return nil, false
}

// failedAt reports whether the i-th item of a canceled transaction failed its condition, and
// returns the old item when the request asked for ALL_OLD.
func failedAt(reasons []types.CancellationReason, i int) (old map[string]types.AttributeValue, failed bool) {
	if i >= len(reasons) || aws.ToString(reasons[i].Code) != "ConditionalCheckFailed" {
		return nil, false
	}
	return reasons[i].Item, true
}

// errConcurrent answers a transaction that lost to a concurrent one on the same items.
func errConcurrent(what string) error {
	return phi.Errorf(phi.ECONFLICT, "%s was changed concurrently; reload and retry", what)
}

func errVersion() error { return phi.Errorf(phi.EPRECONDITION, "version mismatch: reload and retry") }

func errNotFound(what, id string) error {
	return phi.Errorf(phi.ENOTFOUND, "%s %s not found", what, id)
}

// transactionError maps a transaction that lost to a concurrent one (a condition the caller
// did not explain, or DynamoDB's TransactionConflict) to ECONFLICT, and wraps anything else
// with op.
func transactionError(err error, op, what string) error {
	conflict := false
	if reasons, ok := canceled(err); ok {
		for _, r := range reasons {
			switch aws.ToString(r.Code) {
			case "ConditionalCheckFailed", "TransactionConflict":
				conflict = true
			}
		}
	}
	var tce *types.TransactionConflictException
	if conflict || errors.As(err, &tce) {
		return &phi.Error{Code: phi.ECONFLICT, Message: fmt.Sprintf("%s was changed concurrently; reload and retry", what), Err: err}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// checkID returns EINVALID unless id is a well-formed id with prefix. Stores use it on
// creation; lookups use validID and answer ENOTFOUND, since no malformed id can exist.
func checkID(prefix, id, what string) error {
	if !phi.ValidID(prefix, id) {
		return phi.Errorf(phi.EINVALID, "%s id %q is malformed; expected %s followed by 26 base32 characters", what, clipID(id), prefix)
	}
	return nil
}

func clipID(id string) string { return phi.Clip(id, 40) }

// checkSecretHash refuses anything but 64 lower-case hex digits, so a token secret passed by
// mistake in place of its hash is never stored.
func checkSecretHash(h string) error {
	if len(h) != 64 || strings.ToLower(h) != h {
		return phi.Errorf(phi.EINVALID, "token secret hash must be 64 lower-case hex digits (SHA-256)")
	}
	if _, err := hex.DecodeString(h); err != nil {
		return phi.Errorf(phi.EINVALID, "token secret hash must be 64 lower-case hex digits (SHA-256)")
	}
	return nil
}

// getItem reads one item with a consistent read; it returns nil, nil when there is none.
func (s *Store) getItem(ctx context.Context, pk, sk string) (map[string]types.AttributeValue, error) {
	return s.getItemNamed(ctx, pk, sk, pk+" "+sk)
}

// getItemNamed is getItem naming the item as name in its error, for keys that must not reach
// a log line (a token's lookup item is keyed by the hash of its secret).
func (s *Store) getItemNamed(ctx context.Context, pk, sk, name string) (map[string]types.AttributeValue, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      s.table,
		Key:            key(pk, sk),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", name, err)
	}
	return out.Item, nil
}

// updateVersioned applies set to the item at pk/sk when its version is expected, bumps the
// version and sets updatedAt, and returns the new item. A missing item is ENOTFOUND, another
// version EPRECONDITION.
func (s *Store) updateVersioned(ctx context.Context, pk, sk string, set map[string]types.AttributeValue, expected int64, what, id string) (map[string]types.AttributeValue, error) {
	b := newExpr()
	update := b.set(set, b.n(attrVersion)+" = "+b.n(attrVersion)+" + "+b.v("one", num(1)))
	cond := "attribute_exists(" + b.n(Table.PartitionKey) + ") AND " + b.n(attrVersion) + " = " + b.v("expected", num(expected))
	out, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           s.table,
		Key:                                 key(pk, sk),
		UpdateExpression:                    aws.String(update),
		ConditionExpression:                 aws.String(cond),
		ExpressionAttributeNames:            b.nameMap(),
		ExpressionAttributeValues:           b.valueMap(),
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if old, ok := conditionFailed(err); ok {
		if old == nil {
			return nil, errNotFound(what, id)
		}
		return nil, errVersion()
	}
	if err != nil {
		return nil, fmt.Errorf("update %s %s: %w", what, id, err)
	}
	return out.Attributes, nil
}
