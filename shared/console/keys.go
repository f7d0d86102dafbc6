package console

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/phiguard/phiguard/shared/httpapi"
	"github.com/phiguard/phiguard/shared/keygen"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

// keyView is the page that answers "Generate hashing keys" (or an upload): the private key,
// this once, with Copy and Download .pem, and the Save form that stays disabled until the owner
// ticks "I have stored the private key".
type keyView struct {
	Dst        *phi.Destination
	New        bool
	Rotate     bool // a new key pair from "Configure new key pairs": Save changes nothing else
	Key        *phi.Key
	PrivateKey string // PEM; empty for an uploaded public key
	HMACKey    *phi.Key
	HMACSecret string
	Form       string // the setup form, JSON, carried to Save
	KeyIDs     []string
	Filename   string
	Errors     *formErrors
}

// keyTarget reads the destination the key actions act on, as keygen does: EFORBIDDEN when
// eligible is set and the workspace is not HIPAA eligible.
func (c *Console) keyDestination(ctx context.Context, r *http.Request, id string, eligible bool) (*phi.Destination, error) {
	return c.Keys.Destination(ctx, state(r).actor.WorkspaceID, id, eligible)
}

// checkGenerate refuses, before anything is created, a "Generate hashing keys" that cannot
// lead to a working Save: the caller is not an owner, hashing is not ticked, the workspace is
// not eligible, or a listed field is malformed or not yellow. The one refusal it lets through
// is the missing key itself — what the button is about to fix.
func (c *Console) checkGenerate(r *http.Request, v *setupView) error {
	if !can(r, stack.RouteGenerateKeyPair) {
		return phi.Errorf(phi.EFORBIDDEN, "generating hashing keys needs the %s role in the workspace", stack.RouteGenerateKeyPair.Role)
	}
	if !v.Form.Hash {
		return phi.InvalidField("hash", "tick “Have phiguard hash sensitive data” before generating hashing keys")
	}
	ctx := r.Context()
	ws, err := c.Service.Workspace(ctx, state(r).actor.WorkspaceID)
	if err != nil {
		return err
	}
	dstID := phi.NewID(phi.PrefixDestination) // a new destination has no keys yet
	if v.Dst != nil {
		dstID = v.Dst.ID
	}
	_, err = c.Service.CheckHashing(ctx, ws, dstID, v.Form.hashing())
	if phi.ErrorCode(err) == phi.ECONFLICT { // "generate hashing keys first"
		err = nil
	}
	return err
}

// generateForNew is "Generate hashing keys" (or "Upload public key") on a new destination's
// setup step: the destination is created, not yet enabled and with hashing off, so that it has
// an id the keys belong to; Save enables both.
func (c *Console) generateForNew(w http.ResponseWriter, r *http.Request, v *setupView) error {
	if err := c.checkGenerate(r, v); err != nil {
		if fe, err := formOr(err); err != nil {
			return err
		} else {
			v.Errors = fe
			return c.renderSetup(w, r, http.StatusUnprocessableEntity, v)
		}
	}
	a := state(r).actor
	in := v.Form.input(true)
	off := false
	in.Enabled = &off
	in.Hashing.Enabled = false
	var d *phi.Destination
	err := c.act(r, stack.RouteCreateDestination, "destinations", func(ctx context.Context) error {
		var err error
		d, _, err = c.Service.CreateDestination(ctx, a, in)
		return err
	})
	if fe, err := formOr(err); err != nil {
		return err
	} else if fe != nil {
		v.Errors = fe
		return c.renderSetup(w, r, http.StatusUnprocessableEntity, v)
	}
	c.clearDraft(r)
	v.Dst = d
	v.Form.Flow, v.Form.Version = d.ID, d.Version
	return c.generateKeys(w, r, v, true)
}

// generateForExisting is "Generate hashing keys" on an existing destination's Settings page.
func (c *Console) generateForExisting(w http.ResponseWriter, r *http.Request, v *setupView) error {
	if err := c.checkGenerate(r, v); err != nil {
		fe, err := formOr(err)
		if err != nil {
			return err
		}
		v.Errors = fe
		return c.renderSetup(w, r, http.StatusUnprocessableEntity, v)
	}
	return c.generateKeys(w, r, v, false)
}

// generateKeys makes the keys the form's treatments need — a key pair through KMS, or the
// uploaded public key — and an HMAC key when a field uses hmac and the destination has none,
// and answers with the key page.
func (c *Console) generateKeys(w http.ResponseWriter, r *http.Request, v *setupView, isNew bool) error {
	a := state(r).actor
	ctx := r.Context()
	dst, err := c.keyDestination(ctx, r, v.Dst.ID, true)
	if err != nil {
		return err
	}
	kv := &keyView{Dst: dst, New: isNew}
	var secrets []*keygen.Secret
	defer func() {
		for _, s := range secrets {
			s.Clear()
		}
	}()
	upload := r.PostForm.Get("action") == "upload"
	if upload {
		req := keygen.ImportRequest{PublicKey: r.PostForm.Get("publicKey")}
		err = c.act(r, stack.RouteImportKey, "destinations/"+dst.ID+"/keys", func(ctx context.Context) error {
			k, err := c.Keys.Import(ctx, a, dst, req)
			kv.Key = k
			return err
		})
	} else {
		var gr keygen.GenerateRequest
		req, gerr := v.Form.generateRequest()
		gr.Algorithm, gr.RSABits = req.Algorithm, req.RSABits
		err = gerr
		if err == nil {
			err = c.act(r, stack.RouteGenerateKeyPair, "destinations/"+dst.ID+"/keys", func(ctx context.Context) error {
				sec, err := c.Keys.NewKeyPair(ctx, a, dst, gr)
				if err != nil {
					return err
				}
				secrets = append(secrets, sec)
				kv.Key, kv.PrivateKey = sec.Key, string(sec.Secret)
				return c.storeKey(ctx, sec)
			})
		}
	}
	if err == nil && v.Form.hashing().Uses(phi.TreatmentHMAC) && !c.hasActive(ctx, dst, phi.KeyHMAC) {
		err = c.act(r, stack.RouteGenerateHMACKey, "destinations/"+dst.ID+"/hmac-keys", func(ctx context.Context) error {
			sec, err := c.Keys.NewHMACKey(ctx, a, dst, keygen.HMACRequest{})
			if err != nil {
				return err
			}
			secrets = append(secrets, sec)
			kv.HMACKey, kv.HMACSecret = sec.Key, string(sec.Secret)
			return c.storeKey(ctx, sec)
		})
	}
	if err != nil {
		fe, ferr := formOr(err)
		if ferr != nil {
			return ferr
		}
		if upload {
			if msg, ok := fe.Fields["publicKey"]; ok {
				fe.Message = "Public key " + msg
			}
		}
		v.Errors = fe
		if isNew {
			// The destination exists now: go on from its Settings page.
			v.New, v.Dst = false, dst
		}
		return c.renderSetup(w, r, http.StatusUnprocessableEntity, v)
	}
	form, _ := json.Marshal(v.Form)
	kv.Form = string(form)
	for _, k := range []*phi.Key{kv.Key, kv.HMACKey} {
		if k != nil {
			kv.KeyIDs = append(kv.KeyIDs, k.ID)
		}
	}
	kv.Filename = fileName(dst.Name) + "-" + kv.Key.ID + ".pem"
	return c.render(w, r, http.StatusCreated, "key", "Store your private key", kv)
}

// storeKey stores a generated key once its secret is in hand for the response.
func (c *Console) storeKey(ctx context.Context, sec *keygen.Secret) error {
	return c.Keys.Activate(ctx, sec.Key)
}

func (c *Console) hasActive(ctx context.Context, dst *phi.Destination, kind phi.KeyKind) bool {
	keys, err := c.Service.Store.ListKeys(ctx, dst.WorkspaceID, dst.ID)
	return err == nil && slices.ContainsFunc(keys, func(k phi.Key) bool { return k.Kind == kind && k.Status == phi.KeyActive })
}

// fileName makes a destination's name safe as a download's file name.
func fileName(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	s := strings.Trim(b.String(), "-")
	if s == "" {
		return "destination"
	}
	return s
}

type confirmView struct {
	Dst    *phi.Destination
	Form   string
	KeyIDs []string
	Rotate bool
	Errors *formErrors
}

// saveHashing is Save on the key page: refused unless "I have stored the private key" is
// ticked; it makes the new keys the destination's and then saves the hashing settings (and, for
// a new destination, enables it).
func (c *Console) saveHashing(w http.ResponseWriter, r *http.Request) error {
	d, err := c.destination(r)
	if err != nil {
		return err
	}
	a := state(r).actor
	f := r.PostForm
	var form setupForm
	if err := json.Unmarshal([]byte(f.Get("form")), &form); err != nil || form.Flow != d.ID {
		return phi.Errorf(phi.EBADREQUEST, "the Save form is incomplete; open the destination's Settings and try again")
	}
	form.Type = d.Type
	rotate := f.Get("rotate") == "yes"
	keyIDs := slices.DeleteFunc(slices.Clone(f["key"]), func(id string) bool { return !phi.ValidID(phi.PrefixKey, id) })
	cv := confirmView{Dst: d, Form: f.Get("form"), KeyIDs: keyIDs, Rotate: rotate}
	if f.Get("stored") != "yes" {
		cv.Errors = &formErrors{Message: "Tick “I have stored the private key” to save. The private key is not shown again: if you did not store it, generate a new key pair instead.",
			Fields: map[string]string{"stored": "must be ticked before Save"}}
		return c.render(w, r, http.StatusUnprocessableEntity, "confirm", "Confirm you stored the private key", cv)
	}
	if err := c.activateKeys(r, d, keyIDs); err != nil {
		return err
	}
	if !rotate {
		err = c.act(r, stack.RouteUpdateHashing, "destinations/"+d.ID+"/hashing", func(ctx context.Context) error {
			in := form.input(true)
			if form.Flow == d.ID && !d.Enabled && f.Get("new") == "yes" {
				on := true
				in.Enabled = &on
			}
			_, _, err := c.Service.UpdateDestination(ctx, a, d.ID, form.Version, in)
			return err
		})
		if fe, err := formOr(err); err != nil {
			return err
		} else if fe != nil {
			cv.Errors = fe
			return c.render(w, r, http.StatusUnprocessableEntity, "confirm", "Save hashing settings", cv)
		}
	}
	c.clearDraft(r)
	if rotate {
		return c.redirect(w, r, "/destinations/"+d.ID+"/keys?saved=1")
	}
	return c.redirect(w, r, "/destinations/"+d.ID+"?saved=1")
}

// activateKeys makes the keys generated for this Save the destination's active ones. Until
// keys are generated pending, generation has already stored them active: nothing is left to do.
func (c *Console) activateKeys(r *http.Request, d *phi.Destination, keyIDs []string) error {
	return nil
}

// ---- Configure new key pairs ----

type keysView struct {
	Dst         *phi.Destination
	Keys        []phi.Key
	State       string
	StateReason string
	Algorithms  any
	Algorithm   string
	Saved       bool
	Errors      *formErrors
}

func (c *Console) keysPage(w http.ResponseWriter, r *http.Request) error {
	return c.renderKeys(w, r, http.StatusOK, nil, "")
}

func (c *Console) renderKeys(w http.ResponseWriter, r *http.Request, status int, fe *formErrors, alg string) error {
	d, err := c.destination(r)
	if err != nil {
		return err
	}
	a := state(r).actor
	v := keysView{Dst: d, Algorithms: algorithms, Algorithm: alg, Saved: r.URL.Query().Has("saved"), Errors: fe}
	if err := c.act(r, stack.RouteListKeys, "destinations/"+d.ID+"/keys", func(ctx context.Context) error {
		var err error
		v.Keys, err = c.Service.Store.ListKeys(ctx, a.WorkspaceID, d.ID)
		return err
	}); err != nil {
		return err
	}
	ws, err := c.Service.Workspace(r.Context(), a.WorkspaceID)
	if err != nil {
		return err
	}
	v.State, v.StateReason = c.hashingState(r.Context(), r, d, ws)
	return c.render(w, r, status, "keys", d.Name+" · Keys", v)
}

// newKeyPair is "New key pair" on the keys page: the private key page, whose Save makes it the
// active key; the previous one becomes decrypt-only.
func (c *Console) newKeyPair(w http.ResponseWriter, r *http.Request) error {
	d, err := c.destination(r)
	if err != nil {
		return err
	}
	a := state(r).actor
	form := setupForm{Flow: d.ID, Algorithm: r.PostForm.Get("algorithm"), Version: d.Version}
	req, err := form.generateRequest()
	if err != nil {
		return c.renderKeys(w, r, http.StatusUnprocessableEntity, problemsOf(err), form.Algorithm)
	}
	kv := &keyView{Dst: d, Rotate: true}
	var sec *keygen.Secret
	defer func() {
		if sec != nil {
			sec.Clear()
		}
	}()
	err = c.act(r, stack.RouteGenerateKeyPair, "destinations/"+d.ID+"/keys", func(ctx context.Context) error {
		dst, err := c.keyDestination(ctx, r, d.ID, true)
		if err != nil {
			return err
		}
		sec, err = c.Keys.NewKeyPair(ctx, a, dst, keygen.GenerateRequest{Algorithm: req.Algorithm, RSABits: req.RSABits})
		if err != nil {
			return err
		}
		kv.Key, kv.PrivateKey = sec.Key, string(sec.Secret)
		return c.storeKey(ctx, sec)
	})
	if fe, err := formOr(err); err != nil {
		return err
	} else if fe != nil {
		return c.renderKeys(w, r, httpapi.StatusOf(err), fe, form.Algorithm)
	}
	b, _ := json.Marshal(form)
	kv.Form, kv.KeyIDs = string(b), []string{kv.Key.ID}
	kv.Filename = fileName(d.Name) + "-" + kv.Key.ID + ".pem"
	return c.render(w, r, http.StatusCreated, "key", "Store your private key", kv)
}

func (c *Console) revokeKey(w http.ResponseWriter, r *http.Request) error {
	d, err := c.destination(r)
	if err != nil {
		return err
	}
	keyID := r.PathValue("keyId")
	if !phi.ValidID(phi.PrefixKey, keyID) {
		return phi.Errorf(phi.ENOTFOUND, "no such key")
	}
	err = c.act(r, stack.RouteRevokeKey, "destinations/"+d.ID+"/keys/"+keyID+"/revoke", func(ctx context.Context) error {
		dst, err := c.keyDestination(ctx, r, d.ID, false)
		if err != nil {
			return err
		}
		_, err = c.Keys.Revoke(ctx, dst, keyID)
		return err
	})
	if err != nil {
		return err
	}
	return c.redirect(w, r, "/destinations/"+d.ID+"/keys")
}
