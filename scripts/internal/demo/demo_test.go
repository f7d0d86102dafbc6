package demo

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phiguard/phiguard/scripts/internal/devserver"
	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/fieldcrypt"
	"github.com/phiguard/phiguard/shared/stack"
)

// TestTheWalkthroughPassesEndToEnd runs `make demo`'s walkthrough against an in-process local
// service on the emulators: API, pipeline, fan-out, delivery and receiver, all real.
func TestTheWalkthroughPassesEndToEnd(t *testing.T) {
	awstest.Clients(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const ttl = time.Second
	s, err := devserver.Start(ctx, devserver.Config{
		APIAddr: "127.0.0.1:0", ReceiverAddr: "127.0.0.1:0", Prefix: awstest.UniqueName("demo"),
		Env: map[string]string{stack.EnvConfigCacheTTL: ttl.String()},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	// The customer decrypts with the real phictl command.
	phictl := filepath.Join(t.TempDir(), "phictl")
	if b, err := exec.CommandContext(ctx, "go", "build", "-o", phictl, "github.com/phiguard/phiguard/scripts/phictl").CombinedOutput(); err != nil {
		t.Fatalf("build phictl: %v\n%s", err, b)
	}

	keyFile := filepath.Join(t.TempDir(), "keys", "private-key.pem")
	var out bytes.Buffer
	cfg := ConfigFor(s, ttl, keyFile, &out)
	cfg.Phictl, cfg.Python = phictl, venvPython(t)
	n, err := Run(ctx, cfg)
	t.Logf("walkthrough output:\n%s", out.String())
	if err != nil {
		t.Fatalf("the walkthrough failed after %d checks: %v", n, err)
	}
	if n < 30 {
		t.Errorf("only %d checks ran; the walkthrough checks every claim it prints", n)
	}

	for _, f := range []string{keyFile, strings.TrimSuffix(keyFile, ".pem") + "-2.pem"} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatalf("private key file: %v", err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v; a private key file must be 0600", f, fi.Mode().Perm())
		}
		pemData, _ := os.ReadFile(f)
		if _, err := fieldcrypt.ParsePrivateKey(pemData); err != nil {
			t.Errorf("%s does not hold a private key: %v", f, err)
		}
		// "Shown once" means in the API response, not in the walkthrough's output.
		body := strings.TrimSpace(strings.Split(string(pemData), "-----")[2])
		if strings.Contains(out.String(), body[:40]) {
			t.Errorf("the walkthrough's output contains the private key of %s", f)
		}
	}
	for i, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if !strings.HasPrefix(line, "      ") && !strings.Contains(line, ". ") {
			t.Errorf("line %d is neither a numbered step nor an audit record: %q", i+1, line)
		}
	}
	if !strings.Contains(out.String(), "`phictl decrypt`") {
		t.Error("the walkthrough did not decrypt with phictl")
	}
	if s := s.Ingest.Stats(); s.Deleted == 0 || s.Failed != 0 {
		t.Errorf("ingest poller stats %+v: every message handled, none failed", s)
	}
}

// TestTheWalkthroughDecryptsInProcessWithoutPhictl runs the library code path of phictl's
// decrypt, which `go run ./scripts/demo -phictl ”` uses.
func TestTheWalkthroughDecryptsInProcessWithoutPhictl(t *testing.T) {
	awstest.Clients(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s, err := devserver.Start(ctx, devserver.Config{
		APIAddr: "127.0.0.1:0", ReceiverAddr: "127.0.0.1:0", Prefix: awstest.UniqueName("demo"),
		Env: map[string]string{stack.EnvConfigCacheTTL: "1s"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out bytes.Buffer
	cfg := ConfigFor(s, time.Second, filepath.Join(t.TempDir(), "k.pem"), &out)
	cfg.Python = venvPython(t)
	n, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("the walkthrough failed after %d checks: %v\n%s", n, err, out.String())
	}
	if !strings.Contains(out.String(), "fieldcrypt.Keyring") {
		t.Error("the walkthrough did not use the in-process code path")
	}
}

// venvPython is make bootstrap's Python, with DuckDB from requirements.txt; the walkthrough's
// S3 step fails without it, as make demo does.
func venvPython(t *testing.T) string {
	t.Helper()
	py, err := filepath.Abs(filepath.Join("..", "..", "..", ".venv", "bin", "python"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(py); err != nil {
		t.Fatalf("the walkthrough's S3 step queries with DuckDB in %s: run make bootstrap (%v)", py, err)
	}
	return py
}

func TestCheckCountsHoldingClaimsAndStopsAtTheFirstFalseOne(t *testing.T) {
	var out bytes.Buffer
	w := &walk{out: &out}
	if err := w.check(true, "holds"); err != nil {
		t.Fatal(err)
	}
	err := w.check(false, "the %s holds", "claim")
	if err == nil || !strings.Contains(err.Error(), "the claim holds") {
		t.Fatalf("err = %v; want one naming the claim", err)
	}
	if w.checks != 1 {
		t.Errorf("checks = %d, want 1", w.checks)
	}
	if !strings.Contains(out.String(), "FAILED: the claim holds") {
		t.Errorf("the failing claim is not printed: %q", out.String())
	}
}

func TestWriteNewNeverOverwritesAPrivateKey(t *testing.T) {
	f := filepath.Join(t.TempDir(), "k.pem")
	if err := writeNew(f, []byte("first")); err != nil {
		t.Fatal(err)
	}
	if err := writeNew(f, []byte("second")); err == nil {
		t.Fatal("an existing key file was overwritten")
	}
	if b, _ := os.ReadFile(f); string(b) != "first" {
		t.Errorf("file holds %q", b)
	}
}

func TestRunNeedsAFileForThePrivateKey(t *testing.T) {
	if _, err := Run(context.Background(), Config{APIURL: "http://127.0.0.1:1"}); err == nil {
		t.Fatal("Run started without a file to save the private key to")
	}
}

func TestRunRefusesAnExistingKeyFileBeforeAnyStep(t *testing.T) {
	dir := t.TempDir()
	for _, existing := range []string{"k.pem", "k-2.pem", "k-lake.pem"} {
		t.Run(existing, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(dir, existing), []byte("a key the user keeps"), 0o600); err != nil {
				t.Fatal(err)
			}
			defer os.Remove(filepath.Join(dir, existing))
			var out bytes.Buffer
			n, err := Run(context.Background(), Config{APIURL: "http://127.0.0.1:1", PrivateKeyOut: filepath.Join(dir, "k.pem"), Out: &out})
			if err == nil || !strings.Contains(err.Error(), existing+" already exists") {
				t.Fatalf("Run = %v; want an error naming the existing %s", err, existing)
			}
			if n != 0 || out.Len() != 0 {
				t.Errorf("Run took %d checks and printed %q before refusing", n, out.String())
			}
		})
	}
}

func TestLookupFollowsDottedPaths(t *testing.T) {
	ev := map[string]any{"traits": map[string]any{"address": map[string]any{"city": "Springfield"}}, "n": 1.0}
	tests := []struct {
		name, path string
		want       any
	}{
		{name: "a nested value is found", path: "traits.address.city", want: "Springfield"},
		{name: "a missing member is nil", path: "traits.email", want: nil},
		{name: "a path through a non-object is nil", path: "n.x", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := lookup(ev, tt.path); got != tt.want {
				t.Errorf("lookup(%q) = %v, want %v", tt.path, got, tt.want)
			}
		})
	}
}

func TestAuditTableKeepsEveryColumnAlignedWhateverTheOutcome(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	items := []auditRecord{
		{At: at, Action: "workspace.create", Outcome: "success", Actor: "operator:local", Target: "workspace/ws_1"},
		{At: at, Action: "key.generate", Outcome: "attempted", Actor: "tok_5z278g7d43ega1nfwfhfbd5p64", Target: "destinations/dst_1/keys/key_1"},
		{At: at, Action: "destination.hashing.update", Outcome: "failed", Actor: "tok_5z278g7d43ega1nfwfhfbd5p64", Target: "destinations/dst_1/hashing"},
	}
	lines := auditTable(items)
	if len(lines) != len(items) {
		t.Fatalf("%d lines for %d records", len(lines), len(items))
	}
	for _, column := range []func(auditRecord) string{
		func(r auditRecord) string { return r.Action },
		func(r auditRecord) string { return r.Outcome },
		func(r auditRecord) string { return r.Actor },
		func(r auditRecord) string { return r.Target },
	} {
		start := -1
		for i, line := range lines {
			col := strings.Index(line, "  "+column(items[i])) + 2
			if col < 2 {
				t.Fatalf("line %q lacks %q", line, column(items[i]))
			}
			if start >= 0 && col != start {
				t.Errorf("column of %q starts at %d, the one above at %d:\n%s", column(items[i]), col, start, strings.Join(lines, "\n"))
			}
			start = col
		}
	}
}
