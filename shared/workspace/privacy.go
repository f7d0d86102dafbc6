package workspace

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/phiguard/phiguard/shared/audit"
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

// MatcherInput is what a custom matcher is made of.
type MatcherInput struct {
	Name           string                 `json:"name"`
	Classification privacy.Classification `json:"classification"`
	Target         privacy.Target         `json:"target"`
	Mode           privacy.Mode           `json:"mode"`
	Patterns       []string               `json:"patterns"`
	Synonyms       []string               `json:"synonyms"`
}

// privacyInvalid turns privacy validation errors into one EINVALID listing each problem.
func privacyInvalid(err error) error {
	var problems []phi.Problem
	for _, p := range privacy.Problems(err) {
		problems = append(problems, phi.Problem{Field: p.Field, Reason: p.Reason})
	}
	if len(problems) == 0 {
		return phi.Errorf(phi.EINVALID, "%s", phi.Clip(err.Error(), 40))
	}
	return phi.Invalid(problems)
}

// Matchers returns a page of the workspace's custom matchers, with the defaults on the first.
func (s *Service) Matchers(ctx context.Context, wsID string, page phi.Page) (MatcherList, error) {
	items, next, err := s.Store.ListMatchers(ctx, wsID, page)
	if err != nil {
		return MatcherList{}, wrap(err, "list matchers")
	}
	out := MatcherList{Items: items, NextCursor: next}
	if out.Items == nil {
		out.Items = []privacy.Matcher{}
	}
	if page.Cursor == "" {
		out.Defaults = privacy.Defaults()
	}
	return out, nil
}

// CreateMatcher adds a custom matcher (at most privacy's limit per workspace); an invalid one is
// EINVALID listing each problem.
func (s *Service) CreateMatcher(ctx context.Context, wsID string, in MatcherInput) (*privacy.Matcher, error) {
	m := &privacy.Matcher{
		ID: phi.NewID(phi.PrefixMatcher), Name: in.Name, Classification: in.Classification,
		Target: in.Target, Mode: in.Mode, Patterns: in.Patterns, Synonyms: in.Synonyms,
	}
	if m.Patterns == nil {
		m.Patterns = []string{}
	}
	if m.Synonyms == nil {
		m.Synonyms = []string{}
	}
	if err := m.Validate(); err != nil {
		return nil, privacyInvalid(err)
	}
	audit.SetTarget(ctx, "privacy/matchers/"+m.ID)
	if err := s.Store.PutMatcher(ctx, wsID, m); err != nil {
		return nil, wrap(err, "create matcher")
	}
	return m, nil
}

// RefuseDefaultMatcher returns ECONFLICT when id names a built-in matcher, which cannot be
// deleted, and nil otherwise.
func RefuseDefaultMatcher(id string) error {
	if privacy.IsDefaultID(id) {
		return phi.Errorf(phi.ECONFLICT, "%s", privacy.ErrDefaultMatcher.Error())
	}
	return nil
}

// DeleteMatcher deletes custom matcher id (ECONFLICT for a default, ENOTFOUND when absent).
func (s *Service) DeleteMatcher(ctx context.Context, wsID, id string) error {
	if err := RefuseDefaultMatcher(id); err != nil {
		return err
	}
	if err := s.Store.DeleteMatcher(ctx, wsID, id); err != nil {
		return wrap(err, "delete matcher %s", id)
	}
	return nil
}

// maxMatcherPages bounds the reads that compile a workspace's matchers (at most 100 exist).
const maxMatcherPages = 5

// Classifier compiles the workspace's custom matchers with the defaults.
func (s *Service) Classifier(ctx context.Context, wsID string) (*privacy.Classifier, error) {
	var all []privacy.Matcher
	page := phi.Page{Limit: MaxPageLimit}
	for i := 0; ; i++ {
		if i == maxMatcherPages {
			return nil, fmt.Errorf("list matchers of %s: more than %d pages", wsID, maxMatcherPages)
		}
		items, next, err := s.Store.ListMatchers(ctx, wsID, page)
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

// Inbox returns a page of the field paths seen in the workspace's events, each with its
// recommendation and decision.
func (s *Service) Inbox(ctx context.Context, wsID string, page phi.Page) ([]InboxItem, string, error) {
	entries, next, err := s.Store.ListInbox(ctx, wsID, page)
	if err != nil {
		return nil, "", wrap(err, "list inbox")
	}
	cl, err := s.Classifier(ctx, wsID)
	if err != nil {
		return nil, "", err
	}
	paths := make([]string, len(entries))
	for i, e := range entries {
		paths[i] = e.Path
	}
	decided, err := s.Store.GetClassifications(ctx, wsID, paths)
	if err != nil {
		return nil, "", wrap(err, "get classifications")
	}
	items := make([]InboxItem, len(entries))
	for i, e := range entries {
		items[i] = InboxItem{InboxEntry: e, Classification: decided[e.Path].Class}
		if rec, ok := cl.Recommend(privacy.FieldPath(e.Path)); ok {
			items[i].Recommendation = &rec
		}
	}
	return items, next, nil
}

// MaxClassificationsPerPut is the most classifications one call may set.
const MaxClassificationsPerPut = 100

// ClassificationInput is an owner's decision on one field path.
type ClassificationInput struct {
	Path           string `json:"path"`
	Classification string `json:"classification"`
}

// Classify records a's decisions, each with the matcher that recommended a classification for
// the path (the inventory's "matcher" column). Bad input is EINVALID listing each problem.
func (s *Service) Classify(ctx context.Context, a phi.Actor, in []ClassificationInput) ([]phi.Classification, error) {
	var problems []phi.Problem
	switch n := len(in); {
	case n == 0:
		problems = append(problems, phi.Problem{Field: "classifications", Reason: "list at least one {path, classification}"})
	case n > MaxClassificationsPerPut:
		problems = append(problems, phi.Problem{Field: "classifications", Reason: fmt.Sprintf("lists %d entries; the limit is %d per request", n, MaxClassificationsPerPut)})
	}
	seen := map[string]bool{}
	for i, it := range in {
		err := errors.Join(privacy.FieldPath(it.Path).Validate(), privacy.Classification(it.Classification).Validate())
		for _, p := range privacy.Problems(err) {
			problems = append(problems, phi.Problem{Field: fmt.Sprintf("classifications[%d].%s", i, p.Field), Reason: p.Reason})
		}
		if seen[it.Path] {
			problems = append(problems, phi.Problem{Field: fmt.Sprintf("classifications[%d].path", i), Reason: "is listed twice"})
		}
		seen[it.Path] = true
	}
	if err := phi.Invalid(problems); err != nil {
		return nil, err
	}
	cl, err := s.Classifier(ctx, a.WorkspaceID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := make([]phi.Classification, 0, len(in))
	for _, it := range in {
		rec := phi.Classification{Path: it.Path, Class: it.Classification, DecidedBy: a.ID, DecidedAt: now}
		if m, ok := cl.Recommend(privacy.FieldPath(it.Path)); ok {
			rec.Matcher = m.MatcherName
		}
		if err := s.Store.PutClassification(ctx, a.WorkspaceID, rec); err != nil {
			return nil, wrap(err, "put classification")
		}
		out = append(out, rec)
	}
	return out, nil
}

// Classifications returns a page of the workspace's decided classifications.
func (s *Service) Classifications(ctx context.Context, wsID string, page phi.Page) ([]phi.Classification, string, error) {
	items, next, err := s.Store.ListClassifications(ctx, wsID, page)
	if err != nil {
		return nil, "", wrap(err, "list classifications")
	}
	return items, next, nil
}

// maxInventoryPages bounds an inventory export (100 pages of 100 paths); API Gateway's response
// limit would cut a larger one anyway.
const maxInventoryPages = 100

// Inventory returns every classification of the workspace as inventory entries, reading every
// page first (ETOOLARGE past maxInventoryPages pages), so a store failure is an error rather
// than a truncated export.
func (s *Service) Inventory(ctx context.Context, wsID string) ([]privacy.InventoryEntry, error) {
	var all []phi.Classification
	page := phi.Page{Limit: MaxPageLimit}
	for i := 0; ; i++ {
		if i == maxInventoryPages {
			return nil, phi.Errorf(phi.ETOOLARGE, "the inventory has more than %d paths; page through it as JSON instead", maxInventoryPages*MaxPageLimit)
		}
		items, next, err := s.Store.ListClassifications(ctx, wsID, page)
		if err != nil {
			return nil, wrap(err, "list classifications")
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
	return entries, nil
}

// DefaultAuditWindow is the time range an audit query covers when it names no "from".
const DefaultAuditWindow = 30 * 24 * time.Hour

// Audit returns a page of the workspace's audit records between from and to; a zero to means
// now, a zero from DefaultAuditWindow before to. from after to is EINVALID.
func (s *Service) Audit(ctx context.Context, wsID string, from, to time.Time, page phi.Page) ([]phi.AuditRecord, string, error) {
	toSent := !to.IsZero()
	if !toSent {
		to = s.now()
	}
	if from.IsZero() {
		from = to.Add(-DefaultAuditWindow)
	}
	if from.After(to) {
		if !toSent {
			return nil, "", phi.Errorf(phi.EINVALID, "from is in the future; records are listed up to now unless you send to").
				WithDetails([]phi.Problem{{Field: "from", Reason: "must not be after now (to defaults to now)"}})
		}
		return nil, "", phi.Errorf(phi.EINVALID, "from is after to; swap them").
			WithDetails([]phi.Problem{{Field: "from", Reason: "must not be after to"}})
	}
	recs, next, err := s.Store.ListAudit(ctx, wsID, from.UTC(), to.UTC(), page)
	if err != nil {
		return nil, "", wrap(err, "list audit records")
	}
	return recs, next, nil
}
