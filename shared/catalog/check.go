package catalog

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/phiguard/phiguard/shared/phi"
)

// RolePath is the IAM path every customer role the service assumes must be on. The service's
// delivery role may call sts:AssumeRole on arn:aws:iam::*:role/phiguard-delivery/* only
// (AssumableRoles), so a destination can never name one of the customer's other roles — nor
// one of the service's own.
const RolePath = "/phiguard-delivery/"

// AssumableRoles is the resource of the service's sts:AssumeRole permission, in partition
// partition ("aws", "aws-us-gov", "aws-cn").
func AssumableRoles(partition string) string {
	return "arn:" + partition + ":iam::*:role" + RolePath + "*"
}

// ExternalID is the external id the service passes when it assumes d's role: unique to the
// destination, chosen by the service (never by the customer, so one customer cannot make the
// service assume another's role: the confused deputy), and stable for the destination's life.
// The trust policy of the customer's role requires it (AccessPolicy).
func ExternalID(d *phi.Destination) string {
	return "phiguard:" + d.WorkspaceID + ":" + d.ID
}

// Values returns the non-empty members of s by JSON name.
func Values(s phi.DestinationSettings) map[string]string {
	m := values(s)
	for k, v := range m {
		if v == "" {
			delete(m, k)
		}
	}
	return m
}

// SetValue sets the member of s with JSON name name to v, a whole number's digits for an
// integer setting (empty unsets it; other text sets 0, outside every integer setting's bounds, so
// that Check refuses it); it reports false, changing nothing, when s has no such member.
func SetValue(s *phi.DestinationSettings, name, v string) bool {
	if name == "batchSize" {
		s.BatchSize = nil
		if v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				n = 0
			}
			s.BatchSize = &n
		}
		return true
	}
	p := map[string]*string{
		"url": &s.URL, "roleArn": &s.RoleARN, "bucket": &s.Bucket, "region": &s.Region, "prefix": &s.Prefix,
		"kmsKeyArn": &s.KMSKeyARN, "deliveryStreamArn": &s.DeliveryStreamARN, "eventBusArn": &s.EventBusARN,
		"queueArn": &s.QueueARN,
	}[name]
	if p == nil {
		return false
	}
	*p = v
	return true
}

// values returns every member of s by JSON name.
func values(s phi.DestinationSettings) map[string]string {
	return map[string]string{
		"url": s.URL, "roleArn": s.RoleARN, "bucket": s.Bucket, "region": s.Region, "prefix": s.Prefix,
		"kmsKeyArn": s.KMSKeyARN, "deliveryStreamArn": s.DeliveryStreamARN, "eventBusArn": s.EventBusARN,
		"queueArn": s.QueueARN, "batchSize": intValue(s.BatchSize),
	}
}

// intValue is an integer setting's text: its digits, or "" when it is absent.
func intValue(n *int) string {
	if n == nil {
		return ""
	}
	return strconv.Itoa(*n)
}

// patterns caches each setting's compiled pattern.
var patterns = func() map[string]*regexp.Regexp {
	m := map[string]*regexp.Regexp{}
	for _, e := range Entries {
		for _, s := range e.Settings {
			if s.Pattern != "" {
				m[string(e.Type)+"."+s.Name] = regexp.MustCompile(s.Pattern)
			}
		}
	}
	return m
}()

// Check returns the problems of settings s for a destination of type t, each naming its field
// ("settings.roleArn"): a required setting missing, a setting the type does not take, a value
// not of its form, a resource in another account than the role's (or, for the KMS key, another
// region than the bucket's), an S3 bucket name that AWS refuses. An unknown type has no problems
// here: the caller names it. The webhook URL is the webhook policy's to check (it resolves the
// host), so Check only requires it.
func Check(t phi.DestinationType, s phi.DestinationSettings) []phi.Problem {
	e, ok := Lookup(t)
	if !ok {
		return nil
	}
	var p []phi.Problem
	vals := values(s)
	known := map[string]bool{}
	for _, set := range e.Settings {
		known[set.Name] = true
		v := vals[set.Name]
		field := "settings." + set.Name
		switch {
		case v == "" && set.Required:
			p = append(p, phi.Problem{Field: field, Reason: fmt.Sprintf("is required for %s destinations (for example %s)", t, set.Example)})
		case v == "":
		case set.Integer:
			if n, _ := strconv.Atoi(v); n < set.Min || n > set.Max {
				p = append(p, phi.Problem{Field: field, Reason: fmt.Sprintf("must be a whole number from %d to %d (leave it out for %d)", set.Min, set.Max, set.Default)})
			}
		case strings.TrimSpace(v) != v:
			p = append(p, phi.Problem{Field: field, Reason: "must not start or end with whitespace"})
		case set.Pattern != "" && !patterns[string(t)+"."+set.Name].MatchString(v):
			p = append(p, phi.Problem{Field: field, Reason: fmt.Sprintf("%q is not of the form %s: %s", phi.Clip(v, 120), set.Example, set.Description)})
		}
	}
	for _, name := range settingNames {
		if vals[name] != "" && !known[name] {
			p = append(p, phi.Problem{Field: "settings." + name, Reason: fmt.Sprintf("is not a setting of %s destinations; leave it out", t)})
		}
	}
	if len(p) > 0 {
		return p
	}
	return append(p, checkTogether(t, s)...)
}

// settingNames lists every member of phi.DestinationSettings, in a stable order.
var settingNames = []string{"url", "roleArn", "bucket", "region", "prefix", "kmsKeyArn", "deliveryStreamArn", "eventBusArn", "queueArn", "batchSize"}

// checkTogether checks what well-formed settings must agree on.
func checkTogether(t phi.DestinationType, s phi.DestinationSettings) []phi.Problem {
	var p []phi.Problem
	if t == phi.DestinationS3 {
		p = append(p, checkBucket(s.Bucket)...)
		if slices.ContainsFunc(strings.Split(s.Prefix, "/"), func(seg string) bool { return seg == "." || seg == ".." }) {
			p = append(p, phi.Problem{Field: "settings.prefix", Reason: `must not hold a "." or ".." segment`})
		}
	}
	if s.RoleARN == "" {
		return p
	}
	role, _ := ParseARN(s.RoleARN)
	for _, r := range []struct{ field, arn string }{
		{"kmsKeyArn", s.KMSKeyARN}, {"deliveryStreamArn", s.DeliveryStreamARN}, {"eventBusArn", s.EventBusARN}, {"queueArn", s.QueueARN},
	} {
		if r.arn == "" {
			continue
		}
		a, _ := ParseARN(r.arn)
		switch {
		case a.Partition != role.Partition:
			p = append(p, phi.Problem{Field: "settings." + r.field, Reason: fmt.Sprintf("is in partition %s, the role in %s; both must be in the same partition", a.Partition, role.Partition)})
		case a.Account != role.Account:
			p = append(p, phi.Problem{Field: "settings." + r.field, Reason: fmt.Sprintf("is in account %s, the role in account %s; the role must be in the resource's account", a.Account, role.Account)})
		case r.field == "kmsKeyArn" && a.Region != s.Region:
			p = append(p, phi.Problem{Field: "settings.kmsKeyArn", Reason: fmt.Sprintf("is in region %s, the bucket in %s; S3 encrypts only with a key in the bucket's region", a.Region, s.Region)})
		}
	}
	if t == phi.DestinationSQS {
		if a, _ := ParseARN(s.QueueARN); len(a.Resource) > 80 {
			p = append(p, phi.Problem{Field: "settings.queueArn", Reason: fmt.Sprintf("names a queue of %d characters; SQS queue names have at most 80", len(a.Resource))})
		}
	}
	return p
}

// checkBucket applies S3's bucket naming rules that the pattern does not.
func checkBucket(b string) []phi.Problem {
	if strings.HasPrefix(b, "xn--") || strings.HasPrefix(b, "sthree-") || strings.HasSuffix(b, "-s3alias") || strings.HasSuffix(b, "--ol-s3") {
		return []phi.Problem{{Field: "settings.bucket", Reason: "uses a prefix or suffix S3 reserves (xn--, sthree-, -s3alias, --ol-s3)"}}
	}
	return nil
}

// ARN is the parts of an Amazon Resource Name.
type ARN struct {
	Partition, Service, Region, Account, Resource string
}

// ParseARN splits s into its parts; it fails when s has fewer than six colon-separated parts or
// does not start with "arn:". It does not check the parts' form (Check does).
func ParseARN(s string) (ARN, error) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return ARN{}, fmt.Errorf("not an ARN")
	}
	return ARN{Partition: parts[1], Service: parts[2], Region: parts[3], Account: parts[4], Resource: parts[5]}, nil
}

// Region returns the region of settings s of type t: the bucket's for s3, the resource ARN's
// for the others, "" for a webhook.
func Region(t phi.DestinationType, s phi.DestinationSettings) string {
	var arn string
	switch t {
	case phi.DestinationS3:
		return s.Region
	case phi.DestinationFirehose:
		arn = s.DeliveryStreamARN
	case phi.DestinationEventBridge:
		arn = s.EventBusARN
	case phi.DestinationSQS:
		arn = s.QueueARN
	}
	a, _ := ParseARN(arn)
	return a.Region
}
