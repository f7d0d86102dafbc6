package main

import (
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/phiguard/phiguard/shared/awstest"
)

// moto_server.py backs up only the items a transaction names instead of whole tables: a
// cancelled transaction must still leave every item as it was — updated, put, deleted — and a
// committed one must apply every operation.
func TestMotoRollsBackACancelledTransactionItemByItem(t *testing.T) {
	ctx := t.Context()
	c := awstest.Clients(t).DynamoDB
	table := aws.String(awstest.UniqueName("txn"))
	if _, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: table, BillingMode: ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: ddbtypes.ScalarAttributeTypeS},
		},
		KeySchema: []ddbtypes.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: ddbtypes.KeyTypeRange},
		},
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: table}) })
	s := func(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }
	key := func(pk, sk string) map[string]ddbtypes.AttributeValue {
		return map[string]ddbtypes.AttributeValue{"pk": s(pk), "sk": s(sk)}
	}
	item := func(pk, sk, v string) map[string]ddbtypes.AttributeValue {
		m := key(pk, sk)
		m["v"] = s(v)
		return m
	}
	for _, it := range []map[string]ddbtypes.AttributeValue{item("a", "1", "old"), item("a", "2", "kept"), item("c", "1", "old")} {
		if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: it}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(pk, sk string) string {
		out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: key(pk, sk), ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := out.Item["v"].(*ddbtypes.AttributeValueMemberS); ok {
			return v.Value
		}
		return "absent"
	}
	ops := func(check string) []ddbtypes.TransactWriteItem {
		return []ddbtypes.TransactWriteItem{
			{Update: &ddbtypes.Update{TableName: table, Key: key("a", "1"), UpdateExpression: aws.String("SET v = :n"),
				ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":n": s("new")}}},
			{Put: &ddbtypes.Put{TableName: table, Item: item("b", "1", "new")}},
			{Delete: &ddbtypes.Delete{TableName: table, Key: key("c", "1")}},
			{ConditionCheck: &ddbtypes.ConditionCheck{TableName: table, Key: key("a", "2"), ConditionExpression: aws.String("v = :k"),
				ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":k": s(check)}}},
		}
	}

	_, err := c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: ops("not what it is")})
	var cancelled *ddbtypes.TransactionCanceledException
	if !errors.As(err, &cancelled) {
		t.Fatalf("a failing condition check: %v, want TransactionCanceledException", err)
	}
	for _, want := range [][3]string{{"a", "1", "old"}, {"b", "1", "absent"}, {"c", "1", "old"}, {"a", "2", "kept"}} {
		if got := get(want[0], want[1]); got != want[2] {
			t.Errorf("after the cancelled transaction %s/%s is %q, want %q", want[0], want[1], got, want[2])
		}
	}

	if _, err := c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: ops("kept")}); err != nil {
		t.Fatal(err)
	}
	for _, want := range [][3]string{{"a", "1", "new"}, {"b", "1", "new"}, {"c", "1", "absent"}, {"a", "2", "kept"}} {
		if got := get(want[0], want[1]); got != want[2] {
			t.Errorf("after the committed transaction %s/%s is %q, want %q", want[0], want[1], got, want[2])
		}
	}
}
