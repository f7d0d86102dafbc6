package fieldcrypt

// An independent implementation of the documented HPKE token decryption, built from primitives
// (crypto/ecdh, crypto/mlkem, crypto/sha3, crypto/hkdf) rather than crypto/hpke, following
// RFC 9180 and draft-connolly-cfrg-xwing-kem (-06 and later) exactly as docs/ENCRYPTION.md describes. If the
// document and the implementation ever disagree, the vector tests that use it fail.

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/mlkem"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

func concat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func labeledExtract(suiteID, salt []byte, label string, ikm []byte) []byte {
	prk, err := hkdf.Extract(sha256.New, concat([]byte("HPKE-v1"), suiteID, []byte(label), ikm), salt)
	if err != nil {
		panic(err)
	}
	return prk
}

func labeledExpand(suiteID, prk []byte, label string, info []byte, length int) []byte {
	labeledInfo := concat(binary.BigEndian.AppendUint16(nil, uint16(length)), []byte("HPKE-v1"), suiteID, []byte(label), info)
	out, err := hkdf.Expand(sha256.New, prk, string(labeledInfo), length)
	if err != nil {
		panic(err)
	}
	return out
}

// schedule is every intermediate value of one HPKE receiver setup and export, as the vector files
// list them.
type schedule struct {
	DH             []byte // P-256: the ECDH x-coordinate
	SharedSecretM  []byte // X-Wing: the ML-KEM-768 shared secret
	SharedSecretX  []byte // X-Wing: the X25519 shared secret
	SharedSecret   []byte // the KEM's shared_secret
	KSContext      []byte
	Secret         []byte
	ExporterSecret []byte
	BatchKey       []byte // the exported 32-byte AES-256-GCM key of the batch (each field's key)
}

// independentBatchKey decapsulates enc with the PKCS#8 private key (PEM) and returns the
// exported 32-byte batch key, per docs/ENCRYPTION.md.
func independentBatchKey(privPEM string, kemID uint16, enc, info []byte) ([]byte, error) {
	s, err := independentSchedule(privPEM, kemID, enc, info)
	return s.BatchKey, err
}

// independentSchedule runs the documented receiver setup and returns its intermediate values.
func independentSchedule(privPEM string, kemID uint16, enc, info []byte) (schedule, error) {
	var s schedule
	block, _ := pem.Decode([]byte(privPEM))
	if block == nil {
		return s, errors.New("no PEM")
	}
	switch kemID {
	case 0x0010: // DHKEM(P-256, HKDF-SHA256), RFC 9180 section 4.1
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return s, err
		}
		type ecdher interface {
			ECDH() (*ecdh.PrivateKey, error)
		}
		ek, ok := k.(ecdher)
		if !ok {
			return s, errors.New("not an EC key")
		}
		skR, err := ek.ECDH()
		if err != nil {
			return s, err
		}
		pkE, err := ecdh.P256().NewPublicKey(enc)
		if err != nil {
			return s, err
		}
		dh, err := skR.ECDH(pkE)
		if err != nil {
			return s, err
		}
		kemSuite := []byte("KEM\x00\x10")
		kemContext := concat(enc, skR.PublicKey().Bytes())
		eaePRK := labeledExtract(kemSuite, nil, "eae_prk", dh)
		s.DH = dh
		s.SharedSecret = labeledExpand(kemSuite, eaePRK, "shared_secret", kemContext, 32)
	case 0x647a: // X-Wing, draft-connolly-cfrg-xwing-kem-06 and later
		var p8 struct {
			Version    int
			Algorithm  struct{ Algorithm asn1.ObjectIdentifier }
			PrivateKey []byte
		}
		if _, err := asn1.Unmarshal(block.Bytes, &p8); err != nil {
			return s, err
		}
		if !p8.Algorithm.Algorithm.Equal(asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 62253, 25722}) || len(p8.PrivateKey) != 32 {
			return s, errors.New("not an X-Wing seed")
		}
		expanded := sha3.SumSHAKE256(p8.PrivateKey, 96)
		dkM, err := mlkem.NewDecapsulationKey768(expanded[:64])
		if err != nil {
			return s, err
		}
		skX, err := ecdh.X25519().NewPrivateKey(expanded[64:96])
		if err != nil {
			return s, err
		}
		if len(enc) != 1120 {
			return s, errors.New("bad enc length")
		}
		ctM, ctX := enc[:1088], enc[1088:]
		ssM, err := dkM.Decapsulate(ctM)
		if err != nil {
			return s, err
		}
		pkE, err := ecdh.X25519().NewPublicKey(ctX)
		if err != nil {
			return s, err
		}
		ssX, err := skX.ECDH(pkE)
		if err != nil {
			return s, err
		}
		ss := sha3.Sum256(concat(ssM, ssX, ctX, skX.PublicKey().Bytes(), []byte(`\.//^\`)))
		s.SharedSecretM, s.SharedSecretX, s.SharedSecret = ssM, ssX, ss[:]
	default:
		return s, fmt.Errorf("unknown KEM %#04x", kemID)
	}

	// Key schedule, base mode (RFC 9180 section 5.1), then the secret export (section 5.3).
	suite := concat([]byte("HPKE"), binary.BigEndian.AppendUint16(nil, kemID), []byte{0x00, 0x01, 0x00, 0x02})
	pskIDHash := labeledExtract(suite, nil, "psk_id_hash", nil)
	infoHash := labeledExtract(suite, nil, "info_hash", info)
	s.KSContext = concat([]byte{0x00}, pskIDHash, infoHash)
	s.Secret = labeledExtract(suite, s.SharedSecret, "secret", nil)
	s.ExporterSecret = labeledExpand(suite, s.Secret, "exp", s.KSContext, 32)
	s.BatchKey = labeledExpand(suite, s.ExporterSecret, "sec", []byte("phiguard/fieldcrypt/v1 field key"), 32)
	return s, nil
}

// independentOpen decrypts an HPKE token of version 1 or 2 following docs/ENCRYPTION.md step by
// step, with every parse rule of section 3.3. It returns the type byte (0 for version 1) and the
// value.
func independentOpen(privPEM, token string) (byte, []byte, error) {
	var version byte
	switch {
	case strings.HasPrefix(token, "hpke1."):
		version = 1
	case strings.HasPrefix(token, "hpke2."):
		version = 2
	default:
		return 0, nil, errors.New("no hpke1. or hpke2. prefix")
	}
	// Canonical unpadded base64url: no '=', the unused bits of the last character zero.
	b, err := base64.RawURLEncoding.Strict().DecodeString(token[6:])
	if err != nil {
		return 0, nil, err
	}
	if len(b) < 3 || b[0] != version {
		return 0, nil, errors.New("version byte does not match the prefix")
	}
	kemID, encLen := map[byte]uint16{1: 0x0010, 2: 0x647a}[b[1]], map[byte]int{1: 65, 2: 1120}[b[1]]
	if kemID == 0 {
		return 0, nil, errors.New("unknown algorithm id")
	}
	l := int(b[2])
	if l == 0 || len(b) < 3+l+2 {
		return 0, nil, errors.New("bad key id length")
	}
	for _, c := range b[3 : 3+l] {
		if c < 0x21 || c > 0x7e {
			return 0, nil, errors.New("key id byte out of range")
		}
	}
	n := int(binary.BigEndian.Uint16(b[3+l:]))
	if n != encLen {
		return 0, nil, errors.New("wrong enc length")
	}
	h := 3 + l + 2 + n
	minRest, maxRest := 28, 65536+28
	if version == 2 {
		minRest, maxRest = 29, 65537+28
	}
	if len(b) < h+minRest || len(b) > h+maxRest {
		return 0, nil, errors.New("ciphertext too short or too long")
	}
	info := concat([]byte("phiguard/fieldcrypt/v1"), b[:3+l])
	key, err := independentBatchKey(privPEM, kemID, b[3+l+2:h], info)
	if err != nil {
		return 0, nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return 0, nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return 0, nil, err
	}
	p, err := gcm.Open(nil, b[h:h+12], b[h+12:], b[:h])
	if err != nil || version == 1 {
		return 0, p, err
	}
	// P = value || type || 0x00...: drop the zeros; the last byte left is the type.
	p = bytes.TrimRight(p, "\x00")
	if len(p) == 0 {
		return 0, nil, errors.New("no type byte")
	}
	typ, value := p[len(p)-1], p[:len(p)-1]
	switch typ {
	case 's':
	case 'n', 'b', 'o', 'a':
		var v any
		if json.Unmarshal(value, &v) != nil {
			return 0, nil, errors.New("value is not JSON")
		}
		ok := false
		switch v.(type) {
		case float64:
			ok = typ == 'n'
		case bool:
			ok = typ == 'b'
		case map[string]any:
			ok = typ == 'o'
		case []any:
			ok = typ == 'a'
		}
		if !ok {
			return 0, nil, errors.New("value is not of its type")
		}
	default:
		return 0, nil, errors.New("unknown type byte")
	}
	return typ, value, nil
}
