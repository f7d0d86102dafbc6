package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/chromedp/chromedp"

	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/catalog"
)

// Issue 16 in the console: an S3 and an SQS destination set up through the console (a refused
// setting shown beside its field, nothing typed lost), the destination's page showing the trust
// and permissions policies with its own external id, and "Test destination" against moto — a
// missing bucket, then success once the bucket exists, and another destination's external id
// refused by the role's trust policy (scripts/emulators' moto checks the sts:ExternalId
// condition) — each result in plain words beside the button; only owners get the button.
func TestAWSDestinationsInTheConsole(t *testing.T) {
	st := newSuite(t)
	// The main walk (console_test.go) clears build/console; these screenshots go beside it.
	st.shots = filepath.Join(RepoRoot(), "build", "console-aws")
	if err := os.RemoveAll(st.shots); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(st.shots, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	owner, cancel := st.person(t)
	defer cancel()
	ws, ownerToken := st.newWorkspace(t, "Lakeside Clinic", "business")
	st.signBAA(t, ws)
	code, _, out := st.api(t, "POST", "/workspaces/"+ws+"/sources", ownerToken, map[string]string{"name": "Patient app"}, "")
	if code != http.StatusCreated {
		t.Fatalf("create a source: %d %v", code, out)
	}
	src := out["id"].(string)
	st.signIn(t, owner, ownerToken)

	roleName := awstest.UniqueName("lake")
	role := "arn:aws:iam::123456789012:role/phiguard-delivery/" + roleName
	bucket := awstest.UniqueName("lake")
	var s3Dst, trust string
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}
	// fill types each setting into the setup form.
	fill := func(t *testing.T, values map[string]string) {
		t.Helper()
		for name, v := range values {
			st.run(t, owner, "type "+name, chromedp.Evaluate(fmt.Sprintf(`document.querySelector(%q).value = ""`, "#dst-"+name), nil),
				chromedp.SendKeys("#dst-"+name, v, chromedp.ByQuery))
		}
	}
	// kept checks that the refused form still holds every value typed.
	kept := func(t *testing.T, values map[string]string) {
		t.Helper()
		for name, want := range values {
			var got string
			st.run(t, owner, "read "+name, chromedp.Value("#dst-"+name, &got, chromedp.ByQuery))
			if got != want {
				t.Errorf("after the refusal %s holds %q, want what was typed, %q", name, got, want)
			}
		}
	}
	created := func(t *testing.T) string {
		t.Helper()
		u, _ := url.Parse(st.location(t, owner))
		id := strings.TrimPrefix(u.Path, "/console/destinations/")
		if !strings.HasPrefix(id, "dst_") || u.Query().Get("saved") != "1" {
			t.Fatalf("Save did not create the destination: at %s", u)
		}
		return id
	}
	testResult := func(t *testing.T) (string, bool) {
		t.Helper()
		st.submit(t, owner, "#test-destination")
		return st.text(t, owner, "#test-result"), st.exists(t, owner, "p.ok#test-result")
	}

	step("an S3 destination: a role off the path is refused beside its field, nothing typed is lost", func(t *testing.T) {
		st.nav(t, owner, "/add-destination/s3/setup?source="+src)
		typed := map[string]string{"name": "Data lake", "roleArn": "arn:aws:iam::123456789012:role/admin",
			"bucket": bucket, "region": "us-east-1", "prefix": "phi/events/"}
		fill(t, typed)
		st.submit(t, owner, "#save-settings")
		if msg := st.text(t, owner, "#dst-roleArn-error"); !strings.Contains(msg, "is not of the form") {
			t.Errorf("the role off the path says %q beside its field", msg)
		}
		var invalid string
		st.run(t, owner, "read aria-invalid", chromedp.AttributeValue("#dst-roleArn", "aria-invalid", &invalid, nil, chromedp.ByQuery))
		if invalid != "true" {
			t.Errorf("the refused field is not marked aria-invalid (%q)", invalid)
		}
		kept(t, typed)
		st.check(t, owner, "s3-setup-refused")
		typed["roleArn"] = role
		fill(t, map[string]string{"roleArn": role})
		st.submit(t, owner, "#save-settings")
		s3Dst = created(t)
	})

	step("the destination's page shows the policies to paste, with its own external id", func(t *testing.T) {
		ext := st.text(t, owner, "#external-id")
		if ext != "phiguard:"+ws+":"+s3Dst {
			t.Fatalf("external id shown %q, want phiguard:%s:%s", ext, ws, s3Dst)
		}
		trust = st.text(t, owner, "#trust-policy")
		var doc catalog.PolicyDocument
		if err := json.Unmarshal([]byte(trust), &doc); err != nil || len(doc.Statement) != 1 ||
			doc.Statement[0].Condition["StringEquals"]["sts:ExternalId"] != ext || doc.Statement[0].Action[0] != "sts:AssumeRole" {
			t.Fatalf("trust policy shown (%v): %s", err, trust)
		}
		perms := st.text(t, owner, "#permissions-policy")
		if err := json.Unmarshal([]byte(perms), &doc); err != nil || len(doc.Statement) != 1 ||
			doc.Statement[0].Resource[0] != "arn:aws:s3:::"+bucket+"/phi/events/*" || doc.Statement[0].Action[0] != "s3:PutObject" {
			t.Fatalf("permissions policy shown (%v): %s", err, perms)
		}
		// The same documents as the API's GET …/access-policy (one generator).
		code, _, api := st.api(t, "GET", "/workspaces/"+ws+"/destinations/"+s3Dst+"/access-policy", ownerToken, nil, "")
		for name, shown := range map[string]string{"trustPolicy": trust, "permissionsPolicy": perms} {
			var page any
			_ = json.Unmarshal([]byte(shown), &page)
			if code != http.StatusOK || mustJSON(page) != mustJSON(api[name]) {
				t.Errorf("the console's %s differs from the API's (%d): %s vs %s", name, code, shown, mustJSON(api[name]))
			}
		}
		st.check(t, owner, "s3-access-policy")
	})

	step("Test destination: the missing bucket, then success once it exists", func(t *testing.T) {
		// The customer creates the role with the trust policy pasted from the page.
		awstest.CreateRole(t, st.s.Clients, catalog.RolePath, roleName, trust)
		msg, ok := testResult(t)
		if ok || !strings.Contains(msg, "the bucket does not exist") || !strings.Contains(msg, "NoSuchBucket") {
			t.Errorf("a test against a missing bucket says %q (success %v)", msg, ok)
		}
		st.check(t, owner, "s3-test-no-bucket")
		if _, err := st.s.Clients.S3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
			t.Fatal(err)
		}
		msg, ok = testResult(t)
		if !ok || !strings.Contains(msg, "wrote the test record") || !strings.Contains(msg, "s3://"+bucket+"/phi/events/_phiguard-test/") {
			t.Fatalf("a test against the bucket says %q (success %v)", msg, ok)
		}
		res, err := st.s.Clients.S3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
		if err != nil || len(res.Contents) != 1 || !strings.HasPrefix(aws.ToString(res.Contents[0].Key), "phi/events/_phiguard-test/") {
			t.Errorf("the bucket holds %v (%v), want the one test record", res, err)
		}
		if !st.exists(t, owner, "#external-id") {
			t.Error("the page after the test no longer shows the policies")
		}
		st.check(t, owner, "s3-test-ok")
		// The section alone, for docs/console/aws-access.png.
		var section []byte
		st.run(t, owner, "photograph the access section", chromedp.Screenshot("#access", &section, chromedp.ByQuery))
		if err := os.WriteFile(filepath.Join(st.shots, "access-section.png"), section, 0o644); err != nil {
			t.Fatal(err)
		}
	})

	step("an SQS destination: a queue in another account is refused beside its field; another destination's external id is refused", func(t *testing.T) {
		q, err := st.s.Clients.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(awstest.UniqueName("events"))})
		if err != nil {
			t.Fatal(err)
		}
		attrs, err := st.s.Clients.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
		if err != nil {
			t.Fatal(err)
		}
		queue := attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
		st.nav(t, owner, "/add-destination/sqs/setup?source="+src)
		other := strings.Replace(queue, ":123456789012:", ":210987654321:", 1)
		// The role of the S3 destination: its trust policy names that destination's external id.
		typed := map[string]string{"name": "Worker queue", "roleArn": role, "queueArn": other}
		fill(t, typed)
		st.submit(t, owner, "#save-settings")
		if msg := st.text(t, owner, "#dst-queueArn-error"); !strings.Contains(msg, "account 210987654321") {
			t.Errorf("a queue in another account says %q beside its field", msg)
		}
		kept(t, typed)
		st.check(t, owner, "sqs-setup-refused")
		fill(t, map[string]string{"queueArn": queue})
		st.submit(t, owner, "#save-settings")
		sqsDst := created(t)
		if ext := st.text(t, owner, "#external-id"); ext != "phiguard:"+ws+":"+sqsDst {
			t.Errorf("the SQS destination shows external id %q", ext)
		}
		msg, ok := testResult(t)
		if ok || !strings.Contains(msg, "could not assume the role") || !strings.Contains(msg, "AccessDenied") || !strings.Contains(msg, "phiguard:"+ws+":"+sqsDst) {
			t.Errorf("a role whose trust policy names another external id says %q (success %v)", msg, ok)
		}
		st.check(t, owner, "sqs-test-wrong-external-id")
	})

	step("only owners get Test destination; a member sees the policies", func(t *testing.T) {
		member, cancel := st.signedInMember(t, ws, ownerToken)
		defer cancel()
		st.nav(t, member, "/destinations/"+s3Dst)
		if !st.exists(t, member, "#trust-policy") || st.exists(t, member, "#test-destination") {
			t.Errorf("a member: policies shown %v, test button shown %v; want the policies and no button",
				st.exists(t, member, "#trust-policy"), st.exists(t, member, "#test-destination"))
		}
		st.check(t, member, "member-access-policy")
		// A forged test without the CSRF token is refused, as every console action is.
		st.run(t, owner, "build a test form without the CSRF token", chromedp.Evaluate(`(() => {
			const f = document.getElementById("test-form"); f.querySelector("input[name=csrf]").remove(); return true })()`, nil))
		st.submit(t, owner, "#test-destination")
		if h := st.text(t, owner, "main"); !strings.Contains(h, "403") || !strings.Contains(h, "CSRF") {
			t.Errorf("a test without the CSRF token was not refused with 403: %q", h)
		}
	})
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
