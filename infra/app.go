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

// StackName is the CloudFormation stack, and so cdk.out/<StackName>.template.json for SAM.
const StackName = "Phiguard"

// Context keys the app reads (cdk -c key=value).
const (
	contextAssetRoot    = "phiguard:assetRoot"    // where `make build` put the binaries; default "build"
	contextPlaceholders = "phiguard:placeholders" // "true": synth with placeholder binaries (never for deploy)
	// "true": a template for `sam local` (make sam-invoke, make sam-api), whose functions declare
	// the SDK's endpoint variables, empty, so that SAM's --env-vars can point them at the
	// emulators (SAM only overrides variables a template declares). Never for deploy.
	contextSAM = "phiguard:sam"
)

// ServiceProps configures the service stack.
type ServiceProps struct {
	awscdk.StackProps
	Assets Assets
}

// Service is the whole service in one stack, split into constructs that read like the
// architecture.
type Service struct {
	Stack      awscdk.Stack
	Keys       *Keys
	Data       *Data
	API        *API
	Pipeline   *Pipeline
	Monitoring *Monitoring
}

// NewService wires the service's constructs into a new stack. It does not check the assets;
// call Assets.Prepare first.
func NewService(scope constructs.Construct, id string, props *ServiceProps) *Service {
	s := &Service{Stack: awscdk.NewStack(scope, jsii.String(id), &props.StackProps)}
	s.Keys = NewKeys(s.Stack, "Keys")
	s.Data = NewData(s.Stack, "Data", s.Keys.Key)
	s.Pipeline = NewPipeline(s.Stack, "Pipeline", props.Assets, s.Keys, s.Data)
	s.API = NewAPI(s.Stack, "API", props.Assets, s.Keys, s.Data)
	var generators []awsiam.IRole
	for _, name := range keyGenerators {
		generators = append(generators, s.API.Functions[name].Role())
	}
	s.Keys.Restrict(generators, s.Pipeline.Hashing.Role())
	s.Monitoring = NewMonitoring(s.Stack, "Monitoring", s.Keys, s.API, s.Pipeline)
	suppressFindings(s)
	return s
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

// declareEndpointVars declares stack.EndpointVars, empty, on every function. The SDK treats an
// empty endpoint variable as unset, so the functions would still talk to AWS.
func (s *Service) declareEndpointVars() {
	for _, fn := range s.functions() {
		for _, name := range stack.EndpointVars {
			fn.AddEnvironment(jsii.String(name), jsii.String(""), nil)
		}
	}
}

// newApp builds the app as `cdk synth` and the tests see it: the assets are checked (and, when
// the context allows it, placeholders written), the stack built, and the cdk-nag packs applied.
// It returns the assets' error when a binary is missing and placeholders are not allowed.
func newApp(app awscdk.App) (*Service, error) {
	assets := Assets{Root: "build", AllowPlaceholders: contextBool(app, contextPlaceholders)}
	if root, ok := app.Node().TryGetContext(jsii.String(contextAssetRoot)).(string); ok && root != "" {
		assets.Root = root
	}
	placeholders, err := assets.Prepare(stack.Functions)
	if err != nil {
		return nil, err
	}
	svc := NewService(app, StackName, &ServiceProps{Assets: assets})
	if contextBool(app, contextSAM) {
		svc.declareEndpointVars()
	}
	for _, name := range placeholders {
		awscdk.Annotations_Of(svc.Stack).AddWarningV2(jsii.String("phiguard:placeholder-asset"),
			jsii.String(fmt.Sprintf("functions/%s is not built; its asset is a placeholder that fails when invoked (do not deploy)", name)), nil)
	}
	applyChecks(app)
	return svc, nil
}

// contextBool reads a boolean context value, given either as JSON (cdk.json, tests) or as the
// string the CLI's -c flag passes.
func contextBool(app awscdk.App, key string) bool {
	switch v := app.Node().TryGetContext(jsii.String(key)).(type) {
	case bool:
		return v
	case string:
		return v == "true"
	}
	return false
}
