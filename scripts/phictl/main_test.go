package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/phiguard/phiguard/shared/fieldcrypt"
)

// result is one run of phictl.
type result struct {
	code           int
	stdout, stderr string
}

func phictl(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

func (r result) ok(t *testing.T) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	return r
}

// keyFiles generates a key pair with phictl keygen into dir and returns the two file names.
func keyFiles(t *testing.T, dir, name string, args ...string) (priv, pub string) {
	t.Helper()
	priv, pub = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".pub")
	phictl(t, "", append([]string{"keygen", "--private-out", priv, "--public-out", pub}, args...)...).ok(t)
	return priv, pub
}

// decodeLines decodes every output line as a JSON object.
func decodeLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var evs []map[string]any
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("output line is not a JSON object: %v", err)
		}
		evs = append(evs, m)
	}
	return evs
}

const event = `{
  "type": "identify",
  "userId": "u-1",
  "traits": {
    "email": "alice@example.com",
    "name": "José Müller 🙂 \"quoted\" <b>",
    "address": {"street": "1 Main St", "city": "Springfield"},
    "tags": ["vip", "diabetic"]
  },
  "properties": {"products": [{"name": "insulin", "sku": "A1"}, {"name": "syringe", "sku": "B2"}]},
  "context": {"ip": "203.0.113.7"}
}`

var fields = []string{"--field", "traits.email", "--field", "traits.name", "--field", "traits.address",
	"--field", "traits.tags[]", "--field", "properties.products[].name", "--field", "context.ip", "--field", "traits.absent"}

func TestKeygenEncryptDecryptRoundTrip(t *testing.T) {
	var want map[string]any
	if err := json.Unmarshal([]byte(event), &want); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		alg  fieldcrypt.Algorithm
		bits int
	}{
		{"hpke-p256 by default", nil, fieldcrypt.HPKEP256, 0},
		{"hpke-xwing", []string{"--alg", "hpke-xwing"}, fieldcrypt.HPKEXWing, 0},
		{"rsa-oaep-sha256 2048", []string{"--alg", "rsa-oaep-sha256", "--rsa-bits", "2048"}, fieldcrypt.RSAOAEPSHA256, 2048},
		{"rsa-oaep-sha256 at the default size", []string{"--alg", "rsa-oaep-sha256"}, fieldcrypt.RSAOAEPSHA256, 3072},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			priv, pub := keyFiles(t, dir, "k", c.args...)
			for file, mode := range map[string]os.FileMode{priv: 0o600, pub: 0o644} {
				st, err := os.Stat(file)
				if err != nil || st.Mode().Perm() != mode {
					t.Fatalf("%s: mode %v, %v; want %v", file, st.Mode().Perm(), err, mode)
				}
			}
			pemData, _ := os.ReadFile(pub)
			k, err := fieldcrypt.ParsePublicKeyFor(c.alg, pemData)
			if err != nil || k.Bits() != c.bits {
				t.Fatalf("public key: %v, %d bits", err, k.Bits())
			}

			enc := phictl(t, event, append([]string{"encrypt", "--public-key", pub, "--key-id", "key_1", "--alg", string(c.alg)}, fields...)...).ok(t)
			for _, value := range []string{"alice@example.com", "Springfield", "diabetic", "insulin", "203.0.113.7", "Müller"} {
				if strings.Contains(enc.stdout, value) {
					t.Fatalf("encrypted output still contains %q", value)
				}
			}
			if !strings.Contains(enc.stdout, `"sku":"A1"`) || !strings.Contains(enc.stdout, `"userId":"u-1"`) {
				t.Fatal("fields that were not selected changed")
			}
			evs := decodeLines(t, enc.stdout)
			if len(evs) != 1 {
				t.Fatalf("%d output lines for one event", len(evs))
			}
			tok := evs[0]["traits"].(map[string]any)["email"].(string)
			info := phictl(t, "", "inspect", tok).ok(t)
			if !strings.Contains(info.stdout, `"algorithm":"`+string(c.alg)+`"`) {
				t.Fatalf("inspect = %s", info.stdout)
			}
			if c.alg != fieldcrypt.RSAOAEPSHA256 && !strings.Contains(info.stdout, `"keyId":"key_1"`) {
				t.Fatalf("inspect = %s", info.stdout)
			}

			dec := phictl(t, enc.stdout, "decrypt", "--private-key", priv+":key_1").ok(t)
			if dec.stderr != "" {
				t.Fatalf("stderr = %s", dec.stderr)
			}
			got := decodeLines(t, dec.stdout)[0]
			if _, ok := got["_phi"]; !ok {
				t.Fatal("the manifest was dropped")
			}
			delete(got, "_phi")
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("decrypted\n%v\nwant\n%v", got, want)
			}
			for _, forbidden := range privateLines(t, priv) {
				if strings.Contains(enc.stdout+enc.stderr+dec.stdout+dec.stderr+info.stdout, forbidden) {
					t.Fatal("the private key appears in phictl's output")
				}
			}
		})
	}
}

// privateLines returns the base64 lines of a private key file (not its Key-ID, Algorithm and
// Fingerprint lines, which are public).
func privateLines(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" && !strings.HasPrefix(l, "-----") && !strings.Contains(l, ": ") {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		t.Fatal("no key lines")
	}
	return out
}

func TestJSONLinesAndBatchesAreEachProtected(t *testing.T) {
	dir := t.TempDir()
	priv, pub := keyFiles(t, dir, "k")
	in := `{"type":"track","properties":{"email":"a@example.com"}}
{"type":"track","properties":{"email":"b@example.com","n":1}}

{"batch":[{"type":"track","properties":{"email":"c@example.com"}},{"type":"page","properties":{"email":"d@example.com"}}],"sentAt":"2026-01-01T00:00:00Z"}
`
	enc := phictl(t, in, "encrypt", "--public-key", pub, "--key-id", "k1", "--field", "properties.email").ok(t)
	lines := decodeLines(t, enc.stdout)
	if len(lines) != 3 {
		t.Fatalf("%d output lines, want 3", len(lines))
	}
	for _, value := range []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com"} {
		if strings.Contains(enc.stdout, value) {
			t.Fatalf("%s left in clear", value)
		}
	}
	batch := lines[2]["batch"].([]any)
	if len(batch) != 2 || batch[1].(map[string]any)["_phi"] == nil || lines[2]["sentAt"] != "2026-01-01T00:00:00Z" {
		t.Fatalf("batch = %v", lines[2])
	}
	dec := phictl(t, enc.stdout, "decrypt", "--private-key", priv, "--typed").ok(t)
	for _, value := range []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com", `"n":1`} {
		if !strings.Contains(dec.stdout, value) {
			t.Fatalf("%s not restored: %s", value, dec.stdout)
		}
	}
}

// Issue 15: identity fields, keys with dots or brackets and keys in another case can be
// encrypted, and decrypt restores them.
func TestIdentityFieldsAndEscapedKeysAreEncryptedAndDecrypted(t *testing.T) {
	dir := t.TempDir()
	priv, pub := keyFiles(t, dir, "k")
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "segment", "identify.json"))
	if err != nil {
		t.Fatal(err)
	}
	in := strings.Replace(string(b), `"traits": {`, `"traits": {"a.b": "literal", "x[0]": "bracket", "EMAIL": "shout@example.com",`, 1)
	enc := phictl(t, in, "encrypt", "--public-key", pub, "--key-id", "k1", "--field", "userId", "--field", "anonymousId",
		"--field", `traits.a\.b`, "--field", `traits.x\[0\]`, "--field", "traits.email").ok(t)
	for _, value := range []string{"97980cfea0067", "507f191e810c19729de860ea", "literal", "bracket", "peter@example.com", "shout@example.com"} {
		if strings.Contains(enc.stdout, value) {
			t.Errorf("%s left in clear: %s", value, enc.stdout)
		}
	}
	var want map[string]any
	if err := json.Unmarshal([]byte(in), &want); err != nil {
		t.Fatal(err)
	}
	got := decodeLines(t, phictl(t, enc.stdout, "decrypt", "--private-key", priv+":k1").ok(t).stdout)[0]
	delete(got, "_phi")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decrypted\n%v\nwant\n%v", got, want)
	}
}

// Issue 15, point 4: version 2 tokens record the JSON type, so decrypt restores exactly what was
// sent — 42 stays a number, "02134" and "5551234" stay strings — with or without --typed.
func TestValueTypesComeBackExactly(t *testing.T) {
	dir := t.TempDir()
	priv, pub := keyFiles(t, dir, "k")
	in := `{"traits":{"age":42,"age_text":"42","zip":"02134","member":true,"score":-1.5e3,"phone":"5551234","obj":{"a":[1,2]},"list":["x",1]}}`
	var fields []string
	for _, f := range []string{"age", "age_text", "zip", "member", "score", "phone", "obj", "list"} {
		fields = append(fields, "--field", "traits."+f)
	}
	enc := phictl(t, in, append([]string{"encrypt", "--public-key", pub, "--key-id", "k1"}, fields...)...).ok(t)
	for _, flags := range [][]string{nil, {"--typed"}} {
		out := phictl(t, enc.stdout, append([]string{"decrypt", "--private-key", priv + ":k1"}, flags...)...).ok(t)
		want := `{"traits":{"age":42,"age_text":"42","zip":"02134","member":true,"score":-1.5e3,"phone":"5551234","obj":{"a":[1,2]},"list":["x",1]},`
		if !strings.HasPrefix(out.stdout, want) {
			t.Fatalf("decrypt %v:\n%s\nwant it to start\n%s", flags, out.stdout, want)
		}
	}
}

// Tokens made before version 2 (hpke1.) do not record the type: they come back as strings, or
// with --typed numbers and booleans are guessed as before.
func TestVersion1TokensStillDecryptAndGuessTypesWithTyped(t *testing.T) {
	var f struct {
		Keys []struct {
			Name, KeyID   string
			PrivateKeyPEM string `json:"private_key_pem"`
		}
		Vectors []struct {
			Key, Plaintext, Token string
			Version               int
		}
	}
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "fieldcrypt", "hpke-p256.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "vector.pem")
	os.WriteFile(keyFile, []byte(f.Keys[0].PrivateKeyPEM), 0o600)
	var phone, email string
	for _, v := range f.Vectors {
		if v.Version == 1 && v.Plaintext == "+14155550123" {
			phone = v.Token
		}
		if v.Version == 1 && v.Plaintext == "alice@example.com" {
			email = v.Token
		}
	}
	if !strings.HasPrefix(phone, "hpke1.") || email == "" {
		t.Fatal("the vector file lost its version 1 vectors")
	}
	in := `{"traits":{"phone":"` + phone + `","email":"` + email + `"}}`
	if out := phictl(t, in, "decrypt", "--private-key", keyFile).ok(t); !strings.Contains(out.stdout, `"phone":"+14155550123","email":"alice@example.com"`) {
		t.Fatalf("default: %s", out.stdout)
	}
	if out := phictl(t, in, "decrypt", "--private-key", keyFile, "--typed").ok(t); !strings.Contains(out.stdout, `"phone":"+14155550123"`) {
		t.Fatalf("--typed: %s", out.stdout)
	}
}

func TestDecryptLeavesTokensOfUnknownKeysAndReportsThem(t *testing.T) {
	dir := t.TempDir()
	priv1, pub1 := keyFiles(t, dir, "k1")
	_, pub2 := keyFiles(t, dir, "k2")
	rsaPriv, rsaPub := keyFiles(t, dir, "r1", "--alg", "rsa-oaep-sha256", "--rsa-bits", "2048")
	e1 := phictl(t, `{"traits":{"email":"one@example.com"}}`, "encrypt", "--public-key", pub1, "--key-id", "key_one", "--field", "traits.email").ok(t)
	e2 := phictl(t, `{"traits":{"email":"two@example.com"}}`, "encrypt", "--public-key", pub2, "--key-id", "key_two", "--field", "traits.email").ok(t)
	e3 := phictl(t, `{"traits":{"email":"three@example.com"}}`, "encrypt", "--public-key", rsaPub, "--key-id", "key_rsa", "--field", "traits.email").ok(t)
	in := e1.stdout + e2.stdout + e3.stdout

	for _, keyArg := range []string{priv1 + ":key_one", priv1} {
		t.Run("with "+filepath.Base(keyArg), func(t *testing.T) {
			r := phictl(t, in, "decrypt", "--private-key", keyArg).ok(t)
			lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
			if len(lines) != 3 || !strings.Contains(lines[0], "one@example.com") {
				t.Fatalf("stdout = %s", r.stdout)
			}
			if lines[1] != strings.TrimSpace(e2.stdout) || lines[2] != strings.TrimSpace(e3.stdout) {
				t.Fatal("tokens of unknown keys were changed")
			}
			if !strings.Contains(r.stderr, "event 2") || !strings.Contains(r.stderr, "key_two") || !strings.Contains(r.stderr, "traits.email") {
				t.Fatalf("stderr does not name the unknown HPKE key: %s", r.stderr)
			}
			if !strings.Contains(r.stderr, "event 3") || !strings.Contains(r.stderr, "key_rsa") {
				t.Fatalf("stderr does not name the unknown RSA key from the manifest: %s", r.stderr)
			}
		})
	}
	t.Run("--strict exits 3 when tokens stay encrypted", func(t *testing.T) {
		if r := phictl(t, in, "decrypt", "--strict", "--private-key", priv1+":key_one"); r.code != exitLeftOver {
			t.Fatalf("exit %d", r.code)
		}
		if r := phictl(t, e1.stdout, "decrypt", "--strict", "--private-key", priv1+":key_one"); r.code != 0 {
			t.Fatalf("exit %d with nothing left: %s", r.code, r.stderr)
		}
	})
	t.Run("every key given decrypts its own events", func(t *testing.T) {
		r := phictl(t, in, "decrypt", "--private-key", priv1+":key_one", "--private-key", rsaPriv+":key_rsa").ok(t)
		if !strings.Contains(r.stdout, "one@example.com") || !strings.Contains(r.stdout, "three@example.com") || strings.Contains(r.stdout, "two@example.com") {
			t.Fatalf("stdout = %s", r.stdout)
		}
	})
	t.Run("a copy without its manifest is still decrypted: tokens are self-contained", func(t *testing.T) {
		var m map[string]any
		json.Unmarshal([]byte(e1.stdout), &m)
		delete(m, "_phi")
		stripped, _ := json.Marshal(map[string]any{"warehouse_row": m["traits"]})
		r := phictl(t, string(stripped), "decrypt", "--private-key", priv1).ok(t)
		if !strings.Contains(r.stdout, `"email":"one@example.com"`) {
			t.Fatalf("stdout = %s", r.stdout)
		}
	})
}

func TestAlteredTokensFailLoudly(t *testing.T) {
	dir := t.TempDir()
	priv, pub := keyFiles(t, dir, "k")
	enc := phictl(t, `{"traits":{"email":"alice@example.com"}}`, "encrypt", "--public-key", pub, "--key-id", "k1", "--field", "traits.email").ok(t)
	var m map[string]any
	json.Unmarshal([]byte(enc.stdout), &m)
	tok := m["traits"].(map[string]any)["email"].(string)
	raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(tok, "hpke1."))
	raw[len(raw)-1] ^= 1
	altered := "hpke1." + base64.RawURLEncoding.EncodeToString(raw)
	r := phictl(t, strings.Replace(enc.stdout, tok, altered, 1), "decrypt", "--private-key", priv+":k1")
	if r.code != exitFailure || !strings.Contains(r.stderr, "altered") || !strings.Contains(r.stdout, altered) {
		t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
	}
}

func TestOversizeRSAValuesAreRemovedNotLeakedInClear(t *testing.T) {
	dir := t.TempDir()
	_, pub := keyFiles(t, dir, "r", "--alg", "rsa-oaep-sha256", "--rsa-bits", "2048")
	long := strings.Repeat("x", 300)
	r := phictl(t, `{"traits":{"notes":"`+long+`","email":"a@example.com"}}`, "encrypt", "--public-key", pub, "--key-id", "r1", "--field", "traits.notes", "--field", "traits.email").ok(t)
	if strings.Contains(r.stdout, long) || !strings.Contains(r.stdout, `"reason":"protect-failed"`) || !strings.Contains(r.stderr, "traits.notes") {
		t.Fatalf("stdout %s\nstderr %s", r.stdout, r.stderr)
	}
}

// TestOpenSSLDecryptsAFieldPhictlEncrypted runs the documented openssl command on a field of an
// event phictl encrypted, with the private key file phictl keygen wrote.
func TestOpenSSLDecryptsAFieldPhictlEncrypted(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatalf("openssl CLI not found (install OpenSSL 3): %v", err)
	}
	dir := t.TempDir()
	priv, pub := keyFiles(t, dir, "r", "--alg", "rsa-oaep-sha256", "--rsa-bits", "3072")
	r := phictl(t, `{"traits":{"email":"José@example.com"}}`, "encrypt", "--public-key", pub, "--key-id", "r1", "--field", "traits.email").ok(t)
	var m map[string]any
	json.Unmarshal([]byte(r.stdout), &m)
	ct, err := base64.StdEncoding.DecodeString(m["traits"].(map[string]any)["email"].(string))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(openssl, "pkeyutl", "-decrypt", "-inkey", priv,
		"-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256")
	cmd.Stdin = bytes.NewReader(ct)
	out, err := cmd.Output()
	if err != nil || string(out) != "José@example.com" {
		t.Fatalf("openssl = %q, %v", out, err)
	}
}

func TestKeygenNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	priv, pub := keyFiles(t, dir, "k")
	before, _ := os.ReadFile(priv)
	r := phictl(t, "", "keygen", "--private-out", priv, "--public-out", filepath.Join(dir, "new.pub"))
	if r.code != exitFailure || !strings.Contains(r.stderr, "refusing to overwrite") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	r = phictl(t, "", "keygen", "--private-out", filepath.Join(dir, "new.pem"), "--public-out", pub)
	if r.code != exitFailure {
		t.Fatalf("exit %d", r.code)
	}
	if _, err := os.Stat(filepath.Join(dir, "new.pem")); !os.IsNotExist(err) {
		t.Fatal("a private key file was left behind by a failed keygen")
	}
	if after, _ := os.ReadFile(priv); !bytes.Equal(before, after) {
		t.Fatal("the private key file changed")
	}
}

func TestBadInputGivesOneLineAndANonZeroExit(t *testing.T) {
	dir := t.TempDir()
	priv, pub := keyFiles(t, dir, "k")
	rsaPriv, _ := keyFiles(t, dir, "r", "--alg", "rsa-oaep-sha256", "--rsa-bits", "2048")
	enc := phictl(t, `{"traits":{"email":"a@example.com"}}`, "encrypt", "--public-key", pub, "--key-id", "k1", "--field", "traits.email").ok(t)
	notPEM := filepath.Join(dir, "junk.txt")
	os.WriteFile(notPEM, []byte("not a key"), 0o600)
	encArgs := func(extra ...string) []string {
		return append([]string{"encrypt", "--public-key", pub, "--key-id", "k1", "--field", "traits.email"}, extra...)
	}

	for _, c := range []struct {
		name  string
		stdin string
		args  []string
		code  int
		says  string
	}{
		{"no command", "", nil, exitUsage, "usage"},
		{"an unknown command", "", []string{"hash"}, exitUsage, "unknown command"},
		{"an unknown flag", "", []string{"encrypt", "--bogus"}, exitUsage, "bogus"},
		{"encrypt without a key id", "{}", []string{"encrypt", "--public-key", pub, "--field", "traits.email"}, exitUsage, "--key-id"},
		{"encrypt without fields", "{}", []string{"encrypt", "--public-key", pub, "--key-id", "k1"}, exitUsage, "--field"},
		{"a field outside context, traits and properties", "{}", []string{"encrypt", "--public-key", pub, "--key-id", "k1", "--field", "event"}, exitUsage, "context, traits or properties"},
		{"a field under an identity field", "{}", []string{"encrypt", "--public-key", pub, "--key-id", "k1", "--field", "userId.x"}, exitUsage, "identity field"},
		{"a backslash that escapes nothing", "{}", []string{"encrypt", "--public-key", pub, "--key-id", "k1", "--field", `traits.e\mail`}, exitUsage, "backslash"},
		{"a key id with a space", "{}", []string{"encrypt", "--public-key", pub, "--key-id", "k 1", "--field", "traits.email"}, exitUsage, "key id"},
		{"stdin that is not JSON", "email=a@example.com", encArgs(), exitFailure, "not JSON"},
		{"a JSON array instead of an event", `[{"traits":{}}]`, encArgs(), exitFailure, "not a JSON object"},
		{"empty stdin", "", encArgs(), exitFailure, "empty"},
		{"a missing public key file", "{}", []string{"encrypt", "--public-key", filepath.Join(dir, "nope.pub"), "--key-id", "k1", "--field", "traits.email"}, exitFailure, "no such file"},
		{"a private key given as the public key", "{}", []string{"encrypt", "--public-key", priv, "--key-id", "k1", "--field", "traits.email"}, exitFailure, "private key"},
		{"a public key of another algorithm", "{}", encArgs("--alg", "rsa-oaep-sha256"), exitFailure, "not a rsa-oaep-sha256 key"},
		{"a file that is not PEM", "{}", []string{"encrypt", "--public-key", notPEM, "--key-id", "k1", "--field", "traits.email"}, exitFailure, "PEM"},
		{"decrypt without a key", enc.stdout, []string{"decrypt"}, exitUsage, "--private-key"},
		{"a public key given as the private key", enc.stdout, []string{"decrypt", "--private-key", pub}, exitFailure, "public key"},
		{"a missing private key file", enc.stdout, []string{"decrypt", "--private-key", filepath.Join(dir, "nope.pem") + ":k1"}, exitFailure, "no such file"},
		{"two different keys under one id", enc.stdout, []string{"decrypt", "--private-key", priv + ":k1", "--private-key", rsaPriv + ":k1"}, exitUsage, "two different keys"},
		{"decrypt input that is not JSON", "{\"traits\":", []string{"decrypt", "--private-key", priv}, exitFailure, "not JSON"},
		{"a corrupt token to inspect", "", []string{"inspect", "hpke1.AAAA"}, exitFailure, "malformed token"},
		{"inspect without a token", "", []string{"inspect"}, exitUsage, "TOKEN"},
		{"keygen without files", "", []string{"keygen"}, exitUsage, "--private-out"},
		{"keygen with an unknown algorithm", "", []string{"keygen", "--alg", "dsa", "--private-out", filepath.Join(dir, "a"), "--public-out", filepath.Join(dir, "b")}, exitUsage, "unknown algorithm"},
		{"keygen with an RSA size for P-256", "", []string{"keygen", "--rsa-bits", "2048", "--private-out", filepath.Join(dir, "a"), "--public-out", filepath.Join(dir, "b")}, exitUsage, "--rsa-bits"},
		{"keygen with an unsupported RSA size", "", []string{"keygen", "--alg", "rsa-oaep-sha256", "--rsa-bits", "1024", "--private-out", filepath.Join(dir, "a"), "--public-out", filepath.Join(dir, "b")}, exitFailure, "2048, 3072 or 4096"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := phictl(t, c.stdin, c.args...)
			if r.code != c.code {
				t.Fatalf("exit %d, want %d; stderr %s", r.code, c.code, r.stderr)
			}
			if c.code != exitUsage || c.args != nil {
				if n := strings.Count(strings.TrimSuffix(r.stderr, "\n"), "\n"); n != 0 {
					t.Fatalf("stderr has %d lines: %s", n+1, r.stderr)
				}
			}
			if !strings.Contains(r.stderr, c.says) {
				t.Fatalf("stderr %q does not say %q", r.stderr, c.says)
			}
			if strings.Contains(r.stderr, "fieldcrypt:") {
				t.Fatalf("stderr %q names the package; phictl shows an error's kind and reason", r.stderr)
			}
			for _, l := range append(privateLines(t, priv), privateLines(t, rsaPriv)...) {
				if strings.Contains(r.stderr+r.stdout, l) {
					t.Fatal("a private key appears in the output")
				}
			}
			if strings.Contains(r.stderr, "a@example.com") {
				t.Fatal("a value appears in the error")
			}
		})
	}
	for _, f := range []string{"a", "b"} {
		if _, err := os.Stat(filepath.Join(dir, f)); !os.IsNotExist(err) {
			t.Fatalf("a failed keygen left %s behind", f)
		}
	}
}
