package fieldcrypt

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"strings"
	"testing"
)

// TestRefusedInputIsAnErrorWithACallerSafeReason pins what callers (the key import route, phictl)
// rely on: every refusal is an *Error they read with errors.As, naming the operation asked for,
// matching its kind with errors.Is, and carrying a Reason with no package or kind text to strip.
func TestRefusedInputIsAnErrorWithACallerSafeReason(t *testing.T) {
	badSeed, err := asn1.Marshal(struct {
		Version    int
		Algorithm  pkix.AlgorithmIdentifier
		PrivateKey []byte
	}{0, pkix.AlgorithmIdentifier{Algorithm: oidXWing}, make([]byte, XWingSeedLen-1)})
	if err != nil {
		t.Fatal(err)
	}
	var ring Keyring
	tests := []struct {
		name   string
		call   func() error
		op     string
		kind   error
		reason string // a part of the Reason
	}{
		{"a certificate uploaded as a public key", func() error { _, err := ParsePublicKey(selfSignedCert(t)); return err },
			"parse public key", ErrInvalidKey, "this is a certificate"},
		{"a key of another algorithm", func() error {
			_, err := ParsePublicKeyFor(RSAOAEPSHA256, testKey(t, "p256").Public().PEM())
			return err
		}, "parse public key", ErrWrongAlgorithm, "not a rsa-oaep-sha256 key"},
		{"an unknown algorithm asked of ParsePublicKeyFor", func() error { _, err := ParsePublicKeyFor("dsa", nil); return err },
			"parse public key", ErrUnknownAlgorithm, `"dsa"`},
		{"a bad X-Wing seed inside a private key names the parse, not the derivation", func() error {
			_, err := ParsePrivateKeyDER(badSeed)
			return err
		}, "parse private key", ErrInvalidKey, "seed is 31 bytes"},
		{"an RSA size that is not offered", func() error { _, err := GenerateKeyPair(RSAOAEPSHA256, 1024); return err },
			"generate key pair", ErrInvalidKey, "use 2048, 3072 or 4096"},
		{"an unknown algorithm name", func() error { _, err := ParseAlgorithm("dsa"); return err },
			"parse algorithm", ErrUnknownAlgorithm, `"dsa" (want one of`},
		{"Validate is an operation of its own", func() error { return Algorithm("dsa").Validate() },
			"", ErrUnknownAlgorithm, `"dsa"`},
		{"ValidateKeyID is an operation of its own", func() error { return ValidateKeyID("k 1") },
			"", ErrInvalidKeyID, "not printable ASCII"},
		{"a bad key id given to a keyring", func() error { return ring.Add("k 1", testKey(t, "p256")) },
			"add key", ErrInvalidKeyID, "not printable ASCII"},
		{"a corrupt token to inspect", func() error { _, err := Inspect("hpke1.AAAA"); return err },
			"inspect token", ErrMalformedToken, "too short"},
		{"a corrupt token to open", func() error { _, err := ring.Open("hpke1.AAAA"); return err },
			"open token", ErrMalformedToken, "too short"},
		{"a short HMAC key", func() error { _, err := HMAC(nil, []byte("short"), nil); return err },
			"hmac", ErrInvalidHMACKey, "at least 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v (%T), want a *fieldcrypt.Error", err, err)
			}
			if fe.Op != tt.op || fe.Kind != tt.kind || !errors.Is(err, tt.kind) {
				t.Errorf("Op %q, Kind %v; want %q, %v", fe.Op, fe.Kind, tt.op, tt.kind)
			}
			if !strings.Contains(fe.Reason, tt.reason) || strings.Contains(fe.Reason, "fieldcrypt") || strings.HasPrefix(fe.Reason, tt.kind.Error()) {
				t.Errorf("Reason = %q, want it to say %q without package or kind text", fe.Reason, tt.reason)
			}
			want := "fieldcrypt: " + tt.kind.Error() + ": " + fe.Reason
			if tt.op != "" {
				want = "fieldcrypt: " + tt.op + ": " + tt.kind.Error() + ": " + fe.Reason
			}
			if err.Error() != want {
				t.Errorf("Error() = %q, want %q", err, want)
			}
		})
	}
}
