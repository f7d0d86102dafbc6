package httpapi

import (
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/privacy"
	"github.com/phiguard/phiguard/shared/workspace"
)

func (c *ConfigAPI) listMatchers(w http.ResponseWriter, r *http.Request) error {
	page, err := PageParams(r)
	if err != nil {
		return err
	}
	out, err := c.Service.Matchers(r.Context(), r.PathValue("workspaceId"), page)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, out)
	return nil
}

func (c *ConfigAPI) createMatcher(w http.ResponseWriter, r *http.Request) error {
	var in workspace.MatcherInput
	if err := Decode(r, &in); err != nil {
		return err
	}
	m, err := c.Service.CreateMatcher(r.Context(), r.PathValue("workspaceId"), in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", r.URL.Path+"/"+m.ID)
	WriteJSON(w, http.StatusCreated, m)
	return nil
}

func (c *ConfigAPI) deleteMatcher(w http.ResponseWriter, r *http.Request) error {
	if err := workspace.RefuseDefaultMatcher(r.PathValue("matcherId")); err != nil {
		return err
	}
	id, err := PathID(r, "matcherId", phi.PrefixMatcher)
	if err != nil {
		return err
	}
	if err := c.Service.DeleteMatcher(r.Context(), r.PathValue("workspaceId"), id); err != nil {
		return err
	}
	NoContent(w)
	return nil
}

func (c *ConfigAPI) listInbox(w http.ResponseWriter, r *http.Request) error {
	page, err := PageParams(r)
	if err != nil {
		return err
	}
	items, next, err := c.Service.Inbox(r.Context(), r.PathValue("workspaceId"), page)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, NewList(items, next))
	return nil
}

type classificationsRequest struct {
	Classifications []workspace.ClassificationInput `json:"classifications"`
}

// putClassifications records the owner's decisions.
func (c *ConfigAPI) putClassifications(w http.ResponseWriter, r *http.Request) error {
	a, req, err := actorAndBody[classificationsRequest](r)
	if err != nil {
		return err
	}
	out, err := c.Service.Classify(r.Context(), a, req.Classifications)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, NewList(out, ""))
	return nil
}

// wantsCSV reports whether the Accept header asks for text/csv.
func wantsCSV(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && mt == "text/csv" {
			return true
		}
	}
	return false
}

// listClassifications serves a page of the inventory as JSON, or all of it as CSV (Accept:
// text/csv), which has no pages: page parameters with the CSV are a 400, not ignored.
func (c *ConfigAPI) listClassifications(w http.ResponseWriter, r *http.Request) error {
	wsID := r.PathValue("workspaceId")
	if wantsCSV(r) {
		q := r.URL.Query()
		for _, p := range []string{"limit", "cursor"} {
			if q.Has(p) {
				return phi.Errorf(phi.EBADREQUEST, "the CSV export is the whole inventory, without pages: send it without %s", p).
					WithDetails(map[string]string{"parameter": p})
			}
		}
		return c.exportInventory(w, r, wsID)
	}
	page, err := PageParams(r)
	if err != nil {
		return err
	}
	items, next, err := c.Service.Classifications(r.Context(), wsID, page)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, NewList(items, next))
	return nil
}

// exportInventory writes every classification as the inventory CSV.
func (c *ConfigAPI) exportInventory(w http.ResponseWriter, r *http.Request, wsID string) error {
	entries, err := c.Service.Inventory(r.Context(), wsID)
	if err != nil {
		return err
	}
	var b strings.Builder
	if err := privacy.WriteInventory(&b, entries); err != nil {
		return fmt.Errorf("write inventory: %w", err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="inventory-`+wsID+`.csv"`)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(b.String()))
	return nil
}
