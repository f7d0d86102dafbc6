package devserver

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/phiguard/phiguard/shared/awsclient"
	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/catalog"
	"github.com/phiguard/phiguard/shared/stack"
)

// Issue 16, end to end from the ingest queue through the hashing function, SNS, the delivery
// queue and the delivery engine: a bucket, a Firehose stream into a bucket, an event bus with a
// rule into a queue, and a queue, all in the customer's account and reached through its role,
// each receive every event with traits.email encrypted (never in clear), and phictl decrypts
// what the bucket holds with the destination's private key.
func TestEveryAWSTypeReceivesProtectedCopiesFromTheIngestQueue(t *testing.T) {
	s := startTest(t, Config{})
	ctx := context.Background()
	cust := newCustomerAccount(s.Clients)
	ws, err := s.CreateSampleWorkspace(ctx)
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, path, body string, want int, headers ...string) (map[string]any, http.Header) {
		t.Helper()
		return apiWant(t, s, method, path, ws.OwnerToken, body, want, headers...)
	}
	base := "/workspaces/" + ws.ID
	call("PUT", base+"/privacy/classifications", `{"classifications":[{"path":"traits.email","classification":"yellow"}]}`, 200)
	src, _ := call("POST", base+"/sources", `{"name":"web"}`, 201)

	// The customer's resources.
	bucket, lake, stream := cust.Bucket(t), cust.Bucket(t), awstest.UniqueName("stream")
	if _, err := cust.Clients.Firehose.CreateDeliveryStream(ctx, &firehose.CreateDeliveryStreamInput{DeliveryStreamName: aws.String(stream),
		ExtendedS3DestinationConfiguration: &fhtypes.ExtendedS3DestinationConfiguration{BucketARN: aws.String("arn:aws:s3:::" + lake),
			RoleARN: aws.String("arn:aws:iam::" + cust.ID + ":role/firehose")}}); err != nil {
		t.Fatal(err)
	}
	bus, err := cust.Clients.EventBridge.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(awstest.UniqueName("bus"))})
	if err != nil {
		t.Fatal(err)
	}
	ruleURL, ruleARN := cust.Queue(t, false)
	rule := awstest.UniqueName("rule")
	if _, err := cust.Clients.EventBridge.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(rule), EventBusName: bus.EventBusArn,
		EventPattern: aws.String(`{"source":["` + catalog.EventBridgeSource + `"]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := cust.Clients.EventBridge.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(rule), EventBusName: bus.EventBusArn,
		Targets: []ebtypes.Target{{Id: aws.String("q"), Arn: aws.String(ruleARN)}}}); err != nil {
		t.Fatal(err)
	}
	queueURL, queueARN := cust.Queue(t, false)

	settings := map[string]string{
		"s3":          `{"roleArn":"` + cust.role + `","bucket":"` + bucket + `","region":"us-east-1","prefix":"phi/"}`,
		"firehose":    `{"roleArn":"` + cust.role + `","deliveryStreamArn":"arn:aws:firehose:us-east-1:` + cust.ID + `:deliverystream/` + stream + `"}`,
		"eventbridge": `{"roleArn":"` + cust.role + `","eventBusArn":"` + aws.ToString(bus.EventBusArn) + `"}`,
		"sqs":         `{"roleArn":"` + cust.role + `","queueArn":"` + queueARN + `"}`,
	}
	keys := map[string]string{} // type -> private key file:key id
	dir := t.TempDir()
	for typ, set := range settings {
		d, _ := call("POST", base+"/destinations", `{"sourceId":"`+src["id"].(string)+`","name":"`+typ+`","type":"`+typ+`","settings":`+set+`}`, 201)
		path := base + "/destinations/" + d["id"].(string)
		if r, _ := call("POST", path+"/test", "", 200); r["delivered"] != true {
			t.Fatalf("%s test record: %v", typ, r)
		}
		k, _ := call("POST", path+"/keys", `{"algorithm":"hpke-p256"}`, 201)
		file := filepath.Join(dir, typ+".pem")
		if err := os.WriteFile(file, []byte(k["privateKey"].(string)), 0o600); err != nil {
			t.Fatal(err)
		}
		keys[typ] = file + ":" + k["id"].(string)
		call("POST", path+"/keys/"+k["id"].(string)+"/activate", "", 200)
		_, hdr := call("GET", path, "", 200)
		call("PUT", path+"/hashing", `{"enabled":true,"fields":[{"path":"traits.email","treatment":"encrypt"}]}`, 200, "If-Match", hdr.Get("ETag"))
	}
	// The test records are not events: forget them.
	cust.Drain(t, queueURL)
	cust.Drain(t, ruleURL)

	const events = 12
	for i := range events {
		if _, err := s.Clients.SQS.SendMessage(ctx, &sqs.SendMessageInput{
			QueueUrl: aws.String(s.Resources.IngestQueueURL),
			MessageBody: aws.String(fmt.Sprintf(`{"type":"identify","messageId":"e2e-%d","userId":"u-%d","timestamp":"2026-12-01T13:00:00Z","traits":{"email":"patient%d@example.com","plan":"gold"}}`,
				i, i, i)),
			MessageAttributes: map[string]sqstypes.MessageAttributeValue{
				stack.AttrWorkspace: {DataType: aws.String("String"), StringValue: aws.String(ws.ID)},
				stack.AttrSource:    {DataType: aws.String("String"), StringValue: aws.String(src["id"].(string))},
			},
		}); err != nil {
			t.Fatal(err)
		}
	}

	got := map[string][]byte{} // type -> NDJSON of what it received
	var sqsMsgs, busMsgs []byte
	waitFor(t, "every destination's 12 events", 90*time.Second, func() bool {
		got["s3"] = cust.objects(t, bucket, "phi/dt=")
		got["firehose"] = cust.objects(t, lake, "")
		for _, m := range cust.Drain(t, queueURL) {
			sqsMsgs = append(append(sqsMsgs, aws.ToString(m.Body)...), '\n')
		}
		for _, m := range cust.Drain(t, ruleURL) {
			var ev struct {
				Detail json.RawMessage `json:"detail"`
			}
			_ = json.Unmarshal([]byte(aws.ToString(m.Body)), &ev)
			busMsgs = append(append(busMsgs, ev.Detail...), '\n')
		}
		got["sqs"], got["eventbridge"] = sqsMsgs, busMsgs
		for _, b := range got {
			if bytes.Count(b, []byte(`"e2e-`)) < events {
				return false
			}
		}
		return true
	})
	for typ, b := range got {
		if bytes.Contains(b, []byte("@example.com")) {
			t.Errorf("%s received an email in clear", typ)
		}
		n := 0
		for _, line := range bytes.Split(b, []byte("\n")) {
			var r struct {
				Delivery struct {
					DedupID string `json:"dedupId"`
				} `json:"_delivery"`
				MessageID string `json:"messageId"`
			}
			if json.Unmarshal(line, &r) == nil && strings.HasPrefix(r.MessageID, "e2e-") && len(r.Delivery.DedupID) == 32 {
				n++
			}
		}
		if n < events {
			t.Errorf("%s: %d events carry their dedup id, want %d", typ, n, events)
		}
		dec := phictl(t, b, "decrypt", "--private-key", keys[typ])
		for i := range events {
			if !bytes.Contains(dec, fmt.Appendf(nil, "patient%d@example.com", i)) {
				t.Errorf("%s: phictl decrypt does not restore event %d's email", typ, i)
			}
		}
	}
}

// customerAccount is a customer's account in the emulator (awstest.Account) with the role its
// destinations name.
type customerAccount struct {
	*awstest.Account
	role string
}

func newCustomerAccount(svc *awsclient.Clients) *customerAccount {
	a := awstest.NewAccount(svc)
	return &customerAccount{Account: a, role: a.Role("phiguard-delivery/e2e")}
}

// objects returns the content of every object below prefix, gunzipped where gzip.
func (a *customerAccount) objects(t *testing.T, bucket, prefix string) []byte {
	t.Helper()
	ctx := context.Background()
	list, err := a.Clients.S3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for _, o := range list.Contents {
		res, err := a.Clients.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if zr, err := gzip.NewReader(bytes.NewReader(b)); err == nil {
			b, _ = io.ReadAll(zr)
		}
		out = append(out, b...)
	}
	return out
}

// phictl runs the project's phictl, built into the test's temporary directory, with stdin.
func phictl(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "phictl")
	if out, err := exec.Command("go", "build", "-o", bin, "../../phictl").CombinedOutput(); err != nil {
		t.Fatalf("build phictl: %v: %s", err, out)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("phictl %v: %v: %s", args, err, stderr.String())
	}
	return out
}

// Issue 16, "make dev can create each type against the local emulators": the sample resources
// make dev creates in moto (and prints) take a destination of every AWS type through the API,
// and each one's Test destination writes its record where the customer reads it.
func TestMakeDevsSampleResourcesTakeEveryAWSType(t *testing.T) {
	s := startTest(t, Config{})
	ctx := context.Background()
	ws, err := s.CreateSampleWorkspace(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ws.AWS, err = s.CreateSampleAWS(ctx, awstest.UniqueName("devsample")); err != nil {
		t.Fatal(err)
	}
	var banner strings.Builder
	PrintBanner(&banner, s, ws)
	for _, want := range []string{ws.AWS.RoleARN, ws.AWS.Bucket, ws.AWS.StreamARN, ws.AWS.BusARN, ws.AWS.QueueARN} {
		if !strings.Contains(banner.String(), want) {
			t.Errorf("the banner does not print %s", want)
		}
	}
	call := func(method, path string, body any, want int) map[string]any {
		t.Helper()
		m, _ := apiWant(t, s, method, path, ws.OwnerToken, body, want)
		return m
	}
	base := "/workspaces/" + ws.ID
	src := call("POST", base+"/sources", map[string]string{"name": "web"}, 201)["id"].(string)
	for _, typ := range []string{"s3", "firehose", "eventbridge", "sqs"} {
		d := call("POST", base+"/destinations", map[string]any{"sourceId": src, "name": typ, "type": typ, "settings": ws.AWS.Settings(typ)}, 201)
		if r := call("POST", base+"/destinations/"+d["id"].(string)+"/test", nil, 200); r["delivered"] != true {
			t.Errorf("%s: Test destination on the sample resources: %v", typ, r)
		}
	}
	if msgs := awstest.Receive(t, s.Clients.SQS, ws.AWS.QueueURL, 1, 10*time.Second); len(msgs) != 1 {
		t.Errorf("the sample queue holds %d test records, want 1", len(msgs))
	}
	if msgs := awstest.Receive(t, s.Clients.SQS, ws.AWS.BusQueueURL, 1, 10*time.Second); len(msgs) != 1 {
		t.Errorf("the sample bus's rule forwarded %d test records to its queue, want 1", len(msgs))
	}
	for _, prefix := range []string{"events/_phiguard-test/", "firehose/"} {
		res, err := s.Clients.S3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(ws.AWS.Bucket), Prefix: aws.String(prefix)})
		if err != nil || len(res.Contents) == 0 {
			t.Errorf("the sample bucket holds nothing under %s (%v)", prefix, err)
		}
	}
}

// Issue 16, "permanent failures (a deleted bucket) to the dead-letter queue with the reason": an
// S3 destination that delivered, whose bucket the customer then deletes, dead-letters the next
// events at once — reason rejected, AWS's NoSuchBucket as lastReason, no retries — and the owner's
// dead-letter count shows them.
func TestADeletedBucketDeadLettersTheNextCopiesWithTheReason(t *testing.T) {
	s := startTest(t, Config{})
	ctx := context.Background()
	cust := newCustomerAccount(s.Clients)
	ws, err := s.CreateSampleWorkspace(ctx)
	if err != nil {
		t.Fatal(err)
	}
	base := "/workspaces/" + ws.ID
	src, _ := apiWant(t, s, "POST", base+"/sources", ws.OwnerToken, map[string]string{"name": "web"}, 201)
	bucket := cust.Bucket(t)
	d, _ := apiWant(t, s, "POST", base+"/destinations", ws.OwnerToken, map[string]any{"sourceId": src["id"], "name": "lake", "type": "s3",
		"settings": map[string]string{"roleArn": cust.role, "bucket": bucket, "region": "us-east-1", "prefix": "events/"}}, 201)
	dst := d["id"].(string)
	push := func(id string) {
		t.Helper()
		if _, err := s.Clients.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(s.Resources.IngestQueueURL),
			MessageBody: aws.String(`{"type":"track","event":"Visit","messageId":"` + id + `","userId":"u-1","timestamp":"2026-12-01T13:00:00Z"}`),
			MessageAttributes: map[string]sqstypes.MessageAttributeValue{
				stack.AttrWorkspace: {DataType: aws.String("String"), StringValue: aws.String(ws.ID)},
				stack.AttrSource:    {DataType: aws.String("String"), StringValue: aws.String(src["id"].(string))},
			}}); err != nil {
			t.Fatal(err)
		}
	}
	push("before-1")
	for deadline := time.Now().Add(30 * time.Second); !bytes.Contains(cust.objects(t, bucket, "events/"), []byte(`"before-1"`)); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first event did not reach the bucket")
		}
	}
	list, err := cust.Clients.S3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range list.Contents {
		if _, err := cust.Clients.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: o.Key}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cust.Clients.S3.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	push("after-1")
	push("after-2")
	var count map[string]any
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		count, _ = apiWant(t, s, "GET", base+"/destinations/"+dst+"/dead-letters", ws.OwnerToken, nil, 200)
		if c, _ := count["copies"].(float64); c >= 2 || time.Now().After(deadline) {
			break
		}
	}
	by, _ := count["byReason"].(map[string]any)
	last, _ := count["byLastFailure"].(map[string]any)
	if count["copies"] != float64(2) || by["rejected"] != float64(2) || last["NoSuchBucket"] != float64(2) {
		t.Fatalf("the owner's dead-letter count %v; want the 2 copies after the bucket was deleted, rejected, NoSuchBucket", count)
	}
	mine := 0
	for _, m := range awstest.Receive(t, s.Clients.SQS, s.Resources.DeliveryDLQURL, 0, 0) {
		a := m.MessageAttributes
		if aws.ToString(a[stack.AttrDestination].StringValue) != dst {
			continue
		}
		mine++
		if r, last := aws.ToString(a[stack.AttrReason].StringValue), aws.ToString(a[stack.AttrLastReason].StringValue); r != "rejected" || last != "NoSuchBucket" {
			t.Errorf("dead letter of %s: reason %q, lastReason %q; want rejected, NoSuchBucket", dst, r, last)
		}
		if n := aws.ToString(a[stack.AttrAttempts].StringValue); n != "1" {
			t.Errorf("a copy for a deleted bucket was tried %s times before it was dead-lettered; want 1 (permanent)", n)
		}
	}
	if mine == 0 {
		t.Error("the delivery DLQ holds no message of the destination")
	}
	// The destination says so.
	v, _ := apiWant(t, s, "GET", base+"/destinations/"+dst, ws.OwnerToken, nil, 200)
	st, _ := v["delivery"].(map[string]any)
	if st["state"] != "degraded" || st["reason"] != "NoSuchBucket" || st["deadLetterReason"] != "rejected" ||
		!strings.Contains(fmt.Sprint(st["error"]), "NoSuchBucket") || !strings.Contains(fmt.Sprint(st["message"]), "replay") {
		t.Errorf("the destination's delivery state %v; want degraded, NoSuchBucket, rejected, with the error and what to do", st)
	}
}
