// Package awstest connects integration tests to the local AWS emulators (moto for DynamoDB,
// SQS and SNS; local-kms for KMS) that `make test` starts through scripts/emulators.
//
// An integration test calls [Clients]. When the emulators' endpoints are not in the
// environment the test fails with a message that says how to start them; only `go test
// -short` skips integration tests, and `make test` never passes -short. Endpoints must be on
// the loopback interface, so a stray environment can never point a test at a real AWS
// account. [NewAccount] is a customer's account in the emulators, for the AWS destinations'
// cross-account tests; [Queue] a queue the test owns, and [Receive] what it holds.
package awstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/url"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/phiguard/phiguard/shared/awsclient"
	"github.com/phiguard/phiguard/shared/stack"
)

// EndpointVars are the SDK variables that must point at the emulators.
var EndpointVars = stack.EndpointVars

// Clients returns SDK clients wired to the emulators. It skips the test under -short and
// fails it when an endpoint variable is missing or does not name a loopback address.
func Clients(t testing.TB) *awsclient.Clients {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs the AWS emulators (run without -short, e.g. `make test`)")
	}
	for _, name := range EndpointVars {
		if err := checkLoopback(os.Getenv(name)); err != nil {
			t.Fatalf("%s: %v; run the tests through `make test`, or `go run ./scripts/emulators -- go test ./...`", name, err)
		}
	}
	c, err := awsclient.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func checkLoopback(endpoint string) error {
	if endpoint == "" {
		return errors.New("not set: the AWS emulators are not running")
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return errors.New("not a URL")
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return errors.New("not a loopback endpoint; integration tests refuse to touch anything but the local emulators")
}

// UniqueName returns prefix followed by a random suffix, so tests sharing one emulator never
// see each other's tables, queues or topics.
func UniqueName(prefix string) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return prefix + "-" + hex.EncodeToString(b[:])
}

// CreateRole creates an IAM role named name on path (such as "/phiguard-delivery/") in moto, in the
// account of c's credentials, with trust as its trust policy, and returns its ARN. moto serves
// IAM on the same address as STS, so the client is pointed at AWS_ENDPOINT_URL_STS (checked to
// be on the loopback interface by Clients); scripts/emulators' moto refuses AssumeRole with an
// external id that such a trust policy's sts:ExternalId condition does not name, as AWS does.
func CreateRole(t testing.TB, c *awsclient.Clients, path, name, trust string) string {
	t.Helper()
	client := iam.NewFromConfig(c.Config, func(o *iam.Options) { o.BaseEndpoint = aws.String(os.Getenv("AWS_ENDPOINT_URL_STS")) })
	res, err := client.CreateRole(context.Background(), &iam.CreateRoleInput{
		RoleName: aws.String(name), Path: aws.String(path), AssumeRolePolicyDocument: aws.String(trust),
	})
	if err != nil {
		t.Fatalf("create role %s%s: %v", path, name, err)
	}
	return aws.ToString(res.Role.Arn)
}
