package main

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/phiguard/phiguard/shared/stack"
)

// functionLogRetention keeps function logs for a year. The functions log ids and counts, never
// PHI, so the HIPAA six-year retention that applies to the audit log (kept in DynamoDB) does not
// apply to them; a year covers incident investigation.
const functionLogRetention = awslogs.RetentionDays_ONE_YEAR

// placeholderMarker starts every placeholder bootstrap, so a deploy can recognise and refuse one.
// It begins with the ELF magic number so that `go build -o build/<name>/bootstrap` treats the
// file as an earlier build output and overwrites it (Go refuses to overwrite any other file);
// it is not a valid executable, so invoking a placeholder fails.
const placeholderMarker = "\x7fELF\n# phiguard placeholder bootstrap"

// Assets locates the Lambda binaries that `make build` writes to <Root>/<function>/bootstrap.
// The CDK app never compiles Go itself ("bundling turned off"): the Makefile builds with the
// deploy flags, and the app packages each directory as a directory asset, which is also what
// `sam local` reads through the template's aws:asset:path metadata.
type Assets struct {
	Root string // directory holding one folder per function, normally "build"
	// AllowPlaceholders lets Prepare create a placeholder bootstrap for a function that has not
	// been built (synth, lint and tests only). A deploy leaves it false and fails instead.
	AllowPlaceholders bool
	// Architecture is what the binaries are built for and the functions run on: "arm64" (the
	// default, `make build`) or "x86_64" (SAM mode on x86 hosts, `make build GOARCH_LAMBDA=amd64`).
	Architecture string
}

// lambdaArchitecture returns the functions' architecture.
func (a Assets) lambdaArchitecture() awslambda.Architecture {
	if a.Architecture == "x86_64" {
		return awslambda.Architecture_X86_64()
	}
	return awslambda.Architecture_ARM_64()
}

// elfMachines maps an architecture to the ELF machine of its binaries.
var elfMachines = map[string]elf.Machine{"": elf.EM_AARCH64, "arm64": elf.EM_AARCH64, "x86_64": elf.EM_X86_64}

// checkMachine returns an error when bootstrap is an ELF executable for another machine than
// want; a file it cannot parse as ELF passes (Lambda will reject it).
func checkMachine(bootstrap, want string) error {
	f, err := elf.Open(bootstrap)
	if err != nil {
		return nil
	}
	defer f.Close()
	if m, ok := elfMachines[want]; ok && f.Machine != m {
		return fmt.Errorf("%s is built for %v, but the functions run on %s: run `make build` (or, for SAM on x86, `make build GOARCH_LAMBDA=amd64` with the same GOARCH_LAMBDA for the SAM target)",
			bootstrap, f.Machine, want)
	}
	return nil
}

// Dir returns the asset directory of the named function.
func (a Assets) Dir(function string) string { return filepath.Join(a.Root, function) }

// Prepare checks that every named function has a bootstrap built for Architecture. With
// AllowPlaceholders it writes a placeholder bootstrap (not executable; it names the function and
// `make build`) for each missing one, only inside Root. It returns an error naming a binary built
// for another architecture, an error naming every missing or placeholder binary when placeholders
// are not allowed, and the file system's error when a placeholder cannot be written.
func (a Assets) Prepare(functions []string) (placeholders []string, err error) {
	var missing []string
	for _, name := range functions {
		bootstrap := filepath.Join(a.Dir(name), "bootstrap")
		head, err := readHead(bootstrap, len(placeholderMarker))
		switch {
		case err == nil && !bytes.Equal(head, []byte(placeholderMarker)):
			if err := checkMachine(bootstrap, a.Architecture); err != nil {
				return nil, err
			}
			continue // a real binary
		case err == nil && a.AllowPlaceholders:
			placeholders = append(placeholders, name)
			continue // a placeholder written earlier
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("check asset %s: %w", bootstrap, err)
		}
		if !a.AllowPlaceholders {
			missing = append(missing, bootstrap)
			continue
		}
		if err := writePlaceholder(bootstrap, name); err != nil {
			return nil, err
		}
		placeholders = append(placeholders, name)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("lambda binaries missing or placeholders: %s; run `make build` (every functions/<name> must exist), "+
			"or use the make targets, which build them or, where synthesis only finds the environment (make cdk-bootstrap, make destroy), do without",
			strings.Join(missing, ", "))
	}
	return placeholders, nil
}

func readHead(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, n)
	read, err := f.Read(buf)
	if err != nil && read == 0 {
		return []byte{}, nil // an empty file is not a placeholder; Lambda will reject it
	}
	return buf[:read], nil
}

func writePlaceholder(bootstrap, name string) error {
	if err := os.MkdirAll(filepath.Dir(bootstrap), 0o755); err != nil {
		return fmt.Errorf("create placeholder asset directory for %s: %w", name, err)
	}
	script := placeholderMarker + ": functions/" + name + " has not been built; run make build\n"
	if err := os.WriteFile(bootstrap, []byte(script), 0o755); err != nil {
		return fmt.Errorf("write placeholder bootstrap for %s: %w", name, err)
	}
	return nil
}

// functionSpec is what differs between the service's Go functions.
type functionSpec struct {
	name        string // one of stack.Functions
	description string
	memoryMB    float64
	timeout     time.Duration
	env         map[string]*string // resource names, keyed by stack.Env* names; never a secret
}

// newGoFunction builds one Go Lambda from its built bootstrap: provided.al2023 on arm64 (x86_64
// in SAM mode when asked), X-Ray active tracing, JSON logs to its own encrypted log group with a retention period.
func newGoFunction(scope constructs.Construct, assets Assets, key awskms.IKey, spec functionSpec) awslambda.Function {
	id := constructID(spec.name)
	logGroup := awslogs.NewLogGroup(scope, jsii.String(id+"Logs"), &awslogs.LogGroupProps{
		Retention:     functionLogRetention,
		EncryptionKey: key,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	// An own role instead of AWSLambdaBasicExecutionRole, whose logs:* on "*" is more than a
	// function with its own log group needs.
	role := awsiam.NewRole(scope, jsii.String(id+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("phiguard " + spec.name + " function"),
	})
	logGroup.GrantWrite(role)
	env := map[string]*string{stack.EnvLogLevel: jsii.String("info")}
	for k, v := range spec.env {
		env[k] = v
	}
	props := &awslambda.FunctionProps{
		Description:           jsii.String(spec.description),
		Runtime:               awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:          assets.lambdaArchitecture(),
		Handler:               jsii.String("bootstrap"),
		Role:                  role,
		Code:                  awslambda.Code_FromAsset(jsii.String(assets.Dir(spec.name)), nil),
		MemorySize:            jsii.Number(spec.memoryMB),
		Timeout:               awscdk.Duration_Seconds(jsii.Number(spec.timeout.Seconds())),
		LogGroup:              logGroup,
		LoggingFormat:         awslambda.LoggingFormat_JSON,
		ApplicationLogLevelV2: awslambda.ApplicationLogLevel_INFO,
		SystemLogLevelV2:      awslambda.SystemLogLevel_WARN,
		Tracing:               awslambda.Tracing_ACTIVE,
		Environment:           &env,
	}
	return awslambda.NewFunction(scope, jsii.String(id), props)
}

// constructID turns a function name ("keygen") into a construct id ("Keygen").
func constructID(name string) string {
	if name == "" {
		return name
	}
	return strings.ToUpper(name[:1]) + name[1:]
}
