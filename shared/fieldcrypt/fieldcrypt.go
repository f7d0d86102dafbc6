// Package fieldcrypt is the field cryptography shared by the hashing pipeline, the key-generation
// function and the phictl CLI: key parsing and generation, the encrypted token formats, and the
// HMAC-SHA-256 and SHA-256 pseudonyms.
//
// The token formats are a public contract, specified byte by byte in docs/ENCRYPTION.md and
// pinned by the test vectors in testdata/fieldcrypt. Nothing in this package logs, and no error it
// returns contains key material, plaintext or token bytes.
package fieldcrypt

import (
	"errors"
	"fmt"
)

// Algorithm names an encryption algorithm a destination's key pair is generated for.
type Algorithm string

// The supported algorithms. Their token formats are specified in docs/ENCRYPTION.md.
const (
	// RSAOAEPSHA256 produces tokens that are exactly standard base64 of
	// RSAES-OAEP(SHA-256, MGF1-SHA-256, empty label) of the value, for compatibility with
	// existing OpenSSL and Python decryption code.
	RSAOAEPSHA256 Algorithm = "rsa-oaep-sha256"
	// HPKEP256 is RFC 9180 HPKE with DHKEM(P-256, HKDF-SHA256), HKDF-SHA256 and AES-256-GCM.
	HPKEP256 Algorithm = "hpke-p256"
	// HPKEXWing is RFC 9180 HPKE with the X-Wing (MLKEM768-X25519) hybrid post-quantum KEM,
	// HKDF-SHA256 and AES-256-GCM.
	HPKEXWing Algorithm = "hpke-xwing"
)

// DefaultAlgorithm is the algorithm used when a caller does not choose one.
const DefaultAlgorithm = HPKEP256

// Algorithms returns every supported algorithm, default first.
func Algorithms() []Algorithm {
	return []Algorithm{HPKEP256, HPKEXWing, RSAOAEPSHA256}
}

// ParseAlgorithm returns the Algorithm named s. It is strict: an empty or unknown name returns an
// error wrapping ErrUnknownAlgorithm (callers that want a default apply DefaultAlgorithm first).
func ParseAlgorithm(s string) (Algorithm, error) {
	a := Algorithm(s)
	if err := a.Validate(); err != nil {
		return "", err
	}
	return a, nil
}

// Validate returns nil for a supported algorithm and an error wrapping ErrUnknownAlgorithm
// otherwise.
func (a Algorithm) Validate() error {
	switch a {
	case RSAOAEPSHA256, HPKEP256, HPKEXWing:
		return nil
	case "":
		return fmt.Errorf("%w: algorithm is empty (want one of %s, %s, %s)", ErrUnknownAlgorithm, HPKEP256, HPKEXWing, RSAOAEPSHA256)
	}
	if len(a) > 64 {
		return fmt.Errorf("%w: algorithm name too long (want one of %s, %s, %s)", ErrUnknownAlgorithm, HPKEP256, HPKEXWing, RSAOAEPSHA256)
	}
	return fmt.Errorf("%w: %q (want one of %s, %s, %s)", ErrUnknownAlgorithm, string(a), HPKEP256, HPKEXWing, RSAOAEPSHA256)
}

// String returns the algorithm's name.
func (a Algorithm) String() string { return string(a) }

// Errors returned by this package, always wrapped with context; match them with errors.Is.
var (
	// ErrUnknownAlgorithm: the algorithm name is not one of Algorithms().
	ErrUnknownAlgorithm = errors.New("fieldcrypt: unknown algorithm")
	// ErrInvalidKey: a key is malformed, of the wrong type, size or curve, or a private key was
	// given where a public key was expected.
	ErrInvalidKey = errors.New("fieldcrypt: invalid key")
	// ErrWrongAlgorithm: a key is valid but belongs to another algorithm than the one required.
	ErrWrongAlgorithm = errors.New("fieldcrypt: key does not match algorithm")
	// ErrInvalidKeyID: a key id is empty, longer than MaxKeyIDLen or not printable ASCII.
	ErrInvalidKeyID = errors.New("fieldcrypt: invalid key id")
	// ErrTooLarge: the value is longer than the algorithm can encrypt (see Encrypter.MaxPlaintext);
	// the caller must fail closed (drop the field), never send it in clear.
	ErrTooLarge = errors.New("fieldcrypt: value too large to encrypt")
	// ErrMalformedToken: the text is not a well-formed token of any supported format.
	ErrMalformedToken = errors.New("fieldcrypt: malformed token")
	// ErrUnknownKey: no private key of the token's algorithm and key id (or RSA modulus size) is
	// held by the Keyring.
	ErrUnknownKey = errors.New("fieldcrypt: no private key for token")
	// ErrDecrypt: a candidate private key was found but the token does not authenticate under it:
	// the token was altered, or it was made for another key.
	ErrDecrypt = errors.New("fieldcrypt: token does not decrypt")
	// ErrInvalidHMACKey: an HMAC key is shorter than MinHMACKeyLen.
	ErrInvalidHMACKey = errors.New("fieldcrypt: invalid HMAC key")
)

// MaxKeyIDLen is the longest key id a token can carry (it is length-prefixed by one byte).
const MaxKeyIDLen = 255

// ValidateKeyID returns nil when id can be carried in a token: 1 to MaxKeyIDLen bytes of printable
// ASCII without spaces (0x21–0x7E). Otherwise it returns an error wrapping ErrInvalidKeyID that
// does not echo the id.
func ValidateKeyID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: key id is empty", ErrInvalidKeyID)
	}
	if len(id) > MaxKeyIDLen {
		return fmt.Errorf("%w: key id is %d bytes, at most %d allowed", ErrInvalidKeyID, len(id), MaxKeyIDLen)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e {
			return fmt.Errorf("%w: key id byte %d is not printable ASCII (0x21-0x7E)", ErrInvalidKeyID, i)
		}
	}
	return nil
}
