package workspace

import (
	"context"
	"fmt"
	"time"

	"github.com/phiguard/phiguard/shared/audit"
	"github.com/phiguard/phiguard/shared/phi"
)

// Overlap of a signing-secret rotation: how long the replaced secret keeps signing beside the
// new one, so that receivers can switch without refusing a delivery.
const (
	DefaultSigningOverlap = 24 * time.Hour
	MaxSigningOverlap     = 7 * 24 * time.Hour
)

// RotateRequest is the body of a signing-secret rotation. OverlapSeconds is optional
// (DefaultSigningOverlap), from 0 (the replaced secret stops signing at once) to
// MaxSigningOverlap.
type RotateRequest struct {
	OverlapSeconds *int64 `json:"overlapSeconds"`
}

// Overlap checks r and returns its overlap: EINVALID naming overlapSeconds when it is out of
// range.
func (r RotateRequest) Overlap() (time.Duration, error) {
	if r.OverlapSeconds == nil {
		return DefaultSigningOverlap, nil
	}
	if n := *r.OverlapSeconds; n < 0 || n > int64(MaxSigningOverlap/time.Second) {
		return 0, phi.InvalidField("overlapSeconds", "must be from 0 to %d (%s); the default is %d (a day)",
			int64(MaxSigningOverlap/time.Second), "seven days", int64(DefaultSigningOverlap/time.Second))
	}
	return time.Duration(*r.OverlapSeconds) * time.Second, nil
}

// RotateSigningSecret gives webhook destination dstID a new signing secret (after audit.Attempt,
// so that no secret is generated unaudited) and returns the destination's secrets as stored —
// the new one first and, for overlap, the one it replaced, which keeps signing beside it — with
// the new key's "whsec_…" text, returned this once; the caller sends it and then clears it. A
// replaced secret still in an earlier overlap stops signing (at most two sign at once). A
// destination without secrets (created before they existed) gets its first. ENOTFOUND without
// the destination, EINVALID for another type, ECONFLICT when a concurrent rotation won.
func (s *Service) RotateSigningSecret(ctx context.Context, wsID, dstID string, overlap time.Duration) (*phi.SigningSecrets, []byte, error) {
	d, _, err := s.Destination(ctx, wsID, dstID)
	if err != nil {
		return nil, nil, err
	}
	if d.Type != phi.DestinationWebhook {
		return nil, nil, phi.Errorf(phi.EINVALID, "destination %s is of type %q; only webhook destinations have signing secrets", d.ID, d.Type)
	}
	if s.Signing == nil {
		return nil, nil, fmt.Errorf("rotate the signing secret of destination %s: the service has no signing-secret generator", d.ID)
	}
	cur, err := s.Store.GetSigningSecrets(ctx, wsID, d.ID)
	if phi.ErrorCode(err) == phi.ENOTFOUND {
		cur, err = &phi.SigningSecrets{WorkspaceID: wsID, DestinationID: d.ID}, nil
	}
	if err != nil {
		return nil, nil, wrap(err, "read the signing secrets of destination %s", d.ID)
	}
	if err := audit.Attempt(ctx); err != nil {
		return nil, nil, fmt.Errorf("rotate the signing secret of destination %s: %w", d.ID, err)
	}
	sec, text, err := s.Signing.NewSigningSecret(ctx, wsID, d.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("rotate the signing secret of destination %s: %w", d.ID, err)
	}
	next := cur.Rotate(sec, s.now(), overlap)
	if err := s.Store.PutSigningSecrets(ctx, next); err != nil {
		clear(text)
		return nil, nil, wrap(err, "rotate the signing secret of destination %s", d.ID)
	}
	return next, text, nil
}
