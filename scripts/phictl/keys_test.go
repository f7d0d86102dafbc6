package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phiguard/phiguard/shared/fieldcrypt"
)

// Issue 15, point 9: every command answers --help with its usage on stdout and exit 0.
func TestEveryCommandPrintsItsUsageForHelp(t *testing.T) {
	for _, c := range []struct {
		args []string
		says []string
	}{
		{[]string{"keygen", "--help"}, []string{"usage: phictl keygen", "-private-out", "-key-id", "Key-ID"}},
		{[]string{"encrypt", "-h"}, []string{"usage: phictl encrypt", "-public-key", "-padding", "-field"}},
		{[]string{"decrypt", "--help"}, []string{"usage: phictl decrypt", "-private-key", "-key-list", "-csv", "-column", "-typed"}},
		{[]string{"decrypt", "-help"}, []string{"usage: phictl decrypt"}},
		{[]string{"inspect", "--help"}, []string{"usage: phictl inspect"}},
		{[]string{"help", "decrypt"}, []string{"usage: phictl decrypt"}},
		{[]string{"--help"}, []string{"phictl keygen", "phictl decrypt", "COMMAND --help"}},
	} {
		r := phictl(t, "", c.args...)
		if r.code != 0 || r.stderr != "" {
			t.Errorf("%v: exit %d, stderr %q", c.args, r.code, r.stderr)
		}
		for _, s := range c.says {
			if !strings.Contains(r.stdout, s) {
				t.Errorf("%v: usage does not mention %q:\n%s", c.args, s, r.stdout)
			}
		}
		if strings.Contains(r.stdout+r.stderr, "help requested") {
			t.Errorf("%v still says only \"help requested\"", c.args)
		}
	}
}

// Issue 15, point 7: keygen gives the key id and fingerprint with the key, in the file.
func TestKeygenWritesTheKeyIDAndFingerprintIntoTheKeyFile(t *testing.T) {
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "k.pem"), filepath.Join(dir, "k.pub")
	r := phictl(t, "", "keygen", "--key-id", "key_01ABC", "--private-out", priv, "--public-out", pub).ok(t)
	data, _ := os.ReadFile(priv)
	pubPEM, _ := os.ReadFile(pub)
	k, err := fieldcrypt.ParsePublicKey(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	head := "Key-ID: key_01ABC\nAlgorithm: hpke-p256\nFingerprint: " + k.Fingerprint() + "\n-----BEGIN PRIVATE KEY-----\n"
	if !strings.HasPrefix(string(data), head) {
		t.Fatalf("key file starts %q", data[:len(head)])
	}
	if !strings.Contains(r.stdout, "key id:      key_01ABC") || !strings.Contains(r.stdout, "fingerprint: "+k.Fingerprint()) {
		t.Fatalf("keygen says %s", r.stdout)
	}
	// Without --key-id: the fingerprint, and where the id comes from.
	priv2 := filepath.Join(dir, "k2.pem")
	r = phictl(t, "", "keygen", "--private-out", priv2, "--public-out", filepath.Join(dir, "k2.pub")).ok(t)
	data, _ = os.ReadFile(priv2)
	if !strings.HasPrefix(string(data), "Algorithm: hpke-p256\nFingerprint: SHA256:") || !strings.Contains(r.stdout, "assigned when the public key is imported") {
		t.Fatalf("keygen without --key-id: %s\n%s", data, r.stdout)
	}
	if r := phictl(t, "", "keygen", "--key-id", "bad id", "--private-out", filepath.Join(dir, "x"), "--public-out", filepath.Join(dir, "y")); r.code != exitUsage {
		t.Fatalf("a bad --key-id: exit %d", r.code)
	}
}

// Issue 15, point 7: decrypt finds the right key among many by itself.
func TestDecryptFindsTheRightKeyAmongMany(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	os.Mkdir(keys, 0o700)
	var in strings.Builder
	want := map[string]string{}
	for i, alg := range []string{"hpke-p256", "hpke-p256", "hpke-xwing", "rsa-oaep-sha256"} {
		name := []string{"a", "b", "c", "r"}[i]
		args := []string{"--alg", alg}
		if alg == "rsa-oaep-sha256" {
			args = append(args, "--rsa-bits", "2048")
		}
		// Key files without a Key-ID line: decrypt must find them by trying.
		_, pub := keyFiles(t, keys, name, args...)
		email := name + "@example.com"
		want[name] = email
		in.WriteString(phictl(t, `{"traits":{"email":"`+email+`"}}`, "encrypt", "--public-key", pub, "--key-id", "key_"+name, "--field", "traits.email").ok(t).stdout)
	}
	os.WriteFile(filepath.Join(keys, "README"), []byte("keys for the warehouse"), 0o600)
	r := phictl(t, in.String(), "decrypt", "--strict", "--private-key", keys).ok(t)
	for name, email := range want {
		if !strings.Contains(r.stdout, email) {
			t.Errorf("key %s's token was not decrypted from the directory: %s %s", name, r.stdout, r.stderr)
		}
	}

	t.Run("a saved REST response is a key file", func(t *testing.T) {
		kf, _ := os.ReadFile(filepath.Join(keys, "a.pem"))
		k, err := fieldcrypt.ParseKeyFile(kf)
		if err != nil {
			t.Fatal(err)
		}
		pemData := k.Key.PEM()
		resp, _ := json.Marshal(map[string]string{"id": "key_a", "algorithm": "hpke-p256", "fingerprint": k.Key.Public().Fingerprint(), "privateKey": string(pemData)})
		file := filepath.Join(dir, "generated.json")
		os.WriteFile(file, resp, 0o600)
		r := phictl(t, in.String(), "decrypt", "--private-key", file).ok(t)
		if !strings.Contains(r.stdout, "a@example.com") || !strings.Contains(r.stderr, "no private key for key_b") {
			t.Fatalf("stdout %s\nstderr %s", r.stdout, r.stderr)
		}
	})

	t.Run("a key list gives keys their ids by fingerprint", func(t *testing.T) {
		var items []map[string]string
		for _, name := range []string{"a", "b"} {
			pubPEM, _ := os.ReadFile(filepath.Join(keys, name+".pub"))
			p, _ := fieldcrypt.ParsePublicKey(pubPEM)
			items = append(items, map[string]string{"id": "key_" + name, "fingerprint": p.Fingerprint(), "status": "active"})
		}
		list, _ := json.Marshal(map[string]any{"items": items})
		file := filepath.Join(dir, "keys.json")
		os.WriteFile(file, list, 0o600)
		// Key b's token names key_b: with the list, key a is not even tried on it, so an
		// "altered" token of key_b is reported as altered, not as an unknown key.
		r := phictl(t, in.String(), "decrypt", "--key-list", file, "--private-key", filepath.Join(keys, "a.pem"), "--private-key", filepath.Join(keys, "b.pem")).ok(t)
		if !strings.Contains(r.stdout, "a@example.com") || !strings.Contains(r.stdout, "b@example.com") {
			t.Fatalf("stdout %s\nstderr %s", r.stdout, r.stderr)
		}
		// A key list that contradicts a key's own id is refused.
		if r := phictl(t, in.String(), "decrypt", "--key-list", file, "--private-key", filepath.Join(keys, "a.pem")+":key_z"); r.code != exitUsage || !strings.Contains(r.stderr, "key-list") {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
	})

	t.Run("a Key-ID line is used", func(t *testing.T) {
		kf, _ := os.ReadFile(filepath.Join(keys, "c.pem"))
		file := filepath.Join(dir, "c-with-id.pem")
		os.WriteFile(file, append([]byte("Key-ID: key_c\n"), kf...), 0o600)
		r := phictl(t, in.String(), "decrypt", "--private-key", file).ok(t)
		if !strings.Contains(r.stdout, "c@example.com") || !strings.Contains(r.stderr, "no private key for key_a") {
			t.Fatalf("stdout %s\nstderr %s", r.stdout, r.stderr)
		}
	})
}

// Issue 15, point 5: padding is on by default and can be turned off.
func TestEncryptPaddingFlag(t *testing.T) {
	dir := t.TempDir()
	_, pub := keyFiles(t, dir, "k")
	tok := func(pad, value string) string {
		out := phictl(t, `{"traits":{"dx":"`+value+`"}}`, "encrypt", "--public-key", pub, "--key-id", "k1", "--padding", pad, "--field", "traits.dx").ok(t)
		var m map[string]any
		json.Unmarshal([]byte(out.stdout), &m)
		return m["traits"].(map[string]any)["dx"].(string)
	}
	if a, b := tok("buckets", "E11"), tok("buckets", "Type 2 diabetes mellitus"); len(a) != len(b) {
		t.Fatalf("padded tokens of a 3- and a 24-byte value differ in length: %d, %d", len(a), len(b))
	}
	if a, b := tok("none", "E11"), tok("none", "Type 2 diabetes mellitus"); len(a) == len(b) {
		t.Fatal("--padding none still pads")
	}
	if r := phictl(t, "{}", "encrypt", "--public-key", pub, "--key-id", "k1", "--padding", "some", "--field", "traits.dx"); r.code != exitUsage {
		t.Fatalf("--padding some: exit %d", r.code)
	}
}

// Issue 15, point 10: CSV with named columns.
func TestDecryptCSVColumns(t *testing.T) {
	dir := t.TempDir()
	priv, pub := keyFiles(t, dir, "k")
	enc := phictl(t, `{"messageId":"m1","traits":{"email":"a@example.com","age":42,"addr":{"zip":"02139"}}}
{"messageId":"m2","traits":{"email":"b,\"quoted\"@example.com","age":7,"addr":{"zip":"10001"}}}`,
		"encrypt", "--public-key", pub, "--key-id", "k1", "--field", "traits.email", "--field", "traits.age", "--field", "traits.addr").ok(t)
	var csvIn strings.Builder
	csvIn.WriteString("id,email,age,addr,note\n")
	for _, line := range strings.Split(strings.TrimSpace(enc.stdout), "\n") {
		var ev struct {
			MessageID string `json:"messageId"`
			Traits    struct{ Email, Age, Addr string }
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatal(err)
		}
		csvIn.WriteString(ev.MessageID + "," + ev.Traits.Email + "," + ev.Traits.Age + "," + ev.Traits.Addr + ",\n")
	}
	want := "id,email,age,addr,note\nm1,a@example.com,42,\"{\"\"zip\"\":\"\"02139\"\"}\",\nm2,\"b,\"\"quoted\"\"@example.com\",7,\"{\"\"zip\"\":\"\"10001\"\"}\",\n"
	for _, args := range [][]string{{"--column", "email", "--column", "age", "--column", "addr"}, nil} {
		r := phictl(t, csvIn.String(), append([]string{"decrypt", "--csv", "--private-key", priv}, args...)...).ok(t)
		if r.stdout != want {
			t.Fatalf("decrypt --csv %v:\n%s\nwant\n%s", args, r.stdout, want)
		}
	}
	// Only the named columns are decrypted.
	r := phictl(t, csvIn.String(), "decrypt", "--csv", "--private-key", priv, "--column", "email").ok(t)
	if !strings.Contains(r.stdout, "a@example.com") || strings.Contains(r.stdout, "02139") {
		t.Fatalf("--column email: %s", r.stdout)
	}
	if r := phictl(t, csvIn.String(), "decrypt", "--csv", "--private-key", priv, "--column", "phone"); r.code != exitUsage || !strings.Contains(r.stderr, "no such column") {
		t.Fatalf("an unknown column: exit %d %s", r.code, r.stderr)
	}
	if r := phictl(t, csvIn.String(), "decrypt", "--private-key", priv, "--column", "email"); r.code != exitUsage {
		t.Fatalf("--column without --csv: exit %d", r.code)
	}
	// A token left encrypted is named by row and column.
	_, pub2 := keyFiles(t, dir, "other")
	other := phictl(t, `{"traits":{"email":"z@example.com"}}`, "encrypt", "--public-key", pub2, "--key-id", "k2", "--field", "traits.email").ok(t)
	var m map[string]any
	json.Unmarshal([]byte(other.stdout), &m)
	r = phictl(t, "email\n"+m["traits"].(map[string]any)["email"].(string)+"\n", "decrypt", "--csv", "--private-key", priv, "--column", "email").ok(t)
	if !strings.Contains(r.stderr, "row 2") || !strings.Contains(r.stderr, "email") || !strings.Contains(r.stderr, "k2") {
		t.Fatalf("stderr %s", r.stderr)
	}
}
