package workspace

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/phiguard/phiguard/shared/audit"
	"github.com/phiguard/phiguard/shared/catalog"
	"github.com/phiguard/phiguard/shared/fieldpath"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/privacy"
	"github.com/phiguard/phiguard/shared/transform"
)

// MaxHashedFields is the most fields one destination's hashing settings may list.
const MaxHashedFields = 200

// HashingStatus is phi.HashingState for d as stored, reading d's keys only when they decide it.
func (s *Service) HashingStatus(ctx context.Context, d *phi.Destination, ws *phi.Workspace) (phi.HashingStatus, error) {
	var keys []phi.Key
	if phi.KeysDecide(d, ws) {
		var err error
		if keys, err = s.Store.ListKeys(ctx, d.WorkspaceID, d.ID); err != nil {
			return phi.HashingStatus{}, wrap(err, "list keys of destination %s", d.ID)
		}
	}
	return phi.HashingState(d, ws, keys), nil
}

// hashingChange reads d's hashing state as stored and as it will be with settings h, and
// returns what records the change (audit.HashingChange), to call once h is stored: the keys
// and the workspace do not change with the settings, so nothing is left to read after the
// write.
func (s *Service) hashingChange(ctx context.Context, d *phi.Destination, ws *phi.Workspace, h phi.HashingSettings) (func(), error) {
	before, err := s.HashingStatus(ctx, d, ws)
	if err != nil {
		return nil, err
	}
	next := *d
	next.Hashing = h
	after, err := s.HashingStatus(ctx, &next, ws)
	if err != nil {
		return nil, err
	}
	return func() { audit.HashingChange(ctx, d.ID, before, after) }, nil
}

// DestinationInput is what a destination is made of (the body of create and update). Hashing is
// optional: absent on update, the stored settings are kept; present, the caller must be an
// owner.
type DestinationInput struct {
	SourceID string                  `json:"sourceId"`
	Name     string                  `json:"name"`
	Type     phi.DestinationType     `json:"type"`
	Enabled  *bool                   `json:"enabled"`
	Settings phi.DestinationSettings `json:"settings"`
	Hashing  *phi.HashingSettings    `json:"hashing"`
}

var errOwnerHashing = phi.Errorf(phi.EFORBIDDEN, "only workspace owners can see or change hashing settings; send the destination without \"hashing\"")

// CheckDestination checks a destination's input before anything is read: EFORBIDDEN when a
// non-owner sends hashing settings, EINVALID listing every rule the input breaks.
func CheckDestination(a phi.Actor, in DestinationInput) error {
	if in.Hashing != nil && a.Role != phi.RoleOwner {
		return errOwnerHashing
	}
	var p []phi.Problem
	if !phi.ValidID(phi.PrefixSource, in.SourceID) {
		p = append(p, phi.Problem{Field: "sourceId", Reason: "must be the id of a source of this workspace (src_…)"})
	}
	p = append(p, phi.CheckName("name", in.Name)...)
	if _, ok := catalog.Lookup(in.Type); ok {
		// The webhook's settings.url is checked further by checkTarget, with the service's
		// webhook.Policy.
		p = append(p, catalog.Check(in.Type, in.Settings)...)
	} else if in.Type == "" {
		p = append(p, phi.Problem{Field: "type", Reason: "is required; use one of " + typeList()})
	} else {
		p = append(p, phi.Problem{Field: "type", Reason: fmt.Sprintf("%q is not a destination type; use one of %s", phi.Clip(string(in.Type), 40), typeList())})
	}
	return phi.Invalid(p)
}

// typeList names the catalog's types for an error message: "webhook, s3, …".
func typeList() string {
	names := make([]string, len(catalog.Entries))
	for i, e := range catalog.Entries {
		names[i] = string(e.Type)
	}
	return strings.Join(names, ", ")
}

// ListDestinations returns a page of the workspace's destinations and the workspace (for their
// hashing state).
func (s *Service) ListDestinations(ctx context.Context, wsID string, page phi.Page) ([]phi.Destination, *phi.Workspace, string, error) {
	ws, err := s.Workspace(ctx, wsID)
	if err != nil {
		return nil, nil, "", err
	}
	dsts, next, err := s.Store.ListDestinations(ctx, wsID, page)
	if err != nil {
		return nil, nil, "", wrap(err, "list destinations")
	}
	return dsts, ws, next, nil
}

// Destination returns destination id and its workspace, or ENOTFOUND.
func (s *Service) Destination(ctx context.Context, wsID, id string) (*phi.Destination, *phi.Workspace, error) {
	ws, err := s.Workspace(ctx, wsID)
	if err != nil {
		return nil, nil, err
	}
	d, err := s.Store.GetDestination(ctx, wsID, id)
	if err != nil {
		return nil, nil, wrap(err, "get destination %s", id)
	}
	return d, ws, nil
}

// CreateDestination creates a destination in a's workspace after CheckDestination, the hashing
// rules (CheckHashing) and the webhook policy (checkTarget) pass. A webhook destination gets its
// signing secret (Service.Signing) in the same write, and its text ("whsec_…") is returned this
// once: the service keeps only its KMS ciphertext. The caller sends it and then clears it.
func (s *Service) CreateDestination(ctx context.Context, a phi.Actor, in DestinationInput) (*phi.Destination, *phi.Workspace, []byte, error) {
	if err := CheckDestination(a, in); err != nil {
		return nil, nil, nil, err
	}
	ws, err := s.Workspace(ctx, a.WorkspaceID)
	if err != nil {
		return nil, nil, nil, err
	}
	now := s.now()
	d := &phi.Destination{
		ID: phi.NewID(phi.PrefixDestination), WorkspaceID: a.WorkspaceID, SourceID: in.SourceID,
		Name: in.Name, Type: in.Type, Enabled: in.Enabled == nil || *in.Enabled, Settings: in.Settings,
		Hashing: phi.HashingSettings{Fields: []phi.FieldTreatment{}}, CreatedAt: now, UpdatedAt: now,
	}
	audit.SetTarget(ctx, "destinations/"+d.ID)
	recordHashing := func() {}
	if in.Hashing != nil {
		h, err := s.CheckHashing(ctx, ws, d.ID, *in.Hashing)
		if err != nil {
			return nil, nil, nil, err
		}
		if recordHashing, err = s.hashingChange(ctx, d, ws, h); err != nil {
			return nil, nil, nil, err
		}
		d.Hashing = h
	}
	if err := s.checkTarget(ctx, in); err != nil {
		return nil, nil, nil, err
	}
	if d.Type != phi.DestinationWebhook {
		if err := s.Store.CreateDestination(ctx, d); err != nil {
			return nil, nil, nil, wrap(err, "create destination")
		}
		recordHashing()
		return d, ws, nil, nil
	}
	if s.Signing == nil {
		return nil, nil, nil, errors.New("create destination: the service has no signing-secret generator")
	}
	sec, text, err := s.Signing.NewSigningSecret(ctx, d.WorkspaceID, d.ID)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("create destination %s: %w", d.ID, err)
	}
	signing := &phi.SigningSecrets{WorkspaceID: d.WorkspaceID, DestinationID: d.ID, Secrets: []phi.SigningSecret{sec}}
	if err := s.Store.CreateSignedDestination(ctx, d, signing); err != nil {
		clear(text)
		return nil, nil, nil, wrap(err, "create destination")
	}
	recordHashing()
	return d, ws, text, nil
}

// UpdateDestination replaces destination id's settings (and its hashing settings when in has
// them), refusing as CreateDestination does, and with EPRECONDITION when version is not the
// stored one (a concurrent edit).
func (s *Service) UpdateDestination(ctx context.Context, a phi.Actor, id string, version int64, in DestinationInput) (*phi.Destination, *phi.Workspace, error) {
	if err := CheckDestination(a, in); err != nil {
		return nil, nil, err
	}
	d, ws, err := s.Destination(ctx, a.WorkspaceID, id)
	if err != nil {
		return nil, nil, err
	}
	d.SourceID, d.Name, d.Type, d.Settings = in.SourceID, in.Name, in.Type, in.Settings
	if in.Enabled != nil {
		d.Enabled = *in.Enabled
	}
	recordHashing := func() {}
	if in.Hashing != nil {
		h, err := s.CheckHashing(ctx, ws, d.ID, *in.Hashing)
		if err != nil {
			return nil, nil, err
		}
		if recordHashing, err = s.hashingChange(ctx, d, ws, h); err != nil {
			return nil, nil, err
		}
		d.Hashing = h
	}
	if err := s.checkTarget(ctx, in); err != nil {
		return nil, nil, err
	}
	if err := atVersion(d, version); err != nil {
		return nil, nil, err
	}
	if err := s.Store.UpdateDestination(ctx, d); err != nil {
		return nil, nil, wrap(err, "update destination %s", id)
	}
	recordHashing()
	return d, ws, nil
}

// SetHashing replaces destination id's hashing settings after CheckHashing, with EPRECONDITION
// when version is not the stored one (checked after the settings: a request that could never
// succeed says why, whatever version it names).
func (s *Service) SetHashing(ctx context.Context, wsID, id string, version int64, h phi.HashingSettings) (*phi.Destination, *phi.Workspace, error) {
	d, ws, err := s.Destination(ctx, wsID, id)
	if err != nil {
		return nil, nil, err
	}
	if h, err = s.CheckHashing(ctx, ws, d.ID, h); err != nil {
		return nil, nil, err
	}
	recordHashing, err := s.hashingChange(ctx, d, ws, h)
	if err != nil {
		return nil, nil, err
	}
	d.Hashing = h
	if err := atVersion(d, version); err != nil {
		return nil, nil, err
	}
	if err := s.Store.UpdateDestination(ctx, d); err != nil {
		return nil, nil, wrap(err, "update hashing of destination %s", id)
	}
	recordHashing()
	return d, ws, nil
}

// atVersion checks that an update names d's current version (or phi.AnyVersion): EPRECONDITION
// when it does not (a concurrent edit). The store's conditional write checks it again.
func atVersion(d *phi.Destination, version int64) error {
	if version != phi.AnyVersion && d.Version != version {
		return phi.Errorf(phi.EPRECONDITION, "the destination changed since you read it (version %d, If-Match %d); reload and retry", d.Version, version)
	}
	return nil
}

// DeleteDestination deletes destination id (ENOTFOUND when absent).
func (s *Service) DeleteDestination(ctx context.Context, wsID, id string) error {
	if err := s.Store.DeleteDestination(ctx, wsID, id); err != nil {
		return wrap(err, "delete destination %s", id)
	}
	return nil
}

// CheckHashing validates hashing settings for destination dstID of ws and returns them
// normalized (an empty treatment becomes phi.DefaultTreatment's). Enabled settings must pass, in this order:
// the workspace is HIPAA eligible (EFORBIDDEN with the reason); every path is well formed,
// every treatment known and no path listed twice (EINVALID listing each problem); the settings
// compile into the pipeline's protection plan (EINVALID naming the conflict, see
// checkCompiles); every path but an identity field is classified yellow in the workspace
// (EINVALID listing each offending path with its classification); encrypt and hmac have an active key of their kind
// for the destination (ECONFLICT "generate hashing keys first"). Disabled settings are only
// checked for form and for compiling, so an owner can prepare fields before generating keys,
// and can always switch hashing off.
func (s *Service) CheckHashing(ctx context.Context, ws *phi.Workspace, dstID string, h phi.HashingSettings) (phi.HashingSettings, error) {
	if h.Enabled {
		if err := ws.NotEligible("hashing can only be enabled"); err != nil {
			return h, err
		}
	}
	out, err := normalizeFields(h)
	if err != nil {
		return out, err
	}
	// The pipeline applies the listed fields whether or not hashing is enabled (disabled
	// settings drop encrypt and hmac fields rather than send them in clear), so disabled
	// settings must compile too.
	if err := s.checkCompiles(ctx, ws.ID, out); err != nil || !h.Enabled {
		return out, err
	}
	if err := s.checkYellow(ctx, ws.ID, out); err != nil {
		return out, err
	}
	return out, s.checkKeys(ctx, ws.ID, dstID, out)
}

// normalizeFields checks the form of h — its fields, the unreviewed rule and the default
// treatment — and fills in each field's default treatment (phi.DefaultTreatment: hmac for an
// identity field, encrypt otherwise).
func normalizeFields(h phi.HashingSettings) (phi.HashingSettings, error) {
	if len(h.Fields) > MaxHashedFields {
		return h, phi.InvalidField("fields", "lists %d fields; the limit is %d", len(h.Fields), MaxHashedFields)
	}
	var problems []phi.Problem
	if !h.Unreviewed.Valid() {
		problems = append(problems, phi.Problem{Field: "unreviewed",
			Reason: fmt.Sprintf("%q is not a choice; use protect, block or pass", phi.Clip(string(h.Unreviewed), 40))})
	}
	if h.DefaultTreatment != "" && !h.DefaultTreatment.Valid() {
		problems = append(problems, phi.Problem{Field: "defaultTreatment",
			Reason: fmt.Sprintf("%q is not a treatment; use encrypt, hmac, sha256 or redact", phi.Clip(string(h.DefaultTreatment), 40))})
	}
	out := h
	out.Fields = make([]phi.FieldTreatment, 0, len(h.Fields))
	// seen maps each listed field, case folded, to the path as listed. "[]" is part of the key:
	// a field listed with and without it is a conflict of treatments, which checkCompiles names.
	seen := map[string]string{}
	for i, f := range h.Fields {
		if f.Treatment == "" {
			f.Treatment = phi.DefaultTreatment(f.Path)
		}
		field := fmt.Sprintf("fields[%d].path", i)
		if p, err := fieldpath.Parse(f.Path); err != nil {
			for _, p := range privacy.Problems(privacy.FieldPath(f.Path).Validate()) {
				problems = append(problems, phi.Problem{Field: field, Reason: p.Reason})
			}
		} else if first, dup := seen[fieldKey(p)]; dup {
			reason := "is listed twice; list each field once"
			if first != f.Path {
				reason = fmt.Sprintf("selects the same field as %q (keys are matched case-insensitively); list each field once", phi.Clip(first, 80))
			}
			problems = append(problems, phi.Problem{Field: field, Reason: reason})
		} else {
			seen[fieldKey(p)] = f.Path
		}
		if !f.Treatment.Valid() {
			problems = append(problems, phi.Problem{Field: fmt.Sprintf("fields[%d].treatment", i),
				Reason: fmt.Sprintf("%q is not a treatment; use encrypt, hmac, sha256 or redact", phi.Clip(string(f.Treatment), 40))})
		}
		out.Fields = append(out.Fields, f)
	}
	return out, phi.Invalid(problems)
}

// fieldKey is p's canonical form with its "[]" marker.
func fieldKey(p fieldpath.Path) string {
	if p.Each() {
		return p.Canonical() + "\x00[]"
	}
	return p.Canonical()
}

// checkYellow refuses (EINVALID, listing each) fields that are not classified yellow. The
// identity fields (userId, anonymousId, groupId, previousId) identify a patient by definition and
// are never listed in the inbox, so they need no classification.
func (s *Service) checkYellow(ctx context.Context, wsID string, h phi.HashingSettings) error {
	var paths []string
	for _, f := range h.Fields {
		if !fieldpath.IsIdentity(f.Path) {
			paths = append(paths, f.Path)
		}
	}
	if len(paths) == 0 {
		return nil
	}
	classes, err := s.Store.GetClassifications(ctx, wsID, paths)
	if err != nil {
		return wrap(err, "get classifications")
	}
	var offending []map[string]string
	for _, path := range paths {
		if cl := classes[path].Class; cl != string(privacy.Yellow) {
			if cl == "" {
				cl = "unclassified"
			}
			offending = append(offending, map[string]string{"path": path, "classification": cl})
		}
	}
	if len(offending) > 0 {
		return phi.Errorf(phi.EINVALID, "only fields classified yellow in the Privacy Portal can be hashed; %d listed fields are not", len(offending)).
			WithDetails(map[string]any{"fields": offending})
	}
	return nil
}

// checkKeys refuses (ECONFLICT) encrypt and hmac treatments without an active key of their kind.
// A pending key does not count — it is not used until its owner activates it — but the refusal
// names it, so that the owner knows to activate it.
func (s *Service) checkKeys(ctx context.Context, wsID, dstID string, h phi.HashingSettings) error {
	need := map[phi.KeyKind]bool{phi.KeyEncryption: h.Uses(phi.TreatmentEncrypt), phi.KeyHMAC: h.Uses(phi.TreatmentHMAC)}
	if !need[phi.KeyEncryption] && !need[phi.KeyHMAC] {
		return nil
	}
	keys, err := s.Store.ListKeys(ctx, wsID, dstID)
	if err != nil {
		return wrap(err, "list keys of destination %s", dstID)
	}
	for _, k := range keys {
		if k.Status == phi.KeyActive {
			need[k.Kind] = false
		}
	}
	var missing, pending []string
	if need[phi.KeyEncryption] {
		missing = append(missing, "encryption key pair (POST .../keys) for the encrypt treatment")
	}
	if need[phi.KeyHMAC] {
		missing = append(missing, "HMAC key (POST .../hmac-keys) for the hmac treatment")
	}
	now := s.now()
	for _, k := range keys {
		if need[k.Kind] && k.Status == phi.KeyPending && !k.Expired(now) {
			pending = append(pending, k.ID)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	msg := "generate hashing keys first: the destination has no active " + strings.Join(missing, " and no active ")
	details := map[string]any{"missing": missing}
	for _, id := range pending {
		msg += fmt.Sprintf("; key %s is pending: activate it (POST .../keys/%s/activate) once its secret is stored", id, id)
	}
	if len(pending) > 0 {
		details["pending"] = pending
	}
	return phi.Errorf(phi.ECONFLICT, "%s", msg).WithDetails(details)
}

// checkCompiles refuses hashing settings that the pipeline could not turn into a protection
// plan — for example a field removed (redact) inside a field protected as a whole, one field
// listed with and without "[]" under different treatments, or, with blockRed, a field
// classified red inside a field protected as a whole. Saved, such settings would make every
// copy for the destination fail (and pile up in the dead-letter queue) instead of leaving
// protected. It builds the plan exactly as the pipeline does (transform.DestinationSpec,
// transform.Compile) and returns EINVALID naming the conflict, or the store's error, wrapped,
// when the red classifications cannot be read.
func (s *Service) checkCompiles(ctx context.Context, wsID string, h phi.HashingSettings) error {
	if _, err := transform.Compile(transform.DestinationSpec(h, nil)); err != nil {
		return notCompiling(err, "")
	}
	if !h.BlockRed || len(h.Fields) == 0 {
		return nil // removing red fields alone always compiles: removals only cover each other
	}
	red, err := s.redPaths(ctx, wsID)
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
func (s *Service) redPaths(ctx context.Context, wsID string) ([]string, error) {
	var red []string
	page := phi.Page{Limit: MaxPageLimit}
	for {
		items, next, err := s.Store.ListClassifications(ctx, wsID, page)
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
	var pe *transform.PlanError
	if !errors.As(err, &pe) {
		return fmt.Errorf("compile hashing settings: %w", err)
	}
	reason := phi.Clip(pe.Reason, 800)
	return phi.Errorf(phi.EINVALID, "fields: the hashing settings cannot be applied to events, so nothing could be sent to this destination: %s%s", reason, hint).
		WithDetails([]phi.Problem{{Field: "fields", Reason: reason + hint}})
}

// webhookCheckTimeout bounds the DNS resolution of a webhook host at configuration time.
const webhookCheckTimeout = 5 * time.Second

// checkTarget checks a webhook destination's URL with s.Webhooks — its form, https, and a host
// that resolves, every address public (not loopback, private, link-local or metadata; in local
// development, only the listed local targets) — so that a destination can never be configured
// to send events into the service's own network. The
// delivery function checks the address again when it connects. It returns EINVALID naming
// settings.url (a host that cannot be resolved included), or an internal error, wrapped, for
// anything else.
func (s *Service) checkTarget(ctx context.Context, in DestinationInput) error {
	if in.Type != phi.DestinationWebhook {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, webhookCheckTimeout)
	defer cancel()
	err := s.Webhooks.ValidateURL(ctx, in.Settings.URL)
	if err == nil {
		return nil
	}
	if phi.ErrorCode(err) == phi.EINVALID {
		return phi.InvalidField("settings.url", "%s", phi.ErrorMessage(err))
	}
	return fmt.Errorf("check webhook URL: %w", err)
}
