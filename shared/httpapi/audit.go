package httpapi

import (
	"net/http"
	"time"

	"github.com/phiguard/phiguard/shared/phi"
)

// listAudit pages through the audit log between ?from= and ?to= (RFC 3339; to defaults to now,
// from to workspace.DefaultAuditWindow before to).
func (c *ConfigAPI) listAudit(w http.ResponseWriter, r *http.Request) error {
	page, err := PageParams(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var from, to time.Time
	if s := q.Get("to"); s != "" {
		if to, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return phi.Errorf(phi.EBADREQUEST, "to must be an RFC 3339 time, like 2025-01-31T00:00:00Z").
				WithDetails(map[string]string{"parameter": "to"})
		}
	}
	if s := q.Get("from"); s != "" {
		if from, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return phi.Errorf(phi.EBADREQUEST, "from must be an RFC 3339 time, like 2025-01-01T00:00:00Z").
				WithDetails(map[string]string{"parameter": "from"})
		}
	}
	recs, next, err := c.Service.Audit(r.Context(), r.PathValue("workspaceId"), from, to, page)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, NewList(recs, next))
	return nil
}
