package httpapi

import (
	"fmt"
	"net/http"
	"time"

	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/workspace"
)

// DestinationView is a destination as the API shows it. Hashing (which fields are PHI and how
// they are protected) is shown to owners only; everyone sees the effective HashingState
// (phi.HashingState), and its reason code and message when hashing is degraded.
type DestinationView struct {
	ID                  string                  `json:"id"`
	WorkspaceID         string                  `json:"workspaceId"`
	SourceID            string                  `json:"sourceId"`
	Name                string                  `json:"name"`
	Type                phi.DestinationType     `json:"type"`
	Enabled             bool                    `json:"enabled"`
	Settings            phi.DestinationSettings `json:"settings"`
	Hashing             *phi.HashingSettings    `json:"hashing,omitempty"`
	HashingState        string                  `json:"hashingState"`
	HashingStateReason  string                  `json:"hashingStateReason,omitempty"`
	HashingStateMessage string                  `json:"hashingStateMessage,omitempty"`
	Delivery            DeliveryView            `json:"delivery"`
	CreatedAt           time.Time               `json:"createdAt"`
	UpdatedAt           time.Time               `json:"updatedAt"`
	Version             int64                   `json:"version"`
}

// DeliveryView is a destination's delivery state (phi.DeliveryStatus) and, for people, what it
// means; a destination never degraded is ok since it was created.
type DeliveryView struct {
	phi.DeliveryStatus
	Message string `json:"message,omitempty"`
}

func viewDelivery(d *phi.Destination) DeliveryView {
	st := d.DeliveryState()
	return DeliveryView{DeliveryStatus: st, Message: st.Message()}
}

func viewDestination(d *phi.Destination, st phi.HashingStatus, a phi.Actor) DestinationView {
	v := DestinationView{
		ID: d.ID, WorkspaceID: d.WorkspaceID, SourceID: d.SourceID, Name: d.Name, Type: d.Type,
		Enabled: d.Enabled, Settings: d.Settings, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
		Version: d.Version, Delivery: viewDelivery(d),
	}
	if a.Role == phi.RoleOwner {
		h := d.Hashing
		if h.Fields == nil {
			h.Fields = []phi.FieldTreatment{}
		}
		v.Hashing = &h
	}
	v.HashingState, v.HashingStateReason, v.HashingStateMessage = st.State, st.Reason, st.Message
	return v
}

// view is viewDestination with d's hashing state as stored (its keys, ws's eligibility).
func (c *ConfigAPI) view(r *http.Request, d *phi.Destination, ws *phi.Workspace, a phi.Actor) (DestinationView, error) {
	st, err := c.Service.HashingStatus(r.Context(), d, ws)
	if err != nil {
		return DestinationView{}, err
	}
	return viewDestination(d, st, a), nil
}

func (c *ConfigAPI) writeDestination(w http.ResponseWriter, r *http.Request, status int, d *phi.Destination, ws *phi.Workspace, a phi.Actor) error {
	v, err := c.view(r, d, ws, a)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", ETag(d.Version))
	WriteJSON(w, status, v)
	return nil
}

func (c *ConfigAPI) listDestinations(w http.ResponseWriter, r *http.Request) error {
	a, err := Actor(r)
	if err != nil {
		return err
	}
	page, err := PageParams(r)
	if err != nil {
		return err
	}
	dsts, ws, next, err := c.Service.ListDestinations(r.Context(), a.WorkspaceID, page)
	if err != nil {
		return err
	}
	views := make([]DestinationView, len(dsts))
	for i := range dsts {
		if views[i], err = c.view(r, &dsts[i], ws, a); err != nil {
			return err
		}
	}
	WriteJSON(w, http.StatusOK, NewList(views, next))
	return nil
}

func (c *ConfigAPI) getDestination(w http.ResponseWriter, r *http.Request) error {
	a, err := Actor(r)
	if err != nil {
		return err
	}
	id, err := PathID(r, "destinationId", phi.PrefixDestination)
	if err != nil {
		return err
	}
	d, ws, err := c.Service.Destination(r.Context(), a.WorkspaceID, id)
	if err != nil {
		return err
	}
	return c.writeDestination(w, r, http.StatusOK, d, ws, a)
}

// decodeDestination reads and checks a destination's create or update body: 400 for a malformed
// one, 403 when a non-owner sends hashing settings, 422 listing every rule it breaks.
func decodeDestination(r *http.Request, a phi.Actor) (workspace.DestinationInput, error) {
	var in workspace.DestinationInput
	if err := Decode(r, &in); err != nil {
		return in, err
	}
	return in, workspace.CheckDestination(a, in)
}

func (c *ConfigAPI) createDestination(w http.ResponseWriter, r *http.Request) error {
	a, err := Actor(r)
	if err != nil {
		return err
	}
	in, err := decodeDestination(r, a)
	if err != nil {
		return err
	}
	d, ws, secret, err := c.Service.CreateDestination(r.Context(), a, in)
	if err != nil {
		return err
	}
	defer clear(secret)
	w.Header().Set("Location", r.URL.Path+"/"+d.ID)
	if secret == nil {
		return c.writeDestination(w, r, http.StatusCreated, d, ws, a)
	}
	// The destination is stored; nothing may stand between it and the caller receiving its
	// signing secret, which is never shown again.
	st, err := c.Service.HashingStatus(r.Context(), d, ws)
	if err != nil {
		// Not refused for this: the state then says degraded (keys unknown), which a GET corrects.
		c.Logger.WarnContext(r.Context(), "hashing state of a new destination unknown", "requestId", RequestID(r.Context()),
			"destination", d.ID, "error", err)
		st = phi.HashingState(d, ws, nil)
	}
	body, err := secretBody(viewDestination(d, st, a), "signingSecret", secret)
	if err != nil {
		return fmt.Errorf("respond with destination %s: %w", d.ID, err)
	}
	w.Header().Set("ETag", ETag(d.Version))
	writeSecret(w, http.StatusCreated, body)
	return nil
}

// SigningSecretsView is the 200 response of a signing-secret rotation (with, this once, the new
// secret as signingSecret): when the new secret was created and until when the one it replaced
// keeps signing beside it (absent when it stopped at once).
type SigningSecretsView struct {
	DestinationID     string     `json:"destinationId"`
	CreatedAt         time.Time  `json:"createdAt"`
	PreviousExpiresAt *time.Time `json:"previousExpiresAt,omitempty"`
}

// rotateSigningSecret serves POST .../signing-secret/rotate: a new signing secret, returned
// once; the replaced one keeps signing for the body's overlapSeconds (default a day).
func (c *ConfigAPI) rotateSigningSecret(w http.ResponseWriter, r *http.Request) error {
	a, err := Actor(r)
	if err != nil {
		return err
	}
	id, err := PathID(r, "destinationId", phi.PrefixDestination)
	if err != nil {
		return err
	}
	var req workspace.RotateRequest
	if err := decodeOptional(r, &req); err != nil {
		return err
	}
	overlap, err := req.Overlap()
	if err != nil {
		return err
	}
	sec, secret, err := c.Service.RotateSigningSecret(r.Context(), a.WorkspaceID, id, overlap)
	if err != nil {
		return err
	}
	defer clear(secret)
	v := SigningSecretsView{DestinationID: sec.DestinationID, CreatedAt: sec.Secrets[0].CreatedAt}
	if len(sec.Secrets) > 1 {
		v.PreviousExpiresAt = sec.Secrets[1].ExpiresAt
	}
	body, err := secretBody(v, "signingSecret", secret)
	if err != nil {
		return fmt.Errorf("respond with the signing secret of destination %s: %w", id, err)
	}
	c.Logger.InfoContext(r.Context(), "signing secret rotated", "requestId", RequestID(r.Context()),
		"workspace", a.WorkspaceID, "destination", id, "overlap_seconds", int64(overlap/time.Second), "actor", a.ID)
	writeSecret(w, http.StatusOK, body)
	return nil
}

func (c *ConfigAPI) updateDestination(w http.ResponseWriter, r *http.Request) error {
	a, err := Actor(r)
	if err != nil {
		return err
	}
	id, err := PathID(r, "destinationId", phi.PrefixDestination)
	if err != nil {
		return err
	}
	version, err := IfMatch(r)
	if err != nil {
		return err
	}
	in, err := decodeDestination(r, a)
	if err != nil {
		return err
	}
	d, ws, err := c.Service.UpdateDestination(r.Context(), a, id, version, in)
	if err != nil {
		return err
	}
	return c.writeDestination(w, r, http.StatusOK, d, ws, a)
}

func (c *ConfigAPI) updateHashing(w http.ResponseWriter, r *http.Request) error {
	a, err := Actor(r)
	if err != nil {
		return err
	}
	id, err := PathID(r, "destinationId", phi.PrefixDestination)
	if err != nil {
		return err
	}
	version, err := IfMatch(r)
	if err != nil {
		return err
	}
	var h phi.HashingSettings
	if err := Decode(r, &h); err != nil {
		return err
	}
	d, ws, err := c.Service.SetHashing(r.Context(), a.WorkspaceID, id, version, h)
	if err != nil {
		return err
	}
	return c.writeDestination(w, r, http.StatusOK, d, ws, a)
}

func (c *ConfigAPI) deleteDestination(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "destinationId", phi.PrefixDestination)
	if err != nil {
		return err
	}
	if err := c.Service.DeleteDestination(r.Context(), r.PathValue("workspaceId"), id); err != nil {
		return err
	}
	NoContent(w)
	return nil
}

func (c *ConfigAPI) getAccessPolicy(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "destinationId", phi.PrefixDestination)
	if err != nil {
		return err
	}
	a, err := c.Service.AccessPolicy(r.Context(), r.PathValue("workspaceId"), id)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, a)
	return nil
}

// testDestination answers 200 with the test's result whatever AWS said: a refused role or write
// is the result the caller asked for, in plain words, not an error of the request.
func (c *ConfigAPI) testDestination(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "destinationId", phi.PrefixDestination)
	if err != nil {
		return err
	}
	if err := NoBody(r); err != nil {
		return err
	}
	res, err := c.Service.TestDestination(r.Context(), r.PathValue("workspaceId"), id)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, res)
	return nil
}
