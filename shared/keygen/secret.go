package keygen

import (
	"encoding/base64"
)

const (
	pemBegin = "-----BEGIN PRIVATE KEY-----\n"
	pemEnd   = "-----END PRIVATE KEY-----\n"
)

// privateKeyPEM encodes a PKCS#8 DER private key as a "PRIVATE KEY" PEM block (RFC 7468, 64
// characters a line, exactly what encoding/pem writes) into one buffer of the exact size, so
// that no intermediate copy of the secret is left behind for the caller to miss when clearing.
func privateKeyPEM(der []byte) []byte {
	const line = 48 // DER bytes per 64-character base64 line
	n := base64.StdEncoding.EncodedLen(len(der))
	out := make([]byte, 0, len(pemBegin)+n+(n+63)/64+len(pemEnd))
	out = append(out, pemBegin...)
	for i := 0; i < len(der); i += line {
		chunk := der[i:min(i+line, len(der))]
		start := len(out)
		out = out[:start+base64.StdEncoding.EncodedLen(len(chunk))]
		base64.StdEncoding.Encode(out[start:], chunk)
		out = append(out, '\n')
	}
	return append(out, pemEnd...)
}

// base64Secret returns the standard base64 of b in a buffer of the exact size.
func base64Secret(b []byte) []byte {
	out := make([]byte, base64.StdEncoding.EncodedLen(len(b)))
	base64.StdEncoding.Encode(out, b)
	return out
}
