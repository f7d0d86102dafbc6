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
	// SigningSecret is a webhook destination's signing secret, when the destination was
	// created by this request: shown this once, beside the keys.
	SigningSecret string
	Form          string // the setup form, JSON, carried to Save
	KeyIDs        []string
	Filename      string
	Errors        *formErrors
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
	in := v.Form.input(true)
	off := false
	in.Enabled = &off
	in.Hashing.Enabled = false
	d, secret, err := c.createDestination(w, r, v, in)
	if d == nil {
		return err
	}
	defer clear(secret)
	v.Dst = d
	v.Form.Flow, v.Form.Version = d.ID, d.Version
	v.signingSecret = string(secret) // shown once, on the key page
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
// and answers with the key page. Generated keys are stored pending, and only once the page that
// carries their secrets is built; Save activates them.
func (c *Console) generateKeys(w http.ResponseWriter, r *http.Request, v *setupView, isNew bool) error {
	a := state(r).actor
	ctx := r.Context()
	dst, err := c.keyDestination(ctx, r, v.Dst.ID, true)
	if err != nil {
		return err
	}
	kv := &keyView{Dst: dst, New: isNew, SigningSecret: v.signingSecret}
	idem := r.PostForm.Get("idem")
	var page []byte
	upload := r.PostForm.Get("action") == "upload"
	if upload {
		req := keygen.ImportRequest{PublicKey: r.PostForm.Get("publicKey")}
		err = c.act(r, stack.RouteImportKey, "destinations/"+dst.ID+"/keys", func(ctx context.Context) error {
			k, err := c.Keys.Import(ctx, a, dst, req)
			kv.Key = k
			return err
		})
		if err == nil {
			page, err = c.withHMACKey(r, dst, v, kv, idem)
		}
	} else {
		var gr keygen.GenerateRequest
		req, gerr := v.Form.generateRequest()
		gr.Algorithm, gr.RSABits, gr.IdempotencyKey = req.Algorithm, req.RSABits, idem
		err = gerr
		if err == nil {
			err = c.act(r, stack.RouteGenerateKeyPair, "destinations/"+dst.ID+"/keys", func(ctx context.Context) error {
				sec, err := c.Keys.NewKeyPair(ctx, a, dst, gr)
				if err != nil {
					return err
				}
				defer sec.Clear()
				kv.Key, kv.PrivateKey = sec.Key, string(sec.Secret)
				page, err = c.withHMACKey(r, dst, v, kv, idem)
				return c.storeWith(ctx, sec, page, err)
			})
		}
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
			v.Form.Flow = dst.ID
		}
		return c.renderSetup(w, r, http.StatusUnprocessableEntity, v)
	}
	write(w, http.StatusCreated, page)
	return nil
}

// withHMACKey generates the HMAC key the form's hmac treatment needs, when the destination has
// no active one, and builds the key page; the HMAC key is stored pending once the page exists.
func (c *Console) withHMACKey(r *http.Request, dst *phi.Destination, v *setupView, kv *keyView, idem string) ([]byte, error) {
	ctx := r.Context()
	if !v.Form.hashing().Uses(phi.TreatmentHMAC) || c.hasActive(ctx, dst, phi.KeyHMAC) {
		return c.keyPage(r, kv, v.Form)
	}
	var page []byte
	err := c.act(r, stack.RouteGenerateHMACKey, "destinations/"+dst.ID+"/hmac-keys", func(ctx context.Context) error {
		sec, err := c.Keys.NewHMACKey(ctx, state(r).actor, dst, keygen.HMACRequest{IdempotencyKey: idem})
		if err != nil {
			return err
		}
		defer sec.Clear()
		kv.HMACKey, kv.HMACSecret = sec.Key, string(sec.Secret)
		page, err = c.keyPage(r, kv, v.Form)
		return c.storeWith(ctx, sec, page, err)
	})
	return page, err
}

// keyPage builds the key page of kv, whose Save carries form and activates kv's pending keys.
func (c *Console) keyPage(r *http.Request, kv *keyView, form setupForm) ([]byte, error) {
	b, _ := json.Marshal(form)
	kv.Form = string(b)
	kv.KeyIDs = nil
	for _, k := range []*phi.Key{kv.Key, kv.HMACKey} {
		if k != nil && k.Status == phi.KeyPending {
			kv.KeyIDs = append(kv.KeyIDs, k.ID)
		}
	}
	kv.Filename = fileName(kv.Dst.Name) + "-" + kv.Key.ID + ".pem"
	return c.page(r, "key", "Store your private key", kv)
}

// storeWith stores sec's key pending once page, the response carrying its secret, was built
// (buildErr nil); otherwise it gives the generation up (keygen.Service.Abandon) and returns
// buildErr.
func (c *Console) storeWith(ctx context.Context, sec *keygen.Secret, page []byte, buildErr error) error {
	if buildErr != nil {
		c.Keys.Abandon(ctx, sec)
		return buildErr
	}
	return c.Keys.StorePending(ctx, sec)
}

// listKeys returns d's keys, newest first, without expired pending ones (keygen.Service.Keys).
func (c *Console) listKeys(ctx context.Context, r *http.Request, d *phi.Destination) ([]phi.Key, error) {
	dst, err := c.keyDestination(ctx, r, d.ID, false)
	if err != nil {
		return nil, err
	}
	keys, _, err := c.Keys.Keys(ctx, dst, phi.Page{Limit: 1000})
	return keys, err
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
			in := keepUnreviewed(form.input(true), d)
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

// activateKeys makes the pending keys generated for this Save the destination's active ones (the
// previous active keys of their kinds become decrypt-only): the owner has confirmed holding their
// secrets.
func (c *Console) activateKeys(r *http.Request, d *phi.Destination, keyIDs []string) error {
	a := state(r).actor
	for _, id := range keyIDs {
		err := c.act(r, stack.RouteActivateKey, "destinations/"+d.ID+"/keys/"+id+"/activate", func(ctx context.Context) error {
			dst, err := c.keyDestination(ctx, r, d.ID, true)
			if err != nil {
				return err
			}
			_, err = c.Keys.ActivatePending(ctx, a, dst, id)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// ---- Configure new key pairs ----

type keysView struct {
	Dst         *phi.Destination
	Idem        string // the new key pair form's Idempotency-Key
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
	v.Idem = phi.NewID("gen_")
	if err := c.act(r, stack.RouteListKeys, "destinations/"+d.ID+"/keys", func(ctx context.Context) error {
		var err error
		v.Keys, err = c.listKeys(ctx, r, d)
		return err
	}); err != nil {
		return err
	}
	ws, err := c.Service.Workspace(r.Context(), a.WorkspaceID)
	if err != nil {
		return err
	}
	v.State, v.StateReason = c.hashingState(r.Context(), d, ws)
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
	var page []byte
	err = c.act(r, stack.RouteGenerateKeyPair, "destinations/"+d.ID+"/keys", func(ctx context.Context) error {
		dst, err := c.keyDestination(ctx, r, d.ID, true)
		if err != nil {
			return err
		}
		sec, err := c.Keys.NewKeyPair(ctx, a, dst, keygen.GenerateRequest{Algorithm: req.Algorithm, RSABits: req.RSABits, IdempotencyKey: r.PostForm.Get("idem")})
		if err != nil {
			return err
		}
		defer sec.Clear()
		kv.Key, kv.PrivateKey = sec.Key, string(sec.Secret)
		page, err = c.keyPage(r, kv, form)
		return c.storeWith(ctx, sec, page, err)
	})
	if fe, err := formOr(err); err != nil {
		return err
	} else if fe != nil {
		return c.renderKeys(w, r, httpapi.StatusOf(err), fe, form.Algorithm)
	}
	write(w, http.StatusCreated, page)
	return nil
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
		_, _, err = c.Keys.Revoke(ctx, dst, keyID)
		return err
	})
	if err != nil {
		return err
	}
	return c.redirect(w, r, "/destinations/"+d.ID+"/keys")
}
