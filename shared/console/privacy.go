package console

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/privacy"
	"github.com/phiguard/phiguard/shared/stack"
	"github.com/phiguard/phiguard/shared/workspace"
)

// classes are the three classifications, most restricted first, with what they mean.
var classes = []struct{ Value, Label string }{
	{"red", "red — highly restricted"},
	{"yellow", "yellow — moderately restricted (can be hashed)"},
	{"green", "green — not restricted"},
}

type privacyView struct {
	Inbox     []workspace.InboxItem
	Inventory []phi.Classification
	Filter    string
	Counts    map[string]int
	Classes   any
	Return    string // console path of the destination setup step to go back to
	Path      string // what was typed in "classify a field path"
	Class     string
	Errors    *formErrors
	Done      string
	More      bool
}

// privacyPage is the Privacy Portal: the inbox of newly seen fields with the recommended class,
// the inventory with red/yellow/green filters, reclassification and the CSV export.
func (c *Console) privacyPage(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	return c.renderPrivacy(w, r, http.StatusOK, privacyView{Filter: q.Get("class"), Return: safeReturn(q.Get("return")), Done: q.Get("done")})
}

// safeReturn keeps a return path only when it is a destination setup step of the console.
func safeReturn(p string) string {
	setup := strings.HasPrefix(p, "/destinations/") || strings.HasPrefix(p, "/add-destination/")
	if !setup || strings.ContainsAny(p, "\\#\r\n") || strings.Contains(p, "//") {
		return ""
	}
	return p
}

func (c *Console) renderPrivacy(w http.ResponseWriter, r *http.Request, status int, v privacyView) error {
	a := state(r).actor
	v.Classes = classes
	if v.Class == "" {
		v.Class = "yellow"
	}
	switch v.Filter {
	case "", "red", "yellow", "green":
	default:
		v.Filter = ""
	}
	err := c.act(r, stack.RouteListInbox, "privacy/inbox", func(ctx context.Context) error {
		items, next, err := c.Service.Inbox(ctx, a.WorkspaceID, phi.Page{Limit: workspace.MaxPageLimit})
		for _, it := range items {
			if it.Classification == "" {
				v.Inbox = append(v.Inbox, it)
			}
		}
		v.More = v.More || next != ""
		return err
	})
	if err != nil {
		return err
	}
	err = c.act(r, stack.RouteListClassifications, "privacy/classifications", func(ctx context.Context) error {
		all, err := c.Service.Inventory(ctx, a.WorkspaceID)
		if err != nil {
			return err
		}
		v.Counts = map[string]int{}
		for _, e := range all {
			v.Counts[string(e.Classification)]++
			if v.Filter == "" || string(e.Classification) == v.Filter {
				v.Inventory = append(v.Inventory, phi.Classification{Path: string(e.Path), Class: string(e.Classification), Matcher: e.Matcher, DecidedBy: e.DecidedBy, DecidedAt: e.DecidedAt})
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.render(w, r, status, "privacy", "Privacy Portal", v)
}

// classify records one decision: accepting the inbox's recommendation, changing it, or
// reclassifying an inventory entry.
func (c *Console) classify(w http.ResponseWriter, r *http.Request) error {
	a := state(r).actor
	f := r.PostForm
	in := workspace.ClassificationInput{Path: strings.TrimSpace(f.Get("path")), Classification: f.Get("classification")}
	ret := safeReturn(f.Get("return"))
	err := c.act(r, stack.RoutePutClassifications, "privacy/classifications", func(ctx context.Context) error {
		_, err := c.Service.Classify(ctx, a, []workspace.ClassificationInput{in})
		return err
	})
	if fe, err := formOr(err); err != nil {
		return err
	} else if fe != nil {
		// The API names the problems classifications[0].path / .classification.
		for k, msg := range fe.Fields {
			fe.Fields[strings.TrimPrefix(k, "classifications[0].")] = msg
		}
		return c.renderPrivacy(w, r, http.StatusUnprocessableEntity, privacyView{Path: in.Path, Class: in.Classification, Errors: fe, Return: ret, Filter: f.Get("filter")})
	}
	q := "?done=" + urlEscape(in.Path+" is now "+in.Classification)
	if ret != "" {
		q += "&return=" + urlEscape(ret)
	}
	if fl := f.Get("filter"); fl != "" {
		q += "&class=" + urlEscape(fl)
	}
	return c.redirect(w, r, "/privacy"+q)
}

// inventoryCSV is "Download inventory (CSV)": the same export as the REST API's text/csv.
func (c *Console) inventoryCSV(w http.ResponseWriter, r *http.Request) error {
	a := state(r).actor
	var b strings.Builder
	err := c.act(r, stack.RouteListClassifications, "privacy/classifications", func(ctx context.Context) error {
		entries, err := c.Service.Inventory(ctx, a.WorkspaceID)
		if err != nil {
			return err
		}
		return privacy.WriteInventory(&b, entries)
	})
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="inventory-`+a.WorkspaceID+`.csv"`)
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(b.String()))
	return nil
}

// ---- matchers ----

type matchersView struct {
	Defaults, Custom []privacy.Matcher
	Limit            int
	Form             matcherForm
	Errors           *formErrors
	Classes          any
	Created          string
}

type matcherForm struct {
	Name, Classification, Target, Mode string
	Patterns, Synonyms                 string // one per line
}

func (c *Console) matchersPage(w http.ResponseWriter, r *http.Request) error {
	return c.renderMatchers(w, r, http.StatusOK, matchersView{
		Form: matcherForm{Classification: "yellow", Target: "key", Mode: "exact"}, Created: r.URL.Query().Get("created"),
	})
}

func (c *Console) renderMatchers(w http.ResponseWriter, r *http.Request, status int, v matchersView) error {
	a := state(r).actor
	v.Limit, v.Classes = privacy.MaxCustomMatchers, classes
	err := c.act(r, stack.RouteListMatchers, "privacy/matchers", func(ctx context.Context) error {
		page := phi.Page{Limit: workspace.MaxPageLimit}
		for range 5 {
			list, err := c.Service.Matchers(ctx, a.WorkspaceID, page)
			if err != nil {
				return err
			}
			if page.Cursor == "" {
				v.Defaults = list.Defaults
			}
			v.Custom = append(v.Custom, list.Items...)
			if list.NextCursor == "" {
				return nil
			}
			page.Cursor = list.NextCursor
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.render(w, r, status, "matchers", "Matchers", v)
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func (c *Console) createMatcher(w http.ResponseWriter, r *http.Request) error {
	a := state(r).actor
	f := r.PostForm
	form := matcherForm{Name: strings.TrimSpace(f.Get("name")), Classification: f.Get("classification"), Target: f.Get("target"),
		Mode: f.Get("mode"), Patterns: f.Get("patterns"), Synonyms: f.Get("synonyms")}
	in := workspace.MatcherInput{
		Name: form.Name, Classification: privacy.Classification(form.Classification), Target: privacy.Target(form.Target),
		Mode: privacy.Mode(form.Mode), Patterns: lines(form.Patterns), Synonyms: lines(form.Synonyms),
	}
	var m *privacy.Matcher
	err := c.act(r, stack.RouteCreateMatcher, "privacy/matchers", func(ctx context.Context) error {
		var err error
		m, err = c.Service.CreateMatcher(ctx, a.WorkspaceID, in)
		return err
	})
	if fe, err := formOr(err); err != nil {
		return err
	} else if fe != nil {
		// Problems name patterns[2], synonyms[0]: show them under their text area.
		for k, msg := range fe.Fields {
			if i := strings.IndexByte(k, '['); i > 0 {
				base := k[:i]
				fe.Fields[base] = strings.TrimSpace(fe.Fields[base] + " " + fmt.Sprintf("line %s: %s.", lineOf(k[i:]), msg))
			}
		}
		return c.renderMatchers(w, r, http.StatusUnprocessableEntity, matchersView{Form: form, Errors: fe})
	}
	return c.redirect(w, r, "/privacy/matchers?created="+urlEscape(m.Name))
}

// lineOf turns "[2]" into "3", the line a person counts.
func lineOf(idx string) string {
	var n int
	if _, err := fmt.Sscanf(idx, "[%d]", &n); err != nil {
		return idx
	}
	return fmt.Sprint(n + 1)
}

func (c *Console) deleteMatcher(w http.ResponseWriter, r *http.Request) error {
	a := state(r).actor
	id := r.PathValue("matcherId")
	if err := workspace.RefuseDefaultMatcher(id); err != nil {
		return err
	}
	if !phi.ValidID(phi.PrefixMatcher, id) {
		return phi.Errorf(phi.ENOTFOUND, "no such matcher")
	}
	if err := c.act(r, stack.RouteDeleteMatcher, "privacy/matchers/"+id, func(ctx context.Context) error {
		return c.Service.DeleteMatcher(ctx, a.WorkspaceID, id)
	}); err != nil {
		return err
	}
	return c.redirect(w, r, "/privacy/matchers")
}
