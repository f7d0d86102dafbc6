package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/phiguard/phiguard/shared/fieldcrypt"
	"github.com/phiguard/phiguard/shared/phi"
)

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
