package fieldcrypt

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// secretNeedles returns text fragments that must never appear in an error or log line: 12-byte
// windows of the private key DER (raw, hex, base64) and lines of its PEM body.
func secretNeedles(k *PrivateKey) []string {
	block, _ := pem.Decode(k.PEM())
	der := block.Bytes
	var needles []string
	for i := 0; i+12 <= len(der); i += 12 {
		w := der[i : i+12]
		needles = append(needles, string(w), hex.EncodeToString(w), base64.StdEncoding.EncodeToString(w)[:12])
	}
	for _, line := range strings.Split(string(k.PEM()), "\n") {
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
			needles = append(needles, line[:16])
		}
	}
	return needles
}

func assertNoSecret(t *testing.T, what, text string, needles []string) {
	t.Helper()
	for _, n := range needles {
		if strings.Contains(text, n) {
			t.Fatalf("%s contains secret material (%d-byte fragment)", what, len(n))
		}
	}
}

func TestErrorsNeverContainKeysOrPlaintext(t *testing.T) {
	const plaintext = "patient-ssn-078-05-1120"
	for _, name := range []string{"rsa2048", "p256", "xwing"} {
		t.Run(name, func(t *testing.T) {
			k := testKey(t, name)
			needles := append(secretNeedles(k), plaintext)
			block, _ := pem.Decode(k.PEM())

			var errs []error
			// Corrupted private keys: every byte region altered in turn.
			for i := 0; i < len(block.Bytes); i += max(1, len(block.Bytes)/40) {
				bad := bytes.Clone(block.Bytes)
				bad[i] ^= 0xff
				_, err := ParsePrivateKey(pemOf("PRIVATE KEY", bad))
				errs = append(errs, err)
				_, err = ParsePrivateKeyDER(bad[:len(bad)-1])
				errs = append(errs, err)
				_, err = PrivateKeyPEM(bad)
				errs = append(errs, err)
			}
			// A private key where a public key is expected (the BYOK mistake).
			_, err := ParsePublicKey(k.PEM())
			errs = append(errs, err)
			_, err = ParsePublicKeyDER(block.Bytes)
			errs = append(errs, err)
			// Oversize and wrong-key operations on a plaintext.
			e := mustEncrypter(t, name, "k1")
			_, err = e.Seal(nil, []byte(strings.Repeat(plaintext, e.MaxPlaintext()/len(plaintext)+1)))
			errs = append(errs, err)
			tok := seal(t, e, plaintext)
			var other Keyring
			if err := other.Add("k1", testKey(t, map[string]string{"rsa2048": "rsa2048-other", "p256": "p256-other", "xwing": "xwing-other"}[name])); err != nil {
				t.Fatal(err)
			}
			_, err = other.Open(tok)
			errs = append(errs, err)
			_, err = other.Open(tok[:len(tok)-2])
			errs = append(errs, err)

			tokNeedles := append(needles, tok[len(tok)-24:])
			failures := 0
			for _, err := range errs {
				if err == nil {
					continue
				}
				failures++
				assertNoSecret(t, "error "+fmt.Sprintf("%.60q", err.Error()), err.Error(), tokNeedles)
			}
			if failures < len(errs)/2 {
				t.Fatalf("only %d of %d corrupt inputs failed", failures, len(errs))
			}
		})
	}
}

func TestPrivateKeyFormattingIsRedacted(t *testing.T) {
	for _, name := range []string{"rsa2048", "p256", "xwing"} {
		k := testKey(t, name)
		needles := secretNeedles(k)
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
			out := fmt.Sprintf(verb, k)
			assertNoSecret(t, name+" formatted with "+verb, out, needles)
			if !strings.Contains(out, "redacted") {
				t.Errorf("%s formatted with %s = %q, want a redacted rendering", name, verb, out)
			}
		}
		out := fmt.Sprintf("%v", struct{ Key *PrivateKey }{k})
		assertNoSecret(t, "struct holding the key", out, needles)

		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("key loaded", "key", k)
		assertNoSecret(t, "slog output", buf.String(), needles)
		if !strings.Contains(buf.String(), k.Public().Fingerprint()) {
			t.Errorf("slog output %s lacks the fingerprint", buf.String())
		}
	}
}
