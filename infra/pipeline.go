package main

import (
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/phiguard/phiguard/shared/stack"
)

const (
	hashingTimeout = 60 * time.Second
	// One attempt per copy (10 s at most each, a destination's copies 5 at a time, up to five
	// destinations' chunks in turn when one is slow), re-scheduling the rest before the end.
	deliveryTimeout = 60 * time.Second
	// queueRetention keeps failed and rejected messages for SQS's maximum, 14 days, so an operator
	// has time to inspect and redrive them.
	queueRetention = 14 * 24 * time.Hour
)

// Pipeline is the event path: producers send to Ingest; the hashing function protects each
// event per destination and publishes the copies to Topic, or parks permanent failures on
// Rejected; messages that keep failing move to IngestDLQ. The example destination consumer is
// the Webhook queue, subscribed to Topic with a filter policy, drained by the delivery function,
// which re-schedules failed copies on Webhook itself and dead-letters them on WebhookDLQ; what
// SNS cannot deliver to Webhook goes to WebhookSubscriptionDLQ.
type Pipeline struct {
	Ingest, IngestDLQ, Rejected awssqs.Queue
	Topic                       awssns.Topic
	Webhook, WebhookDLQ         awssqs.Queue
	WebhookSubscriptionDLQ      awssqs.Queue
	Hashing, Delivery           awslambda.Function
}

// NewPipeline creates the queues, topic and functions of the pipeline. Every queue and the topic
// are encrypted with keys and refuse non-TLS requests.
func NewPipeline(scope constructs.Construct, id string, assets Assets, keys *Keys, data *Data) *Pipeline {
	c := constructs.NewConstruct(scope, jsii.String(id))
	p := &Pipeline{}
	queue := func(id string, visibility time.Duration, dlq awssqs.IQueue, maxReceives float64) awssqs.Queue {
		props := &awssqs.QueueProps{
			Encryption:          awssqs.QueueEncryption_KMS,
			EncryptionMasterKey: keys.Key,
			DataKeyReuse:        awscdk.Duration_Minutes(jsii.Number(5)),
			EnforceSSL:          jsii.Bool(true),
			RetentionPeriod:     awscdk.Duration_Seconds(jsii.Number(queueRetention.Seconds())),
			RemovalPolicy:       awscdk.RemovalPolicy_RETAIN,
		}
		if visibility > 0 {
			props.VisibilityTimeout = awscdk.Duration_Seconds(jsii.Number(visibility.Seconds()))
		}
		if dlq != nil {
			props.DeadLetterQueue = &awssqs.DeadLetterQueue{Queue: dlq, MaxReceiveCount: jsii.Number(maxReceives)}
		}
		return awssqs.NewQueue(c, jsii.String(id), props)
	}

	// SQS's guidance for a Lambda source: visibility >= 6 x function timeout + batching window.
	ingestVisibility := 6*hashingTimeout + stack.IngestBatchWindowSecond*time.Second
	p.IngestDLQ = queue("IngestDLQ", 0, nil, 0)
	p.Ingest = queue("Ingest", ingestVisibility, p.IngestDLQ, stack.IngestMaxReceiveCount)
	p.Rejected = queue("Rejected", 0, nil, 0)

	p.Topic = awssns.NewTopic(c, jsii.String("Topic"), &awssns.TopicProps{
		MasterKey:  keys.Key,
		EnforceSSL: jsii.Bool(true),
	})

	p.Hashing = newGoFunction(c, assets, keys.Key, functionSpec{
		name:        stack.FunctionHashing,
		description: "phiguard: protects ingested events per destination and fans them out",
		memoryMB:    stack.HashingMemoryMB,
		timeout:     hashingTimeout,
		env: map[string]*string{
			stack.EnvTable:            data.Table.TableName(),
			stack.EnvKMSKeyID:         keys.Key.KeyArn(),
			stack.EnvTopicARN:         p.Topic.TopicArn(),
			stack.EnvRejectedQueueURL: p.Rejected.QueueUrl(),
			stack.EnvConfigCacheTTL:   jsii.String("30s"),
		},
	})
	// Reads the workspace snapshot, records new field paths in the inbox (conditional updates
	// that add the source to a path's entry).
	data.Grant(p.Hashing, keys, true, tableRead, tableUpdate)
	keys.GrantHMACKeyDecrypt(p.Hashing)
	// Publish and send without the unconditioned kms:GenerateDataKey* that GrantPublish and
	// GrantSendMessages would add: the key is usable only through SNS and SQS.
	p.Topic.Grants().Actions(p.Hashing, jsii.Strings("sns:Publish"), nil)
	keys.GrantViaService(p.Hashing, "sns", true)
	p.Rejected.Grant(p.Hashing, jsii.String("sqs:SendMessage"))
	keys.GrantViaService(p.Hashing, "sqs", true)
	consume(p.Hashing, p.Ingest, keys, &awslambda.EventSourceMappingOptions{
		BatchSize:               jsii.Number(stack.IngestBatchSize),
		MaxBatchingWindow:       awscdk.Duration_Seconds(jsii.Number(stack.IngestBatchWindowSecond)),
		ReportBatchItemFailures: jsii.Bool(true),
		MaxConcurrency:          jsii.Number(stack.HashingMaxConcurrency),
	})

	// The example destination consumer.
	p.WebhookDLQ = queue("WebhookDLQ", 0, nil, 0)
	// The receive limit is a backstop: the function acknowledges what it received and
	// re-schedules or dead-letters failed copies itself (shared/delivery).
	p.Webhook = queue("Webhook", 6*deliveryTimeout, p.WebhookDLQ, stack.DeliveryMaxReceiveCount)
	p.WebhookSubscriptionDLQ = queue("WebhookSubscriptionDLQ", 0, nil, 0)
	subscribe(p.Topic, p.Webhook, p.WebhookSubscriptionDLQ, keys, &map[string]awssns.SubscriptionFilter{
		stack.AttrDestinationType: awssns.SubscriptionFilter_StringFilter(&awssns.StringConditions{
			Allowlist: jsii.Strings(stack.DeliveryTypes...),
		}),
	})
	p.Delivery = newGoFunction(c, assets, keys.Key, functionSpec{
		name:        stack.FunctionDelivery,
		description: "phiguard: example destination, POSTs protected copies to webhooks",
		memoryMB:    stack.DeliveryMemoryMB,
		timeout:     deliveryTimeout,
		env: map[string]*string{
			stack.EnvTable: data.Table.TableName(),
			// Declared empty (no local targets) so that SAM's --env-vars can list local webhooks.
			stack.EnvLocalWebhookTargets: jsii.String(""),
			stack.EnvDeliveryQueueURL:    p.Webhook.QueueUrl(),
			stack.EnvDeliveryDLQURL:      p.WebhookDLQ.QueueUrl(),
		},
	})
	// Each destination's signing secrets are read from the table and decrypted at the first
	// delivery (webhook.Keyring): never in the function's environment or the template.
	keys.GrantSigningSecretDecrypt(p.Delivery)
	// Reads each copy's destination for its webhook URL and enabled state, and its signing
	// secrets.
	data.Grant(p.Delivery, keys, false, tableRead)
	// Records each destination's delivery status (degraded, restored), and nothing else.
	data.GrantDeliveryStatus(p.Delivery, keys)
	// Re-schedules failed copies on its own queue and dead-letters them.
	p.Webhook.Grant(p.Delivery, jsii.String("sqs:SendMessage"))
	p.WebhookDLQ.Grant(p.Delivery, jsii.String("sqs:SendMessage"))
	keys.GrantViaService(p.Delivery, "sqs", true)
	consume(p.Delivery, p.Webhook, keys, &awslambda.EventSourceMappingOptions{
		BatchSize:               jsii.Number(stack.DeliveryBatchSize),
		ReportBatchItemFailures: jsii.Bool(true),
		MaxConcurrency:          jsii.Number(stack.DeliveryMaxConcurrency),
	})
	return p
}

// GrantDeadLetters lets fn (the config or console function) count and replay the webhook dead letters: it
// receives, releases and deletes them on WebhookDLQ and sends them back to Webhook, whose URLs
// its environment names.
func (p *Pipeline) GrantDeadLetters(fn awslambda.Function, keys *Keys) {
	fn.AddEnvironment(jsii.String(stack.EnvDeliveryQueueURL), p.Webhook.QueueUrl(), nil)
	fn.AddEnvironment(jsii.String(stack.EnvDeliveryDLQURL), p.WebhookDLQ.QueueUrl(), nil)
	p.WebhookDLQ.Grant(fn, *jsii.Strings("sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage")...)
	p.Webhook.Grant(fn, jsii.String("sqs:SendMessage"))
	keys.GrantViaService(fn, "sqs", true)
}

// consume makes queue an event source of fn with the permissions Lambda's poller needs. Unlike
// SqsEventSource, whose grantConsumeMessages adds an unconditioned kms:Decrypt on the queue's
// key, fn may use the key only through SQS: the one direct Decrypt in the stack is the hashing
// function's, for HMAC keys (Keys.GrantHMACKeyDecrypt), and the delivery function's, for
// signing secrets (Keys.GrantSigningSecretDecrypt).
func consume(fn awslambda.Function, queue awssqs.Queue, keys *Keys, opts *awslambda.EventSourceMappingOptions) {
	opts.EventSourceArn = queue.QueueArn()
	fn.AddEventSourceMapping(jsii.String("SqsEventSource"), opts)
	queue.Grant(fn, *jsii.Strings("sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueUrl",
		"sqs:DeleteMessage", "sqs:GetQueueAttributes")...)
	keys.GrantViaService(fn, "sqs", false)
}

// subscribe subscribes queue to topic with raw message delivery, a filter policy and a
// dead-letter queue for what SNS cannot deliver (dlq, with the same queue policy), as
// SqsSubscription does (same construct path, so the same logical ids) but without its grant to
// SNS on the queue's key: that grant names the topic — encrypted with the same key, a circular
// dependency — or, without the CDK feature flag that adds the name, has no condition at all.
// The key policy's AllowSNSDelivery statement takes its place.
func subscribe(topic awssns.Topic, queue, dlq awssqs.Queue, keys *Keys, filter *map[string]awssns.SubscriptionFilter) {
	sns := awsiam.NewServicePrincipal(jsii.String("sns.amazonaws.com"), nil)
	var policies []constructs.IDependable
	for _, q := range []awssqs.Queue{queue, dlq} {
		policy := q.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Principals: &[]awsiam.IPrincipal{sns},
			Actions:    jsii.Strings("sqs:SendMessage"),
			Resources:  jsii.Strings(*q.QueueArn()),
			Conditions: &map[string]any{"ArnEquals": map[string]any{"aws:SourceArn": topic.TopicArn()}},
		}))
		policies = append(policies, policy.PolicyDependable)
	}
	keys.AllowSNSDelivery()
	sub := awssns.NewSubscription(queue, awscdk.Names_NodeUniqueId(topic.Node()), &awssns.SubscriptionProps{
		Topic:              topic,
		Endpoint:           queue.QueueArn(),
		Protocol:           awssns.SubscriptionProtocol_SQS,
		RawMessageDelivery: jsii.Bool(true),
		FilterPolicy:       filter,
		DeadLetterQueue:    dlq,
	})
	sub.Node().AddDependency(policies...)
}
