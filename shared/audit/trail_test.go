package audit_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/phiguard/phiguard/shared/audit"
	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/phi"
)

type harness struct {
	trail  *audit.Trail
	store  *dynamo.Store
	client *dynamodb.Client
	table  string
	ws     string
	recs   []*phi.AuditRecord
}

// newHarness returns a trail on a fresh table and a fresh local-kms signing key, with n records
// appended to one workspace through the store, as the routers append them.
func newHarness(t *testing.T, n int) *harness {
	t.Helper()
	c := awstest.Clients(t)
	ctx := context.Background()
	table := awstest.UniqueName("audit-test")
	if err := dynamo.CreateTable(ctx, c.DynamoDB, table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = c.DynamoDB.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	key, err := c.KMS.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: kmstypes.KeySpecEccNistP256, KeyUsage: kmstypes.KeyUsageTypeSignVerify})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{store: dynamo.New(c.DynamoDB, table), client: c.DynamoDB, table: table, ws: phi.NewID(phi.PrefixWorkspace)}
	h.trail = &audit.Trail{Store: h.store, KMS: c.KMS, SigningKey: aws.ToString(key.KeyMetadata.KeyId)}
	base := time.Now().UTC().Add(-time.Hour)
	for i := range n {
		r := &phi.AuditRecord{WorkspaceID: h.ws, Actor: "tok_owner", Action: "destination.read", Target: "destinations/dst_1",
			Outcome: audit.OutcomeSuccess, RequestID: "req", At: base.Add(time.Duration(i) * time.Second)}
		if err := h.store.AppendAudit(ctx, r); err != nil {
			t.Fatal(err)
		}
		h.recs = append(h.recs, r)
	}
	return h
}

func (h *harness) key(r *phi.AuditRecord) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		dynamo.Table.PartitionKey: &types.AttributeValueMemberS{Value: "WS#" + r.WorkspaceID + "#AUDIT"},
		dynamo.Table.SortKey:      &types.AttributeValueMemberS{Value: r.At.UTC().Format("2006-01-02T15:04:05.000000000Z") + "#" + r.ID},
	}
}

// set overwrites attributes of a stored record directly in the table, as someone with write
// access to the table (not the service's functions, which IAM denies) could.
func (h *harness) set(t *testing.T, r *phi.AuditRecord, attrs map[string]types.AttributeValue) {
	t.Helper()
	get, err := h.client.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(h.table), Key: h.key(r)})
	if err != nil || get.Item == nil {
		t.Fatalf("read record %d: %v", r.Seq, err)
	}
	for k, v := range attrs {
		get.Item[k] = v
	}
	if _, err := h.client.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(h.table), Item: get.Item}); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) verify(t *testing.T) *audit.Report {
	t.Helper()
	rep, err := h.trail.Verify(context.Background(), h.ws)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

// Records deleted, altered or reordered directly in the emulator's table are each found, at the
// first record they affect; an untouched chain verifies and gets a signed checkpoint.
func TestVerifyDetectsTamperingInTheTable(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		tamper    func(t *testing.T, h *harness)
		wantBreak int64
		reason    string
	}{
		{name: "a record deleted from the middle", wantBreak: 3, reason: "record 3 is missing", tamper: func(t *testing.T, h *harness) {
			if _, err := h.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(h.table), Key: h.key(h.recs[2])}); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "the newest record deleted", wantBreak: 5, reason: "records 5 through 5 are missing", tamper: func(t *testing.T, h *harness) {
			if _, err := h.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(h.table), Key: h.key(h.recs[4])}); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "a record's actor altered", wantBreak: 2, reason: "record 2 does not match", tamper: func(t *testing.T, h *harness) {
			h.set(t, h.recs[1], map[string]types.AttributeValue{"actor": s("tok_someone_else")})
		}},
		{name: "two records reordered (their sequence numbers and links swapped)", wantBreak: 2, reason: "record 2 does not match", tamper: func(t *testing.T, h *harness) {
			a, b := h.recs[1], h.recs[2]
			h.set(t, a, map[string]types.AttributeValue{"seq": n(b.Seq), "prevHash": s(b.PrevHash)})
			h.set(t, b, map[string]types.AttributeValue{"seq": n(a.Seq), "prevHash": s(a.PrevHash)})
		}},
		{name: "two records' times swapped", wantBreak: 3, reason: "record 3 does not match", tamper: func(t *testing.T, h *harness) {
			a, b := h.recs[2], h.recs[3]
			h.set(t, a, map[string]types.AttributeValue{"at": s(b.At.Format(time.RFC3339Nano))})
			h.set(t, b, map[string]types.AttributeValue{"at": s(a.At.Format(time.RFC3339Nano))})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, 5)
			if rep := h.verify(t); !rep.Intact || rep.Through != 5 || rep.Signed != 5 {
				t.Fatalf("before tampering: %+v", rep)
			}
			tt.tamper(t, h)
			rep := h.verify(t)
			if rep.Intact || rep.Break == nil || rep.Break.Seq != tt.wantBreak || !strings.Contains(rep.Break.Reason, tt.reason) {
				t.Fatalf("after tampering: %+v (break %+v), want a break at record %d saying %q", rep, rep.Break, tt.wantBreak, tt.reason)
			}
			if rep.Signed >= rep.Break.Seq && tt.wantBreak != 5 {
				t.Errorf("a broken chain got a checkpoint through %d", rep.Signed)
			}
		})
	}
}

// Removing the newest records and rewinding the head to match (what someone who understands
// the chain would do) is caught by the signed checkpoint taken at the last verification.
func TestVerifyDetectsARewoundChainByItsCheckpoint(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, 4)
	if rep := h.verify(t); !rep.Intact || rep.Signed != 4 {
		t.Fatalf("before: %+v", rep)
	}
	if _, err := h.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(h.table), Key: h.key(h.recs[3])}); err != nil {
		t.Fatal(err)
	}
	_, err := h.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(h.table), Item: map[string]types.AttributeValue{
		dynamo.Table.PartitionKey: s("WS#" + h.ws + "#AUDITHEAD"), dynamo.Table.SortKey: s("HEAD"),
		"seq": n(3), "hash": s(audit.Hash(h.recs[2])),
	}})
	if err != nil {
		t.Fatal(err)
	}
	rep := h.verify(t)
	if rep.Intact || rep.Break.Seq != 4 || !strings.Contains(rep.Break.Reason, "records were removed") {
		t.Fatalf("report %+v (break %+v)", rep, rep.Break)
	}
}

// An export verifies offline with the public key; one with a line removed or changed does not.
func TestExportVerifiesOfflineAndShowsTampering(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, 4)
	var buf bytes.Buffer
	if err := h.trail.Export(ctx, h.ws, time.Time{}, time.Time{}, &buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 1+4+1 || !strings.Contains(lines[0], `"format":"phiguard-audit-export/1"`) || !strings.Contains(lines[5], `"type":"checkpoint"`) {
		t.Fatalf("export:\n%s", buf.String())
	}
	pub, err := h.trail.PublicKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	key, err := audit.ParsePublicKey(pub.PEM)
	if err != nil {
		t.Fatal(err)
	}
	check := func(text string) audit.Report {
		t.Helper()
		x, err := audit.ReadExport(strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := audit.VerifyExport(x, key)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	if rep := check(buf.String()); !rep.Intact || rep.Through != 4 || rep.Signed != 4 {
		t.Fatalf("the export as written: %+v", rep)
	}
	dropLast := strings.Join(append(lines[:4:4], lines[5]), "\n")
	if rep := check(dropLast); rep.Intact || rep.Break.Seq != 4 {
		t.Errorf("the newest record removed from the export: %+v", rep)
	}
	altered := strings.Replace(buf.String(), `"outcome":"success"`, `"outcome":"denied"`, 1)
	if rep := check(altered); rep.Intact || rep.Break.Seq != 1 {
		t.Errorf("the first record altered in the export: %+v", rep)
	}

	// A time range exports its records and the checkpoints; the first link is taken on trust.
	buf.Reset()
	if err := h.trail.Export(ctx, h.ws, h.recs[1].At, h.recs[2].At, &buf); err != nil {
		t.Fatal(err)
	}
	if rep := check(buf.String()); !rep.Intact || rep.From != 2 || rep.Through != 3 {
		t.Errorf("a time range: %+v", rep)
	}
}

// python returns the project's Python (make bootstrap installs it with the cryptography
// package), else python3 on PATH; a machine without either fails rather than skips.
func python(t *testing.T) string {
	t.Helper()
	candidates := []string{"../../.venv/bin/python"}
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	for _, p := range candidates {
		if exec.Command(p, "-c", "from cryptography.hazmat.primitives.asymmetric import ec").Run() == nil {
			return p
		}
	}
	t.Fatal("no Python with the cryptography package found; run make bootstrap")
	return ""
}

// The Python verifier of docs/AUDIT.md, run as written, agrees with the service on exports the
// service wrote: intact, with a record removed, altered or the newest one dropped.
func TestTheDocumentedPythonVerifierAgreesWithTheService(t *testing.T) {
	doc, err := os.ReadFile("../../docs/AUDIT.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```python\n")
	code, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/AUDIT.md has no python block")
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "verify.py")
	if err := os.WriteFile(script, []byte(code), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	h := newHarness(t, 4)
	var buf bytes.Buffer
	if err := h.trail.Export(ctx, h.ws, time.Time{}, time.Time{}, &buf); err != nil {
		t.Fatal(err)
	}
	pub, err := h.trail.PublicKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "audit.pem")
	if err := os.WriteFile(keyFile, []byte(pub.PEM), 0o600); err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(buf.String(), "\n")
	py := python(t)
	for _, c := range []struct{ name, export, want string }{
		{"intact", buf.String(), "intact through record 4"},
		{"record 2 removed", lines[0] + lines[1] + strings.Join(lines[3:], ""), "broken at record 2"},
		{"record 3 altered", strings.Replace(buf.String(), h.recs[2].ID, phi.NewID(phi.PrefixAudit), 1), "broken at record 3"},
		{"the newest record removed", strings.Join(lines[:4], "") + strings.Join(lines[5:], ""), "broken at record 4: records were removed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := filepath.Join(dir, "export.ndjson")
			if err := os.WriteFile(f, []byte(c.export), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(py, script, f, keyFile).CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != c.want {
				t.Fatalf("python says %q (%v), want %q", out, err, c.want)
			}
			x, err := audit.ReadExport(strings.NewReader(c.export))
			if err != nil {
				t.Fatal(err)
			}
			rep, err := audit.VerifyExport(x, nil)
			if err != nil || !strings.HasPrefix(rep.Summary, strings.SplitN(c.want, ":", 2)[0]) {
				t.Errorf("the service says %q (%v)", rep.Summary, err)
			}
		})
	}
}
