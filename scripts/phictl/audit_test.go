package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phiguard/phiguard/shared/audit"
	"github.com/phiguard/phiguard/shared/phi"
)

// exportOf writes an export of n chained records and a checkpoint over the last, signed with
// key, as GET …/audit/export writes one.
func exportOf(t *testing.T, key *ecdsa.PrivateKey, n int) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	ws := phi.NewID(phi.PrefixWorkspace)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	_ = enc.Encode(audit.ExportHeader{Type: "export", Format: audit.ExportFormat, WorkspaceID: ws, Records: n, Checkpoints: 1,
		PublicKey: audit.PublicKey{KeyID: "arn:aws:kms:eu-west-1:123456789012:key/test", Algorithm: audit.SigningAlgorithm,
			PEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}})
	prev := audit.Genesis
	at := time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)
	for i := 1; i <= n; i++ {
		r := phi.AuditRecord{ID: phi.NewID(phi.PrefixAudit), WorkspaceID: ws, Actor: "tok_1", Action: "key.list", Target: "destinations/dst_1/keys",
			Outcome: audit.OutcomeSuccess, RequestID: "r", At: at.Add(time.Duration(i) * time.Second), Seq: int64(i), PrevHash: prev}
		prev = audit.Hash(&r)
		_ = enc.Encode(audit.ExportRecord{Type: "record", AuditRecord: r})
	}
	c := phi.AuditCheckpoint{WorkspaceID: ws, Seq: int64(n), Hash: prev, At: at.Add(time.Hour), KeyID: "k", Algorithm: audit.SigningAlgorithm}
	digest := sha256.Sum256(audit.CheckpointMessage(&c))
	if c.Signature, err = ecdsa.SignASN1(rand.Reader, key, digest[:]); err != nil {
		t.Fatal(err)
	}
	_ = enc.Encode(audit.ExportCheckpoint{Type: "checkpoint", AuditCheckpoint: c})
	return buf.String()
}

func writePublicKey(t *testing.T, key *ecdsa.PrivateKey) string {
	t.Helper()
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	f := filepath.Join(t.TempDir(), "audit.pem")
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestAuditVerifyChecksAnExportOffline(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	export := exportOf(t, key, 3)
	lines := strings.SplitAfter(export, "\n")
	tests := []struct {
		name   string
		args   []string
		stdin  string
		code   int
		stdout string
		stderr string
	}{
		{"an intact export with the pinned key", []string{"--public-key", writePublicKey(t, key)}, export, exitOK, `"summary": "intact through record 3"`, ""},
		{"an intact export without a key warns", nil, export, exitOK, `"intact": true`, "consistent with itself"},
		{"a record removed", []string{"--public-key", writePublicKey(t, key)}, lines[0] + lines[1] + lines[3] + lines[4], exitBroken,
			`"summary": "broken at record 2: record 2 is missing (the next record present is 3)"`, ""},
		{"a record altered", []string{"--public-key", writePublicKey(t, key)}, strings.Replace(export, `"key.list"`, `"key.revoke"`, 1), exitBroken,
			`"seq": 1`, ""},
		{"the newest record removed", []string{"--public-key", writePublicKey(t, key)}, lines[0] + lines[1] + lines[2] + lines[4], exitBroken,
			`records were removed`, ""},
		{"another key", []string{"--public-key", writePublicKey(t, other)}, export, exitFailure, "", "another public key"},
		{"not an export", nil, `{"type":"record"}` + "\n", exitFailure, "", "not an audit export: line 1"},
		{"an unknown flag", []string{"--key", "x"}, export, exitUsage, "", "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"audit", "verify"}, tt.args...), strings.NewReader(tt.stdin), &stdout, &stderr)
			if code != tt.code || !strings.Contains(stdout.String(), tt.stdout) || !strings.Contains(stderr.String(), tt.stderr) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s", code, tt.code, stdout.String(), stderr.String())
			}
		})
	}
	var stdout bytes.Buffer
	if code := run([]string{"audit", "--help"}, nil, &stdout, &stdout); code != exitOK || !strings.Contains(stdout.String(), "phictl audit verify") {
		t.Errorf("audit --help: %d %s", code, stdout.String())
	}
}
