package deliveryfn_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/fn/deliveryfn"
	"github.com/phiguard/phiguard/shared/fn/fntest"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
	"github.com/phiguard/phiguard/shared/webhook"
)

const signingKey = "sample-signing-key-for-local-tests-only-0000000000"

// The sample SNS-to-SQS batch in events/delivery-sqs-webhook-batch.json runs through the real
// wiring: the copies are POSTed, signed, to the destination's URL (a local receiver, listed as a
// local target), with the key from the local-only variable and, as deployed, from a Secrets
// Manager secret (moto's) named by its ARN.
func TestSampleBatchIsDeliveredSigned(t *testing.T) {
	arn := createSecret(t, signingKey)
	for name, key := range map[string]fntest.Vars{
		"literal key (local only)": {stack.EnvWebhookSigningKey: signingKey},
		"key from Secrets Manager": {stack.EnvWebhookSigningKeySecretARN: arn},
	} {
		t.Run(name, func(t *testing.T) { deliverSampleBatch(t, key) })
	}
}

func deliverSampleBatch(t *testing.T, key fntest.Vars) {
	var mu sync.Mutex
	var verified []error
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		verified = append(verified, webhook.Verify([]byte(signingKey), r.Header.Get(webhook.HeaderTimestamp), r.Header.Get(webhook.HeaderSignature), body, time.Now(), 0))
		mu.Unlock()
	}))
	defer srv.Close()
	store, table := fntest.Table(t)
	ws := &phi.Workspace{ID: fntest.WorkspaceID, Name: "Sample", Tier: phi.TierBusiness, BAA: phi.BAA{Signed: true}}
	fntest.Seed(t, store, ws)
	if err := store.CreateDestination(t.Context(), &phi.Destination{ID: fntest.DestinationID, WorkspaceID: ws.ID,
		SourceID: fntest.SourceID, Name: "hook", Type: phi.DestinationWebhook, Enabled: true,
		Settings: phi.DestinationSettings{URL: srv.URL + "/phi"}}); err != nil {
		t.Fatal(err)
	}
	q := newQueues(t)
	env := fntest.Vars{stack.EnvTable: table, stack.EnvLocalWebhookTargets: srv.Listener.Addr().String(),
		stack.EnvDeliveryQueueURL: q.url, stack.EnvDeliveryDLQURL: q.dlq}
	for k, v := range key {
		env[k] = v
	}
	h := fntest.Build(t, deliveryfn.Build, env, &fntest.Log{})
	ev := fntest.Event[events.SQSEvent](t, "delivery-sqs-webhook-batch.json")
	resp, err := h(t.Context(), ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("resp %+v err %v", resp, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(verified) != len(ev.Records) {
		t.Fatalf("receiver got %d requests, want %d", len(verified), len(ev.Records))
	}
	for _, v := range verified {
		if v != nil {
			t.Errorf("delivery does not verify: %v", v)
		}
	}
}

func TestColdStartFailsClearlyOnBadEnvironment(t *testing.T) {
	queues := fntest.Vars{stack.EnvTable: "t", stack.EnvDeliveryQueueURL: "https://sqs.example/q", stack.EnvDeliveryDLQURL: "https://sqs.example/dlq"}
	fntest.RunColdStarts(t, deliveryfn.Build,
		fntest.ColdStart{Name: "no table", Env: fntest.Vars{stack.EnvWebhookSigningKey: signingKey}, Want: stack.EnvTable, Secret: signingKey},
		fntest.ColdStart{Name: "no delivery queue", Env: fntest.Vars{stack.EnvTable: "t", stack.EnvWebhookSigningKey: signingKey}, Want: stack.EnvDeliveryQueueURL, Secret: signingKey},
		fntest.ColdStart{Name: "no dead-letter queue", Env: fntest.Vars{stack.EnvTable: "t", stack.EnvWebhookSigningKey: signingKey, stack.EnvDeliveryQueueURL: "q"},
			Want: stack.EnvDeliveryDLQURL, Secret: signingKey},
		fntest.ColdStart{Name: "no signing key", Env: queues, Want: stack.EnvWebhookSigningKeySecretARN},
		fntest.ColdStart{Name: "short signing key", Env: queues.With(stack.EnvWebhookSigningKey, "short"), Want: stack.EnvWebhookSigningKey, Secret: "short"},
		fntest.ColdStart{Name: "a secret and a literal key", Env: queues.With(stack.EnvWebhookSigningKey, signingKey).
			With(stack.EnvWebhookSigningKeySecretARN, "arn:aws:secretsmanager:us-east-1:111122223333:secret:k"), Want: stack.EnvWebhookSigningKeySecretARN, Secret: signingKey},
		fntest.ColdStart{Name: "local targets not IP:port", Env: queues.With(stack.EnvWebhookSigningKey, signingKey).With(stack.EnvLocalWebhookTargets, "true"),
			Want: stack.EnvLocalWebhookTargets, Secret: signingKey},
	)
}

// secretsClient is a Secrets Manager client of the emulator (moto).
func secretsClient(t *testing.T) *secretsmanager.Client {
	t.Helper()
	c := awstest.Clients(t) // skips under -short, fails without the emulators
	if os.Getenv("AWS_ENDPOINT_URL_SECRETS_MANAGER") == "" {
		t.Fatal("AWS_ENDPOINT_URL_SECRETS_MANAGER is not set: run the tests under the emulator runner (make test), which points it at moto")
	}
	return secretsmanager.NewFromConfig(c.Config)
}

// createSecret stores value in a new secret of the emulator and returns its ARN.
func createSecret(t *testing.T, value string) string {
	t.Helper()
	client := secretsClient(t)
	out, err := client.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
		Name: aws.String(awstest.UniqueName("webhook-signing-key")), SecretString: aws.String(value),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteSecret(context.Background(), &secretsmanager.DeleteSecretInput{SecretId: out.ARN, ForceDeleteWithoutRecovery: aws.Bool(true)})
	})
	return *out.ARN
}

// The fetcher reads the secret from Secrets Manager (moto), keeps it for SecretKeyTTL, then
// reads the rotated value; a secret that is missing or too short is an error that names the
// secret and never its value.
func TestSecretKeyFetchesFromSecretsManagerAndRefreshesAfterTheTTL(t *testing.T) {
	client := secretsClient(t)
	arn := createSecret(t, signingKey)
	now := time.Now()
	k := deliveryfn.NewSecretKey(client, arn)
	k.SetNow(func() time.Time { return now })
	if got, err := k.SigningKey(t.Context()); err != nil || string(got) != signingKey {
		t.Fatalf("SigningKey = %q, %v; want the secret's value", got, err)
	}
	rotated := "rotated-signing-key-for-local-tests-only-1111111111"
	if _, err := client.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(arn), SecretString: aws.String(rotated)}); err != nil {
		t.Fatal(err)
	}
	if got, _ := k.SigningKey(t.Context()); string(got) != signingKey {
		t.Error("the key was fetched again within its TTL")
	}
	now = now.Add(deliveryfn.SecretKeyTTL)
	if got, err := k.SigningKey(t.Context()); err != nil || string(got) != rotated {
		t.Errorf("after the TTL SigningKey = %q, %v; want the rotated value", got, err)
	}

	short := createSecret(t, "too-short")
	missing := strings.TrimSuffix(arn, arn[strings.LastIndex(arn, ":")+1:]) + "no-such-secret"
	for name, id := range map[string]string{"too short": short, "missing": missing} {
		t.Run(name, func(t *testing.T) {
			_, err := deliveryfn.NewSecretKey(client, id).SigningKey(t.Context())
			if err == nil || !strings.Contains(err.Error(), id) || strings.Contains(err.Error(), "too-short") {
				t.Errorf("err = %v; want an error naming %s and not quoting the value", err, id)
			}
		})
	}
}

// secretsFunc is a fake Secrets Manager client.
type secretsFunc func(context.Context, *secretsmanager.GetSecretValueInput) (*secretsmanager.GetSecretValueOutput, error)

func (f secretsFunc) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return f(ctx, in)
}

// When a refresh fails the fetcher keeps signing with the key it has, and asks again only after
// a pause, so an outage costs one call per container per pause, not one per delivery.
func TestSecretKeyKeepsItsKeyWhenARefreshFails(t *testing.T) {
	var calls int
	fail := false
	client := secretsFunc(func(context.Context, *secretsmanager.GetSecretValueInput) (*secretsmanager.GetSecretValueOutput, error) {
		calls++
		if fail {
			return nil, errors.New("throttled")
		}
		return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(signingKey)}, nil
	})
	now := time.Now()
	k := deliveryfn.NewSecretKey(client, "arn:aws:secretsmanager:us-east-1:111122223333:secret:k")
	k.SetNow(func() time.Time { return now })
	if _, err := k.SigningKey(t.Context()); err != nil {
		t.Fatal(err)
	}
	fail = true
	now = now.Add(deliveryfn.SecretKeyTTL)
	for range 3 {
		if got, err := k.SigningKey(t.Context()); err != nil || string(got) != signingKey {
			t.Fatalf("SigningKey during an outage = %q, %v; want the cached key", got, err)
		}
	}
	if calls != 2 {
		t.Errorf("%d calls, want 2: one fetch, one failed refresh, then a pause", calls)
	}

	cold := deliveryfn.NewSecretKey(client, "arn:aws:secretsmanager:us-east-1:111122223333:secret:k")
	cold.SetNow(func() time.Time { return now })
	for range 2 {
		if _, err := cold.SigningKey(t.Context()); err == nil {
			t.Fatal("no key and a failing Secrets Manager: want an error")
		}
	}
	if calls != 3 {
		t.Errorf("%d calls, want 3: a failed fetch is not repeated at once", calls)
	}
}
