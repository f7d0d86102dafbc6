// Package fn is what every function's wiring shares: its environment at cold start, the JSON
// logger, the AWS configuration, and Main, the one entry point of every functions/<name>/main.go.
//
// Each function has one builder, in the package shared/fn/<name>fn, that turns an *Env into its
// handler: the Lambda main calls it through Main, the local dev server and the tests call it
// directly — so a function is wired once. A builder fails, naming the variable, when the
// environment is incomplete, and makes no network call.
package fn

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/phiguard/phiguard/shared/awsconfig"
	"github.com/phiguard/phiguard/shared/catalog"
	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/jsonlog"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

// Authenticator names the caller of an API request (httpapi.Authenticator, declared again here
// so that functions outside the API need not link the HTTP glue).
type Authenticator interface {
	Authenticate(r *http.Request, kind stack.Auth) (phi.Actor, error)
}

// Env is a function's environment at cold start.
type Env struct {
	// Getenv reads an environment variable (os.Getenv in Lambda).
	Getenv func(string) string
	// Stdout receives the JSON log and the EMF metrics (os.Stdout in Lambda); nil discards.
	Stdout io.Writer

	// The rest is for the local dev server and tests; Lambda leaves it unset.

	// AWS is the SDK configuration; awsconfig.Load's when nil.
	AWS *aws.Config
	// Logger replaces the logger built from Stdout and stack.EnvLogLevel.
	Logger *slog.Logger
	// Auth authenticates API requests in place of API Gateway's (httpapi.Gateway).
	Auth Authenticator
	// TLSConfig is the delivery function's TLS client configuration (to trust a local
	// receiver); the system's roots when nil.
	TLSConfig *tls.Config
}

// Require returns the value of variable name, or an error naming it and what it holds.
func (e *Env) Require(name, what string) (string, error) {
	v := e.Getenv(name)
	if v == "" {
		return "", fmt.Errorf("environment variable %s (%s) is not set", name, what)
	}
	return v, nil
}

// AssumingRoles returns the service's roles that assume customers' destination roles
// (stack.EnvAssumingRoleARNs, optional: none when unset), the principals of the trust policies
// the API and the console show; it fails naming the variable when an entry is not an IAM role ARN.
func (e *Env) AssumingRoles() ([]string, error) {
	roles, err := catalog.ParsePrincipals(e.Getenv(stack.EnvAssumingRoleARNs))
	if err != nil {
		return nil, fmt.Errorf("environment variable %s (the service's roles that assume customer roles): %w", stack.EnvAssumingRoleARNs, err)
	}
	return roles, nil
}

// Table returns the DynamoDB table name (stack.EnvTable), which every function needs.
func (e *Env) Table() (string, error) { return e.Require(stack.EnvTable, "the DynamoDB table name") }

// Log returns the function's logger: e.Logger, or a JSON logger on Stdout at the level of
// stack.EnvLogLevel (an error naming the variable when it is not a level).
func (e *Env) Log() (*slog.Logger, error) {
	if e.Logger != nil {
		return e.Logger, nil
	}
	w := e.Stdout
	if w == nil {
		w = io.Discard
	}
	logger, err := jsonlog.New(w, e.Getenv(stack.EnvLogLevel))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", stack.EnvLogLevel, err)
	}
	return logger, nil
}

// Config returns the AWS SDK configuration: e.AWS, or awsconfig.Load's.
func (e *Env) Config(ctx context.Context) (aws.Config, error) {
	if e.AWS != nil {
		return *e.AWS, nil
	}
	return awsconfig.Load(ctx)
}

// Main is the whole of a function's main: it builds the handler once with build, from the
// process environment, and hands it to the Lambda runtime. A build error is printed on stderr,
// prefixed with the function's name, and ends the process with status 1, which Lambda reports
// as a failed cold start.
func Main[H any](name string, build func(context.Context, *Env) (H, error)) {
	h, err := build(context.Background(), &Env{Getenv: os.Getenv, Stdout: os.Stdout})
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
	lambda.Start(h)
}

// Var is an environment variable a function requires: its name, what it holds (for the error)
// and, for a secret, the least number of bytes it must hold.
type Var struct {
	Name, What string
	MinLen     int
}

// Base is what every function starts from: its logger, its AWS configuration, the store of its
// table and the values of the variables it requires.
type Base struct {
	Logger *slog.Logger
	AWS    aws.Config
	Store  *dynamo.Store
	Vars   map[string]string
}

// Base reads the logger, the table, the required variables and the AWS configuration, failing as
// Log, Table, Require and Config do, in that order.
func (e *Env) Base(ctx context.Context, required ...Var) (*Base, error) {
	logger, err := e.Log()
	if err != nil {
		return nil, err
	}
	table, err := e.Table()
	if err != nil {
		return nil, err
	}
	vars := make(map[string]string, len(required))
	for _, v := range required {
		if vars[v.Name], err = e.Require(v.Name, v.What); err != nil {
			return nil, err
		}
		if len(vars[v.Name]) < v.MinLen {
			return nil, fmt.Errorf("environment variable %s (%s) must hold at least %d bytes", v.Name, v.What, v.MinLen)
		}
	}
	cfg, err := e.Config(ctx)
	if err != nil {
		return nil, err
	}
	return &Base{Logger: logger, AWS: cfg, Store: dynamo.New(dynamodb.NewFromConfig(cfg), table), Vars: vars}, nil
}
