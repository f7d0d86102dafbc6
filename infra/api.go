package main

import (
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awswafv2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/phiguard/phiguard/shared/stack"
)

const (
	apiStage = "v1"
	// Stage-wide throttling; per-client limits come from the WAF rate rule.
	apiRateLimit  = 100
	apiBurstLimit = 200
	// wafRateLimit is the number of requests one client IP may make in five minutes.
	wafRateLimit = 3000
	// accessLogRetention keeps API access logs (who called what, when — never bodies) for the
	// six years HIPAA asks of audit documentation.
	accessLogRetention = awslogs.RetentionDays_SIX_YEARS
	// tlsPolicy accepts TLS 1.3 and 1.2 with forward-secret AEAD ciphers only (no TLS 1.0/1.1),
	// the enhanced REST API security policy; STRICT access mode also refuses requests whose SNI
	// does not name this API's endpoint (see apigateway-security-policies in the API Gateway
	// developer guide).
	tlsPolicy          = "SecurityPolicy_TLS13_1_2_2021_06"
	endpointAccessMode = "STRICT"
)

// API is the REST API: one Lambda per route group of stack.Routes, customer routes authorized by
// the authorizer function, operator routes by IAM (SigV4).
type API struct {
	RestAPI    awsapigateway.RestApi
	AccessLogs awslogs.LogGroup
	Authorizer awslambda.Function
	// Functions maps a function name of stack.Routes and stack.ConsoleRoutes to its Lambda.
	Functions map[string]awslambda.Function
	WebACL    awswafv2.CfnWebACL
	// SessionMethods are the console's methods (stack.AuthSession), which API Gateway passes
	// through without an authorizer.
	SessionMethods []awsapigateway.Method
}

// apiFunctions are the route groups' functions, with their sizing and what they may touch.
var apiFunctions = map[string]struct {
	spec  functionSpec
	grant func(fn awslambda.Function, keys *Keys, data *Data)
}{
	stack.FunctionOperator: {
		functionSpec{description: "phiguard: platform-operator API (workspaces, plan, BAA)", memoryMB: 256, timeout: 10 * time.Second},
		func(fn awslambda.Function, keys *Keys, data *Data) { data.Grant(fn, keys, true, tableRead, tableWrite) },
	},
	// The config function generates a webhook destination's signing secret when it creates it
	// (and when it rotates it): KMS data keys under the signing secrets' encryption context only.
	stack.FunctionConfig: {
		functionSpec{description: "phiguard: customer configuration API; returns signing secrets once", memoryMB: 512, timeout: 15 * time.Second},
		func(fn awslambda.Function, keys *Keys, data *Data) {
			data.Grant(fn, keys, true, tableRead, tableWrite)
			keys.GrantAuditSigning(fn)
			keys.GrantSigningSecretGeneration(fn)
		},
	},
	stack.FunctionKeygen: {
		functionSpec{description: "phiguard: key generation; returns private keys once", memoryMB: 512, timeout: 15 * time.Second},
		func(fn awslambda.Function, keys *Keys, data *Data) {
			data.Grant(fn, keys, true, tableRead, tableWrite)
			keys.GrantKeyGeneration(fn)
		},
	},
	// The console does what the config and keygen functions do, through the same services, so
	// it needs what both need: the table and key generation.
	stack.FunctionConsole: {
		functionSpec{description: "phiguard: web console; returns private keys once", memoryMB: 512, timeout: 15 * time.Second},
		func(fn awslambda.Function, keys *Keys, data *Data) {
			data.Grant(fn, keys, true, tableRead, tableWrite)
			keys.GrantKeyGeneration(fn)
			keys.GrantAuditSigning(fn)
		},
	},
}

// keyGenerators are the functions that generate customer key pairs and HMAC keys; the key
// policy denies it to every other principal.
var keyGenerators = []string{stack.FunctionKeygen, stack.FunctionConsole}

// auditSigners are the functions that verify and export audit chains, signing checkpoints; the
// audit signing key's policy denies signing to every other principal.
var auditSigners = []string{stack.FunctionConfig, stack.FunctionConsole}

// signingSecretGenerators are the other functions that generate data keys: webhook signing
// secrets only, which the key policy enforces.
var signingSecretGenerators = []string{stack.FunctionConfig}

// NewAPI creates the REST API, its authorizer, a function per route group and the web ACL in
// front of it. operatorRole, when not empty, is the one IAM role whose sessions may call the
// operator routes. It panics at synth time when stack.Routes names a function without a
// definition in apiFunctions or an unknown auth kind, so a new route group cannot be deployed
// half-wired.
func NewAPI(scope constructs.Construct, id string, assets Assets, keys *Keys, data *Data, operatorRole string) *API {
	c := constructs.NewConstruct(scope, jsii.String(id))
	a := &API{Functions: map[string]awslambda.Function{}}

	a.AccessLogs = awslogs.NewLogGroup(c, jsii.String("AccessLogs"), &awslogs.LogGroupProps{
		Retention:     accessLogRetention,
		EncryptionKey: keys.Key,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	a.RestAPI = awsapigateway.NewRestApi(c, jsii.String("RestAPI"), &awsapigateway.RestApiProps{
		Description:                 jsii.String("phiguard configuration, key generation and operator API"),
		EndpointTypes:               &[]awsapigateway.EndpointType{awsapigateway.EndpointType_REGIONAL},
		Policy:                      resourcePolicy(operatorRole),
		CloudWatchRole:              jsii.Bool(true), // execution logging needs the account's API Gateway log role
		CloudWatchRoleRemovalPolicy: awscdk.RemovalPolicy_RETAIN,
		DeployOptions: &awsapigateway.StageOptions{
			StageName:            jsii.String(apiStage),
			AccessLogDestination: awsapigateway.NewLogGroupLogDestination(a.AccessLogs),
			AccessLogFormat: awsapigateway.AccessLogFormat_JsonWithStandardFields(&awsapigateway.JsonWithStandardFieldProps{
				Caller: jsii.Bool(true), HttpMethod: jsii.Bool(true), Ip: jsii.Bool(true), Protocol: jsii.Bool(true),
				RequestTime: jsii.Bool(true), ResourcePath: jsii.Bool(true), ResponseLength: jsii.Bool(true),
				Status: jsii.Bool(true), User: jsii.Bool(true),
			}),
			// Execution logs without request/response bodies: keygen responses carry private keys.
			LoggingLevel:         awsapigateway.MethodLoggingLevel_INFO,
			DataTraceEnabled:     jsii.Bool(false),
			MetricsEnabled:       jsii.Bool(true),
			TracingEnabled:       jsii.Bool(true),
			ThrottlingRateLimit:  jsii.Number(apiRateLimit),
			ThrottlingBurstLimit: jsii.Number(apiBurstLimit),
		},
	})
	// The L2 RestApi does not expose the API's own TLS settings (only a custom domain's).
	cfnAPI := a.RestAPI.Node().DefaultChild().(awsapigateway.CfnRestApi)
	cfnAPI.SetSecurityPolicy(jsii.String(tlsPolicy))
	cfnAPI.SetEndpointAccessMode(jsii.String(endpointAccessMode))

	a.Authorizer = newGoFunction(c, assets, keys.Key, functionSpec{
		name:        stack.FunctionAuthorizer,
		description: "phiguard: bearer-token authorizer",
		memoryMB:    256,
		timeout:     5 * time.Second,
		env:         map[string]*string{stack.EnvTable: data.Table.TableName()},
	})
	data.Grant(a.Authorizer, keys, false, tableLookup)
	authorizer := awsapigateway.NewRequestAuthorizer(c, jsii.String("TokenAuthorizer"), &awsapigateway.RequestAuthorizerProps{
		Handler:         a.Authorizer,
		IdentitySources: jsii.Strings(*awsapigateway.IdentitySource_Header(jsii.String("Authorization"))),
		// No caching: a revoked token stops working at once, and a policy cached for one path
		// can never be replayed against another.
		ResultsCacheTtl: awscdk.Duration_Seconds(jsii.Number(0)),
	})

	validator := a.RestAPI.AddRequestValidator(jsii.String("Validator"), &awsapigateway.RequestValidatorOptions{
		ValidateRequestBody:       jsii.Bool(true),
		ValidateRequestParameters: jsii.Bool(true),
	})
	jsonObject := a.RestAPI.AddModel(jsii.String("JSONObject"), &awsapigateway.ModelOptions{
		ContentType: jsii.String("application/json"),
		Schema: &awsapigateway.JsonSchema{
			Schema: awsapigateway.JsonSchemaVersion_DRAFT4,
			Type:   awsapigateway.JsonSchemaType_OBJECT,
		},
	})

	integrations := map[string]awsapigateway.LambdaIntegration{}
	for _, route := range slices.Concat(stack.Routes, stack.ConsoleRoutes) {
		integration, ok := integrations[route.Function]
		if !ok {
			def, known := apiFunctions[route.Function]
			if !known {
				panic("infra: stack.Routes names function " + route.Function + " that api.go does not define")
			}
			spec := def.spec
			spec.name = route.Function
			spec.env = map[string]*string{stack.EnvTable: data.Table.TableName()}
			switch route.Function {
			case stack.FunctionKeygen:
				spec.env[stack.EnvKMSKeyID] = keys.Key.KeyArn() // with the console, the API functions that use the key directly
			case stack.FunctionConsole:
				spec.env[stack.EnvKMSKeyID] = keys.Key.KeyArn()
				spec.env[stack.EnvAuditSigningKeyID] = keys.Audit.KeyArn()
				spec.env[stack.EnvLocalWebhookTargets] = jsii.String("")
			case stack.FunctionConfig:
				spec.env[stack.EnvAuditSigningKeyID] = keys.Audit.KeyArn()
				spec.env[stack.EnvKMSKeyID] = keys.Key.KeyArn() // signing secrets
				// Declared empty (no local targets) so that SAM's --env-vars can list local webhooks.
				spec.env[stack.EnvLocalWebhookTargets] = jsii.String("")
			}
			fn := newGoFunction(c, assets, keys.Key, spec)
			def.grant(fn, keys, data)
			a.Functions[route.Function] = fn
			integration = awsapigateway.NewLambdaIntegration(fn, &awsapigateway.LambdaIntegrationOptions{
				AllowTestInvoke: jsii.Bool(false),
			})
			integrations[route.Function] = integration
		}
		opts := &awsapigateway.MethodOptions{RequestValidator: validator}
		params := map[string]*bool{}
		switch route.Auth {
		case stack.AuthOperator:
			opts.AuthorizationType = awsapigateway.AuthorizationType_IAM
		case stack.AuthToken:
			opts.AuthorizationType = awsapigateway.AuthorizationType_CUSTOM
			opts.Authorizer = authorizer
			params["method.request.header.Authorization"] = jsii.Bool(true)
		case stack.AuthSession:
			// The console authenticates every request itself (its session cookie, checked with
			// the token it was opened with); an authorizer would see no bearer token.
			opts.AuthorizationType = awsapigateway.AuthorizationType_NONE
		default:
			panic("infra: route " + route.Method + " " + route.Path + " has unknown auth " + string(route.Auth))
		}
		for _, m := range pathParam.FindAllStringSubmatch(route.Path, -1) {
			params["method.request.path."+m[1]] = jsii.Bool(true)
		}
		if strings.HasSuffix(route.Path, "{proxy+}") {
			params["method.request.path.proxy"] = jsii.Bool(true)
		}
		opts.RequestParameters = &params
		if route.Method == "POST" || route.Method == "PUT" {
			opts.RequestModels = &map[string]awsapigateway.IModel{"application/json": jsonObject}
		}
		method := a.RestAPI.Root().ResourceForPath(jsii.String(route.Path)).AddMethod(jsii.String(route.Method), integration, opts)
		if route.Auth == stack.AuthSession {
			a.SessionMethods = append(a.SessionMethods, method)
		}
	}

	addGatewayResponses(a.RestAPI)
	a.WebACL = newWebACL(c, a.RestAPI, keys)
	return a
}

// addGatewayResponses answers each of stack.GatewayResponses — what API Gateway answers without
// a function: authorizer refusals, throttling, oversize bodies, unknown paths, failures — in the
// API's error envelope with the request id, as body and as X-Request-Id, and never cached.
func addGatewayResponses(api awsapigateway.RestApi) {
	for _, g := range stack.GatewayResponses {
		headers := map[string]*string{
			"X-Request-Id":           jsii.String(strings.TrimPrefix(stack.GatewayRequestIDVar, "$")),
			"Cache-Control":          jsii.String("'no-store'"),
			"X-Content-Type-Options": jsii.String("'nosniff'"),
		}
		for _, k := range slices.Sorted(maps.Keys(g.Headers)) {
			// A literal header value is single-quoted; the value must not hold a quote itself.
			headers[k] = jsii.String("'" + g.Headers[k] + "'")
		}
		opts := &awsapigateway.GatewayResponseOptions{
			Type:            awsapigateway.ResponseType_Of(jsii.String(g.Type)),
			ResponseHeaders: &headers,
			Templates:       &map[string]*string{"application/json": jsii.String(g.Body())},
		}
		if g.Status != 0 {
			opts.StatusCode = jsii.String(strconv.Itoa(g.Status))
		}
		api.AddGatewayResponse(jsii.String("Gateway"+g.Type), opts)
	}
}

var pathParam = regexp.MustCompile(`\{(\w+)\}`)

// resourcePolicy allows token routes to anyone (the authorizer decides), operator routes only to
// IAM principals of this account that an IAM policy allows (a "*" principal there would let any
// SigV4 caller in through the resource policy alone) — and, when operatorRole is set, only to
// that role's sessions — and denies requests not made over TLS.
func resourcePolicy(operatorRole string) awsiam.PolicyDocument {
	var public, operator []*string
	for _, r := range slices.Concat(stack.Routes, stack.ConsoleRoutes) {
		method := r.Method
		if method == "ANY" {
			method = "*"
		}
		arn := jsii.String("execute-api:/*/" + method + pathParam.ReplaceAllString(strings.Replace(r.Path, "{proxy+}", "*", 1), "*"))
		if r.Auth == stack.AuthOperator {
			operator = append(operator, arn)
		} else {
			public = append(public, arn)
		}
	}
	statements := []awsiam.PolicyStatement{
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("TokenRoutes"),
			Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
			Actions:    jsii.Strings("execute-api:Invoke"),
			Resources:  &public,
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("OperatorRoutes"),
			Principals: &[]awsiam.IPrincipal{awsiam.NewAccountRootPrincipal()},
			Actions:    jsii.Strings("execute-api:Invoke"),
			Resources:  &operator,
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("DenyInsecureTransport"),
			Effect:     awsiam.Effect_DENY,
			Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
			Actions:    jsii.Strings("execute-api:Invoke"),
			Resources:  jsii.Strings("execute-api:/*"),
			Conditions: &map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
		}),
	}
	if operatorRole != "" {
		// A Deny, not a condition on the Allow above: for a caller of the same account, API Gateway
		// allows what the caller's IAM policy allows unless the resource policy denies it.
		// aws:PrincipalArn of a role's session is the role's ARN; unlike a role principal, the
		// condition does not need the role to exist when the stack deploys.
		statements = append(statements, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("OperatorRoutesOnlyToTheOperatorRole"),
			Effect:     awsiam.Effect_DENY,
			Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
			Actions:    jsii.Strings("execute-api:Invoke"),
			Resources:  &operator,
			Conditions: &map[string]any{"ArnNotEquals": map[string]any{"aws:PrincipalArn": operatorRole}},
		}))
	}
	return awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{Statements: &statements})
}

// managedRuleGroups are the AWS managed rule groups the web ACL evaluates after its own rules,
// by priority, with the rules whose action is overridden to Count and why.
var managedRuleGroups = []struct {
	name      string
	countOnly map[string]string // rule -> why it only counts
}{
	{name: "AWSManagedRulesAmazonIpReputationList"},
	{name: "AWSManagedRulesKnownBadInputsRuleSet"},
	{name: "AWSManagedRulesCommonRuleSet", countOnly: map[string]string{
		// The common rule set blocks bodies over 8 KB; the API accepts up to
		// stack.MaxRequestBodyBytes (64 KB: classification and hashing updates of many fields),
		// which the BodyTooLarge rule enforces. Counting keeps the rule's metric.
		"SizeRestrictions_BODY": "the API's own limit is stack.MaxRequestBodyBytes, enforced by BodyTooLarge",
	}},
}

// newWebACL puts a regional web ACL in front of the stage: it blocks bodies larger than
// stack.MaxRequestBodyBytes (bodies beyond what WAF inspects count as too large, so the
// inspection limit, KB_64, must not be below it), clients that exceed wafRateLimit requests in
// five minutes, and what the managedRuleGroups block (addresses of bad reputation, known bad
// inputs such as Log4j probes, the OWASP-style common rules).
//
// Its log keeps blocked requests only, with the Authorization header redacted (bearer tokens
// must never be logged); WAF logs never contain request bodies.
func newWebACL(scope constructs.Construct, api awsapigateway.RestApi, keys *Keys) awswafv2.CfnWebACL {
	visibility := func(name string) *awswafv2.CfnWebACL_VisibilityConfigProperty {
		return &awswafv2.CfnWebACL_VisibilityConfigProperty{
			CloudWatchMetricsEnabled: jsii.Bool(true),
			MetricName:               jsii.String(name),
			SampledRequestsEnabled:   jsii.Bool(false), // samples would hold request data
		}
	}
	block := func(b stack.WAFBlock) *awswafv2.CfnWebACL_RuleActionProperty {
		headers := []any{&awswafv2.CfnWebACL_CustomHTTPHeaderProperty{Name: jsii.String("Cache-Control"), Value: jsii.String("no-store")}}
		for _, k := range slices.Sorted(maps.Keys(b.Headers)) {
			headers = append(headers, &awswafv2.CfnWebACL_CustomHTTPHeaderProperty{Name: jsii.String(k), Value: jsii.String(b.Headers[k])})
		}
		return &awswafv2.CfnWebACL_RuleActionProperty{Block: &awswafv2.CfnWebACL_BlockActionProperty{
			CustomResponse: &awswafv2.CfnWebACL_CustomResponseProperty{
				ResponseCode:          jsii.Number(float64(b.Status)),
				CustomResponseBodyKey: jsii.String(b.Key),
				ResponseHeaders:       &headers,
			},
		}}
	}
	bodies := map[string]any{}
	for _, b := range []stack.WAFBlock{stack.WAFBodyTooLarge, stack.WAFRateLimited} {
		bodies[b.Key] = &awswafv2.CfnWebACL_CustomResponseBodyProperty{ContentType: jsii.String("APPLICATION_JSON"), Content: jsii.String(b.Body())}
	}
	rules := []any{
		&awswafv2.CfnWebACL_RuleProperty{
			Name:             jsii.String("BodyTooLarge"),
			Priority:         jsii.Number(0),
			Action:           block(stack.WAFBodyTooLarge),
			VisibilityConfig: visibility("phiguard-body-too-large"),
			Statement: &awswafv2.CfnWebACL_StatementProperty{
				SizeConstraintStatement: &awswafv2.CfnWebACL_SizeConstraintStatementProperty{
					FieldToMatch: &awswafv2.CfnWebACL_FieldToMatchProperty{
						Body: &awswafv2.CfnWebACL_BodyProperty{OversizeHandling: jsii.String("MATCH")},
					},
					ComparisonOperator:  jsii.String("GT"),
					Size:                jsii.Number(stack.MaxRequestBodyBytes),
					TextTransformations: &[]any{&awswafv2.CfnWebACL_TextTransformationProperty{Priority: jsii.Number(0), Type: jsii.String("NONE")}},
				},
			},
		},
		&awswafv2.CfnWebACL_RuleProperty{
			Name:             jsii.String("RatePerClient"),
			Priority:         jsii.Number(1),
			Action:           block(stack.WAFRateLimited),
			VisibilityConfig: visibility("phiguard-rate-per-client"),
			Statement: &awswafv2.CfnWebACL_StatementProperty{
				RateBasedStatement: &awswafv2.CfnWebACL_RateBasedStatementProperty{
					AggregateKeyType: jsii.String("IP"),
					Limit:            jsii.Number(wafRateLimit),
				},
			},
		},
	}
	for i, g := range managedRuleGroups {
		var overrides []any
		for _, rule := range slices.Sorted(maps.Keys(g.countOnly)) {
			overrides = append(overrides, &awswafv2.CfnWebACL_RuleActionOverrideProperty{
				Name:        jsii.String(rule),
				ActionToUse: &awswafv2.CfnWebACL_RuleActionProperty{Count: map[string]any{}},
			})
		}
		statement := &awswafv2.CfnWebACL_ManagedRuleGroupStatementProperty{VendorName: jsii.String("AWS"), Name: jsii.String(g.name)}
		if len(overrides) > 0 {
			statement.RuleActionOverrides = &overrides
		}
		rules = append(rules, &awswafv2.CfnWebACL_RuleProperty{
			Name:             jsii.String(g.name),
			Priority:         jsii.Number(float64(2 + i)),
			OverrideAction:   &awswafv2.CfnWebACL_OverrideActionProperty{None: map[string]any{}},
			VisibilityConfig: visibility("phiguard-" + g.name),
			Statement:        &awswafv2.CfnWebACL_StatementProperty{ManagedRuleGroupStatement: statement},
		})
	}
	acl := awswafv2.NewCfnWebACL(scope, jsii.String("WebACL"), &awswafv2.CfnWebACLProps{
		Scope:            jsii.String("REGIONAL"),
		DefaultAction:    &awswafv2.CfnWebACL_DefaultActionProperty{Allow: map[string]any{}},
		VisibilityConfig: visibility("phiguard-api"),
		// The web ACL's own blocks answer in the API's error envelope (static: WAF has no request
		// id to give); the managed rule groups' blocks are API Gateway's WAF_FILTERED response.
		CustomResponseBodies: &bodies,
		AssociationConfig: &awswafv2.CfnWebACL_AssociationConfigProperty{
			RequestBody: &map[string]any{
				"API_GATEWAY": &awswafv2.CfnWebACL_RequestBodyAssociatedResourceTypeConfigProperty{
					DefaultSizeInspectionLimit: jsii.String("KB_64"),
				},
			},
		},
		Rules: &rules,
	})
	awswafv2.NewCfnWebACLAssociation(scope, jsii.String("WebACLAssociation"), &awswafv2.CfnWebACLAssociationProps{
		ResourceArn: api.DeploymentStage().StageArn(),
		WebAclArn:   acl.AttrArn(),
	})

	// WAF requires the log group's name to start with aws-waf-logs-. The group is retained when
	// the stack is deleted, so its name ends with the stack's creation id (creationID): a stack
	// created again under the same name gets a group of its own.
	name := awscdk.Fn_Join(jsii.String(""), jsii.Strings("aws-waf-logs-", *awscdk.Aws_STACK_NAME(), "-", *creationID()))
	awslogs.NewLogGroup(scope, jsii.String("WAFLogs"), &awslogs.LogGroupProps{
		LogGroupName:  name,
		Retention:     accessLogRetention,
		EncryptionKey: keys.Key,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	// WAF wants the group's ARN without the ":*" suffix that the LogGroup's Arn attribute has.
	arn := awscdk.Stack_Of(scope).FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("logs"),
		Resource:     jsii.String("log-group"),
		ResourceName: name,
		ArnFormat:    awscdk.ArnFormat_COLON_RESOURCE_NAME,
	})
	logging := awswafv2.NewCfnLoggingConfiguration(scope, jsii.String("WAFLogging"), &awswafv2.CfnLoggingConfigurationProps{
		ResourceArn:           acl.AttrArn(),
		LogDestinationConfigs: &[]any{arn},
		// SingleHeader and LoggingFilter are untyped JSON in CloudFormation's schema, so CDK passes
		// them through as written: CloudFormation's own (PascalCase) key names.
		RedactedFields: &[]any{&awswafv2.CfnLoggingConfiguration_FieldToMatchProperty{
			SingleHeader: map[string]any{"Name": "authorization"},
		}},
		LoggingFilter: map[string]any{
			"DefaultBehavior": "DROP",
			"Filters": []any{map[string]any{
				"Behavior":    "KEEP",
				"Requirement": "MEETS_ANY",
				"Conditions":  []any{map[string]any{"ActionCondition": map[string]any{"Action": "BLOCK"}}},
			}},
		},
	})
	logging.Node().AddDependency(scope.Node().FindChild(jsii.String("WAFLogs")))
	return acl
}
