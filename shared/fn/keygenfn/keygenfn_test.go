package keygenfn_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/fieldcrypt"
	"github.com/phiguard/phiguard/shared/fn/fntest"
	"github.com/phiguard/phiguard/shared/fn/keygenfn"
	"github.com/phiguard/phiguard/shared/httpapi"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

// The keygen sample events in events/ run through the function's real wiring against DynamoDB in
// moto and KMS in local-kms.
func TestSampleEventsRunThroughTheFunction(t *testing.T) {
	cmk, err := awstest.Clients(t).KMS.CreateKey(t.Context(), &kms.CreateKeyInput{Description: aws.String("keygen function test")})
	if err != nil {
		t.Fatal(err)
	}
	store, table := fntest.Table(t)
	ws := &phi.Workspace{ID: fntest.WorkspaceID, Name: "Sample", Tier: phi.TierBusiness,
		BAA: phi.BAA{Signed: true, SignedAt: time.Now().UTC(), SignedBy: "operator:test"}}
	owner := fntest.Seed(t, store, ws)
	if err := store.CreateDestination(t.Context(), &phi.Destination{ID: fntest.DestinationID, WorkspaceID: ws.ID, SourceID: fntest.SourceID,
		Name: "crm", Type: phi.DestinationWebhook, Settings: phi.DestinationSettings{URL: "https://crm.example.com/hook"}}); err != nil {
		t.Fatal(err)
	}
	seeded, err := fieldcrypt.GenerateKeyPair(fieldcrypt.HPKEP256, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.PutActiveKey(t.Context(), &phi.Key{ID: "key_00000000000000000000000001", WorkspaceID: ws.ID, DestinationID: fntest.DestinationID,
		Kind: phi.KeyEncryption, Algorithm: "hpke-p256", Origin: phi.OriginKMS, PublicKeyPEM: string(seeded.Public().PEM()),
		Fingerprint: seeded.Public().Fingerprint(), CreatedBy: owner.ID}); err != nil {
		t.Fatal(err)
	}

	var logs fntest.Log
	env := fntest.Vars{stack.EnvTable: table, stack.EnvKMSKeyID: aws.ToString(cmk.KeyMetadata.KeyId)}
	h := fntest.Build(t, httpapi.LambdaOf(keygenfn.Build), env, &logs)
	for _, s := range []struct {
		file   string
		status int
		check  func(t *testing.T, resp events.APIGatewayProxyResponse)
	}{
		{"keygen-generate-key.json", 201, func(t *testing.T, resp events.APIGatewayProxyResponse) {
			var g httpapi.GeneratedKey
			if err := json.Unmarshal([]byte(resp.Body), &g); err != nil {
				t.Fatal(err)
			}
			if _, err := fieldcrypt.ParsePrivateKey([]byte(g.PrivateKey)); err != nil {
				t.Fatalf("private key: %v", err)
			}
			if h := resp.MultiValueHeaders["Cache-Control"]; len(h) != 1 || h[0] != "no-store" {
				t.Fatalf("Cache-Control = %v", h)
			}
			if strings.Contains(logs.String(), "PRIVATE KEY") || strings.Contains(logs.String(), g.PrivateKey[40:100]) {
				t.Fatal("the private key reached the function's log")
			}
		}},
		{"keygen-list-keys.json", 200, func(t *testing.T, resp events.APIGatewayProxyResponse) {
			if strings.Contains(resp.Body, "PRIVATE KEY") || !strings.Contains(resp.Body, "key_00000000000000000000000001") {
				t.Fatalf("list = %.300s", resp.Body)
			}
		}},
		{"keygen-import-key.json", 201, nil},
		{"keygen-generate-hmac-key.json", 201, nil},
		{"keygen-revoke-key.json", 200, func(t *testing.T, resp events.APIGatewayProxyResponse) {
			if !strings.Contains(resp.Body, `"status":"revoked"`) {
				t.Fatalf("revoke = %s", resp.Body)
			}
		}},
	} {
		t.Run(s.file, func(t *testing.T) {
			resp := fntest.Invoke(t, h, fntest.Event[events.APIGatewayProxyRequest](t, s.file), s.status)
			if s.check != nil {
				s.check(t, resp)
			}
		})
	}
	if !strings.Contains(logs.String(), `"key pair generated"`) {
		t.Errorf("no JSON log on stdout: %q", logs.String())
	}
}

func TestColdStartFailsClearlyOnBadEnvironment(t *testing.T) {
	fntest.RunColdStarts(t, keygenfn.Build,
		fntest.ColdStart{Name: "no table", Env: fntest.Vars{stack.EnvKMSKeyID: "alias/k"}, Want: stack.EnvTable},
		fntest.ColdStart{Name: "no KMS key", Env: fntest.Vars{stack.EnvTable: "t"}, Want: stack.EnvKMSKeyID},
		fntest.ColdStart{Name: "a bad log level", Env: fntest.Vars{stack.EnvTable: "t", stack.EnvKMSKeyID: "alias/k", stack.EnvLogLevel: "loud"}, Want: stack.EnvLogLevel},
	)
}
