package main

import (
	"path"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"

	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/stack"
)

// A small IAM evaluator, enough to check the policies the stack hands to principals outside it
// against the stack's own resources, the way IAM evaluates a request in one account: an explicit
// Deny in any policy wins; otherwise the request is allowed when the principal's policies allow
// it and the resource's policy lets IAM decide (a KMS key policy naming the account) or allows
// it itself. The template is read as synthesized; intrinsic functions are resolved for a fixed
// account and region.

const (
	testAccount = "111122223333"
	testRegion  = "us-east-1"
)

// iamRequest is one request as IAM sees it.
type iamRequest struct {
	action, resource string
	context          map[string]string // condition keys present in the request
}

type decision string

const (
	allowed       decision = "allowed"
	implicitDeny  decision = "implicitly denied"
	explicitDeny  decision = "explicitly denied"
	notApplicable decision = "" // a statement that does not apply
)

// resolver resolves CloudFormation intrinsic functions in a synthesized template, for a stack in
// testAccount and region.
type resolver struct {
	resources map[string]any
	region    string
}

func newResolver(s *synthesized) resolver {
	region := testRegion
	if r := *s.svc.Stack.Region(); !strings.HasPrefix(r, "${Token") {
		region = r // a stack pinned to a region has it in its ARNs
	}
	return resolver{resources: s.json["Resources"].(map[string]any), region: region}
}

func (r resolver) resolve(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if ref, ok := v["Ref"].(string); ok {
			return r.ref(ref)
		}
		if att, ok := v["Fn::GetAtt"].([]any); ok && len(att) == 2 && att[1] == "Arn" {
			return r.arn(att[0].(string))
		}
		if join, ok := v["Fn::Join"].([]any); ok {
			var parts []string
			for _, p := range join[1].([]any) {
				parts = append(parts, r.resolve(p).(string))
			}
			return strings.Join(parts, join[0].(string))
		}
		out := map[string]any{}
		for k, x := range v {
			out[k] = r.resolve(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = r.resolve(x)
		}
		return out
	}
	return v
}

func (r resolver) ref(id string) string {
	switch id {
	case "AWS::Region":
		return r.region
	case "AWS::AccountId":
		return testAccount
	case "AWS::Partition":
		return "aws"
	case "AWS::URLSuffix":
		return "amazonaws.com"
	}
	res, _ := r.resources[id].(map[string]any)
	switch res["Type"] {
	case "AWS::SQS::Queue":
		return "https://sqs." + r.region + ".amazonaws.com/" + testAccount + "/" + id
	case "AWS::ApiGateway::Stage":
		return props(res)["StageName"].(string)
	}
	return id // a key id, an API id, a topic's or policy's ARN: the logical id stands for it
}

func (r resolver) arn(id string) string {
	res, _ := r.resources[id].(map[string]any)
	switch res["Type"] {
	case "AWS::SQS::Queue":
		return "arn:aws:sqs:" + r.region + ":" + testAccount + ":" + id
	case "AWS::KMS::Key":
		return "arn:aws:kms:" + r.region + ":" + testAccount + ":key/" + id
	case "AWS::IAM::Role":
		return "arn:aws:iam::" + testAccount + ":role/" + id
	}
	return "arn:aws:unknown:" + r.region + ":" + testAccount + ":" + id
}

// like matches IAM's wildcards (* and ?), case-sensitively unless fold.
func like(pattern, s string, fold bool) bool {
	if fold {
		pattern, s = strings.ToLower(pattern), strings.ToLower(s)
	}
	ok, err := path.Match(strings.ReplaceAll(pattern, "/", "\x00"), strings.ReplaceAll(s, "/", "\x00"))
	return err == nil && ok
}

func strs(v any) []string {
	var out []string
	for _, x := range asList(v) {
		switch x := x.(type) {
		case string:
			out = append(out, x)
		case bool:
			out = append(out, map[bool]string{true: "true", false: "false"}[x])
		}
	}
	return out
}

// conditionsHold evaluates a statement's Condition block (all operators and keys must hold).
// A multivalued context key (dynamodb:Attributes) holds its values comma-separated: with
// ForAllValues, every value must match (and an absent key holds); with ForAnyValue, one must.
func conditionsHold(cond map[string]any, ctx map[string]string) bool {
	for op, keys := range cond {
		set, op, _ := strings.Cut(op, ":")
		if op == "" {
			set, op = "", set
		}
		ifExists := strings.HasSuffix(op, "IfExists")
		op = strings.TrimSuffix(op, "IfExists")
		negated := strings.Contains(op, "Not")
		base := strings.Replace(op, "Not", "", 1)
		for key, want := range keys.(map[string]any) {
			got, present := ctx[key]
			if op == "Null" { // "false": the key must be present
				if strs(want)[0] == map[bool]string{true: "false", false: "true"}[present] {
					continue
				}
				return false
			}
			if !present {
				if ifExists || negated || set == "ForAllValues" {
					continue
				}
				return false
			}
			matches := func(got string) bool {
				for _, w := range strs(want) {
					switch base {
					case "StringEquals", "Bool":
						if w == got {
							return true
						}
					case "StringLike", "ArnLike", "ArnEquals":
						if like(w, got, false) {
							return true
						}
					default:
						panic("condition operator " + op + " is not implemented by the test evaluator")
					}
				}
				return false
			}
			var match bool
			switch set {
			case "ForAllValues":
				match = true
				for _, v := range strings.Split(got, ",") {
					match = match && matches(v)
				}
			case "ForAnyValue":
				for _, v := range strings.Split(got, ",") {
					match = match || matches(v)
				}
			default:
				match = matches(got)
			}
			if match == negated {
				return false
			}
		}
	}
	return true
}

// applies says whether a statement covers the request (action, resource, conditions).
func applies(st map[string]any, req iamRequest) bool {
	actionOK := false
	for _, a := range strs(st["Action"]) {
		actionOK = actionOK || like(a, req.action, true)
	}
	resourceOK := false
	for _, r := range strs(st["Resource"]) {
		resourceOK = resourceOK || like(r, req.resource, false)
	}
	cond, _ := st["Condition"].(map[string]any)
	return actionOK && resourceOK && conditionsHold(cond, req.context)
}

// principalMatches says whether a resource policy's statement names the requesting IAM
// principal: "*", its account's root (which delegates to IAM), or its ARN.
func principalMatches(st map[string]any, principalARN string) (matches, delegatesToIAM bool) {
	p, _ := st["Principal"].(map[string]any)
	for _, a := range strs(p["AWS"]) {
		switch a {
		case "*", principalARN:
			return true, false
		case "arn:aws:iam::" + testAccount + ":root":
			return true, true
		}
	}
	return false, false
}

// evaluate decides req for principalARN whose identity policies are identity, against the
// resource's policy (nil when it has none). keyPolicy says the resource policy is a KMS key
// policy, which must allow the request itself or delegate to IAM.
func evaluate(identity, resource []map[string]any, keyPolicy bool, principalARN string, req iamRequest) decision {
	req.context["aws:PrincipalArn"] = principalARN
	req.context["aws:PrincipalAccount"] = testAccount
	req.context["aws:PrincipalIsAWSService"] = "false"
	identityAllows, resourceAllows, delegated := false, false, false
	for _, st := range identity {
		if applies(st, req) {
			if st["Effect"] == "Deny" {
				return explicitDeny
			}
			identityAllows = true
		}
	}
	for _, st := range resource {
		matches, toIAM := principalMatches(st, principalARN)
		if !matches || !applies(st, req) {
			continue
		}
		if st["Effect"] == "Deny" {
			return explicitDeny
		}
		if toIAM {
			delegated = true
		} else {
			resourceAllows = true
		}
	}
	switch {
	case resourceAllows:
		return allowed
	case keyPolicy && !delegated:
		return implicitDeny // a key policy that does not name the account keeps IAM policies out
	case identityAllows:
		return allowed
	}
	return implicitDeny
}

// statements returns a policy document's statements, resolved.
func (r resolver) statements(doc any) []map[string]any {
	var out []map[string]any
	for _, st := range r.resolve(doc).(map[string]any)["Statement"].([]any) {
		out = append(out, st.(map[string]any))
	}
	return out
}

// Point 5: a producer's role with only the stack's ProducerPolicy attached can send events to the
// ingest queue — the SQS call and the KMS calls SQS makes for it on the encrypted queue — and
// nothing else: not another queue, not reading the queue, not the key directly or for another
// queue or service. Evaluated against the synthesized key and queue policies, denies included.
func TestTheProducerPolicyAllowsSendingEventsAndNothingElse(t *testing.T) {
	s := synth(t)
	r := newResolver(s)
	id := func(el awscdk.CfnElement) string { return idOf(s.svc.Stack, el) }
	producer := r.statements(props(r.resources[id(s.svc.Access.Producer.Node().DefaultChild().(awscdk.CfnElement))].(map[string]any))["PolicyDocument"])
	key := id(s.svc.Keys.Key.Node().DefaultChild().(awscdk.CfnElement))
	keyPolicy := r.statements(props(r.resources[key].(map[string]any))["KeyPolicy"])
	queuePolicy := map[string][]map[string]any{} // queue ARN -> its policy's statements
	for _, qp := range s.resources("AWS::SQS::QueuePolicy") {
		for _, q := range asList(props(qp)["Queues"]) {
			queueID := q.(map[string]any)["Ref"].(string)
			queuePolicy[r.arn(queueID)] = r.statements(props(qp)["PolicyDocument"])
		}
	}
	arnOf := func(el awscdk.CfnElement) string { return r.arn(id(el)) }
	p := s.svc.Pipeline
	ingest := arnOf(p.Ingest.Node().DefaultChild().(awscdk.CfnElement))
	keyARN := r.arn(key)
	const role = "arn:aws:iam::" + testAccount + ":role/event-producer"
	sqsVia := "sqs." + r.region + ".amazonaws.com"

	tests := []struct {
		name string
		req  iamRequest
		want decision
	}{
		{"send to the ingest queue", iamRequest{"sqs:SendMessage", ingest, map[string]string{"aws:SecureTransport": "true"}}, allowed},
		{"send without TLS", iamRequest{"sqs:SendMessage", ingest, map[string]string{"aws:SecureTransport": "false"}}, explicitDeny},
		{"SQS generates the message's data key", iamRequest{"kms:GenerateDataKey", keyARN, map[string]string{
			"kms:ViaService": sqsVia, "kms:EncryptionContext:aws:sqs:arn": ingest}}, allowed},
		{"SQS decrypts a reused data key", iamRequest{"kms:Decrypt", keyARN, map[string]string{
			"kms:ViaService": sqsVia, "kms:EncryptionContext:aws:sqs:arn": ingest}}, allowed},
		{"receive from the ingest queue", iamRequest{"sqs:ReceiveMessage", ingest, map[string]string{"aws:SecureTransport": "true"}}, implicitDeny},
		{"purge the ingest queue", iamRequest{"sqs:PurgeQueue", ingest, map[string]string{"aws:SecureTransport": "true"}}, implicitDeny},
		{"decrypt directly", iamRequest{"kms:Decrypt", keyARN, map[string]string{}}, explicitDeny},
		{"data keys through DynamoDB", iamRequest{"kms:GenerateDataKey", keyARN, map[string]string{
			"kms:ViaService": "dynamodb." + r.region + ".amazonaws.com"}}, implicitDeny},
		{"encrypt through SQS", iamRequest{"kms:Encrypt", keyARN, map[string]string{"kms:ViaService": sqsVia, "kms:EncryptionContext:aws:sqs:arn": ingest}}, implicitDeny},
		{"key pairs", iamRequest{"kms:GenerateDataKeyPair", keyARN, map[string]string{}}, explicitDeny},
	}
	for name, q := range map[string]awscdk.CfnElement{
		"ingest DLQ": p.IngestDLQ.Node().DefaultChild().(awscdk.CfnElement), "rejected queue": p.Rejected.Node().DefaultChild().(awscdk.CfnElement),
		"webhook queue": p.Webhook.Node().DefaultChild().(awscdk.CfnElement), "webhook DLQ": p.WebhookDLQ.Node().DefaultChild().(awscdk.CfnElement),
	} {
		other := arnOf(q)
		tests = append(tests,
			struct {
				name string
				req  iamRequest
				want decision
			}{"send to the " + name, iamRequest{"sqs:SendMessage", other, map[string]string{"aws:SecureTransport": "true"}}, implicitDeny},
			struct {
				name string
				req  iamRequest
				want decision
			}{"decrypt the " + name + "'s messages", iamRequest{"kms:Decrypt", keyARN, map[string]string{
				"kms:ViaService": sqsVia, "kms:EncryptionContext:aws:sqs:arn": other}}, implicitDeny},
		)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resource, isKey := queuePolicy[tt.req.resource], false
			if tt.req.resource == keyARN {
				resource, isKey = keyPolicy, true
			}
			if got := evaluate(producer, resource, isKey, role, tt.req); got != tt.want {
				t.Errorf("%s on %s: %s, want %s", tt.req.action, tt.req.resource, got, tt.want)
			}
		})
	}
}

// Point 4: an operators' role with only the OperatorPolicy may call every operator route of the
// stage and no customer route, and the API's resource policy agrees (an IAM principal of this
// account), also when the stack restricts operators to one role.
func TestTheOperatorPolicyAllowsTheOperatorRoutesOnly(t *testing.T) {
	for _, c := range []struct {
		name string
		s    *synthesized
		role string
	}{
		{"any role of the account", synth(t), "arn:aws:iam::" + testAccount + ":role/someone"},
		{"the configured operator role", configuredStack.get(t), "arn:aws:iam::" + testAccount + ":role/phiguard-operators"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := c.s
			r := newResolver(s)
			policy := r.statements(props(r.resources[idOf(s.svc.Stack, s.svc.Access.Operator.Node().DefaultChild().(awscdk.CfnElement))].(map[string]any))["PolicyDocument"])
			apiID := idOf(s.svc.Stack, s.svc.API.RestAPI.Node().DefaultChild().(awscdk.CfnElement))
			var resourcePolicy []map[string]any
			for _, st := range r.statements(props(r.resources[apiID].(map[string]any))["Policy"]) {
				// In a REST API's resource policy, execute-api:/… stands for this API's ARN.
				var resources []any
				for _, res := range strs(st["Resource"]) {
					resources = append(resources, strings.Replace(res, "execute-api:/", "arn:aws:execute-api:"+r.region+":"+testAccount+":"+apiID+"/", 1))
				}
				st["Resource"] = resources
				resourcePolicy = append(resourcePolicy, st)
			}
			invoke := func(method, route string) iamRequest {
				return iamRequest{"execute-api:Invoke", "arn:aws:execute-api:" + r.region + ":" + testAccount + ":" + apiID + "/" + apiStage + "/" + method + route,
					map[string]string{"aws:SecureTransport": "true"}}
			}
			for _, tt := range []struct {
				req  iamRequest
				want decision
			}{
				{invoke("POST", "/operator/workspaces"), allowed},
				{invoke("GET", "/operator/workspaces/ws_1"), allowed},
				{invoke("PUT", "/operator/workspaces/ws_1/plan"), allowed},
				{invoke("DELETE", "/operator/workspaces/ws_1"), implicitDeny},
			} {
				if got := evaluate(policy, resourcePolicy, false, c.role, tt.req); got != tt.want {
					t.Errorf("%s: %s, want %s", tt.req.resource, got, tt.want)
				}
			}
			// Customer routes are token-authorized (the resource policy lets anyone reach the
			// authorizer); the operator policy itself grants none of them.
			if got := evaluate(policy, nil, false, c.role, invoke("GET", "/workspaces/ws_1")); got != implicitDeny {
				t.Errorf("the operator policy grants a customer route: %s", got)
			}
			if c.name == "the configured operator role" {
				req := invoke("POST", "/operator/workspaces")
				// Another role with the same policy: the resource policy does not let it in.
				if got := evaluate(policy, resourcePolicy, false, "arn:aws:iam::"+testAccount+":role/someone-else", req); got == allowed {
					t.Error("a role other than the operator role may call the operator routes")
				}
			}
		})
	}
}

// The delivery function re-schedules and dead-letters copies (send to the webhook queue and its
// DLQ); the config function counts and replays dead letters (receive, release and delete on the
// DLQ, send to the webhook queue). Neither reaches further.
func TestTheDeliveryAndConfigRolesReachTheWebhookQueuesAsNeeded(t *testing.T) {
	s := synth(t)
	r := newResolver(s)
	id := func(el awscdk.CfnElement) string { return idOf(s.svc.Stack, el) }
	roleStatements := func(fn awslambda.Function) []map[string]any {
		roleID := id(fn.Role().Node().DefaultChild().(awscdk.CfnElement))
		var out []map[string]any
		for _, p := range s.resources("AWS::IAM::Policy") {
			if strings.Contains(toJSON(props(p)["Roles"]), `"`+roleID+`"`) {
				out = append(out, r.statements(props(p)["PolicyDocument"])...)
			}
		}
		return out
	}
	queuePolicy := map[string][]map[string]any{}
	for _, qp := range s.resources("AWS::SQS::QueuePolicy") {
		for _, q := range asList(props(qp)["Queues"]) {
			queuePolicy[r.arn(q.(map[string]any)["Ref"].(string))] = r.statements(props(qp)["PolicyDocument"])
		}
	}
	p := s.svc.Pipeline
	arnOf := func(q awssqs.Queue) string { return r.arn(id(q.Node().DefaultChild().(awscdk.CfnElement))) }
	webhook, dlq, ingest := arnOf(p.Webhook), arnOf(p.WebhookDLQ), arnOf(p.Ingest)
	table := r.arn(id(s.svc.Data.Table.Node().DefaultChild().(awscdk.CfnElement)))
	tls := map[string]string{"aws:SecureTransport": "true"}
	// An update naming these attributes (the item's key and what it sets).
	updating := func(attrs ...string) map[string]string {
		return map[string]string{"dynamodb:Attributes": strings.Join(attrs, ",")}
	}
	pk, sk := dynamo.Table.PartitionKey, dynamo.Table.SortKey
	type check struct {
		req  iamRequest
		want decision
	}
	// The config and console functions count and replay dead letters (Pipeline.GrantDeadLetters).
	deadLetters := []check{
		{iamRequest{"sqs:ReceiveMessage", dlq, tls}, allowed},
		{iamRequest{"sqs:ChangeMessageVisibility", dlq, tls}, allowed},
		{iamRequest{"sqs:DeleteMessage", dlq, tls}, allowed},
		{iamRequest{"sqs:SendMessage", webhook, tls}, allowed},
		{iamRequest{"sqs:ReceiveMessage", webhook, tls}, implicitDeny},
		{iamRequest{"sqs:DeleteMessage", webhook, tls}, implicitDeny},
		{iamRequest{"sqs:SendMessage", ingest, tls}, implicitDeny},
		{iamRequest{"sqs:PurgeQueue", dlq, tls}, implicitDeny},
	}
	for _, c := range []struct {
		name string
		fn   awslambda.Function
		reqs []check
	}{
		{"delivery", p.Delivery, []check{
			{iamRequest{"sqs:SendMessage", webhook, tls}, allowed},
			{iamRequest{"sqs:SendMessage", dlq, tls}, allowed},
			{iamRequest{"sqs:ReceiveMessage", dlq, tls}, implicitDeny},
			{iamRequest{"sqs:SendMessage", ingest, tls}, implicitDeny},
			{iamRequest{"sqs:PurgeQueue", dlq, tls}, implicitDeny},
			{iamRequest{"sqs:SendMessage", dlq, map[string]string{"aws:SecureTransport": "false"}}, explicitDeny},
			// It records a destination's delivery status, and can change nothing else.
			{iamRequest{"dynamodb:UpdateItem", table, updating(pk, sk, dynamo.AttrDelivery)}, allowed},
			{iamRequest{"dynamodb:UpdateItem", table, updating(pk, sk, dynamo.AttrDelivery, "enabled")}, implicitDeny},
			{iamRequest{"dynamodb:UpdateItem", table, updating(pk, sk, "webhookUrl")}, implicitDeny},
			{iamRequest{"dynamodb:UpdateItem", table, map[string]string{}}, implicitDeny},
			{iamRequest{"dynamodb:PutItem", table, updating(pk, sk, dynamo.AttrDelivery)}, implicitDeny},
			{iamRequest{"dynamodb:DeleteItem", table, updating(pk, sk)}, implicitDeny},
			{iamRequest{"dynamodb:GetItem", table, map[string]string{}}, allowed},
		}},
		{"config", s.svc.API.Functions[stack.FunctionConfig], deadLetters},
		{"console", s.svc.API.Functions[stack.FunctionConsole], deadLetters},
	} {
		identity := roleStatements(c.fn)
		for _, ck := range c.reqs {
			req, want := ck.req, ck.want
			if got := evaluate(identity, queuePolicy[req.resource], false, "arn:aws:iam::"+testAccount+":role/"+c.name, req); got != want {
				t.Errorf("%s: %s on %s: %s, want %s", c.name, req.action, req.resource, got, want)
			}
		}
	}
}
