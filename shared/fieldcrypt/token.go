package fieldcrypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hpke"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
)

// The HPKE token formats. docs/ENCRYPTION.md specifies them byte by byte; keep both in step.
//
//	token = "hpke2." || base64url-nopad(B)          (version 1: "hpke1.")
//	B     = version(1) || alg(1) || len(keyID)(1) || keyID || len(enc)(2, big endian) || enc ||
//	        nonce(12) || AES-256-GCM ciphertext of P || tag(16)
//	P     = value || type(1) || 0x00...             (version 1: P = value)
//	AAD   = B up to and including enc (the "header")
//	info  = "phiguard/fieldcrypt/v1" || B[0 : 3+len(keyID)]
//	key   = HPKE Export("phiguard/fieldcrypt/v1 field key", 32)
//
// Both versions share the labels: the version byte, which info and the AAD both contain,
// separates their keys and ciphertexts.
const (
	// HPKETokenPrefix starts every HPKE token this package makes (version 2). Standard base64 (an
	// RSA token) never contains '.'.
	HPKETokenPrefix = "hpke2."
	// HPKETokenPrefixV1 starts the version 1 tokens issued before version 2; they still decrypt.
	HPKETokenPrefixV1 = "hpke1."
	// MaxPlaintextLen is the longest value an HPKE token can carry (Segment events are at most
	// 32 KB); longer values return ErrTooLarge.
	MaxPlaintextLen = 64 << 10

	tokenVersion1     = 0x01
	tokenVersion2     = 0x02
	algIDP256         = 0x01
	algIDXWing        = 0x02
	hpkeInfoLabel     = "phiguard/fieldcrypt/v1"
	hpkeExportContext = "phiguard/fieldcrypt/v1 field key"
	batchKeyLen       = 32
	nonceLen          = 12
	tagLen            = 16

	// Encapsulated key lengths (Nenc) of the two KEMs.
	encLenP256  = 65   // uncompressed P-256 point
	encLenXWing = 1120 // ML-KEM-768 ciphertext (1088) || X25519 ephemeral public key (32)

	// maxEncodedLen bounds P of a version 2 token: the longest value and its type byte. Padding
	// never takes P past it (see padTo).
	maxEncodedLen   = MaxPlaintextLen + 1
	maxRawHPKELen   = 3 + MaxKeyIDLen + 2 + encLenXWing + nonceLen + maxEncodedLen + tagLen
	minRawHPKELen   = 3 + 1 + 2 + encLenP256 + nonceLen + tagLen
	rsaOAEPOverhead = 2*32 + 2
)

var (
	hpkeKDF  = hpke.HKDFSHA256()
	hpkeAEAD = hpke.AES256GCM()
	b64url   = base64.RawURLEncoding.Strict()
	b64std   = base64.StdEncoding.Strict()
)

func algID(a Algorithm) byte {
	if a == HPKEXWing {
		return algIDXWing
	}
	return algIDP256
}

func encLen(a Algorithm) int {
	if a == HPKEXWing {
		return encLenXWing
	}
	return encLenP256
}

// isHPKE reports whether token claims to be an HPKE token of some version ("hpke" and a digit
// and a dot); standard base64 never contains '.'.
func isHPKE(token string) bool {
	return len(token) >= len(HPKETokenPrefix) && token[:4] == "hpke" && token[5] == '.'
}

// TokenInfo describes a token without decrypting it. It holds no secret.
type TokenInfo struct {
	Algorithm Algorithm
	// KeyID is the key id carried by an HPKE token; empty for RSA tokens, which carry none.
	KeyID string
	// Version is the HPKE token format version (1 or 2); 0 for RSA tokens, which have no version.
	Version int
	// TokenLen is the length of the token text in bytes.
	TokenLen int
	// EncapsulatedKeyLen is the length of the HPKE encapsulated key (65 for P-256, 1120 for
	// X-Wing); 0 for RSA.
	EncapsulatedKeyLen int
	// CiphertextLen is the AES-GCM ciphertext length including the 16-byte tag (HPKE), or the RSA
	// ciphertext length (the modulus size in bytes).
	CiphertextLen int
	// PlaintextLen is the exact value length of a version 1 HPKE token; -1 for version 2, whose
	// padding hides it, and for RSA, where only decryption reveals it.
	PlaintextLen int
	// EncodedLen is, for a version 2 token, the length of the sealed payload P (value, type byte
	// and padding): the value has at most EncodedLen-1 bytes. 0 otherwise.
	EncodedLen int
	// RSABits is the modulus size an RSA token was made for; 0 for HPKE.
	RSABits int
}

// Inspect reports the algorithm, key id and sizes of token without any key. A text that is not a
// well-formed HPKE token nor the standard base64 of a 2048-, 3072- or 4096-bit RSA ciphertext
// returns an error wrapping ErrMalformedToken that does not echo the token.
func Inspect(token string) (_ TokenInfo, err error) {
	defer setOp(&err, "inspect token")
	if isHPKE(token) {
		t, err := parseHPKE(token)
		if err != nil {
			return TokenInfo{}, err
		}
		info := TokenInfo{
			Algorithm:          t.alg,
			KeyID:              string(t.keyID),
			Version:            int(t.version),
			TokenLen:           len(token),
			EncapsulatedKeyLen: len(t.enc),
			CiphertextLen:      len(t.ciphertext),
			PlaintextLen:       len(t.ciphertext) - tagLen,
		}
		if t.version == tokenVersion2 {
			info.EncodedLen, info.PlaintextLen = info.PlaintextLen, -1
		}
		return info, nil
	}
	ct, err := parseRSA(token)
	if err != nil {
		return TokenInfo{}, err
	}
	return TokenInfo{
		Algorithm:     RSAOAEPSHA256,
		TokenLen:      len(token),
		CiphertextLen: len(ct),
		PlaintextLen:  -1,
		RSABits:       8 * len(ct),
	}, nil
}

// hpkeToken is a decoded HPKE token; its slices alias one decoded buffer.
type hpkeToken struct {
	version    byte
	alg        Algorithm
	keyID      []byte
	info       []byte // B[0 : 3+len(keyID)], the token's part of the HPKE info
	header     []byte // B up to and including enc: the AES-GCM AAD
	enc        []byte
	nonce      []byte
	ciphertext []byte // ciphertext || tag
}

// parseHPKE decodes and bounds-checks an HPKE token of version 1 or 2 (the caller has checked
// isHPKE). It allocates at most 3/4 of len(token).
func parseHPKE(token string) (hpkeToken, error) {
	var version byte
	switch token[:len(HPKETokenPrefix)] {
	case HPKETokenPrefixV1:
		version = tokenVersion1
	case HPKETokenPrefix:
		version = tokenVersion2
	default:
		return hpkeToken{}, errorf(ErrMalformedToken, "unsupported HPKE token version (want the prefix %s or %s)", HPKETokenPrefix, HPKETokenPrefixV1)
	}
	body := token[len(HPKETokenPrefix):]
	if len(body) < b64url.EncodedLen(minRawHPKELen) {
		return hpkeToken{}, errorf(ErrMalformedToken, "HPKE token is too short (%d bytes)", len(token))
	}
	if len(body) > b64url.EncodedLen(maxRawHPKELen) {
		return hpkeToken{}, errorf(ErrMalformedToken, "HPKE token is too long (%d bytes)", len(token))
	}
	if strings.ContainsAny(body, "\r\n") {
		return hpkeToken{}, errorf(ErrMalformedToken, "HPKE token contains a line break")
	}
	raw, err := b64url.DecodeString(body)
	if err != nil {
		return hpkeToken{}, errorf(ErrMalformedToken, "HPKE token is not canonical unpadded base64url")
	}
	if raw[0] != version {
		return hpkeToken{}, errorf(ErrMalformedToken, "HPKE token version byte %d does not match its prefix", raw[0])
	}
	t := hpkeToken{version: version}
	switch raw[1] {
	case algIDP256:
		t.alg = HPKEP256
	case algIDXWing:
		t.alg = HPKEXWing
	default:
		return hpkeToken{}, errorf(ErrMalformedToken, "unknown HPKE token algorithm id 0x%02x", raw[1])
	}
	idLen := int(raw[2])
	if idLen == 0 {
		return hpkeToken{}, errorf(ErrMalformedToken, "HPKE token has an empty key id")
	}
	p := 3 + idLen
	if len(raw) < p+2 {
		return hpkeToken{}, errorf(ErrMalformedToken, "HPKE token is truncated in its key id")
	}
	t.keyID, t.info = raw[3:p], raw[:p]
	if ValidateKeyID(string(t.keyID)) != nil {
		return hpkeToken{}, errorf(ErrMalformedToken, "HPKE token key id is not printable ASCII")
	}
	n := int(binary.BigEndian.Uint16(raw[p:]))
	if n != encLen(t.alg) {
		return hpkeToken{}, errorf(ErrMalformedToken, "HPKE token encapsulated key is %d bytes, %s needs %d", n, t.alg, encLen(t.alg))
	}
	p += 2
	minCT, maxCT := tagLen, MaxPlaintextLen+tagLen
	if version == tokenVersion2 {
		minCT, maxCT = 1+tagLen, maxEncodedLen+tagLen // P holds at least the type byte
	}
	if len(raw) < p+n+nonceLen+minCT {
		return hpkeToken{}, errorf(ErrMalformedToken, "HPKE token is truncated")
	}
	t.enc = raw[p : p+n]
	p += n
	t.header = raw[:p]
	t.nonce = raw[p : p+nonceLen]
	t.ciphertext = raw[p+nonceLen:]
	if len(t.ciphertext) > maxCT {
		return hpkeToken{}, errorf(ErrMalformedToken, "HPKE token ciphertext is too long")
	}
	return t, nil
}

// parseRSA decodes an RSA token: strict padded standard base64 of a ciphertext of one of
// RSASizes (256, 384 or 512 bytes).
func parseRSA(token string) ([]byte, error) {
	if !slices.ContainsFunc(rsaSizes, func(bits int) bool { return len(token) == b64std.EncodedLen(bits/8) }) {
		return nil, errorf(ErrMalformedToken, "not an HPKE token (no %q prefix) and not the base64 of a %sbit RSA ciphertext (%d bytes of text)", HPKETokenPrefix, listRSASizes("-", "or"), len(token))
	}
	ct, err := b64std.DecodeString(token)
	if err != nil || strings.ContainsAny(token, "\r\n") {
		return nil, errorf(ErrMalformedToken, "RSA token is not padded standard base64")
	}
	if !ValidRSASize(8 * len(ct)) {
		return nil, errorf(ErrMalformedToken, "RSA token decodes to %d bytes, not a %sbit ciphertext", len(ct), listRSASizes("-", "or"))
	}
	return ct, nil
}

// hpkeInfo returns the HPKE info for a token whose B starts with part (version, alg, key id).
func hpkeInfo(part []byte) []byte {
	info := make([]byte, 0, len(hpkeInfoLabel)+len(part))
	return append(append(info, hpkeInfoLabel...), part...)
}

// newBatchAEAD builds AES-256-GCM under the 32-byte key exported from an HPKE context.
func newBatchAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("batch cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("batch cipher: %w", err)
	}
	return aead, nil
}
