package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Schema describes the service's one DynamoDB table in plain values, so that the CDK app in
// infra/ and the local setup build the same table without either importing the other. The
// table's name is not part of it: infra lets CloudFormation name the table and passes the name
// to the functions in stack.EnvTable; tests and `make dev` choose their own.
type Schema struct {
	PartitionKey string // name of the partition key attribute, of type KeyType
	SortKey      string // name of the sort key attribute, of type KeyType
	KeyType      string // DynamoDB scalar type of both key attributes: "S"
	TTLAttribute string // number attribute holding an expiry in epoch seconds (audit records, pending keys, idempotency records)
	BillingMode  string // "PAY_PER_REQUEST": on demand, no capacity to plan
	// PointInTimeRecovery is on in every deployed stage: the audit log must survive an
	// operator's mistake for its whole retention period.
	PointInTimeRecovery bool
}

// Table is the table's definition. It has no secondary indexes: every access pattern in
// docs/STORE.md is a GetItem, a Query on the primary key, or a transaction.
var Table = Schema{
	PartitionKey:        "pk",
	SortKey:             "sk",
	KeyType:             string(types.ScalarAttributeTypeS),
	TTLAttribute:        "expiresAt",
	BillingMode:         string(types.BillingModePayPerRequest),
	PointInTimeRecovery: true,
}

// AuditPartitions matches, as an IAM StringLike pattern on dynamodb:LeadingKeys, the partition
// keys of audit records. Infra denies every function UpdateItem, DeleteItem and BatchWriteItem
// on them, so the audit log stays append-only whatever a function's code does.
const AuditPartitions = prefixWS + "*" + suffixAudit

// CreateTableInput returns the CreateTable request for a table called name built from
// [Table]. It never fails; DynamoDB validates name when the request is sent.
func CreateTableInput(name string) *dynamodb.CreateTableInput {
	return &dynamodb.CreateTableInput{
		TableName: aws.String(name),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(Table.PartitionKey), AttributeType: types.ScalarAttributeType(Table.KeyType)},
			{AttributeName: aws.String(Table.SortKey), AttributeType: types.ScalarAttributeType(Table.KeyType)},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(Table.PartitionKey), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(Table.SortKey), KeyType: types.KeyTypeRange},
		},
		BillingMode: types.BillingMode(Table.BillingMode),
	}
}

// tableCreateWait bounds how long CreateTable waits for the table to become ACTIVE.
const tableCreateWait = 2 * time.Minute

// CreateTable creates the table called name from [Table], waits until it is ACTIVE and turns
// on TTL for [Schema.TTLAttribute]. It is idempotent: an existing table is fine, and its TTL
// setting is checked and enabled if off. It is for tests and local development; deployed
// tables are created by the CDK app. It returns the SDK's error, wrapped, when any step fails.
func CreateTable(ctx context.Context, client *dynamodb.Client, name string) error {
	_, err := client.CreateTable(ctx, CreateTableInput(name))
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create table %s: %w", name, err)
	}
	waiter := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = 100 * time.Millisecond
		o.MaxDelay = 2 * time.Second
	})
	if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, tableCreateWait); err != nil {
		return fmt.Errorf("wait for table %s to become active: %w", name, err)
	}
	ttl, err := client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(name)})
	if err != nil {
		return fmt.Errorf("describe TTL of table %s: %w", name, err)
	}
	if d := ttl.TimeToLiveDescription; d != nil && aws.ToString(d.AttributeName) == Table.TTLAttribute &&
		(d.TimeToLiveStatus == types.TimeToLiveStatusEnabled || d.TimeToLiveStatus == types.TimeToLiveStatusEnabling) {
		return nil
	}
	_, err = client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(name),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(Table.TTLAttribute),
			Enabled:       aws.Bool(true),
		},
	})
	if err != nil {
		return fmt.Errorf("enable TTL on table %s: %w", name, err)
	}
	return nil
}
