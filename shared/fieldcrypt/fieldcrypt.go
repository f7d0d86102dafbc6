// Package fieldcrypt is the field cryptography shared by the hashing pipeline, the key-generation
// function and the phictl CLI: key parsing and generation, the encrypted token formats, and the
// HMAC-SHA-256 and SHA-256 pseudonyms.
//
// The token formats are a public contract, specified byte by byte in docs/ENCRYPTION.md and
// pinned by the test vectors in testdata/fieldcrypt. Nothing in this package logs, and no error it
// returns contains key material, plaintext or token bytes. Input it refuses is reported as an
// *Error, whose Reason a caller shows to whoever supplied the input.
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
func ParseAlgorithm(s string) (_ Algorithm, err error) {
	defer setOp(&err, "parse algorithm")
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
		return errorf(ErrUnknownAlgorithm, "algorithm is empty (want one of %s, %s, %s)", HPKEP256, HPKEXWing, RSAOAEPSHA256)
	}
	if len(a) > 64 {
		return errorf(ErrUnknownAlgorithm, "algorithm name too long (want one of %s, %s, %s)", HPKEP256, HPKEXWing, RSAOAEPSHA256)
	}
	return errorf(ErrUnknownAlgorithm, "%q (want one of %s, %s, %s)", string(a), HPKEP256, HPKEXWing, RSAOAEPSHA256)
}

// String returns the algorithm's name.
func (a Algorithm) String() string { return string(a) }

// The kinds of error this package returns, each inside an *Error; match them with errors.Is. A
// kind's text is its short name ("invalid key"), which a caller may show before an Error's Reason.
var (
	// ErrUnknownAlgorithm: the algorithm name is not one of Algorithms().
	ErrUnknownAlgorithm = errors.New("unknown algorithm")
	// ErrInvalidKey: a key is malformed, of the wrong type, size or curve, or a private key was
	// given where a public key was expected.
	ErrInvalidKey = errors.New("invalid key")
	// ErrWrongAlgorithm: a key is valid but belongs to another algorithm than the one required.
	ErrWrongAlgorithm = errors.New("key does not match algorithm")
	// ErrInvalidKeyID: a key id is empty, longer than MaxKeyIDLen or not printable ASCII.
	ErrInvalidKeyID = errors.New("invalid key id")
	// ErrTooLarge: the value is longer than the algorithm can encrypt (see Encrypter.MaxPlaintext);
	// the caller must fail closed (drop the field), never send it in clear.
	ErrTooLarge = errors.New("value too large to encrypt")
	// ErrMalformedToken: the text is not a well-formed token of any supported format.
	ErrMalformedToken = errors.New("malformed token")
	// ErrUnknownKey: no private key of the token's algorithm and key id (or RSA modulus size) is
	// held by the Keyring.
	ErrUnknownKey = errors.New("no private key for token")
	// ErrDecrypt: a candidate private key was found but the token does not authenticate under it:
	// the token was altered, or it was made for another key.
	ErrDecrypt = errors.New("token does not decrypt")
	// ErrInvalidHMACKey: an HMAC key is shorter than MinHMACKeyLen.
	ErrInvalidHMACKey = errors.New("invalid HMAC key")
	// ErrInvalidPadding: a padding name is not one ParsePadding knows.
	ErrInvalidPadding = errors.New("invalid padding")
)

// Error is the error this package returns when it refuses its input — an algorithm name, a key, a
// key id, a token or a value — and what a caller reads, with errors.As, to tell the person who
// supplied the input what is wrong. errors.Is(err, e.Kind) holds.
type Error struct {
	// Op is the operation that failed, e.g. "parse public key"; empty for the checks that are
	// operations of their own (ValidateKeyID, Algorithm.Validate).
	Op string
	// Kind is one of the Err* kinds above.
	Kind error
	// Reason says what is wrong and, where it helps, how to fix it, e.g. "this is a certificate;
	// upload its public key …". It is safe to show the caller: it never contains key material,
	// plaintext or token bytes, and text the caller supplied is quoted only bounded.
	Reason string
}

// Error returns "fieldcrypt: " followed by the operation, the kind and the reason.
func (e *Error) Error() string {
	kind := "error"
	if e.Kind != nil {
		kind = e.Kind.Error()
	}
	if e.Op == "" {
		return "fieldcrypt: " + kind + ": " + e.Reason
	}
	return "fieldcrypt: " + e.Op + ": " + kind + ": " + e.Reason
}

// Unwrap returns the kind, so that errors.Is matches it.
func (e *Error) Unwrap() error { return e.Kind }

// errorf returns an *Error of kind with a formatted reason and no operation; the exported function
// that returns it names the operation with setOp.
func errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Reason: fmt.Sprintf(format, args...)}
}

// setOp names op as the operation of *errp when it is an *Error. Exported functions defer it, so
// the error names the operation the caller asked for, not a step inside it.
func setOp(errp *error, op string) {
	if e, ok := (*errp).(*Error); ok && e.Op != op {
		c := *e
		c.Op = op
		*errp = &c
	}
}

// MaxKeyIDLen is the longest key id a token can carry (it is length-prefixed by one byte).
const MaxKeyIDLen = 255

// ValidateKeyID returns nil when id can be carried in a token: 1 to MaxKeyIDLen bytes of printable
// ASCII without spaces (0x21–0x7E). Otherwise it returns an error wrapping ErrInvalidKeyID that
// does not echo the id.
func ValidateKeyID(id string) error {
	if id == "" {
		return errorf(ErrInvalidKeyID, "key id is empty")
	}
	if len(id) > MaxKeyIDLen {
		return errorf(ErrInvalidKeyID, "key id is %d bytes, at most %d allowed", len(id), MaxKeyIDLen)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e {
			return errorf(ErrInvalidKeyID, "key id byte %d is not printable ASCII (0x21-0x7E)", i)
		}
	}
	return nil
}
