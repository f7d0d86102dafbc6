package catalog

import (
	"encoding/json"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

const (
	role  = "arn:aws:iam::123456789012:role/phiguard-delivery/lake"
	acct2 = "210987654321"
)

func TestEveryTypeIsInTheCatalogOnce(t *testing.T) {
	want := []phi.DestinationType{phi.DestinationWebhook, phi.DestinationS3, phi.DestinationFirehose, phi.DestinationEventBridge, phi.DestinationSQS}
	if got := Types(); !slices.Equal(got, want) {
		t.Fatalf("Types() = %v, want %v", got, want)
	}
	var names []string
	for _, ty := range want {
		names = append(names, string(ty))
	}
	if !slices.Equal(stack.DeliveryTypes, names) {
		t.Errorf("stack.DeliveryTypes (the delivery queue's filter) = %v, want the catalog's %v", stack.DeliveryTypes, names)
	}
	for _, e := range Entries {
		if e.Name == "" || e.Delivers == "" || e.BAA == "" || e.Limits.MaxBatchRecords < 1 || len(e.Settings) == 0 {
			t.Errorf("%s: incomplete entry %+v", e.Type, e)
		}
		if e.AssumesRole != (e.Type != phi.DestinationWebhook) {
			t.Errorf("%s: AssumesRole = %v", e.Type, e.AssumesRole)
		}
	}
}

// Every setting's example passes its own pattern and Check, and the JSON Schema lists exactly
// the settings, with the same patterns Check uses.
func TestExamplesPassAndSchemasMatchTheSettings(t *testing.T) {
	for _, e := range Entries {
		t.Run(string(e.Type), func(t *testing.T) {
			var s phi.DestinationSettings
			raw := map[string]string{}
			for _, set := range e.Settings {
				raw[set.Name] = set.Example
			}
			for name, v := range raw {
				if !SetValue(&s, name, v) {
					t.Fatalf("%s is not a member of phi.DestinationSettings", name)
				}
			}
			b, _ := json.Marshal(s)
			var back phi.DestinationSettings
			if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(values(back), withDefaults(raw)) {
				t.Fatalf("a setting's name is not a member of phi.DestinationSettings: %v", raw)
			}
			if p := Check(e.Type, s); len(p) > 0 {
				t.Fatalf("the examples do not pass Check: %v", p)
			}
			props := e.Schema()["properties"].(map[string]any)
			if len(props) != len(e.Settings) {
				t.Errorf("schema has %d properties, want %d", len(props), len(e.Settings))
			}
			for _, set := range e.Settings {
				p := props[set.Name].(map[string]any)
				if set.Pattern != "" && p["pattern"] != set.Pattern {
					t.Errorf("%s: schema pattern %v, want %q", set.Name, p["pattern"], set.Pattern)
				}
				if set.Integer && (p["type"] != "integer" || p["minimum"] != set.Min || p["maximum"] != set.Max || set.Default < set.Min || set.Default > set.Max) {
					t.Errorf("%s: integer schema %v, want %d to %d", set.Name, p, set.Min, set.Max)
				}
				if set.Pattern != "" {
					if _, err := regexp.Compile(set.Pattern); err != nil {
						t.Errorf("%s: %v", set.Name, err)
					}
				}
			}
		})
	}
}

func withDefaults(m map[string]string) map[string]string {
	out := map[string]string{}
	for _, n := range settingNames {
		out[n] = m[n]
	}
	return out
}

func TestCheckRefusesWhatAWSWouldRefuse(t *testing.T) {
	s3 := func(f func(*phi.DestinationSettings)) phi.DestinationSettings {
		s := phi.DestinationSettings{RoleARN: role, Bucket: "lake-bucket", Region: "us-east-1"}
		f(&s)
		return s
	}
	for _, tc := range []struct {
		name  string
		typ   phi.DestinationType
		s     phi.DestinationSettings
		field string
		says  string
	}{
		{"a role is required", phi.DestinationS3, s3(func(s *phi.DestinationSettings) { s.RoleARN = "" }), "settings.roleArn", "is required"},
		{"a role off the path", phi.DestinationS3, s3(func(s *phi.DestinationSettings) { s.RoleARN = "arn:aws:iam::123456789012:role/admin" }), "settings.roleArn", "/phiguard-delivery/"},
		{"a user is not a role", phi.DestinationS3, s3(func(s *phi.DestinationSettings) { s.RoleARN = "arn:aws:iam::123456789012:user/phiguard-delivery/x" }), "settings.roleArn", "not of the form"},
		{"a short account", phi.DestinationS3, s3(func(s *phi.DestinationSettings) { s.RoleARN = "arn:aws:iam::1234:role/phiguard-delivery/x" }), "settings.roleArn", "not of the form"},
		{"an upper-case bucket", phi.DestinationS3, s3(func(s *phi.DestinationSettings) { s.Bucket = "Lake" }), "settings.bucket", "not of the form"},
		{"a dotted bucket", phi.DestinationS3, s3(func(s *phi.DestinationSettings) { s.Bucket = "lake.example" }), "settings.bucket", "not of the form"},
		{"a bucket like an IP", phi.DestinationS3, s3(func(s *phi.DestinationSettings) { s.Bucket = "192.168.1.1" }), "settings.bucket", "not of the form"},
		{"a reserved bucket prefix", phi.DestinationS3, s3(func(s *phi.DestinationSettings) { s.Bucket = "xn--lake" }), "settings.bucket", "reserves"},
		{"a bad region", phi.DestinationS3, s3(func(s *phi.DestinationSettings) { s.Region = "mars-1" }), "settings.region", "not of the form"},
		{"a prefix without its slash", phi.DestinationS3, s3(func(s *phi.DestinationSettings) { s.Prefix = "events" }), "settings.prefix", "not of the form"},
		{"a prefix climbing up", phi.DestinationS3, s3(func(s *phi.DestinationSettings) { s.Prefix = "a//" }), "settings.prefix", "not of the form"},
		{"a prefix with a dot-dot segment", phi.DestinationS3, s3(func(s *phi.DestinationSettings) { s.Prefix = "a/../" }), "settings.prefix", `".." segment`},
		{"a KMS key in another region", phi.DestinationS3, s3(func(s *phi.DestinationSettings) {
			s.KMSKeyARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
		}), "settings.kmsKeyArn", "bucket's region"},
		{"a KMS key in another account", phi.DestinationS3, s3(func(s *phi.DestinationSettings) {
			s.KMSKeyARN = "arn:aws:kms:us-east-1:" + acct2 + ":key/1234abcd-12ab-34cd-56ef-1234567890ab"
		}), "settings.kmsKeyArn", "account " + acct2},
		{"a webhook URL on an s3 destination", phi.DestinationS3, s3(func(s *phi.DestinationSettings) { s.URL = "https://x.example" }), "settings.url", "not a setting of s3"},
		{"a stream in another account", phi.DestinationFirehose, phi.DestinationSettings{RoleARN: role,
			DeliveryStreamARN: "arn:aws:firehose:us-east-1:" + acct2 + ":deliverystream/s"}, "settings.deliveryStreamArn", "the role must be in the resource's account"},
		{"a stream ARN of another service", phi.DestinationFirehose, phi.DestinationSettings{RoleARN: role,
			DeliveryStreamARN: "arn:aws:kinesis:us-east-1:123456789012:stream/s"}, "settings.deliveryStreamArn", "not of the form"},
		{"a bus in another partition", phi.DestinationEventBridge, phi.DestinationSettings{RoleARN: role,
			EventBusARN: "arn:aws-us-gov:events:us-gov-west-1:123456789012:event-bus/b"}, "settings.eventBusArn", "partition"},
		{"a queue URL is not a queue ARN", phi.DestinationSQS, phi.DestinationSettings{RoleARN: role,
			QueueARN: "https://sqs.us-east-1.amazonaws.com/123456789012/q"}, "settings.queueArn", "not of the form"},
		{"a queue name too long", phi.DestinationSQS, phi.DestinationSettings{RoleARN: role,
			QueueARN: "arn:aws:sqs:us-east-1:123456789012:" + strings.Repeat("q", 78) + ".fifo"}, "settings.queueArn", "at most 80"},
		{"a role on a webhook", phi.DestinationWebhook, phi.DestinationSettings{URL: "https://x.example", RoleARN: role}, "settings.roleArn", "not a setting of webhook"},
		{"a webhook without its URL", phi.DestinationWebhook, phi.DestinationSettings{}, "settings.url", "is required"},
		{"a batch of none", phi.DestinationWebhook, phi.DestinationSettings{URL: "https://x.example", BatchSize: ptr(0)}, "settings.batchSize", "from 1 to 100"},
		{"a batch above the most", phi.DestinationWebhook, phi.DestinationSettings{URL: "https://x.example", BatchSize: ptr(MaxWebhookBatch + 1)}, "settings.batchSize", "from 1 to 100"},
		{"a batch on a queue", phi.DestinationSQS, phi.DestinationSettings{RoleARN: role, QueueARN: "arn:aws:sqs:us-east-1:123456789012:q", BatchSize: ptr(5)}, "settings.batchSize", "not a setting of sqs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Check(tc.typ, tc.s)
			i := slices.IndexFunc(p, func(p phi.Problem) bool { return p.Field == tc.field })
			if i < 0 || !strings.Contains(p[i].Reason, tc.says) {
				t.Fatalf("Check = %v, want a problem of %s saying %q", p, tc.field, tc.says)
			}
		})
	}
}

func ptr(n int) *int { return &n }

// The console's text of an integer setting: digits set it, empty unsets it, anything else is
// kept as 0 for Check to refuse next to the field.
func TestSetValueReadsAnIntegerSettingsText(t *testing.T) {
	for _, tc := range []struct {
		text string
		want *int
	}{{"10", ptr(10)}, {"", nil}, {"ten", ptr(0)}, {"1.5", ptr(0)}} {
		s := phi.DestinationSettings{BatchSize: ptr(3)}
		if !SetValue(&s, "batchSize", tc.text) || !reflect.DeepEqual(s.BatchSize, tc.want) {
			t.Errorf("SetValue(batchSize, %q) set %v, want %v", tc.text, s.BatchSize, tc.want)
		}
	}
	if p := Check(phi.DestinationWebhook, phi.DestinationSettings{URL: "https://x.example", BatchSize: ptr(MaxWebhookBatch)}); len(p) != 0 {
		t.Errorf("the largest batch is refused: %v", p)
	}
}

func TestAccessPolicyGrantsOnlyTheDestinationsCalls(t *testing.T) {
	principals := []string{"arn:aws:iam::999988887777:role/Phiguard-Delivery"}
	d := &phi.Destination{ID: "dst_1", WorkspaceID: "ws_1", Type: phi.DestinationS3, Settings: phi.DestinationSettings{
		RoleARN: role, Bucket: "lake-bucket", Region: "us-east-1", Prefix: "events/",
		KMSKeyARN: "arn:aws:kms:us-east-1:123456789012:key/k1",
	}}
	a, err := AccessPolicy(d, principals)
	if err != nil {
		t.Fatal(err)
	}
	trust := a.TrustPolicy.Statement[0]
	if !slices.Equal(trust.Principal["AWS"], principals) || trust.Condition["StringEquals"]["sts:ExternalId"] != "phiguard:ws_1:dst_1" || a.ExternalID != "phiguard:ws_1:dst_1" {
		t.Errorf("trust statement %+v", trust)
	}
	var got []string
	for _, s := range a.PermissionsPolicy.Statement {
		got = append(got, strings.Join(s.Action, "+")+" on "+strings.Join(s.Resource, ","))
	}
	want := []string{"s3:PutObject on arn:aws:s3:::lake-bucket/events/*", "kms:GenerateDataKey on arn:aws:kms:us-east-1:123456789012:key/k1"}
	if !slices.Equal(got, want) {
		t.Errorf("permissions %v, want %v", got, want)
	}
	d2 := *d
	d2.ID = "dst_2"
	if ExternalID(&d2) == ExternalID(d) {
		t.Error("two destinations share an external id")
	}
	if _, err := AccessPolicy(&phi.Destination{Type: phi.DestinationWebhook}, principals); phi.ErrorCode(err) != phi.ECONFLICT {
		t.Errorf("webhook access policy: %v, want a conflict", err)
	}
	if _, err := ParsePrincipals("arn:aws:iam::1:role/a, arn:aws:s3:::b"); err == nil {
		t.Error("ParsePrincipals accepted a bucket ARN")
	}
}
