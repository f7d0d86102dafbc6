package phi

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// ID prefixes name what an id refers to, so a misplaced id is caught by validation.
const (
	PrefixWorkspace   = "ws_"
	PrefixToken       = "tok_"
	PrefixSource      = "src_"
	PrefixDestination = "dst_"
	PrefixKey         = "key_"
	PrefixMatcher     = "mat_"
	PrefixAudit       = "aud_"
)

// TokenPrefix starts every API token secret, so that secret scanners and people recognise one,
// and so that any layer can refuse to quote back caller text that carries one.
const TokenPrefix = "phit_"

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewID returns prefix followed by 26 characters of lower-case Crockford base32 (130 random
// bits), for example "dst_3f9k…".
func NewID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error
	return prefix + idEncoding.EncodeToString(b[:])
}

// ValidID reports whether id has the given prefix and the shape NewID produces. Handlers use
// it to answer a malformed path id with 400 before touching the store.
func ValidID(prefix, id string) bool {
	rest, ok := strings.CutPrefix(id, prefix)
	if !ok || len(rest) != 26 {
		return false
	}
	for _, c := range rest {
		if !strings.ContainsRune("0123456789abcdefghjkmnpqrstvwxyz", c) {
			return false
		}
	}
	return true
}

// NewTokenSecret returns a fresh API token secret: TokenPrefix and 256 random bits, base64url.
func NewTokenSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// HashToken returns the SHA-256 hex digest under which a token secret is stored and looked up;
// the secret itself is never stored.
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
