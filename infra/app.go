package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/phiguard/phiguard/shared/stack"
)

// StackName is the default CloudFormation stack, and so cdk.out/<StackName>.template.json for
// SAM; a stage (Settings.Stage) deploys StackName-<stage> beside it.
const StackName = "Phiguard"

// ServiceProps configures the service stack.
type ServiceProps struct {
	awscdk.StackProps
	Assets   Assets
	Settings Settings
}

// Service is the whole service in one stack, split into constructs that read like the
// architecture.
type Service struct {
	Stack      awscdk.Stack
	Keys       *Keys
	Data       *Data
	API        *API
	Pipeline   *Pipeline
	Access     *Access
	Monitoring *Monitoring
}

// NewService wires the service's constructs into a new stack. It does not check the assets;
// call Assets.Prepare first.
func NewService(scope constructs.Construct, id string, props *ServiceProps) *Service {
	s := &Service{Stack: awscdk.NewStack(scope, jsii.String(id), &props.StackProps)}
	// Every resource carries the stack's name, so what a `cdk destroy` retains can be found
	// afterwards (docs/OPERATING.md, "Destroy, redeploy, clean up").
	awscdk.Tags_Of(s.Stack).Add(jsii.String(stackTag), jsii.String(id), nil)
	s.Keys = NewKeys(s.Stack, "Keys")
	s.Data = NewData(s.Stack, "Data", s.Keys.Key)
	s.Pipeline = NewPipeline(s.Stack, "Pipeline", props.Assets, s.Keys, s.Data)
	s.API = NewAPI(s.Stack, "API", props.Assets, s.Keys, s.Data, props.Settings.OperatorRoleARN)
	// The config function's routes and the console's destination pages count and replay dead letters.
	for _, name := range []string{stack.FunctionConfig, stack.FunctionConsole} {
		s.Pipeline.GrantDeadLetters(s.API.Functions[name], s.Keys)
	}
	users := KeyUsers{Hashing: s.Pipeline.Hashing.Role(), Delivery: s.Pipeline.Delivery.Role()}
	for _, name := range keyGenerators {
		users.Keygen = append(users.Keygen, s.API.Functions[name].Role())
	}
	for _, name := range signingSecretGenerators {
		users.Signers = append(users.Signers, s.API.Functions[name].Role())
	}
	s.Keys.Restrict(users)
	var signers []awsiam.IRole
	for _, name := range auditSigners {
		signers = append(signers, s.API.Functions[name].Role())
	}
	s.Keys.RestrictAuditSigning(signers)
	grantDestinationAccess(s)
	s.Access = NewAccess(s.Stack, "Access", s.Keys, s.API, s.Pipeline)
	s.Monitoring = NewMonitoring(s.Stack, "Monitoring", s.Keys, s.API, s.Pipeline, props.Settings.AlarmEmails)
	s.outputs()
	suppressFindings(s)
	return s
}

// stackTag is the tag every resource carries, with the stack's name as its value.
const stackTag = "phiguard:stack"

// creationID returns, as a CloudFormation expression, the first 8 hex digits of the GUID in
// AWS::StackId: a value fixed for the life of a stack and new for every stack created, even
// under the same name. Retained resources that need a physical name end with it, so that a
// stack created again after `cdk destroy`, or a second stage, never collides with a name that
// an earlier stack left behind.
func creationID() *string {
	guid := awscdk.Fn_Select(jsii.Number(2), awscdk.Fn_Split(jsii.String("/"), awscdk.Aws_STACK_ID(), nil))
	return awscdk.Fn_Select(jsii.Number(0), awscdk.Fn_Split(jsii.String("-"), guid, nil))
}

// functions returns every function of the service by its stack.Functions name.
func (s *Service) functions() map[string]awslambda.Function {
	fns := map[string]awslambda.Function{
		stack.FunctionAuthorizer: s.API.Authorizer,
		stack.FunctionHashing:    s.Pipeline.Hashing,
		stack.FunctionDelivery:   s.Pipeline.Delivery,
	}
	for name, fn := range s.API.Functions {
		fns[name] = fn
	}
	return fns
}

// prepareForSAM makes the template one that `sam local` runs well:
//   - every function declares stack.EndpointVars, empty, so that SAM's --env-vars can point them
//     at the emulators (the SDK treats an empty endpoint variable as unset, so the functions
//     would still talk to AWS);
//   - every function has the short SamResourceId of its construct ("Config", "Hashing", …), so
//     `sam local invoke Config` works, and every other resource its logical id (as known before
//     synthesis: a deployment's hash suffix is added later), so that SAM does not warn about
//     each resource whose CDK path it cannot read an id from.
func (s *Service) prepareForSAM() {
	functions := map[string]string{} // CloudFormation path -> short id
	for name, fn := range s.functions() {
		for _, v := range stack.EndpointVars {
			fn.AddEnvironment(jsii.String(v), jsii.String(""), nil)
		}
		functions[*fn.Node().DefaultChild().(awscdk.CfnResource).Node().Path()] = constructID(name)
	}
	for _, c := range *s.Stack.Node().FindAll(constructs.ConstructOrder_PREORDER) {
		res, ok := c.(awscdk.CfnResource)
		if !ok || !*awscdk.CfnResource_IsCfnResource(c) {
			continue
		}
		id, ok := functions[*res.Node().Path()]
		if !ok {
			id = *s.Stack.GetLogicalId(res)
		}
		res.AddMetadata(jsii.String("SamResourceId"), id)
	}
}

// newApp builds the app as `cdk synth` and the tests see it: the settings are read from the
// context and checked, the assets checked (and, when the context allows it, placeholders
// written), the stack built, and the cdk-nag packs applied. It returns the settings' error when
// a context value is invalid, and the assets' error when a binary is built for another
// architecture, or is missing and placeholders are not allowed.
func newApp(app awscdk.App) (*Service, error) {
	ctx, _ := app.Node().GetAllContext(nil).(map[string]any)
	settings, err := parseSettings(ctx)
	if err != nil {
		return nil, err
	}
	assets := Assets{Root: settings.AssetRoot, AllowPlaceholders: settings.Placeholders, Architecture: settings.Architecture}
	placeholders, err := assets.Prepare(stack.Functions)
	if err != nil {
		return nil, err
	}
	props := &ServiceProps{Assets: assets, Settings: settings}
	if settings.Account != "" || settings.Region != "" {
		props.Env = &awscdk.Environment{}
		if settings.Account != "" {
			props.Env.Account = jsii.String(settings.Account)
		}
		if settings.Region != "" {
			props.Env.Region = jsii.String(settings.Region)
		}
	}
	props.Description = jsii.String("phiguard: PHI field protection (" + settings.StackName() + ")")
	svc := NewService(app, settings.StackName(), props)
	if settings.SAM {
		svc.prepareForSAM()
	}
	for _, name := range placeholders {
		awscdk.Annotations_Of(svc.Stack).AddWarningV2(jsii.String("phiguard:placeholder-asset"),
			jsii.String(fmt.Sprintf("functions/%s is not built; its asset is a placeholder that fails when invoked (do not deploy)", name)), nil)
	}
	applyChecks(app)
	return svc, nil
}
