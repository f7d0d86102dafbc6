package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/privacy"
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

func (c *Config) createDestination(w http.ResponseWriter, r *http.Request) error {
	a, err := actor(r)
	if err != nil {
		return err
	}
	var req destinationRequest
	if err := Decode(r, &req); err != nil {
		return err
	}
	if req.Hashing != nil && a.Role != phi.RoleOwner {
		return errOwnerHashing
	}
	if err := invalid(req.check()); err != nil {
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
	var req destinationRequest
	if err := Decode(r, &req); err != nil {
		return err
	}
	if req.Hashing != nil && a.Role != phi.RoleOwner {
		return errOwnerHashing
	}
	if err := invalid(req.check()); err != nil {
		return err
	}
	version, err := IfMatch(r)
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
	if d.Version != version {
		return phi.Errorf(phi.EPRECONDITION, "the destination changed since you read it (version %d, If-Match %d); reload and retry", d.Version, version)
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
	version, err := IfMatch(r)
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
	if d.Version != version {
		return phi.Errorf(phi.EPRECONDITION, "the destination changed since you read it (version %d, If-Match %d); reload and retry", d.Version, version)
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
// every treatment known and no path listed twice (EINVALID listing each problem); every path
// is classified yellow in the workspace (EINVALID listing each offending path with its
// classification); encrypt and hmac have an active key of their kind for the destination
// (ECONFLICT "generate hashing keys first"). Disabled settings are only checked for form, so
// an owner can prepare fields before generating keys, and can always switch hashing off.
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
	if err := invalid(problems); err != nil || !h.Enabled {
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
			missing = append(missing, "an encryption key pair (POST .../keys) for the encrypt treatment")
		}
		if need[phi.KeyHMAC] {
			missing = append(missing, "an HMAC key (POST .../hmac-keys) for the hmac treatment")
		}
		if len(missing) > 0 {
			return out, phi.Errorf(phi.ECONFLICT, "generate hashing keys first: the destination has no active %s", joinAnd(missing)).
				WithDetails(map[string]any{"missing": missing})
		}
	}
	return out, nil
}

func joinAnd(s []string) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	}
	return s[0] + " and " + s[1]
}
