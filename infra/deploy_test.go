package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

// uniqueNames are the properties that name a resource uniquely in an account and region, by
// resource type ("*" for every type).
var uniqueNames = map[string][]string{
	"*":                           {"LogGroupName", "BackupVaultName", "BackupPlanName", "TableName", "QueueName", "TopicName", "RoleName", "ManagedPolicyName", "AlarmName"},
	"AWS::Lambda::Function":       {"FunctionName"},
	"AWS::SecretsManager::Secret": {"Name"},
	"AWS::WAFv2::WebACL":          {"Name"},
	"AWS::KMS::Alias":             {"AliasName"},
}

// Point 2: deploy → destroy → deploy, and two stages side by side. Every resource kept after the
// stack is deleted either has names CloudFormation generates (new for every stack) or names that
// end with the stack's creation id; every other resource's account-unique name, if it has one,
// depends on the stack's name.
func TestRetainedResourcesNeverCollideWithAnEarlierOrAnotherStack(t *testing.T) {
	for _, c := range []struct {
		name string
		s    *synthesized
	}{{"default stack", synth(t)}, {"stage blue", configuredStack.get(t)}} {
		t.Run(c.name, func(t *testing.T) {
			retained := 0
			for id, r := range c.s.json["Resources"].(map[string]any) {
				r := r.(map[string]any)
				keep := r["DeletionPolicy"] == "Retain"
				if keep {
					retained++
				}
				for prop, v := range props(r) {
					unique := slices.Contains(uniqueNames["*"], prop) || slices.Contains(uniqueNames[r["Type"].(string)], prop)
					if !strings.HasSuffix(prop, "Name") || !(keep || unique) {
						continue
					}
					want := "AWS::StackName"
					if keep {
						want = "AWS::StackId"
					}
					if !strings.Contains(toJSON(v), want) {
						t.Errorf("%s (%s, retained %v) has %s = %s, which does not depend on %s", id, r["Type"], keep, prop, toJSON(v), want)
					}
				}
			}
			if retained < 10 {
				t.Fatalf("only %d retained resources: is the table still retained?", retained)
			}
			for id, r := range c.s.resources("AWS::Logs::LogGroup") {
				if name, ok := props(r)["LogGroupName"]; ok && !strings.HasPrefix(toJSON(name), `{"Fn::Join":["",["aws-waf-logs-"`) {
					t.Errorf("log group %s is named %s; WAF needs aws-waf-logs-", id, toJSON(name))
				}
			}
		})
	}
	if got := *configuredStack.get(t).svc.Stack.StackName(); got != StackName+"-blue" {
		t.Errorf("stage blue deploys stack %q, want %s-blue", got, StackName)
	}
	if got := *synth(t).svc.Stack.StackName(); got != StackName {
		t.Errorf("no stage deploys stack %q, want %s", got, StackName)
	}
	// The backup vault's name must fit AWS Backup's 50 characters for the longest stage.
	if n := len(StackName + "-" + strings.Repeat("x", maxStageLen) + "-backups-" + "0123abcd"); n > 50 {
		t.Errorf("the longest vault name has %d characters, more than AWS Backup's 50", n)
	}
}

// Point 3: the settings, validated with one clear error per problem.
func TestSettingsAreValidatedWithAClearError(t *testing.T) {
	tests := []struct {
		name    string
		ctx     map[string]any
		want    Settings
		wantErr []string // each must appear in the error
	}{
		{"no settings: the default stack", map[string]any{"@aws-cdk/core:checkSecretUsage": true},
			Settings{AssetRoot: "build", Architecture: "arm64"}, nil},
		{"every setting", map[string]any{
			contextStage: "blue", contextAccount: "111122223333", contextRegion: "eu-west-1",
			contextOperatorRole: "arn:aws:iam::111122223333:role/ops/phiguard-operators", contextAlarmEmail: "a@example.com, b@example.org,a@example.com",
			contextSAM: "true", contextArchitecture: "x86_64", contextPlaceholders: "true", contextAssetRoot: "build/x",
		}, Settings{Stage: "blue", Account: "111122223333", Region: "eu-west-1",
			OperatorRoleARN: "arn:aws:iam::111122223333:role/ops/phiguard-operators", AlarmEmails: []string{"a@example.com", "b@example.org"},
			SAM: true, Architecture: "x86_64", Placeholders: true, AssetRoot: "build/x"}, nil},
		{"bad values, all reported", map[string]any{
			contextStage: "Blue_1", contextAccount: "1234", contextRegion: "europe", contextAlarmEmail: "ops",
			contextOperatorRole: "arn:aws:iam::111122223333:user/bob", contextArchitecture: "riscv",
		}, Settings{}, []string{contextStage + ` = "Blue_1"`, "STAGE=", contextAccount, "ACCOUNT=", contextRegion, contextAlarmEmail,
			"ALARM_EMAIL=", contextOperatorRole, "OPERATOR_ROLE_ARN=", contextArchitecture, "docs/OPERATING.md"}},
		{"a stage too long for the vault name", map[string]any{contextStage: "a-very-long-stage-name"}, Settings{}, []string{contextStage}},
		{"the operator role in another account than the pinned one", map[string]any{
			contextAccount: "111122223333", contextOperatorRole: "arn:aws:iam::444455556666:role/ops"}, Settings{}, []string{"444455556666"}},
		{"x86_64 outside SAM mode", map[string]any{contextArchitecture: "x86_64"}, Settings{}, []string{"SAM"}},
		{"a typo in a key", map[string]any{"phiguard:alarmMail": "ops@example.com"}, Settings{}, []string{"phiguard:alarmMail", "not a setting", contextAlarmEmail}},
		{"a non-string", map[string]any{contextStage: 7}, Settings{}, []string{contextStage, "string"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSettings(tt.ctx)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if toJSON(got) != toJSON(tt.want) {
					t.Errorf("settings %s, want %s", toJSON(got), toJSON(tt.want))
				}
				return
			}
			if err == nil {
				t.Fatalf("no error; settings %s", toJSON(got))
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// Point 3: what `make help` shows are the settings the app reads, each mapped to its context key.
func TestTheMakefileSetsEverySettingAndHelpShowsIt(t *testing.T) {
	raw, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	makefile := string(raw)
	for key, how := range settingHelp {
		v, _, _ := strings.Cut(how, "=")
		if !regexp.MustCompile(`^[A-Z_]+$`).MatchString(v) {
			continue // set by a target, not a variable
		}
		if !regexp.MustCompile(`(?m)^` + v + ` \?=.*## `).MatchString(makefile) {
			t.Errorf("the Makefile has no documented variable %s (a `%s ?= … ## …` line, which make help lists) for %s", v, v, key)
		}
		if !strings.Contains(makefile, "-c '"+key+"=$(strip $("+v+"))'") {
			t.Errorf("the Makefile does not pass %s as -c '%s=$(strip $(%s))'", v, key, v)
		}
	}
	doc, err := os.ReadFile("../docs/OPERATING.md")
	if err != nil {
		t.Fatal(err)
	}
	for key := range settingHelp {
		if !strings.Contains(string(doc), "`"+key+"`") {
			t.Errorf("docs/OPERATING.md does not describe %s", key)
		}
	}
}

// Point 3 with the settings given: the stack is pinned, operators are one role, and the alarm
// topic has its subscribers.
func TestAConfiguredStageIsPinnedRestrictedAndSubscribed(t *testing.T) {
	s := configuredStack.get(t)
	if a, r := *s.svc.Stack.Account(), *s.svc.Stack.Region(); a != "111122223333" || r != "eu-west-1" {
		t.Errorf("stack environment %s/%s, want the pinned 111122223333/eu-west-1", a, r)
	}
	for _, api := range s.resources("AWS::ApiGateway::RestApi") {
		restricted := false
		for _, st := range props(api)["Policy"].(map[string]any)["Statement"].([]any) {
			st := st.(map[string]any)
			if st["Sid"] == "OperatorRoutesOnlyToTheOperatorRole" {
				restricted = st["Effect"] == "Deny" &&
					toJSON(st["Condition"]) == `{"ArnNotEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/phiguard-operators"}}`
			}
		}
		if !restricted {
			t.Error("the operator routes are not restricted to the operator role")
		}
	}
	topic := idOf(s.svc.Stack, s.svc.Monitoring.Alarms.Node().DefaultChild().(awscdk.CfnElement))
	for _, e := range []string{"oncall@example.com", "security@example.com"} {
		s.template.HasResourceProperties(jsii.String("AWS::SNS::Subscription"), map[string]any{
			"Protocol": "email", "Endpoint": e, "TopicArn": map[string]any{"Ref": topic},
		})
	}
	// Without an e-mail, nothing subscribes to the alarm topic (and nothing is left half-set).
	for _, sub := range synth(t).resources("AWS::SNS::Subscription") {
		if props(sub)["Protocol"] == "email" {
			t.Errorf("the default stack subscribes %v", props(sub)["Endpoint"])
		}
	}
}

// Point 6: the ingest queue's backlog and every parking queue's expiry are alarmed, and every
// alarm notifies the alarm topic and names its runbook section, which exists.
func TestEveryAlarmNotifiesAndHasARunbook(t *testing.T) {
	s := synth(t)
	topic := idOf(s.svc.Stack, s.svc.Monitoring.Alarms.Node().DefaultChild().(awscdk.CfnElement))
	doc, err := os.ReadFile("../docs/OPERATING.md")
	if err != nil {
		t.Fatal(err)
	}
	queueOf := map[string]string{} // queue logical id -> its name in the alarm ids
	p := s.svc.Pipeline
	for name, q := range map[string]awscdk.CfnElement{
		"Ingest": p.Ingest.Node().DefaultChild().(awscdk.CfnElement), "IngestDLQ": p.IngestDLQ.Node().DefaultChild().(awscdk.CfnElement),
		"Rejected": p.Rejected.Node().DefaultChild().(awscdk.CfnElement), "WebhookDLQ": p.WebhookDLQ.Node().DefaultChild().(awscdk.CfnElement),
		"Webhook": p.Webhook.Node().DefaultChild().(awscdk.CfnElement), "WebhookSubscriptionDLQ": p.WebhookSubscriptionDLQ.Node().DefaultChild().(awscdk.CfnElement),
	} {
		queueOf[idOf(s.svc.Stack, q)] = name
	}
	ageAlarms := map[string]float64{}
	for _, a := range s.svc.Monitoring.AlarmList {
		id := *a.Node().Id()
		cfn := s.resources("AWS::CloudWatch::Alarm")[idOf(s.svc.Stack, a.Node().DefaultChild().(awscdk.CfnElement))]
		if toJSON(props(cfn)["AlarmActions"]) != `[{"Ref":"`+topic+`"}]` {
			t.Errorf("alarm %s notifies %s, want the alarm topic", id, toJSON(props(cfn)["AlarmActions"]))
		}
		if !strings.Contains(props(cfn)["AlarmDescription"].(string), `docs/OPERATING.md, "`+id+`"`) {
			t.Errorf("alarm %s's description does not name its runbook", id)
		}
		if !regexp.MustCompile("(?m)^#### `" + id + "`").Match(doc) {
			t.Errorf("docs/OPERATING.md has no runbook section #### `%s`", id)
		}
		if props(cfn)["MetricName"] == "ApproximateAgeOfOldestMessage" {
			dims := props(cfn)["Dimensions"].([]any)
			q := toJSON(dims[0].(map[string]any)["Value"])
			var ref struct {
				GetAtt []string `json:"Fn::GetAtt"`
			}
			_ = json.Unmarshal([]byte(q), &ref)
			if len(ref.GetAtt) > 0 {
				ageAlarms[queueOf[ref.GetAtt[0]]] = props(cfn)["Threshold"].(float64)
			}
		}
	}
	for queue, max := range map[string]float64{"Ingest": backlogAge.Seconds(), "Webhook": webhookBacklogAge.Seconds(),
		"IngestDLQ": expiringAge.Seconds(), "WebhookDLQ": expiringAge.Seconds(), "WebhookSubscriptionDLQ": expiringAge.Seconds(), "Rejected": expiringAge.Seconds()} {
		if got, ok := ageAlarms[queue]; !ok || got > max {
			t.Errorf("queue %s: oldest-message age alarm at %v s (present %v), want one at most %v s", queue, got, ok, max)
		}
	}
	if expiringAge >= queueRetention {
		t.Errorf("the expiry alarm (%v) fires after SQS has deleted the message (%v)", expiringAge, queueRetention)
	}
}

// Point 13: TLS 1.2 at least with a strict endpoint, the managed rule groups after the body-size
// and rate rules, and AWS service principals in the key policy pinned to this account.
func TestAPIIsHardenedAndServicePrincipalsArePinned(t *testing.T) {
	s := synth(t)
	s.template.HasResourceProperties(jsii.String("AWS::ApiGateway::RestApi"), map[string]any{
		"SecurityPolicy": "SecurityPolicy_TLS13_1_2_2021_06", "EndpointAccessMode": "STRICT",
	})
	var rules []any
	for _, acl := range s.resources("AWS::WAFv2::WebACL") {
		rules = props(acl)["Rules"].([]any)
	}
	byName := map[string]map[string]any{}
	for _, r := range rules {
		byName[r.(map[string]any)["Name"].(string)] = r.(map[string]any)
	}
	if p := byName["BodyTooLarge"]["Priority"]; p != 0.0 {
		t.Errorf("BodyTooLarge has priority %v, want 0 (first)", p)
	}
	for _, group := range []string{"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet", "AWSManagedRulesAmazonIpReputationList"} {
		r, ok := byName[group]
		if !ok {
			t.Errorf("web ACL lacks the managed rule group %s", group)
			continue
		}
		st := r["Statement"].(map[string]any)["ManagedRuleGroupStatement"].(map[string]any)
		if st["VendorName"] != "AWS" || st["Name"] != group || toJSON(r["OverrideAction"]) != `{"None":{}}` || r["Priority"].(float64) < 2 {
			t.Errorf("%s: %s", group, toJSON(r))
		}
		// Only the common rule set's body-size rule is overridden (ours, at 64 KB, replaces its
		// 8 KB), and only to Count.
		want := "null"
		if group == "AWSManagedRulesCommonRuleSet" {
			want = `[{"ActionToUse":{"Count":{}},"Name":"SizeRestrictions_BODY"}]`
		}
		if got := toJSON(st["RuleActionOverrides"]); got != want {
			t.Errorf("%s overrides %s, want %s", group, got, want)
		}
	}

	for _, k := range s.resources("AWS::KMS::Key") {
		for _, st := range props(k)["KeyPolicy"].(map[string]any)["Statement"].([]any) {
			st := st.(map[string]any)
			principal, _ := st["Principal"].(map[string]any)
			if principal["Service"] == nil || st["Effect"] != "Allow" {
				continue
			}
			cond := toJSON(st["Condition"])
			switch principal["Service"] {
			case "logs.amazonaws.com":
				if !strings.Contains(cond, `"kms:EncryptionContext:aws:logs:arn"`) {
					t.Errorf("CloudWatch Logs may use the key for any log group: %s", toJSON(st))
				}
			case "cloudwatch.amazonaws.com":
				if !strings.Contains(cond, `"aws:SourceAccount":{"Ref":"AWS::AccountId"}`) || !strings.Contains(cond, `":cloudwatch:",{"Ref":"AWS::Region"},":",{"Ref":"AWS::AccountId"},":alarm:*"`) {
					t.Errorf("CloudWatch may use the key for another account's alarms: %s", toJSON(st))
				}
			case "sns.amazonaws.com":
				if !strings.Contains(cond, `"aws:SourceArn"`) || !strings.Contains(cond, `":sns:",{"Ref":"AWS::Region"},":",{"Ref":"AWS::AccountId"},":*"`) {
					t.Errorf("SNS may use the key for another account's topics: %s", toJSON(st))
				}
			default:
				t.Errorf("unexpected service principal in the key policy: %s", toJSON(st))
			}
		}
	}
}

// Point 8: the OpenAPI document's servers are the deployed stage and `make dev`'s address.
func TestOpenAPIServersAreTheDeployedStageAndTheDevServer(t *testing.T) {
	raw, err := os.ReadFile("../docs/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Servers []struct {
			URL       string
			Variables map[string]struct{ Default string }
		}
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var urls []string
	for _, s := range doc.Servers {
		urls = append(urls, s.URL)
	}
	want := []string{"https://{apiId}.execute-api.{region}.amazonaws.com/" + apiStage, "http://127.0.0.1:3000"}
	if !slices.Equal(urls, want) {
		t.Errorf("servers %v, want %v", urls, want)
	}
}

// Point 5: the outputs the docs name are the outputs the stack has, spelt the same way.
func TestDocsNameTheOutputsAsTheStackEmitsThem(t *testing.T) {
	s := synth(t)
	var outputs []string
	for name := range s.json["Outputs"].(map[string]any) {
		if !strings.HasPrefix(name, "APIRestAPIEndpoint") { // CDK's own, undocumented
			outputs = append(outputs, name)
		}
	}
	docs := map[string]string{}
	for _, f := range []string{"../README.md", "../docs/OPERATING.md", "../docs/PRODUCERS.md"} {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs[filepath.Base(f)] = string(raw)
	}
	word := regexp.MustCompile(`[A-Za-z0-9]+`)
	for _, out := range outputs {
		if !strings.Contains(docs["OPERATING.md"], "`"+out+"`") {
			t.Errorf("docs/OPERATING.md does not list the output %s", out)
		}
		for file, text := range docs {
			for _, w := range word.FindAllString(text, -1) {
				if w != out && strings.EqualFold(w, out) {
					t.Errorf("%s calls the output %s %q", file, out, w)
				}
			}
		}
	}
	for _, out := range []string{"IngestQueueURL", "ProducerPolicyARN", "ServiceKeyARN"} {
		if !strings.Contains(docs["PRODUCERS.md"], "`"+out+"`") {
			t.Errorf("docs/PRODUCERS.md does not name the output %s", out)
		}
	}
}

// Point 11: a binary built for another architecture than the functions run on is refused, with
// the command that fixes it.
func TestAssetsOfTheWrongArchitectureAreRefused(t *testing.T) {
	root := t.TempDir()
	src := t.TempDir()
	for name, content := range map[string]string{
		"go.mod":  "module example.com/fn\n\ngo 1.22\n",
		"main.go": "package main\n\nfunc main() {}\n",
	} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "build", "-o", filepath.Join(root, "fn", "bootstrap"), ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	if _, err := (Assets{Root: root, Architecture: "x86_64"}).Prepare([]string{"fn"}); err != nil {
		t.Errorf("an amd64 binary for x86_64 functions: %v", err)
	}
	for _, arch := range []string{"arm64", ""} {
		_, err := (Assets{Root: root, Architecture: arch, AllowPlaceholders: true}).Prepare([]string{"fn"})
		if err == nil || !strings.Contains(err.Error(), "make build") {
			t.Errorf("an amd64 binary for %q functions: %v, want a refusal saying to run make build", arch, err)
		}
	}
}
