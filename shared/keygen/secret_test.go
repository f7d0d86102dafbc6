package keygen

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/phiguard/phiguard/shared/fieldcrypt"
	"github.com/phiguard/phiguard/shared/phi"
)

func TestPrivateKeyPEMIsExactlyWhatEncodingPEMWrites(t *testing.T) {
	for n := range 200 {
		der := make([]byte, n)
		rand.Read(der)
		got := privateKeyPEM(der)
		want := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if !bytes.Equal(got, want) {
			t.Fatalf("%d bytes: got\n%s\nwant\n%s", n, got, want)
		}
		if cap(got) != len(got) {
			t.Fatalf("%d bytes: the buffer has %d spare bytes: it was sized wrong, so it was copied while growing", n, cap(got)-len(got))
		}
	}
}

func TestSecretBodyIsTheMetadataPlusOneMember(t *testing.T) {
	k := phi.Key{ID: phi.NewID(phi.PrefixKey), Kind: phi.KeyEncryption, Algorithm: "hpke-p256", CreatedAt: time.Unix(0, 0).UTC()}
	priv, err := fieldcrypt.GenerateKeyPair(fieldcrypt.HPKEP256, 0)
	if err != nil {
		t.Fatal(err)
	}
	p := priv.PEM()
	body, err := secretBody(k, "privateKey", p)
	if err != nil {
		t.Fatal(err)
	}
	if cap(body) != len(body) {
		t.Fatalf("body buffer has %d spare bytes: sized wrong", cap(body)-len(body))
	}
	var g GeneratedKey
	if err := json.Unmarshal(body, &g); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if g.ID != k.ID || g.Algorithm != k.Algorithm || g.PrivateKey != string(p) {
		t.Fatalf("decoded %+v", g)
	}

	t.Run("an empty object gets just the member", func(t *testing.T) {
		b, err := secretBody(struct{}{}, "secret", []byte("c2VjcmV0"))
		if err != nil || string(b) != "{\"secret\":\"c2VjcmV0\"}\n" {
			t.Fatalf("%q, %v", b, err)
		}
	})
	t.Run("bytes that are neither printable ASCII nor line feeds are refused without echo", func(t *testing.T) {
		for _, bad := range []string{"a\"b", "a\\b", "tab\there", "é", "\x00"} {
			_, err := secretBody(struct{}{}, "secret", []byte("SECRETMARK"+bad))
			if err == nil || bytes.Contains([]byte(err.Error()), []byte("SECRETMARK")) {
				t.Fatalf("%q: err = %v", bad, err)
			}
		}
	})
	t.Run("metadata that is not an object is refused", func(t *testing.T) {
		if _, err := secretBody([]int{1}, "secret", []byte("x")); err == nil {
			t.Fatal("no error")
		}
	})
}

func TestWriteSecretForbidsCachingAndClearsTheBody(t *testing.T) {
	body := []byte(`{"secret":"c2VjcmV0"}`)
	rec := httptest.NewRecorder()
	writeSecret(rec, 201, body)
	if rec.Code != 201 || rec.Body.String() != `{"secret":"c2VjcmV0"}` {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	for h, v := range map[string]string{"Cache-Control": "no-store", "Pragma": "no-cache", "Content-Type": "application/json"} {
		if rec.Header().Get(h) != v {
			t.Fatalf("%s = %q, want %q", h, rec.Header().Get(h), v)
		}
	}
	if !bytes.Equal(body, make([]byte, len(body))) {
		t.Fatal("the body buffer was not cleared after writing")
	}
}

func TestParseGenerateAppliesDefaultsAndRefusesTheRest(t *testing.T) {
	for _, c := range []struct {
		name    string
		req     GenerateRequest
		alg     fieldcrypt.Algorithm
		bits    int
		invalid bool
	}{
		{"nothing means hpke-p256", GenerateRequest{}, fieldcrypt.HPKEP256, 0, false},
		{"rsa without a size means 3072 bits", GenerateRequest{Algorithm: "rsa-oaep-sha256"}, fieldcrypt.RSAOAEPSHA256, 3072, false},
		{"rsa 4096", GenerateRequest{Algorithm: "rsa-oaep-sha256", RSABits: 4096}, fieldcrypt.RSAOAEPSHA256, 4096, false},
		{"x-wing", GenerateRequest{Algorithm: "hpke-xwing"}, fieldcrypt.HPKEXWing, 0, false},
		{"rsa 1024 is refused", GenerateRequest{Algorithm: "rsa-oaep-sha256", RSABits: 1024}, "", 0, true},
		{"a size for x-wing is refused", GenerateRequest{Algorithm: "hpke-xwing", RSABits: 2048}, "", 0, true},
		{"an unknown name is refused", GenerateRequest{Algorithm: "HPKE-P256"}, "", 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			alg, bits, err := parseGenerate(c.req)
			if c.invalid {
				if phi.ErrorCode(err) != phi.EINVALID {
					t.Fatalf("err = %v, want EINVALID", err)
				}
				return
			}
			if err != nil || alg != c.alg || bits != c.bits {
				t.Fatalf("= %s, %d, %v", alg, bits, err)
			}
			if _, ok := keyPairSpec(alg, bits); !ok && alg != fieldcrypt.HPKEXWing {
				t.Fatalf("no KMS spec for %s/%d", alg, bits)
			}
		})
	}
}

func TestPageKeysWalksEveryKeyOnce(t *testing.T) {
	var keys []phi.Key
	for range 5 {
		keys = append(keys, phi.Key{ID: phi.NewID(phi.PrefixKey), EncryptedHMACKey: []byte("blob")})
	}
	var seen []string
	cursor := ""
	for range 10 {
		page, next, err := pageKeys(keys, phi.Page{Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range page {
			if k.EncryptedHMACKey != nil {
				t.Fatal("a listed key still holds its KMS ciphertext")
			}
			seen = append(seen, k.ID)
		}
		if cursor = next; cursor == "" {
			break
		}
	}
	if len(seen) != 5 || seen[0] != keys[0].ID || seen[4] != keys[4].ID {
		t.Fatalf("seen %v", seen)
	}
	for _, bad := range []string{"%%%", base64.RawURLEncoding.EncodeToString([]byte("dst_00000000000000000000000001")), base64.RawURLEncoding.EncodeToString([]byte(phi.NewID(phi.PrefixKey)))} {
		if _, _, err := pageKeys(keys, phi.Page{Limit: 2, Cursor: bad}); phi.ErrorCode(err) != phi.EBADREQUEST {
			t.Fatalf("cursor %q: err = %v, want EBADREQUEST", bad, err)
		}
	}
}
