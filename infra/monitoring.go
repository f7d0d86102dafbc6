package main

import (
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Monitoring raises an alarm, published to Alarms, when anything lands in a dead-letter or the
// rejected queue, a function errors or is throttled, or the API answers 5xx. Subscribe an
// operator's e-mail or pager to Alarms after deploying.
type Monitoring struct {
	Alarms    awssns.Topic
	AlarmList []awscloudwatch.Alarm
}

// NewMonitoring creates the alarms and the stack outputs (API URL, ingest queue URL, topic ARN).
func NewMonitoring(scope constructs.Construct, id string, keys *Keys, api *API, p *Pipeline) *Monitoring {
	c := constructs.NewConstruct(scope, jsii.String(id))
	m := &Monitoring{}
	m.Alarms = awssns.NewTopic(c, jsii.String("Alarms"), &awssns.TopicProps{MasterKey: keys.Key, EnforceSSL: jsii.Bool(true)})
	keys.AllowServicePrincipal("cloudwatch.amazonaws.com")
	action := awscloudwatchactions.NewSnsAction(m.Alarms)

	alarm := func(id, description string, metric awscloudwatch.IMetric) {
		a := awscloudwatch.NewAlarm(c, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String(description),
			Metric:             metric,
			Threshold:          jsii.Number(1),
			EvaluationPeriods:  jsii.Number(1),
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
		{"IngestDLQDepth", "events failed the hashing function repeatedly and wait in the ingest DLQ", p.IngestDLQ},
		{"WebhookDLQDepth", "webhook deliveries failed repeatedly and wait in the webhook DLQ", p.WebhookDLQ},
		{"RejectedDepth", "the pipeline rejected events permanently (see the reason attribute)", p.Rejected},
	} {
		alarm(q.id, q.what, q.queue.MetricApproximateNumberOfMessagesVisible(five))
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
		alarm(constructID(name)+"Errors", "the "+name+" function returned errors", fn.MetricErrors(sum))
		alarm(constructID(name)+"Throttles", "the "+name+" function was throttled", fn.MetricThrottles(sum))
	}
	alarm("API5xx", "the API answered with 5xx errors", api.RestAPI.MetricServerError(sum))

	output := func(id, description string, value *string) {
		awscdk.NewCfnOutput(scope, jsii.String(id), &awscdk.CfnOutputProps{Description: jsii.String(description), Value: value})
	}
	output("ApiURL", "base URL of the REST API", api.RestAPI.Url())
	output("IngestQueueURL", "producers send Segment events here", p.Ingest.QueueUrl())
	output("TopicARN", "protected per-destination copies are published here", p.Topic.TopicArn())
	output("AlarmTopicARN", "subscribe operators to the service's alarms here", m.Alarms.TopicArn())
	return m
}
