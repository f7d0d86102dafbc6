package awsdest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/phiguard/phiguard/shared/awsclient"
	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/delivery"
	"github.com/phiguard/phiguard/shared/pack"
	"github.com/phiguard/phiguard/shared/phi"
)

// customer is a customer's AWS account in the emulator (awstest.Account), where only the
// destination's role reaches its resources.
type customer struct {
	*awstest.Account
	role    string
	service *awsclient.Clients // the service's own clients, in its account
}

func newCustomer(t *testing.T) *customer {
	t.Helper()
	svc := awstest.Clients(t)
	a := awstest.NewAccount(svc)
	return &customer{Account: a, role: a.Role("phiguard-delivery/test"), service: svc}
}

// destination returns a destination of type typ with settings s (the role filled in).
func (c *customer) destination(typ phi.DestinationType, s phi.DestinationSettings) *phi.Destination {
	s.RoleARN = c.role
	return &phi.Destination{ID: phi.NewID(phi.PrefixDestination), WorkspaceID: phi.NewID(phi.PrefixWorkspace), Type: typ, Settings: s, Enabled: true}
}

// calls counts the calls of each operation made through the senders' clients and records each
// AssumeRole's role and external id.
type calls struct {
	mu      sync.Mutex
	n       map[string]int
	assumed []string
}

func (c *calls) option() func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("count", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			c.mu.Lock()
			if c.n == nil {
				c.n = map[string]int{}
			}
			c.n[middleware.GetOperationName(ctx)]++
			if a, ok := in.Parameters.(*sts.AssumeRoleInput); ok {
				c.assumed = append(c.assumed, aws.ToString(a.RoleArn)+" "+aws.ToString(a.ExternalId))
			}
			c.mu.Unlock()
			return next.HandleInitialize(ctx, in)
		}), middleware.After)
	}
}

func (c *calls) count(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[op]
}

// failFirst makes the first call of operation op fail with AWS error code, before it is sent.
func failFirst(op, code string) func(*middleware.Stack) error {
	var once sync.Once
	return func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("fail-"+op, func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			fail := false
			if middleware.GetOperationName(ctx) == op {
				once.Do(func() { fail = true })
			}
			if fail {
				return middleware.InitializeOutput{}, middleware.Metadata{}, &smithy.GenericAPIError{Code: code, Message: "injected by the test"}
			}
			return next.HandleInitialize(ctx, in)
		}), middleware.Before)
	}
}

// senders returns the service's senders, with the API options opts (fault injection, counting).
// Each set gets its own HTTP client: the senders make one attempt per request (the delivery engine
// retries), and moto closes a connection after a request of several MiB, which a sender of the
// next subtest could otherwise reuse as it closes and report as a network failure.
func senders(t *testing.T, c *customer, opts ...func(*middleware.Stack) error) *Senders {
	t.Helper()
	cfg := c.service.Config.Copy()
	cfg.HTTPClient = awshttp.NewBuildableClient()
	return New(Config{AWS: cfg, S3PathStyle: true, APIOptions: opts,
		Now: func() time.Time { return time.Date(2026, 12, 2, 9, 30, 0, 0, time.UTC) }})
}

// copies returns n copies of track events, each with a fake token in traits.email (the
// senders never look inside), numbered from 0.
func copies(n int, pad int) []pack.Copy {
	out := make([]pack.Copy, n)
	for i := range out {
		ev := fmt.Sprintf(`{"type":"track","event":"Visit","messageId":"m-%d","timestamp":"2026-12-01T13:%02d:00Z","traits":{"email":"phi2.tok%d"},"properties":{"pad":%q}}`,
			i, i%60, i, strings.Repeat("x", pad))
		out[i] = pack.Copy{DedupID: fmt.Sprintf("%032x", i+1), Event: json.RawMessage(ev)}
	}
	return out
}

func mustDeliver(t *testing.T, out []delivery.Outcome, n int) {
	t.Helper()
	if len(out) != n {
		t.Fatalf("%d outcomes for %d copies", len(out), n)
	}
	for i, o := range out {
		if o.Err != nil {
			t.Fatalf("copy %d: %v (reason %s, permanent %v)", i, o.Err, o.Reason, o.Permanent)
		}
	}
}

// records decodes NDJSON lines, checking each has the delivery member of a dedup id.
func records(t *testing.T, ndjson []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimRight(ndjson, "\n"), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if d, _ := m["_delivery"].(map[string]any); d == nil || d["dedupId"] == "" {
			t.Fatalf("record without _delivery.dedupId: %s", line)
		}
		out = append(out, m)
	}
	return out
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// objects returns the keys below prefix in bucket, as the customer lists them.
func (c *customer) objects(t *testing.T, bucket, prefix string) []string {
	t.Helper()
	res, err := c.Clients.S3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range res.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys
}

func (c *customer) object(t *testing.T, bucket, key string) (*s3.GetObjectOutput, []byte) {
	t.Helper()
	res, err := c.Clients.S3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

var (
	phictlOnce sync.Once
	phictlPath string
	phictlErr  error
)

// phictl runs the project's phictl (built once) with stdin and returns its standard output.
func phictl(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	phictlOnce.Do(func() {
		dir, err := os.MkdirTemp("", "awsdest-phictl")
		if err != nil {
			phictlErr = err
			return
		}
		phictlPath = filepath.Join(dir, "phictl")
		out, err := exec.Command("go", "build", "-o", phictlPath, "../../scripts/phictl").CombinedOutput()
		if err != nil {
			phictlErr = fmt.Errorf("build phictl: %v: %s", err, out)
		}
	})
	if phictlErr != nil {
		t.Fatal(phictlErr)
	}
	cmd := exec.Command(phictlPath, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("phictl %v: %v: %s", args, err, stderr.String())
	}
	return out
}
