package console

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/phiguard/phiguard/shared/audit"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
	"github.com/phiguard/phiguard/shared/workspace"
)

// settingsPage is Settings > Workspace Settings > General Settings: name, tier, BAA and the
// HIPAA badge, or why the workspace is not eligible.
func (c *Console) settingsPage(w http.ResponseWriter, r *http.Request) error {
	a := state(r).actor
	err := c.act(r, stack.RouteGetWorkspace, "workspace/"+a.WorkspaceID, func(ctx context.Context) error {
		_, err := c.Service.Workspace(ctx, a.WorkspaceID)
		return err
	})
	if err != nil {
		return err
	}
	return c.render(w, r, http.StatusOK, "settings", "Workspace settings", nil)
}

// ---- sources ----

type sourcesView struct {
	Sources []phi.Source
	Name    string
	Errors  *formErrors
	Created string
}

func (c *Console) sourcesPage(w http.ResponseWriter, r *http.Request) error {
	return c.renderSources(w, r, http.StatusOK, sourcesView{Created: r.URL.Query().Get("created")})
}

func (c *Console) renderSources(w http.ResponseWriter, r *http.Request, status int, v sourcesView) error {
	var err error
	if v.Sources, err = c.sources(r); err != nil {
		return err
	}
	return c.render(w, r, status, "sources", "Sources", v)
}

// sources returns every source of the caller's workspace, read as the REST route lists them
// (and audited as it is).
func (c *Console) sources(r *http.Request) ([]phi.Source, error) {
	var out []phi.Source
	err := c.act(r, stack.RouteListSources, "sources", func(ctx context.Context) error {
		var err error
		out, err = c.allSources(ctx, state(r).actor.WorkspaceID)
		return err
	})
	return out, err
}

// allSources reads every source of the workspace (a workspace has a handful).
func (c *Console) allSources(ctx context.Context, wsID string) ([]phi.Source, error) {
	var out []phi.Source
	page := phi.Page{Limit: workspace.MaxPageLimit}
	for range 20 {
		items, next, err := c.Service.ListSources(ctx, wsID, page)
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
		if next == "" {
			break
		}
		page.Cursor = next
	}
	return out, nil
}

func (c *Console) createSource(w http.ResponseWriter, r *http.Request) error {
	a := state(r).actor
	in := workspace.SourceInput{Name: r.PostForm.Get("name")}
	var src *phi.Source
	err := c.act(r, stack.RouteCreateSource, "sources", func(ctx context.Context) error {
		var err error
		src, err = c.Service.CreateSource(ctx, a.WorkspaceID, in)
		return err
	})
	if fe, err := formOr(err); err != nil {
		return err
	} else if fe != nil {
		return c.renderSources(w, r, http.StatusUnprocessableEntity, sourcesView{Name: in.Name, Errors: fe})
	}
	return c.redirect(w, r, "/sources?created="+src.ID)
}

// ---- tokens ----

type tokensView struct {
	Tokens []phi.Token
	Name   string
	Role   string
	Errors *formErrors
}

// createdTokenView is the page that shows a new token's secret, this once.
type createdTokenView struct {
	Token  phi.Token
	Secret string
}

func (c *Console) tokensPage(w http.ResponseWriter, r *http.Request) error {
	return c.renderTokens(w, r, http.StatusOK, tokensView{Role: string(phi.RoleMember)})
}

func (c *Console) renderTokens(w http.ResponseWriter, r *http.Request, status int, v tokensView) error {
	a := state(r).actor
	if err := c.act(r, stack.RouteListTokens, "tokens", func(ctx context.Context) error {
		page := phi.Page{Limit: workspace.MaxPageLimit}
		for range 20 {
			items, next, err := c.Service.ListTokens(ctx, a.WorkspaceID, page)
			if err != nil {
				return err
			}
			v.Tokens = append(v.Tokens, items...)
			if next == "" {
				return nil
			}
			page.Cursor = next
		}
		return nil
	}); err != nil {
		return err
	}
	return c.render(w, r, status, "tokens", "Tokens", v)
}

func (c *Console) createToken(w http.ResponseWriter, r *http.Request) error {
	a := state(r).actor
	in := workspace.TokenInput{Name: r.PostForm.Get("name"), Role: phi.Role(r.PostForm.Get("role"))}
	var tok *phi.Token
	var secret string
	err := c.act(r, stack.RouteCreateToken, "tokens", func(ctx context.Context) error {
		var err error
		tok, secret, err = c.Service.CreateToken(ctx, a, in)
		return err
	})
	if fe, err := formOr(err); err != nil {
		return err
	} else if fe != nil {
		return c.renderTokens(w, r, http.StatusUnprocessableEntity, tokensView{Name: in.Name, Role: string(in.Role), Errors: fe})
	}
	// The secret is in this response only (no-store), as in the REST API's 201.
	return c.render(w, r, http.StatusCreated, "token", "Token created", createdTokenView{Token: *tok, Secret: secret})
}

func (c *Console) revokeToken(w http.ResponseWriter, r *http.Request) error {
	a := state(r).actor
	id := r.PathValue("tokenId")
	if !phi.ValidID(phi.PrefixToken, id) {
		return phi.Errorf(phi.ENOTFOUND, "no such token")
	}
	err := c.act(r, stack.RouteRevokeToken, "tokens/"+id, func(ctx context.Context) error {
		return c.Service.RevokeToken(ctx, a.WorkspaceID, id)
	})
	if err != nil {
		return err
	}
	if id == a.ID {
		// The caller revoked the token of this very session: it has ended.
		return c.redirect(w, r, "/sign-in")
	}
	return c.redirect(w, r, "/tokens")
}

// ---- audit log ----

type auditView struct {
	// Verification is the chain's verification, on the page that asked for it.
	Verification       *audit.Report
	Records            []phi.AuditRecord
	Action, Actor      string
	From, To           string
	Next               string
	Actions            []string
	Errors             *formErrors
	Filtered, Examined int
}

// auditPageSize is how many records one page of the audit log examines; filters on action and
// actor apply to them.
const auditPageSize = 100

const auditTimeLayout = "2006-01-02T15:04"

func (c *Console) auditPage(w http.ResponseWriter, r *http.Request) error {
	return c.showAudit(w, r, nil)
}

// auditVerify is the audit page with the chain's verification (audited as the REST
// verification).
func (c *Console) auditVerify(w http.ResponseWriter, r *http.Request) error {
	a := state(r).actor
	var rep *audit.Report
	err := c.act(r, stack.RouteVerifyAudit, "audit/verify", func(ctx context.Context) error {
		var err error
		rep, err = c.Trail.Verify(ctx, a.WorkspaceID)
		return err
	})
	if err != nil {
		return err
	}
	return c.showAudit(w, r, rep)
}

// auditExport downloads the whole audit chain as NDJSON (audited as the REST export).
func (c *Console) auditExport(w http.ResponseWriter, r *http.Request) error {
	a := state(r).actor
	var b bytes.Buffer
	err := c.act(r, stack.RouteExportAudit, "audit/export", func(ctx context.Context) error {
		return c.Trail.Export(ctx, a.WorkspaceID, time.Time{}, time.Time{}, &b)
	})
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-ndjson")
	h.Set("Content-Disposition", `attachment; filename="audit-`+a.WorkspaceID+`.ndjson"`)
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(b.Bytes())
	return nil
}

// showAudit renders the audit page, with the chain's verification when rep is not nil.
func (c *Console) showAudit(w http.ResponseWriter, r *http.Request, rep *audit.Report) error {
	a := state(r).actor
	q := r.URL.Query()
	v := auditView{Verification: rep, Action: q.Get("action"), Actor: strings.TrimSpace(q.Get("actor")), From: q.Get("from"), To: q.Get("to")}
	for _, rt := range stack.Routes {
		if rt.Action != "" && rt.Auth == stack.AuthToken {
			v.Actions = appendUnique(v.Actions, rt.Action)
		}
	}
	v.Actions = appendUnique(appendUnique(v.Actions, ActionSignIn), ActionSignOut)
	for _, a := range audit.HashingActions() {
		v.Actions = appendUnique(v.Actions, a)
	}
	var from, to time.Time
	var problems []phi.Problem
	if v.From != "" {
		t, err := time.Parse(auditTimeLayout, v.From)
		if err != nil {
			problems = append(problems, phi.Problem{Field: "from", Reason: "must be a date and time, like 2025-01-31T09:00"})
		}
		from = t
	}
	if v.To != "" {
		t, err := time.Parse(auditTimeLayout, v.To)
		if err != nil {
			problems = append(problems, phi.Problem{Field: "to", Reason: "must be a date and time, like 2025-01-31T17:00"})
		}
		to = t
	}
	if err := phi.Invalid(problems); err != nil {
		v.Errors = problemsOf(err)
		return c.render(w, r, http.StatusUnprocessableEntity, "audit", "Audit log", v)
	}
	err := c.act(r, stack.RouteListAudit, "audit", func(ctx context.Context) error {
		recs, next, err := c.Service.Audit(ctx, a.WorkspaceID, from, to, phi.Page{Limit: auditPageSize, Cursor: q.Get("cursor")})
		if err != nil {
			return err
		}
		v.Examined, v.Next = len(recs), next
		for _, rec := range recs {
			if (v.Action == "" || rec.Action == v.Action) && (v.Actor == "" || strings.Contains(rec.Actor, v.Actor)) {
				v.Records = append(v.Records, rec)
			}
		}
		v.Filtered = len(v.Records)
		return nil
	})
	if fe, err := formOr(err); err != nil {
		return err
	} else if fe != nil {
		v.Errors = fe
		return c.render(w, r, http.StatusUnprocessableEntity, "audit", "Audit log", v)
	}
	return c.render(w, r, http.StatusOK, "audit", "Audit log", v)
}

func appendUnique(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}
