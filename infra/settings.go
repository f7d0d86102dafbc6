package main

import (
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Context keys the app reads (cdk -c key=value, or the "context" of cdk.json). The Makefile sets
// them from its variables (make help lists both); docs/OPERATING.md describes each.
const (
	contextStage        = "phiguard:stage"           // a second stack beside the first: Phiguard-<stage>
	contextAccount      = "phiguard:account"         // pin the stack to this account (the CLI refuses other credentials)
	contextRegion       = "phiguard:region"          // pin the stack to this region
	contextOperatorRole = "phiguard:operatorRoleArn" // only this IAM role may call the operator routes
	contextAlarmEmail   = "phiguard:alarmEmail"      // comma-separated addresses subscribed to the alarm topic
	contextAssetRoot    = "phiguard:assetRoot"       // where `make build` put the binaries; default "build"
	contextPlaceholders = "phiguard:placeholders"    // "true": synth with placeholder binaries (never for deploy)
	// "true": a template for `sam local` (make sam-invoke, make sam-api), whose functions declare
	// the SDK's endpoint variables, empty, so that SAM's --env-vars can point them at the
	// emulators (SAM only overrides variables a template declares), and carry short SamResourceIds.
	// Never for deploy.
	contextSAM = "phiguard:sam"
	// "arm64" (default) or "x86_64": the functions' architecture. x86_64 is for SAM mode only, on
	// x86 hosts without QEMU (make build GOARCH_LAMBDA=amd64); deployed functions are arm64.
	contextArchitecture = "phiguard:architecture"
)

// settingHelp says, for each context key, how to set it with make, for error messages.
var settingHelp = map[string]string{
	contextStage:        "STAGE=<name>",
	contextAccount:      "ACCOUNT=<12 digits>",
	contextRegion:       "REGION=<e.g. eu-west-1>",
	contextOperatorRole: "OPERATOR_ROLE_ARN=arn:aws:iam::<account>:role/<name>",
	contextAlarmEmail:   "ALARM_EMAIL=ops@example.com[,…]",
	contextAssetRoot:    "(set by the Makefile)",
	contextPlaceholders: "(set by the Makefile)",
	contextSAM:          "make synth-sam",
	contextArchitecture: "make synth-sam GOARCH_LAMBDA=amd64",
}

// Settings are the deployment's choices, read from the CDK context and checked before anything
// is built.
type Settings struct {
	Stage           string   // "" for the default stack, Phiguard
	Account, Region string   // "" leaves the stack environment-agnostic (the CLI's credentials decide)
	OperatorRoleARN string   // "" lets any IAM principal of the account that IAM allows call the operator routes
	AlarmEmails     []string // subscribed to the alarm topic; none by default
	AssetRoot       string
	Placeholders    bool
	SAM             bool
	Architecture    string // "arm64" or "x86_64"
}

// StackName returns the CloudFormation stack name: StackName, or StackName-<stage>.
func (s Settings) StackName() string {
	if s.Stage == "" {
		return StackName
	}
	return StackName + "-" + s.Stage
}

var (
	// A stage names a stack and, through it, the retained resources' names; short enough that
	// the backup vault's name (at most 50 characters) always fits.
	stageRE   = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)
	accountRE = regexp.MustCompile(`^\d{12}$`)
	regionRE  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d$`)
	roleRE    = regexp.MustCompile(`^arn:aws[a-z-]*:iam::(\d{12}):role/[\w+=,.@/-]{1,512}$`)
)

const maxStageLen = 16

// parseSettings reads and checks the phiguard: context values. It returns every problem at once,
// each naming the key, the value and how to set it, and refuses phiguard: keys it does not know
// (a typo would otherwise be ignored without a word).
func parseSettings(ctx map[string]any) (Settings, error) {
	s := Settings{AssetRoot: "build", Architecture: "arm64"}
	var errs []error
	bad := func(key string, v any, why string) {
		errs = append(errs, fmt.Errorf("context %s = %q: %s (%s)", key, fmt.Sprint(v), why, settingHelp[key]))
	}
	str := func(key string) string {
		switch v := ctx[key].(type) {
		case nil:
			return ""
		case string:
			return strings.TrimSpace(v)
		default:
			bad(key, v, "want a string")
			return ""
		}
	}
	boolean := func(key string) bool {
		switch v := ctx[key].(type) {
		case nil:
			return false
		case bool:
			return v
		case string:
			switch v {
			case "true":
				return true
			case "false", "":
				return false
			}
		}
		bad(key, ctx[key], "want true or false")
		return false
	}

	var unknown []string
	for key := range ctx {
		if _, known := settingHelp[key]; strings.HasPrefix(key, "phiguard:") && !known {
			unknown = append(unknown, key)
		}
	}
	sort.Strings(unknown)
	for _, key := range unknown {
		keys := make([]string, 0, len(settingHelp))
		for k := range settingHelp {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		errs = append(errs, fmt.Errorf("context %s is not a setting of this app (known: %s)", key, strings.Join(keys, ", ")))
	}

	if s.Stage = str(contextStage); s.Stage != "" && (len(s.Stage) > maxStageLen || !stageRE.MatchString(s.Stage)) {
		bad(contextStage, s.Stage, fmt.Sprintf("want at most %d lower-case letters, digits and inner hyphens, starting with a letter", maxStageLen))
	}
	if s.Account = str(contextAccount); s.Account != "" && !accountRE.MatchString(s.Account) {
		bad(contextAccount, s.Account, "want a 12-digit AWS account id")
	}
	if s.Region = str(contextRegion); s.Region != "" && !regionRE.MatchString(s.Region) {
		bad(contextRegion, s.Region, "want an AWS region name such as us-east-1")
	}
	if s.OperatorRoleARN = str(contextOperatorRole); s.OperatorRoleARN != "" {
		m := roleRE.FindStringSubmatch(s.OperatorRoleARN)
		switch {
		case m == nil:
			bad(contextOperatorRole, s.OperatorRoleARN, "want an IAM role ARN, arn:aws:iam::<account>:role/<name>")
		case s.Account != "" && m[1] != s.Account:
			bad(contextOperatorRole, s.OperatorRoleARN, "the role is in account "+m[1]+", not in "+s.Account+" where the stack is pinned")
		}
	}
	if emails := str(contextAlarmEmail); emails != "" {
		for _, e := range strings.Split(emails, ",") {
			e = strings.TrimSpace(e)
			if a, err := mail.ParseAddress(e); err != nil || a.Address != e || !strings.Contains(e[strings.IndexByte(e, '@')+1:], ".") {
				bad(contextAlarmEmail, e, "want a plain e-mail address such as ops@example.com")
				continue
			}
			if !slices.Contains(s.AlarmEmails, e) {
				s.AlarmEmails = append(s.AlarmEmails, e)
			}
		}
	}
	if root := str(contextAssetRoot); root != "" {
		s.AssetRoot = root
	}
	s.Placeholders = boolean(contextPlaceholders)
	s.SAM = boolean(contextSAM)
	switch arch := str(contextArchitecture); arch {
	case "", "arm64":
	case "x86_64":
		if !s.SAM {
			bad(contextArchitecture, arch, "x86_64 is for the SAM template only (make synth-sam GOARCH_LAMBDA=amd64); deployed functions are arm64")
		}
		s.Architecture = arch
	default:
		bad(contextArchitecture, arch, "want arm64 or x86_64")
	}
	if len(errs) > 0 {
		lines := make([]string, len(errs))
		for i, err := range errs {
			lines[i] = err.Error()
		}
		return Settings{}, errors.New("invalid deployment settings (docs/OPERATING.md, \"Deployment settings\"):\n  " + strings.Join(lines, "\n  "))
	}
	return s, nil
}
