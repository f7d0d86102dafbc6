package fieldcrypt

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// MinHMACKeyLen is the shortest key HMAC accepts: 32 bytes, the output of KMS GenerateDataKey
// with KeySpec AES_256, and the SHA-256 output size RFC 2104 recommends as a minimum.
const MinHMACKeyLen = 32

// HMAC appends to dst the lowercase hex HMAC-SHA-256 of value under key (64 characters) — the
// `hmac` treatment's pseudonym, which a key holder reproduces with any HMAC implementation, e.g.
// `printf %s VALUE | openssl dgst -sha256 -mac HMAC -macopt hexkey:KEYHEX`. The value is used as
// given; normalization is the caller's job. A key shorter than MinHMACKeyLen returns dst unchanged
// and an error wrapping ErrInvalidHMACKey (fail closed: a missing key must not yield unkeyed
// hashes).
func HMAC(dst, key, value []byte) ([]byte, error) {
	if len(key) < MinHMACKeyLen {
		return dst, &Error{Op: "hmac", Kind: ErrInvalidHMACKey, Reason: fmt.Sprintf("key is %d bytes, at least %d required", len(key), MinHMACKeyLen)}
	}
	m := hmac.New(sha256.New, key)
	m.Write(value)
	var sum [sha256.Size]byte
	return hex.AppendEncode(dst, m.Sum(sum[:0])), nil
}

// SHA256 appends to dst the lowercase hex SHA-256 of value (64 characters) — the `sha256`
// treatment, for ad platforms that require it. It is not de-identification: common values are
// recovered by guessing. The value is used as given; normalization is the caller's job.
func SHA256(dst, value []byte) []byte {
	sum := sha256.Sum256(value)
	return hex.AppendEncode(dst, sum[:])
}
