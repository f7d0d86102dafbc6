package browsertest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/chromedp/chromedp"

	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/catalog"
)

// TestRevokingTheOnlyKeyPairShowsTheDestinationDegraded revokes, in the console, the only key
// pair of a destination that encrypts a field: the keys page, the destination's page and the
// destinations list then say hashing is degraded and why, and the audit page lists the
// degraded record. Before that, a Save of the destination's settings keeps the default
// treatment set through the API.
func TestRevokingTheOnlyKeyPairShowsTheDestinationDegraded(t *testing.T) {
	st := newSuite(t)
	owner, cancel := st.person(t)
	defer cancel()
	ws, tok := st.newWorkspace(t, "Lakeside Clinic", "business")
	st.signBAA(t, ws)
	base := "/workspaces/" + ws
	must := func(want int, method, path string, body any, etag string) (http.Header, map[string]any) {
		t.Helper()
		code, h, out := st.api(t, method, base+path, tok, body, etag)
		if code != want {
			t.Fatalf("%s %s: %d %v", method, path, code, out)
		}
		return h, out
	}
	_, src := must(http.StatusCreated, "POST", "/sources", map[string]string{"name": "web"}, "")
	_, d := must(http.StatusCreated, "POST", "/destinations", map[string]any{"sourceId": src["id"], "name": "CRM", "type": "webhook",
		"settings": map[string]any{"url": st.s.HookURL("crm-" + ws[3:11])}}, "")
	dst := d["id"].(string)
	must(http.StatusOK, "PUT", "/privacy/classifications", map[string]any{"classifications": []map[string]string{{"path": "traits.email", "classification": "yellow"}}}, "")
	_, key := must(http.StatusCreated, "POST", "/destinations/"+dst+"/keys", map[string]any{}, "")
	keyID := key["id"].(string)
	must(http.StatusOK, "POST", "/destinations/"+dst+"/keys/"+keyID+"/activate", nil, "")
	h, _ := must(http.StatusOK, "GET", "/destinations/"+dst, nil, "")
	must(http.StatusOK, "PUT", "/destinations/"+dst+"/hashing", map[string]any{"enabled": true, "unreviewed": "protect", "defaultTreatment": "redact",
		"fields": []map[string]string{{"path": "traits.email", "treatment": "encrypt"}}}, h.Get("ETag"))

	st.signIn(t, owner, tok)
	st.nav(t, owner, "/destinations/"+dst)
	if s := st.text(t, owner, "#hashing-state"); !strings.Contains(s, "active") {
		t.Fatalf("before the revocation the destination says %q", s)
	}
	// The console has no control for the rule of fields not reviewed yet or the default
	// treatment: its Save keeps what the API set.
	st.submit(t, owner, "#save-settings")
	if _, got := must(http.StatusOK, "GET", "/destinations/"+dst, nil, ""); fmt.Sprintf("%v %v", got["hashing"].(map[string]any)["defaultTreatment"], got["hashing"].(map[string]any)["unreviewed"]) != "redact protect" {
		t.Errorf("after a Save in the console the hashing settings are %v; want the default treatment and unreviewed rule kept", got["hashing"])
	}
	st.nav(t, owner, "/destinations/"+dst+"/keys")
	st.submit(t, owner, `tr[data-key="`+keyID+`"] button[type=submit]`)
	const says = "no active encryption key pair: fields with the encrypt treatment are removed from events"
	if s := st.text(t, owner, "#hashing-state"); !strings.Contains(s, "degraded") || !strings.Contains(s, says) {
		t.Errorf("after the revocation the keys page says %q", s)
	}
	st.nav(t, owner, "/destinations/"+dst)
	if s := st.text(t, owner, "#hashing-state"); !strings.Contains(s, "degraded") || !strings.Contains(s, says) {
		t.Errorf("after the revocation the destination's page says %q; want degraded and %q", s, says)
	}
	st.check(t, owner, "destination-degraded")
	st.nav(t, owner, "/destinations")
	if s := st.text(t, owner, "#destinations"); !strings.Contains(s, "degraded") || !strings.Contains(s, says) {
		t.Errorf("the destinations list says %q", s)
	}
	st.nav(t, owner, "/audit?action=destination.hashing.degraded.no-active-key")
	if s := st.text(t, owner, "#audit-table"); !strings.Contains(s, "destination.hashing.degraded.no-active-key") || !strings.Contains(s, "destinations/"+dst) {
		t.Errorf("the audit page lists %q", s)
	}
}

// TestADestinationThatRefusesCopiesShowsItsDeliveryDegraded sends events to an S3 destination
// whose bucket does not exist, through the whole local pipeline: once the delivery function has
// dead-lettered the refused copies, the destinations list and the destination's page say its
// delivery is degraded, with AWS's code, why the copies were dead-lettered, the error and what
// to do; before that, the page says ok.
func TestADestinationThatRefusesCopiesShowsItsDeliveryDegraded(t *testing.T) {
	st := newSuite(t)
	owner, cancel := st.person(t)
	defer cancel()
	ws, tok := st.newWorkspace(t, "Lakeside Clinic", "business")
	st.signBAA(t, ws)
	base := "/workspaces/" + ws
	must := func(want int, method, path string, body any) map[string]any {
		t.Helper()
		code, _, out := st.api(t, method, base+path, tok, body, "")
		if code != want {
			t.Fatalf("%s %s: %d %v", method, path, code, out)
		}
		return out
	}
	src := must(http.StatusCreated, "POST", "/sources", map[string]string{"name": "Patient app"})["id"].(string)
	roleName, bucket := awstest.UniqueName("lake"), awstest.UniqueName("gone")
	dst := must(http.StatusCreated, "POST", "/destinations", map[string]any{"sourceId": src, "name": "Data lake", "type": "s3",
		"settings": map[string]string{"roleArn": "arn:aws:iam::123456789012:role" + catalog.RolePath + roleName,
			"bucket": bucket, "region": "us-east-1"}})["id"].(string)
	trust, _ := json.Marshal(must(http.StatusOK, "GET", "/destinations/"+dst+"/access-policy", nil)["trustPolicy"])
	awstest.CreateRole(t, st.s.Clients, catalog.RolePath, roleName, string(trust))

	st.signIn(t, owner, tok)
	st.nav(t, owner, "/destinations/"+dst)
	if s := st.text(t, owner, "#delivery-state"); !strings.Contains(s, "Delivery: ok since") {
		t.Errorf("before any copy the destination's page says %q; want ok", s)
	}
	ids := st.push(t, ws, src, "gone")
	var delivery map[string]any
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		delivery, _ = must(http.StatusOK, "GET", "/destinations/"+dst, nil)["delivery"].(map[string]any)
		if delivery["state"] == "degraded" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the destination's delivery is %v after its copies for a missing bucket; want degraded", delivery)
		}
	}

	st.nav(t, owner, "/destinations")
	row := st.text(t, owner, `tr[data-id="`+dst+`"] td.delivery`)
	if !strings.Contains(row, "degraded") || !strings.Contains(row, "NoSuchBucket, refused") {
		t.Errorf("the destinations list says %q for its delivery; want degraded, NoSuchBucket, refused", row)
	}
	st.check(t, owner, "destinations-delivery-degraded")
	st.nav(t, owner, "/destinations/"+dst)
	s := st.text(t, owner, "#delivery-state")
	for _, want := range []string{"Delivery: degraded", "refused copies permanently (NoSuchBucket)", "dead-letter queue", "replay", "Last error:", "NoSuchBucket"} {
		if !strings.Contains(s, want) {
			t.Errorf("the destination's page says %q; want %q in it", s, want)
		}
	}
	st.check(t, owner, "destination-delivery-degraded")
	// The error is AWS's, never the copies' content.
	for _, id := range ids {
		for _, p := range []string{"traits.email", "properties.mrn"} {
			if v := sent(id, p); strings.Contains(s, v) || strings.Contains(fmt.Sprint(delivery), v) {
				t.Errorf("the delivery state shows %s of %s", p, id)
			}
		}
	}

	// The owner counts the dead letters on the page (every copy, once the delivery function has
	// dead-lettered them all), fixes the destination — the bucket now exists — and replays
	// them: every event reaches the bucket.
	want := fmt.Sprintf("%d copies", len(ids))
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Second) {
		st.submit(t, owner, "#count-dead-letters")
		if got := st.text(t, owner, "#dl-result"); strings.Contains(got, want) || time.Now().After(deadline) {
			break
		}
	}
	if got := st.text(t, owner, "#dl-result"); !strings.Contains(got, want) || !strings.Contains(got, "rejected — the destination refused them") ||
		!strings.Contains(got, "NoSuchBucket") {
		t.Errorf("the dead-letter count says %q; want %s, rejected (refused) and NoSuchBucket", got, want)
	}
	st.check(t, owner, "destination-dead-letters-counted")
	// The two sections alone, for docs/console/delivery-degraded.png.
	var section []byte
	st.run(t, owner, "photograph the delivery sections", chromedp.Screenshot("#delivery", &section, chromedp.ByQuery))
	if err := os.WriteFile(filepath.Join(st.shots, "delivery-degraded.png"), section, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := st.s.Clients.S3.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	st.submit(t, owner, "#replay-dead-letters")
	if got := st.text(t, owner, "p.ok#dl-result"); !strings.Contains(got, want+" went back to delivery") {
		t.Errorf("the replay says %q; want %s back to delivery", got, want)
	}
	st.check(t, owner, "destination-dead-letters-replayed")
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		written := st.bucketHolds(t, bucket)
		missing := 0
		for _, id := range ids {
			if !strings.Contains(written, `"`+id+`"`) {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d replayed events did not reach the bucket", missing, len(ids))
		}
	}
	st.submit(t, owner, "#count-dead-letters")
	if got := st.text(t, owner, "#dl-result"); !strings.Contains(got, "0 copies") {
		t.Errorf("after the replay the count says %q; want 0 copies", got)
	}
	st.nav(t, owner, "/audit?action=destination.deadletters.replay")
	if got := st.text(t, owner, "#audit-table"); !strings.Contains(got, "destinations/"+dst+"/dead-letters") {
		t.Errorf("the audit page lists %q; want the replay of %s", got, dst)
	}
	// A member sees the destination's delivery state but not the dead-letter controls (owners').
	other, cancel2 := st.signedInMember(t, ws, tok)
	defer cancel2()
	st.nav(t, other, "/destinations/"+dst)
	if !st.exists(t, other, "#delivery-state") || st.exists(t, other, "#dead-letters") {
		t.Errorf("a member: delivery state shown %v, dead-letter section shown %v; want the state only",
			st.exists(t, other, "#delivery-state"), st.exists(t, other, "#dead-letters"))
	}
}

// bucketHolds returns everything the bucket's objects hold, each gunzipped when it is gzip.
func (st *suite) bucketHolds(t *testing.T, bucket string) string {
	t.Helper()
	ctx := context.Background()
	list, err := st.s.Clients.S3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, o := range list.Contents {
		obj, err := st.s.Clients.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(obj.Body)
		obj.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if zr, err := gzip.NewReader(bytes.NewReader(body)); err == nil {
			if clear, err := io.ReadAll(zr); err == nil {
				body = clear
			}
		}
		all.Write(body)
	}
	return all.String()
}
