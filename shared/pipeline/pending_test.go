package pipeline_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/phiguard/phiguard/shared/fieldcrypt"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/pipeline"
)

// pendingKeys stores a pending encryption key (its private key added to d's ring) and a pending
// HMAC key for d, as key generation leaves them before the owner activates them.
func (e *env) pendingKeys(d *dest) (enc, hmac *phi.Key, hmacData []byte) {
	e.t.Helper()
	exp := time.Now().Add(time.Hour)
	priv, err := fieldcrypt.GenerateKeyPair(fieldcrypt.HPKEP256, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	enc = &phi.Key{ID: phi.NewID(phi.PrefixKey), WorkspaceID: e.ws.ID, DestinationID: d.d.ID, Kind: phi.KeyEncryption,
		Algorithm: string(fieldcrypt.HPKEP256), Origin: phi.OriginKMS, PublicKeyPEM: string(priv.Public().PEM()),
		Fingerprint: priv.Public().Fingerprint(), CreatedBy: "tok_test", ExpiresAt: &exp}
	if err := e.store.PutPendingKey(e.ctx, enc); err != nil {
		e.t.Fatal(err)
	}
	if err := d.ring.Add(enc.ID, priv); err != nil {
		e.t.Fatal(err)
	}
	hmac = &phi.Key{ID: phi.NewID(phi.PrefixKey), WorkspaceID: e.ws.ID, DestinationID: d.d.ID, Kind: phi.KeyHMAC,
		Algorithm: "hmac-sha256", Origin: phi.OriginKMS, CreatedBy: "tok_test", ExpiresAt: &exp}
	dk, err := e.clients.KMS.GenerateDataKey(e.ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(e.kmsKey),
		KeySpec: kmstypes.DataKeySpecAes256, EncryptionContext: hmac.HMACEncryptionContext()})
	if err != nil {
		e.t.Fatal(err)
	}
	hmac.EncryptedHMACKey = dk.CiphertextBlob
	if err := e.store.PutPendingKey(e.ctx, hmac); err != nil {
		e.t.Fatal(err)
	}
	return enc, hmac, dk.Plaintext
}

// activate activates the keys as the owner's Save does, and lets the pipeline's cache expire.
func (e *env) activate(d *dest, keys ...*phi.Key) {
	e.t.Helper()
	for _, k := range keys {
		if _, err := e.store.ActivateKey(e.ctx, e.ws.ID, d.d.ID, k.ID, time.Now()); err != nil {
			e.t.Fatal(err)
		}
	}
	e.now = e.now.Add(pipeline.DefaultCacheTTL + time.Second)
}

// kid returns the key id a copy's traits.email token names, or "" when it is not a token.
func kid(c copyDoc) string {
	v, _ := c.at("traits", "email")
	s, _ := v.(string)
	info, err := fieldcrypt.Inspect(s)
	if err != nil {
		return ""
	}
	return info.KeyID
}

// A generated key is pending until its owner confirms they hold its secret; the pipeline must
// never encrypt under it before then, or data could be protected under a key nobody holds.
func TestAPendingKeyIsNeverUsedUntilItIsActivated(t *testing.T) {
	t.Run("with only pending keys, encrypt and hmac fields are removed as key-unavailable until activation", func(t *testing.T) {
		e := newEnv(t)
		d := e.destination(destOpts{enabled: true, hashing: full})
		enc, hmac, hmacData := e.pendingKeys(d)
		h := e.handler(nil)
		if resp, err := h.Handle(e.ctx, e.sqsEvent(e.msg(identify("m-1")))); err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("resp %v err %v", resp, err)
		}
		c := e.copies(d)["m-1"]
		for _, v := range []string{email, name, ssn, ip} {
			if strings.Contains(c.raw, v) {
				t.Errorf("copy contains %q in clear", v)
			}
		}
		_, dropped := c.manifest()
		if want := []string{"traits.email key-unavailable", "traits.name key-unavailable", "traits.ssn blocked"}; !reflect.DeepEqual(dropped, want) {
			t.Fatalf("while the keys are pending, dropped = %v, want %v", dropped, want)
		}

		e.activate(d, enc, hmac)
		if resp, err := h.Handle(e.ctx, e.sqsEvent(e.msg(identify("m-2")))); err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("resp %v err %v", resp, err)
		}
		c = e.copies(d)["m-2"]
		if v, _ := c.at("traits", "email"); open(t, d, v) != email || kid(c) != enc.ID {
			t.Errorf("after activation traits.email is not a token under %s", enc.ID)
		}
		if v, _ := c.at("traits", "name"); v != hmacHex(t, hmacData, name) {
			t.Errorf("after activation traits.name = %v, want the HMAC under the activated key", v)
		}
		if _, dropped := c.manifest(); !reflect.DeepEqual(dropped, []string{"traits.ssn blocked"}) {
			t.Errorf("after activation dropped = %v", dropped)
		}
	})
	t.Run("while a new key is pending, events stay encrypted under the active key", func(t *testing.T) {
		e := newEnv(t)
		d := e.destination(destOpts{enabled: true, hashing: full, alg: fieldcrypt.HPKEP256, withHMAC: true})
		enc, hmac, newHMAC := e.pendingKeys(d)
		h := e.handler(nil)
		if resp, err := h.Handle(e.ctx, e.sqsEvent(e.msg(identify("m-1")))); err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("resp %v err %v", resp, err)
		}
		c := e.copies(d)["m-1"]
		if got := kid(c); got != d.encKey.ID {
			t.Fatalf("with key %s pending, traits.email names key %q, want the active %s", enc.ID, got, d.encKey.ID)
		}
		if v, _ := c.at("traits", "name"); v != hmacHex(t, d.hmacData, name) {
			t.Errorf("with an HMAC key pending, traits.name is not under the active HMAC key")
		}

		e.activate(d, enc, hmac)
		if resp, err := h.Handle(e.ctx, e.sqsEvent(e.msg(identify("m-2")))); err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("resp %v err %v", resp, err)
		}
		c = e.copies(d)["m-2"]
		if got := kid(c); got != enc.ID {
			t.Fatalf("after activation traits.email names key %q, want %s", got, enc.ID)
		}
		if v, _ := c.at("traits", "name"); v != hmacHex(t, newHMAC, name) {
			t.Errorf("after activation traits.name is not under the activated HMAC key")
		}
	})
}
