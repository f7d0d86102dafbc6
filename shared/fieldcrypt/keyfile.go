package fieldcrypt

import (
	"bytes"
	"strings"

	"github.com/phiguard/phiguard/shared/phi"
)

// Key files carry the key id beside the private key as RFC 7468 explanatory text before the PEM
// block, one "Name: value" per line (docs/ENCRYPTION.md, section 2):
//
//	Key-ID: key_…
//	Algorithm: hpke-p256
//	Fingerprint: SHA256:…
//	-----BEGIN PRIVATE KEY-----
const (
	keyFileKeyID       = "Key-ID"
	keyFileAlgorithm   = "Algorithm"
	keyFileFingerprint = "Fingerprint"
)

// KeyFile is a private key read from a key file, with the key id the file names.
type KeyFile struct {
	Key *PrivateKey
	// KeyID is the file's Key-ID line; empty when it has none.
	KeyID string
}

// ParseKeyFile parses a private key file: a private key PEM (any form ParsePrivateKey reads),
// optionally preceded by Key-ID, Algorithm and Fingerprint lines. Other text before the PEM block is
// ignored. It returns an error wrapping ErrInvalidKey for a key ParsePrivateKey refuses or an
// Algorithm or Fingerprint line that does not match the key, and ErrInvalidKeyID for a malformed
// Key-ID line; errors never contain key bytes.
func ParseKeyFile(data []byte) (_ KeyFile, err error) {
	defer setOp(&err, "parse key file")
	k, err := ParsePrivateKey(data)
	if err != nil {
		return KeyFile{}, err
	}
	kf := KeyFile{Key: k}
	head := data
	if i := bytes.Index(data, []byte("-----BEGIN")); i >= 0 {
		head = data[:i]
	}
	for line := range strings.Lines(string(head)) {
		name, value, ok := strings.Cut(strings.TrimRight(line, "\r\n"), ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch name {
		case keyFileKeyID:
			if err := ValidateKeyID(value); err != nil {
				return KeyFile{}, err
			}
			kf.KeyID = value
		case keyFileAlgorithm:
			if value != string(k.Algorithm()) {
				return KeyFile{}, errorf(ErrInvalidKey, "the key file says Algorithm %s but holds a %s key", phi.Clip(value, maxQuotedLen), k.Algorithm())
			}
		case keyFileFingerprint:
			if value != k.Public().Fingerprint() {
				return KeyFile{}, errorf(ErrInvalidKey, "the key file's Fingerprint line does not match its key (the file was edited, or its lines belong to another key)")
			}
		}
	}
	return kf, nil
}

// KeyFilePEM returns k as a key file: Key-ID (when keyID is not empty), Algorithm and Fingerprint
// lines, then the PKCS#8 PEM. It returns an error wrapping ErrInvalidKeyID for a malformed keyID.
func KeyFilePEM(k *PrivateKey, keyID string) (_ []byte, err error) {
	defer setOp(&err, "key file")
	if k == nil {
		return nil, errorf(ErrInvalidKey, "private key is nil")
	}
	if keyID != "" {
		if err := ValidateKeyID(keyID); err != nil {
			return nil, err
		}
	}
	pemData := k.PEM()
	defer clear(pemData)
	out := make([]byte, 0, len(keyID)+160+len(pemData)) // one allocation: no stray copy of the key
	if keyID != "" {
		out = append(out, keyFileKeyID+": "+keyID+"\n"...)
	}
	out = append(out, keyFileAlgorithm+": "+string(k.Algorithm())+"\n"...)
	out = append(out, keyFileFingerprint+": "+k.Public().Fingerprint()+"\n"...)
	return append(out, pemData...), nil
}
