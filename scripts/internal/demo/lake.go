package demo

import (
	"bufio"
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
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/phiguard/phiguard/scripts/internal/devstack"
	"github.com/phiguard/phiguard/shared/fieldcrypt"
)

// lakePrefix is the S3 destination's key prefix in the customer's bucket.
const lakePrefix = "lake/"

// lakeKeyFile is where the S3 destination's private key goes: beside file, "-lake" before its
// extension.
func lakeKeyFile(file string) string {
	ext := filepath.Ext(file)
	return strings.TrimSuffix(file, ext) + "-lake" + ext
}

// on runs f with dst as the destination the key steps (generate, activate, keyStatuses) act on.
func (w *walk) on(dst string, f func() error) error {
	was := w.dst
	w.dst = dst
	defer func() { w.dst = was }()
	return f()
}

// lake is the S3 step (issue 16): the owner adds an S3 destination in the customer's account
// (moto), reads the policies to paste, tests it, protects it with its own key pair; the events of
// one push land as gzip NDJSON objects under dt=…/hour=…; DuckDB queries them; phictl decrypts.
func (w *walk) lake(ctx context.Context) error {
	bucket := "demo-lake-" + strings.TrimPrefix(w.ws, "ws_")[:12]
	// moto assumes a role its IAM does not hold: the sample role stands for the one the customer
	// creates with the trust policy below (scripts/emulators' moto checks an existing role's
	// sts:ExternalId condition; the console's browser test pastes the policy into one).
	role := devstack.SampleRoleARN
	r, err := w.api.call(ctx, "POST", "/workspaces/"+w.ws+"/destinations", w.owner, map[string]any{
		"sourceId": w.src, "name": "Data lake", "type": "s3",
		"settings": map[string]any{"roleArn": role, "bucket": bucket, "region": "us-east-1", "prefix": lakePrefix},
	}, "")
	if err != nil {
		return err
	}
	if err := w.expect(r, http.StatusCreated, "owner adds an S3 destination"); err != nil {
		return err
	}
	var d destinationView
	if err := r.decode(&d); err != nil {
		return err
	}
	path := "/workspaces/" + w.ws + "/destinations/" + d.ID
	r, err = w.api.call(ctx, "GET", path+"/access-policy", w.owner, nil, "")
	if err != nil {
		return err
	}
	var access struct {
		ExternalID        string `json:"externalId"`
		PermissionsPolicy struct {
			Statement []struct {
				Action   []string `json:"Action"`
				Resource []string `json:"Resource"`
			} `json:"Statement"`
		} `json:"permissionsPolicy"`
	}
	if err := r.decode(&access); err != nil {
		return err
	}
	st := access.PermissionsPolicy.Statement
	w.say("owner adds S3 destination %s → s3://%s/%s through role %s; its access policy: external id %s, %v on %v",
		d.ID, bucket, lakePrefix, role, access.ExternalID, st[0].Action, st[0].Resource)
	if err := w.check(r.Status == http.StatusOK && access.ExternalID == "phiguard:"+w.ws+":"+d.ID && len(st) == 1 &&
		st[0].Resource[0] == "arn:aws:s3:::"+bucket+"/"+lakePrefix+"*",
		"the access policy names the destination's own external id and only its bucket's prefix"); err != nil {
		return err
	}

	if _, err := w.cfg.S3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return fmt.Errorf("create the customer's bucket: %w", err)
	}
	r, err = w.api.call(ctx, "POST", path+"/test", w.owner, nil, "")
	if err != nil {
		return err
	}
	var test struct {
		Delivered bool   `json:"delivered"`
		Location  string `json:"location"`
		Message   string `json:"message"`
	}
	if err := r.decode(&test); err != nil {
		return err
	}
	w.say("the customer creates bucket %s; owner presses \"Test destination\": %s", bucket, test.Message)
	if err := w.check(r.Status == http.StatusOK && test.Delivered && strings.HasPrefix(test.Location, "s3://"+bucket+"/"+lakePrefix+"_phiguard-test/"),
		"the test record is written under %s_phiguard-test/, which queries skip", lakePrefix); err != nil {
		return err
	}

	file := lakeKeyFile(w.cfg.PrivateKeyOut)
	var key string
	if err := w.on(d.ID, func() error {
		k, _, _, err := w.generate(ctx, file)
		if err != nil {
			return err
		}
		key = k.ID
		return w.activate(ctx, k.ID)
	}); err != nil {
		return err
	}
	r, err = w.api.call(ctx, "GET", path, w.owner, nil, "")
	if err != nil {
		return err
	}
	r, err = w.api.call(ctx, "PUT", path+"/hashing", w.owner, map[string]any{"enabled": true, "fields": hashingFields()}, r.Header.Get("ETag"))
	if err != nil {
		return err
	}
	if err := r.decode(&d); err != nil {
		return err
	}
	w.say("owner generates the lake's own key pair %s (saved to %s), saves it and enables hashing on the %d yellow fields: hashing is %s",
		key, file, len(hashedFields), d.HashingState)
	if err := w.check(r.Status == http.StatusOK && d.HashingState == "active", "the S3 destination's hashing is active under its own key"); err != nil {
		return err
	}
	if err := w.waitCache(ctx); err != nil {
		return err
	}

	bodies, sent := batchOf("lake", time.Now().UTC())
	if err := w.push(ctx, bodies); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "phiguard-demo-lake-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	got, objects, err := w.lakeObjects(ctx, bucket, dir, sent)
	if err != nil {
		return err
	}
	var parts []string
	for _, o := range objects {
		parts = append(parts, strings.TrimPrefix(filepath.Dir(o), lakePrefix)+"/")
	}
	parts = unique(parts)
	w.say("a producer pushes %d messages (%d events); bucket %s holds %d gzip NDJSON objects under %s%s: %d records, one per event",
		len(bodies), len(sent), bucket, len(objects), lakePrefix, strings.Join(parts, ", "), len(got))
	if err := w.check(len(got) == len(sent), "every event lands in the bucket once (%d of %d)", len(got), len(sent)); err != nil {
		return err
	}
	leaked := 0
	for _, c := range got {
		for _, p := range patients {
			for _, v := range p.phiValues() {
				if strings.Contains(string(c.raw), v) {
					leaked++
				}
			}
		}
	}
	if err := w.check(leaked == 0, "no PHI value is in the bucket in clear (found %d)", leaked); err != nil {
		return err
	}

	q, err := w.duckdb(ctx, dir)
	if err != nil {
		return err
	}
	total := 0
	var rows []string
	for _, p := range q.Partitions {
		total += p.Events
		rows = append(rows, fmt.Sprintf("dt=%s/hour=%s: %d events", p.DT, p.Hour, p.Events))
	}
	identifies := 0
	for _, s := range sent {
		if _, ok := s.fields["traits.email"]; ok {
			identifies++
		}
	}
	w.say("DuckDB %s reads the objects (read_json, hive partitioning): %s; traits.email is a token (%s…) in %d of %d records that have it, e.g. %s…",
		q.Version, strings.Join(rows, ", "), fieldcrypt.HPKETokenPrefix, q.EmailTokens, q.Emails, clip(q.SampleEmail))
	if err := w.check(total == len(sent) && q.EmailTokens == identifies && q.Emails == identifies,
		"DuckDB counts every event by partition (%d of %d) and finds traits.email a token in each (%d of %d)", total, len(sent), q.EmailTokens, identifies); err != nil {
		return err
	}

	n, bad, err := w.decrypt(ctx, file, key, got, sent)
	if err != nil {
		return err
	}
	w.say("the customer decrypts the bucket's records with %s and %s: %d fields back in clear", w.decryptTool(), file, n)
	return w.check(bad == 0 && n == countFields(sent), "every token in the bucket decrypts with the lake's private key to the value that was sent (%d mismatches)", bad)
}

func unique(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// lakeObjects waits until the bucket's objects under lakePrefix (the test record aside) hold a
// record of every sent event, downloads them into dir under their keys, and returns the records
// by message id and the keys.
func (w *walk) lakeObjects(ctx context.Context, bucket, dir string, sent []sentEvent) (map[string]*copyOf, []string, error) {
	deadline := time.Now().Add(w.cfg.DeliveryTimeout)
	for {
		got := map[string]*copyOf{}
		var keys []string
		res, err := w.cfg.S3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(lakePrefix + "dt=")})
		if err != nil {
			return nil, nil, fmt.Errorf("list the bucket: %w", err)
		}
		for _, o := range res.Contents {
			key := aws.ToString(o.Key)
			obj, err := w.cfg.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
			if err != nil {
				return nil, nil, fmt.Errorf("read s3://%s/%s: %w", bucket, key, err)
			}
			body, err := io.ReadAll(obj.Body)
			obj.Body.Close()
			if err != nil {
				return nil, nil, fmt.Errorf("read s3://%s/%s: %w", bucket, key, err)
			}
			file := filepath.Join(dir, filepath.FromSlash(key))
			if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
				return nil, nil, err
			}
			if err := os.WriteFile(file, body, 0o600); err != nil {
				return nil, nil, err
			}
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				return nil, nil, fmt.Errorf("s3://%s/%s is not gzip: %w", bucket, key, err)
			}
			sc := bufio.NewScanner(zr)
			sc.Buffer(make([]byte, 1<<20), 16<<20)
			for sc.Scan() {
				c := &copyOf{raw: append([]byte(nil), sc.Bytes()...)}
				if json.Unmarshal(c.raw, &c.event) != nil {
					return nil, nil, fmt.Errorf("s3://%s/%s holds a line that is not JSON", bucket, key)
				}
				c.messageID, _ = c.event["messageId"].(string)
				got[c.messageID] = c
			}
			keys = append(keys, key)
		}
		missing := 0
		for _, s := range sent {
			if got[s.messageID] == nil {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			return got, keys, nil
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// lakeQuery is what DuckDB found in the objects.
type lakeQuery struct {
	Version    string `json:"version"`
	Partitions []struct {
		DT     string `json:"dt"`
		Hour   string `json:"hour"`
		Events int    `json:"events"`
	} `json:"partitions"`
	EmailTokens int    `json:"emailTokens"`
	Emails      int    `json:"emails"`
	SampleEmail string `json:"sampleEmail"`
}

// duckdbQuery counts the records per partition and the traits.email values that are tokens, as
// an analyst would query the lake (docs/DESTINATIONS.md has the Athena table of the same layout).
const duckdbQuery = `
import duckdb, json, sys
root, prefix = sys.argv[1], sys.argv[2]
con = duckdb.connect()
src = "read_json('%s/**/*.ndjson.gz', format='newline_delimited', hive_partitioning=true, union_by_name=true)" % root.replace("'", "''")
parts = con.execute("SELECT CAST(dt AS VARCHAR), lpad(CAST(hour AS VARCHAR), 2, '0'), count(*) FROM " + src + " GROUP BY ALL ORDER BY ALL").fetchall()
tokens, emails, sample = con.execute("SELECT count(*) FILTER (WHERE starts_with(traits.email, ?)), count(traits.email), min(traits.email) FROM " + src, [prefix]).fetchone()
print(json.dumps({"version": duckdb.__version__, "partitions": [{"dt": p[0], "hour": p[1], "events": p[2]} for p in parts],
                  "emailTokens": tokens, "emails": emails, "sampleEmail": sample or ""}))
`

// duckdb runs duckdbQuery over the objects downloaded into dir with cfg.Python.
func (w *walk) duckdb(ctx context.Context, dir string) (*lakeQuery, error) {
	cmd := exec.CommandContext(ctx, w.cfg.Python, "-c", duckdbQuery, dir, fieldcrypt.HPKETokenPrefix)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("query the lake with DuckDB (%s; make bootstrap installs duckdb from requirements.txt): %w: %s",
			w.cfg.Python, err, short(strings.TrimSpace(stderr.String()), 400))
	}
	var q lakeQuery
	if err := json.Unmarshal(stdout.Bytes(), &q); err != nil {
		return nil, fmt.Errorf("DuckDB's answer is not JSON: %w", err)
	}
	return &q, nil
}
