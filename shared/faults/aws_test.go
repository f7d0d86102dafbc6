package faults_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/faults"
)

// An injected fault reaches the caller as the service's own error after the SDK retried it, is
// limited to its service and operations, and outages fail every attempt while they last; the
// calls the injector lets through reach the real emulator.
func TestAWSFaultsFailAttemptsAsTheServiceWould(t *testing.T) {
	c := awstest.Clients(t)
	ctx := context.Background()

	inj := faults.NewAWS(1,
		faults.AWSFault{Service: "KMS", Operations: []string{"ListKeys"}, Code: "ThrottlingException", Status: 400, Rate: 1},
		faults.AWSFault{Service: "SQS", Operations: []string{"ListQueues"}, Code: "InternalError", Status: 500, Rate: 1},
	)
	cfg := c.Config.Copy()
	inj.Attach(&cfg)
	client := kms.NewFromConfig(cfg)

	_, err := client.ListKeys(ctx, &kms.ListKeysInput{})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "ThrottlingException" {
		t.Fatalf("ListKeys: %v, want the injected ThrottlingException", err)
	}
	if got := inj.Attempts()["KMS.ListKeys"]; got != retry.DefaultMaxAttempts {
		t.Errorf("ListKeys was attempted %d times, want the SDK's %d (a throttle is retried)", got, retry.DefaultMaxAttempts)
	}
	_, err = sqs.NewFromConfig(cfg).ListQueues(ctx, &sqs.ListQueuesInput{})
	var status interface{ HTTPStatusCode() int }
	if !errors.As(err, &status) || status.HTTPStatusCode() != 500 || !errors.As(err, &api) || api.ErrorCode() != "InternalError" {
		t.Fatalf("ListQueues: %v, want the injected 500 InternalError", err)
	}
	if got := inj.Attempts()["SQS.ListQueues"]; got != retry.DefaultMaxAttempts {
		t.Errorf("ListQueues was attempted %d times, want %d (a 500 is retried)", got, retry.DefaultMaxAttempts)
	}
	// Another operation of the service is not touched and reaches local-kms.
	if _, err := client.ListAliases(ctx, &kms.ListAliasesInput{}); err != nil {
		t.Fatalf("ListAliases: %v, want it let through", err)
	}
	want := map[string]int{"KMS.ListKeys ThrottlingException": 3, "SQS.ListQueues InternalError": 3}
	if got := inj.Injected(); len(got) != len(want) || got["KMS.ListKeys ThrottlingException"] != 3 || got["SQS.ListQueues InternalError"] != 3 {
		t.Errorf("Injected() = %v, want %v", got, want)
	}

	// A rate of 0 with an outage: every attempt in the outage fails, none after it.
	out := faults.NewAWS(2, faults.AWSFault{Service: "KMS", Code: "KMSInternalException", Status: 500, Every: time.Hour, For: 300 * time.Millisecond})
	ocfg := c.Config.Copy()
	ocfg.RetryMaxAttempts = 1
	out.Attach(&ocfg)
	oc := kms.NewFromConfig(ocfg)
	if _, err := oc.ListKeys(ctx, &kms.ListKeysInput{}); !errors.As(err, &api) || api.ErrorCode() != "KMSInternalException" {
		t.Fatalf("ListKeys during the outage: %v, want KMSInternalException", err)
	}
	time.Sleep(400 * time.Millisecond)
	if _, err := oc.ListKeys(ctx, &kms.ListKeysInput{}, func(o *kms.Options) { o.RetryMaxAttempts = 1 }); err != nil {
		t.Fatalf("ListKeys after the outage: %v", err)
	}

	// A random rate fails about that share of attempts, repeatably for a seed.
	share := func(seed uint64) int {
		r := faults.NewAWS(seed, faults.AWSFault{Service: "KMS", Code: "ThrottlingException", Status: 400, Rate: 0.3})
		rc := c.Config.Copy()
		rc.Retryer = func() aws.Retryer { return aws.NopRetryer{} }
		r.Attach(&rc)
		k := kms.NewFromConfig(rc)
		for range 100 {
			_, _ = k.ListAliases(ctx, &kms.ListAliasesInput{})
		}
		return r.Injected()["KMS.ListAliases ThrottlingException"]
	}
	n := share(7)
	if n < 15 || n > 45 {
		t.Errorf("a rate of 0.3 failed %d of 100 attempts", n)
	}
	if again := share(7); again != n {
		t.Errorf("the same seed failed %d then %d attempts", n, again)
	}
}
