package audit

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/phiguard/phiguard/shared/phi"
)

// KMS is the part of the AWS KMS API the trail calls: signing checkpoints with the audit
// signing key and reading its public half. *kms.Client satisfies it.
type KMS interface {
	Sign(ctx context.Context, in *kms.SignInput, opts ...func(*kms.Options)) (*kms.SignOutput, error)
	GetPublicKey(ctx context.Context, in *kms.GetPublicKeyInput, opts ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error)
}

var _ KMS = (*kms.Client)(nil)

// ChainStore reads a workspace's audit chain. *dynamo.Store satisfies it.
type ChainStore interface {
	// AuditHead returns the chain head (zero for an empty chain).
	AuditHead(ctx context.Context, wsID string) (phi.AuditHead, error)
	// AuditRecords returns the records with from <= At <= to, at most limit (EINVALID beyond).
	AuditRecords(ctx context.Context, wsID string, from, to time.Time, limit int) ([]phi.AuditRecord, error)
	// AuditCheckpoints returns every checkpoint, oldest first.
	AuditCheckpoints(ctx context.Context, wsID string) ([]phi.AuditCheckpoint, error)
	// PutAuditCheckpoint appends a checkpoint (keeping an existing one of the same record).
	PutAuditCheckpoint(ctx context.Context, c *phi.AuditCheckpoint) error
}

// MaxRecords bounds how many records one verification or export reads into memory (about
// 400 bytes each). A workspace whose log outgrows it verifies through exports by time range.
const MaxRecords = 200_000

// Trail verifies, checkpoints and exports workspaces' audit chains.
type Trail struct {
	Store ChainStore
	KMS   KMS
	// SigningKey is the audit signing key: an asymmetric ECC_NIST_P256 SIGN_VERIFY KMS key
	// (id, ARN or alias).
	SigningKey string
	// Now is the clock of checkpoints; time.Now when nil.
	Now func() time.Time

	mu  sync.Mutex
	pub *PublicKey // cached: a key's public half never changes
}

// PublicKey is the audit signing key's public half.
type PublicKey struct {
	KeyID     string `json:"keyId"`     // the key's ARN
	Algorithm string `json:"algorithm"` // SigningAlgorithm
	PEM       string `json:"pem"`       // PKIX ("PUBLIC KEY") PEM
	key       *ecdsa.PublicKey
}

// ParsePublicKey parses a PKIX PEM ECDSA P-256 public key. It returns an error naming what is
// wrong with it.
func ParsePublicKey(pemText string) (*ecdsa.PublicKey, error) {
	block, _ := pem.Decode([]byte(pemText))
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New("the audit public key is not a PEM \"PUBLIC KEY\" block")
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse the audit public key: %w", err)
	}
	ec, ok := k.(*ecdsa.PublicKey)
	if !ok || ec.Curve.Params().Name != "P-256" {
		return nil, errors.New("the audit public key is not an ECDSA P-256 key")
	}
	return ec, nil
}

func (t *Trail) now() time.Time {
	if t.Now == nil {
		return time.Now().UTC()
	}
	return t.Now().UTC()
}

// PublicKey returns the signing key's public half, read from KMS once. It returns KMS's error,
// wrapped, or an error when the key is not an ECDSA P-256 signing key.
func (t *Trail) PublicKey(ctx context.Context) (*PublicKey, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pub != nil {
		return t.pub, nil
	}
	out, err := t.KMS.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(t.SigningKey)})
	if err != nil {
		return nil, fmt.Errorf("get the audit signing key's public key: %w", err)
	}
	text := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: out.PublicKey}))
	key, err := ParsePublicKey(text)
	if err != nil {
		return nil, err
	}
	t.pub = &PublicKey{KeyID: aws.ToString(out.KeyId), Algorithm: SigningAlgorithm, PEM: text, key: key}
	return t.pub, nil
}

// Checkpoint signs head of workspace wsID with the signing key and stores the checkpoint. It
// returns KMS's or the store's error, wrapped.
func (t *Trail) Checkpoint(ctx context.Context, wsID string, head phi.AuditHead) (*phi.AuditCheckpoint, error) {
	c := &phi.AuditCheckpoint{WorkspaceID: wsID, Seq: head.Seq, Hash: head.Hash, At: t.now(), Algorithm: SigningAlgorithm}
	out, err := t.KMS.Sign(ctx, &kms.SignInput{
		KeyId:            aws.String(t.SigningKey),
		Message:          CheckpointMessage(c),
		MessageType:      kmstypes.MessageTypeRaw,
		SigningAlgorithm: kmstypes.SigningAlgorithmSpecEcdsaSha256,
	})
	if err != nil {
		return nil, fmt.Errorf("sign the audit checkpoint of %s at record %d: %w", wsID, head.Seq, err)
	}
	c.KeyID, c.Signature = aws.ToString(out.KeyId), out.Signature
	if err := t.Store.PutAuditCheckpoint(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

// Verify checks workspace wsID's whole audit chain as stored: the records against each other,
// the head and the signed checkpoints (see [Verify]). When the chain is intact and has grown
// since its newest checkpoint, a new checkpoint over the head is signed and stored, so the
// records verified now stay provable. Records appended while it reads (beyond the head it read
// first) are left for the next verification. It returns the store's or KMS's error, wrapped.
func (t *Trail) Verify(ctx context.Context, wsID string) (*Report, error) {
	pub, err := t.PublicKey(ctx)
	if err != nil {
		return nil, err
	}
	head, err := t.Store.AuditHead(ctx, wsID)
	if err != nil {
		return nil, err
	}
	recs, err := t.Store.AuditRecords(ctx, wsID, time.Time{}, time.Time{}, MaxRecords)
	if err != nil {
		return nil, err
	}
	cps, err := t.Store.AuditCheckpoints(ctx, wsID)
	if err != nil {
		return nil, err
	}
	recs = upTo(recs, head.Seq)
	rep := Verify(Chain{WorkspaceID: wsID, Records: recs, Checkpoints: cps, Head: &head}, pub.key)
	if rep.Intact && head.Seq > rep.Signed {
		if _, err := t.Checkpoint(ctx, wsID, head); err != nil {
			return nil, err
		}
		rep.Checkpoints++
		rep.Signed = head.Seq
	}
	return &rep, nil
}

// upTo drops the records beyond seq: written after the head was read.
func upTo(recs []phi.AuditRecord, seq int64) []phi.AuditRecord {
	out := recs[:0]
	for _, r := range recs {
		if r.Seq <= seq {
			out = append(out, r)
		}
	}
	return out
}

// ExportFormat names the NDJSON export format (docs/AUDIT.md).
const ExportFormat = "phiguard-audit-export/1"

// ExportHeader is the first line of an export.
type ExportHeader struct {
	Type        string     `json:"type"` // "export"
	Format      string     `json:"format"`
	WorkspaceID string     `json:"workspaceId"`
	From        *time.Time `json:"from,omitempty"`
	To          *time.Time `json:"to,omitempty"`
	ExportedAt  time.Time  `json:"exportedAt"`
	Records     int        `json:"records"`
	Checkpoints int        `json:"checkpoints"`
	PublicKey   PublicKey  `json:"publicKey"`
}

// ExportRecord is a record line.
type ExportRecord struct {
	Type string `json:"type"` // "record"
	phi.AuditRecord
}

// ExportCheckpoint is a checkpoint line.
type ExportCheckpoint struct {
	Type string `json:"type"` // "checkpoint"
	phi.AuditCheckpoint
}

// Export writes workspace wsID's audit records with from <= At <= to (zero: unbounded) as
// NDJSON to w: a header line (format, range, counts, the public key), the records in chain
// order, then every checkpoint — after signing a fresh one over the head, so that an export of
// the whole chain proves its own end. It returns EINVALID when from is after to or the range
// holds more than MaxRecords records, and the store's, KMS's or w's error.
func (t *Trail) Export(ctx context.Context, wsID string, from, to time.Time, w io.Writer) error {
	pub, err := t.PublicKey(ctx)
	if err != nil {
		return err
	}
	head, err := t.Store.AuditHead(ctx, wsID)
	if err != nil {
		return err
	}
	recs, err := t.Store.AuditRecords(ctx, wsID, from, to, MaxRecords)
	if err != nil {
		return err
	}
	recs = upTo(recs, head.Seq)
	if head.Seq > 0 {
		if _, err := t.Checkpoint(ctx, wsID, head); err != nil {
			return err
		}
	}
	cps, err := t.Store.AuditCheckpoints(ctx, wsID)
	if err != nil {
		return err
	}
	sortBySeq(recs)
	h := ExportHeader{Type: "export", Format: ExportFormat, WorkspaceID: wsID, ExportedAt: t.now(),
		Records: len(recs), Checkpoints: len(cps), PublicKey: *pub}
	if !from.IsZero() {
		f := from.UTC()
		h.From = &f
	}
	if !to.IsZero() {
		u := to.UTC()
		h.To = &u
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(h); err != nil {
		return err
	}
	for _, r := range recs {
		if err := enc.Encode(ExportRecord{Type: "record", AuditRecord: r}); err != nil {
			return err
		}
	}
	for _, c := range cps {
		if err := enc.Encode(ExportCheckpoint{Type: "checkpoint", AuditCheckpoint: c}); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// Export is an export read back by ReadExport.
type Export struct {
	Header ExportHeader
	Chain  Chain
}

// maxExportLine bounds one NDJSON line of an export (a record is well under 2 KiB).
const maxExportLine = 1 << 20

// ReadExport parses an NDJSON export written by [Trail.Export]. It returns an error naming the
// line for anything that is not such an export: a first line that is not the header, an
// unknown line type, a malformed line. Its Chain is Partial when the export has a time range.
func ReadExport(r io.Reader) (*Export, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxExportLine)
	var x Export
	n := 0
	for sc.Scan() {
		n++
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var kind struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(line, &kind); err != nil {
			return nil, fmt.Errorf("line %d: not JSON: %w", n, err)
		}
		if (n == 1) != (kind.Type == "export") {
			return nil, fmt.Errorf("line %d: an export starts with its header line (type \"export\"), once", n)
		}
		var err error
		switch kind.Type {
		case "export":
			err = json.Unmarshal(line, &x.Header)
			if err == nil && x.Header.Format != ExportFormat {
				err = fmt.Errorf("format %q is not %s", phi.Clip(x.Header.Format, 40), ExportFormat)
			}
		case "record":
			var rec ExportRecord
			err = json.Unmarshal(line, &rec)
			x.Chain.Records = append(x.Chain.Records, rec.AuditRecord)
		case "checkpoint":
			var cp ExportCheckpoint
			err = json.Unmarshal(line, &cp)
			x.Chain.Checkpoints = append(x.Chain.Checkpoints, cp.AuditCheckpoint)
		default:
			err = fmt.Errorf("unknown line type %q", phi.Clip(kind.Type, 40))
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read the export: %w", err)
	}
	if n == 0 {
		return nil, errors.New("the export is empty")
	}
	x.Chain.WorkspaceID = x.Header.WorkspaceID
	x.Chain.Partial = x.Header.From != nil || x.Header.To != nil
	return &x, nil
}

// VerifyExport verifies x with pub — the public key the auditor obtained on their own, or, when
// pub is nil, the one the export carries (which shows only that the export is consistent with
// itself: whoever could rewrite it could have replaced the key too). It returns an error when
// the export's key cannot be parsed, or differs from pub.
func VerifyExport(x *Export, pub *ecdsa.PublicKey) (Report, error) {
	carried, err := ParsePublicKey(x.Header.PublicKey.PEM)
	if err != nil {
		return Report{}, err
	}
	if pub == nil {
		pub = carried
	} else if !pub.Equal(carried) {
		return Report{}, errors.New("the export carries another public key than the one given: it was not signed by that key")
	}
	return Verify(x.Chain, pub), nil
}
