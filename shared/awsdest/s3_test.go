package awsdest

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/phiguard/phiguard/shared/catalog"
	"github.com/phiguard/phiguard/shared/pack"
	"github.com/phiguard/phiguard/shared/phi"
)

func TestRecordPutsTheDeliveryMemberFirstAndKeepsTheEvent(t *testing.T) {
	for _, ev := range []string{`{"type":"track","a":1}`, `{ "type":"track"}`, `{}`, "{\n}"} {
		rec := Record(pack.Copy{DedupID: "abc", Event: json.RawMessage(ev)})
		var m map[string]any
		if err := json.Unmarshal(rec, &m); err != nil {
			t.Fatalf("%s → %s: %v", ev, rec, err)
		}
		if !bytes.HasPrefix(rec, []byte(`{"_delivery":{"dedupId":"abc"}`)) || m["_delivery"].(map[string]any)["dedupId"] != "abc" {
			t.Errorf("%s → %s", ev, rec)
		}
	}
}

// Issue 16, S3: one gzip NDJSON object per batch under dt=/hour= partitions of the events'
// time, its key from the batch's dedup ids (a redelivery, in any order, overwrites it), SSE-KMS
// with the named key, written with the destination's role and external id, read back and
// decrypted with phictl.
func TestS3WritesOneObjectPerBatchThatARedeliveryOverwrites(t *testing.T) {
	c := newCustomer(t)
	bucket := c.Bucket(t)
	kmsKey := "arn:aws:kms:us-east-1:" + c.ID + ":key/1234abcd-12ab-34cd-56ef-1234567890ab"
	d := c.destination(phi.DestinationS3, phi.DestinationSettings{Bucket: bucket, Region: "us-east-1", Prefix: "events/", KMSKeyARN: kmsKey})
	if p := catalog.Check(d.Type, d.Settings); len(p) > 0 {
		t.Fatal(p)
	}
	var n calls
	s := senders(t, c, n.option())

	// Protected events, encrypted by phictl under a key pair whose private key the test holds.
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "k.pem"), filepath.Join(dir, "k.pub")
	phictl(t, nil, "keygen", "--private-out", priv, "--public-out", pub)
	var plain bytes.Buffer
	for i := range 3 {
		plain.WriteString(`{"type":"identify","messageId":"m-` + string(rune('a'+i)) + `","timestamp":"2026-12-01T13:0` + string(rune('0'+i)) + `:00Z","traits":{"email":"patient` + string(rune('a'+i)) + `@example.com"}}` + "\n")
	}
	enc := phictl(t, plain.Bytes(), "encrypt", "--public-key", pub, "--key-id", "key_1", "--field", "traits.email")
	var cps []pack.Copy
	for i, line := range bytes.Split(bytes.TrimSpace(enc), []byte("\n")) {
		if bytes.Contains(line, []byte("@example.com")) {
			t.Fatalf("phictl left an email in clear: %s", line)
		}
		cps = append(cps, pack.Copy{DedupID: strings.Repeat(string(rune('a'+i)), 32), Event: json.RawMessage(line)})
	}

	mustDeliver(t, S3Sender{s}.Send(context.Background(), d, cps), 3)
	keys := c.objects(t, bucket, "")
	if len(keys) != 1 || !regexp.MustCompile(`^events/dt=2026-12-01/hour=13/[0-9a-f]{32}\.ndjson\.gz$`).MatchString(keys[0]) {
		t.Fatalf("objects %v, want one under events/dt=2026-12-01/hour=13/", keys)
	}
	res, body := c.object(t, bucket, keys[0])
	if res.ServerSideEncryption != types.ServerSideEncryptionAwsKms || aws.ToString(res.SSEKMSKeyId) != kmsKey {
		t.Errorf("object encryption %q with %q, want aws:kms with %s", res.ServerSideEncryption, aws.ToString(res.SSEKMSKeyId), kmsKey)
	}
	ndjson := gunzip(t, body)
	recs := records(t, ndjson)
	if len(recs) != 3 || bytes.Contains(ndjson, []byte("@example.com")) {
		t.Fatalf("%d records (want 3), or an email in clear:\n%s", len(recs), ndjson)
	}
	dec := phictl(t, ndjson, "decrypt", "--private-key", priv+":key_1")
	for _, want := range []string{"patienta@example.com", "patientb@example.com", "patientc@example.com"} {
		if !bytes.Contains(dec, []byte(want)) {
			t.Errorf("phictl decrypt of the object does not restore %s:\n%s", want, dec)
		}
	}

	// A redelivery of the same batch, in another order, overwrites the object.
	slices.Reverse(cps)
	mustDeliver(t, S3Sender{s}.Send(context.Background(), d, cps), 3)
	if again := c.objects(t, bucket, ""); !slices.Equal(again, keys) {
		t.Errorf("after a redelivery the bucket holds %v, want %v", again, keys)
	}
	if got := n.count("AssumeRole"); got != 1 || n.assumed[0] != c.role+" "+catalog.ExternalID(d) {
		t.Errorf("AssumeRole %d times with %v; want once, with %s and the destination's external id", got, n.assumed, c.role)
	}
	if got := n.count("PutObject"); got != 2 {
		t.Errorf("%d PutObject calls for two batches", got)
	}
}

func TestS3FailuresArePermanentOrRetriedAsAWSMeansThem(t *testing.T) {
	c := newCustomer(t)
	ctx := context.Background()
	t.Run("a missing bucket is permanent", func(t *testing.T) {
		d := c.destination(phi.DestinationS3, phi.DestinationSettings{Bucket: "no-such-bucket-" + strings.ToLower(phi.NewID("x")[2:12]), Region: "us-east-1"})
		out := S3Sender{senders(t, c)}.Send(ctx, d, copies(2, 0))
		for _, o := range out {
			if o.Err == nil || !o.Permanent || o.Reason != "NoSuchBucket" {
				t.Fatalf("outcome %+v, want permanent NoSuchBucket", o)
			}
		}
	})
	t.Run("every request names the role's account as the bucket owner", func(t *testing.T) {
		// moto does not enforce ExpectedBucketOwner (S3 answers 403 when the bucket is another
		// account's), so the test checks that the request carries it.
		var owner string
		capture := func(st *middleware.Stack) error {
			return st.Initialize.Add(middleware.InitializeMiddlewareFunc("owner", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				if p, ok := in.Parameters.(*s3.PutObjectInput); ok {
					owner = aws.ToString(p.ExpectedBucketOwner)
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
		}
		d := c.destination(phi.DestinationS3, phi.DestinationSettings{Bucket: c.Bucket(t), Region: "us-east-1"})
		mustDeliver(t, S3Sender{senders(t, c, capture)}.Send(ctx, d, copies(1, 0)), 1)
		if owner != c.ID {
			t.Fatalf("ExpectedBucketOwner %q, want the role's account %s", owner, c.ID)
		}
	})
	t.Run("throttling is retried, with its code as the reason", func(t *testing.T) {
		d := c.destination(phi.DestinationS3, phi.DestinationSettings{Bucket: c.Bucket(t), Region: "us-east-1"})
		s := senders(t, c, failFirst("PutObject", "SlowDown"))
		out := S3Sender{s}.Send(ctx, d, copies(2, 0))
		if out[0].Err == nil || out[0].Permanent || out[0].Reason != "throttled:SlowDown" {
			t.Fatalf("outcome %+v, want a retryable throttled:SlowDown", out[0])
		}
		mustDeliver(t, S3Sender{s}.Send(ctx, d, copies(2, 0)), 2)
	})
	t.Run("a role that cannot be assumed is permanent, named as such", func(t *testing.T) {
		d := c.destination(phi.DestinationS3, phi.DestinationSettings{Bucket: c.Bucket(t), Region: "us-east-1"})
		out := S3Sender{senders(t, c, failFirst("AssumeRole", "AccessDenied"))}.Send(ctx, d, copies(1, 0))
		if out[0].Err == nil || !out[0].Permanent || out[0].Reason != "AssumeRole:AccessDenied" {
			t.Fatalf("outcome %+v, want permanent AssumeRole:AccessDenied", out[0])
		}
	})
	t.Run("settings that no longer pass the catalog send nothing", func(t *testing.T) {
		d := c.destination(phi.DestinationS3, phi.DestinationSettings{Bucket: "Bad_Bucket", Region: "us-east-1"})
		var n calls
		out := S3Sender{senders(t, c, n.option())}.Send(ctx, d, copies(1, 0))
		if !out[0].Permanent || out[0].Reason != "settings" || n.count("PutObject") != 0 {
			t.Fatalf("outcome %+v after %d calls", out[0], n.count("PutObject"))
		}
	})
}

// The Athena table of docs/DESTINATIONS.md reads the objects: its columns are the records'
// members (checked against a written object), its location and partitions the key's layout.
func TestS3ObjectsMatchTheDocumentedAthenaTable(t *testing.T) {
	doc, err := os.ReadFile("../../docs/DESTINATIONS.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```sql\n(CREATE EXTERNAL TABLE.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/DESTINATIONS.md has no CREATE EXTERNAL TABLE block")
	}
	ddl := string(m[1])
	for _, want := range []string{"PARTITIONED BY (dt string, hour string)", "'org.openx.data.jsonserde.JsonSerDe'", "`_delivery` struct<dedupid:string", "LOCATION 's3://", "'projection.enabled' = 'true'"} {
		if !strings.Contains(ddl, want) {
			t.Errorf("the documented table lacks %q", want)
		}
	}
	c := newCustomer(t)
	bucket := c.Bucket(t)
	d := c.destination(phi.DestinationS3, phi.DestinationSettings{Bucket: bucket, Region: "us-east-1", Prefix: "events/"})
	mustDeliver(t, S3Sender{senders(t, c)}.Send(context.Background(), d, copies(2, 0)), 2)
	keys := c.objects(t, bucket, "events/")
	_, body := c.object(t, bucket, keys[0])
	for _, r := range records(t, gunzip(t, body)) {
		for name := range r {
			col := strings.ToLower(name)
			if !regexp.MustCompile("(?m)^\\s+`?" + regexp.QuoteMeta(col) + "`? ").MatchString(ddl) {
				t.Errorf("record member %q is not a column of the documented table", name)
			}
		}
	}
	if !strings.Contains(ddl, "'storage.location.template' = 's3://<bucket>/<prefix>dt=${dt}/hour=${hour}/'") {
		t.Error("the table's location template is not the key layout dt=${dt}/hour=${hour}/")
	}
}
