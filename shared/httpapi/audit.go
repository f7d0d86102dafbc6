package httpapi

import (
	"bytes"
	"net/http"
	"time"

	"github.com/phiguard/phiguard/shared/audit"
	"github.com/phiguard/phiguard/shared/phi"
)

// timeRange reads ?from= and ?to= (RFC 3339); an absent one is the zero time.
func timeRange(r *http.Request) (from, to time.Time, err error) {
	q := r.URL.Query()
	if s := q.Get("to"); s != "" {
		if to, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return from, to, phi.Errorf(phi.EBADREQUEST, "to must be an RFC 3339 time, like 2025-01-31T00:00:00Z").
				WithDetails(map[string]string{"parameter": "to"})
		}
	}
	if s := q.Get("from"); s != "" {
		if from, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return from, to, phi.Errorf(phi.EBADREQUEST, "from must be an RFC 3339 time, like 2025-01-01T00:00:00Z").
				WithDetails(map[string]string{"parameter": "from"})
		}
	}
	return from, to, nil
}

// listAudit pages through the audit log between ?from= and ?to= (RFC 3339; to defaults to now,
// from to workspace.DefaultAuditWindow before to).
func (c *ConfigAPI) listAudit(w http.ResponseWriter, r *http.Request) error {
	page, err := PageParams(r)
	if err != nil {
		return err
	}
	from, to, err := timeRange(r)
	if err != nil {
		return err
	}
	recs, next, err := c.Service.Audit(r.Context(), r.PathValue("workspaceId"), from, to, page)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, NewList(recs, next))
	return nil
}

// Verification is the answer of GET …/audit/verify: the report and the public key that checks
// the checkpoints (to pin for offline verification of exports).
type Verification struct {
	audit.Report
	PublicKey audit.PublicKey `json:"publicKey"`
}

// verifyAudit serves GET /workspaces/{workspaceId}/audit/verify. A broken chain is a 200 whose
// report says where it breaks: the request succeeded, the log did not.
func (c *ConfigAPI) verifyAudit(w http.ResponseWriter, r *http.Request) error {
	rep, err := c.Trail.Verify(r.Context(), r.PathValue("workspaceId"))
	if err != nil {
		return err
	}
	pub, err := c.Trail.PublicKey(r.Context())
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, Verification{Report: *rep, PublicKey: *pub})
	return nil
}

// exportAudit serves GET /workspaces/{workspaceId}/audit/export: the records between ?from= and
// ?to= (both optional: the whole chain), the checkpoints and the public key, as NDJSON
// (docs/AUDIT.md). The export is built whole before it is sent, so a failure is a JSON error,
// never a truncated export.
func (c *ConfigAPI) exportAudit(w http.ResponseWriter, r *http.Request) error {
	from, to, err := timeRange(r)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := c.Trail.Export(r.Context(), r.PathValue("workspaceId"), from, to, &buf); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Content-Disposition", `attachment; filename="audit-`+r.PathValue("workspaceId")+`.ndjson"`)
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(buf.Bytes())
	return err
}
