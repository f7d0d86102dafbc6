package awsdest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/phiguard/phiguard/shared/catalog"
	"github.com/phiguard/phiguard/shared/delivery"
	"github.com/phiguard/phiguard/shared/pack"
	"github.com/phiguard/phiguard/shared/phi"
)

// S3Sender writes each batch of copies as one gzip-compressed NDJSON object (a Record per line)
// to the destination's bucket:
//
//	<prefix>dt=YYYY-MM-DD/hour=HH/<32 hex digits>.ndjson.gz
//
// The hex digits are a hash of the batch's sorted dedup ids and the partition is the UTC time of
// the event (its "timestamp", else "receivedAt", else the time of writing) of the batch's first
// copy in that order, so a redelivered batch overwrites its object instead of duplicating it.
// With settings.kmsKeyArn the object is encrypted with SSE-KMS under that key; every request
// names the role's account as the expected bucket owner. One PutObject per batch: its outcome is
// every copy's.
type S3Sender struct{ s *Senders }

// Send implements delivery.Sender.
func (x S3Sender) Send(ctx context.Context, d *phi.Destination, copies []pack.Copy) []delivery.Outcome {
	if len(copies) == 0 {
		return nil
	}
	if bad := misconfigured(d, len(copies)); bad != nil {
		return bad
	}
	body, key := x.object(d, copies)
	c := x.s.forDestination(d)
	_, err := c.s3.PutObject(ctx, x.put(d, key, body, len(copies)))
	return all(len(copies), outcomeOf("s3 PutObject", err))
}

// put is the PutObject request of an object of n records.
func (x S3Sender) put(d *phi.Destination, key string, body []byte, n int) *s3.PutObjectInput {
	s := d.Settings
	role, _ := catalog.ParseARN(s.RoleARN)
	in := &s3.PutObjectInput{
		Bucket: aws.String(s.Bucket), Key: aws.String(key), Body: bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))), ContentType: aws.String("application/x-ndjson"),
		ContentEncoding: aws.String("gzip"), ExpectedBucketOwner: aws.String(role.Account),
		Metadata: map[string]string{"phiguard-destination": d.ID, "phiguard-records": strconv.Itoa(n)},
	}
	if s.KMSKeyARN != "" {
		in.ServerSideEncryption = types.ServerSideEncryptionAwsKms
		in.SSEKMSKeyId = aws.String(s.KMSKeyARN)
	}
	return in
}

// object returns the gzip NDJSON body of copies and its key.
func (x S3Sender) object(d *phi.Destination, copies []pack.Copy) ([]byte, string) {
	order := make([]int, len(copies))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(copies[a].DedupID, copies[b].DedupID) })
	h := sha256.New()
	h.Write([]byte("phiguard/s3-object/v1"))
	recs := make([][]byte, len(order))
	for j, i := range order {
		h.Write([]byte{0})
		h.Write([]byte(copies[i].DedupID))
		recs[j] = Record(copies[i])
	}
	at := eventTime(copies[order[0]].Event, x.s.now())
	return gzipLines(recs), ObjectKey(d.Settings.Prefix, at, hex.EncodeToString(h.Sum(nil)[:16]))
}

// gzipLines returns the gzip of recs, each followed by a newline (NDJSON).
func gzipLines(recs [][]byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	for _, r := range recs {
		zw.Write(r)
		zw.Write([]byte{'\n'})
	}
	zw.Close() // writes to a bytes.Buffer cannot fail
	return buf.Bytes()
}

// ObjectKey is the key of an S3 object: prefix, the dt/hour partition of at (UTC), the name.
func ObjectKey(prefix string, at time.Time, name string) string {
	at = at.UTC()
	return prefix + "dt=" + at.Format("2006-01-02") + "/hour=" + at.Format("15") + "/" + name + ".ndjson.gz"
}

// eventTime returns the event's "timestamp", else its "receivedAt", else fallback.
func eventTime(event []byte, fallback time.Time) time.Time {
	var e struct {
		Timestamp  string `json:"timestamp"`
		ReceivedAt string `json:"receivedAt"`
	}
	if json.Unmarshal(event, &e) == nil {
		for _, v := range []string{e.Timestamp, e.ReceivedAt} {
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
				return t
			}
		}
	}
	return fallback
}
