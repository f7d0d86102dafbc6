// Package catalog is the destination catalog, defined once: every destination type the service
// delivers to — its name, what it delivers, its settings and their JSON Schema, whether a
// Business Associate Addendum can cover it, and its limits — and the rules its settings must
// follow when saved (Check). The REST API (GET /catalog), the OpenAPI document (tested against
// Entry.Schema), the console's catalog step, the senders (shared/awsdest) and infra (the role
// path the delivery function may assume, the delivery queue's subscription filter) all read it.
//
// It depends on nothing but the standard library and shared/phi.
package catalog

import (
	"slices"
	"strconv"

	"github.com/phiguard/phiguard/shared/phi"
)

// Setting is one field of a destination type's settings (a member of phi.DestinationSettings).
type Setting struct {
	// Name is the member's JSON name in "settings".
	Name string
	// Title labels the setting in the console; Description says what it holds and its form.
	Title, Description string
	Required           bool
	// Pattern is the regular expression a value must match, in the common subset of RE2 and
	// ECMA-262 (so the JSON Schema and Check agree); empty for the webhook URL, which the
	// webhook policy checks.
	Pattern string
	// Example is a well-formed value.
	Example string
	// Integer makes the setting a JSON integer from Min to Max (a string otherwise); Default
	// is what an absent one means.
	Integer           bool
	Min, Max, Default int
}

// Limits are what one destination of a type accepts. Zero means no limit of that kind beyond
// the fan-out's own (pack.MaxBodyBytes per copy).
type Limits struct {
	// MaxRecordBytes is the largest record (one protected event, as sent) the type accepts;
	// a larger copy is dead-lettered with reason "too-large".
	MaxRecordBytes int `json:"maxRecordBytes,omitempty"`
	// MaxBatchRecords is the most records one request carries.
	MaxBatchRecords int `json:"maxBatchRecords"`
	// MaxBatchBytes is the most bytes one request carries.
	MaxBatchBytes int `json:"maxBatchBytes,omitempty"`
}

// Entry is one destination type of the catalog.
type Entry struct {
	Type phi.DestinationType `json:"type"`
	Name string              `json:"name"`
	// Delivers says, in a sentence, what the destination receives.
	Delivers string `json:"delivers"`
	// HIPAAEligible says whether the service a destination of this type runs on can be covered
	// by the customer's BAA (true for the AWS services, which are HIPAA eligible services).
	HIPAAEligible bool `json:"hipaaEligible"`
	// BAA says what the coverage depends on.
	BAA string `json:"baa"`
	// AssumesRole says whether the service reaches the destination by assuming a role in the
	// customer's account (the AWS types), so that the destination has an access policy.
	AssumesRole bool   `json:"assumesRole"`
	Limits      Limits `json:"limits"`
	// Settings are the type's settings, in the order the console shows them.
	Settings []Setting `json:"-"`
}

// Common patterns: the IAM role on RolePath, and an AWS region.
const (
	rolePattern   = `^arn:aws(-us-gov|-cn)?:iam::[0-9]{12}:role/phiguard-delivery/[A-Za-z0-9+=,.@_/-]{1,500}$`
	regionPattern = `^[a-z]{2}(-gov)?-[a-z]+-[0-9]$`
)

var roleSetting = Setting{
	Name: "roleArn", Title: "IAM role ARN", Required: true, Pattern: rolePattern,
	Example: "arn:aws:iam::123456789012:role/phiguard-delivery/events-lake",
	Description: "The role in your account that phiguard assumes, with this destination's external id, to deliver. " +
		"It must be on the path " + RolePath + " (the only roles phiguard may assume); " +
		"GET …/destinations/{id}/access-policy gives its trust and permissions policies.",
}

const awsBAA = "HIPAA eligible: a HIPAA eligible AWS service in your own account, covered by your BAA with AWS; phiguard protects the fields you choose before the copy leaves."

// Entries is the catalog, in the order the console lists it.
var Entries = []Entry{
	{
		Type: phi.DestinationWebhook, Name: "Webhook (HTTPS)",
		Delivers: "Each event is POSTed to your HTTPS endpoint, signed with HMAC-SHA-256 so the receiver can verify it; " +
			"with a batch size above 1, up to that many events per request, as {\"events\": [...]}.",
		HIPAAEligible: true,
		BAA:           "HIPAA eligible when the receiving endpoint is covered by your own agreements (your BAA with whoever runs it): phiguard protects the fields you choose before the copy leaves.",
		Limits:        Limits{MaxBatchRecords: MaxWebhookBatch, MaxBatchBytes: MaxWebhookBatchBytes},
		Settings: []Setting{{
			Name: "url", Title: "Webhook URL", Required: true, Example: "https://hooks.example.com/phiguard",
			Description: "An https address whose host resolves to public addresses only.",
		}, {
			Name: "batchSize", Title: "Events per request", Example: "10", Integer: true, Min: 1, Max: MaxWebhookBatch, Default: 1,
			Description: "Optional: the most events one request carries. 1, the default, POSTs each event alone as the body; above 1, " +
				"events that are ready together go in one request of up to that many (and at most 256 KiB), " +
				"as {\"events\": [{\"id\": <the event's webhook-id>, \"event\": <the event>}, ...]} (docs/WEBHOOKS.md).",
		}},
	},
	{
		Type: phi.DestinationS3, Name: "Amazon S3 (your bucket)", AssumesRole: true,
		Delivers: "Gzip-compressed NDJSON objects in your bucket, one per delivery batch, under dt=YYYY-MM-DD/hour=HH/ " +
			"partitions that Athena, Snowflake or Redshift Spectrum query; a redelivered batch overwrites its object.",
		HIPAAEligible: true, BAA: awsBAA,
		Limits: Limits{MaxBatchRecords: 500, MaxBatchBytes: 16 << 20},
		Settings: []Setting{roleSetting, {
			Name: "bucket", Title: "Bucket", Required: true, Example: "example-events-lake",
			Pattern: `^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`,
			Description: "The bucket's name: 3 to 63 lower-case letters, digits and hyphens. Names with dots are refused: " +
				"they break the TLS certificate of the virtual-hosted-style requests phiguard makes.",
		}, {
			Name: "region", Title: "Bucket region", Required: true, Pattern: regionPattern, Example: "us-east-1",
			Description: "The bucket's region.",
		}, {
			Name: "prefix", Title: "Key prefix", Pattern: `^([A-Za-z0-9!_.*'()-]+/){1,16}$`, Example: "phiguard/events/",
			Description: "Optional: the objects' key prefix, segments of letters, digits and !_.*'()- each ending with /.",
		}, {
			Name: "kmsKeyArn", Title: "KMS key ARN (SSE-KMS)", Example: "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
			Pattern:     `^arn:aws(-us-gov|-cn)?:kms:[a-z]{2}(-gov)?-[a-z]+-[0-9]:[0-9]{12}:key/[A-Za-z0-9-]{1,128}$`,
			Description: "Optional: your KMS key, in the bucket's region and the role's account, that encrypts each object (SSE-KMS); empty uses the bucket's default encryption.",
		}},
	},
	{
		Type: phi.DestinationFirehose, Name: "Amazon Data Firehose (your stream)", AssumesRole: true,
		Delivers:      "One record per event (the event's JSON and a newline) on your Firehose stream, which lands them in S3, Snowflake, Redshift or Splunk.",
		HIPAAEligible: true, BAA: awsBAA,
		Limits: Limits{MaxRecordBytes: 1000 << 10, MaxBatchRecords: 500, MaxBatchBytes: 4 << 20},
		Settings: []Setting{roleSetting, {
			Name: "deliveryStreamArn", Title: "Delivery stream ARN", Required: true,
			Example:     "arn:aws:firehose:us-east-1:123456789012:deliverystream/phiguard-events",
			Pattern:     `^arn:aws(-us-gov|-cn)?:firehose:[a-z]{2}(-gov)?-[a-z]+-[0-9]:[0-9]{12}:deliverystream/[A-Za-z0-9_.-]{1,64}$`,
			Description: "Your Direct PUT delivery stream, in the role's account.",
		}},
	},
	{
		Type: phi.DestinationEventBridge, Name: "Amazon EventBridge (your bus)", AssumesRole: true,
		Delivers: "One event per protected event on your bus, source \"" + EventBridgeSource + "\", detail-type \"" +
			EventBridgeDetailType + "\", the protected event as its detail, for your rules to route.",
		HIPAAEligible: true, BAA: awsBAA,
		Limits: Limits{MaxRecordBytes: 256 << 10, MaxBatchRecords: 10, MaxBatchBytes: 256 << 10},
		Settings: []Setting{roleSetting, {
			Name: "eventBusArn", Title: "Event bus ARN", Required: true,
			Example:     "arn:aws:events:us-east-1:123456789012:event-bus/phiguard-events",
			Pattern:     `^arn:aws(-us-gov|-cn)?:events:[a-z]{2}(-gov)?-[a-z]+-[0-9]:[0-9]{12}:event-bus/[A-Za-z0-9._-]{1,256}$`,
			Description: "Your event bus, in the role's account.",
		}},
	},
	{
		Type: phi.DestinationSQS, Name: "Amazon SQS (your queue)", AssumesRole: true,
		Delivers: "One message per event on your queue, the protected event as its body; on a FIFO queue the event's dedup id " +
			"is the message deduplication id, so a redelivery within five minutes is dropped by SQS.",
		HIPAAEligible: true, BAA: awsBAA,
		Limits: Limits{MaxRecordBytes: 256 << 10, MaxBatchRecords: 10, MaxBatchBytes: 256 << 10},
		Settings: []Setting{roleSetting, {
			Name: "queueArn", Title: "Queue ARN", Required: true,
			Example:     "arn:aws:sqs:us-east-1:123456789012:phiguard-events",
			Pattern:     `^arn:aws(-us-gov|-cn)?:sqs:[a-z]{2}(-gov)?-[a-z]+-[0-9]:[0-9]{12}:[A-Za-z0-9_-]{1,80}(\.fifo)?$`,
			Description: "Your standard or FIFO queue (name ending in .fifo), in the role's account.",
		}},
	},
}

// The most events, and bytes of body, one request to a webhook destination carries
// (phi.DestinationSettings.BatchSize's bound). The bytes are about what one SQS message holds,
// so that a failed request's copies are re-scheduled, and sent again, as one request (the
// delivery engine keeps a request within pack.MaxBodyBytes of copies).
const (
	MaxWebhookBatch      = 100
	MaxWebhookBatchBytes = 256 << 10
)

// EventBridge's source and detail types of what the service puts on a bus. A test record
// (POST …/test) has EventBridgeTestDetailType.
const (
	EventBridgeSource         = "phiguard"
	EventBridgeDetailType     = "phiguard.protected-event"
	EventBridgeTestDetailType = "phiguard.test-record"
)

// Lookup returns the entry of type t.
func Lookup(t phi.DestinationType) (Entry, bool) {
	i := slices.IndexFunc(Entries, func(e Entry) bool { return e.Type == t })
	if i < 0 {
		return Entry{}, false
	}
	return Entries[i], true
}

// Types returns every type of the catalog, in its order.
func Types() []phi.DestinationType {
	out := make([]phi.DestinationType, len(Entries))
	for i, e := range Entries {
		out[i] = e.Type
	}
	return out
}

// Schema returns the JSON Schema (draft 2020-12, as OpenAPI 3.1 uses it) of e's settings: an
// object of the listed members (strings, or integers within their bounds), the required ones
// required, nothing else.
func (e Entry) Schema() map[string]any {
	props := map[string]any{}
	required := []string{}
	for _, s := range e.Settings {
		p := map[string]any{"type": "string", "title": s.Title, "description": s.Description, "examples": []string{s.Example}}
		if s.Integer {
			n, _ := strconv.Atoi(s.Example)
			p["type"], p["examples"] = "integer", []int{n}
			p["minimum"], p["maximum"], p["default"] = s.Min, s.Max, s.Default
		}
		if s.Pattern != "" {
			p["pattern"] = s.Pattern
		}
		if s.Name == "url" {
			p["format"] = "uri"
		}
		props[s.Name] = p
		if s.Required {
			required = append(required, s.Name)
		}
	}
	return map[string]any{
		"type": "object", "additionalProperties": false, "required": required, "properties": props,
	}
}
