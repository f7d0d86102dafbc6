// Package fntest is what the tests of the function builders (shared/fn/<name>fn) share: an
// environment from a map, a cold-start table runner, a DynamoDB table in the emulator seeded as
// the sample events expect, the sample events themselves, and a log buffer the handlers may
// write to concurrently. Only tests import it.
package fntest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/fn"
	"github.com/phiguard/phiguard/shared/httpapi"
	"github.com/phiguard/phiguard/shared/logtest"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

// The ids and the owner's token secret that the sample events in events/ refer to.
const (
	WorkspaceID   = "ws_00000000000000000000000001"
	OwnerTokenID  = "tok_00000000000000000000000001"
	SourceID      = "src_00000000000000000000000001"
	DestinationID = "dst_00000000000000000000000001"
	TokenSecret   = "phit_sample-token-for-local-testing-only-000000"
)

// EventsDir is the folder of the sample events, relative to a builder's package directory
// (shared/fn/<name>fn), where go test runs its tests.
const EventsDir = "../../../events"

// Vars is a function's environment, by variable name; a variable it lacks reads as "".
type Vars map[string]string

// With returns a copy of v in which name holds value ("" unsets it).
func (v Vars) With(name, value string) Vars {
	c := make(Vars, len(v)+1)
	for k, x := range v {
		c[k] = x
	}
	if value == "" {
		delete(c, name)
	} else {
		c[name] = value
	}
	return c
}

// Env returns the function environment reading v, logging to stdout (nil discards).
func (v Vars) Env(stdout io.Writer) *fn.Env {
	return &fn.Env{Getenv: func(k string) string { return v[k] }, Stdout: stdout}
}

// Build builds a function's handler from vars, logging to stdout, and fails the test when the
// builder fails.
func Build[H any](t testing.TB, build func(context.Context, *fn.Env) (H, error), vars Vars, stdout io.Writer) H {
	t.Helper()
	h, err := build(t.Context(), vars.Env(stdout))
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return h
}

// ColdStart is a case of a failed cold start: the builder, given Env, must fail with an error
// that names the variable Want and does not quote Secret.
type ColdStart struct {
	Name   string
	Env    Vars
	Want   string
	Secret string
}

// RunColdStarts runs, as sub-tests of t against build, the case every function shares — an
// empty environment fails naming stack.EnvTable, the table every function needs — and cases.
func RunColdStarts[H any](t *testing.T, build func(context.Context, *fn.Env) (H, error), cases ...ColdStart) {
	t.Helper()
	cases = append([]ColdStart{{Name: "empty environment", Env: Vars{}, Want: stack.EnvTable}}, cases...)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			_, err := build(t.Context(), c.Env.Env(&bytes.Buffer{}))
			if err == nil || !strings.Contains(err.Error(), c.Want) {
				t.Fatalf("err = %v, want it to name %s", err, c.Want)
			}
			if c.Secret != "" && strings.Contains(err.Error(), c.Secret) {
				t.Fatal("the error quotes a secret of the environment")
			}
		})
	}
}

// Table creates a DynamoDB table in the emulator, deleted when the test ends, and returns its
// store and name. It fails the test (skips it under -short) as awstest.Clients does.
func Table(t testing.TB) (*dynamo.Store, string) {
	t.Helper()
	client := awstest.Clients(t).DynamoDB
	name := awstest.UniqueName("fn")
	if err := dynamo.CreateTable(t.Context(), client, name); err != nil {
		t.Fatal(err)
	}
	// t.Context is done before cleanups run.
	t.Cleanup(func() {
		_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	return dynamo.New(client, name), name
}

// KMSKey creates a symmetric key in the KMS emulator (local-kms) and returns its id, for the
// functions that generate keys or signing secrets under the service's key.
func KMSKey(t testing.TB) string {
	t.Helper()
	out, err := awstest.Clients(t).KMS.CreateKey(t.Context(), &kms.CreateKeyInput{Description: aws.String("function test key")})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.KeyMetadata.KeyId)
}

// Seed creates ws in store as the sample events expect it: with an owner token OwnerTokenID
// whose secret is TokenSecret, and a source SourceID named "web". It returns the owner token.
func Seed(t testing.TB, store *dynamo.Store, ws *phi.Workspace) *phi.Token {
	t.Helper()
	owner := &phi.Token{ID: OwnerTokenID, Name: "owner", Role: phi.RoleOwner}
	if err := store.CreateWorkspace(t.Context(), ws, owner, phi.HashToken(TokenSecret)); err != nil {
		t.Fatal(err)
	}
	if err := store.CreateSource(t.Context(), &phi.Source{ID: SourceID, WorkspaceID: ws.ID, Name: "web"}); err != nil {
		t.Fatal(err)
	}
	return owner
}

// Event decodes the sample event file of EventsDir into an E (an aws-lambda-go event type).
func Event[E any](t testing.TB, file string) E {
	t.Helper()
	var ev E
	raw, err := os.ReadFile(filepath.Join(EventsDir, file))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return ev
}

// Invoke runs the proxy event ev through h and fails the test unless h answers it, without an
// invocation error, with status.
func Invoke(t testing.TB, h httpapi.LambdaHandler, ev events.APIGatewayProxyRequest, status int) events.APIGatewayProxyResponse {
	t.Helper()
	resp, err := h(t.Context(), ev)
	if err != nil || resp.StatusCode != status {
		t.Fatalf("%s %s: status %d (want %d), err %v: %s", ev.HTTPMethod, ev.Path, resp.StatusCode, status, err, resp.Body)
	}
	return resp
}

// Log is a buffer for a function's log and metrics that its handler may write from several
// goroutines at once.
type Log = logtest.Buffer
