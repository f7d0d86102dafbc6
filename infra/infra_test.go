package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/phiguard/phiguard/shared/catalog"
	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

// synthesized is the service stack, built the way `cdk synth` builds it (cdk.json's context, nag
// packs included) but with bundling off and placeholder binaries in a temporary directory.
type synthesized struct {
	svc      *Service
	template assertions.Template
	json     map[string]any // the template as plain JSON
}

// cdkContext returns the "context" of cdk.json, which the CLI passes to the app.
func cdkContext(t testing.TB) map[string]any {
	t.Helper()
	raw, err := os.ReadFile("../cdk.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Context map[string]any }
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("cdk.json: %v", err)
	}
	return doc.Context
}

// synthApp synthesizes the app with cdk.json's context, the CLI's asset metadata, bundling off,
// placeholder binaries in a temporary directory, and extra on top.
func synthApp(t testing.TB, extra map[string]any) (*synthesized, error) {
	dir, err := os.MkdirTemp("", "phiguard-infra-assets")
	if err != nil {
		return nil, err
	}
	ctx := cdkContext(t)
	ctx[contextAssetRoot] = dir
	ctx[contextPlaceholders] = true
	ctx["aws:cdk:enable-asset-metadata"] = true // what the CLI sets, and what SAM reads
	ctx["aws:cdk:bundling-stacks"] = []string{} // bundling off
	for k, v := range extra {
		ctx[k] = v
	}
	svc, err := newApp(awscdk.NewApp(&awscdk.AppProps{Context: &ctx}))
	if err != nil {
		return nil, err
	}
	tmpl := assertions.Template_FromStack(svc.Stack, nil)
	raw, err := json.Marshal(tmpl.ToJSON())
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	return &synthesized{svc: svc, template: tmpl, json: doc}, nil
}

// cached synthesizes once per test binary.
type cached struct {
	once  sync.Once
	s     *synthesized
	err   error
	extra map[string]any
}

func (c *cached) get(t *testing.T) *synthesized {
	t.Helper()
	c.once.Do(func() { c.s, c.err = synthApp(t, c.extra) })
	if c.err != nil {
		t.Fatalf("synthesize the stack: %v", c.err)
	}
	return c.s
}

var (
	// defaultStack is what `make synth` and `make deploy` build without settings.
	defaultStack = &cached{}
	// configuredStack is a second stage with every setting given.
	configuredStack = &cached{extra: map[string]any{
		contextStage: "blue", contextAccount: "111122223333", contextRegion: "eu-west-1",
		contextOperatorRole: "arn:aws:iam::111122223333:role/phiguard-operators",
		contextAlarmEmail:   "oncall@example.com, security@example.com",
	}}
)

func synth(t *testing.T) *synthesized { return defaultStack.get(t) }

// resources returns the template's resources of one type, by logical id.
func (s *synthesized) resources(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range s.json["Resources"].(map[string]any) {
		res := r.(map[string]any)
		if res["Type"] == typ {
			out[id] = res
		}
	}
	return out
}

func props(r map[string]any) map[string]any {
	p, _ := r["Properties"].(map[string]any)
	return p
}

func idOf(st awscdk.Stack, el awscdk.CfnElement) string { return *st.GetLogicalId(el) }

func roleID(s *synthesized, role awsiam.IRole) string {
	return idOf(s.svc.Stack, role.Node().DefaultChild().(awscdk.CfnElement))
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

func TestTableIsOnDemandRecoverableProtectedAndEncryptedWithTheServiceKey(t *testing.T) {
	s := synth(t)
	s.template.ResourceCountIs(jsii.String("AWS::DynamoDB::Table"), jsii.Number(1))
	s.template.HasResource(jsii.String("AWS::DynamoDB::Table"), map[string]any{
		"DeletionPolicy": "Retain",
		"Properties": assertions.Match_ObjectLike(&map[string]any{
			"BillingMode": "PAY_PER_REQUEST",
			"KeySchema": []any{
				map[string]any{"AttributeName": dynamo.Table.PartitionKey, "KeyType": "HASH"},
				map[string]any{"AttributeName": dynamo.Table.SortKey, "KeyType": "RANGE"},
			},
			"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true, "RecoveryPeriodInDays": 35},
			"DeletionProtectionEnabled":        true,
			"SSESpecification": map[string]any{
				"SSEEnabled": true, "SSEType": "KMS",
				"KMSMasterKeyId": map[string]any{"Fn::GetAtt": []any{idOf(s.svc.Stack, s.svc.Keys.Key.Node().DefaultChild().(awscdk.CfnElement)), "Arn"}},
			},
			"TimeToLiveSpecification": map[string]any{"AttributeName": dynamo.Table.TTLAttribute, "Enabled": true},
		}),
	})
	// Audit records must outlive six years: their TTL is dynamo.AuditRetention, and the monthly
	// backup keeps seven.
	if sixYears := 6 * 365 * 24 * time.Hour; dynamo.AuditRetention < sixYears {
		t.Errorf("audit records expire after %v, less than HIPAA's six years", dynamo.AuditRetention)
	}
	s.template.HasResourceProperties(jsii.String("AWS::Backup::BackupPlan"), map[string]any{
		"BackupPlan": assertions.Match_ObjectLike(&map[string]any{
			"BackupPlanRule": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
				"RuleName": "Monthly", "Lifecycle": map[string]any{"DeleteAfterDays": 7*365 + 2},
			})}),
		}),
	})
}

func TestKeyRotatesAndOnlyKeygenGeneratesAndOnlyHashingDecryptsDirectly(t *testing.T) {
	s := synth(t)
	keys := s.resources("AWS::KMS::Key")
	delete(keys, idOf(s.svc.Stack, s.svc.Keys.Audit.Node().DefaultChild().(awscdk.CfnElement))) // TestAuditSigningKey
	if len(keys) != 1 {
		t.Fatalf("want one symmetric KMS key beside the audit signing key, got %d", len(keys))
	}
	var policy map[string]any
	for _, k := range keys {
		if props(k)["EnableKeyRotation"] != true {
			t.Errorf("key rotation is not enabled: %s", toJSON(props(k)))
		}
		policy = props(k)["KeyPolicy"].(map[string]any)
	}
	keygen := roleID(s, s.svc.API.Functions[stack.FunctionKeygen].Role())
	// The console generates key pairs through the same keygen.Service as the keygen function.
	console := roleID(s, s.svc.API.Functions[stack.FunctionConsole].Role())
	hashing := roleID(s, s.svc.Pipeline.Hashing.Role())
	// The config function generates webhook signing secrets (data keys), the delivery function
	// decrypts them.
	config := roleID(s, s.svc.API.Functions[stack.FunctionConfig].Role())
	delivery := roleID(s, s.svc.Pipeline.Delivery.Role())
	exempt := map[string][]string{ // deny statement -> the only roles exempt from it
		"DenyKeyPairsExceptKeygen":       {keygen, console},
		"DenyDirectDataKeysExceptKeygen": {keygen, console, config},
		"DenyDirectDecryptExceptHashing": {hashing, delivery},
	}
	found := map[string]bool{}
	for _, st := range policy["Statement"].([]any) {
		st := st.(map[string]any)
		sid, _ := st["Sid"].(string)
		role, ok := exempt[sid]
		if !ok {
			continue
		}
		found[sid] = true
		if st["Effect"] != "Deny" || toJSON(st["Principal"]) != `{"AWS":"*"}` {
			t.Errorf("%s must deny every principal: %s", sid, toJSON(st))
		}
		var arns []string
		for _, r := range role {
			arns = append(arns, `{"Fn::GetAtt":["`+r+`","Arn"]}`)
		}
		want := `{"aws:PrincipalArn":[` + strings.Join(arns, ",") + `]}`
		if got := toJSON(st["Condition"].(map[string]any)["ArnNotEquals"]); got != want {
			t.Errorf("%s exempts %s, want only %s", sid, got, want)
		}
	}
	for sid := range exempt {
		if !found[sid] {
			t.Errorf("key policy has no %s statement", sid)
		}
	}
	hmacPurpose := (&phi.Key{}).HMACEncryptionContext()["phiguard:purpose"]
	signingPurpose := phi.SigningEncryptionContext("ws", "dst")["phiguard:purpose"]
	if hmacPurpose == "" || signingPurpose == "" {
		t.Fatal("phi.Key.HMACEncryptionContext or phi.SigningEncryptionContext has no phiguard:purpose entry for the key policy to pin")
	}
	// Which purposes each direct use is pinned to: every direct Decrypt to the two, the hashing
	// role's to HMAC keys, the delivery role's to signing secrets, the config role's data keys
	// to signing secrets.
	arn := func(r string) string { return `{"aws:PrincipalArn":[{"Fn::GetAtt":["` + r + `","Arn"]}]}` }
	purpose := func(p ...string) string {
		if len(p) == 1 {
			return `{"kms:EncryptionContext:phiguard:purpose":"` + p[0] + `"}`
		}
		return `{"kms:EncryptionContext:phiguard:purpose":["` + strings.Join(p, `","`) + `"]}`
	}
	pinned := map[string]struct{ principal, purposes string }{
		"DenyDirectDecryptExceptHMACKeys":         {"null", purpose(hmacPurpose, signingPurpose)},
		"DenyHashingDecryptExceptHMACKeys":        {arn(hashing), purpose(hmacPurpose)},
		"DenyDeliveryDecryptExceptSigningSecrets": {arn(delivery), purpose(signingPurpose)},
		"DenySignersDataKeysExceptSigningSecrets": {arn(config), purpose(signingPurpose)},
	}
	for _, st := range policy["Statement"].([]any) {
		st := st.(map[string]any)
		sid, _ := st["Sid"].(string)
		want, ok := pinned[sid]
		if !ok {
			continue
		}
		delete(pinned, sid)
		cond := st["Condition"].(map[string]any)
		if st["Effect"] != "Deny" || toJSON(cond["ArnEquals"]) != want.principal || toJSON(cond["StringNotEquals"]) != want.purposes {
			t.Errorf("%s does not pin %s to %s: %s", sid, want.principal, want.purposes, toJSON(st))
		}
	}
	for sid := range pinned {
		t.Errorf("key policy has no %s statement", sid)
	}

	// In IAM, only keygen and the console are granted key pairs, random bytes and unconditioned
	// data keys.
	for id, p := range s.resources("AWS::IAM::Policy") {
		isKeygen := slices.ContainsFunc(asList(props(p)["Roles"]), func(r any) bool {
			return toJSON(r) == `{"Ref":"`+keygen+`"}` || toJSON(r) == `{"Ref":"`+console+`"}`
		})
		for _, st := range props(p)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			st := st.(map[string]any)
			for _, a := range asList(st["Action"]) {
				direct := st["Condition"] == nil
				generates := a == "kms:GenerateDataKeyPair" || a == "kms:GenerateRandom" || (direct && strings.HasPrefix(a.(string), "kms:GenerateDataKey"))
				if generates && !isKeygen {
					t.Errorf("policy %s grants %v outside the keygen function", id, a)
				}
			}
		}
	}
}

// The hashing function may decrypt HMAC keys directly, the delivery function webhook signing
// secrets, and nothing else may decrypt directly at all.
func TestOnlyHashingAndDeliveryMayDecryptDirectlyAndOnlyTheirKeys(t *testing.T) {
	s := synth(t)
	hashing := roleID(s, s.svc.Pipeline.Hashing.Role())
	delivery := roleID(s, s.svc.Pipeline.Delivery.Role())
	wantPurpose := `{"StringEquals":{"kms:EncryptionContext:phiguard:purpose":"` + (&phi.Key{}).HMACEncryptionContext()["phiguard:purpose"] + `"}}`
	signingPurpose := `{"StringEquals":{"kms:EncryptionContext:phiguard:purpose":"` + phi.SigningSecretPurpose + `"}}`
	hmacGrant, signingGrant := false, false
	for id, p := range s.resources("AWS::IAM::Policy") {
		isHashing := slices.ContainsFunc(asList(props(p)["Roles"]), func(r any) bool { return toJSON(r) == `{"Ref":"`+hashing+`"}` })
		isDelivery := slices.ContainsFunc(asList(props(p)["Roles"]), func(r any) bool { return toJSON(r) == `{"Ref":"`+delivery+`"}` })
		for _, st := range props(p)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			st := st.(map[string]any)
			decrypts := slices.ContainsFunc(asList(st["Action"]), func(a any) bool { return a == "kms:Decrypt" || a == "kms:*" })
			if !decrypts || st["Effect"] != "Allow" {
				continue
			}
			cond := toJSON(st["Condition"])
			switch {
			case strings.Contains(cond, `"kms:ViaService"`):
				// through DynamoDB, SQS or SNS on the caller's behalf
			case isHashing && cond == wantPurpose:
				hmacGrant = true
			case isDelivery && cond == signingPurpose:
				signingGrant = true
			default:
				t.Errorf("policy %s grants a direct kms:Decrypt beyond the hashing function's HMAC keys and the delivery function's signing secrets: %s", id, toJSON(st))
			}
		}
	}
	if !hmacGrant || !signingGrant {
		t.Errorf("the hashing function can decrypt HMAC keys: %v; the delivery function signing secrets: %v; want both", hmacGrant, signingGrant)
	}
}

func TestQueuesAreEncryptedTLSOnlyAndRedriveToDLQs(t *testing.T) {
	s := synth(t)
	key := idOf(s.svc.Stack, s.svc.Keys.Key.Node().DefaultChild().(awscdk.CfnElement))
	queues := s.resources("AWS::SQS::Queue")
	if len(queues) != 6 {
		t.Errorf("want 6 queues (ingest, ingest DLQ, rejected, webhook, webhook DLQ, webhook subscription DLQ), got %d", len(queues))
	}
	for id, q := range queues {
		if got := toJSON(props(q)["KmsMasterKeyId"]); got != `{"Fn::GetAtt":["`+key+`","Arn"]}` {
			t.Errorf("queue %s is not encrypted with the service key: %s", id, got)
		}
	}
	tlsOnly := map[string]bool{}
	for _, p := range s.resources("AWS::SQS::QueuePolicy") {
		doc := toJSON(props(p)["PolicyDocument"])
		if strings.Contains(doc, `"Effect":"Deny"`) && strings.Contains(doc, `"aws:SecureTransport":"false"`) {
			for _, q := range asList(props(p)["Queues"]) {
				tlsOnly[toJSON(q)] = true
			}
		}
	}
	for id := range queues {
		if !tlsOnly[`{"Ref":"`+id+`"}`] {
			t.Errorf("queue %s does not deny non-TLS requests", id)
		}
	}
	redrive := func(q, dlq awssqs.Queue, max int) {
		t.Helper()
		r := props(queues[idOf(s.svc.Stack, q.Node().DefaultChild().(awscdk.CfnElement))])["RedrivePolicy"]
		want := `{"deadLetterTargetArn":{"Fn::GetAtt":["` + idOf(s.svc.Stack, dlq.Node().DefaultChild().(awscdk.CfnElement)) +
			`","Arn"]},"maxReceiveCount":` + jsonNumber(max) + `}`
		if got := toJSON(r); got != want {
			t.Errorf("redrive policy %s, want %s", got, want)
		}
	}
	redrive(s.svc.Pipeline.Ingest, s.svc.Pipeline.IngestDLQ, stack.IngestMaxReceiveCount)
	redrive(s.svc.Pipeline.Webhook, s.svc.Pipeline.WebhookDLQ, stack.DeliveryMaxReceiveCount)

	// What SNS cannot deliver to the webhook queue goes to the subscription's own DLQ, which
	// SNS may write to from the topic only.
	subDLQ := idOf(s.svc.Stack, s.svc.Pipeline.WebhookSubscriptionDLQ.Node().DefaultChild().(awscdk.CfnElement))
	s.template.HasResourceProperties(jsii.String("AWS::SNS::Subscription"), map[string]any{
		"Protocol":      "sqs",
		"RedrivePolicy": map[string]any{"deadLetterTargetArn": map[string]any{"Fn::GetAtt": []any{subDLQ, "Arn"}}},
	})
	allowed := false
	for _, p := range s.resources("AWS::SQS::QueuePolicy") {
		doc := toJSON(props(p)["PolicyDocument"])
		if strings.Contains(toJSON(props(p)["Queues"]), subDLQ) && strings.Contains(doc, `"Service":"sns.amazonaws.com"`) && strings.Contains(doc, `"aws:SourceArn"`) {
			allowed = true
		}
	}
	if !allowed {
		t.Error("SNS may not send to the subscription's DLQ (from the topic alone)")
	}
}

func jsonNumber(n int) string { return toJSON(n) }

func TestEventSourcesReportPartialBatchFailuresWithTheSharedBatching(t *testing.T) {
	s := synth(t)
	s.template.HasResourceProperties(jsii.String("AWS::Lambda::EventSourceMapping"), map[string]any{
		"FunctionName":                   map[string]any{"Ref": idOf(s.svc.Stack, s.svc.Pipeline.Hashing.Node().DefaultChild().(awscdk.CfnElement))},
		"BatchSize":                      stack.IngestBatchSize,
		"MaximumBatchingWindowInSeconds": stack.IngestBatchWindowSecond,
		"FunctionResponseTypes":          []any{"ReportBatchItemFailures"},
		"ScalingConfig":                  map[string]any{"MaximumConcurrency": stack.HashingMaxConcurrency},
	})
	s.template.HasResourceProperties(jsii.String("AWS::Lambda::EventSourceMapping"), map[string]any{
		"FunctionName":          map[string]any{"Ref": idOf(s.svc.Stack, s.svc.Pipeline.Delivery.Node().DefaultChild().(awscdk.CfnElement))},
		"BatchSize":             stack.DeliveryBatchSize,
		"FunctionResponseTypes": []any{"ReportBatchItemFailures"},
	})
}

func TestTopicIsEncryptedAndTheWebhookQueueSubscribesWithAFilter(t *testing.T) {
	s := synth(t)
	for id, topic := range s.resources("AWS::SNS::Topic") {
		if props(topic)["KmsMasterKeyId"] == nil {
			t.Errorf("topic %s is not encrypted with KMS", id)
		}
	}
	s.template.HasResourceProperties(jsii.String("AWS::SNS::Subscription"), map[string]any{
		"Protocol":           "sqs",
		"RawMessageDelivery": true,
		"FilterPolicy":       map[string]any{stack.AttrDestinationType: deliveryTypes()},
	})
}

func TestAPILogsAccessAsJSONTracesAndNeverLogsBodies(t *testing.T) {
	s := synth(t)
	stages := s.resources("AWS::ApiGateway::Stage")
	if len(stages) != 1 {
		t.Fatalf("want one stage, got %d", len(stages))
	}
	for _, st := range stages {
		p := props(st)
		if p["TracingEnabled"] != true {
			t.Error("X-Ray tracing is off")
		}
		access, _ := p["AccessLogSetting"].(map[string]any)
		var format map[string]any
		if err := json.Unmarshal([]byte(access["Format"].(string)), &format); err != nil || access["DestinationArn"] == nil {
			t.Errorf("access logs are not JSON to a log group: %s (%v)", toJSON(access), err)
		}
		settings := asList(p["MethodSettings"])
		if len(settings) == 0 {
			t.Fatal("no method settings: execution logging and throttling are off")
		}
		for _, m := range settings {
			m := m.(map[string]any)
			if m["DataTraceEnabled"] != false {
				t.Errorf("data trace must be off (keygen responses carry private keys): %s", toJSON(m))
			}
			if m["LoggingLevel"] != "INFO" || m["ThrottlingRateLimit"] == nil || m["ThrottlingBurstLimit"] == nil {
				t.Errorf("execution logging or throttling missing: %s", toJSON(m))
			}
		}
	}
	for id, lg := range s.resources("AWS::Logs::LogGroup") {
		if props(lg)["RetentionInDays"] == nil || props(lg)["KmsKeyId"] == nil {
			t.Errorf("log group %s lacks retention or encryption: %s", id, toJSON(props(lg)))
		}
	}
	// The request size limit is enforced by the web ACL attached to the stage.
	s.template.HasResourceProperties(jsii.String("AWS::WAFv2::WebACL"), map[string]any{
		"Rules": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
			"Name": "BodyTooLarge",
			"Statement": map[string]any{"SizeConstraintStatement": assertions.Match_ObjectLike(&map[string]any{
				"ComparisonOperator": "GT", "Size": stack.MaxRequestBodyBytes,
			})},
		})}),
	})
	// WAF inspects the first KB_64 of a body and counts a longer one as too large (the rule
	// matches it), so a limit above 64 KB would still block at 64 KB.
	s.template.HasResourceProperties(jsii.String("AWS::WAFv2::WebACL"), map[string]any{
		"AssociationConfig": assertions.Match_ObjectLike(&map[string]any{"RequestBody": map[string]any{
			"API_GATEWAY": map[string]any{"DefaultSizeInspectionLimit": "KB_64"},
		}}),
	})
	if stack.MaxRequestBodyBytes > 64<<10 {
		t.Errorf("stack.MaxRequestBodyBytes is %d, more than the 64 KB the web ACL inspects", stack.MaxRequestBodyBytes)
	}
	s.template.ResourceCountIs(jsii.String("AWS::WAFv2::WebACLAssociation"), jsii.Number(1))
	s.template.HasResourceProperties(jsii.String("AWS::WAFv2::LoggingConfiguration"), map[string]any{
		"RedactedFields": []any{map[string]any{"SingleHeader": map[string]any{"Name": "authorization"}}},
	})
}

func TestEveryRouteExistsWithItsAuthorization(t *testing.T) {
	s := synth(t)
	restAPI := idOf(s.svc.Stack, s.svc.API.RestAPI.Node().DefaultChild().(awscdk.CfnElement))
	paths := map[string]string{} // resource logical id -> full path
	resources := s.resources("AWS::ApiGateway::Resource")
	var resolve func(id string) string
	resolve = func(id string) string {
		if p, ok := paths[id]; ok {
			return p
		}
		r := props(resources[id])
		parent := toJSON(r["ParentId"])
		prefix := ""
		if parent != `{"Fn::GetAtt":["`+restAPI+`","RootResourceId"]}` {
			var ref map[string]string
			_ = json.Unmarshal([]byte(parent), &ref)
			prefix = resolve(ref["Ref"])
		}
		paths[id] = prefix + "/" + r["PathPart"].(string)
		return paths[id]
	}
	methods := map[string]map[string]any{} // "GET /path" -> properties
	for _, m := range s.resources("AWS::ApiGateway::Method") {
		p := props(m)
		var ref map[string]string
		_ = json.Unmarshal([]byte(toJSON(p["ResourceId"])), &ref)
		methods[p["HttpMethod"].(string)+" "+resolve(ref["Ref"])] = p
	}
	routes := slices.Concat(stack.Routes, stack.ConsoleRoutes)
	if len(methods) != len(routes) {
		t.Errorf("the API has %d methods, stack.Routes and stack.ConsoleRoutes have %d routes", len(methods), len(routes))
	}
	wantAuth := map[stack.Auth]string{stack.AuthOperator: "AWS_IAM", stack.AuthToken: "CUSTOM", stack.AuthSession: "NONE"}
	for _, r := range routes {
		name := r.Method + " " + r.Path
		t.Run(name, func(t *testing.T) {
			p, ok := methods[name]
			if !ok {
				t.Fatal("route missing from the API")
			}
			if p["AuthorizationType"] != wantAuth[r.Auth] {
				t.Errorf("authorization %v, want %s", p["AuthorizationType"], wantAuth[r.Auth])
			}
			fn := idOf(s.svc.Stack, s.svc.API.Functions[r.Function].Node().DefaultChild().(awscdk.CfnElement))
			if !strings.Contains(toJSON(p["Integration"]), `"`+fn+`"`) {
				t.Errorf("integrated with %s, want function %s", toJSON(p["Integration"]), r.Function)
			}
			if p["RequestValidatorId"] == nil {
				t.Error("no request validator")
			}
		})
	}
}

func TestResourcePolicyDeniesPlainHTTPAndKeepsOperatorRoutesToThisAccount(t *testing.T) {
	s := synth(t)
	for _, api := range s.resources("AWS::ApiGateway::RestApi") {
		doc := props(api)["Policy"].(map[string]any)
		var denied, operatorPublic bool
		for _, st := range doc["Statement"].([]any) {
			st := st.(map[string]any)
			if st["Effect"] == "Deny" && toJSON(st["Condition"]) == `{"Bool":{"aws:SecureTransport":"false"}}` {
				denied = true
			}
			if st["Effect"] == "Allow" && toJSON(st["Principal"]) == `{"AWS":"*"}` && strings.Contains(toJSON(st["Resource"]), "/operator") {
				operatorPublic = true
			}
		}
		if !denied {
			t.Error("no statement denies aws:SecureTransport false")
		}
		if operatorPublic {
			t.Error("operator routes are allowed to any principal in the resource policy")
		}
	}
}

func TestFunctionsAreArmProvidedAL2023TracedWithJSONLogsAndResourceNames(t *testing.T) {
	s := synth(t)
	fns := s.resources("AWS::Lambda::Function")
	if len(fns) != len(stack.Functions) {
		t.Errorf("want %d functions (stack.Functions), got %d", len(stack.Functions), len(fns))
	}
	for id, f := range fns {
		p := props(f)
		if p["Runtime"] != "provided.al2023" || toJSON(p["Architectures"]) != `["arm64"]` || p["Handler"] != "bootstrap" {
			t.Errorf("%s: runtime %v, architectures %v, handler %v", id, p["Runtime"], p["Architectures"], p["Handler"])
		}
		if toJSON(p["TracingConfig"]) != `{"Mode":"Active"}` {
			t.Errorf("%s: tracing %v", id, p["TracingConfig"])
		}
		logging, _ := p["LoggingConfig"].(map[string]any)
		if logging["LogFormat"] != "JSON" || logging["LogGroup"] == nil {
			t.Errorf("%s: logging %s", id, toJSON(logging))
		}
		meta, _ := f["Metadata"].(map[string]any)
		if path, _ := meta["aws:asset:path"].(string); !strings.HasPrefix(path, "asset.") || meta["aws:asset:property"] != "Code" {
			t.Errorf("%s: SAM needs aws:asset:path metadata, got %s", id, toJSON(meta))
		}
		if p["MemorySize"] == nil || p["Timeout"] == nil {
			t.Errorf("%s: memory and timeout must be chosen per function", id)
		}
		vars, _ := p["Environment"].(map[string]any)["Variables"].(map[string]any)
		for name := range vars {
			if strings.HasPrefix(name, "AWS_ENDPOINT_URL") {
				t.Errorf("%s: the deployable template sets %s; endpoints are for local emulators only", id, name)
			}
		}
	}
	envOf := func(fnID string) map[string]any {
		env, _ := props(fns[fnID])["Environment"].(map[string]any)
		vars, _ := env["Variables"].(map[string]any)
		return vars
	}
	hashing := envOf(idOf(s.svc.Stack, s.svc.Pipeline.Hashing.Node().DefaultChild().(awscdk.CfnElement)))
	for _, name := range []string{stack.EnvTable, stack.EnvKMSKeyID, stack.EnvTopicARN, stack.EnvRejectedQueueURL} {
		v, ok := hashing[name]
		if !ok {
			t.Errorf("hashing lacks %s", name)
		}
		if _, literal := v.(string); literal {
			t.Errorf("hashing's %s is a hard-coded name %v, want a reference to the resource", name, v)
		}
	}
	for name, fn := range s.svc.API.Functions {
		env := envOf(idOf(s.svc.Stack, fn.Node().DefaultChild().(awscdk.CfnElement)))
		if _, ok := env[stack.EnvTable]; !ok {
			t.Errorf("%s lacks %s", name, stack.EnvTable)
		}
		// Only keygen, the console and config (signing secrets) call KMS directly; the others
		// get no name of a key they cannot use.
		if _, ok := env[stack.EnvKMSKeyID]; ok != (name == stack.FunctionKeygen || name == stack.FunctionConsole || name == stack.FunctionConfig) {
			t.Errorf("%s: %s set = %v, want it only on %s, %s and %s", name, stack.EnvKMSKeyID, ok, stack.FunctionKeygen, stack.FunctionConsole, stack.FunctionConfig)
		}
	}
	delivery := envOf(idOf(s.svc.Stack, s.svc.Pipeline.Delivery.Node().DefaultChild().(awscdk.CfnElement)))
	for _, env := range []map[string]any{delivery, envOf(idOf(s.svc.Stack, s.svc.API.Functions[stack.FunctionConfig].Node().DefaultChild().(awscdk.CfnElement)))} {
		if v, ok := env[stack.EnvLocalWebhookTargets]; !ok || v != "" {
			t.Errorf("%s = %v (declared %v); deployed functions must be declared with no local webhook targets, refusing non-HTTPS and loopback webhooks", stack.EnvLocalWebhookTargets, v, ok)
		}
	}
	if _, ok := delivery[stack.EnvTable]; !ok {
		t.Errorf("delivery lacks %s: it reads each copy's destination for its webhook URL", stack.EnvTable)
	}
	// The delivery function re-schedules and dead-letters copies itself, and the config function
	// and the console count and replay dead letters: they name the two queues, by reference.
	webhookQueue := `{"Ref":"` + idOf(s.svc.Stack, s.svc.Pipeline.Webhook.Node().DefaultChild().(awscdk.CfnElement)) + `"}`
	webhookDLQ := `{"Ref":"` + idOf(s.svc.Stack, s.svc.Pipeline.WebhookDLQ.Node().DefaultChild().(awscdk.CfnElement)) + `"}`
	for name, env := range map[string]map[string]any{"delivery": delivery,
		"config":  envOf(idOf(s.svc.Stack, s.svc.API.Functions[stack.FunctionConfig].Node().DefaultChild().(awscdk.CfnElement))),
		"console": envOf(idOf(s.svc.Stack, s.svc.API.Functions[stack.FunctionConsole].Node().DefaultChild().(awscdk.CfnElement)))} {
		if q, dlq := toJSON(env[stack.EnvDeliveryQueueURL]), toJSON(env[stack.EnvDeliveryDLQURL]); q != webhookQueue || dlq != webhookDLQ {
			t.Errorf("%s: %s = %s, %s = %s; want the webhook queue %s and its DLQ %s", name, stack.EnvDeliveryQueueURL, q, stack.EnvDeliveryDLQURL, dlq, webhookQueue, webhookDLQ)
		}
	}
}

// Signing secrets are read from the table and decrypted at run time, per destination: no
// function's environment holds a secret or a dynamic reference that CloudFormation would
// resolve into it, and the stack has no Secrets Manager secret (nor any grant to read one).
func TestNoFunctionEnvironmentHoldsASecret(t *testing.T) {
	s := synth(t)
	for id, f := range s.resources("AWS::Lambda::Function") {
		vars, _ := props(f)["Environment"].(map[string]any)["Variables"].(map[string]any)
		for name := range vars {
			// The names of the shared signing key this replaced, and anything named a secret.
			if name == "PHI_WEBHOOK_SIGNING_KEY" || name == "PHI_WEBHOOK_SIGNING_KEY_SECRET_ARN" || strings.Contains(name, "SECRET") {
				t.Errorf("%s declares %s in the deployable template", id, name)
			}
		}
		if v := toJSON(vars); strings.Contains(v, "{{resolve:") {
			t.Errorf("%s resolves a dynamic reference into its environment (GetFunctionConfiguration shows it): %s", id, v)
		}
	}
	if n := len(s.resources("AWS::SecretsManager::Secret")); n != 0 {
		t.Errorf("the stack has %d Secrets Manager secrets, want none: each destination has its own signing secret in the table", n)
	}
	for id, p := range s.resources("AWS::IAM::Policy") {
		for _, st := range props(p)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			if a := toJSON(st.(map[string]any)["Action"]); strings.Contains(a, "secretsmanager:") {
				t.Errorf("policy %s grants %s; nothing reads Secrets Manager", id, a)
			}
		}
	}
}

func TestNoPolicyAllowsEveryActionOnEveryResourceOrUsesFullAccess(t *testing.T) {
	s := synth(t)
	var docs []any
	for _, p := range s.resources("AWS::IAM::Policy") {
		docs = append(docs, props(p)["PolicyDocument"])
	}
	for id, r := range s.resources("AWS::IAM::Role") {
		for _, p := range asList(props(r)["Policies"]) {
			if p != nil {
				docs = append(docs, p.(map[string]any)["PolicyDocument"])
			}
		}
		if m := toJSON(props(r)["ManagedPolicyArns"]); strings.Contains(m, "FullAccess") || strings.Contains(m, "AdministratorAccess") {
			t.Errorf("role %s uses a broad managed policy: %s", id, m)
		}
	}
	if len(docs) == 0 {
		t.Fatal("no policies found")
	}
	for _, d := range docs {
		for _, st := range d.(map[string]any)["Statement"].([]any) {
			st := st.(map[string]any)
			if st["Effect"] != "Allow" {
				continue
			}
			anyAction := slices.ContainsFunc(asList(st["Action"]), func(a any) bool { return a == "*" || strings.HasSuffix(a.(string), ":*") })
			anyResource := slices.Contains(asList(st["Resource"]), any("*"))
			if anyAction && anyResource {
				t.Errorf("statement allows every action on every resource: %s", toJSON(st))
			}
			if anyResource {
				for _, a := range asList(st["Action"]) {
					if !slices.Contains([]string{"xray:PutTraceSegments", "xray:PutTelemetryRecords", "kms:GenerateRandom"}, a.(string)) {
						t.Errorf("%v on Resource \"*\" is not one of the actions AWS requires it for", a)
					}
				}
			}
		}
	}
}

func TestAlarmsAndOutputs(t *testing.T) {
	s := synth(t)
	// Depth and expiry of the four parking queues, two backlog ages, errors and throttles per
	// function, API 5xx, degraded hashing, dead letters by destination.
	s.template.ResourceCountIs(jsii.String("AWS::CloudWatch::Alarm"), jsii.Number(4*2+2+2*len(stack.Functions)+1+1+1))
	// The destination with the most dead-lettered copies, from a Contributor Insights rule over
	// the delivery function's own log group that sums CopiesDeadLettered by DestinationId.
	rules := s.resources("AWS::CloudWatch::InsightRule")
	if len(rules) != 1 {
		t.Fatalf("%d insight rules, want 1", len(rules))
	}
	r := newResolver(s)
	for _, rule := range rules {
		var body struct {
			LogGroupNames []string
			LogFormat     string
			Contribution  struct {
				Keys    []string
				ValueOf string
				Filters []map[string]any
			}
			AggregateOn string
		}
		if err := json.Unmarshal([]byte(r.resolve(props(rule)["RuleBody"]).(string)), &body); err != nil {
			t.Fatalf("rule body: %v", err)
		}
		logs := idOf(s.svc.Stack, s.svc.Pipeline.Delivery.LogGroup().Node().DefaultChild().(awscdk.CfnElement))
		if !slices.Equal(body.LogGroupNames, []string{logs}) || body.LogFormat != "JSON" || body.AggregateOn != "Sum" ||
			!slices.Equal(body.Contribution.Keys, []string{"$.DestinationId"}) || body.Contribution.ValueOf != "$.CopiesDeadLettered" {
			t.Errorf("insight rule %+v, want the sum of CopiesDeadLettered by DestinationId in %s", body, logs)
		}
		s.template.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{
			"Metrics": []any{map[string]any{
				"Expression": "INSIGHT_RULE_METRIC('" + props(rule)["RuleName"].(string) + "', 'MaxContributorValue')",
				"Id":         assertions.Match_AnyValue(), "Label": assertions.Match_AnyValue(), "Period": 300,
			}},
			"Threshold": 1, "AlarmActions": assertions.Match_AnyValue(),
		})
	}
	s.template.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{
		"Namespace": "phiguard/pipeline", "MetricName": "CopiesDegraded", "Statistic": "Sum", "Threshold": 1,
		"Dimensions":   []any{map[string]any{"Name": "Function", "Value": "hashing"}},
		"AlarmActions": assertions.Match_AnyValue(),
	})
	for _, metric := range []string{"ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage", "Errors", "Throttles", "5XXError"} {
		s.template.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{
			"MetricName":   metric,
			"AlarmActions": assertions.Match_AnyValue(),
		})
	}
	outputs := s.json["Outputs"].(map[string]any)
	for _, name := range []string{"ApiURL", "IngestQueueURL", "ProducerPolicyARN", "OperatorPolicyARN", "ServiceKeyARN", "TopicARN",
		"AlarmTopicARN", "AuditSigningKeyARN", "IngestDLQURL", "RejectedQueueURL", "WebhookDLQURL", "WebhookSubscriptionDLQURL"} {
		if _, ok := outputs[name]; !ok {
			t.Errorf("output %s missing", name)
		}
	}
}

func TestCDKNagReportsNoUnsuppressedError(t *testing.T) {
	s := synth(t)
	errs := assertions.Annotations_FromStack(s.svc.Stack).FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String(".*")))
	for _, e := range *errs {
		t.Errorf("%s: %v", *e.Id, e.Entry.Data)
	}
	// The suppressions that exist all carry a reason (cdk-nag refuses short ones itself).
	if got := len(s.resources("AWS::Lambda::Function")); got == 0 {
		t.Fatal("nothing was checked")
	}
}

func TestCDKNagFailsAnUnencryptedQueue(t *testing.T) {
	// Proves the packs are live: the same checks flag a queue without encryption or DLQ.
	app := awscdk.NewApp(nil)
	st := awscdk.NewStack(app, jsii.String("Bad"), nil)
	awssqs.NewQueue(st, jsii.String("Plain"), &awssqs.QueueProps{Encryption: awssqs.QueueEncryption_UNENCRYPTED})
	applyChecks(app)
	errs := assertions.Annotations_FromStack(st).FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-SQS.*|HIPAA.Security-SQS.*")))
	if len(*errs) == 0 {
		t.Fatal("cdk-nag reported no error for an unencrypted queue without a DLQ")
	}
}

func TestAssetsPrepare(t *testing.T) {
	write := func(t *testing.T, root, name, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(root, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name, "bootstrap"), []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name             string
		allow            bool
		built            map[string]string // function -> bootstrap content
		wantErr          *regexp.Regexp
		wantPlaceholders []string
	}{
		{"built binaries pass without placeholders", false, map[string]string{"a": "\x7fELF...", "b": "\x7fELF..."}, nil, nil},
		{"a missing binary fails a deploy and names the file", false, map[string]string{"a": "\x7fELF..."}, regexp.MustCompile(`b/bootstrap.*make build`), nil},
		{"a placeholder fails a deploy", false, map[string]string{"a": "\x7fELF...", "b": placeholderMarker + ": not built\n"}, regexp.MustCompile(`b/bootstrap`), nil},
		{"a missing binary gets a placeholder when allowed", true, map[string]string{"a": "\x7fELF..."}, nil, []string{"b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for name, content := range tt.built {
				write(t, root, name, content)
			}
			got, err := Assets{Root: root, AllowPlaceholders: tt.allow}.Prepare([]string{"a", "b"})
			switch {
			case tt.wantErr != nil && (err == nil || !tt.wantErr.MatchString(err.Error())):
				t.Fatalf("error %v, want one matching %s", err, tt.wantErr)
			case tt.wantErr == nil && err != nil:
				t.Fatalf("unexpected error: %v", err)
			}
			if !slices.Equal(got, tt.wantPlaceholders) {
				t.Errorf("placeholders %v, want %v", got, tt.wantPlaceholders)
			}
			for _, name := range tt.wantPlaceholders {
				b, err := os.ReadFile(filepath.Join(root, name, "bootstrap"))
				if err != nil || !strings.HasPrefix(string(b), placeholderMarker) {
					t.Errorf("placeholder for %s not written: %v", name, err)
				}
			}
		})
	}
}

func TestGoBuildOverwritesAPlaceholder(t *testing.T) {
	// `make build` runs go build -o build/<name>/bootstrap over whatever synth left there; Go
	// refuses to overwrite a file it does not recognise as a build output.
	root := t.TempDir()
	if _, err := (Assets{Root: root, AllowPlaceholders: true}).Prepare([]string{"fn"}); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	for name, content := range map[string]string{
		"go.mod":  "module example.com/fn\n\ngo 1.22\n",
		"main.go": "package main\n\nfunc main() {}\n",
	} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(root, "fn", "bootstrap")
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = src
	// As make build does: for the functions' architecture, which Prepare checks.
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build over a placeholder: %v\n%s", err, b)
	}
	if _, err := (Assets{Root: root}).Prepare([]string{"fn"}); err != nil {
		t.Errorf("the built binary is still seen as a placeholder: %v", err)
	}
}

// TestEveryVariableOfEnvJSONIsDeclaredInTheSAMTemplate synthesizes the template `make sam-invoke`
// and `make sam-api` use: SAM's --env-vars only overrides variables a function declares, so an
// undeclared one (the emulator endpoints, above all) would be dropped without a word and the
// function would talk to AWS.
func TestEveryVariableOfEnvJSONIsDeclaredInTheSAMTemplate(t *testing.T) {
	raw, err := os.ReadFile("../events/env.json")
	if err != nil {
		t.Fatal(err)
	}
	var envFile struct{ Parameters map[string]string }
	if err := json.Unmarshal(raw, &envFile); err != nil || len(envFile.Parameters) == 0 {
		t.Fatalf("events/env.json: %v (want a Parameters object for every function)", err)
	}
	for _, name := range stack.EndpointVars {
		if envFile.Parameters[name] == "" {
			t.Errorf("events/env.json does not point %s at the emulators", name)
		}
	}

	sam, err := synthApp(t, map[string]any{contextSAM: true, contextArchitecture: "x86_64"})
	if err != nil {
		t.Fatal(err)
	}
	fns := sam.template.FindResources(jsii.String("AWS::Lambda::Function"), nil)
	declared := map[string]int{} // variable -> number of functions declaring it
	for _, f := range *fns {
		vars, _ := props(*f)["Environment"].(map[string]any)["Variables"].(map[string]any)
		for name := range vars {
			declared[name]++
		}
	}
	for name := range envFile.Parameters {
		if declared[name] == 0 {
			t.Errorf("events/env.json sets %s, which no function of the SAM template declares; SAM would ignore it", name)
		}
	}
	for _, name := range stack.EndpointVars {
		if declared[name] != len(stack.Functions) {
			t.Errorf("%s is declared by %d functions, want all %d", name, declared[name], len(stack.Functions))
		}
	}

	// Short function ids for `sam local invoke Config` (point 10), an id on every other
	// resource so that SAM does not warn about each, and the architecture asked for (point 11).
	ids := map[string]string{} // SamResourceId -> logical id
	functions := map[string]string{}
	for logical, r := range sam.json["Resources"].(map[string]any) {
		r := r.(map[string]any)
		meta, _ := r["Metadata"].(map[string]any)
		id, _ := meta["SamResourceId"].(string)
		if other, dup := ids[id]; id == "" || dup {
			t.Errorf("%s (%s) has SamResourceId %q (also %q's)", logical, r["Type"], id, other)
		}
		ids[id] = logical
		if r["Type"] == "AWS::Lambda::Function" {
			functions[id] = logical
			if a := toJSON(props(r)["Architectures"]); a != `["x86_64"]` {
				t.Errorf("%s: architectures %s, want the x86_64 asked for", logical, a)
			}
		}
	}
	for _, name := range stack.Functions {
		if functions[constructID(name)] == "" {
			t.Errorf("no function has SamResourceId %q (have %v)", constructID(name), functions)
		}
	}
}

// The audit log is append-only in IAM, not just in code: every policy that lets a function
// write the table also denies it updating, deleting or batch-writing audit records.
func TestEveryTableWriterIsDeniedRewritingTheAuditLog(t *testing.T) {
	s := synth(t)
	writers := 0
	for id, p := range s.resources("AWS::IAM::Policy") {
		var writes, denies bool
		for _, st := range props(p)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			st := st.(map[string]any)
			actions := asList(st["Action"])
			switch st["Effect"] {
			case "Allow":
				writes = writes || slices.Contains(actions, any("dynamodb:UpdateItem")) || slices.Contains(actions, any("dynamodb:DeleteItem"))
			case "Deny":
				cond := toJSON(st["Condition"])
				if slices.Contains(actions, any("dynamodb:UpdateItem")) && slices.Contains(actions, any("dynamodb:DeleteItem")) &&
					slices.Contains(actions, any("dynamodb:BatchWriteItem")) &&
					strings.Contains(cond, "dynamodb:LeadingKeys") && strings.Contains(cond, dynamo.AuditPartitions) {
					denies = true
				}
			}
		}
		if writes {
			writers++
			if !denies {
				t.Errorf("policy %s writes the table but may rewrite audit records", id)
			}
		}
	}
	if writers < 4 { // operator, config, keygen, hashing
		t.Fatalf("found %d table-writing policies, want at least 4", writers)
	}
}

// Every response API Gateway answers itself has the API's error envelope, with the request id in
// the body and in X-Request-Id, and is never cached; DEFAULT_4XX and DEFAULT_5XX catch the rest.
func TestGatewayResponsesAnswerInTheErrorEnvelopeWithTheRequestID(t *testing.T) {
	s := synth(t)
	byType := map[string]map[string]any{}
	for _, r := range s.resources("AWS::ApiGateway::GatewayResponse") {
		p := props(r)
		byType[p["ResponseType"].(string)] = p
	}
	for _, want := range []string{"DEFAULT_4XX", "DEFAULT_5XX", "UNAUTHORIZED", "ACCESS_DENIED", "MISSING_AUTHENTICATION_TOKEN",
		"REQUEST_TOO_LARGE", "THROTTLED", "QUOTA_EXCEEDED", "WAF_FILTERED", "AUTHORIZER_FAILURE"} {
		if byType[want] == nil {
			t.Errorf("no gateway response %s", want)
		}
	}
	for _, g := range stack.GatewayResponses {
		p := byType[g.Type]
		if p == nil {
			t.Errorf("stack.GatewayResponses names %s, which the template does not configure", g.Type)
			continue
		}
		wantStatus := any(nil)
		if g.Status != 0 {
			wantStatus = strconv.Itoa(g.Status)
		}
		if p["StatusCode"] != wantStatus {
			t.Errorf("%s: status %v, want %v", g.Type, p["StatusCode"], wantStatus)
		}
		headers, _ := p["ResponseParameters"].(map[string]any)
		for h, v := range map[string]string{"X-Request-Id": "context.requestId", "Cache-Control": "'no-store'", "X-Content-Type-Options": "'nosniff'"} {
			if got := headers["gatewayresponse.header."+h]; got != v {
				t.Errorf("%s: header %s = %v, want %s", g.Type, h, got, v)
			}
		}
		if g.Status == 401 && headers["gatewayresponse.header.WWW-Authenticate"] != `'Bearer realm="phiguard"'` {
			t.Errorf("%s: no WWW-Authenticate: %s", g.Type, toJSON(headers))
		}
		if g.Status == 429 && headers["gatewayresponse.header.Retry-After"] == nil {
			t.Errorf("%s: no Retry-After: %s", g.Type, toJSON(headers))
		}
		tmpl, _ := p["ResponseTemplates"].(map[string]any)
		body, _ := tmpl["application/json"].(string)
		// API Gateway's variables stand where values go; with them replaced the body is the envelope.
		filled := strings.ReplaceAll(strings.ReplaceAll(body, "$context.error.messageString", `"Unauthorized"`), "$context.requestId", "req-1")
		var env struct {
			Error struct {
				Code    string
				Message string
				Details struct{ RequestID string }
			}
		}
		if err := json.Unmarshal([]byte(filled), &env); err != nil {
			t.Errorf("%s: the body template is not JSON once filled in: %v\n%s", g.Type, err, body)
			continue
		}
		if env.Error.Code != g.Code || env.Error.Message == "" || env.Error.Details.RequestID != "req-1" {
			t.Errorf("%s: envelope %+v; want code %s, a message and the request id", g.Type, env, g.Code)
		}
		if phi.ErrorCode(phi.Errorf(env.Error.Code, "x")) != env.Error.Code || (g.Status >= 500 || g.Type == "DEFAULT_5XX") != (env.Error.Code == phi.EINTERNAL) {
			t.Errorf("%s: code %s does not fit status %d", g.Type, env.Error.Code, g.Status)
		}
	}
}

// The web ACL's own blocks answer with the API's status for them (413, 429) and the envelope.
func TestWebACLBlocksAnswerInTheErrorEnvelope(t *testing.T) {
	s := synth(t)
	acls := s.resources("AWS::WAFv2::WebACL")
	if len(acls) != 1 {
		t.Fatalf("want one web ACL, got %d", len(acls))
	}
	for _, acl := range acls {
		p := props(acl)
		bodies, _ := p["CustomResponseBodies"].(map[string]any)
		rules := map[string]map[string]any{}
		for _, r := range asList(p["Rules"]) {
			r := r.(map[string]any)
			rules[r["Name"].(string)] = r
		}
		for rule, b := range map[string]stack.WAFBlock{"BodyTooLarge": stack.WAFBodyTooLarge, "RatePerClient": stack.WAFRateLimited} {
			custom, _ := rules[rule]["Action"].(map[string]any)["Block"].(map[string]any)["CustomResponse"].(map[string]any)
			if custom["ResponseCode"] != float64(b.Status) || custom["CustomResponseBodyKey"] != b.Key {
				t.Errorf("%s: custom response %s, want %d with body %s", rule, toJSON(custom), b.Status, b.Key)
			}
			if !strings.Contains(toJSON(custom["ResponseHeaders"]), `"no-store"`) {
				t.Errorf("%s: the block may be cached: %s", rule, toJSON(custom["ResponseHeaders"]))
			}
			body, _ := bodies[b.Key].(map[string]any)
			var env struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal([]byte(body["Content"].(string)), &env); err != nil || body["ContentType"] != "APPLICATION_JSON" ||
				env.Error.Code != b.Code || env.Error.Message == "" {
				t.Errorf("%s: body %s is not the envelope with code %s (%v)", rule, toJSON(body), b.Code, err)
			}
		}
	}
}

// The audit signing key is an ECC_NIST_P256 signing key, retained with the stack; its policy
// denies kms:Sign to every principal but the config and console functions (the verifiers and
// exporters), only they are granted it in IAM, and only they are told its ARN.
func TestAuditSigningKeyIsAsymmetricAndOnlyTheAuditWritersSign(t *testing.T) {
	s := synth(t)
	cfn := s.svc.Keys.Audit.Node().DefaultChild().(awscdk.CfnResource)
	key := s.resources("AWS::KMS::Key")[idOf(s.svc.Stack, cfn)]
	if key == nil {
		t.Fatal("no audit signing key")
	}
	p := props(key)
	if p["KeySpec"] != "ECC_NIST_P256" || p["KeyUsage"] != "SIGN_VERIFY" || key["DeletionPolicy"] != "Retain" {
		t.Errorf("audit signing key: spec %v, usage %v, deletion %v", p["KeySpec"], p["KeyUsage"], key["DeletionPolicy"])
	}
	var signers []string
	for _, name := range []string{stack.FunctionConfig, stack.FunctionConsole} {
		signers = append(signers, `{"Fn::GetAtt":["`+roleID(s, s.svc.API.Functions[name].Role())+`","Arn"]}`)
	}
	denied := false
	for _, st := range p["KeyPolicy"].(map[string]any)["Statement"].([]any) {
		st := st.(map[string]any)
		if st["Sid"] != "DenySigningExceptAuditWriters" {
			continue
		}
		denied = st["Effect"] == "Deny" && st["Action"] == "kms:Sign" && toJSON(st["Principal"]) == `{"AWS":"*"}` &&
			toJSON(st["Condition"]) == `{"ArnNotEquals":{"aws:PrincipalArn":[`+strings.Join(signers, ",")+`]}}`
		if !denied {
			t.Errorf("DenySigningExceptAuditWriters: %s", toJSON(st))
		}
	}
	if !denied {
		t.Error("the audit signing key's policy does not deny kms:Sign to everyone but the config and console functions")
	}
	allowed := map[string]bool{}
	for _, name := range []string{stack.FunctionConfig, stack.FunctionConsole} {
		allowed[`{"Ref":"`+roleID(s, s.svc.API.Functions[name].Role())+`"}`] = true
	}
	for id, pol := range s.resources("AWS::IAM::Policy") {
		for _, st := range props(pol)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			st := st.(map[string]any)
			if st["Effect"] == "Deny" || !slices.ContainsFunc(asList(st["Action"]), func(a any) bool { return a == "kms:Sign" || a == "kms:*" }) {
				continue
			}
			for _, r := range asList(props(pol)["Roles"]) {
				if !allowed[toJSON(r)] {
					t.Errorf("policy %s grants kms:Sign to %s", id, toJSON(r))
				}
			}
		}
	}
	for name, fn := range s.svc.functions() {
		env, _ := props(s.resources("AWS::Lambda::Function")[idOf(s.svc.Stack, fn.Node().DefaultChild().(awscdk.CfnElement))])["Environment"].(map[string]any)
		vars, _ := env["Variables"].(map[string]any)
		_, set := vars[stack.EnvAuditSigningKeyID]
		if want := name == stack.FunctionConfig || name == stack.FunctionConsole; set != want {
			t.Errorf("%s: %s set = %v, want %v", name, stack.EnvAuditSigningKeyID, set, want)
		}
	}
}

// deliveryTypes is the catalog's types, as the delivery queue's filter lists them.
func deliveryTypes() []any {
	var out []any
	for _, t := range catalog.Types() {
		out = append(out, string(t))
	}
	return out
}
