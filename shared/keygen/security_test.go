package keygen_test

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/phiguard/phiguard/shared/fieldcrypt"
	"github.com/phiguard/phiguard/shared/httpapi"
	"github.com/phiguard/phiguard/shared/phi"
)

// forms returns the encodings under which a secret could leak: raw, base64 (padded and not,
// standard and URL), hex.
func forms(secret []byte) [][]byte {
	if len(secret) == 0 {
		return nil
	}
	out := [][]byte{bytes.Clone(secret)}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		out = append(out, []byte(enc.EncodeToString(secret)))
	}
	return append(out, []byte(hex.EncodeToString(secret)), []byte(strings.ToUpper(hex.EncodeToString(secret))))
}

// fragments returns forms of every piece of a secret long enough to matter: raw and hex windows
// of 16 bytes every 8, and base64 (standard and URL) windows of 20 characters every 12 at each of
// the three byte alignments. Any leak of 28 or more consecutive secret bytes, in any of these
// encodings and at any offset, contains one of them. Only for secrets without public parts.
func fragments(secret []byte) [][]byte {
	out := forms(secret)
	for i := 0; i+16 <= len(secret); i += 8 {
		w := secret[i : i+16]
		out = append(out, bytes.Clone(w), []byte(hex.EncodeToString(w)), []byte(strings.ToUpper(hex.EncodeToString(w))))
	}
	for shift := range 3 {
		if shift >= len(secret) {
			break
		}
		for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
			full := (len(secret) - shift) / 3 * 3
			b := enc.EncodeToString(secret[shift : shift+full])
			for i := 0; i+20 <= len(b); i += 12 {
				out = append(out, []byte(b[i:i+20]))
			}
		}
	}
	return out
}

// pemForms returns a PEM text as written, JSON-escaped, and its base64 body on one line.
func pemForms(p string) [][]byte {
	block, _ := pem.Decode([]byte(p))
	out := [][]byte{[]byte(p), []byte(strings.ReplaceAll(p, "\n", `\n`))}
	if block != nil {
		out = append(out, forms(block.Bytes)...)
		body := strings.Join(strings.Split(strings.TrimSpace(p), "\n")[1:], "")
		out = append(out, []byte(strings.TrimSuffix(body, "-----END PRIVATE KEY-----")))
	}
	return out
}

// secretCore returns the secret scalar, exponent and primes, or seed of a PKCS#8 private key.
func secretCore(t *testing.T, der []byte) [][]byte {
	t.Helper()
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		switch k := k.(type) {
		case *rsa.PrivateKey:
			k.Precompute()
			return [][]byte{k.D.Bytes(), k.Primes[0].Bytes(), k.Primes[1].Bytes(), k.Precomputed.Dp.Bytes(), k.Precomputed.Dq.Bytes(), k.Precomputed.Qinv.Bytes()}
		case *ecdsa.PrivateKey:
			b, err := k.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			return [][]byte{b}
		case *ecdh.PrivateKey:
			return [][]byte{k.Bytes()}
		}
	}
	return [][]byte{der[len(der)-fieldcrypt.XWingSeedLen:]} // X-Wing: the seed ends the PKCS#8
}

// scanTable returns every attribute value of every item of the table, as bytes.
func (e *env) scanTable(t *testing.T) [][]byte {
	t.Helper()
	var vals [][]byte
	var walk func(types.AttributeValue)
	walk = func(av types.AttributeValue) {
		switch v := av.(type) {
		case *types.AttributeValueMemberS:
			vals = append(vals, []byte(v.Value))
		case *types.AttributeValueMemberB:
			vals = append(vals, v.Value)
		case *types.AttributeValueMemberN:
			vals = append(vals, []byte(v.Value))
		case *types.AttributeValueMemberSS:
			for _, s := range v.Value {
				vals = append(vals, []byte(s))
			}
		case *types.AttributeValueMemberBS:
			vals = append(vals, v.Value...)
		case *types.AttributeValueMemberL:
			for _, x := range v.Value {
				walk(x)
			}
		case *types.AttributeValueMemberM:
			for k, x := range v.Value {
				vals = append(vals, []byte(k))
				walk(x)
			}
		}
	}
	p := dynamodb.NewScanPaginator(e.ddb, &dynamodb.ScanInput{TableName: aws.String(e.table)})
	items := 0
	for p.HasMorePages() {
		page, err := p.NextPage(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			items++
			for k, av := range it {
				vals = append(vals, []byte(k))
				walk(av)
			}
		}
	}
	if items == 0 {
		t.Fatal("the table scan found no items")
	}
	return vals
}

func TestPrivateKeysAreNeverStoredLoggedOrReturnedAgain(t *testing.T) {
	e := newEnv(t)
	ws := e.newWorkspace(t, phi.TierBusiness, true)

	// Generate one key of each kind and remember which response carried which secret.
	type issued struct {
		body    int      // index in e.bodies of the response that returned it
		needles [][]byte // every form of the secret
	}
	var secrets []issued
	for _, body := range []string{`{"algorithm":"hpke-p256"}`, `{"algorithm":"hpke-xwing"}`, `{"algorithm":"rsa-oaep-sha256","rsaBits":2048}`, `{"algorithm":"hpke-p256"}`} {
		g := e.generate(t, ws, body)
		block, _ := pem.Decode([]byte(g.PrivateKey))
		if block == nil {
			t.Fatal("no PEM private key in the response")
		}
		needles := pemForms(g.PrivateKey)
		for _, c := range secretCore(t, block.Bytes) {
			needles = append(needles, fragments(c)...)
		}
		secrets = append(secrets, issued{len(e.bodies) - 1, needles})
	}
	var h httpapi.GeneratedHMACKey
	e.must(t, http.StatusCreated, "POST", hmacPath(ws), ws.Owner, "").json(t, &h)
	hk, _ := base64.StdEncoding.DecodeString(h.Secret)
	secrets = append(secrets, issued{len(e.bodies) - 1, fragments(hk)})

	// What KMS handed out: every plaintext is one of the secrets above; the ciphertext blobs of
	// private keys must appear nowhere at all, not even in the response that returned the key.
	e.rec.mu.Lock()
	var blobs [][]byte
	for _, b := range e.rec.blobs {
		blobs = append(blobs, forms(b)...)
	}
	e.rec.mu.Unlock()
	if len(blobs) == 0 {
		t.Fatal("no KMS ciphertext blob was recorded")
	}

	// Generations with an Idempotency-Key, whose retries are refused without the secret.
	var ig httpapi.GeneratedKey
	e.must(t, http.StatusCreated, "POST", keysPath(ws), ws.Owner, `{"algorithm":"hpke-p256"}`, "Idempotency-Key", "leak-test-1").json(t, &ig)
	secrets = append(secrets, issued{len(e.bodies) - 1, pemForms(ig.PrivateKey)})
	var ih httpapi.GeneratedHMACKey
	e.must(t, http.StatusCreated, "POST", hmacPath(ws), ws.Owner, "", "Idempotency-Key", "leak-test-1").json(t, &ih)
	ihk, _ := base64.StdEncoding.DecodeString(ih.Secret)
	secrets = append(secrets, issued{len(e.bodies) - 1, fragments(ihk)})
	var replays []response
	replay := func() {
		replays = append(replays,
			e.must(t, http.StatusConflict, "POST", keysPath(ws), ws.Owner, `{"algorithm":"hpke-p256"}`, "Idempotency-Key", "leak-test-1"),
			e.must(t, http.StatusConflict, "POST", hmacPath(ws), ws.Owner, "", "Idempotency-Key", "leak-test-1"))
	}
	replay()
	e.activate(t, ws, ig.ID)
	e.activate(t, ws, ih.ID)
	replay() // now naming active keys
	for _, r := range replays {
		if bytes.Contains(r.Body, []byte(`"privateKey"`)) || bytes.Contains(r.Body, []byte(`"secret"`)) || r.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("a refused retry carries a secret member or may be cached: %s", r.Body)
		}
	}

	// Everything a caller can do afterwards, including pasting a private key by mistake.
	other := e.generate(t, ws, "")
	otherIdx := len(e.bodies) - 1
	e.listKeys(t, ws)
	e.must(t, http.StatusOK, "POST", keysPath(ws)+"/"+other.ID+"/revoke", ws.Owner, "")
	own, err := fieldcrypt.GenerateKeyPair(fieldcrypt.HPKEP256, 0)
	if err != nil {
		t.Fatal(err)
	}
	e.must(t, http.StatusCreated, "POST", keysPath(ws)+"/import", ws.Owner, `{"publicKey":`+jsonString(string(own.Public().PEM()))+`}`)
	e.must(t, http.StatusUnprocessableEntity, "POST", keysPath(ws)+"/import", ws.Owner, `{"publicKey":`+jsonString(other.PrivateKey)+`}`)
	e.must(t, http.StatusUnprocessableEntity, "POST", keysPath(ws)+"/import", ws.Owner, `{"algorithm":"hpke-p256","publicKey":`+jsonString(other.PrivateKey)+`}`)
	e.must(t, http.StatusForbidden, "POST", keysPath(ws), ws.Member, "")
	e.listKeys(t, ws)
	e.must(t, http.StatusCreated, "POST", keysPath(ws), ws.Owner, "")
	secrets = append(secrets, issued{otherIdx, pemForms(other.PrivateKey)})

	table := e.scanTable(t)
	logs := e.logs.Bytes()
	if len(logs) == 0 || !bytes.Contains(logs, []byte("key pair generated")) {
		t.Fatal("no logs were captured: the test would prove nothing")
	}
	if bytes.Contains(logs, []byte("PRIVATE KEY")) {
		t.Fatal("a log line mentions a PEM private key")
	}
	check := func(what string, needles [][]byte, skipBody int) {
		t.Helper()
		for _, n := range needles {
			for _, v := range table {
				if bytes.Contains(v, n) {
					t.Fatalf("%s found in the DynamoDB table", what)
				}
			}
			if bytes.Contains(logs, n) {
				t.Fatalf("%s found in the logs", what)
			}
			for i, b := range e.bodies {
				if i != skipBody && bytes.Contains(b, n) {
					t.Fatalf("%s found in response %d: %.200s", what, i, b)
				}
			}
		}
	}
	for i, s := range secrets {
		check(fmt.Sprintf("secret %d", i), s.needles, s.body)
	}
	check("a KMS ciphertext blob of a private key", blobs, -1)
	if !e.rec.overwritten() {
		t.Fatal("a secret buffer KMS returned was not overwritten")
	}
}

func TestOnlyOwnersOfEligibleWorkspacesManageKeys(t *testing.T) {
	e := newEnv(t)
	ws := e.newWorkspace(t, phi.TierBusiness, true)
	other := e.newWorkspace(t, phi.TierBusiness, true)
	team := e.newWorkspace(t, phi.TierTeam, false)
	noBAA := e.newWorkspace(t, phi.TierBusiness, false)
	existing := e.generateActive(t, ws, "")
	pending := e.generate(t, ws, "")
	pubBody := `{"publicKey":` + jsonString(string(mustKey(t, fieldcrypt.HPKEP256).Public().PEM())) + `}`
	before := len(e.rec.pairs)

	routes := func(w *workspace, dst string) map[string][3]string { // name -> method, path, body
		base := "/workspaces/" + w.ID + "/destinations/" + dst
		return map[string][3]string{
			"generate": {"POST", base + "/keys", ""},
			"import":   {"POST", base + "/keys/import", pubBody},
			"hmac":     {"POST", base + "/hmac-keys", ""},
			"list":     {"GET", base + "/keys", ""},
			"revoke":   {"POST", base + "/keys/" + existing.ID + "/revoke", ""},
			"activate": {"POST", base + "/keys/" + pending.ID + "/activate", ""},
		}
	}
	for _, c := range []struct {
		name   string
		ws     *workspace
		dst    string
		token  string
		want   map[string]int // per route; "*" for all
		saying string
	}{
		{"a member is forbidden everything", ws, ws.Destination, ws.Member, map[string]int{"*": 403}, "owner"},
		{"a readonly token is forbidden everything", ws, ws.Destination, ws.Readonly, map[string]int{"*": 403}, "owner"},
		{"another workspace's owner finds nothing", ws, ws.Destination, other.Owner, map[string]int{"*": 404}, ""},
		{"no token is unauthorized", ws, ws.Destination, "", map[string]int{"*": 401}, ""},
		{"a revoked-looking junk token is unauthorized", ws, ws.Destination, "phit_junk", map[string]int{"*": 401}, ""},
		{"a team workspace's owner may list and revoke but not create or activate keys", team, team.Destination, team.Owner,
			map[string]int{"generate": 403, "import": 403, "hmac": 403, "activate": 403, "list": 200, "revoke": 404}, "business tier"},
		{"a business workspace without a BAA may not create or activate keys", noBAA, noBAA.Destination, noBAA.Owner,
			map[string]int{"generate": 403, "import": 403, "hmac": 403, "activate": 403, "list": 200, "revoke": 404}, "signed BAA"},
		{"a destination that does not exist is not found", ws, phi.NewID(phi.PrefixDestination), ws.Owner, map[string]int{"*": 404}, "destination"},
		{"another workspace's destination is not found", ws, other.Destination, ws.Owner, map[string]int{"*": 404}, "destination"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for name, r := range routes(c.ws, c.dst) {
				want, ok := c.want[name]
				if !ok {
					want = c.want["*"]
				}
				res := e.do(r[0], r[1], c.token, r[2])
				if res.Status != want {
					t.Fatalf("%s: status %d, want %d: %s", name, res.Status, want, res.Body)
				}
				if want == 403 && !strings.Contains(string(res.Body), c.saying) {
					t.Fatalf("%s: the refusal does not say %q: %s", name, c.saying, res.Body)
				}
			}
		})
	}

	if len(e.rec.pairs) != before || len(e.rec.dataKeys) != 0 {
		t.Fatal("a refused request reached KMS")
	}
	if k, _ := e.store.GetKey(e.ctx, ws.ID, ws.Destination, existing.ID); k.Status != phi.KeyActive {
		t.Fatalf("a refused revoke or activation changed the key: %+v", k)
	}
	if k, _ := e.store.GetKey(e.ctx, ws.ID, ws.Destination, pending.ID); k.Status != phi.KeyPending {
		t.Fatalf("a refused activation changed the pending key: %+v", k)
	}

	t.Run("every attempt is audited, refusals as denied", func(t *testing.T) {
		recs, _, err := e.store.ListAudit(e.ctx, ws.ID, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), phi.Page{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		count := map[string]int{}
		for _, r := range recs {
			count[r.Action+" "+r.Outcome+" "+r.Actor]++
			if r.Outcome == "success" && r.Action == "key.generate" && !strings.Contains(r.Target, existing.ID) && !strings.Contains(r.Target, pending.ID) {
				t.Errorf("generate audit target %q does not name the key", r.Target)
			}
		}
		for _, want := range []string{
			"key.generate success " + ws.OwnerID,
			"key.generate denied " + ws.MemberID,
			"key.import denied " + ws.ReadonID,
			"key.hmac.generate denied " + ws.MemberID,
			"key.list denied " + ws.MemberID,
			"key.revoke denied " + ws.ReadonID,
			"key.activate denied " + ws.MemberID,
			"key.generate failed " + ws.OwnerID, // unknown destination
		} {
			if count[want] == 0 {
				t.Errorf("no audit record %q in %v", want, count)
			}
		}
		teamRecs, _, err := e.store.ListAudit(e.ctx, team.ID, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), phi.Page{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		denied := 0
		for _, r := range teamRecs {
			if r.Outcome == "denied" && r.Actor == team.OwnerID {
				denied++
			}
		}
		if denied != 4 {
			t.Errorf("ineligible workspace: %d denied audit records, want 4 (generate, import, hmac, activate)", denied)
		}
	})
}

func mustKey(t *testing.T, alg fieldcrypt.Algorithm) *fieldcrypt.PrivateKey {
	t.Helper()
	k, err := fieldcrypt.GenerateKeyPair(alg, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pemOf(t *testing.T, typ string, der []byte, err error) string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func TestImportValidatesThePublicKey(t *testing.T) {
	e := newEnv(t)
	ws := e.newWorkspace(t, phi.TierBusiness, true)
	p256 := mustKey(t, fieldcrypt.HPKEP256)
	xwing := mustKey(t, fieldcrypt.HPKEXWing)
	rsa3072, err := rsa.GenerateKey(rand.Reader, 3072)
	if err != nil {
		t.Fatal(err)
	}
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	ecPriv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

	spki := func(k any) string { b, err := x509.MarshalPKIXPublicKey(k); return pemOf(t, "PUBLIC KEY", b, err) }
	pkcs8 := func(k any) string { b, err := x509.MarshalPKCS8PrivateKey(k); return pemOf(t, "PRIVATE KEY", b, err) }
	ecDER, err := x509.MarshalECPrivateKey(ecPriv)
	sec1 := pemOf(t, "EC PRIVATE KEY", ecDER, err)

	for _, c := range []struct {
		name, alg, key string
		want           int
		says           string
		wantAlg        fieldcrypt.Algorithm
	}{
		{"a P-256 key without an algorithm takes the key's own", "", string(p256.Public().PEM()), 201, "", fieldcrypt.HPKEP256},
		{"an RSA-3072 key for rsa-oaep-sha256", "rsa-oaep-sha256", spki(&rsa3072.PublicKey), 201, "", fieldcrypt.RSAOAEPSHA256},
		{"a PKCS#1 RSA PUBLIC KEY block", "rsa-oaep-sha256", pemOf(t, "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rsa2048.PublicKey), nil), 201, "", fieldcrypt.RSAOAEPSHA256},
		{"an X-Wing key", "hpke-xwing", string(xwing.Public().PEM()), 201, "", fieldcrypt.HPKEXWing},
		{"a key of another algorithm than requested", "rsa-oaep-sha256", spki(&p384.PublicKey), 422, "P-384", ""},
		{"a P-256 key sent as RSA", "rsa-oaep-sha256", string(mustKey(t, fieldcrypt.HPKEP256).Public().PEM()), 422, "not a rsa-oaep-sha256 key", ""},
		{"an RSA key that is too small", "", spki(&rsa1024.PublicKey), 422, "1024", ""},
		{"a P-384 key", "", spki(&p384.PublicKey), 422, "P-384", ""},
		{"an Ed25519 key", "", spki(edPub), 422, "Ed25519", ""},
		{"a PKCS#8 private key pasted by mistake", "", pkcs8(rsa2048), 422, "private key", ""},
		{"an EC private key pasted by mistake", "hpke-p256", sec1, 422, "private key", ""},
		{"text that is not PEM", "", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl", 422, "PEM", ""},
		{"an empty key", "hpke-p256", "", 422, "required", ""},
		{"an unknown algorithm", "ecies", string(mustKey(t, fieldcrypt.HPKEP256).Public().PEM()), 422, "algorithm", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := `{"publicKey":` + jsonString(c.key)
			if c.alg != "" {
				body += `,"algorithm":"` + c.alg + `"`
			}
			res := e.must(t, c.want, "POST", keysPath(ws)+"/import", ws.Owner, body+"}")
			if c.want != 201 {
				if !strings.Contains(string(res.Body), c.says) {
					t.Fatalf("body %s does not say %q", res.Body, c.says)
				}
				if block, _ := pem.Decode([]byte(c.key)); block != nil {
					for _, n := range forms(block.Bytes) {
						if bytes.Contains(res.Body, n) {
							t.Fatal("the refusal echoes the key")
						}
					}
					if bytes.Contains(res.Body, []byte(strings.Split(c.key, "\n")[1])) {
						t.Fatal("the refusal echoes a line of the key")
					}
				}
				return
			}
			var k phi.Key
			res.json(t, &k)
			pub, err := fieldcrypt.ParsePublicKey([]byte(c.key))
			if err != nil {
				t.Fatal(err)
			}
			if k.Origin != phi.OriginBYOK || k.Status != phi.KeyActive || k.Algorithm != string(c.wantAlg) || k.Fingerprint != pub.Fingerprint() || k.CreatedBy != ws.OwnerID {
				t.Fatalf("imported key = %+v", k)
			}
		})
	}

	t.Run("data encrypted under an imported key opens with the customer's private key", func(t *testing.T) {
		var k phi.Key
		e.must(t, 201, "POST", keysPath(ws)+"/import", ws.Owner, `{"publicKey":`+jsonString(string(mustKey(t, fieldcrypt.HPKEXWing).Public().PEM()))+`}`)
		own := mustKey(t, fieldcrypt.HPKEP256)
		e.must(t, 201, "POST", keysPath(ws)+"/import", ws.Owner, `{"algorithm":"hpke-p256","publicKey":`+jsonString(string(own.Public().PEM()))+`}`).json(t, &k)
		keys := e.listKeys(t, ws)
		if keys[0].ID != k.ID || keys[0].Status != phi.KeyActive || keys[1].Status != phi.KeyDecryptOnly {
			t.Fatalf("keys = %+v", keys[:2])
		}
		pub, err := fieldcrypt.ParsePublicKey([]byte(keys[0].PublicKeyPEM))
		if err != nil {
			t.Fatal(err)
		}
		var ring fieldcrypt.Keyring
		if err := ring.Add(k.ID, own); err != nil {
			t.Fatal(err)
		}
		got, err := ring.Open(seal(t, pub, k.ID, "bob@example.com"))
		if err != nil || string(got) != "bob@example.com" {
			t.Fatalf("open = %q, %v", got, err)
		}
	})
	t.Run("a body that is not JSON is a bad request", func(t *testing.T) {
		e.must(t, 400, "POST", keysPath(ws)+"/import", ws.Owner, "-----BEGIN PUBLIC KEY-----")
	})
}
