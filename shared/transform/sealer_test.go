package transform

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hpke"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// This file holds a realistic hpke-p256 Sealer for tests and benchmarks. The
// real one lives in shared/fieldcrypt; this one follows the same recipe: one
// HPKE encapsulation (DHKEM P-256, HKDF-SHA256, AES-256-GCM) per batch, a
// 32-byte key exported from it, then AES-256-GCM per field with a random
// nonce. Token: "hpke-p256.<kid>.<b64url enc>.<b64url nonce||ciphertext>".

const (
	testHPKEInfo   = "phiguard transform test v1"
	testExportName = "phiguard field key"
)

type hpkeSealer struct {
	prefix []byte // "hpke-p256.<kid>.<enc>."
	aead   cipher.AEAD
	nonce  [12]byte
	buf    []byte
}

var _ Sealer = (*hpkeSealer)(nil)

// newHPKESealer performs one encapsulation to pub; use it for one batch.
func newHPKESealer(pub hpke.PublicKey, kid string) (*hpkeSealer, error) {
	enc, sender, err := hpke.NewSender(pub, hpke.HKDFSHA256(), hpke.AES256GCM(), []byte(testHPKEInfo))
	if err != nil {
		return nil, fmt.Errorf("hpke sender: %w", err)
	}
	key, err := sender.Export(testExportName, 32)
	if err != nil {
		return nil, fmt.Errorf("hpke export: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	prefix := []byte("hpke-p256." + kid + ".")
	prefix = base64.RawURLEncoding.AppendEncode(prefix, enc)
	prefix = append(prefix, '.')
	return &hpkeSealer{prefix: prefix, aead: aead}, nil
}

func (s *hpkeSealer) Seal(dst, plaintext []byte) ([]byte, error) {
	if _, err := rand.Read(s.nonce[:]); err != nil {
		return dst, err
	}
	s.buf = append(s.buf[:0], s.nonce[:]...)
	s.buf = s.aead.Seal(s.buf, s.nonce[:], plaintext, nil)
	dst = append(dst, s.prefix...)
	return base64.RawURLEncoding.AppendEncode(dst, s.buf), nil
}

// openHPKEToken decrypts a token made by hpkeSealer.
func openHPKEToken(priv hpke.PrivateKey, token string) ([]byte, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 4 || parts[0] != "hpke-p256" {
		return nil, errors.New("not an hpke-p256 test token")
	}
	enc, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, err
	}
	body, err := base64.RawURLEncoding.DecodeString(parts[3])
	if err != nil || len(body) < 12 {
		return nil, errors.New("bad token body")
	}
	r, err := hpke.NewRecipient(enc, priv, hpke.HKDFSHA256(), hpke.AES256GCM(), []byte(testHPKEInfo))
	if err != nil {
		return nil, err
	}
	key, err := r.Export(testExportName, 32)
	if err != nil {
		return nil, err
	}
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	return aead.Open(nil, body[:12], body[12:], nil)
}

func newTestKey(t testing.TB) hpke.PrivateKey {
	t.Helper()
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := hpke.NewDHKEMPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

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

func TestHPKESealerRoundTrip(t *testing.T) {
	priv := newTestKey(t)
	s, err := newHPKESealer(priv.PublicKey(), "k1")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Seal([]byte("x"), []byte("jane@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(tok, []byte("xhpke-p256.k1.")) {
		t.Fatalf("Seal did not append to dst: %q", tok[:20])
	}
	got, err := openHPKEToken(priv, string(tok[1:]))
	if err != nil || string(got) != "jane@example.com" {
		t.Fatalf("open = %q, %v", got, err)
	}
}
