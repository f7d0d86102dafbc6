package fieldcrypt

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hpke"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/phiguard/phiguard/shared/phi"
)

// Key sizes and encodings. See docs/ENCRYPTION.md, "Key encodings".
const (
	// XWingSeedLen is the length of an X-Wing private key: the 32-byte seed from which Go's
	// hpke.MLKEM768X25519().NewPrivateKey (and draft-connolly-cfrg-xwing-kem) expand both halves.
	XWingSeedLen = 32
	// XWingPublicKeyLen is the length of an X-Wing public key: ML-KEM-768 encapsulation key
	// (1184 bytes) followed by the X25519 public key (32 bytes).
	XWingPublicKeyLen = 1216
	// DefaultRSABits is the RSA modulus size GenerateKeyPair uses when asked for 0 bits.
	DefaultRSABits = 3072
	// maxKeyPEMLen bounds the PEM input accepted by the parsers (an RSA-4096 PKCS#8 PEM is ~3.3 kB).
	maxKeyPEMLen = 64 << 10
	// maxQuotedLen bounds the caller text (a PEM block type) an error quotes back.
	maxQuotedLen = 40
)

const (
	pemPublicKey  = "PUBLIC KEY"
	pemPrivateKey = "PRIVATE KEY"
)

// Operations named by the errors of the key parsers.
const (
	opParsePublicKey  = "parse public key"
	opParsePrivateKey = "parse private key"
)

// oidXWing is id-XWing from draft-connolly-cfrg-xwing-kem: 1.3.6.1.4.1.62253.25722.
var oidXWing = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 62253, 25722}

// hpkeKEM returns the HPKE KEM of an HPKE algorithm, nil for RSA.
func (a Algorithm) hpkeKEM() hpke.KEM {
	switch a {
	case HPKEP256:
		return hpke.DHKEM(ecdh.P256())
	case HPKEXWing:
		return hpke.MLKEM768X25519()
	}
	return nil
}

// PublicKey is a validated public key of one Algorithm: RSA (one of RSASizes, e=65537),
// P-256, or X-Wing. It is safe for concurrent use and never changes after parsing.
type PublicKey struct {
	alg  Algorithm
	spki []byte // canonical SubjectPublicKeyInfo DER
	rsa  *rsa.PublicKey
	hpke hpke.PublicKey
}

// Algorithm returns the algorithm the key is for.
func (k *PublicKey) Algorithm() Algorithm { return k.alg }

// Bits returns the RSA modulus size in bits, or 0 for HPKE keys.
func (k *PublicKey) Bits() int {
	if k.rsa == nil {
		return 0
	}
	return k.rsa.N.BitLen()
}

// DER returns a copy of the key's SubjectPublicKeyInfo DER encoding.
func (k *PublicKey) DER() []byte { return bytes.Clone(k.spki) }

// PEM returns the key as a "PUBLIC KEY" PEM block (SubjectPublicKeyInfo).
func (k *PublicKey) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pemPublicKey, Bytes: k.spki})
}

// Fingerprint returns "SHA256:" followed by the unpadded standard base64 of SHA-256 over the
// key's SubjectPublicKeyInfo DER (the OpenSSH fingerprint style).
func (k *PublicKey) Fingerprint() string {
	sum := sha256.Sum256(k.spki)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// Equal reports whether k and o are the same key of the same algorithm. A nil key equals nothing.
func (k *PublicKey) Equal(o *PublicKey) bool {
	return k != nil && o != nil && k.alg == o.alg && bytes.Equal(k.spki, o.spki)
}

// String returns the algorithm and fingerprint, never key bytes.
func (k *PublicKey) String() string {
	if k == nil {
		return "fieldcrypt.PublicKey(nil)"
	}
	return fmt.Sprintf("fieldcrypt.PublicKey(%s %s)", k.alg, k.Fingerprint())
}

// PrivateKey is a private key of one Algorithm, used to decrypt tokens. Its fmt and slog
// renderings are redacted to the algorithm and public fingerprint; only PEM exposes the secret.
type PrivateKey struct {
	alg   Algorithm
	pkcs8 []byte
	rsa   *rsa.PrivateKey
	hpke  hpke.PrivateKey
	pub   *PublicKey
}

// Algorithm returns the algorithm the key is for.
func (k *PrivateKey) Algorithm() Algorithm { return k.alg }

// Public returns the matching public key.
func (k *PrivateKey) Public() *PublicKey { return k.pub }

// PEM returns the secret key as a PKCS#8 "PRIVATE KEY" PEM block. The result is secret: return it
// once, never log or store it.
func (k *PrivateKey) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pemPrivateKey, Bytes: k.pkcs8})
}

// Format redacts the key in every fmt verb, so a stray %v, %x or %#v cannot leak it.
func (k *PrivateKey) Format(f fmt.State, _ rune) {
	if k == nil {
		fmt.Fprint(f, "fieldcrypt.PrivateKey(nil)")
		return
	}
	fmt.Fprintf(f, "fieldcrypt.PrivateKey(%s %s, redacted)", k.alg, k.pub.Fingerprint())
}

// LogValue redacts the key in log/slog output.
func (k *PrivateKey) LogValue() slog.Value {
	return slog.GroupValue(slog.String("algorithm", string(k.alg)), slog.String("fingerprint", k.pub.Fingerprint()), slog.Bool("redacted", true))
}

// ParsePublicKey parses a PEM "PUBLIC KEY" (SubjectPublicKeyInfo) block — or a PKCS#1 "RSA PUBLIC
// KEY" block — and validates it as a key for one of the supported algorithms: RSA of one of
// RSASizes with exponent 65537, an uncompressed P-256 point, or a 1216-byte X-Wing key. It is
// meant for bring-your-own-key uploads: every failure is an *Error of kind ErrInvalidKey whose
// Reason, fit to show the uploader, says what is wrong (not PEM, private key uploaded,
// certificate, wrong type, size or curve).
func ParsePublicKey(pemData []byte) (_ *PublicKey, err error) {
	defer setOp(&err, opParsePublicKey)
	block, err := decodePEM(pemData)
	if err != nil {
		return nil, err
	}
	switch block.Type {
	case pemPublicKey:
		return ParsePublicKeyDER(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, errorf(ErrInvalidKey, "RSA PUBLIC KEY block is not a PKCS#1 RSA public key")
		}
		return newRSAPublicKey(pub)
	case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "OPENSSH PRIVATE KEY":
		return nil, errorf(ErrInvalidKey, "this is a private key (%s); upload only the public key and keep the private key secret", block.Type)
	case "CERTIFICATE":
		return nil, errorf(ErrInvalidKey, "this is a certificate; upload its public key as a PEM \"PUBLIC KEY\" block (openssl x509 -pubkey -noout)")
	default:
		return nil, errorf(ErrInvalidKey, "PEM block type %q is not a public key; want \"PUBLIC KEY\"", phi.Clip(block.Type, maxQuotedLen))
	}
}

// ParsePublicKeyFor parses like ParsePublicKey and also requires the key to be for alg. A valid key
// of another algorithm returns an *Error of kind ErrWrongAlgorithm.
func ParsePublicKeyFor(alg Algorithm, pemData []byte) (_ *PublicKey, err error) {
	defer setOp(&err, opParsePublicKey)
	if err := alg.Validate(); err != nil {
		return nil, err
	}
	pub, err := ParsePublicKey(pemData)
	if err != nil {
		return nil, err
	}
	if pub.alg != alg {
		return nil, errorf(ErrWrongAlgorithm, "the key is a %s key (%s), not a %s key", pub.alg, pub.describe(), alg)
	}
	return pub, nil
}

// ParsePublicKeyDER parses and validates a SubjectPublicKeyInfo DER encoding, such as the
// PublicKey field of KMS GenerateDataKeyPair for RSA_2048/3072/4096 and ECC_NIST_P256. Failures
// wrap ErrInvalidKey.
func ParsePublicKeyDER(spki []byte) (_ *PublicKey, err error) {
	defer setOp(&err, opParsePublicKey)
	if len(spki) == 0 {
		return nil, errorf(ErrInvalidKey, "public key is empty")
	}
	var info struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if rest, err := asn1.Unmarshal(spki, &info); err != nil || len(rest) != 0 {
		return nil, errorf(ErrInvalidKey, "not a DER SubjectPublicKeyInfo")
	}
	if info.Algorithm.Algorithm.Equal(oidXWing) {
		if len(info.Algorithm.Parameters.FullBytes) != 0 {
			return nil, errorf(ErrInvalidKey, "X-Wing AlgorithmIdentifier must have no parameters")
		}
		if info.PublicKey.BitLength != 8*XWingPublicKeyLen {
			return nil, errorf(ErrInvalidKey, "X-Wing public key is %d bits, want %d bytes", info.PublicKey.BitLength, XWingPublicKeyLen)
		}
		return newXWingPublicKey(info.PublicKey.Bytes)
	}
	parsed, err := x509.ParsePKIXPublicKey(spki)
	if err != nil {
		// x509's messages name the unsupported algorithm or curve and never contain key bytes.
		return nil, errorf(ErrInvalidKey, "unsupported public key: %v", err)
	}
	switch pub := parsed.(type) {
	case *rsa.PublicKey:
		return newRSAPublicKey(pub)
	case *ecdsa.PublicKey:
		return newP256PublicKey(pub)
	case ed25519.PublicKey:
		return nil, errorf(ErrInvalidKey, "Ed25519 keys are not supported; use P-256 (hpke-p256), X-Wing (hpke-xwing) or RSA (rsa-oaep-sha256)")
	case *ecdh.PublicKey:
		return nil, errorf(ErrInvalidKey, "%s keys are not supported; use P-256 (hpke-p256), X-Wing (hpke-xwing) or RSA (rsa-oaep-sha256)", pub.Curve())
	default:
		return nil, errorf(ErrInvalidKey, "unsupported public key type %T", parsed)
	}
}

// PublicKeyPEM validates a SubjectPublicKeyInfo DER encoding (KMS GenerateDataKeyPair's
// PublicKey) and returns it as a "PUBLIC KEY" PEM block. Failures wrap ErrInvalidKey.
func PublicKeyPEM(spki []byte) (_ []byte, err error) {
	defer setOp(&err, opParsePublicKey)
	pub, err := ParsePublicKeyDER(spki)
	if err != nil {
		return nil, err
	}
	return pub.PEM(), nil
}

// ParsePrivateKey parses a private key PEM for decryption: PKCS#8 "PRIVATE KEY" (any of the three
// algorithms), or the legacy "RSA PRIVATE KEY" (PKCS#1) and "EC PRIVATE KEY" (SEC 1) blocks; "EC
// PARAMETERS" blocks before the key are skipped. The key must satisfy the same algorithm, size and
// curve rules as ParsePublicKey. Failures wrap ErrInvalidKey and never contain key bytes.
func ParsePrivateKey(pemData []byte) (_ *PrivateKey, err error) {
	defer setOp(&err, opParsePrivateKey)
	block, err := decodePEM(pemData)
	if err != nil {
		return nil, err
	}
	switch block.Type {
	case pemPrivateKey:
		return ParsePrivateKeyDER(block.Bytes)
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, errorf(ErrInvalidKey, "RSA PRIVATE KEY block is not a valid PKCS#1 RSA private key")
		}
		return newRSAPrivateKey(k)
	case "EC PRIVATE KEY":
		k, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, errorf(ErrInvalidKey, "EC PRIVATE KEY block is not a valid SEC 1 EC private key")
		}
		return newP256PrivateKey(k)
	case "ENCRYPTED PRIVATE KEY":
		return nil, errorf(ErrInvalidKey, "the private key is password-protected; decrypt it first (openssl pkcs8 -in KEY -out PLAIN)")
	case pemPublicKey, "RSA PUBLIC KEY":
		return nil, errorf(ErrInvalidKey, "this is a public key; decryption needs the private key")
	default:
		return nil, errorf(ErrInvalidKey, "PEM block type %q is not a private key; want \"PRIVATE KEY\"", phi.Clip(block.Type, maxQuotedLen))
	}
}

// ParsePrivateKeyDER parses and validates a PKCS#8 PrivateKeyInfo DER encoding, such as the
// PrivateKeyPlaintext field of KMS GenerateDataKeyPair. Failures wrap ErrInvalidKey and never
// contain key bytes.
func ParsePrivateKeyDER(pkcs8 []byte) (_ *PrivateKey, err error) {
	defer setOp(&err, opParsePrivateKey)
	if len(pkcs8) == 0 {
		return nil, errorf(ErrInvalidKey, "private key is empty")
	}
	var info struct {
		Version    int
		Algorithm  pkix.AlgorithmIdentifier
		PrivateKey []byte
	}
	rest, err := asn1.Unmarshal(pkcs8, &info)
	if err != nil {
		return nil, errorf(ErrInvalidKey, "not a DER PKCS#8 PrivateKeyInfo")
	}
	if info.Algorithm.Algorithm.Equal(oidXWing) {
		if len(rest) != 0 {
			return nil, errorf(ErrInvalidKey, "trailing data after the PKCS#8 PrivateKeyInfo")
		}
		if info.Version != 0 && info.Version != 1 {
			return nil, errorf(ErrInvalidKey, "unsupported PKCS#8 version %d", info.Version)
		}
		if len(info.Algorithm.Parameters.FullBytes) != 0 {
			return nil, errorf(ErrInvalidKey, "X-Wing AlgorithmIdentifier must have no parameters")
		}
		return XWingKeyFromSeed(info.PrivateKey)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(pkcs8)
	if err != nil {
		return nil, errorf(ErrInvalidKey, "unsupported or malformed PKCS#8 private key")
	}
	switch k := parsed.(type) {
	case *rsa.PrivateKey:
		return newRSAPrivateKey(k)
	case *ecdsa.PrivateKey:
		return newP256PrivateKey(k)
	case *ecdh.PrivateKey:
		return nil, errorf(ErrInvalidKey, "%s private keys are not supported", k.Curve())
	default:
		return nil, errorf(ErrInvalidKey, "unsupported private key type %T", parsed)
	}
}

// PrivateKeyPEM validates a PKCS#8 DER private key (KMS GenerateDataKeyPair's
// PrivateKeyPlaintext) and returns it as a "PRIVATE KEY" PEM block. The result is secret. Failures
// wrap ErrInvalidKey and never contain key bytes.
func PrivateKeyPEM(pkcs8 []byte) (_ []byte, err error) {
	defer setOp(&err, opParsePrivateKey)
	k, err := ParsePrivateKeyDER(pkcs8)
	if err != nil {
		return nil, err
	}
	return k.PEM(), nil
}

// GenerateKeyPair generates a key pair for alg from the operating system's secure randomness (as
// Go 1.26 always does; tests make it deterministic with testing/cryptotest.SetGlobalRandom). For
// RSA, rsaBits must be one of RSASizes, or 0 for DefaultRSABits; HPKE algorithms ignore it.
// It returns an error wrapping ErrUnknownAlgorithm or ErrInvalidKey on bad arguments.
func GenerateKeyPair(alg Algorithm, rsaBits int) (_ *PrivateKey, err error) {
	defer setOp(&err, "generate key pair")
	if err := alg.Validate(); err != nil {
		return nil, err
	}
	switch alg {
	case RSAOAEPSHA256:
		if rsaBits == 0 {
			rsaBits = DefaultRSABits
		}
		if !ValidRSASize(rsaBits) {
			return nil, errorf(ErrInvalidKey, "RSA size %d bits is not supported; use %s", rsaBits, RSASizeList())
		}
		k, err := rsa.GenerateKey(nil, rsaBits) // Go 1.26 ignores the reader and uses crypto/rand
		if err != nil {
			return nil, fmt.Errorf("generate RSA-%d key: %w", rsaBits, err)
		}
		return newRSAPrivateKey(k)
	case HPKEP256:
		k, err := ecdh.P256().GenerateKey(nil)
		if err != nil {
			return nil, fmt.Errorf("generate P-256 key: %w", err)
		}
		return newECDHP256PrivateKey(k)
	default: // HPKEXWing
		k, err := hpke.MLKEM768X25519().GenerateKey()
		if err != nil {
			return nil, fmt.Errorf("generate X-Wing key: %w", err)
		}
		seed, err := k.Bytes()
		if err != nil {
			return nil, fmt.Errorf("generate X-Wing key: %w", err)
		}
		return XWingKeyFromSeed(seed)
	}
}

// XWingKeyFromSeed derives the hpke-xwing key pair from a 32-byte seed, exactly as
// hpke.MLKEM768X25519().NewPrivateKey and draft-connolly-cfrg-xwing-kem do (SHAKE-256 expansion
// into the ML-KEM-768 and X25519 keys). The key-generation function calls it with 32 bytes from KMS
// GenerateRandom. The seed is the private key: it is what PEM returns inside PKCS#8. A seed of any
// other length returns an error wrapping ErrInvalidKey.
func XWingKeyFromSeed(seed []byte) (_ *PrivateKey, err error) {
	defer setOp(&err, "derive X-Wing key")
	if len(seed) != XWingSeedLen {
		return nil, errorf(ErrInvalidKey, "X-Wing private key seed is %d bytes, want %d", len(seed), XWingSeedLen)
	}
	k, err := hpke.MLKEM768X25519().NewPrivateKey(seed)
	if err != nil {
		return nil, errorf(ErrInvalidKey, "X-Wing private key seed rejected")
	}
	pub, err := newXWingPublicKey(k.PublicKey().Bytes())
	if err != nil {
		return nil, err
	}
	der, err := asn1.Marshal(struct {
		Version    int
		Algorithm  pkix.AlgorithmIdentifier
		PrivateKey []byte
	}{0, pkix.AlgorithmIdentifier{Algorithm: oidXWing}, seed})
	if err != nil {
		return nil, fmt.Errorf("encode X-Wing private key: %w", err)
	}
	return &PrivateKey{alg: HPKEXWing, pkcs8: der, hpke: k, pub: pub}, nil
}

// KMSKeyPairSpec returns the KMS GenerateDataKeyPair KeyPairSpec for alg: "ECC_NIST_P256" for
// hpke-p256, "RSA_2048", "RSA_3072" or "RSA_4096" for rsa-oaep-sha256 (rsaBits 0 means
// DefaultRSABits). For hpke-xwing, which KMS cannot generate, it returns "" and nil: generate 32
// bytes with KMS GenerateRandom and call XWingKeyFromSeed. It returns an error wrapping
// ErrUnknownAlgorithm or ErrInvalidKey (unsupported RSA size) otherwise.
func KMSKeyPairSpec(alg Algorithm, rsaBits int) (_ string, err error) {
	defer setOp(&err, "KMS key pair spec")
	if err := alg.Validate(); err != nil {
		return "", err
	}
	switch alg {
	case HPKEP256:
		return "ECC_NIST_P256", nil
	case HPKEXWing:
		return "", nil
	}
	if rsaBits == 0 {
		rsaBits = DefaultRSABits
	}
	if !ValidRSASize(rsaBits) {
		return "", errorf(ErrInvalidKey, "RSA size %d bits is not supported; use %s", rsaBits, RSASizeList())
	}
	return fmt.Sprintf("RSA_%d", rsaBits), nil
}

// rsaSizes are the RSA modulus sizes of RSASizes, smallest first.
var rsaSizes = []int{2048, 3072, 4096}

// RSASizes returns the RSA modulus sizes, in bits, that keys may have, smallest first: 2048, 3072
// and 4096, the sizes KMS GenerateDataKeyPair offers. The slice is the caller's to change.
func RSASizes() []int { return slices.Clone(rsaSizes) }

// ValidRSASize reports whether bits is one of RSASizes.
func ValidRSASize(bits int) bool { return slices.Contains(rsaSizes, bits) }

// RSASizeList returns RSASizes as a list for messages: "2048, 3072 or 4096".
func RSASizeList() string { return listRSASizes("", "or") }

// listRSASizes writes RSASizes for a message, each followed by suffix and the last after conj:
// ("", "and") gives "2048, 3072 and 4096", ("-", "or") gives "2048-, 3072- or 4096-".
func listRSASizes(suffix, conj string) string {
	var b strings.Builder
	for i, n := range rsaSizes {
		switch {
		case i == len(rsaSizes)-1 && i > 0:
			b.WriteString(" " + conj + " ")
		case i > 0:
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(n) + suffix)
	}
	return b.String()
}

func checkRSA(pub *rsa.PublicKey) error {
	if bits := pub.N.BitLen(); !ValidRSASize(bits) {
		return errorf(ErrInvalidKey, "RSA key is %d bits; only %s are supported", bits, listRSASizes("", "and"))
	}
	if pub.E != 65537 {
		return errorf(ErrInvalidKey, "RSA public exponent must be 65537")
	}
	return nil
}

func newRSAPublicKey(pub *rsa.PublicKey) (*PublicKey, error) {
	if err := checkRSA(pub); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, errorf(ErrInvalidKey, "encode RSA public key: %v", err)
	}
	return &PublicKey{alg: RSAOAEPSHA256, spki: der, rsa: pub}, nil
}

func newRSAPrivateKey(k *rsa.PrivateKey) (*PrivateKey, error) {
	pub, err := newRSAPublicKey(&k.PublicKey)
	if err != nil {
		return nil, err
	}
	if err := k.Validate(); err != nil {
		return nil, errorf(ErrInvalidKey, "RSA private key is inconsistent")
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, errorf(ErrInvalidKey, "RSA private key cannot be encoded as PKCS#8")
	}
	return &PrivateKey{alg: RSAOAEPSHA256, pkcs8: der, rsa: k, pub: pub}, nil
}

func curveName(c elliptic.Curve) string {
	if c == nil || c.Params() == nil {
		return "unknown curve"
	}
	return c.Params().Name
}

func newP256PublicKey(pub *ecdsa.PublicKey) (*PublicKey, error) {
	if pub.Curve != elliptic.P256() {
		return nil, errorf(ErrInvalidKey, "EC key is on %s; only P-256 (prime256v1, KMS ECC_NIST_P256) is supported", curveName(pub.Curve))
	}
	ek, err := pub.ECDH()
	if err != nil {
		return nil, errorf(ErrInvalidKey, "P-256 public key is not a valid point")
	}
	return newECDHP256PublicKey(ek)
}

func newECDHP256PublicKey(ek *ecdh.PublicKey) (*PublicKey, error) {
	hk, err := hpke.NewDHKEMPublicKey(ek)
	if err != nil {
		return nil, errorf(ErrInvalidKey, "P-256 public key rejected by HPKE")
	}
	der, err := x509.MarshalPKIXPublicKey(ek)
	if err != nil {
		return nil, errorf(ErrInvalidKey, "encode P-256 public key: %v", err)
	}
	return &PublicKey{alg: HPKEP256, spki: der, hpke: hk}, nil
}

func newP256PrivateKey(k *ecdsa.PrivateKey) (*PrivateKey, error) {
	if k.Curve != elliptic.P256() {
		return nil, errorf(ErrInvalidKey, "EC key is on %s; only P-256 (prime256v1, KMS ECC_NIST_P256) is supported", curveName(k.Curve))
	}
	ek, err := k.ECDH()
	if err != nil {
		return nil, errorf(ErrInvalidKey, "P-256 private key is invalid")
	}
	return newECDHP256PrivateKey(ek)
}

func newECDHP256PrivateKey(ek *ecdh.PrivateKey) (*PrivateKey, error) {
	if ek.Curve() != ecdh.P256() {
		return nil, errorf(ErrInvalidKey, "only P-256 private keys are supported")
	}
	pub, err := newECDHP256PublicKey(ek.PublicKey())
	if err != nil {
		return nil, err
	}
	hk, err := hpke.NewDHKEMPrivateKey(ek)
	if err != nil {
		return nil, errorf(ErrInvalidKey, "P-256 private key rejected by HPKE")
	}
	der, err := x509.MarshalPKCS8PrivateKey(ek)
	if err != nil {
		return nil, errorf(ErrInvalidKey, "P-256 private key cannot be encoded as PKCS#8")
	}
	return &PrivateKey{alg: HPKEP256, pkcs8: der, hpke: hk, pub: pub}, nil
}

func newXWingPublicKey(raw []byte) (*PublicKey, error) {
	hk, err := hpke.MLKEM768X25519().NewPublicKey(raw)
	if err != nil {
		return nil, errorf(ErrInvalidKey, "X-Wing public key rejected (want %d bytes: ML-KEM-768 encapsulation key then X25519 key)", XWingPublicKeyLen)
	}
	der, err := asn1.Marshal(struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}{pkix.AlgorithmIdentifier{Algorithm: oidXWing}, asn1.BitString{Bytes: bytes.Clone(raw), BitLength: 8 * len(raw)}})
	if err != nil {
		return nil, errorf(ErrInvalidKey, "encode X-Wing public key: %v", err)
	}
	return &PublicKey{alg: HPKEXWing, spki: der, hpke: hk}, nil
}

// describe names the key's type and size for error messages.
func (k *PublicKey) describe() string {
	switch k.alg {
	case RSAOAEPSHA256:
		return fmt.Sprintf("RSA-%d", k.Bits())
	case HPKEP256:
		return "P-256"
	default:
		return "X-Wing"
	}
}

// decodePEM returns the first PEM block that is not "EC PARAMETERS", refusing oversize input.
func decodePEM(data []byte) (*pem.Block, error) {
	if len(data) == 0 {
		return nil, errorf(ErrInvalidKey, "key is empty")
	}
	if len(data) > maxKeyPEMLen {
		return nil, errorf(ErrInvalidKey, "key PEM is %d bytes, more than the %d a key can be", len(data), maxKeyPEMLen)
	}
	rest := data
	for {
		block, r := pem.Decode(rest)
		if block == nil {
			return nil, errorf(ErrInvalidKey, "no PEM block found (want text starting with -----BEGIN PUBLIC KEY----- or -----BEGIN PRIVATE KEY-----)")
		}
		if block.Type == "EC PARAMETERS" {
			rest = r
			continue
		}
		return block, nil
	}
}
