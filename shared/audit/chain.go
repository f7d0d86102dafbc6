package audit

import (
	"cmp"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/phiguard/phiguard/shared/phi"
)

// Genesis is the PrevHash of a workspace's first chained record (seq 1).
var Genesis = strings.Repeat("0", 64)

// Domain tags start every encoding that is hashed or signed, so that a record's encoding can
// never be taken for a checkpoint's, or for anything else signed with the key.
const (
	recordTag     = "phiguard-audit-record/1\n"
	checkpointTag = "phiguard-audit-checkpoint/1\n"
)

// canonical returns tag followed by each field as a 4-byte big-endian length and its UTF-8
// bytes: an encoding with one reading, easy to reproduce in any language (docs/AUDIT.md).
func canonical(tag string, fields ...string) []byte {
	n := len(tag)
	for _, f := range fields {
		n += 4 + len(f)
	}
	b := make([]byte, 0, n)
	b = append(b, tag...)
	for _, f := range fields {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}

// timeText is how times are written in the canonical encodings: RFC 3339 in UTC with as many
// fraction digits as needed — exactly the "at" string of the record's JSON.
func timeText(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// RecordEncoding returns the canonical encoding of r that Hash hashes: every field of the
// record, including its seq and prevHash, so changing any of them changes the hash.
func RecordEncoding(r *phi.AuditRecord) []byte {
	return canonical(recordTag, r.WorkspaceID, strconv.FormatInt(r.Seq, 10), r.PrevHash, r.ID, timeText(r.At),
		r.Actor, r.Action, r.Target, r.Outcome, r.RequestID)
}

// Hash returns the SHA-256 (lower-case hex) of r's canonical encoding: what the next record's
// PrevHash and a checkpoint's Hash hold.
func Hash(r *phi.AuditRecord) string {
	sum := sha256.Sum256(RecordEncoding(r))
	return hex.EncodeToString(sum[:])
}

// CheckpointMessage returns the bytes a checkpoint's signature covers: its workspace, seq, hash
// and time.
func CheckpointMessage(c *phi.AuditCheckpoint) []byte {
	return canonical(checkpointTag, c.WorkspaceID, strconv.FormatInt(c.Seq, 10), c.Hash, timeText(c.At))
}

// SigningAlgorithm is the one checkpoint signature algorithm, in KMS's spelling: ECDSA over
// P-256 with SHA-256, the signature ASN.1 DER encoded.
const SigningAlgorithm = "ECDSA_SHA_256"

// VerifyCheckpoint reports whether c's signature is pub's over CheckpointMessage(c).
func VerifyCheckpoint(c *phi.AuditCheckpoint, pub *ecdsa.PublicKey) bool {
	if pub == nil || c.Algorithm != SigningAlgorithm {
		return false
	}
	digest := sha256.Sum256(CheckpointMessage(c))
	return ecdsa.VerifyASN1(pub, digest[:], c.Signature)
}

// Chain is what Verify checks: a workspace's records (in any order), its checkpoints and, when
// read from the table, its head.
type Chain struct {
	WorkspaceID string
	Records     []phi.AuditRecord
	Checkpoints []phi.AuditCheckpoint
	// Head is the chain head stored beside the records; nil for an export, whose end is
	// vouched for by its checkpoints only.
	Head *phi.AuditHead
	// Partial says the records are a time range of the chain, not all of it: the first one's
	// PrevHash is taken on trust, and checkpoints outside the range cannot be matched.
	Partial bool
}

// Break is where verification first failed.
type Break struct {
	// Seq is the first record that cannot be shown intact: missing, altered or out of place.
	Seq      int64  `json:"seq"`
	RecordID string `json:"recordId,omitempty"`
	Reason   string `json:"reason"`
}

// Report is the result of Verify.
type Report struct {
	WorkspaceID string `json:"workspaceId"`
	// Intact is true when every record from From through Through is present, unaltered and in
	// order, and every checkpoint is validly signed and matches the records.
	Intact bool `json:"intact"`
	// From is the first record checked (1 unless a partial export); Through the last record
	// shown intact (From-1 when none is).
	From    int64 `json:"from"`
	Through int64 `json:"through"`
	// Records counts the chained records read, Unchained those written before the chain
	// existed (seq 0), which verification cannot cover.
	Records   int `json:"records"`
	Unchained int `json:"unchained"`
	// Checkpoints counts the validly signed checkpoints that matched the records; Signed is the
	// newest record a valid checkpoint covers (0 when none).
	Checkpoints int    `json:"checkpoints"`
	Signed      int64  `json:"signedThrough"`
	Break       *Break `json:"break,omitempty"`
	// Summary says the result in one sentence: "intact through record N" or the break.
	Summary string `json:"summary"`
}

// Verify checks c: records numbered From, From+1, … without gap or repeat, each record's
// PrevHash the hash of the one before (Genesis for record 1), the last one matching the head,
// and each checkpoint validly signed by pub and matching the record it names — a checkpoint
// beyond the last record means records were removed from the end. It reports the first break
// (the lowest record it affects), or that the chain is intact. A nil pub fails every checkpoint.
func Verify(c Chain, pub *ecdsa.PublicKey) Report {
	rep := Report{WorkspaceID: c.WorkspaceID, From: 1}
	recs := make([]phi.AuditRecord, 0, len(c.Records))
	for _, r := range c.Records {
		if r.Seq == 0 {
			rep.Unchained++
			continue
		}
		recs = append(recs, r)
	}
	sortBySeq(recs)
	rep.Records = len(recs)
	prev := Genesis
	if c.Partial && len(recs) > 0 {
		rep.From, prev = recs[0].Seq, recs[0].PrevHash
	}
	var brk *Break
	fail := func(seq int64, id, format string, args ...any) {
		if brk == nil || seq < brk.Seq {
			brk = &Break{Seq: seq, RecordID: id, Reason: fmt.Sprintf(format, args...)}
		}
	}
	hashes := make(map[int64]string, len(recs))
	last := rep.From - 1
	for i := range recs {
		r := &recs[i]
		want := last + 1
		switch {
		case r.WorkspaceID != c.WorkspaceID:
			fail(r.Seq, r.ID, "record %d belongs to workspace %s, not to this one", r.Seq, phi.Clip(r.WorkspaceID, 40))
		case r.Seq < want:
			fail(r.Seq, r.ID, "two records carry sequence number %d", r.Seq)
		case r.Seq > want:
			fail(want, "", "record %d is missing (the next record present is %d)", want, r.Seq)
		case r.PrevHash != prev && want == 1:
			fail(1, r.ID, "record 1 does not start the chain (its prevHash is not %s…)", Genesis[:8])
		case r.PrevHash != prev:
			fail(want-1, recs[i-1].ID, "record %d does not match the hash that record %d carries: record %d was altered or moved, or record %d's prevHash was",
				want-1, want, want-1, want)
		}
		if brk != nil {
			break
		}
		prev = Hash(r)
		hashes[r.Seq] = prev
		last = r.Seq
	}
	if brk == nil && c.Head != nil {
		switch h := c.Head; {
		case h.Seq > last:
			fail(last+1, "", "records %d through %d are missing: the chain head says the chain reaches record %d", last+1, h.Seq, h.Seq)
		case h.Seq < last:
			fail(h.Seq+1, recs[len(recs)-1].ID, "records after %d are not part of the chain: the chain head says it ends at record %d", h.Seq, h.Seq)
		case h.Seq > 0 && h.Hash != prev:
			fail(last, recs[len(recs)-1].ID, "record %d does not match the hash the chain head holds: it was altered", last)
		}
	}
	cps := slices.Clone(c.Checkpoints)
	slices.SortStableFunc(cps, func(a, b phi.AuditCheckpoint) int { return cmp.Compare(a.Seq, b.Seq) })
	for i := range cps {
		cp := &cps[i]
		switch {
		case cp.WorkspaceID != c.WorkspaceID || !VerifyCheckpoint(cp, pub):
			fail(cp.Seq, "", "the checkpoint of record %d (%s) is not validly signed by the audit signing key for this workspace", cp.Seq, timeText(cp.At))
		case cp.Seq > last && !c.Partial:
			fail(last+1, "", "a signed checkpoint (%s) says the chain reached record %d, but it ends at record %d: records were removed", timeText(cp.At), cp.Seq, last)
		case cp.Seq < rep.From || cp.Seq > last:
			// outside a partial export's records: the signature is all that can be checked
		case hashes[cp.Seq] != cp.Hash:
			fail(cp.Seq, "", "record %d does not match the hash its signed checkpoint (%s) holds: it was altered", cp.Seq, timeText(cp.At))
		default:
			rep.Checkpoints++
			rep.Signed = max(rep.Signed, cp.Seq)
		}
	}
	if brk != nil {
		rep.Break = brk
		rep.Through = brk.Seq - 1
		rep.Summary = fmt.Sprintf("broken at record %d: %s", brk.Seq, brk.Reason)
		return rep
	}
	rep.Intact = true
	rep.Through = last
	rep.Summary = fmt.Sprintf("intact through record %d", last)
	if rep.From > 1 {
		rep.Summary = fmt.Sprintf("intact from record %d through record %d", rep.From, last)
	}
	return rep
}

// sortBySeq sorts records in chain order (records of equal seq keep their order).
func sortBySeq(recs []phi.AuditRecord) {
	slices.SortStableFunc(recs, func(a, b phi.AuditRecord) int { return cmp.Compare(a.Seq, b.Seq) })
}
