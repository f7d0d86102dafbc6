package httpapi

import (
	"net/http"
	"time"

	"github.com/phiguard/phiguard/shared/phi"
)

// DefaultAuditWindow is the time range an audit query covers when it names no "from".
const DefaultAuditWindow = 30 * 24 * time.Hour

// listAudit pages through the audit log between ?from= and ?to= (RFC 3339; to defaults to now,
// from to DefaultAuditWindow before to).
func (c *Config) listAudit(w http.ResponseWriter, r *http.Request) error {
	page, err := PageParams(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	to := c.Now().UTC()
	if s := q.Get("to"); s != "" {
		if to, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return phi.Errorf(phi.EBADREQUEST, "to must be an RFC 3339 time, like 2025-01-31T00:00:00Z").
				WithDetails(map[string]string{"parameter": "to"})
		}
	}
	from := to.Add(-DefaultAuditWindow)
	if s := q.Get("from"); s != "" {
		if from, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return phi.Errorf(phi.EBADREQUEST, "from must be an RFC 3339 time, like 2025-01-01T00:00:00Z").
				WithDetails(map[string]string{"parameter": "from"})
		}
	}
	if from.After(to) {
		return phi.Errorf(phi.EINVALID, "from is after to; swap them").
			WithDetails([]Problem{{Field: "from", Reason: "must not be after to"}})
	}
	recs, next, err := c.Store.ListAudit(r.Context(), r.PathValue("workspaceId"), from.UTC(), to.UTC(), page)
	if err != nil {
		return wrap(err, "list audit records")
	}
	WriteJSON(w, http.StatusOK, NewList(recs, next))
	return nil
}
