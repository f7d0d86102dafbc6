package fieldcrypt

import (
	"bytes"
	"crypto/hpke"
	cryptorand "crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/cryptotest"
)

// Regenerate with: go test ./shared/fieldcrypt -run TestVectors -update
// Generation is deterministic for a given Go version (testing/cryptotest.SetGlobalRandom); the
// committed files are checked by decryption, so a Go upgrade never invalidates them.
var update = flag.Bool("update", false, "regenerate testdata/fieldcrypt vectors")

const vectorDir = "../../testdata/fieldcrypt"

type vectorFile struct {
	Comment   string          `json:"comment"`
	Algorithm Algorithm       `json:"algorithm"`
	Suite     string          `json:"suite"`
	Keys      []vectorKey     `json:"keys"`
	Vectors   []vector        `json:"vectors"`
	Invalid   []invalidVector `json:"invalid"`
}

type vectorKey struct {
	Name          string `json:"name"`
	KeyID         string `json:"key_id"`
	PrivateKeyPEM string `json:"private_key_pem"`
	PublicKeyPEM  string `json:"public_key_pem"`
	Fingerprint   string `json:"fingerprint"`
}

type vector struct {
	Key string `json:"key"`
	// Version is the HPKE token version (1 or 2); absent for RSA.
	Version int `json:"version,omitempty"`
	// Plaintext is the value's bytes as text: a string's content, or the JSON text of any other
	// type (version 2); the sealed value itself (version 1 and RSA).
	Plaintext string `json:"plaintext"`
	// Version 2 only: the recorded JSON type, the exact JSON value decryption restores, and the
	// padding the sender used.
	Type    string `json:"type,omitempty"`
	JSON    string `json:"json,omitempty"`
	Padding string `json:"padding,omitempty"`
	Token   string `json:"token"`
	// HPKE only: the intermediate values an independent implementation can compare against.
	Batch             int    `json:"batch,omitempty"`
	InfoHex           string `json:"info_hex,omitempty"`
	EncHex            string `json:"enc_hex,omitempty"`
	DHHex             string `json:"dh_hex,omitempty"`                   // P-256
	SharedSecretMHex  string `json:"mlkem_shared_secret_hex,omitempty"`  // X-Wing
	SharedSecretXHex  string `json:"x25519_shared_secret_hex,omitempty"` // X-Wing
	SharedSecretHex   string `json:"shared_secret_hex,omitempty"`
	KSContextHex      string `json:"key_schedule_context_hex,omitempty"`
	SecretHex         string `json:"secret_hex,omitempty"`
	ExporterSecretHex string `json:"exporter_secret_hex,omitempty"`
	ExporterContext   string `json:"exporter_context,omitempty"`
	BatchKeyHex       string `json:"batch_key_hex,omitempty"`
	NonceHex          string `json:"nonce_hex,omitempty"`
	AADHex            string `json:"aad_hex,omitempty"`
	PayloadHex        string `json:"payload_hex,omitempty"` // version 2: P = value || type || padding
	CiphertextHex     string `json:"ciphertext_hex,omitempty"`
}

type invalidVector struct {
	Key    string `json:"key"`
	Token  string `json:"token"`
	Reason string `json:"reason"`
}

// typedValue is one version 2 vector's value: its type and bytes, and the JSON it restores.
type typedValue struct {
	typ  ValueType
	data string
}

func (v typedValue) json() string {
	return string(Value{Type: v.typ, Data: []byte(v.data)}.AppendJSON(nil))
}

// v1Plaintexts are the values of the version 1 vectors (kept as they were committed).
var v1Plaintexts = []string{"alice@example.com", "", "José Müller 🙂", "+14155550123"}

// v2Values cover every type, the bucket edges and a long value.
var v2Values = []typedValue{
	{TypeString, "alice@example.com"},
	{TypeString, ""},
	{TypeString, "José Müller 🙂"},
	{TypeString, "42"},
	{TypeNumber, "42"},
	{TypeNumber, "42.50"},
	{TypeBoolean, "true"},
	{TypeObject, `{"line1":"1 Main St","zip":"02139"}`},
	{TypeArray, `["E11.9",250]`},
	{TypeString, "ends in NUL\x00"},
	{TypeString, strings.Repeat("x", 31)}, // P is 32 bytes: the first bucket, no padding byte
	{TypeString, strings.Repeat("y", 32)}, // P is 33 bytes: padded to 64
	{TypeString, strings.Repeat("long value ", 100)},
}

func TestVectors(t *testing.T) {
	if *update {
		generateVectors(t)
	}
	for _, alg := range []Algorithm{RSAOAEPSHA256, HPKEP256, HPKEXWing} {
		t.Run(string(alg), func(t *testing.T) {
			checkVectorFile(t, alg, readVectorFile(t, alg))
		})
	}
}

func readVectorFile(t *testing.T, alg Algorithm) vectorFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(vectorDir, string(alg)+".json"))
	if err != nil {
		t.Fatalf("read vectors: %v (regenerate with -update)", err)
	}
	var f vectorFile
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

func checkVectorFile(t *testing.T, alg Algorithm, f vectorFile) {
	if f.Algorithm != alg || len(f.Keys) == 0 || len(f.Vectors) < len(v1Plaintexts) || len(f.Invalid) == 0 {
		t.Fatalf("vector file for %s is incomplete: %d keys, %d vectors, %d invalid", alg, len(f.Keys), len(f.Vectors), len(f.Invalid))
	}
	keys := map[string]vectorKey{}
	rings := map[string]*Keyring{}
	for _, vk := range f.Keys {
		priv, err := ParsePrivateKey([]byte(vk.PrivateKeyPEM))
		if err != nil {
			t.Fatalf("key %s: %v", vk.Name, err)
		}
		pub, err := ParsePublicKeyFor(alg, []byte(vk.PublicKeyPEM))
		if err != nil {
			t.Fatalf("key %s: %v", vk.Name, err)
		}
		if !priv.Public().Equal(pub) || pub.Fingerprint() != vk.Fingerprint {
			t.Fatalf("key %s: public key or fingerprint does not match the private key", vk.Name)
		}
		var r Keyring
		if err := r.Add(vk.KeyID, priv); err != nil {
			t.Fatal(err)
		}
		keys[vk.Name], rings[vk.Name] = vk, &r
	}
	versions := map[int]int{}
	for i, v := range f.Vectors {
		vk, ok := keys[v.Key]
		if !ok {
			t.Fatalf("vector %d names unknown key %q", i, v.Key)
		}
		versions[v.Version]++
		got, err := rings[v.Key].OpenValue(v.Token)
		if err != nil || string(got.Data) != v.Plaintext {
			t.Fatalf("vector %d: Open = %q, %v; want %q", i, got.Data, err, v.Plaintext)
		}
		if v.Version == 2 && (got.Type.String() != v.Type || string(got.AppendJSON(nil)) != v.JSON) {
			t.Fatalf("vector %d: OpenValue type %s, JSON %s; file says %s, %s", i, got.Type, got.AppendJSON(nil), v.Type, v.JSON)
		}
		if v.Version != 2 && (got.Type != TypeUnknown || v.Type != "" || v.JSON != "") {
			t.Fatalf("vector %d: an untyped token has type %s", i, got.Type)
		}
		info, err := Inspect(v.Token)
		if err != nil || info.Algorithm != alg || info.Version != v.Version {
			t.Fatalf("vector %d: Inspect = %+v, %v", i, info, err)
		}
		if alg == RSAOAEPSHA256 {
			continue
		}
		if info.KeyID != vk.KeyID {
			t.Fatalf("vector %d: token key id %q, key file says %q", i, info.KeyID, vk.KeyID)
		}
		want := hpkeVectorDetails(t, vk.PrivateKeyPEM, alg, vector{Key: v.Key, Version: v.Version, Plaintext: v.Plaintext, Type: v.Type, JSON: v.JSON, Padding: v.Padding, Token: v.Token}, v.Batch)
		if want != v {
			t.Fatalf("vector %d: the intermediate values in the file differ from the independent implementation's:\n file %+v\n want %+v", i, v, want)
		}
		typ, pt, err := independentOpen(vk.PrivateKeyPEM, v.Token)
		if err != nil || string(pt) != v.Plaintext || (v.Version == 2 && ValueType(typ).String() != v.Type) {
			t.Fatalf("vector %d: independent implementation opens %c %q, %v", i, typ, pt, err)
		}
	}
	if alg != RSAOAEPSHA256 && (versions[1] < len(v1Plaintexts) || versions[2] < len(v2Values)) {
		t.Fatalf("%s vectors: %d of version 1, %d of version 2", alg, versions[1], versions[2])
	}
	for i, v := range f.Invalid {
		if _, err := rings[v.Key].Open(v.Token); err == nil {
			t.Fatalf("invalid vector %d (%s) decrypts", i, v.Reason)
		} else if !errors.Is(err, ErrDecrypt) && !errors.Is(err, ErrMalformedToken) && !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("invalid vector %d (%s): unexpected error %v", i, v.Reason, err)
		}
		if alg != RSAOAEPSHA256 {
			if _, _, err := independentOpen(keys[v.Key].PrivateKeyPEM, v.Token); err == nil {
				t.Fatalf("invalid vector %d (%s) opens with the independent implementation", i, v.Reason)
			}
		}
	}
}

// TestInvalidVectorsCoverEveryParseRule: the files hold an invalid vector for each rule of
// docs/ENCRYPTION.md section 3.3 (and RSA-OAEP failures for every modulus size).
func TestInvalidVectorsCoverEveryParseRule(t *testing.T) {
	rules := map[Algorithm][]string{
		HPKEP256: {"L = 0", "key id byte 0x20", "key id byte 0x7f", "wrong N", "fewer than 28 bytes after enc",
			"fewer than 29 bytes after enc", "oversize", "non-canonical base64url", "padded base64url",
			"algorithm id swapped", "unknown algorithm id", "version byte does not match the prefix", "unknown prefix",
			"no type byte", "unknown type byte", "value not of its type", "tag bit flipped", "key id changed"},
		RSAOAEPSHA256: {"rsa-2048: one bit", "rsa-3072: one bit", "rsa-4096: one bit", "rsa-3072: wrong OAEP label",
			"rsa-4096: wrong OAEP label", "rsa-3072: OAEP with SHA-1", "rsa-4096: OAEP with SHA-1",
			"rsa-3072: not OAEP", "rsa-4096: not OAEP"},
	}
	rules[HPKEXWing] = rules[HPKEP256]
	for alg, want := range rules {
		f := readVectorFile(t, alg)
		for _, r := range want {
			if !slices.ContainsFunc(f.Invalid, func(v invalidVector) bool { return strings.Contains(v.Reason, r) }) {
				t.Errorf("%s: no invalid vector for %q", alg, r)
			}
		}
	}
}

// generateVectors regenerates the vector files. The keys and the version 1 and RSA vectors already
// committed are kept exactly (tokens issued before must keep decrypting, and OAEP is randomised);
// the version 2 vectors and the invalid ones are made anew, deterministically
// (testing/cryptotest.SetGlobalRandom).
func generateVectors(t *testing.T) {
	type keySpec struct {
		name, keyID string
		bits        int
	}
	specs := map[Algorithm][]keySpec{
		RSAOAEPSHA256: {{"rsa-2048", "vector-rsa-2048", 2048}, {"rsa-3072", "vector-rsa-3072", 3072}, {"rsa-4096", "vector-rsa-4096", 4096}},
		HPKEP256:      {{"p256", "vector-p256-1", 0}},
		HPKEXWing:     {{"xwing", "vector-xwing-1", 0}},
	}
	suites := map[Algorithm]string{
		RSAOAEPSHA256: "RSAES-OAEP, SHA-256, MGF1-SHA-256, empty label; token = base64 (standard, padded)",
		HPKEP256:      "RFC 9180 base mode: KEM 0x0010 DHKEM(P-256, HKDF-SHA256), KDF 0x0001 HKDF-SHA256, AEAD 0x0002 AES-256-GCM",
		HPKEXWing:     "RFC 9180 base mode: KEM 0x647a X-Wing (MLKEM768-X25519, draft-connolly-cfrg-xwing-kem-06), KDF 0x0001 HKDF-SHA256, AEAD 0x0002 AES-256-GCM",
	}
	for i, alg := range []Algorithm{RSAOAEPSHA256, HPKEP256, HPKEXWing} {
		cryptotest.SetGlobalRandom(t, uint64(9180+i))
		var old vectorFile
		if data, err := os.ReadFile(filepath.Join(vectorDir, string(alg)+".json")); err == nil {
			if err := json.Unmarshal(data, &old); err != nil {
				t.Fatal(err)
			}
		}
		f := vectorFile{
			Comment:   "Test vectors for docs/ENCRYPTION.md. The private keys are public test keys: never use them for data. Generated by: go test ./shared/fieldcrypt -run TestVectors -update",
			Algorithm: alg,
			Suite:     suites[alg],
		}
		for _, s := range specs[alg] {
			var k *PrivateKey
			var kept []vector
			for _, ok := range old.Keys {
				if ok.Name == s.name {
					var err error
					if k, err = ParsePrivateKey([]byte(ok.PrivateKeyPEM)); err != nil {
						t.Fatal(err)
					}
				}
			}
			for _, v := range old.Vectors {
				if v.Key == s.name && v.Version <= 1 {
					if alg != RSAOAEPSHA256 {
						v.Version = 1
						v = hpkeVectorDetails(t, string(k.PEM()), alg, v, v.Batch)
					}
					kept = append(kept, v)
				}
			}
			if k == nil {
				var err error
				if k, err = GenerateKeyPair(alg, s.bits); err != nil {
					t.Fatal(err)
				}
			}
			f.Keys = append(f.Keys, vectorKey{Name: s.name, KeyID: s.keyID, PrivateKeyPEM: string(k.PEM()), PublicKeyPEM: string(k.Public().PEM()), Fingerprint: k.Public().Fingerprint()})
			if len(kept) == 0 {
				kept = legacyVectors(t, alg, k, s.name, s.keyID)
			}
			f.Vectors = append(f.Vectors, kept...)
			if alg == RSAOAEPSHA256 {
				f.Invalid = append(f.Invalid, rsaInvalidVectors(t, k, s.name, kept[0].Token)...)
				continue
			}
			v2 := version2Vectors(t, alg, k, s.name, s.keyID)
			f.Vectors = append(f.Vectors, v2...)
			f.Invalid = append(f.Invalid, hpkeInvalidVectors(t, alg, k, s.name, s.keyID, v2[0].Token)...)
		}
		data, err := json.MarshalIndent(f, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(vectorDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(vectorDir, string(alg)+".json"), append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// legacyVectors makes the version 1 (and RSA) vectors of a new key, as the committed files hold
// them: the v1Plaintexts and a long value in one batch, the first value again in a second.
func legacyVectors(t *testing.T, alg Algorithm, k *PrivateKey, name, keyID string) []vector {
	values := v1Plaintexts
	batches := 2
	if alg == RSAOAEPSHA256 {
		e, _ := NewEncrypter(k.Public(), keyID)
		values = append(values, strings.Repeat("m", e.MaxPlaintext()))
		batches = 1
	} else {
		values = append(values, strings.Repeat("long value ", 100))
	}
	var vs []vector
	for b := 1; b <= batches; b++ {
		e, err := newEncrypter(k.Public(), keyID, Options{}, tokenVersion1)
		if err != nil {
			t.Fatal(err)
		}
		batch := values
		if b > 1 {
			batch = values[:1]
		}
		for _, p := range batch {
			tok, err := e.Seal(nil, []byte(p))
			if err != nil {
				t.Fatal(err)
			}
			v := vector{Key: name, Plaintext: p, Token: string(tok)}
			if alg != RSAOAEPSHA256 {
				v.Version = 1
				v = hpkeVectorDetails(t, string(k.PEM()), alg, v, b)
			}
			vs = append(vs, v)
		}
	}
	return vs
}

// version2Vectors: every v2Values entry padded in batch 1, the first one again in batch 2, and
// three unpadded in batch 3.
func version2Vectors(t *testing.T, alg Algorithm, k *PrivateKey, name, keyID string) []vector {
	var vs []vector
	for b, batch := range [][]typedValue{v2Values, v2Values[:1], {v2Values[0], v2Values[4], v2Values[12]}} {
		pad := PadBuckets
		if b == 2 {
			pad = PadNone
		}
		e, err := NewEncrypterWith(k.Public(), keyID, Options{Padding: pad})
		if err != nil {
			t.Fatal(err)
		}
		for _, tv := range batch {
			tok, err := e.SealValue(nil, tv.typ, []byte(tv.data))
			if err != nil {
				t.Fatal(err)
			}
			v := vector{Key: name, Version: 2, Plaintext: tv.data, Type: tv.typ.String(), JSON: tv.json(), Padding: pad.String(), Token: string(tok)}
			vs = append(vs, hpkeVectorDetails(t, string(k.PEM()), alg, v, b+1))
		}
	}
	return vs
}

// hpkeVectorDetails fills in v's intermediate values, computed by the independent implementation.
func hpkeVectorDetails(t *testing.T, privPEM string, alg Algorithm, v vector, batch int) vector {
	t.Helper()
	tok, err := parseHPKE(v.Token)
	if err != nil {
		t.Fatal(err)
	}
	info := hpkeInfo(tok.info)
	s, err := independentSchedule(privPEM, map[Algorithm]uint16{HPKEP256: 0x0010, HPKEXWing: 0x647a}[alg], tok.enc, info)
	if err != nil {
		t.Fatal(err)
	}
	h := hex.EncodeToString
	v.Batch = batch
	v.InfoHex = h(info)
	v.EncHex = h(tok.enc)
	v.DHHex, v.SharedSecretMHex, v.SharedSecretXHex = h(s.DH), h(s.SharedSecretM), h(s.SharedSecretX)
	v.SharedSecretHex = h(s.SharedSecret)
	v.KSContextHex = h(s.KSContext)
	v.SecretHex = h(s.Secret)
	v.ExporterSecretHex = h(s.ExporterSecret)
	v.ExporterContext = hpkeExportContext
	v.BatchKeyHex = h(s.BatchKey)
	v.NonceHex = h(tok.nonce)
	v.AADHex = h(tok.header)
	v.CiphertextHex = h(tok.ciphertext)
	v.PayloadHex = ""
	if tok.version == tokenVersion2 {
		p, err := openWith(s.BatchKey, tok)
		if err != nil {
			t.Fatal(err)
		}
		v.PayloadHex = h(p)
	}
	return v
}

// openWith opens a parsed token's ciphertext under a batch key.
func openWith(key []byte, tok hpkeToken) ([]byte, error) {
	aead, err := newBatchAEAD(key)
	if err != nil {
		return nil, err
	}
	return aead.Open(nil, tok.nonce, tok.ciphertext, tok.header)
}

func rsaInvalidVectors(t *testing.T, k *PrivateKey, key, token string) []invalidVector {
	raw, err := b64std.DecodeString(token)
	if err != nil {
		t.Fatal(err)
	}
	flip := bytes.Clone(raw)
	flip[len(flip)/2] ^= 0x01
	pub := k.Public().rsa
	msg := []byte("alice@example.com")
	label, err := rsa.EncryptOAEP(sha256.New(), cryptorand.Reader, pub, msg, []byte("phiguard"))
	if err != nil {
		t.Fatal(err)
	}
	sha1CT, err := rsa.EncryptOAEP(sha1.New(), cryptorand.Reader, pub, msg, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Textbook RSA of a block that is not an OAEP encoding (its first byte is 0x01, not 0x00).
	block := make([]byte, pub.Size())
	block[0] = 0x01
	copy(block[1:], msg)
	m := new(big.Int).SetBytes(block)
	m.Mod(m, pub.N)
	c := new(big.Int).Exp(m, big.NewInt(int64(pub.E)), pub.N).FillBytes(make([]byte, pub.Size()))
	return []invalidVector{
		{key, b64std.EncodeToString(flip), key + ": one bit of the ciphertext flipped"},
		{key, b64std.EncodeToString(raw[1:]), key + ": ciphertext one byte short"},
		{key, b64std.EncodeToString(label), key + ": wrong OAEP label (\"phiguard\", not empty)"},
		{key, b64std.EncodeToString(sha1CT), key + ": OAEP with SHA-1, not SHA-256"},
		{key, b64std.EncodeToString(c), key + ": not OAEP (textbook RSA of a block starting 0x01)"},
	}
}

// hpkeInvalidVectors breaks each parse rule of section 3.3 once, starting from a good version 2
// token; where a rule is about the sealed payload, the bad payload is sealed under the real batch
// key, so that only the rule rejects it.
func hpkeInvalidVectors(t *testing.T, alg Algorithm, k *PrivateKey, key, keyID, token string) []invalidVector {
	raw, err := b64url.DecodeString(token[len(HPKETokenPrefix):])
	if err != nil {
		t.Fatal(err)
	}
	parsed, _ := parseHPKE(token)
	h := len(parsed.header)
	l := len(keyID)
	enc := func(b []byte) string { return HPKETokenPrefix + b64url.EncodeToString(b) }
	edit := func(f func(b []byte) []byte) string { return enc(f(bytes.Clone(raw))) }
	// resealed makes a token of a fresh batch of the key whose header is part (version, alg, key
	// id) and whose payload is p: valid but for the rule it breaks.
	resealed := func(prefix string, version byte, id string, p []byte) string {
		e, err := newEncrypter(k.Public(), keyID, Options{}, version)
		if err != nil {
			t.Fatal(err)
		}
		if id != keyID { // build the batch for a key id ValidateKeyID refuses
			part := append([]byte{version, algID(alg), byte(len(id))}, id...)
			encd, sender, err := hpke.NewSender(k.Public().hpke, hpkeKDF, hpkeAEAD, hpkeInfo(part))
			if err != nil {
				t.Fatal(err)
			}
			bk, _ := sender.Export(hpkeExportContext, batchKeyLen)
			e.aead, _ = newBatchAEAD(bk)
			e.header = append(binary.BigEndian.AppendUint16(part, uint16(len(encd))), encd...)
		}
		nonce := make([]byte, nonceLen)
		cryptorand.Read(nonce)
		b := append(append(bytes.Clone(e.header), nonce...), e.aead.Seal(nil, nonce, p, e.header)...)
		return prefix + b64url.EncodeToString(b)
	}
	v1Short := resealed(HPKETokenPrefixV1, tokenVersion1, keyID, nil) // 16 bytes after the nonce: valid
	v1Raw, _ := b64url.DecodeString(v1Short[6:])
	otherAlg := byte(algIDXWing)
	if alg == HPKEXWing {
		otherAlg = algIDP256
	}
	noncanon := []byte(token)
	// The last character carries unused bits (the decoded length is not a multiple of 3); set one.
	if len(raw)%3 == 0 {
		t.Fatal("vector token has no unused bits to set")
	}
	last := strings.IndexByte(b64alphabet, noncanon[len(noncanon)-1])
	noncanon[len(noncanon)-1] = b64alphabet[last|1]
	return []invalidVector{
		{key, edit(func(b []byte) []byte { b[len(b)-1] ^= 0x01; return b }), "tag bit flipped"},
		{key, edit(func(b []byte) []byte { b[h+nonceLen] ^= 0x80; return b }), "ciphertext bit flipped"},
		{key, edit(func(b []byte) []byte { b[h] ^= 0x01; return b }), "nonce bit flipped"},
		{key, edit(func(b []byte) []byte { b[h-1] ^= 0x01; return b }), "encapsulated key bit flipped"},
		{key, edit(func(b []byte) []byte { b[3] ^= 0x01; return b }), "key id changed (another, unknown key id)"},
		{key, edit(func(b []byte) []byte { return append([]byte{b[0], b[1], 0}, b[3+l:]...) }), "L = 0 (empty key id)"},
		{key, resealed(HPKETokenPrefix, tokenVersion2, "vector key", []byte("v\x73")), "key id byte 0x20 (space), otherwise valid"},
		{key, resealed(HPKETokenPrefix, tokenVersion2, "vector\x7fkey", []byte("v\x73")), "key id byte 0x7f (DEL), otherwise valid"},
		{key, edit(func(b []byte) []byte { binary.BigEndian.PutUint16(b[3+l:], uint16(h-5-l-1)); return b }), "wrong N (one less than the KEM's Nenc)"},
		{key, HPKETokenPrefixV1 + b64url.EncodeToString(v1Raw[:len(v1Raw)-1]), "fewer than 28 bytes after enc (version 1)"},
		{key, edit(func(b []byte) []byte { return b[:h+nonceLen+tagLen] }), "fewer than 29 bytes after enc (version 2: no payload byte)"},
		{key, resealed(HPKETokenPrefix, tokenVersion2, keyID, append(bytes.Repeat([]byte("x"), MaxPlaintextLen), 's', 0)), "oversize: a 65,538-byte payload, sealed under the real batch key"},
		{key, string(noncanon), "non-canonical base64url (unused bits of the last character set)"},
		{key, token + "==", "padded base64url"},
		{key, edit(func(b []byte) []byte { b[1] = otherAlg; return b }), "algorithm id swapped (the other KEM's id)"},
		{key, edit(func(b []byte) []byte { b[1] = 0x03; return b }), "unknown algorithm id 0x03"},
		{key, edit(func(b []byte) []byte { b[0] = 1; return b }), "version byte does not match the prefix (1 behind hpke2.)"},
		{key, HPKETokenPrefixV1 + token[len(HPKETokenPrefix):], "version byte does not match the prefix (2 behind hpke1.)"},
		{key, "hpke3." + token[len(HPKETokenPrefix):], "unknown prefix hpke3."},
		{key, resealed(HPKETokenPrefix, tokenVersion2, keyID, make([]byte, 32)), "no type byte (a payload of zeros), sealed under the real batch key"},
		{key, resealed(HPKETokenPrefix, tokenVersion2, keyID, []byte("42x")), "unknown type byte 'x', sealed under the real batch key"},
		{key, resealed(HPKETokenPrefix, tokenVersion2, keyID, []byte("forty-twon")), "value not of its type (number type on text), sealed under the real batch key"},
	}
}

const b64alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
