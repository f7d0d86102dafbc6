package keygen

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/pem"
	"slices"
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
			alg, bits, err := ParseGenerate(c.req)
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
	now := time.Now()
	var keys []phi.Key
	for range 5 {
		keys = append(keys, phi.Key{ID: phi.NewID(phi.PrefixKey), EncryptedHMACKey: []byte("blob")})
	}
	later, earlier := now.Add(time.Minute), now.Add(-time.Second)
	keys[3].Status, keys[3].ExpiresAt = phi.KeyPending, &later
	// An expired pending key between the others is left out, and the cursor still walks past it.
	keys = slices.Insert(keys, 2, phi.Key{ID: phi.NewID(phi.PrefixKey), Status: phi.KeyPending, ExpiresAt: &earlier})
	expired := keys[2].ID
	var seen []string
	cursor := ""
	for range 10 {
		page, next, err := pageKeys(keys, phi.Page{Limit: 2, Cursor: cursor}, now)
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
	if len(seen) != 5 || seen[0] != keys[0].ID || seen[4] != keys[5].ID || slices.Contains(seen, expired) {
		t.Fatalf("seen %v (expired %s)", seen, expired)
	}
	// A cursor naming a key that expired since its page was served still works.
	c := base64.RawURLEncoding.EncodeToString([]byte(expired))
	if page, _, err := pageKeys(keys, phi.Page{Limit: 10, Cursor: c}, now); err != nil || len(page) != 3 || page[0].ID != keys[3].ID {
		t.Fatalf("after an expired key's cursor: %v, %v", page, err)
	}
	for _, bad := range []string{"%%%", base64.RawURLEncoding.EncodeToString([]byte("dst_00000000000000000000000001")), base64.RawURLEncoding.EncodeToString([]byte(phi.NewID(phi.PrefixKey)))} {
		if _, _, err := pageKeys(keys, phi.Page{Limit: 2, Cursor: bad}, now); phi.ErrorCode(err) != phi.EBADREQUEST {
			t.Fatalf("cursor %q: err = %v, want EBADREQUEST", bad, err)
		}
	}
}
