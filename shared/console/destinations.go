package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/phiguard/phiguard/shared/catalog"
	"github.com/phiguard/phiguard/shared/fieldcrypt"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/privacy"
	"github.com/phiguard/phiguard/shared/stack"
	"github.com/phiguard/phiguard/shared/workspace"
)

func urlEscape(s string) string { return url.QueryEscape(s) }

// catalogEntry returns the catalog's entry of type t (a path value).
func catalogEntry(t string) (catalog.Entry, bool) { return catalog.Lookup(phi.DestinationType(t)) }

// treatments are the choices of a field's treatment, the default first.
var treatments = []struct{ Value, Label string }{
	{"encrypt", "encrypt (default) — reversible with your private key"},
	{"hmac", "hmac — keyed pseudonym, same input same output"},
	{"sha256", "sha256 — hash for ad platforms; not de-identification"},
	{"redact", "redact — removed"},
}

// algorithms are the "Generate hashing keys" choices, the default first.
var algorithms = []struct{ Value, Label string }{
	{"hpke-p256", "HPKE P-256 (default): no size limit, fast"},
	{"hpke-xwing", "HPKE X-Wing: post-quantum hybrid, for data that must stay confidential for decades"},
	{"rsa-oaep-sha256:2048", "RSA-OAEP SHA-256, 2048 bits: compatible with existing decryption code"},
	{"rsa-oaep-sha256:3072", "RSA-OAEP SHA-256, 3072 bits"},
	{"rsa-oaep-sha256:4096", "RSA-OAEP SHA-256, 4096 bits"},
}

// setupForm is the state of a destination's setup step (new) or settings page (existing):
// what the form holds, kept across a search, a trip to the Privacy Portal and a refused save.
type setupForm struct {
	Flow     string              `json:"flow"` // "new/<type>/<source>" or the destination id
	Type     phi.DestinationType `json:"type"`
	SourceID string              `json:"sourceId"`
	Name     string              `json:"name"`
	URL      string              `json:"url"`
	// Settings are the type's settings but the webhook URL (URL), from the setting.<name> inputs.
	Settings  map[string]string    `json:"settings,omitempty"`
	Enabled   bool                 `json:"enabled"`
	Hash      bool                 `json:"hash"`
	BlockRed  bool                 `json:"blockRed"`
	Fields    []phi.FieldTreatment `json:"fields"`
	Algorithm string               `json:"algorithm"`
	Query     string               `json:"q"`
	Version   int64                `json:"version"`
}

// parseSetup reads the setup form of r (already parsed by checkPost).
func parseSetup(r *http.Request, flow string) setupForm {
	f := r.PostForm
	sf := setupForm{
		Flow: flow, SourceID: f.Get("source"), Name: f.Get("name"), URL: strings.TrimSpace(f.Get("url")),
		Enabled: f.Get("enabled") == "on", Hash: f.Get("hash") == "on", BlockRed: f.Get("blockRed") == "on",
		Algorithm: f.Get("algorithm"), Query: strings.TrimSpace(f.Get("q")),
	}
	sf.Version, _ = strconv.ParseInt(f.Get("version"), 10, 64)
	for name, vs := range f {
		if n, ok := strings.CutPrefix(name, "setting."); ok && n != "url" && len(vs) > 0 {
			if sf.Settings == nil {
				sf.Settings = map[string]string{}
			}
			sf.Settings[n] = strings.TrimSpace(vs[0])
		}
	}
	for _, p := range f["field"] {
		t := phi.Treatment(f.Get("treatment." + p))
		if t == "" {
			t = phi.TreatmentEncrypt
		}
		if !slices.ContainsFunc(sf.Fields, func(x phi.FieldTreatment) bool { return x.Path == p }) {
			sf.Fields = append(sf.Fields, phi.FieldTreatment{Path: p, Treatment: t})
		}
	}
	return sf
}

func (sf setupForm) hashing() phi.HashingSettings {
	fields := sf.Fields
	if fields == nil {
		fields = []phi.FieldTreatment{}
	}
	return phi.HashingSettings{Enabled: sf.Hash, Fields: fields, BlockRed: sf.BlockRed}
}

// keepUnreviewed gives in's hashing settings, if any, the rule for fields not reviewed yet and
// the default treatment stored for d: the console has no control for them (they are set through
// the API), so a Save must not reset them — which would change what those fields get, and
// possibly the destination's hashing state (phi.HashingState).
func keepUnreviewed(in workspace.DestinationInput, d *phi.Destination) workspace.DestinationInput {
	if in.Hashing != nil {
		in.Hashing.Unreviewed, in.Hashing.DefaultTreatment = d.Hashing.Unreviewed, d.Hashing.DefaultTreatment
	}
	return in
}

func (sf setupForm) input(hashing bool) workspace.DestinationInput {
	enabled := sf.Enabled
	settings := phi.DestinationSettings{URL: sf.URL}
	for name, v := range sf.Settings {
		catalog.SetValue(&settings, name, v)
	}
	in := workspace.DestinationInput{SourceID: sf.SourceID, Name: sf.Name, Type: sf.Type, Enabled: &enabled, Settings: settings}
	if hashing {
		h := sf.hashing()
		in.Hashing = &h
	}
	return in
}

// generateRequest turns the algorithm choice into keygen's request (EINVALID naming algorithm).
func (sf setupForm) generateRequest() (req struct {
	Algorithm string
	RSABits   int
}, err error) {
	alg, bits, _ := strings.Cut(sf.Algorithm, ":")
	if alg == "" {
		alg = string(fieldcrypt.DefaultAlgorithm)
	}
	req.Algorithm = alg
	if bits != "" {
		if req.RSABits, err = strconv.Atoi(bits); err != nil {
			return req, phi.InvalidField("algorithm", "choose one of the listed algorithms")
		}
	}
	return req, nil
}

// fieldChoice is one yellow field offered by the Fields control.
type fieldChoice struct {
	Path      string
	Selected  bool
	Treatment string
	Shown     bool
}

type setupView struct {
	New         bool
	Entry       catalog.Entry
	Source      *phi.Source
	Sources     []phi.Source
	Dst         *phi.Destination
	Form        setupForm
	Yellow      []fieldChoice
	Shown       int
	Eligible    bool
	Reason      string
	State       string
	StateReason string
	Delivery    phi.DeliveryStatus // an existing destination's
	Keys        []phi.Key
	Errors      *formErrors
	Action      string // the form's console path
	// signingSecret is the new webhook destination's signing secret, for the key page of the
	// same request; never rendered on the setup page.
	signingSecret string
	Treatments    any
	Algorithms    any
	Saved         bool
	Hashing       bool   // the caller may see and change hashing settings
	Idem          string // the Idempotency-Key of this form's "Generate hashing keys"
	// Access is an AWS destination's role section (access.go); nil for a webhook or a new one.
	Access *accessView
	// DeadLetters is the last count or replay of the destination's dead letters (deadletters.go).
	DeadLetters *deadLettersView
}

// matchesQuery is the Fields control's fuzzy search: the query is a substring of the path, or
// similar (Sørensen–Dice over bigrams above 0.5, privacy.Dice) to one of its segments.
func matchesQuery(q, path string) bool {
	if q == "" {
		return true
	}
	cq := strings.ToLower(strings.Join(strings.Fields(q), ""))
	if strings.Contains(strings.ToLower(path), cq) {
		return true
	}
	for _, seg := range strings.FieldsFunc(path, func(r rune) bool { return r == '.' || r == '[' || r == ']' }) {
		if privacy.Dice(q, seg) > 0.5 {
			return true
		}
	}
	return false
}

// ---- list ----

type destinationRow struct {
	D                  phi.Destination
	Source             string
	State, StateReason string
	Delivery           phi.DeliveryStatus
}

type destinationsView struct {
	Rows  []destinationRow
	Saved string
}

func (c *Console) destinationsPage(w http.ResponseWriter, r *http.Request) error {
	a := state(r).actor
	var v destinationsView
	err := c.act(r, stack.RouteListDestinations, "destinations", func(ctx context.Context) error {
		srcs, err := c.allSources(ctx, a.WorkspaceID)
		if err != nil {
			return err
		}
		names := map[string]string{}
		for _, s := range srcs {
			names[s.ID] = s.Name
		}
		page := phi.Page{Limit: workspace.MaxPageLimit}
		for range 20 {
			dsts, ws, next, err := c.Service.ListDestinations(ctx, a.WorkspaceID, page)
			if err != nil {
				return err
			}
			for i := range dsts {
				row := destinationRow{D: dsts[i], Source: names[dsts[i].SourceID], Delivery: dsts[i].DeliveryState()}
				row.State, row.StateReason = c.hashingState(ctx, &dsts[i], ws)
				v.Rows = append(v.Rows, row)
			}
			if next == "" {
				return nil
			}
			page.Cursor = next
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.render(w, r, http.StatusOK, "destinations", "Destinations", v)
}

// hashingState is the destination's effective state (phi.HashingState from its keys and
// ws's eligibility) and, when degraded, why; "unknown" when its keys cannot be read.
func (c *Console) hashingState(ctx context.Context, d *phi.Destination, ws *phi.Workspace) (string, string) {
	st, err := c.Service.HashingStatus(ctx, d, ws)
	if err != nil {
		return "unknown", "the destination's keys could not be read; reload the page"
	}
	return st.State, st.Message
}

// ---- add destination: catalog → source → setup ----

type catalogView struct{ Entries []catalog.Entry }

func (c *Console) catalogPage(w http.ResponseWriter, r *http.Request) error {
	if !can(r, stack.RouteCreateDestination) {
		return phi.Errorf(phi.EFORBIDDEN, "adding a destination needs the %s role in the workspace", stack.RouteCreateDestination.Role)
	}
	return c.render(w, r, http.StatusOK, "catalog", "Add destination", catalogView{Entries: catalog.Entries})
}

type sourceStepView struct {
	Entry   catalog.Entry
	Sources []phi.Source
	Errors  *formErrors
}

func (c *Console) selectSourcePage(w http.ResponseWriter, r *http.Request) error {
	entry, ok := catalogEntry(r.PathValue("type"))
	if !ok {
		return phi.Errorf(phi.ENOTFOUND, "no such destination type in the catalog")
	}
	if !can(r, stack.RouteCreateDestination) {
		return phi.Errorf(phi.EFORBIDDEN, "adding a destination needs the %s role in the workspace", stack.RouteCreateDestination.Role)
	}
	v := sourceStepView{Entry: entry}
	var err error
	if v.Sources, err = c.sources(r); err != nil {
		return err
	}
	if r.URL.Query().Has("missing") {
		v.Errors = &formErrors{Message: "Select the source you want to connect to your destination."}
	}
	return c.render(w, r, http.StatusOK, "source", "Select data source", v)
}

func newFlow(t phi.DestinationType, src string) string { return "new/" + string(t) + "/" + src }

// newSetupPage is the setup step of a new destination for ?source=.
func (c *Console) newSetupPage(w http.ResponseWriter, r *http.Request) error {
	entry, ok := catalogEntry(r.PathValue("type"))
	if !ok {
		return phi.Errorf(phi.ENOTFOUND, "no such destination type in the catalog")
	}
	q := r.URL.Query()
	src := q.Get("source")
	if !phi.ValidID(phi.PrefixSource, src) {
		return c.redirect(w, r, "/add-destination/"+string(entry.Type)+"?missing=1")
	}
	form := setupForm{Flow: newFlow(entry.Type, src), Type: entry.Type, SourceID: src, Enabled: true}
	c.loadDraft(r, &form)
	if q.Has("q") {
		form.Query = q.Get("q")
	}
	return c.renderSetup(w, r, http.StatusOK, &setupView{New: true, Entry: entry, Form: form})
}

// loadDraft fills form from the session's draft when it is the same flow's.
func (c *Console) loadDraft(r *http.Request, form *setupForm) {
	sess := state(r).session
	if sess == nil || sess.Draft == "" {
		return
	}
	var d setupForm
	if json.Unmarshal([]byte(sess.Draft), &d) == nil && d.Flow == form.Flow {
		d.Type, d.Flow = form.Type, form.Flow
		if form.Version != 0 {
			d.Version = form.Version
		}
		*form = d
	}
}

// saveDraft keeps form in the session for the next GET of its step.
func (c *Console) saveDraft(r *http.Request, form setupForm) error {
	b, err := json.Marshal(form)
	if err != nil {
		return fmt.Errorf("encode draft: %w", err)
	}
	return c.Sessions.SaveSessionDraft(r.Context(), state(r).session.IDHash, string(b))
}

func (c *Console) clearDraft(r *http.Request) {
	_ = c.Sessions.SaveSessionDraft(r.Context(), state(r).session.IDHash, "")
}

// renderSetup fills in what every setup view shows and renders it.
func (c *Console) renderSetup(w http.ResponseWriter, r *http.Request, status int, v *setupView) error {
	a := state(r).actor
	ctx := r.Context()
	v.Treatments, v.Algorithms = treatments, algorithms
	// One Idempotency-Key per rendered form: submitting it twice generates no second key.
	v.Idem = phi.NewID("gen_")
	v.Hashing = can(r, stack.RouteUpdateHashing)
	if v.Form.Algorithm == "" {
		v.Form.Algorithm = algorithms[0].Value
	}
	ws, err := c.Service.Workspace(ctx, a.WorkspaceID)
	if err != nil {
		return err
	}
	v.Eligible, v.Reason = ws.HIPAAEligible(), ws.Ineligibility()
	if v.Sources, err = c.sources(r); err != nil {
		return err
	}
	if i := slices.IndexFunc(v.Sources, func(s phi.Source) bool { return s.ID == v.Form.SourceID }); i >= 0 {
		v.Source = &v.Sources[i]
	} else if v.New {
		return phi.Errorf(phi.ENOTFOUND, "that source does not exist in this workspace; go back and select another")
	}
	if v.New {
		v.Action = "/add-destination/" + string(v.Entry.Type) + "/setup"
	} else {
		v.Action = "/destinations/" + v.Dst.ID
		v.State, v.StateReason = c.hashingState(ctx, v.Dst, ws)
		v.Delivery = v.Dst.DeliveryState()
		if err := c.loadAccess(r, v); err != nil {
			return err
		}
	}
	if v.Hashing {
		if err := c.act(r, stack.RouteListClassifications, "privacy/classifications", func(ctx context.Context) error {
			entries, err := c.Service.Inventory(ctx, a.WorkspaceID)
			if err != nil {
				return err
			}
			chosen := map[string]phi.Treatment{}
			for _, f := range v.Form.Fields {
				chosen[f.Path] = f.Treatment
			}
			for _, e := range entries {
				if e.Classification != privacy.Yellow {
					continue
				}
				p := string(e.Path)
				t, sel := chosen[p]
				if !sel {
					t = phi.TreatmentEncrypt
				}
				fc := fieldChoice{Path: p, Selected: sel, Treatment: string(t), Shown: sel || matchesQuery(v.Form.Query, p)}
				if fc.Shown {
					v.Shown++
				}
				v.Yellow = append(v.Yellow, fc)
				delete(chosen, p)
			}
			// A chosen field that is no longer yellow stays listed, so the refusal can name it.
			for _, f := range v.Form.Fields {
				if _, left := chosen[f.Path]; left {
					v.Yellow = append(v.Yellow, fieldChoice{Path: f.Path, Selected: true, Treatment: string(f.Treatment), Shown: true})
					v.Shown++
				}
			}
			return nil
		}); err != nil {
			return err
		}
		if !v.New {
			if err := c.act(r, stack.RouteListKeys, "destinations/"+v.Dst.ID+"/keys", func(ctx context.Context) error {
				var err error
				v.Keys, err = c.listKeys(ctx, r, v.Dst)
				return err
			}); err != nil {
				return err
			}
		}
	}
	title := "Set up " + v.Entry.Name
	if !v.New {
		title = v.Dst.Name + " · Settings"
	}
	return c.render(w, r, status, "setup", title, v)
}

// newSetup handles the setup step's buttons: Search, the Privacy Portal link, Generate hashing
// keys, Upload public key and Save.
func (c *Console) newSetup(w http.ResponseWriter, r *http.Request) error {
	entry, ok := catalogEntry(r.PathValue("type"))
	if !ok {
		return phi.Errorf(phi.ENOTFOUND, "no such destination type in the catalog")
	}
	src := r.PostForm.Get("source")
	form := parseSetup(r, newFlow(entry.Type, src))
	form.Type, form.Enabled = entry.Type, true
	setupPath := "/add-destination/" + string(entry.Type) + "/setup?source=" + urlEscape(src)
	v := &setupView{New: true, Entry: entry, Form: form}
	switch action := r.PostForm.Get("action"); action {
	case "search", "portal":
		return c.leaveSetup(w, r, form, action, setupPath+"&q="+urlEscape(form.Query)+"#fields", setupPath)
	case "generate", "upload":
		return c.generateForNew(w, r, v)
	default: // save
		return c.saveNew(w, r, v)
	}
}

// saveNew creates the destination as the form says (with hashing only when its keys exist,
// which for a new destination means treatments that need none).
func (c *Console) saveNew(w http.ResponseWriter, r *http.Request, v *setupView) error {
	in := v.Form.input(can(r, stack.RouteUpdateHashing) && (v.Form.Hash || len(v.Form.Fields) > 0))
	d, secret, err := c.createDestination(w, r, v, in)
	if d == nil {
		return err
	}
	defer clear(secret)
	if secret == nil {
		return c.redirect(w, r, "/destinations/"+d.ID+"?saved=1")
	}
	// The webhook's signing secret is in this response only (no-store), as in the REST API's 201.
	return c.render(w, r, http.StatusCreated, "signing", "Copy the signing secret", signingView{Dst: d, Secret: string(secret)})
}

// signingView is the page that shows a new webhook destination's signing secret, once.
type signingView struct {
	Dst    *phi.Destination
	Secret string
}

// leaveSetup keeps the setup form as a draft and leaves the step for action: "search" reloads it
// at searchPath with the fields filtered, "portal" goes to the Privacy Portal, which comes back
// to returnPath with the draft.
func (c *Console) leaveSetup(w http.ResponseWriter, r *http.Request, form setupForm, action, searchPath, returnPath string) error {
	if err := c.saveDraft(r, form); err != nil {
		return err
	}
	if action == "search" {
		return c.redirect(w, r, searchPath)
	}
	return c.redirect(w, r, "/privacy?return="+urlEscape(returnPath))
}

// createDestination creates the destination in as the setup step v says, audited as the REST
// route is, and clears the draft. It returns the destination and, for a webhook, its signing
// secret, which the caller shows once and clears; or nil and what to return: the setup step
// again with the problems beside their fields (nil error once rendered), or an error.
func (c *Console) createDestination(w http.ResponseWriter, r *http.Request, v *setupView, in workspace.DestinationInput) (*phi.Destination, []byte, error) {
	a := state(r).actor
	var d *phi.Destination
	var secret []byte
	err := c.act(r, stack.RouteCreateDestination, "destinations", func(ctx context.Context) error {
		var err error
		d, _, secret, err = c.Service.CreateDestination(ctx, a, in)
		return err
	})
	if fe, err := formOr(err); err != nil {
		return nil, nil, err
	} else if fe != nil {
		v.Errors = fe
		return nil, nil, c.renderSetup(w, r, http.StatusUnprocessableEntity, v)
	}
	c.clearDraft(r)
	return d, secret, nil
}

// ---- an existing destination's Settings ----

func (c *Console) destination(r *http.Request) (*phi.Destination, error) {
	a := state(r).actor
	id := r.PathValue("destinationId")
	if !phi.ValidID(phi.PrefixDestination, id) {
		return nil, phi.Errorf(phi.ENOTFOUND, "no such destination")
	}
	var d *phi.Destination
	err := c.act(r, stack.RouteGetDestination, "destinations/"+id, func(ctx context.Context) error {
		var err error
		d, _, err = c.Service.Destination(ctx, a.WorkspaceID, id)
		return err
	})
	return d, err
}

func formOf(d *phi.Destination) setupForm {
	return setupForm{
		Flow: d.ID, Type: d.Type, SourceID: d.SourceID, Name: d.Name, URL: d.Settings.URL, Enabled: d.Enabled,
		Hash: d.Hashing.Enabled, BlockRed: d.Hashing.BlockRed, Fields: slices.Clone(d.Hashing.Fields), Version: d.Version,
		Settings: catalog.Values(d.Settings),
	}
}

// Setting returns the form's value of the type's setting name, for the template.
func (sf setupForm) Setting(name string) string {
	if name == "url" {
		return sf.URL
	}
	return sf.Settings[name]
}

func (c *Console) settingsOfDestination(w http.ResponseWriter, r *http.Request) error {
	d, err := c.destination(r)
	if err != nil {
		return err
	}
	entry, _ := catalogEntry(string(d.Type))
	form := formOf(d)
	q := r.URL.Query()
	if q.Has("draft") || q.Has("q") {
		c.loadDraft(r, &form)
		form.Version = d.Version
	}
	if q.Has("q") {
		form.Query = q.Get("q")
	}
	return c.renderSetup(w, r, http.StatusOK, &setupView{Entry: entry, Dst: d, Form: form, Saved: q.Has("saved")})
}

// updateDestination handles the Settings page's buttons, as newSetup does the setup step's.
func (c *Console) updateDestination(w http.ResponseWriter, r *http.Request) error {
	d, err := c.destination(r)
	if err != nil {
		return err
	}
	entry, _ := catalogEntry(string(d.Type))
	form := parseSetup(r, d.ID)
	form.Type = d.Type
	v := &setupView{Entry: entry, Dst: d, Form: form}
	path := "/destinations/" + d.ID
	switch action := r.PostForm.Get("action"); action {
	case "search", "portal":
		return c.leaveSetup(w, r, form, action, path+"?q="+urlEscape(form.Query)+"#fields", path+"?draft=1")
	case "generate", "upload":
		return c.generateForExisting(w, r, v)
	}
	a := state(r).actor
	err = c.act(r, stack.RouteUpdateDestination, "destinations/"+d.ID, func(ctx context.Context) error {
		_, _, err := c.Service.UpdateDestination(ctx, a, d.ID, form.Version, keepUnreviewed(form.input(can(r, stack.RouteUpdateHashing)), d))
		return err
	})
	if fe, err := formOr(err); err != nil {
		return err
	} else if fe != nil {
		v.Errors = fe
		return c.renderSetup(w, r, http.StatusUnprocessableEntity, v)
	}
	c.clearDraft(r)
	return c.redirect(w, r, path+"?saved=1")
}
