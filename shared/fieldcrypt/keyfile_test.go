package fieldcrypt

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyFilesCarryTheKeyIDAndFingerprint(t *testing.T) {
	for _, name := range []string{"p256", "xwing", "rsa2048"} {
		t.Run(name, func(t *testing.T) {
			k := testKey(t, name)
			data, err := KeyFilePEM(k, "key_01ABC")
			if err != nil {
				t.Fatal(err)
			}
			want := "Key-ID: key_01ABC\nAlgorithm: " + string(k.Algorithm()) + "\nFingerprint: " + k.Public().Fingerprint() + "\n-----BEGIN PRIVATE KEY-----\n"
			if !strings.HasPrefix(string(data), want) {
				t.Fatalf("key file starts %q, want %q", data[:min(len(data), len(want))], want)
			}
			kf, err := ParseKeyFile(data)
			if err != nil || kf.KeyID != "key_01ABC" || !kf.Key.Public().Equal(k.Public()) {
				t.Fatalf("ParseKeyFile = %+v, %v", kf, err)
			}
			// A plain PEM file and one without Key-ID have no id.
			for _, plain := range [][]byte{k.PEM(), must(KeyFilePEM(k, ""))} {
				if kf, err := ParseKeyFile(plain); err != nil || kf.KeyID != "" {
					t.Fatalf("ParseKeyFile(no Key-ID) = %+v, %v", kf, err)
				}
			}
			// A key file is still a private key for ParsePrivateKey (and for OpenSSL, below).
			if _, err := ParsePrivateKey(data); err != nil {
				t.Fatal(err)
			}
		})
	}
	k := testKey(t, "p256")
	for _, c := range []struct {
		name, head string
		kind       error
	}{
		{"a fingerprint of another key", "Fingerprint: " + testKey(t, "p256-other").Public().Fingerprint() + "\n", ErrInvalidKey},
		{"another algorithm", "Algorithm: hpke-xwing\n", ErrInvalidKey},
		{"a key id with a space", "Key-ID: key one\n", ErrInvalidKeyID},
	} {
		if _, err := ParseKeyFile(append([]byte(c.head), k.PEM()...)); !errors.Is(err, c.kind) {
			t.Errorf("%s: ParseKeyFile error = %v, want %v", c.name, err, c.kind)
		}
	}
	if kf, err := ParseKeyFile(append([]byte("exported by phictl\r\nKey-ID: k-2\r\nComment: x\r\n"), k.PEM()...)); err != nil || kf.KeyID != "k-2" {
		t.Errorf("ParseKeyFile with CRLF and other text = %+v, %v", kf, err)
	}
	if _, err := KeyFilePEM(k, "bad id"); !errors.Is(err, ErrInvalidKeyID) {
		t.Errorf("KeyFilePEM(bad id) = %v", err)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestOpenSSLReadsKeyFiles(t *testing.T) {
	for _, name := range []string{"rsa2048", "p256"} {
		k := testKey(t, name)
		data := must(KeyFilePEM(k, "key_1"))
		if pub := runOpenSSL(t, data, "pkey", "-pubout"); !bytes.Equal(pub, k.Public().PEM()) {
			t.Fatalf("%s: openssl reads another key from the key file", name)
		}
	}
}

// TestTheDocumentedFingerprintRecipesWork runs section 2's shell recipes, as written, on a public
// key of every algorithm (the first one on all three, X-Wing included; the openssl one on the two
// OpenSSL can parse).
func TestTheDocumentedFingerprintRecipesWork(t *testing.T) {
	md, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	var generic, viaOpenSSL string
	for _, b := range codeBlocks(string(md), "sh") {
		switch {
		case strings.Contains(b, "sed -n") && strings.Contains(b, "SHA256:"):
			generic = b
		case strings.Contains(b, "openssl pkey -pubin") && strings.Contains(b, "SHA256:"):
			viaOpenSSL = b
		}
	}
	if generic == "" || viaOpenSSL == "" {
		t.Fatal("docs/ENCRYPTION.md lost a fingerprint recipe")
	}
	openssl(t)
	for _, name := range []string{"rsa2048", "p256", "xwing"} {
		k := testKey(t, name)
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "public.pem"), k.Public().PEM(), 0o600); err != nil {
			t.Fatal(err)
		}
		recipes := []string{generic}
		if name != "xwing" {
			recipes = append(recipes, viaOpenSSL)
		}
		for _, r := range recipes {
			cmd := exec.Command("bash", "-eo", "pipefail", "-c", r)
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != k.Public().Fingerprint() {
				t.Fatalf("%s: the recipe prints %q (%v), want %s:\n%s", name, out, err, k.Public().Fingerprint(), r)
			}
		}
	}
}

// codeBlocks returns the ```lang blocks of a Markdown text, in order.
func codeBlocks(md, lang string) []string {
	var blocks []string
	fence := "```" + lang + "\n"
	for {
		i := strings.Index(md, fence)
		if i < 0 {
			return blocks
		}
		md = md[i+len(fence):]
		j := strings.Index(md, "```")
		if j < 0 {
			return blocks
		}
		blocks = append(blocks, md[:j])
		md = md[j+3:]
	}
}
