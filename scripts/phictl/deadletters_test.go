package main

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/delivery"
	"github.com/phiguard/phiguard/shared/fn"
	"github.com/phiguard/phiguard/shared/fn/configfn"
	"github.com/phiguard/phiguard/shared/fn/fntest"
	"github.com/phiguard/phiguard/shared/httpapi"
	"github.com/phiguard/phiguard/shared/pack"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

// phictl dead-letters talks to the config function's real handler (over HTTP, against the
// emulators): count shows the destination's dead letters by reason, replay moves them back to
// the delivery queue; a refusal of the API is one line naming its status and code.
func TestDeadLettersCountAndReplayThroughTheAPI(t *testing.T) {
	store, table := fntest.Table(t)
	ws := &phi.Workspace{ID: fntest.WorkspaceID, Name: "Sample", Tier: phi.TierBusiness, BAA: phi.BAA{Signed: true}}
	fntest.Seed(t, store, ws)
	dst := &phi.Destination{ID: fntest.DestinationID, WorkspaceID: ws.ID, SourceID: fntest.SourceID, Name: "hook",
		Type: phi.DestinationWebhook, Enabled: true, Settings: phi.DestinationSettings{URL: "https://hooks.example.com/in"}}
	if err := store.CreateDestination(t.Context(), dst); err != nil {
		t.Fatal(err)
	}
	c := awstest.Clients(t)
	urls := map[string]string{}
	for _, name := range []string{"q", "dlq"} {
		urls[name] = awstest.Queue(t, c.SQS, "phictl-"+name)
	}
	body, _ := pack.Encode([]pack.Copy{{DedupID: "d1", Event: []byte(`{"type":"track"}`), Attempts: 1}, {DedupID: "d2", Event: []byte(`{}`), Attempts: 1}})
	str := func(v string) sqstypes.MessageAttributeValue {
		return sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	if _, err := c.SQS.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(urls["dlq"]), MessageBody: aws.String(string(body)),
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{stack.AttrWorkspace: str(ws.ID), stack.AttrDestination: str(dst.ID),
			stack.AttrFormat: str(pack.Format), stack.AttrReason: str(delivery.ReasonRejected)}}); err != nil {
		t.Fatal(err)
	}
	vars := fntest.Vars{stack.EnvTable: table, stack.EnvDeliveryQueueURL: urls["q"], stack.EnvDeliveryDLQURL: urls["dlq"], stack.EnvAuditSigningKeyID: "alias/unused",
		stack.EnvKMSKeyID: "alias/unused"}
	h, err := configfn.Build(t.Context(), &fn.Env{Getenv: func(k string) string { return vars[k] }, Auth: httpapi.InProcess{Tokens: store}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Setenv(EnvToken, fntest.TokenSecret)
	args := func(verb string) []string {
		return []string{"dead-letters", verb, "--api", srv.URL, "--workspace", ws.ID, "--destination", dst.ID}
	}

	var n delivery.DeadLetterCount
	if err := json.Unmarshal([]byte(phictl(t, "", args("count")...).ok(t).stdout), &n); err != nil {
		t.Fatal(err)
	}
	if n.Messages != 1 || n.Copies != 2 || n.ByReason[delivery.ReasonRejected] != 2 {
		t.Fatalf("count printed %+v; want 1 message of 2 rejected copies", n)
	}
	var r delivery.ReplayResult
	if err := json.Unmarshal([]byte(phictl(t, "", args("replay")...).ok(t).stdout), &r); err != nil {
		t.Fatal(err)
	}
	if r.Messages != 1 || r.Copies != 2 {
		t.Fatalf("replay printed %+v; want 1 message of 2 copies", r)
	}
	out, err := c.SQS.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(urls["q"]), WaitTimeSeconds: 1})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("delivery queue after the replay: %d messages, %v; want the replayed one", len(out.Messages), err)
	}

	t.Setenv(EnvToken, "phi_not-a-token")
	res := phictl(t, "", args("count")...)
	if res.code != exitFailure || !strings.Contains(res.stderr, "401") || strings.Contains(res.stderr, "phi_not-a-token") {
		t.Errorf("a bad token: exit %d, stderr %q; want exit 1 naming the 401, never the token", res.code, res.stderr)
	}
}

func TestDeadLettersRefusesBadArguments(t *testing.T) {
	t.Setenv(EnvToken, "secret-token")
	ws, dst := phi.NewID(phi.PrefixWorkspace), phi.NewID(phi.PrefixDestination)
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no verb", []string{"dead-letters"}, "count or replay"},
		{"unknown verb", []string{"dead-letters", "purge"}, "count or replay"},
		{"no API", []string{"dead-letters", "count", "--workspace", ws, "--destination", dst}, "--api"},
		{"plain http to a remote host", []string{"dead-letters", "count", "--api", "http://api.example.com", "--workspace", ws, "--destination", dst}, "https"},
		{"credentials in the URL", []string{"dead-letters", "count", "--api", "https://u:p@api.example.com", "--workspace", ws, "--destination", dst}, "credentials"},
		{"a bad workspace id", []string{"dead-letters", "count", "--api", "https://api.example.com", "--workspace", "acme", "--destination", dst}, "--workspace"},
		{"a bad destination id", []string{"dead-letters", "replay", "--api", "https://api.example.com", "--workspace", ws, "--destination", "x"}, "--destination"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := phictl(t, "", tt.args...)
			if res.code != exitUsage || !strings.Contains(res.stderr, tt.want) || strings.Contains(res.stderr, "secret-token") {
				t.Errorf("exit %d, stderr %q; want a usage error naming %q", res.code, res.stderr, tt.want)
			}
		})
	}
	t.Setenv(EnvToken, "")
	if res := phictl(t, "", "dead-letters", "count", "--api", "https://api.example.com", "--workspace", ws, "--destination", dst); res.code != exitUsage || !strings.Contains(res.stderr, EnvToken) {
		t.Errorf("no token: exit %d, stderr %q; want a usage error naming %s", res.code, res.stderr, EnvToken)
	}
	if res := phictl(t, "", "dead-letters", "--help"); res.code != exitOK || !strings.Contains(res.stdout, "PHI_TOKEN") {
		t.Errorf("--help: exit %d, stdout %q", res.code, res.stdout)
	}
}
