package audit

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/phiguard/phiguard/shared/phi"
)

// chainOf returns n records of a chain built the way the store builds one, and its head.
func chainOf(t *testing.T, ws string, n int) ([]phi.AuditRecord, phi.AuditHead) {
	t.Helper()
	base := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	prev := Genesis
	var recs []phi.AuditRecord
	for i := 1; i <= n; i++ {
		r := phi.AuditRecord{ID: phi.NewID(phi.PrefixAudit), WorkspaceID: ws, Actor: "tok_x", Action: "destination.read",
			Target: "destinations/dst_x", Outcome: OutcomeSuccess, RequestID: "req", At: base.Add(time.Duration(i) * time.Millisecond),
			Seq: int64(i), PrevHash: prev}
		prev = Hash(&r)
		recs = append(recs, r)
	}
	return recs, phi.AuditHead{Seq: int64(n), Hash: prev}
}

func sign(t *testing.T, key *ecdsa.PrivateKey, ws string, head phi.AuditHead) phi.AuditCheckpoint {
	t.Helper()
	c := phi.AuditCheckpoint{WorkspaceID: ws, Seq: head.Seq, Hash: head.Hash, At: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), Algorithm: SigningAlgorithm}
	digest := sha256.Sum256(CheckpointMessage(&c))
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	c.Signature = sig
	return c
}

// The canonical encoding is the documented one (docs/AUDIT.md): a tag, then each field as a
// 4-byte big-endian length and its bytes. This vector is reproduced there.
func TestRecordHashIsTheDocumentedEncoding(t *testing.T) {
	r := phi.AuditRecord{ID: "aud_00000000000000000000000000", WorkspaceID: "ws_00000000000000000000000000", Actor: "tok_00000000000000000000000000",
		Action: "audit.read", Target: "audit", Outcome: "success", RequestID: "req-1", At: time.Date(2026, 1, 2, 3, 4, 5, 600000000, time.UTC),
		Seq: 1, PrevHash: Genesis}
	enc := RecordEncoding(&r)
	if !strings.HasPrefix(string(enc), "phiguard-audit-record/1\n\x00\x00\x00\x1dws_") {
		t.Errorf("encoding starts %q", enc[:40])
	}
	if !strings.Contains(string(enc), "\x00\x00\x00\x162026-01-02T03:04:05.6Z") {
		t.Errorf("the time is not RFC 3339 as in the record's JSON: %q", enc)
	}
	sum := sha256.Sum256(enc)
	if got := Hash(&r); got != hex.EncodeToString(sum[:]) || got != recordVector {
		t.Errorf("Hash = %s, want %s (docs/AUDIT.md's vector)", got, recordVector)
	}
}

// recordVector is the hash of TestRecordHashIsTheDocumentedEncoding's record.
const recordVector = "dd6e73d46a69abc71bdabd16f556eec89430fb07c4f9187252579ccc2df99cc8"

func TestVerifyFindsTheFirstBreak(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ws := phi.NewID(phi.PrefixWorkspace)
	tests := []struct {
		name      string
		tamper    func(recs []phi.AuditRecord, head *phi.AuditHead, cps []phi.AuditCheckpoint) ([]phi.AuditRecord, []phi.AuditCheckpoint)
		pub       *ecdsa.PublicKey
		wantBreak int64 // 0: intact
		reason    string
	}{
		{name: "an untouched chain is intact", wantBreak: 0},
		{name: "a deleted record is missing", wantBreak: 3, reason: "record 3 is missing",
			tamper: func(r []phi.AuditRecord, _ *phi.AuditHead, c []phi.AuditCheckpoint) ([]phi.AuditRecord, []phi.AuditCheckpoint) {
				return append(r[:2:2], r[3:]...), c
			}},
		{name: "an altered record breaks at that record", wantBreak: 2, reason: "record 2 does not match",
			tamper: func(r []phi.AuditRecord, _ *phi.AuditHead, c []phi.AuditCheckpoint) ([]phi.AuditRecord, []phi.AuditCheckpoint) {
				r[1].Outcome = OutcomeDenied
				return r, c
			}},
		{name: "two records swapped in order break at the first", wantBreak: 2, reason: "record 2 does not match",
			tamper: func(r []phi.AuditRecord, _ *phi.AuditHead, c []phi.AuditCheckpoint) ([]phi.AuditRecord, []phi.AuditCheckpoint) {
				r[1].Seq, r[2].Seq = r[2].Seq, r[1].Seq
				r[1].PrevHash, r[2].PrevHash = r[2].PrevHash, r[1].PrevHash
				return r, c
			}},
		{name: "the last record altered fails the head", wantBreak: 5, reason: "chain head",
			tamper: func(r []phi.AuditRecord, _ *phi.AuditHead, c []phi.AuditCheckpoint) ([]phi.AuditRecord, []phi.AuditCheckpoint) {
				r[4].Actor = "tok_someone_else"
				return r, nil
			}},
		{name: "the last records removed and the head rewound fail the checkpoint", wantBreak: 4, reason: "records were removed",
			tamper: func(r []phi.AuditRecord, h *phi.AuditHead, c []phi.AuditCheckpoint) ([]phi.AuditRecord, []phi.AuditCheckpoint) {
				*h = phi.AuditHead{Seq: 3, Hash: Hash(&r[2])}
				return r[:3], c
			}},
		{name: "a checkpoint signed by another key fails", wantBreak: 5, reason: "not validly signed", pub: &other.PublicKey},
		{name: "a record of another workspace fails", wantBreak: 1, reason: "belongs to workspace",
			tamper: func(r []phi.AuditRecord, _ *phi.AuditHead, c []phi.AuditCheckpoint) ([]phi.AuditRecord, []phi.AuditCheckpoint) {
				r[0].WorkspaceID = phi.NewID(phi.PrefixWorkspace)
				return r, c
			}},
		{name: "a duplicated record fails", wantBreak: 3, reason: "two records carry sequence number 3",
			tamper: func(r []phi.AuditRecord, _ *phi.AuditHead, c []phi.AuditCheckpoint) ([]phi.AuditRecord, []phi.AuditCheckpoint) {
				return append(r, r[2]), c
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, head := chainOf(t, ws, 5)
			cps := []phi.AuditCheckpoint{sign(t, key, ws, head)}
			if tt.tamper != nil {
				recs, cps = tt.tamper(recs, &head, cps)
			}
			pub := tt.pub
			if pub == nil {
				pub = &key.PublicKey
			}
			rep := Verify(Chain{WorkspaceID: ws, Records: recs, Checkpoints: cps, Head: &head}, pub)
			if tt.wantBreak == 0 {
				if !rep.Intact || rep.Through != 5 || rep.Summary != "intact through record 5" || rep.Signed != 5 || rep.Checkpoints != 1 {
					t.Fatalf("report %+v, want intact through record 5, signed", rep)
				}
				return
			}
			if rep.Intact || rep.Break == nil || rep.Break.Seq != tt.wantBreak || rep.Through != tt.wantBreak-1 ||
				!strings.Contains(rep.Break.Reason, tt.reason) {
				t.Fatalf("report %+v (break %+v), want a break at record %d saying %q", rep, rep.Break, tt.wantBreak, tt.reason)
			}
			if !strings.HasPrefix(rep.Summary, "broken at record ") {
				t.Errorf("summary %q", rep.Summary)
			}
		})
	}
}

func TestVerifyOfAPartialChainTrustsItsFirstLink(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ws := phi.NewID(phi.PrefixWorkspace)
	recs, head := chainOf(t, ws, 6)
	cps := []phi.AuditCheckpoint{sign(t, key, ws, head)}
	rep := Verify(Chain{WorkspaceID: ws, Records: recs[2:4], Checkpoints: cps, Partial: true}, &key.PublicKey)
	if !rep.Intact || rep.From != 3 || rep.Through != 4 || rep.Summary != "intact from record 3 through record 4" {
		t.Fatalf("report %+v", rep)
	}
	recs[3].Target = "elsewhere"
	if rep := Verify(Chain{WorkspaceID: ws, Records: recs[2:5], Partial: true}, &key.PublicKey); rep.Intact || rep.Break.Seq != 4 {
		t.Fatalf("an altered record inside a partial chain: %+v", rep)
	}
}

func TestUnchainedRecordsAreCountedNotVerified(t *testing.T) {
	ws := phi.NewID(phi.PrefixWorkspace)
	recs, head := chainOf(t, ws, 2)
	recs = append(recs, phi.AuditRecord{ID: phi.NewID(phi.PrefixAudit), WorkspaceID: ws, Action: "audit.read"})
	rep := Verify(Chain{WorkspaceID: ws, Records: recs, Head: &head}, nil)
	if !rep.Intact || rep.Unchained != 1 || rep.Records != 2 || rep.Through != 2 {
		t.Fatalf("report %+v", rep)
	}
}
