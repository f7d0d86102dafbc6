package catalog

import (
	"fmt"
	"strings"

	"github.com/phiguard/phiguard/shared/phi"
)

// Access is what a customer pastes into IAM for one destination: the role to create (on
// RolePath), the trust policy that lets the service's roles assume it with the destination's
// external id and nothing else, and the permissions policy that allows exactly the calls the
// destination's sender and its test make.
type Access struct {
	RoleARN    string `json:"roleArn"`
	ExternalID string `json:"externalId"`
	// TrustPolicy and PermissionsPolicy are IAM policy documents.
	TrustPolicy       PolicyDocument `json:"trustPolicy"`
	PermissionsPolicy PolicyDocument `json:"permissionsPolicy"`
}

// PolicyDocument is an IAM policy document.
type PolicyDocument struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one statement of a PolicyDocument.
type Statement struct {
	Sid       string                       `json:"Sid"`
	Effect    string                       `json:"Effect"`
	Principal map[string][]string          `json:"Principal,omitempty"`
	Action    []string                     `json:"Action"`
	Resource  []string                     `json:"Resource,omitempty"`
	Condition map[string]map[string]string `json:"Condition,omitempty"`
}

// AccessPolicy returns d's Access, trusting principals (the ARNs of the service's roles that
// assume customer roles: the delivery function's, and the config function's for the test
// record). It returns ECONFLICT when d's type assumes no role (a webhook) and EINVALID when d's
// settings do not pass Check (a destination saved before a rule existed).
func AccessPolicy(d *phi.Destination, principals []string) (*Access, error) {
	e, ok := Lookup(d.Type)
	if !ok || !e.AssumesRole {
		return nil, phi.Errorf(phi.ECONFLICT, "%s destinations are not reached through a role in your account; they have no access policy", phi.Clip(string(d.Type), 40))
	}
	if err := phi.Invalid(Check(d.Type, d.Settings)); err != nil {
		return nil, err
	}
	s := d.Settings
	role, _ := ParseARN(s.RoleARN)
	a := &Access{
		RoleARN: s.RoleARN, ExternalID: ExternalID(d),
		TrustPolicy: PolicyDocument{Version: "2012-10-17", Statement: []Statement{{
			Sid: "PhiguardDelivery", Effect: "Allow", Principal: map[string][]string{"AWS": principals},
			Action:    []string{"sts:AssumeRole"},
			Condition: map[string]map[string]string{"StringEquals": {"sts:ExternalId": ExternalID(d)}},
		}}},
		PermissionsPolicy: PolicyDocument{Version: "2012-10-17"},
	}
	add := func(sid string, actions []string, resource string) {
		a.PermissionsPolicy.Statement = append(a.PermissionsPolicy.Statement,
			Statement{Sid: sid, Effect: "Allow", Action: actions, Resource: []string{resource}})
	}
	switch d.Type {
	case phi.DestinationS3:
		add("PhiguardWriteObjects", []string{"s3:PutObject"}, fmt.Sprintf("arn:%s:s3:::%s/%s*", role.Partition, s.Bucket, s.Prefix))
		if s.KMSKeyARN != "" {
			add("PhiguardEncryptObjects", []string{"kms:GenerateDataKey"}, s.KMSKeyARN)
		}
	case phi.DestinationFirehose:
		add("PhiguardPutRecords", []string{"firehose:PutRecord", "firehose:PutRecordBatch"}, s.DeliveryStreamARN)
	case phi.DestinationEventBridge:
		add("PhiguardPutEvents", []string{"events:PutEvents"}, s.EventBusARN)
	case phi.DestinationSQS:
		add("PhiguardSendMessages", []string{"sqs:SendMessage"}, s.QueueARN)
	}
	return a, nil
}

// ParsePrincipals reads the comma-separated list of the service's assuming role ARNs (an
// environment variable); it fails naming an entry that is not an IAM role ARN.
func ParsePrincipals(list string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(list, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if a, err := ParseARN(p); err != nil || a.Service != "iam" || !strings.HasPrefix(a.Resource, "role/") {
			return nil, fmt.Errorf("%q is not an IAM role ARN", phi.Clip(p, 120))
		}
		out = append(out, p)
	}
	return out, nil
}

// TestResult is what a destination's test (POST …/destinations/{id}/test) found: whether the
// test record was written and where, or at which step it failed, the AWS error code and what
// to do, in plain words.
type TestResult struct {
	Delivered bool `json:"delivered"`
	// Step is "assume-role" (the trust policy, the external id or the role itself) or "write"
	// (the permissions policy, the resource, its region, its key).
	Step string `json:"step"`
	// Code is AWS's error code ("AccessDenied", "NoSuchBucket", …); empty on success or when AWS
	// could not be reached.
	Code string `json:"code,omitempty"`
	// Message says what happened and, on failure, what to change.
	Message string `json:"message"`
	// RecordID is the test record's dedup id; Location where it was written (an S3 key, a stream,
	// a bus, a queue).
	RecordID string `json:"recordId,omitempty"`
	Location string `json:"location,omitempty"`
}
