package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/privacy"
	"github.com/phiguard/phiguard/shared/transform"
)

// MaxHashedFields is the most fields one destination's hashing settings may list.
const MaxHashedFields = 200

// Effective hashing states a destination shows. The pipeline decides the same way on every
// snapshot, so what GET shows is what events get.
const (
	HashingOff       = "off"       // hashing is not enabled
	HashingActive    = "active"    // enabled, and the workspace is HIPAA eligible
	HashingSuspended = "suspended" // enabled, but the workspace is no longer eligible: the listed fields are removed (fail closed)
)

// DestinationView is a destination as the API shows it. Hashing (which fields are PHI and how
// they are protected) is shown to owners only; everyone sees the effective HashingState, and
// its reason when hashing is suspended.
type DestinationView struct {
	ID                 string                  `json:"id"`
	WorkspaceID        string                  `json:"workspaceId"`
	SourceID           string                  `json:"sourceId"`
	Name               string                  `json:"name"`
	Type               phi.DestinationType     `json:"type"`
	Enabled            bool                    `json:"enabled"`
	Settings           phi.DestinationSettings `json:"settings"`
	Hashing            *phi.HashingSettings    `json:"hashing,omitempty"`
	HashingState       string                  `json:"hashingState"`
	HashingStateReason string                  `json:"hashingStateReason,omitempty"`
	CreatedAt          time.Time               `json:"createdAt"`
	UpdatedAt          time.Time               `json:"updatedAt"`
	Version            int64                   `json:"version"`
}

func viewDestination(d *phi.Destination, ws *phi.Workspace, a phi.Actor) DestinationView {
	v := DestinationView{
		ID: d.ID, WorkspaceID: d.WorkspaceID, SourceID: d.SourceID, Name: d.Name, Type: d.Type,
		Enabled: d.Enabled, Settings: d.Settings, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
		Version: d.Version, HashingState: HashingOff,
	}
	if a.Role == phi.RoleOwner {
		h := d.Hashing
		if h.Fields == nil {
			h.Fields = []phi.FieldTreatment{}
		}
		v.Hashing = &h
	}
	if d.Hashing.Enabled {
		v.HashingState = HashingActive
		if reason := ineligibility(ws); reason != "" {
			v.HashingState = HashingSuspended
			v.HashingStateReason = "workspace not HIPAA eligible: " + reason + "; protected fields are removed from events until eligibility is restored"
		}
	}
	return v
}

// destinationRequest is the body of POST and PUT destination. Hashing is optional: when absent
// on PUT the stored settings are kept; when present the caller must be an owner.
type destinationRequest struct {
	SourceID string                  `json:"sourceId"`
	Name     string                  `json:"name"`
	Type     phi.DestinationType     `json:"type"`
	Enabled  *bool                   `json:"enabled"`
	Settings phi.DestinationSettings `json:"settings"`
	Hashing  *phi.HashingSettings    `json:"hashing"`
}

func (req *destinationRequest) check() []Problem {
	var p []Problem
	if !phi.ValidID(phi.PrefixSource, req.SourceID) {
		p = append(p, Problem{"sourceId", "must be the id of a source of this workspace (src_…)"})
	}
	p = append(p, checkName("name", req.Name)...)
	switch req.Type {
	case phi.DestinationWebhook:
		p = append(p, checkWebhookURL("settings.url", req.Settings.URL)...)
	case "":
		p = append(p, Problem{"type", `is required; use "webhook"`})
	default:
		p = append(p, Problem{"type", fmt.Sprintf("%q is not a destination type; use \"webhook\"", clip(string(req.Type)))})
	}
	return p
}

var errOwnerHashing = phi.Errorf(phi.EFORBIDDEN, "only workspace owners can see or change hashing settings; send the destination without \"hashing\"")

func (c *Config) listDestinations(w http.ResponseWriter, r *http.Request) error {
	a, err := actor(r)
	if err != nil {
		return err
	}
	page, err := PageParams(r)
	if err != nil {
		return err
	}
	ws, err := c.Store.GetWorkspace(r.Context(), a.WorkspaceID)
	if err != nil {
		return wrap(err, "get workspace")
	}
	dsts, next, err := c.Store.ListDestinations(r.Context(), a.WorkspaceID, page)
	if err != nil {
		return wrap(err, "list destinations")
	}
	views := make([]DestinationView, len(dsts))
	for i := range dsts {
		views[i] = viewDestination(&dsts[i], ws, a)
	}
	WriteJSON(w, http.StatusOK, NewList(views, next))
	return nil
}

func (c *Config) getDestination(w http.ResponseWriter, r *http.Request) error {
	a, err := actor(r)
	if err != nil {
		return err
	}
	id, err := PathID(r, "destinationId", phi.PrefixDestination)
	if err != nil {
		return err
	}
	ws, err := c.Store.GetWorkspace(r.Context(), a.WorkspaceID)
	if err != nil {
		return wrap(err, "get workspace")
	}
	d, err := c.Store.GetDestination(r.Context(), a.WorkspaceID, id)
	if err != nil {
		return wrap(err, "get destination %s", id)
	}
	w.Header().Set("ETag", ETag(d.Version))
	WriteJSON(w, http.StatusOK, viewDestination(d, ws, a))
	return nil
}

// decodeDestination reads and checks a destination's create or update body: 400 for a malformed
// one, 403 when a non-owner sends hashing settings, 422 listing every rule it breaks.
func decodeDestination(r *http.Request, a phi.Actor) (destinationRequest, error) {
	var req destinationRequest
	if err := Decode(r, &req); err != nil {
		return req, err
	}
	if req.Hashing != nil && a.Role != phi.RoleOwner {
		return req, errOwnerHashing
	}
	return req, invalid(req.check())
}

func (c *Config) createDestination(w http.ResponseWriter, r *http.Request) error {
	a, err := actor(r)
	if err != nil {
		return err
	}
	req, err := decodeDestination(r, a)
	if err != nil {
		return err
	}
	ws, err := c.Store.GetWorkspace(r.Context(), a.WorkspaceID)
	if err != nil {
		return wrap(err, "get workspace")
	}
	now := c.Now().UTC()
	d := phi.Destination{
		ID: phi.NewID(phi.PrefixDestination), WorkspaceID: a.WorkspaceID, SourceID: req.SourceID,
		Name: req.Name, Type: req.Type, Enabled: req.Enabled == nil || *req.Enabled, Settings: req.Settings,
		Hashing: phi.HashingSettings{Fields: []phi.FieldTreatment{}}, CreatedAt: now, UpdatedAt: now,
	}
	SetAuditTarget(r, "destinations/"+d.ID)
	if req.Hashing != nil {
		h, err := c.checkHashing(r.Context(), ws, d.ID, *req.Hashing)
		if err != nil {
			return err
		}
		d.Hashing = h
	}
	if err := c.checkTarget(r.Context(), &req); err != nil {
		return err
	}
	if err := c.Store.CreateDestination(r.Context(), &d); err != nil {
		return wrap(err, "create destination")
	}
	w.Header().Set("ETag", ETag(d.Version))
	w.Header().Set("Location", r.URL.Path+"/"+d.ID)
	WriteJSON(w, http.StatusCreated, viewDestination(&d, ws, a))
	return nil
}

func (c *Config) updateDestination(w http.ResponseWriter, r *http.Request) error {
	a, err := actor(r)
	if err != nil {
		return err
	}
	id, err := PathID(r, "destinationId", phi.PrefixDestination)
	if err != nil {
		return err
	}
	req, err := decodeDestination(r, a)
	if err != nil {
		return err
	}
	ws, d, err := c.destinationForUpdate(r, a, id)
	if err != nil {
		return err
	}
	d.SourceID, d.Name, d.Type, d.Settings = req.SourceID, req.Name, req.Type, req.Settings
	if req.Enabled != nil {
		d.Enabled = *req.Enabled
	}
	if req.Hashing != nil {
		h, err := c.checkHashing(r.Context(), ws, d.ID, *req.Hashing)
		if err != nil {
			return err
		}
		d.Hashing = h
	}
	if err := c.checkTarget(r.Context(), &req); err != nil {
		return err
	}
	if err := c.Store.UpdateDestination(r.Context(), d); err != nil {
		return wrap(err, "update destination %s", id)
	}
	w.Header().Set("ETag", ETag(d.Version))
	WriteJSON(w, http.StatusOK, viewDestination(d, ws, a))
	return nil
}

func (c *Config) updateHashing(w http.ResponseWriter, r *http.Request) error {
	a, err := actor(r)
	if err != nil {
		return err
	}
	id, err := PathID(r, "destinationId", phi.PrefixDestination)
	if err != nil {
		return err
	}
	var req phi.HashingSettings
	if err := Decode(r, &req); err != nil {
		return err
	}
	ws, d, err := c.destinationForUpdate(r, a, id)
	if err != nil {
		return err
	}
	h, err := c.checkHashing(r.Context(), ws, d.ID, req)
	if err != nil {
		return err
	}
	d.Hashing = h
	if err := c.Store.UpdateDestination(r.Context(), d); err != nil {
		return wrap(err, "update hashing of destination %s", id)
	}
	w.Header().Set("ETag", ETag(d.Version))
	WriteJSON(w, http.StatusOK, viewDestination(d, ws, a))
	return nil
}

// destinationForUpdate reads the caller's workspace and destination id for an update, which
// must name the destination's current version in If-Match: EPRECONDITION when it does not (a
// concurrent edit), the store's error, wrapped, when either cannot be read.
func (c *Config) destinationForUpdate(r *http.Request, a phi.Actor, id string) (*phi.Workspace, *phi.Destination, error) {
	version, err := IfMatch(r)
	if err != nil {
		return nil, nil, err
	}
	ws, err := c.Store.GetWorkspace(r.Context(), a.WorkspaceID)
	if err != nil {
		return nil, nil, wrap(err, "get workspace")
	}
	d, err := c.Store.GetDestination(r.Context(), a.WorkspaceID, id)
	if err != nil {
		return nil, nil, wrap(err, "get destination %s", id)
	}
	if d.Version != version {
		return nil, nil, phi.Errorf(phi.EPRECONDITION, "the destination changed since you read it (version %d, If-Match %d); reload and retry", d.Version, version)
	}
	return ws, d, nil
}

func (c *Config) deleteDestination(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "destinationId", phi.PrefixDestination)
	if err != nil {
		return err
	}
	if err := c.Store.DeleteDestination(r.Context(), r.PathValue("workspaceId"), id); err != nil {
		return wrap(err, "delete destination %s", id)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// checkHashing validates hashing settings for destination dstID of ws and returns them
// normalized (an empty treatment becomes encrypt). Enabled settings must pass, in this order:
// the workspace is HIPAA eligible (EFORBIDDEN with the reason); every path is well formed,
// every treatment known and no path listed twice (EINVALID listing each problem); the settings
// compile into the pipeline's protection plan (EINVALID naming the conflict, see
// checkCompiles); every path is classified yellow in the workspace (EINVALID listing each
// offending path with its classification); encrypt and hmac have an active key of their kind
// for the destination (ECONFLICT "generate hashing keys first"). Disabled settings are only
// checked for form and for compiling, so an owner can prepare fields before generating keys,
// and can always switch hashing off.
func (c *Config) checkHashing(ctx context.Context, ws *phi.Workspace, dstID string, h phi.HashingSettings) (phi.HashingSettings, error) {
	if h.Enabled && !ws.HIPAAEligible() {
		return h, phi.Errorf(phi.EFORBIDDEN, "hashing can only be enabled in a HIPAA eligible workspace: %s", ineligibility(ws)).
			WithDetails(map[string]any{"hipaaEligible": false, "tier": ws.Tier, "baaSigned": ws.BAA.Signed})
	}
	var problems []Problem
	if len(h.Fields) > MaxHashedFields {
		problems = append(problems, Problem{"fields", fmt.Sprintf("lists %d fields; the limit is %d", len(h.Fields), MaxHashedFields)})
		return h, invalid(problems)
	}
	out := h
	out.Fields = make([]phi.FieldTreatment, 0, len(h.Fields))
	seen := map[string]bool{}
	for i, f := range h.Fields {
		if f.Treatment == "" {
			f.Treatment = phi.TreatmentEncrypt
		}
		if err := privacy.FieldPath(f.Path).Validate(); err != nil {
			for _, p := range privacy.Problems(err) {
				problems = append(problems, Problem{fmt.Sprintf("fields[%d].path", i), p.Reason})
			}
		} else if seen[f.Path] {
			problems = append(problems, Problem{fmt.Sprintf("fields[%d].path", i), "is listed twice; list each field once"})
		}
		seen[f.Path] = true
		if !f.Treatment.Valid() {
			problems = append(problems, Problem{fmt.Sprintf("fields[%d].treatment", i), fmt.Sprintf("%q is not a treatment; use encrypt, hmac, sha256 or redact", clip(string(f.Treatment)))})
		}
		out.Fields = append(out.Fields, f)
	}
	if err := invalid(problems); err != nil {
		return out, err
	}
	// The pipeline applies the listed fields whether or not hashing is enabled (disabled
	// settings drop encrypt and hmac fields rather than send them in clear), so disabled
	// settings must compile too.
	if err := c.checkCompiles(ctx, ws.ID, out); err != nil || !h.Enabled {
		return out, err
	}

	paths := make([]string, len(out.Fields))
	for i, f := range out.Fields {
		paths[i] = f.Path
	}
	classes, err := c.Store.GetClassifications(ctx, ws.ID, paths)
	if err != nil {
		return out, wrap(err, "get classifications")
	}
	var offending []map[string]string
	for _, f := range out.Fields {
		if cl := classes[f.Path].Class; cl != string(privacy.Yellow) {
			if cl == "" {
				cl = "unclassified"
			}
			offending = append(offending, map[string]string{"path": f.Path, "classification": cl})
		}
	}
	if len(offending) > 0 {
		return out, phi.Errorf(phi.EINVALID, "only fields classified yellow in the Privacy Portal can be hashed; %d listed fields are not", len(offending)).
			WithDetails(map[string]any{"fields": offending})
	}

	need := map[phi.KeyKind]bool{phi.KeyEncryption: out.Uses(phi.TreatmentEncrypt), phi.KeyHMAC: out.Uses(phi.TreatmentHMAC)}
	if need[phi.KeyEncryption] || need[phi.KeyHMAC] {
		keys, err := c.Store.ListKeys(ctx, ws.ID, dstID)
		if err != nil {
			return out, wrap(err, "list keys of destination %s", dstID)
		}
		for _, k := range keys {
			if k.Status == phi.KeyActive {
				need[k.Kind] = false
			}
		}
		var missing []string
		if need[phi.KeyEncryption] {
			missing = append(missing, "encryption key pair (POST .../keys) for the encrypt treatment")
		}
		if need[phi.KeyHMAC] {
			missing = append(missing, "HMAC key (POST .../hmac-keys) for the hmac treatment")
		}
		if len(missing) > 0 {
			return out, phi.Errorf(phi.ECONFLICT, "generate hashing keys first: the destination has no active %s", strings.Join(missing, " and no active ")).
				WithDetails(map[string]any{"missing": missing})
		}
	}
	return out, nil
}

// checkCompiles refuses hashing settings that the pipeline could not turn into a protection
// plan — for example a field removed (redact) inside a field protected as a whole, one field
// listed with and without "[]" under different treatments, or, with blockRed, a field
// classified red inside a field protected as a whole. Saved, such settings would make every
// copy for the destination fail (and pile up in the dead-letter queue) instead of leaving
// protected. It builds the plan exactly as the pipeline does (transform.DestinationSpec, transform.Compile)
// and returns EINVALID naming the conflict, or the store's error, wrapped, when the red
// classifications cannot be read.
func (c *Config) checkCompiles(ctx context.Context, wsID string, h phi.HashingSettings) error {
	if _, err := transform.Compile(transform.DestinationSpec(h, nil)); err != nil {
		return notCompiling(err, "")
	}
	if !h.BlockRed || len(h.Fields) == 0 {
		return nil // removing red fields alone always compiles: removals only cover each other
	}
	red, err := c.redPaths(ctx, wsID)
	if err != nil {
		return err
	}
	if _, err := transform.Compile(transform.DestinationSpec(h, red)); err != nil {
		return notCompiling(err, " (blockRed removes every field classified red: protect the fields inside the outer one individually instead)")
	}
	return nil
}

// redPaths returns the workspace's field paths classified red that the transform can address,
// as the pipeline collects them (paths it cannot parse can match no event and are skipped).
func (c *Config) redPaths(ctx context.Context, wsID string) ([]string, error) {
	var red []string
	page := phi.Page{Limit: MaxPageLimit}
	for {
		items, next, err := c.Store.ListClassifications(ctx, wsID, page)
		if err != nil {
			return nil, wrap(err, "list classifications")
		}
		for _, cl := range items {
			if cl.Class != string(privacy.Red) {
				continue
			}
			if _, err := transform.ParsePath(cl.Path); err == nil {
				red = append(red, cl.Path)
			}
		}
		if next == "" || next == page.Cursor {
			return red, nil
		}
		page.Cursor = next
	}
}

// notCompiling turns a transform.Compile error into the EINVALID the caller sees.
func notCompiling(err error, hint string) error {
	if !errors.Is(err, transform.ErrInvalidPlan) {
		return fmt.Errorf("compile hashing settings: %w", err)
	}
	reason := err.Error()
	for _, p := range []string{"invalid protection plan: ", "transform: "} {
		reason = strings.ReplaceAll(reason, p, "")
	}
	reason = clipReason(reason)
	return phi.Errorf(phi.EINVALID, "fields: the hashing settings cannot be applied to events, so nothing could be sent to this destination: %s%s", reason, hint).
		WithDetails([]Problem{{Field: "fields", Reason: reason + hint}})
}

// clipReason bounds a compile error quoted back (it quotes configured paths, at most 256 bytes each).
func clipReason(s string) string {
	const max = 800
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

// webhookCheckTimeout bounds the DNS resolution of a webhook host at configuration time.
const webhookCheckTimeout = 5 * time.Second

// checkTarget checks a webhook destination's URL with c.Webhooks — https, and a host that
// resolves, every address public (not loopback, private, link-local or metadata) — so that a
// destination can never be configured to send events into the service's own network. The
// delivery function checks the address again when it connects. It returns EINVALID naming
// settings.url (a host that cannot be resolved included), or an internal error, wrapped, for
// anything else.
func (c *Config) checkTarget(ctx context.Context, req *destinationRequest) error {
	if req.Type != phi.DestinationWebhook {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, webhookCheckTimeout)
	defer cancel()
	err := c.Webhooks.ValidateURL(ctx, req.Settings.URL)
	if err == nil {
		return nil
	}
	if phi.ErrorCode(err) == phi.EINVALID {
		return invalid([]Problem{{Field: "settings.url", Reason: phi.ErrorMessage(err)}})
	}
	return fmt.Errorf("check webhook URL: %w", err)
}
