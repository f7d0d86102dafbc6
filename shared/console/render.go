package console

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/phiguard/phiguard/shared/httpapi"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

// pageNames are the templates under templates/, each rendered inside layout.html.
var pageNames = []string{
	"signin", "error", "settings", "privacy", "matchers", "sources", "destinations", "catalog",
	"source", "setup", "key", "keys", "tokens", "token", "audit", "confirm", "signing",
}

type page struct{ t *template.Template }

var funcs = template.FuncMap{
	"time": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"timep": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"join": strings.Join,
	// fieldID turns a field path or problem name into an id for a control's error message.
	"fieldID": func(s string) string {
		var b strings.Builder
		for _, r := range s {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
				b.WriteRune(r)
			} else {
				b.WriteByte('-')
			}
		}
		return b.String()
	},
}

// parsePages parses the layout once and each page on a clone of it (a cold start parses every
// template, so this is on its path).
func parsePages() (map[string]*page, error) {
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("console: parse the layout: %w", err)
	}
	out := map[string]*page{}
	for _, name := range pageNames {
		t, err := template.Must(layout.Clone()).ParseFS(assets, "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: parse template %s: %w", name, err)
		}
		out[name] = &page{t: t}
	}
	return out, nil
}

// view is what every page's template gets: the layout's data and the page's own (.Data).
type view struct {
	Title     string
	Section   string
	Signed    bool
	Actor     phi.Actor
	CSRF      string
	Workspace *phi.Workspace
	Perm      map[string]bool
	Data      any
	base      string
}

// URL returns the browser URL of console path p.
func (v view) URL(p string) string { return v.base + stack.ConsolePath + p }

// Can reports whether the caller may use the control named (see permissions).
func (v view) Can(name string) bool { return v.Perm[name] }

// permissions names the controls the templates show or hide, each by the REST route whose role
// it needs.
var permissions = map[string]stack.Route{
	"privacy":      stack.RouteListClassifications,
	"classify":     stack.RoutePutClassifications,
	"matchers":     stack.RouteCreateMatcher,
	"sources.add":  stack.RouteCreateSource,
	"destinations": stack.RouteListDestinations,
	"dst.add":      stack.RouteCreateDestination,
	"dst.edit":     stack.RouteUpdateDestination,
	"dst.test":     stack.RouteTestDestination,
	"deadletters":  stack.RouteReplayDeadLetters,
	"hashing":      stack.RouteUpdateHashing,
	"keys":         stack.RouteListKeys,
	"keys.new":     stack.RouteGenerateKeyPair,
	"keys.revoke":  stack.RouteRevokeKey,
	"tokens":       stack.RouteListTokens,
	"audit":        stack.RouteListAudit,
}

// render writes page name with status, title and data. Pages are never cached.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name, title string, data any) error {
	b, err := c.page(r, name, title, data)
	if err != nil {
		return err
	}
	write(w, status, b)
	return nil
}

// write sends a rendered page.
func write(w http.ResponseWriter, status int, page []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(page)
}

// page renders page name with title and data, for render or for a response that must be built
// before a step it depends on (a key is stored only once the page carrying its secret exists).
func (c *Console) page(r *http.Request, name, title string, data any) ([]byte, error) {
	rq := state(r)
	v := view{Title: title, Section: name, Signed: rq.session != nil, Actor: rq.actor, CSRF: rq.csrf, Data: data, base: rq.base, Perm: map[string]bool{}}
	if v.Signed {
		for k, route := range permissions {
			v.Perm[k] = can(r, route)
		}
		if ws, err := c.Service.Workspace(r.Context(), rq.actor.WorkspaceID); err == nil {
			v.Workspace = ws
		}
	}
	p, ok := c.pages[name]
	if !ok {
		return nil, fmt.Errorf("no template %s", name)
	}
	var buf bytes.Buffer
	if err := p.t.Execute(&buf, v); err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

type errorView struct {
	Status        int
	Heading, Text string
	SignIn        bool
}

// fail writes err as the console's error page: its status from the API's one table
// (httpapi.StatusOf) and its caller-safe message; anything internal is logged with the request
// id and shown as "internal error".
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := httpapi.StatusOf(err)
	v := errorView{Status: status, Text: phi.ErrorMessage(err)}
	switch status {
	case http.StatusNotFound:
		v.Heading = "Not found"
	case http.StatusForbidden:
		v.Heading = "Not allowed"
	case http.StatusConflict:
		v.Heading = "Conflict"
	case http.StatusUnauthorized:
		v.Heading, v.SignIn = "Sign in needed", true
	case http.StatusPreconditionFailed:
		v.Heading = "Changed meanwhile"
	case http.StatusInternalServerError:
		v.Heading, v.Text = "Something went wrong", "internal error; the request id below helps an operator find what happened"
		c.Logger.ErrorContext(r.Context(), "console request failed", "requestId", state(r).requestID, "page", state(r).page, "error", err.Error())
	default:
		v.Heading = "Cannot do that"
	}
	if rerr := c.render(w, r, status, "error", v.Heading, v); rerr != nil {
		c.Logger.ErrorContext(r.Context(), "console error page failed", "requestId", state(r).requestID, "error", rerr.Error())
		http.Error(w, "internal error", http.StatusInternalServerError)
	}
}

// formErrors are a refused form's messages: one for the page, and one per field, named as the
// API names them (phi.Problem.Field).
type formErrors struct {
	Message string
	Fields  map[string]string
}

// Field returns the message for field name, or "".
func (f *formErrors) Field(name string) string {
	if f == nil {
		return ""
	}
	return f.Fields[name]
}

// problemsOf returns the form errors of a refusal the page shows beside the form (EINVALID,
// EBADREQUEST, ECONFLICT, EFORBIDDEN, EPRECONDITION), or nil for an error that needs the error
// page.
func problemsOf(err error) *formErrors {
	switch phi.ErrorCode(err) {
	case phi.EINVALID, phi.EBADREQUEST, phi.ECONFLICT, phi.EFORBIDDEN, phi.EPRECONDITION, phi.ETOOLARGE:
	default:
		return nil
	}
	fe := &formErrors{Message: phi.ErrorMessage(err), Fields: map[string]string{}}
	switch d := phi.ErrorDetails(err).(type) {
	case map[string]any:
		if _, ok := d["missing"]; ok && phi.ErrorCode(err) == phi.ECONFLICT {
			// workspace.CheckHashing speaks of REST routes; the console has a button for it.
			fe.Message = "Press “Generate hashing keys” first: " + strings.NewReplacer("generate hashing keys first: ", "",
				" (POST .../keys)", "", " (POST .../hmac-keys)", "").Replace(fe.Message)
			fe.Fields["hash"] = "needs hashing keys: press “Generate hashing keys” (or upload your own public key)"
		}
		if fields, ok := d["fields"].([]map[string]string); ok {
			for _, f := range fields {
				fe.Fields["path:"+f["path"]] = "is " + f["classification"] + " in the Privacy Portal; only yellow fields can be hashed"
			}
		}
	case []phi.Problem:
		for _, p := range d {
			if _, dup := fe.Fields[p.Field]; !dup {
				fe.Fields[p.Field] = p.Reason
			}
		}
	}
	return fe
}

// formOr returns the form errors of err for re-rendering a form, or err itself when the error
// page must answer.
func formOr(err error) (*formErrors, error) {
	if _, denied := errors.AsType[*roleError](err); denied {
		return nil, err
	}
	if fe := problemsOf(err); fe != nil {
		return fe, nil
	}
	return nil, err
}
