package fieldcrypt

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// openssl returns the path of the openssl CLI. The interoperability tests are part of the
// contract, so a machine without openssl fails them rather than skipping.
func openssl(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatalf("openssl CLI not found (install OpenSSL 3; these tests check the documented decryption command): %v", err)
	}
	return path
}

func runOpenSSL(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(openssl(t), args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl %s: %v: %s", strings.Join(args[:1], " "), err, stderr.String())
	}
	return out
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestOpenSSLDecryptsRSATokens runs the exact command docs/ENCRYPTION.md gives customers.
func TestOpenSSLDecryptsRSATokens(t *testing.T) {
	values := []string{"alice@example.com", "José Müller 🙂"}
	for _, name := range []string{"rsa2048", "rsa3072", "rsa4096"} {
		t.Run(name, func(t *testing.T) {
			k := testKey(t, name)
			keyFile := writeFile(t, "key.pem", k.PEM())
			e := mustEncrypter(t, name, "k1")
			vs := append(values, strings.Repeat("z", e.MaxPlaintext()))
			for _, v := range vs {
				tok := seal(t, e, v)
				ct, err := base64.StdEncoding.DecodeString(tok)
				if err != nil {
					t.Fatal(err)
				}
				got := runOpenSSL(t, ct, "pkeyutl", "-decrypt", "-inkey", keyFile,
					"-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256")
				if string(got) != v {
					t.Fatalf("openssl decrypted a %d-byte value to %d different bytes", len(v), len(got))
				}
			}
		})
	}
}

// TestKeyringOpensOpenSSLCiphertexts checks the other direction: OpenSSL's OAEP-SHA-256
// ciphertext, base64-encoded, is a valid token.
func TestKeyringOpensOpenSSLCiphertexts(t *testing.T) {
	k := testKey(t, "rsa2048")
	pubFile := writeFile(t, "pub.pem", k.Public().PEM())
	ct := runOpenSSL(t, []byte("bob@example.com"), "pkeyutl", "-encrypt", "-pubin", "-inkey", pubFile,
		"-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256")
	ring := mustKeyring(t, map[string]string{"": "rsa2048"})
	got, err := ring.Open(base64.StdEncoding.EncodeToString(ct))
	if err != nil || string(got) != "bob@example.com" {
		t.Fatalf("Open(openssl ciphertext) = %q, %v", got, err)
	}
}

// TestOpenSSLAgreesOnKeyEncodings: OpenSSL reads our PEM keys, re-encodes the public keys to the
// same SPKI DER (so the documented fingerprint command matches Fingerprint), and derives the same
// public key from the private PEM.
func TestOpenSSLAgreesOnKeyEncodings(t *testing.T) {
	for _, name := range []string{"rsa2048", "p256"} {
		t.Run(name, func(t *testing.T) {
			k := testKey(t, name)
			der := runOpenSSL(t, k.Public().PEM(), "pkey", "-pubin", "-outform", "DER")
			sum := sha256.Sum256(der)
			if got := "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:]); got != k.Public().Fingerprint() {
				t.Fatalf("fingerprint from openssl DER %s != Fingerprint() %s", got, k.Public().Fingerprint())
			}
			pubFromPriv := runOpenSSL(t, k.PEM(), "pkey", "-pubout")
			if !bytes.Equal(pubFromPriv, k.Public().PEM()) {
				t.Fatal("openssl derives a different public key PEM from the private key")
			}
		})
	}
}
