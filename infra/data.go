package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsbackup"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/phiguard/phiguard/shared/dynamo"
)

// Data is the service's one DynamoDB table, built from the plain-Go definition in
// shared/dynamo (dynamo.Table) that the stores and the local setup use too.
//
// Audit records carry a TTL (dynamo.Table.TTLAttribute) seven years after they are written, so
// they are kept longer than HIPAA's six years; pending keys and Idempotency-Key records carry
// one an hour after they are written (docs/STORE.md); every other item has no TTL and lives
// until it is deleted. Point-in-time recovery, deletion protection and a RETAIN removal policy protect
// them from an operator's mistake.
type Data struct {
	Table   awsdynamodb.Table
	Backups awsbackup.BackupPlan
}

// NewData creates the table, encrypted with key. It panics (at synth time, never at run time)
// when dynamo.Table names a billing mode or key type this app cannot express.
func NewData(scope constructs.Construct, id string, key awskms.IKey) *Data {
	c := constructs.NewConstruct(scope, jsii.String(id))
	schema := dynamo.Table
	if schema.BillingMode != "PAY_PER_REQUEST" {
		panic(fmt.Sprintf("infra: dynamo.Table.BillingMode %q: only PAY_PER_REQUEST (on demand) is supported", schema.BillingMode))
	}
	keyType := attributeType(schema.KeyType)
	table := awsdynamodb.NewTable(c, jsii.String("Table"), &awsdynamodb.TableProps{
		PartitionKey: &awsdynamodb.Attribute{Name: jsii.String(schema.PartitionKey), Type: keyType},
		SortKey:      &awsdynamodb.Attribute{Name: jsii.String(schema.SortKey), Type: keyType},
		BillingMode:  awsdynamodb.BillingMode_PAY_PER_REQUEST,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			// Always on in a deployed stage, whatever the local definition says: the audit log
			// must survive an operator's mistake.
			PointInTimeRecoveryEnabled: jsii.Bool(true),
			RecoveryPeriodInDays:       jsii.Number(35),
		},
		DeletionProtection:  jsii.Bool(true),
		Encryption:          awsdynamodb.TableEncryption_CUSTOMER_MANAGED,
		EncryptionKey:       key,
		TimeToLiveAttribute: jsii.String(schema.TTLAttribute),
		RemovalPolicy:       awscdk.RemovalPolicy_RETAIN,
	})
	d := &Data{Table: table}
	d.Backups = newBackups(c, key, table)
	return d
}

// newBackups puts the table in an AWS Backup plan, beside point-in-time recovery: daily backups
// kept 35 days and monthly backups kept seven years, in a vault encrypted with the service key
// and named <stack>-backups-<creation id> (at most 50 characters: Settings keeps stages short).
func newBackups(scope constructs.Construct, key awskms.IKey, table awsdynamodb.Table) awsbackup.BackupPlan {
	vault := awsbackup.NewBackupVault(scope, jsii.String("BackupVault"), &awsbackup.BackupVaultProps{
		// AWS Backup needs a name, which CDK would fix from the construct path. The vault (and
		// its recovery points) is retained when the stack is deleted, so its name ends with the
		// stack's creation id: the stack can be created again, and a second stage beside it.
		BackupVaultName: awscdk.Fn_Join(jsii.String("-"), jsii.Strings(*awscdk.Aws_STACK_NAME(), "backups", *creationID())),
		EncryptionKey:   key,
		RemovalPolicy:   awscdk.RemovalPolicy_RETAIN,
	})
	plan := awsbackup.NewBackupPlan(scope, jsii.String("BackupPlan"), &awsbackup.BackupPlanProps{
		BackupVault: vault,
		BackupPlanRules: &[]awsbackup.BackupPlanRule{
			awsbackup.NewBackupPlanRule(&awsbackup.BackupPlanRuleProps{
				RuleName:           jsii.String("Daily"),
				ScheduleExpression: awsevents.Schedule_Cron(&awsevents.CronOptions{Hour: jsii.String("3"), Minute: jsii.String("0")}),
				DeleteAfter:        awscdk.Duration_Days(jsii.Number(35)),
			}),
			awsbackup.NewBackupPlanRule(&awsbackup.BackupPlanRuleProps{
				RuleName: jsii.String("Monthly"),
				ScheduleExpression: awsevents.Schedule_Cron(&awsevents.CronOptions{
					Day: jsii.String("1"), Hour: jsii.String("4"), Minute: jsii.String("0"),
				}),
				DeleteAfter: awscdk.Duration_Days(jsii.Number(7*365 + 2)),
			}),
		},
	})
	plan.AddSelection(jsii.String("Table"), &awsbackup.BackupSelectionOptions{
		Resources: &[]awsbackup.BackupResource{awsbackup.BackupResource_FromDynamoDbTable(table)},
	})
	return plan
}

func attributeType(t string) awsdynamodb.AttributeType {
	switch t {
	case "S":
		return awsdynamodb.AttributeType_STRING
	case "N":
		return awsdynamodb.AttributeType_NUMBER
	case "B":
		return awsdynamodb.AttributeType_BINARY
	}
	panic(fmt.Sprintf("infra: dynamo.Table.KeyType %q is not a DynamoDB key type (S, N or B)", t))
}

// Table actions by access level. Scan is in none of them: no request path scans the table
// (docs/STORE.md), so no function may.
var (
	tableLookup = []string{"dynamodb:GetItem"}
	tableRead   = []string{"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem",
		"dynamodb:DescribeTable"}
	tableAppend = []string{"dynamodb:PutItem"}
	tableUpdate = []string{"dynamodb:UpdateItem"}
	tableWrite  = []string{"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
)

// Grant gives grantee the table actions listed, and the use of keys through DynamoDB that
// reading (and, when write is true, writing) an encrypted table needs.
func (d *Data) Grant(grantee awsiam.IGrantable, keys *Keys, write bool, actions ...[]string) {
	var all []*string
	for _, set := range actions {
		all = append(all, *jsii.Strings(set...)...)
	}
	d.Table.Grant(grantee, all...)
	keys.GrantViaService(grantee, "dynamodb", write)
	if write {
		d.denyAuditRewrites(grantee)
	}
}

// GrantDeliveryStatus lets grantee (the delivery function) record destinations' delivery
// status: UpdateItem naming no attribute but the item's key and dynamo.AttrDelivery, so it can
// change nothing else of any item. DynamoDB checks the attributes an update names
// (dynamodb:Attributes) against the list.
func (d *Data) GrantDeliveryStatus(grantee awsiam.IGrantable, keys *Keys) {
	grantee.GrantPrincipal().AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("RecordDeliveryStatusOnly"),
		Actions:   jsii.Strings("dynamodb:UpdateItem"),
		Resources: jsii.Strings(*d.Table.TableArn()),
		Conditions: &map[string]any{
			"ForAllValues:StringEquals": map[string]any{"dynamodb:Attributes": []string{dynamo.Table.PartitionKey, dynamo.Table.SortKey, dynamo.AttrDelivery}},
			// ForAllValues holds for a request without the key: require it.
			"Null": map[string]any{"dynamodb:Attributes": "false"},
		},
	}))
	keys.GrantViaService(grantee, "dynamodb", true)
	d.denyAuditRewrites(grantee)
}

// denyAuditRewrites keeps the audit log append-only at the IAM level: grantee may add audit
// records (a conditional PutItem) but never update, delete or batch-write one.
func (d *Data) denyAuditRewrites(grantee awsiam.IGrantable) {
	grantee.GrantPrincipal().AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("AuditLogIsAppendOnly"),
		Effect:    awsiam.Effect_DENY,
		Actions:   jsii.Strings("dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"),
		Resources: jsii.Strings(*d.Table.TableArn()),
		Conditions: &map[string]any{
			"ForAnyValue:StringLike": map[string]any{"dynamodb:LeadingKeys": []string{dynamo.AuditPartitions}},
		},
	}))
}
