package keygen_test

import (
	"bytes"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/phiguard/phiguard/shared/fieldcrypt"
	"github.com/phiguard/phiguard/shared/httpapi"
	"github.com/phiguard/phiguard/shared/keygen"
	"github.com/phiguard/phiguard/shared/phi"
)

// algCase is one algorithm and key size the service generates.
type algCase struct {
	name, body string
	alg        fieldcrypt.Algorithm
	bits       int
}

var algCases = []algCase{
	{"hpke-p256 by default", ``, fieldcrypt.HPKEP256, 0},
	{"hpke-p256", `{"algorithm":"hpke-p256"}`, fieldcrypt.HPKEP256, 0},
	{"hpke-xwing", `{"algorithm":"hpke-xwing"}`, fieldcrypt.HPKEXWing, 0},
	{"rsa-oaep-sha256 at the default 3072 bits", `{"algorithm":"rsa-oaep-sha256"}`, fieldcrypt.RSAOAEPSHA256, 3072},
	{"rsa-oaep-sha256 2048", `{"algorithm":"rsa-oaep-sha256","rsaBits":2048}`, fieldcrypt.RSAOAEPSHA256, 2048},
	{"rsa-oaep-sha256 4096", `{"algorithm":"rsa-oaep-sha256","rsaBits":4096}`, fieldcrypt.RSAOAEPSHA256, 4096},
}

// keyPair parses a generated key's public and private halves and checks they belong together.
func keyPair(t *testing.T, g httpapi.GeneratedKey) (*fieldcrypt.PublicKey, *fieldcrypt.PrivateKey) {
	t.Helper()
	pub, err := fieldcrypt.ParsePublicKey([]byte(g.PublicKeyPEM))
	if err != nil {
		t.Fatalf("stored public key: %v", err)
	}
	priv, err := fieldcrypt.ParsePrivateKey([]byte(g.PrivateKey))
	if err != nil {
		t.Fatalf("returned private key: %v", err)
	}
	if !priv.Public().Equal(pub) {
		t.Fatal("the returned private key does not match the stored public key")
	}
	return pub, priv
}

func seal(t *testing.T, pub *fieldcrypt.PublicKey, keyID, value string) string {
	t.Helper()
	enc, err := fieldcrypt.NewEncrypter(pub, keyID)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := enc.Seal(nil, []byte(value))
	if err != nil {
		t.Fatal(err)
	}
	return string(tok)
}

func TestGeneratedKeysRoundTripThroughKMS(t *testing.T) {
	e := newEnv(t)
	ws := e.newWorkspace(t, phi.TierBusiness, true)
	for _, c := range algCases {
		t.Run(c.name, func(t *testing.T) {
			res := e.must(t, http.StatusCreated, "POST", keysPath(ws), ws.Owner, c.body)
			if res.Header.Get("Cache-Control") != "no-store" || res.Header.Get("Pragma") != "no-cache" {
				t.Fatalf("headers = %v, want Cache-Control: no-store and Pragma: no-cache", res.Header)
			}
			var g httpapi.GeneratedKey
			res.json(t, &g)
			pub, priv := keyPair(t, g)
			if g.Algorithm != string(c.alg) || pub.Algorithm() != c.alg || pub.Bits() != c.bits {
				t.Fatalf("got %s (%s, %d bits), want %s with %d bits", g.Algorithm, pub.Algorithm(), pub.Bits(), c.alg, c.bits)
			}
			// A generated key is pending until its owner activates it, for PendingKeyTTL.
			if !phi.ValidID(phi.PrefixKey, g.ID) || g.Status != phi.KeyPending || g.Origin != phi.OriginKMS ||
				g.Kind != phi.KeyEncryption || g.CreatedBy != ws.OwnerID || g.CreatedAt.IsZero() || g.Fingerprint != pub.Fingerprint() ||
				g.ExpiresAt == nil || !g.ExpiresAt.Equal(g.CreatedAt.Add(keygen.PendingKeyTTL).Truncate(time.Second)) {
				t.Fatalf("metadata = %+v", g.Key)
			}
			if !strings.HasPrefix(g.PrivateKey, "-----BEGIN PRIVATE KEY-----\n") {
				t.Fatalf("private key is not PKCS#8 PEM")
			}
			for _, v := range []string{"alice@example.com", "José Müller 🙂", ""} {
				tok := seal(t, pub, g.ID, v)
				var ring fieldcrypt.Keyring
				if err := ring.Add(g.ID, priv); err != nil {
					t.Fatal(err)
				}
				got, err := ring.Open(tok)
				if err != nil || string(got) != v {
					t.Fatalf("open = %q, %v; want %q", got, err, v)
				}
			}
			stored, err := e.store.GetKey(e.ctx, ws.ID, ws.Destination, g.ID)
			if err != nil || stored.PublicKeyPEM != g.PublicKeyPEM || stored.Fingerprint != g.Fingerprint ||
				stored.Status != phi.KeyPending || !stored.ExpiresAt.Equal(*g.ExpiresAt) {
				t.Fatalf("stored key = %+v, %v", stored, err)
			}
		})
	}

	t.Run("the private keys are the ones KMS generated, and the service overwrote KMS's copies", func(t *testing.T) {
		e.rec.mu.Lock()
		defer e.rec.mu.Unlock()
		if len(e.rec.pairs) != 5 || len(e.rec.randoms) != 1 {
			t.Fatalf("KMS calls: %d GenerateDataKeyPair, %d GenerateRandom; want 5 and 1", len(e.rec.pairs), len(e.rec.randoms))
		}
		for i, out := range e.rec.pairs {
			if len(out.PrivateKeyPlaintext) != 0 || len(out.PrivateKeyCiphertextBlob) != 0 {
				t.Errorf("GenerateDataKeyPair output %d still references the private key", i)
			}
		}
		e.rec.mu.Unlock()
		if !e.rec.overwritten() {
			t.Error("a buffer KMS returned (private key, its ciphertext or the X-Wing seed) was not overwritten")
		}
		e.rec.mu.Lock()
	})
}

func TestGeneratedPrivateKeysAreKMSsOwn(t *testing.T) {
	e := newEnv(t)
	ws := e.newWorkspace(t, phi.TierBusiness, true)
	g := e.generate(t, ws, `{"algorithm":"rsa-oaep-sha256","rsaBits":2048}`)
	x := e.generate(t, ws, `{"algorithm":"hpke-xwing"}`)
	e.rec.mu.Lock()
	kmsDER, seed := e.rec.secrets[0], e.rec.secrets[2]
	e.rec.mu.Unlock()

	block, _ := pem.Decode([]byte(g.PrivateKey))
	if block == nil || !bytes.Equal(block.Bytes, kmsDER) {
		t.Fatal("the RSA private key returned is not KMS's PrivateKeyPlaintext")
	}
	if pem.EncodeToMemory(block) == nil || string(pem.EncodeToMemory(block)) != g.PrivateKey {
		t.Fatal("the PEM is not exactly what encoding/pem writes")
	}
	fromSeed, err := fieldcrypt.XWingKeyFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	if _, priv := keyPair(t, x); !priv.Public().Equal(fromSeed.Public()) {
		t.Fatal("the X-Wing key is not derived from KMS GenerateRandom's 32 bytes")
	}
}

// TestOpenSSLDecryptsTokensOfAKMSGeneratedKey decrypts with the documented openssl command, using
// the private key exactly as the API returned it.
func TestOpenSSLDecryptsTokensOfAKMSGeneratedKey(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatalf("openssl CLI not found (install OpenSSL 3): %v", err)
	}
	e := newEnv(t)
	ws := e.newWorkspace(t, phi.TierBusiness, true)
	g := e.generate(t, ws, `{"algorithm":"rsa-oaep-sha256","rsaBits":2048}`)
	pub, _ := keyPair(t, g)
	keyFile := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(keyFile, []byte(g.PrivateKey), 0o600); err != nil {
		t.Fatal(err)
	}
	ct, err := base64.StdEncoding.DecodeString(seal(t, pub, g.ID, "alice@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(openssl, "pkeyutl", "-decrypt", "-inkey", keyFile,
		"-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256")
	cmd.Stdin = bytes.NewReader(ct)
	out, err := cmd.Output()
	if err != nil || string(out) != "alice@example.com" {
		t.Fatalf("openssl pkeyutl = %q, %v", out, err)
	}
}

func TestRotationKeepsOldDataDecryptableWithItsOwnKeyOnly(t *testing.T) {
	for _, body := range []string{`{"algorithm":"hpke-p256"}`, `{"algorithm":"hpke-xwing"}`, `{"algorithm":"rsa-oaep-sha256","rsaBits":2048}`} {
		t.Run(body, func(t *testing.T) {
			e := newEnv(t)
			ws := e.newWorkspace(t, phi.TierBusiness, true)
			g1 := e.generateActive(t, ws, body)
			pub1, priv1 := keyPair(t, g1)
			t1 := seal(t, pub1, g1.ID, "before rotation")

			g2 := e.generate(t, ws, body) // rotation = generating again, then activating
			pub2, priv2 := keyPair(t, g2)
			if st := e.statuses(t, ws); st[g1.ID] != phi.KeyActive || st[g2.ID] != phi.KeyPending {
				t.Fatalf("before the new key is activated, statuses = %v; want the old one still active", st)
			}
			e.activate(t, ws, g2.ID)
			t2 := seal(t, pub2, g2.ID, "after rotation")

			keys := e.listKeys(t, ws)
			if len(keys) != 2 || keys[0].ID != g2.ID || keys[0].Status != phi.KeyActive || keys[1].ID != g1.ID || keys[1].Status != phi.KeyDecryptOnly {
				t.Fatalf("keys after rotation = %+v", keys)
			}

			open := func(priv *fieldcrypt.PrivateKey, id, tok string) (string, error) {
				var ring fieldcrypt.Keyring
				if err := ring.Add(id, priv); err != nil {
					t.Fatal(err)
				}
				b, err := ring.Open(tok)
				return string(b), err
			}
			if v, err := open(priv1, g1.ID, t1); err != nil || v != "before rotation" {
				t.Fatalf("key 1 on its own data: %q, %v", v, err)
			}
			if v, err := open(priv2, g2.ID, t2); err != nil || v != "after rotation" {
				t.Fatalf("key 2 on its own data: %q, %v", v, err)
			}
			// Each private key, even when presented under the other key's id, fails on the other's data.
			for _, c := range []struct {
				priv *fieldcrypt.PrivateKey
				id   string
				tok  string
			}{{priv1, g1.ID, t2}, {priv2, g2.ID, t1}, {priv1, g2.ID, t2}, {priv2, g1.ID, t1}} {
				v, err := open(c.priv, c.id, c.tok)
				if err == nil {
					t.Fatalf("a token opened with the other rotation's key: %q", v)
				}
				if !errors.Is(err, fieldcrypt.ErrDecrypt) && !errors.Is(err, fieldcrypt.ErrUnknownKey) {
					t.Fatalf("err = %v, want ErrDecrypt or ErrUnknownKey", err)
				}
			}
			// A token of a key the holder does not have is reported as unknown, not as tampering.
			if g1.Algorithm != string(fieldcrypt.RSAOAEPSHA256) {
				if _, err := open(priv1, g1.ID, t2); !errors.Is(err, fieldcrypt.ErrUnknownKey) {
					t.Fatalf("key 2's token with only key 1 held: %v, want ErrUnknownKey", err)
				}
			}
		})
	}
}

func TestRevokedKeysStayListedAndAreNeverActiveAgain(t *testing.T) {
	e := newEnv(t)
	ws := e.newWorkspace(t, phi.TierBusiness, true)
	other := e.newWorkspace(t, phi.TierBusiness, true)
	g := e.generateActive(t, ws, "")
	revoke := keysPath(ws) + "/" + g.ID + "/revoke"

	t.Run("revoking the active key marks it revoked with a time", func(t *testing.T) {
		var k phi.Key
		e.must(t, http.StatusOK, "POST", revoke, ws.Owner, "").json(t, &k)
		if k.ID != g.ID || k.Status != phi.KeyRevoked || k.RevokedAt == nil {
			t.Fatalf("revoked key = %+v", k)
		}
		keys := e.listKeys(t, ws)
		if len(keys) != 1 || keys[0].Status != phi.KeyRevoked {
			t.Fatalf("keys = %+v", keys)
		}
	})
	t.Run("revoking again succeeds and keeps the first time", func(t *testing.T) {
		first, _ := e.store.GetKey(e.ctx, ws.ID, ws.Destination, g.ID)
		var k phi.Key
		e.must(t, http.StatusOK, "POST", revoke, ws.Owner, "").json(t, &k)
		if !k.RevokedAt.Equal(*first.RevokedAt) {
			t.Fatalf("revokedAt moved from %v to %v", first.RevokedAt, k.RevokedAt)
		}
	})
	t.Run("the revoked public key cannot be imported back", func(t *testing.T) {
		body := `{"publicKey":` + jsonString(g.PublicKeyPEM) + `}`
		res := e.must(t, http.StatusConflict, "POST", keysPath(ws)+"/import", ws.Owner, body)
		if !strings.Contains(string(res.Body), g.ID) {
			t.Fatalf("body = %s", res.Body)
		}
	})
	t.Run("the revoked key cannot be activated again", func(t *testing.T) {
		res := e.must(t, http.StatusConflict, "POST", keysPath(ws)+"/"+g.ID+"/activate", ws.Owner, "")
		if !strings.Contains(string(res.Body), "revoked") {
			t.Fatalf("body = %s", res.Body)
		}
	})
	t.Run("a new key becomes active and the revoked one stays revoked", func(t *testing.T) {
		g2 := e.generateActive(t, ws, "")
		keys := e.listKeys(t, ws)
		if len(keys) != 2 || keys[0].ID != g2.ID || keys[0].Status != phi.KeyActive || keys[1].Status != phi.KeyRevoked {
			t.Fatalf("keys = %+v", keys)
		}
	})
	t.Run("an unknown key id is not found", func(t *testing.T) {
		e.must(t, http.StatusNotFound, "POST", keysPath(ws)+"/"+phi.NewID(phi.PrefixKey)+"/revoke", ws.Owner, "")
	})
	t.Run("a malformed key id is a bad request", func(t *testing.T) {
		e.must(t, http.StatusBadRequest, "POST", keysPath(ws)+"/key_nope/revoke", ws.Owner, "")
	})
	t.Run("a key of another destination is not found", func(t *testing.T) {
		og := e.generateActive(t, other, "")
		e.must(t, http.StatusNotFound, "POST", keysPath(ws)+"/"+og.ID+"/revoke", ws.Owner, "")
		if k, _ := e.store.GetKey(e.ctx, other.ID, other.Destination, og.ID); k.Status != phi.KeyActive {
			t.Fatalf("the other workspace's key was touched: %+v", k)
		}
	})
}

func TestListShowsMetadataAndPublicKeysOnlyPageByPage(t *testing.T) {
	e := newEnv(t)
	ws := e.newWorkspace(t, phi.TierBusiness, true)
	var ids []string
	for range 3 {
		ids = append([]string{e.generate(t, ws, "").ID}, ids...)
	}
	e.must(t, http.StatusCreated, "POST", hmacPath(ws), ws.Owner, "")
	var got []string
	cursor := ""
	for page := 0; ; page++ {
		path := keysPath(ws) + "?limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		res := e.must(t, http.StatusOK, "GET", path, ws.Owner, "")
		for _, banned := range []string{"privateKey", "PRIVATE KEY", "secret", "encryptedHmacKey", "EncryptedHMACKey"} {
			if bytes.Contains(res.Body, []byte(banned)) {
				t.Fatalf("list response contains %q: %s", banned, res.Body)
			}
		}
		var l struct {
			Items      []phi.Key `json:"items"`
			NextCursor string    `json:"nextCursor"`
		}
		res.json(t, &l)
		for _, k := range l.Items {
			if k.Kind == phi.KeyEncryption && (k.PublicKeyPEM == "" || k.Fingerprint == "") {
				t.Fatalf("encryption key without its public key: %+v", k)
			}
			got = append(got, k.ID)
		}
		if cursor = l.NextCursor; cursor == "" {
			break
		}
		if page > 3 {
			t.Fatal("paging does not end")
		}
	}
	if len(got) != 4 || got[1] != ids[0] || got[3] != ids[2] {
		t.Fatalf("listed %v, want the HMAC key then %v", got, ids)
	}
	e.must(t, http.StatusBadRequest, "GET", keysPath(ws)+"?cursor=bm90LWEta2V5", ws.Owner, "")
	e.must(t, http.StatusBadRequest, "GET", keysPath(ws)+"?limit=0", ws.Owner, "")
}

func TestHMACKeysAreStoredOnlyAsKMSCiphertext(t *testing.T) {
	e := newEnv(t)
	ws := e.newWorkspace(t, phi.TierBusiness, true)
	res := e.must(t, http.StatusCreated, "POST", hmacPath(ws), ws.Owner, "")
	if res.Header.Get("Cache-Control") != "no-store" || res.Header.Get("Pragma") != "no-cache" {
		t.Fatalf("headers = %v", res.Header)
	}
	var g httpapi.GeneratedHMACKey
	res.json(t, &g)
	secret, err := base64.StdEncoding.DecodeString(g.Secret)
	if err != nil || len(secret) != 32 {
		t.Fatalf("secret is %d bytes (%v), want 32 bytes of base64", len(secret), err)
	}
	if g.Kind != phi.KeyHMAC || g.Algorithm != keygen.HMACAlgorithm || g.Status != phi.KeyPending || g.ExpiresAt == nil || g.PublicKeyPEM != "" {
		t.Fatalf("metadata = %+v", g.Key)
	}
	stored, err := e.store.GetKey(e.ctx, ws.ID, ws.Destination, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored.EncryptedHMACKey) == 0 || bytes.Contains(stored.EncryptedHMACKey, secret) {
		t.Fatal("the stored HMAC key is not a KMS ciphertext")
	}
	// The pipeline decrypts the stored blob under the key's encryption context; without it, or
	// under another key's context, KMS refuses.
	dec, err := e.kms.Decrypt(e.ctx, &kms.DecryptInput{CiphertextBlob: stored.EncryptedHMACKey, EncryptionContext: stored.HMACEncryptionContext()})
	if err != nil || !bytes.Equal(dec.Plaintext, secret) {
		t.Fatalf("KMS Decrypt of the stored blob: %v", err)
	}
	if _, err := e.kms.Decrypt(e.ctx, &kms.DecryptInput{CiphertextBlob: stored.EncryptedHMACKey}); err == nil {
		t.Fatal("the HMAC key blob decrypts without its encryption context")
	}
	other := *stored
	other.DestinationID = "dst_00000000000000000000000009"
	if _, err := e.kms.Decrypt(e.ctx, &kms.DecryptInput{CiphertextBlob: stored.EncryptedHMACKey, EncryptionContext: other.HMACEncryptionContext()}); err == nil {
		t.Fatal("the HMAC key blob decrypts under another destination's context")
	}
	if !e.rec.overwritten() {
		t.Error("GenerateDataKey's plaintext was not overwritten")
	}

	t.Run("a second HMAC key rotates the first once activated, and encryption keys are a separate kind", func(t *testing.T) {
		e.activate(t, ws, g.ID)
		enc := e.generateActive(t, ws, "")
		res := e.must(t, http.StatusCreated, "POST", hmacPath(ws), ws.Owner, `{"algorithm":"hmac-sha256"}`)
		var g2 httpapi.GeneratedHMACKey
		res.json(t, &g2)
		if st := e.statuses(t, ws); st[g.ID] != phi.KeyActive || st[g2.ID] != phi.KeyPending {
			t.Fatalf("before activation, statuses = %v", st)
		}
		e.activate(t, ws, g2.ID)
		status := map[string]phi.KeyStatus{}
		for _, k := range e.listKeys(t, ws) {
			status[k.ID] = k.Status
		}
		if status[g.ID] != phi.KeyDecryptOnly || status[g2.ID] != phi.KeyActive || status[enc.ID] != phi.KeyActive {
			t.Fatalf("statuses = %v", status)
		}
	})
	t.Run("an algorithm other than hmac-sha256 is refused", func(t *testing.T) {
		e.must(t, http.StatusUnprocessableEntity, "POST", hmacPath(ws), ws.Owner, `{"algorithm":"hmac-md5"}`)
	})
}

func TestGenerateRefusesBadRequests(t *testing.T) {
	e := newEnv(t)
	ws := e.newWorkspace(t, phi.TierBusiness, true)
	for _, c := range []struct {
		name, body string
		want       int
		says       string
	}{
		{"an unknown algorithm", `{"algorithm":"rsa-pkcs1"}`, 422, "algorithm"},
		{"rsaBits for an HPKE algorithm", `{"algorithm":"hpke-p256","rsaBits":2048}`, 422, "rsaBits"},
		{"an RSA size that is not offered", `{"algorithm":"rsa-oaep-sha256","rsaBits":1024}`, 422, "2048, 3072 or 4096"},
		{"an unknown member", `{"algorithm":"hpke-p256","curve":"P-384"}`, 400, "curve"},
		{"a body that is not JSON", `algorithm=hpke-p256`, 400, "not valid JSON"},
		{"a wrongly typed member", `{"rsaBits":"4096"}`, 400, "rsaBits"},
		{"a null algorithm, which is not the default", `{"algorithm":null}`, 400, "must not be null"},
		{"a null RSA size, which is not the default", `{"algorithm":"rsa-oaep-sha256","rsaBits":null}`, 400, "must not be null"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := e.must(t, c.want, "POST", keysPath(ws), ws.Owner, c.body)
			if !strings.Contains(string(res.Body), c.says) {
				t.Fatalf("body %s does not say %q", res.Body, c.says)
			}
		})
	}
	if keys := e.listKeys(t, ws); len(keys) != 0 {
		t.Fatalf("a refused request stored keys: %+v", keys)
	}
	e.rec.mu.Lock()
	defer e.rec.mu.Unlock()
	if len(e.rec.pairs)+len(e.rec.randoms) != 0 {
		t.Fatal("a refused request called KMS")
	}
}

func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '\n':
			b.WriteString(`\n`)
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
