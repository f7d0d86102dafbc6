package fieldcrypt

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Keys are generated once per test binary: RSA-4096 generation takes seconds.
var testKeys = sync.OnceValue(func() map[string]*PrivateKey {
	type spec struct {
		name string
		alg  Algorithm
		bits int
	}
	specs := []spec{
		{"rsa2048", RSAOAEPSHA256, 2048},
		{"rsa3072", RSAOAEPSHA256, 3072},
		{"rsa4096", RSAOAEPSHA256, 4096},
		{"rsa2048-other", RSAOAEPSHA256, 2048},
		{"p256", HPKEP256, 0},
		{"p256-other", HPKEP256, 0},
		{"xwing", HPKEXWing, 0},
		{"xwing-other", HPKEXWing, 0},
	}
	keys := make(map[string]*PrivateKey, len(specs))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, s := range specs {
		wg.Go(func() {
			k, err := GenerateKeyPair(s.alg, s.bits)
			if err != nil {
				panic("generate test key " + s.name + ": " + err.Error())
			}
			mu.Lock()
			keys[s.name] = k
			mu.Unlock()
		})
	}
	wg.Wait()
	return keys
})

func testKey(t testing.TB, name string) *PrivateKey {
	t.Helper()
	k, ok := testKeys()[name]
	if !ok {
		t.Fatalf("no test key %q", name)
	}
	return k
}

func pemOf(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestParseAlgorithm(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Algorithm
		wantErr bool
	}{
		{"rsa-oaep-sha256 is accepted", "rsa-oaep-sha256", RSAOAEPSHA256, false},
		{"hpke-p256 is accepted", "hpke-p256", HPKEP256, false},
		{"hpke-xwing is accepted", "hpke-xwing", HPKEXWing, false},
		{"an empty name is refused rather than defaulted", "", "", true},
		{"names are case sensitive", "HPKE-P256", "", true},
		{"an unknown name is refused", "rsa-pkcs1", "", true},
		{"a very long name is refused without echoing it", strings.Repeat("a", 500), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAlgorithm(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrUnknownAlgorithm) {
					t.Fatalf("ParseAlgorithm(%.20q) error = %v, want ErrUnknownAlgorithm", tt.in, err)
				}
				if len(err.Error()) > 200 {
					t.Errorf("error message is %d bytes long; it should not echo long input", len(err.Error()))
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseAlgorithm(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
	if DefaultAlgorithm != HPKEP256 || Algorithms()[0] != DefaultAlgorithm {
		t.Errorf("default algorithm is %q, Algorithms()[0] = %q; want hpke-p256 first", DefaultAlgorithm, Algorithms()[0])
	}
}

func TestValidateKeyID(t *testing.T) {
	tests := []struct {
		name string
		id   string
		ok   bool
	}{
		{"a UUID is valid", "0b9d1c5e-7a3f-4c57-9d8e-3f0e2f6b1a22", true},
		{"one character is valid", "k", true},
		{"255 bytes is valid", strings.Repeat("k", 255), true},
		{"empty is invalid", "", false},
		{"256 bytes is invalid", strings.Repeat("k", 256), false},
		{"a space is invalid", "key 1", false},
		{"a newline is invalid", "key\n1", false},
		{"non-ASCII is invalid", "clé", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateKeyID(tt.id)
			if tt.ok != (err == nil) {
				t.Fatalf("ValidateKeyID = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidKeyID) {
				t.Fatalf("error %v does not wrap ErrInvalidKeyID", err)
			}
		})
	}
}

func TestParsePublicKeyAcceptsEverySupportedKey(t *testing.T) {
	for _, name := range []string{"rsa2048", "rsa3072", "rsa4096", "p256", "xwing"} {
		t.Run(name, func(t *testing.T) {
			priv := testKey(t, name)
			pub, err := ParsePublicKey(priv.Public().PEM())
			if err != nil {
				t.Fatalf("ParsePublicKey: %v", err)
			}
			if !pub.Equal(priv.Public()) || pub.Algorithm() != priv.Algorithm() {
				t.Fatalf("parsed key %v differs from generated %v", pub, priv.Public())
			}
			if _, err := ParsePublicKeyFor(priv.Algorithm(), priv.Public().PEM()); err != nil {
				t.Fatalf("ParsePublicKeyFor(%s): %v", priv.Algorithm(), err)
			}
			back, err := ParsePrivateKey(priv.PEM())
			if err != nil {
				t.Fatalf("ParsePrivateKey: %v", err)
			}
			if !back.Public().Equal(pub) || !bytes.Equal(back.PEM(), priv.PEM()) {
				t.Fatal("private key does not survive a PEM round trip")
			}
		})
	}
}

// TestBringYourOwnKeyValidation is the table an upload handler relies on.
func TestBringYourOwnKeyValidation(t *testing.T) {
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	rsa1024DER, _ := x509.MarshalPKIXPublicKey(&rsa1024.PublicKey)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384DER, _ := x509.MarshalPKIXPublicKey(&p384.PublicKey)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	edDER, _ := x509.MarshalPKIXPublicKey(edPub)
	x25519, _ := ecdh.X25519().GenerateKey(rand.Reader)
	x25519DER, _ := x509.MarshalPKIXPublicKey(x25519.PublicKey())
	e3 := *testKey(t, "rsa2048").rsa.Public().(*rsa.PublicKey)
	e3.E = 3
	e3DER, _ := x509.MarshalPKIXPublicKey(&e3)
	shortXWing := testKey(t, "xwing").Public().DER()
	shortXWing = append(shortXWing[:len(shortXWing)-1:len(shortXWing)-1], []byte{}...)
	cert := selfSignedCert(t)
	p256 := testKey(t, "p256")

	tests := []struct {
		name    string
		alg     Algorithm
		pem     []byte
		wantErr error
		hint    string // must appear in the message so the owner knows what to fix
	}{
		{"an RSA key uploaded for hpke-p256 is the wrong algorithm", HPKEP256, testKey(t, "rsa2048").Public().PEM(), ErrWrongAlgorithm, "rsa-oaep-sha256"},
		{"a P-256 key uploaded for rsa-oaep-sha256 is the wrong algorithm", RSAOAEPSHA256, p256.Public().PEM(), ErrWrongAlgorithm, "hpke-p256"},
		{"an X-Wing key uploaded for hpke-p256 is the wrong algorithm", HPKEP256, testKey(t, "xwing").Public().PEM(), ErrWrongAlgorithm, "hpke-xwing"},
		{"RSA 1024 is too small", RSAOAEPSHA256, pemOf("PUBLIC KEY", rsa1024DER), ErrInvalidKey, "1024"},
		{"an RSA exponent other than 65537 is refused", RSAOAEPSHA256, pemOf("PUBLIC KEY", e3DER), ErrInvalidKey, "65537"},
		{"P-384 is the wrong curve", HPKEP256, pemOf("PUBLIC KEY", p384DER), ErrInvalidKey, "P-384"},
		{"Ed25519 is not supported", HPKEP256, pemOf("PUBLIC KEY", edDER), ErrInvalidKey, "Ed25519"},
		{"X25519 is not supported", HPKEP256, pemOf("PUBLIC KEY", x25519DER), ErrInvalidKey, "X25519"},
		{"a truncated X-Wing key is refused", HPKEXWing, pemOf("PUBLIC KEY", shortXWing), ErrInvalidKey, "SubjectPublicKeyInfo"},
		{"garbage is not PEM", HPKEP256, []byte("hello, this is not a key"), ErrInvalidKey, "no PEM block"},
		{"an empty upload is refused", HPKEP256, nil, ErrInvalidKey, "empty"},
		{"a PEM with garbage DER is refused", HPKEP256, pemOf("PUBLIC KEY", []byte("garbage")), ErrInvalidKey, "SubjectPublicKeyInfo"},
		{"a private key uploaded as the public key is refused", HPKEP256, p256.PEM(), ErrInvalidKey, "private key"},
		{"an RSA PKCS#1 private key uploaded as the public key is refused", RSAOAEPSHA256, pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(testKey(t, "rsa2048").rsa)), ErrInvalidKey, "private key"},
		{"a certificate is refused with a hint", HPKEP256, cert, ErrInvalidKey, "certificate"},
		{"an unknown algorithm is refused", "rsa-pkcs1", p256.Public().PEM(), ErrUnknownAlgorithm, "rsa-pkcs1"},
		{"an oversize upload is refused", HPKEP256, bytes.Repeat([]byte("A"), 100<<10), ErrInvalidKey, "bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub, err := ParsePublicKeyFor(tt.alg, tt.pem)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ParsePublicKeyFor = %v, %v; want error wrapping %v", pub, err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.hint) {
				t.Errorf("error %q does not mention %q", err, tt.hint)
			}
		})
	}

	t.Run("a PKCS#1 RSA PUBLIC KEY block is accepted and re-encoded as SPKI", func(t *testing.T) {
		k := testKey(t, "rsa2048")
		pub, err := ParsePublicKey(pemOf("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)))
		if err != nil {
			t.Fatal(err)
		}
		if !pub.Equal(k.Public()) {
			t.Fatal("PKCS#1 public key parsed to a different key")
		}
	})
}

func selfSignedCert(t *testing.T) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return pemOf("CERTIFICATE", der)
}

func TestParsePrivateKeyFormats(t *testing.T) {
	rsaKey := testKey(t, "rsa2048")
	p256 := testKey(t, "p256")
	sec1, err := x509.MarshalECPrivateKey(mustECDSA(t, p256))
	if err != nil {
		t.Fatal(err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384DER, _ := x509.MarshalPKCS8PrivateKey(p384)
	tests := []struct {
		name    string
		pem     []byte
		want    *PublicKey
		wantErr string
	}{
		{"PKCS#8 RSA", rsaKey.PEM(), rsaKey.Public(), ""},
		{"PKCS#1 RSA PRIVATE KEY", pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey.rsa)), rsaKey.Public(), ""},
		{"PKCS#8 P-256", p256.PEM(), p256.Public(), ""},
		{"SEC 1 EC PRIVATE KEY after EC PARAMETERS", append(pemOf("EC PARAMETERS", []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}), pemOf("EC PRIVATE KEY", sec1)...), p256.Public(), ""},
		{"PKCS#8 X-Wing seed", testKey(t, "xwing").PEM(), testKey(t, "xwing").Public(), ""},
		{"a public key is refused", p256.Public().PEM(), nil, "public key"},
		{"a password-protected key is refused with a hint", pemOf("ENCRYPTED PRIVATE KEY", []byte{1, 2, 3}), nil, "password"},
		{"a P-384 key is refused", pemOf("PRIVATE KEY", p384DER), nil, "P-384"},
		{"garbage DER is refused", pemOf("PRIVATE KEY", []byte("not der")), nil, "PKCS#8"},
		{"text without PEM is refused", []byte("nope"), nil, "no PEM block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParsePrivateKey(tt.pem)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrInvalidKey) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParsePrivateKey error = %v, want ErrInvalidKey mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !k.Public().Equal(tt.want) {
				t.Fatal("parsed private key has a different public key")
			}
		})
	}
}

func mustECDSA(t *testing.T, k *PrivateKey) *ecdsa.PrivateKey {
	t.Helper()
	block, _ := pem.Decode(k.PEM())
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return parsed.(*ecdsa.PrivateKey)
}

// TestKMSDEROutputsConvertToPEM feeds the encodings KMS GenerateDataKeyPair returns (PKCS#8 and
// SPKI DER, produced here by crypto/x509 as local-kms does) through the converters.
func TestKMSDEROutputsConvertToPEM(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, tc := range []struct {
		name string
		priv any
		pub  any
		alg  Algorithm
	}{
		{"RSA_2048", rsaKey, &rsaKey.PublicKey, RSAOAEPSHA256},
		{"ECC_NIST_P256", ecKey, &ecKey.PublicKey, HPKEP256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			privDER, _ := x509.MarshalPKCS8PrivateKey(tc.priv)
			pubDER, _ := x509.MarshalPKIXPublicKey(tc.pub)
			privPEM, err := PrivateKeyPEM(privDER)
			if err != nil {
				t.Fatal(err)
			}
			pubPEM, err := PublicKeyPEM(pubDER)
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := pem.Decode(privPEM); b == nil || b.Type != "PRIVATE KEY" || !bytes.Equal(b.Bytes, privDER) {
				t.Fatal("private PEM does not hold the KMS PKCS#8 DER")
			}
			if b, _ := pem.Decode(pubPEM); b == nil || b.Type != "PUBLIC KEY" || !bytes.Equal(b.Bytes, pubDER) {
				t.Fatal("public PEM does not hold the KMS SPKI DER")
			}
			priv, err := ParsePrivateKeyDER(privDER)
			if err != nil {
				t.Fatal(err)
			}
			pub, err := ParsePublicKeyDER(pubDER)
			if err != nil {
				t.Fatal(err)
			}
			if priv.Algorithm() != tc.alg || !priv.Public().Equal(pub) {
				t.Fatalf("KMS key pair parsed as %s, public keys equal=%v", priv.Algorithm(), priv.Public().Equal(pub))
			}
		})
	}
	if _, err := PrivateKeyPEM(nil); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("PrivateKeyPEM(nil) error = %v, want ErrInvalidKey", err)
	}
	if _, err := PublicKeyPEM([]byte{0x30, 0x00}); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("PublicKeyPEM(empty sequence) error = %v, want ErrInvalidKey", err)
	}
}

func TestFingerprintIsSHA256OfSPKI(t *testing.T) {
	for _, name := range []string{"rsa2048", "p256", "xwing"} {
		pub := testKey(t, name).Public()
		block, _ := pem.Decode(pub.PEM())
		sum := sha256.Sum256(block.Bytes)
		want := "SHA256:" + strings.TrimRight(base64.StdEncoding.EncodeToString(sum[:]), "=")
		if got := pub.Fingerprint(); got != want {
			t.Errorf("%s fingerprint = %s, want %s", name, got, want)
		}
	}
	if testKey(t, "p256").Public().Fingerprint() == testKey(t, "p256-other").Public().Fingerprint() {
		t.Error("two different keys have the same fingerprint")
	}
}

// TestXWingEncodings pins the documented X-Wing encodings: SPKI and PKCS#8 under id-XWing with
// absent parameters, the 1216-byte public key and the 32-byte seed as raw contents.
func TestXWingEncodings(t *testing.T) {
	seed, _ := hex.DecodeString("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	k, err := XWingKeyFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := XWingKeyFromSeed(seed)
	if !k.Public().Equal(again.Public()) {
		t.Fatal("the same seed derived two different key pairs")
	}
	oid := "060b2b0601040183e62d81c87a" // 1.3.6.1.4.1.62253.25722
	spki := hex.EncodeToString(k.Public().DER())
	if wantPrefix := "308204d4300d" + oid + "038204c100"; !strings.HasPrefix(spki, wantPrefix) || len(spki) != 2*(24+XWingPublicKeyLen) {
		t.Fatalf("X-Wing SPKI = %s…, want prefix %s and %d bytes", spki[:60], wantPrefix, 24+XWingPublicKeyLen)
	}
	block, _ := pem.Decode(k.PEM())
	if got, want := hex.EncodeToString(block.Bytes), "3034020100300d"+oid+"0420"+hex.EncodeToString(seed); got != want {
		t.Fatalf("X-Wing PKCS#8 = %s, want %s", got, want)
	}
	for _, bad := range [][]byte{nil, seed[:31], append(bytes.Clone(seed), 0)} {
		if _, err := XWingKeyFromSeed(bad); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("XWingKeyFromSeed(%d bytes) error = %v, want ErrInvalidKey", len(bad), err)
		}
	}
}

func TestGenerateKeyPairArguments(t *testing.T) {
	if _, err := GenerateKeyPair(RSAOAEPSHA256, 1024); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("RSA-1024 generation error = %v, want ErrInvalidKey", err)
	}
	if _, err := GenerateKeyPair("dsa", 0); !errors.Is(err, ErrUnknownAlgorithm) {
		t.Errorf("unknown algorithm generation error = %v, want ErrUnknownAlgorithm", err)
	}
	if k := testKey(t, "rsa3072"); k.Public().Bits() != 3072 {
		t.Errorf("rsa3072 test key has %d bits", k.Public().Bits())
	}
}

func TestKMSKeyPairSpec(t *testing.T) {
	tests := []struct {
		name    string
		alg     Algorithm
		bits    int
		want    string
		wantErr error
	}{
		{"hpke-p256 maps to ECC_NIST_P256", HPKEP256, 0, "ECC_NIST_P256", nil},
		{"hpke-xwing has no KMS key pair spec", HPKEXWing, 0, "", nil},
		{"RSA 2048", RSAOAEPSHA256, 2048, "RSA_2048", nil},
		{"RSA 4096", RSAOAEPSHA256, 4096, "RSA_4096", nil},
		{"RSA with no size uses the default", RSAOAEPSHA256, 0, "RSA_3072", nil},
		{"RSA 1024 is refused", RSAOAEPSHA256, 1024, "", ErrInvalidKey},
		{"an unknown algorithm is refused", "aes", 0, "", ErrUnknownAlgorithm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := KMSKeyPairSpec(tt.alg, tt.bits)
			if got != tt.want || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("KMSKeyPairSpec = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestRSASizesAreDefinedOnceAndListedForMessages(t *testing.T) {
	if got := RSASizes(); !slices.Equal(got, []int{2048, 3072, 4096}) {
		t.Fatalf("RSASizes() = %v", got)
	}
	RSASizes()[0] = 1024 // the caller's copy
	for bits, ok := range map[int]bool{2048: true, 3072: true, 4096: true, 0: false, 1024: false, 8192: false} {
		if ValidRSASize(bits) != ok {
			t.Errorf("ValidRSASize(%d) = %v", bits, !ok)
		}
	}
	if !ValidRSASize(DefaultRSABits) {
		t.Errorf("DefaultRSABits %d is not one of RSASizes", DefaultRSABits)
	}
	for _, tt := range []struct{ got, want string }{
		{RSASizeList(), "2048, 3072 or 4096"},
		{listRSASizes("", "and"), "2048, 3072 and 4096"},
		{listRSASizes("-", "or"), "2048-, 3072- or 4096-"},
	} {
		if tt.got != tt.want {
			t.Errorf("list = %q, want %q", tt.got, tt.want)
		}
	}
	if _, err := Inspect(strings.Repeat("A", 100)); err == nil || !strings.Contains(err.Error(), "not the base64 of a 2048-, 3072- or 4096-bit RSA ciphertext") {
		t.Errorf("Inspect(100 bytes) error = %v", err)
	}
}
