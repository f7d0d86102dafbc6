package httpapi

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/privacy"
)

// Privacy stores a workspace's Privacy Portal: classifications, custom matchers and the inbox.
// *dynamo.Store satisfies it.
type Privacy interface {
	PutClassification(ctx context.Context, wsID string, c phi.Classification) error
	ListClassifications(ctx context.Context, wsID string, page phi.Page) ([]phi.Classification, string, error)
	// GetClassifications returns the classifications of paths, keyed by path; unclassified
	// paths are absent.
	GetClassifications(ctx context.Context, wsID string, paths []string) (map[string]phi.Classification, error)
	PutMatcher(ctx context.Context, wsID string, m *privacy.Matcher) error
	ListMatchers(ctx context.Context, wsID string, page phi.Page) ([]privacy.Matcher, string, error)
	DeleteMatcher(ctx context.Context, wsID, id string) error
	ListInbox(ctx context.Context, wsID string, page phi.Page) ([]phi.InboxEntry, string, error)
}

// MatcherList is a page of a workspace's custom matchers; the first page (no cursor) also
// carries the built-in defaults, which cannot be edited (a custom matcher with the same name
// overrides one).
type MatcherList struct {
	Defaults   []privacy.Matcher `json:"defaults,omitempty"`
	Items      []privacy.Matcher `json:"items"`
	NextCursor string            `json:"nextCursor,omitempty"`
}

type matcherRequest struct {
	Name           string                 `json:"name"`
	Classification privacy.Classification `json:"classification"`
	Target         privacy.Target         `json:"target"`
	Mode           privacy.Mode           `json:"mode"`
	Patterns       []string               `json:"patterns"`
	Synonyms       []string               `json:"synonyms"`
}

// privacyInvalid turns privacy validation errors into one EINVALID listing each problem.
func privacyInvalid(err error, prefix string) error {
	var problems []Problem
	for _, p := range privacy.Problems(err) {
		problems = append(problems, Problem{Field: prefix + p.Field, Reason: p.Reason})
	}
	if len(problems) == 0 {
		return phi.Errorf(phi.EINVALID, "%s", clip(err.Error()))
	}
	return invalid(problems)
}

func (c *Config) listMatchers(w http.ResponseWriter, r *http.Request) error {
	page, err := PageParams(r)
	if err != nil {
		return err
	}
	items, next, err := c.Store.ListMatchers(r.Context(), r.PathValue("workspaceId"), page)
	if err != nil {
		return wrap(err, "list matchers")
	}
	out := MatcherList{Items: items, NextCursor: next}
	if out.Items == nil {
		out.Items = []privacy.Matcher{}
	}
	if page.Cursor == "" {
		out.Defaults = privacy.Defaults()
	}
	WriteJSON(w, http.StatusOK, out)
	return nil
}

func (c *Config) createMatcher(w http.ResponseWriter, r *http.Request) error {
	var req matcherRequest
	if err := Decode(r, &req); err != nil {
		return err
	}
	m := privacy.Matcher{
		ID: phi.NewID(phi.PrefixMatcher), Name: req.Name, Classification: req.Classification,
		Target: req.Target, Mode: req.Mode, Patterns: req.Patterns, Synonyms: req.Synonyms,
	}
	if m.Patterns == nil {
		m.Patterns = []string{}
	}
	if m.Synonyms == nil {
		m.Synonyms = []string{}
	}
	if err := m.Validate(); err != nil {
		return privacyInvalid(err, "")
	}
	SetAuditTarget(r, "privacy/matchers/"+m.ID)
	if err := c.Store.PutMatcher(r.Context(), r.PathValue("workspaceId"), &m); err != nil {
		return wrap(err, "create matcher")
	}
	w.Header().Set("Location", r.URL.Path+"/"+m.ID)
	WriteJSON(w, http.StatusCreated, m)
	return nil
}

func (c *Config) deleteMatcher(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("matcherId")
	if privacy.IsDefaultID(id) {
		return phi.Errorf(phi.ECONFLICT, "%s", privacy.ErrDefaultMatcher.Error())
	}
	id, err := PathID(r, "matcherId", phi.PrefixMatcher)
	if err != nil {
		return err
	}
	if err := c.Store.DeleteMatcher(r.Context(), r.PathValue("workspaceId"), id); err != nil {
		return wrap(err, "delete matcher %s", id)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// maxMatcherPages bounds the reads that compile a workspace's matchers (at most 100 exist).
const maxMatcherPages = 5

// classifier compiles the workspace's custom matchers with the defaults.
func (c *Config) classifier(ctx context.Context, wsID string) (*privacy.Classifier, error) {
	var all []privacy.Matcher
	page := phi.Page{Limit: MaxPageLimit}
	for i := 0; ; i++ {
		if i == maxMatcherPages {
			return nil, fmt.Errorf("list matchers of %s: more than %d pages", wsID, maxMatcherPages)
		}
		items, next, err := c.Store.ListMatchers(ctx, wsID, page)
		if err != nil {
			return nil, wrap(err, "list matchers")
		}
		all = append(all, items...)
		if next == "" {
			break
		}
		page.Cursor = next
	}
	cl, err := privacy.NewClassifier(all)
	if err != nil {
		return nil, fmt.Errorf("compile matchers of %s: %w", wsID, err)
	}
	return cl, nil
}

// InboxItem is a field path seen in events, with the classification the workspace's matchers
// recommend (and the matcher that fired) and the owner's decision, when there is one.
type InboxItem struct {
	phi.InboxEntry
	Recommendation *privacy.Recommendation `json:"recommendation,omitempty"`
	Classification string                  `json:"classification,omitempty"`
}

func (c *Config) listInbox(w http.ResponseWriter, r *http.Request) error {
	wsID := r.PathValue("workspaceId")
	page, err := PageParams(r)
	if err != nil {
		return err
	}
	entries, next, err := c.Store.ListInbox(r.Context(), wsID, page)
	if err != nil {
		return wrap(err, "list inbox")
	}
	cl, err := c.classifier(r.Context(), wsID)
	if err != nil {
		return err
	}
	paths := make([]string, len(entries))
	for i, e := range entries {
		paths[i] = e.Path
	}
	decided, err := c.Store.GetClassifications(r.Context(), wsID, paths)
	if err != nil {
		return wrap(err, "get classifications")
	}
	items := make([]InboxItem, len(entries))
	for i, e := range entries {
		items[i] = InboxItem{InboxEntry: e, Classification: decided[e.Path].Class}
		if rec, ok := cl.Recommend(privacy.FieldPath(e.Path)); ok {
			items[i].Recommendation = &rec
		}
	}
	WriteJSON(w, http.StatusOK, NewList(items, next))
	return nil
}

// MaxClassificationsPerPut is the most classifications one PUT may set.
const MaxClassificationsPerPut = 100

type classificationsRequest struct {
	Classifications []classificationItem `json:"classifications"`
}

type classificationItem struct {
	Path           string `json:"path"`
	Classification string `json:"classification"`
}

// putClassifications records the owner's decisions, each with the matcher that recommended a
// classification for the path (the inventory's "matcher" column).
func (c *Config) putClassifications(w http.ResponseWriter, r *http.Request) error {
	a, err := actor(r)
	if err != nil {
		return err
	}
	var req classificationsRequest
	if err := Decode(r, &req); err != nil {
		return err
	}
	var problems []Problem
	switch n := len(req.Classifications); {
	case n == 0:
		problems = append(problems, Problem{"classifications", "list at least one {path, classification}"})
	case n > MaxClassificationsPerPut:
		problems = append(problems, Problem{"classifications", fmt.Sprintf("lists %d entries; the limit is %d per request", n, MaxClassificationsPerPut)})
	}
	seen := map[string]bool{}
	for i, it := range req.Classifications {
		err := errors.Join(privacy.FieldPath(it.Path).Validate(), privacy.Classification(it.Classification).Validate())
		for _, p := range privacy.Problems(err) {
			problems = append(problems, Problem{fmt.Sprintf("classifications[%d].%s", i, p.Field), p.Reason})
		}
		if seen[it.Path] {
			problems = append(problems, Problem{fmt.Sprintf("classifications[%d].path", i), "is listed twice"})
		}
		seen[it.Path] = true
	}
	if err := invalid(problems); err != nil {
		return err
	}
	wsID := r.PathValue("workspaceId")
	cl, err := c.classifier(r.Context(), wsID)
	if err != nil {
		return err
	}
	now := c.Now().UTC()
	out := make([]phi.Classification, 0, len(req.Classifications))
	for _, it := range req.Classifications {
		rec := phi.Classification{Path: it.Path, Class: it.Classification, DecidedBy: a.ID, DecidedAt: now}
		if m, ok := cl.Recommend(privacy.FieldPath(it.Path)); ok {
			rec.Matcher = m.MatcherName
		}
		if err := c.Store.PutClassification(r.Context(), wsID, rec); err != nil {
			return wrap(err, "put classification")
		}
		out = append(out, rec)
	}
	WriteJSON(w, http.StatusOK, NewList(out, ""))
	return nil
}

// maxInventoryPages bounds a CSV export (100 pages of 100 paths); API Gateway's response limit
// would cut a larger one anyway.
const maxInventoryPages = 100

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

func (c *Config) listClassifications(w http.ResponseWriter, r *http.Request) error {
	wsID := r.PathValue("workspaceId")
	if wantsCSV(r) {
		return c.exportInventory(w, r, wsID)
	}
	page, err := PageParams(r)
	if err != nil {
		return err
	}
	items, next, err := c.Store.ListClassifications(r.Context(), wsID, page)
	if err != nil {
		return wrap(err, "list classifications")
	}
	WriteJSON(w, http.StatusOK, NewList(items, next))
	return nil
}

// exportInventory writes every classification as the inventory CSV. It reads every page before
// writing, so a store failure is still a JSON error rather than a truncated file.
func (c *Config) exportInventory(w http.ResponseWriter, r *http.Request, wsID string) error {
	var all []phi.Classification
	page := phi.Page{Limit: MaxPageLimit}
	for i := 0; ; i++ {
		if i == maxInventoryPages {
			return phi.Errorf(phi.ETOOLARGE, "the inventory has more than %d paths; page through it as JSON instead", maxInventoryPages*MaxPageLimit)
		}
		items, next, err := c.Store.ListClassifications(r.Context(), wsID, page)
		if err != nil {
			return wrap(err, "list classifications")
		}
		all = append(all, items...)
		if next == "" {
			break
		}
		page.Cursor = next
	}
	entries := make([]privacy.InventoryEntry, len(all))
	for i, cl := range all {
		entries[i] = privacy.InventoryEntry{
			Path: privacy.FieldPath(cl.Path), Classification: privacy.Classification(cl.Class),
			Matcher: cl.Matcher, DecidedBy: cl.DecidedBy, DecidedAt: cl.DecidedAt,
		}
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
