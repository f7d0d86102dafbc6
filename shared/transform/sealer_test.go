package transform

import "errors"

// Test fakes for the transform's key interfaces. The benchmarks and the
// corpus tests use the production sealer, fieldcrypt.Encrypter.

// failingSealer refuses values longer than max, like RSA-OAEP does, and
// otherwise emits an opaque token that never contains the plaintext.
type failingSealer struct{ max int }

func (s failingSealer) Seal(dst, plaintext []byte) ([]byte, error) {
	if len(plaintext) > s.max {
		return dst, errors.New("value too large")
	}
	return append(dst, "tok.opaque"...), nil
}

// fixedKey is an HMACKeyer with a fixed key, or an error when key is nil.
type fixedKey struct {
	id  string
	key []byte
}

func (k fixedKey) HMACKey() (string, []byte, error) {
	if k.key == nil {
		return "", nil, errors.New("hmac key unavailable")
	}
	return k.id, k.key, nil
}
