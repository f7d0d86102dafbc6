package fieldcrypt

// An independent implementation of the documented HPKE token decryption, built from primitives
// (crypto/ecdh, crypto/mlkem, crypto/sha3, crypto/hkdf) rather than crypto/hpke, following
// RFC 9180 and draft-connolly-cfrg-xwing-kem exactly as docs/ENCRYPTION.md describes. If the
// document and the implementation ever disagree, the vector tests that use it fail.

import (
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

// independentBatchKey decapsulates enc with the PKCS#8 private key (PEM) and returns the
// exported 32-byte batch key, per docs/ENCRYPTION.md.
func independentBatchKey(privPEM string, kemID uint16, enc, info []byte) ([]byte, error) {
	block, _ := pem.Decode([]byte(privPEM))
	if block == nil {
		return nil, errors.New("no PEM")
	}
	var sharedSecret []byte
	switch kemID {
	case 0x0010: // DHKEM(P-256, HKDF-SHA256), RFC 9180 section 4.1
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		type ecdher interface {
			ECDH() (*ecdh.PrivateKey, error)
		}
		skR, err := k.(ecdher).ECDH()
		if err != nil {
			return nil, err
		}
		pkE, err := ecdh.P256().NewPublicKey(enc)
		if err != nil {
			return nil, err
		}
		dh, err := skR.ECDH(pkE)
		if err != nil {
			return nil, err
		}
		kemSuite := []byte("KEM\x00\x10")
		kemContext := concat(enc, skR.PublicKey().Bytes())
		eaePRK := labeledExtract(kemSuite, nil, "eae_prk", dh)
		sharedSecret = labeledExpand(kemSuite, eaePRK, "shared_secret", kemContext, 32)
	case 0x647a: // X-Wing, draft-connolly-cfrg-xwing-kem
		var p8 struct {
			Version    int
			Algorithm  struct{ Algorithm asn1.ObjectIdentifier }
			PrivateKey []byte
		}
		if _, err := asn1.Unmarshal(block.Bytes, &p8); err != nil {
			return nil, err
		}
		if !p8.Algorithm.Algorithm.Equal(asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 62253, 25722}) || len(p8.PrivateKey) != 32 {
			return nil, errors.New("not an X-Wing seed")
		}
		expanded := sha3.SumSHAKE256(p8.PrivateKey, 96)
		dkM, err := mlkem.NewDecapsulationKey768(expanded[:64])
		if err != nil {
			return nil, err
		}
		skX, err := ecdh.X25519().NewPrivateKey(expanded[64:96])
		if err != nil {
			return nil, err
		}
		if len(enc) != 1120 {
			return nil, errors.New("bad enc length")
		}
		ctM, ctX := enc[:1088], enc[1088:]
		ssM, err := dkM.Decapsulate(ctM)
		if err != nil {
			return nil, err
		}
		pkE, err := ecdh.X25519().NewPublicKey(ctX)
		if err != nil {
			return nil, err
		}
		ssX, err := skX.ECDH(pkE)
		if err != nil {
			return nil, err
		}
		ss := sha3.Sum256(concat(ssM, ssX, ctX, skX.PublicKey().Bytes(), []byte(`\.//^\`)))
		sharedSecret = ss[:]
	default:
		return nil, fmt.Errorf("unknown KEM %#04x", kemID)
	}

	// Key schedule, base mode (RFC 9180 section 5.1), then the secret export (section 5.3).
	suite := concat([]byte("HPKE"), binary.BigEndian.AppendUint16(nil, kemID), []byte{0x00, 0x01, 0x00, 0x02})
	pskIDHash := labeledExtract(suite, nil, "psk_id_hash", nil)
	infoHash := labeledExtract(suite, nil, "info_hash", info)
	ksContext := concat([]byte{0x00}, pskIDHash, infoHash)
	secret := labeledExtract(suite, sharedSecret, "secret", nil)
	exporterSecret := labeledExpand(suite, secret, "exp", ksContext, 32)
	return labeledExpand(suite, exporterSecret, "sec", []byte("phiguard/fieldcrypt/v1 field key"), 32), nil
}

// independentOpen decrypts an HPKE token following docs/ENCRYPTION.md step by step.
func independentOpen(privPEM, token string) ([]byte, error) {
	if !strings.HasPrefix(token, "hpke1.") {
		return nil, errors.New("no hpke1. prefix")
	}
	b, err := base64.RawURLEncoding.DecodeString(token[len("hpke1."):])
	if err != nil {
		return nil, err
	}
	if len(b) < 3 || b[0] != 1 {
		return nil, errors.New("bad version")
	}
	kemID := map[byte]uint16{1: 0x0010, 2: 0x647a}[b[1]]
	l := int(b[2])
	if len(b) < 3+l+2 {
		return nil, errors.New("short")
	}
	n := int(binary.BigEndian.Uint16(b[3+l:]))
	h := 3 + l + 2 + n
	if len(b) < h+12+16 {
		return nil, errors.New("short")
	}
	info := concat([]byte("phiguard/fieldcrypt/v1"), b[:3+l])
	key, err := independentBatchKey(privPEM, kemID, b[3+l+2:h], info)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return gcm.Open(nil, b[h:h+12], b[h+12:], b[:h])
}
