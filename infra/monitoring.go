package main

import (
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/phiguard/phiguard/shared/pipeline"
	"github.com/phiguard/phiguard/shared/stack"
)

const (
	// backlogAge is how old the oldest message of the ingest queue may grow before an alarm:
	// the pipeline takes seconds, and a message retried to its DLQ is at most about half an hour
	// old (5 receives, 6-minute visibility).
	backlogAge = 15 * time.Minute
	// webhookBacklogAge is the same for the webhook queue, where the delivery engine re-schedules
	// failed copies with delays of up to stack.DeliveryMaxDelaySeconds (15 minutes): a copy
	// waiting out its backoff is not a backlog, one that has waited that long and 15 minutes
	// more is.
	webhookBacklogAge = stack.DeliveryMaxDelaySeconds*time.Second + 15*time.Minute
	// expiringAge is how old a message in a dead-letter or the rejected queue may grow before an
	// alarm: SQS deletes it at queueRetention (14 days) counted from when it was first sent,
	// whichever queue it is in by then, so four days remain to replay or export it.
	expiringAge = 10 * 24 * time.Hour
)

// Monitoring raises an alarm, published to Alarms, when anything lands in a dead-letter or the
// rejected queue, when a message there nears the end of its retention, when the ingest or the
// webhook queue backs up, when a function errors or is throttled, when the API answers 5xx, or
// when the pipeline sends copies for a destination whose hashing is degraded.
// Each alarm has a runbook section in docs/OPERATING.md under its construct id.
type Monitoring struct {
	Alarms    awssns.Topic
	AlarmList []awscloudwatch.Alarm
}

// NewMonitoring creates the alarm topic, subscribes emails to it (each address confirms by
// e-mail before it receives anything), and creates the alarms.
func NewMonitoring(scope constructs.Construct, id string, keys *Keys, api *API, p *Pipeline, emails []string) *Monitoring {
	c := constructs.NewConstruct(scope, jsii.String(id))
	m := &Monitoring{}
	m.Alarms = awssns.NewTopic(c, jsii.String("Alarms"), &awssns.TopicProps{MasterKey: keys.Key, EnforceSSL: jsii.Bool(true)})
	keys.AllowAlarms()
	for _, e := range emails {
		m.Alarms.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(e), nil))
	}
	action := awscloudwatchactions.NewSnsAction(m.Alarms)

	alarm := func(id, description string, metric awscloudwatch.IMetric, threshold float64, periods float64) {
		a := awscloudwatch.NewAlarm(c, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String(description + " Runbook: docs/OPERATING.md, \"" + id + "\"."),
			Metric:             metric,
			Threshold:          jsii.Number(threshold),
			EvaluationPeriods:  jsii.Number(periods),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		a.AddAlarmAction(action)
		m.AlarmList = append(m.AlarmList, a)
	}
	five := &awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5)), Statistic: jsii.String("Maximum")}
	for _, q := range []struct {
		id, what string
		queue    awssqs.Queue
	}{
		{"IngestDLQ", "events failed the hashing function repeatedly and wait in the ingest DLQ.", p.IngestDLQ},
		{"WebhookDLQ", "copies for webhook or AWS destinations were dead-lettered (refused, such as AccessDenied or NoSuchBucket, or out of attempts) and wait in the webhook DLQ.", p.WebhookDLQ},
		{"WebhookSubscriptionDLQ", "SNS could not deliver fan-out messages to the webhook queue; they wait in the subscription's DLQ.", p.WebhookSubscriptionDLQ},
		{"Rejected", "the pipeline rejected events permanently (see the reason attribute).", p.Rejected},
	} {
		alarm(q.id+"Depth", q.what, q.queue.MetricApproximateNumberOfMessagesVisible(five), 1, 1)
		alarm(q.id+"Expiring", "a message has waited "+days(expiringAge)+" days; SQS deletes it at "+days(queueRetention)+
			" days after it was first sent.", q.queue.MetricApproximateAgeOfOldestMessage(five), expiringAge.Seconds(), 1)
	}
	for _, q := range []struct {
		id, what string
		queue    awssqs.Queue
	}{
		{"IngestBacklog", "the oldest ingest message is older than " + backlogAge.String() + ": the hashing function is not keeping up or keeps failing.", p.Ingest},
		{"WebhookBacklog", "the oldest webhook copy is older than " + webhookBacklogAge.String() + ": the delivery function is not keeping up or keeps failing.", p.Webhook},
	} {
		age := backlogAge
		if q.queue == p.Webhook {
			age = webhookBacklogAge
		}
		// Two periods: one slow retry is not a backlog.
		alarm(q.id, q.what, q.queue.MetricApproximateAgeOfOldestMessage(five), age.Seconds(), 2)
	}

	functions := map[string]awslambda.Function{"authorizer": api.Authorizer, "hashing": p.Hashing, "delivery": p.Delivery}
	for name, fn := range api.Functions {
		functions[name] = fn
	}
	names := make([]string, 0, len(functions))
	for name := range functions {
		names = append(names, name)
	}
	sort.Strings(names) // stable logical ids and template order
	sum := &awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5)), Statistic: jsii.String("Sum")}
	for _, name := range names {
		fn := functions[name]
		alarm(constructID(name)+"Errors", "the "+name+" function returned errors.", fn.MetricErrors(sum), 1, 1)
		alarm(constructID(name)+"Throttles", "the "+name+" function was throttled.", fn.MetricThrottles(sum), 1, 1)
	}
	alarm("API5xx", "the API answered with 5xx errors.", api.RestAPI.MetricServerError(sum), 1, 1)
	// The pipeline's own count (Embedded Metric Format, pipeline.MetricsNamespace): copies for a
	// destination whose hashing is degraded (phi.HashingState) have its protected fields removed.
	degraded := awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace: jsii.String(pipeline.MetricsNamespace), MetricName: jsii.String("CopiesDegraded"),
		DimensionsMap: &map[string]*string{"Function": jsii.String("hashing")},
		Period:        awscdk.Duration_Minutes(jsii.Number(5)), Statistic: jsii.String("Sum"),
	})
	alarm("HashingDegraded", "copies went out for a destination whose hashing is degraded (no active key, HMAC key revoked, or workspace not eligible): its protected fields were removed.", degraded, 1, 1)
	rule := deadLettersByDestination(c, p.Delivery)
	// The destination with the most dead-lettered copies in the period: the alarm fires for any
	// one destination, and the rule's report names it.
	top := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String("INSIGHT_RULE_METRIC('" + *rule.RuleName() + "', 'MaxContributorValue')"),
		Label:      jsii.String("dead-lettered copies of the destination with the most"),
		Period:     awscdk.Duration_Minutes(jsii.Number(5)),
	})
	alarm("DestinationDeadLetters", "copies for a destination were dead-lettered (it refused them, such as AccessDenied or NoSuchBucket, or they ran out of attempts); Contributor Insights rule "+
		*rule.RuleName()+" names the destination, whose delivery state shows degraded.", top, 1, 1)
	return m
}

// deadLettersByDestination is a Contributor Insights rule over the delivery function's metric
// lines (Embedded Metric Format, delivery.MetricsNamespace): the copies dead-lettered per
// destination id, so that the alarm can say which destination fails without an alarm per
// destination.
func deadLettersByDestination(scope constructs.Construct, fn awslambda.Function) awscloudwatch.CfnInsightRule {
	stack := awscdk.Stack_Of(scope)
	return awscloudwatch.NewCfnInsightRule(scope, jsii.String("DeadLettersByDestination"), &awscloudwatch.CfnInsightRuleProps{
		RuleName:  jsii.String(*stack.StackName() + "-DeadLettersByDestination"),
		RuleState: jsii.String("ENABLED"),
		RuleBody: stack.ToJsonString(map[string]any{
			"Schema":        map[string]any{"Name": "CloudWatchLogRule", "Version": 1},
			"LogGroupNames": []any{fn.LogGroup().LogGroupName()},
			"LogFormat":     "JSON",
			"Contribution": map[string]any{
				"Keys":    []string{"$.DestinationId"},
				"ValueOf": "$.CopiesDeadLettered",
				"Filters": []any{map[string]any{"Match": "$.CopiesDeadLettered", "GreaterThan": 0}},
			},
			"AggregateOn": "Sum",
		}, nil),
	})
}

func days(d time.Duration) string { return strconv.Itoa(int(d / (24 * time.Hour))) }
