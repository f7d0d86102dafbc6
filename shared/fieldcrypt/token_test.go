package fieldcrypt

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

func mustEncrypter(t testing.TB, name, keyID string) *Encrypter {
	t.Helper()
	e, err := NewEncrypter(testKey(t, name).Public(), keyID)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func mustKeyring(t testing.TB, keys map[string]string) *Keyring {
	t.Helper()
	var r Keyring
	for id, name := range keys {
		if err := r.Add(id, testKey(t, name)); err != nil {
			t.Fatal(err)
		}
	}
	return &r
}

func seal(t testing.TB, e *Encrypter, value string) string {
	t.Helper()
	tok, err := e.Seal(nil, []byte(value))
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return string(tok)
}

func TestRoundTripEveryAlgorithmAndSize(t *testing.T) {
	values := []string{"", "alice@example.com", "José Müller 🙂", "+14155550123", strings.Repeat("x", 190)}
	for _, name := range []string{"rsa2048", "rsa3072", "rsa4096", "p256", "xwing"} {
		t.Run(name, func(t *testing.T) {
			e := mustEncrypter(t, name, "key-"+name)
			ring := mustKeyring(t, map[string]string{"key-" + name: name})
			max := e.MaxPlaintext()
			all := append(values, strings.Repeat("m", max))
			if name != "rsa2048" && name != "rsa3072" && name != "rsa4096" {
				all = append(all, strings.Repeat("é", 5000))
			}
			var dst []byte
			for _, v := range all {
				start := len(dst)
				var err error
				dst, err = e.Seal(dst, []byte(v))
				if err != nil {
					t.Fatalf("Seal(%d bytes): %v", len(v), err)
				}
				tok := string(dst[start:])
				if !utf8.ValidString(tok) || strings.ContainsAny(tok, " \n\"\\") {
					t.Fatal("token is not plain JSON-safe text")
				}
				got, err := ring.Open(tok)
				if err != nil {
					t.Fatalf("Open(%d-byte value): %v", len(v), err)
				}
				if string(got) != v {
					t.Fatalf("round trip changed a %d-byte value", len(v))
				}
				info, err := Inspect(tok)
				if err != nil {
					t.Fatal(err)
				}
				if info.Algorithm != e.Algorithm() || info.TokenLen != len(tok) {
					t.Fatalf("Inspect = %+v", info)
				}
				if e.Algorithm() == RSAOAEPSHA256 {
					if info.KeyID != "" || info.PlaintextLen != -1 || info.RSABits != testKey(t, name).Public().Bits() {
						t.Fatalf("Inspect RSA = %+v", info)
					}
				} else if info.KeyID != "key-"+name || info.Version != 2 || info.PlaintextLen != -1 || info.EncodedLen != PadBuckets.PaddedLen(len(v)+1) {
					t.Fatalf("Inspect HPKE = %+v", info)
				}
			}
		})
	}
}

func TestRSATokenIsExactlyBase64OfTheOAEPCiphertext(t *testing.T) {
	for _, name := range []string{"rsa2048", "rsa3072", "rsa4096"} {
		k := testKey(t, name)
		tok := seal(t, mustEncrypter(t, name, "k1"), "alice@example.com")
		ct, err := base64.StdEncoding.DecodeString(tok)
		if err != nil {
			t.Fatalf("%s token is not standard base64: %v", name, err)
		}
		if len(ct) != k.Public().Bits()/8 {
			t.Fatalf("%s token decodes to %d bytes, want exactly the %d-byte ciphertext", name, len(ct), k.Public().Bits()/8)
		}
		if e := mustEncrypter(t, name, "k1"); e.MaxPlaintext() != k.Public().Bits()/8-66 {
			t.Fatalf("%s MaxPlaintext = %d, want k-66", name, e.MaxPlaintext())
		}
	}
}

func TestOversizeValuesFailClosed(t *testing.T) {
	for _, tc := range []struct {
		name string
		max  int
	}{{"rsa2048", 190}, {"rsa3072", 318}, {"rsa4096", 446}, {"p256", MaxPlaintextLen}, {"xwing", MaxPlaintextLen}} {
		t.Run(tc.name, func(t *testing.T) {
			e := mustEncrypter(t, tc.name, "k1")
			dst := []byte("prefix")
			out, err := e.Seal(dst, bytes.Repeat([]byte("a"), tc.max+1))
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Seal(max+1) error = %v, want ErrTooLarge", err)
			}
			if string(out) != "prefix" {
				t.Fatalf("Seal changed dst on error: %q", out)
			}
			if _, err := e.Seal(nil, bytes.Repeat([]byte("a"), tc.max)); err != nil {
				t.Fatalf("Seal(max) = %v", err)
			}
		})
	}
}

func TestHPKETokensOfABatchShareOneEncapsulation(t *testing.T) {
	for _, name := range []string{"p256", "xwing"} {
		t.Run(name, func(t *testing.T) {
			e := mustEncrypter(t, name, "k1")
			a, b := seal(t, e, "same value"), seal(t, e, "same value")
			if a == b {
				t.Fatal("two tokens of the same value are identical: nonces are not fresh")
			}
			ta, _ := parseHPKE(a)
			tb, _ := parseHPKE(b)
			if !bytes.Equal(ta.header, tb.header) || bytes.Equal(ta.nonce, tb.nonce) {
				t.Fatal("tokens of one batch must share the header (enc) and differ in nonce")
			}
			other := seal(t, mustEncrypter(t, name, "k1"), "same value")
			to, _ := parseHPKE(other)
			if bytes.Equal(to.enc, ta.enc) {
				t.Fatal("two encrypters share an encapsulation")
			}
			if !strings.HasPrefix(a, HPKETokenPrefix) || strings.ContainsAny(a[len(HPKETokenPrefix):], "+/=.") {
				t.Fatal("HPKE token is not prefix + unpadded base64url")
			}
		})
	}
}

// TestTamperedTokensFail flips one bit in every byte of every region of the decoded token (and
// in the prefix); each must fail, never return a plaintext.
func TestTamperedTokensFail(t *testing.T) {
	for _, name := range []string{"p256", "xwing"} {
		t.Run(name, func(t *testing.T) {
			ring := mustKeyring(t, map[string]string{"k1": name})
			tok := seal(t, mustEncrypter(t, name, "k1"), "alice@example.com")
			raw, err := b64url.DecodeString(tok[len(HPKETokenPrefix):])
			if err != nil {
				t.Fatal(err)
			}
			parsed, _ := parseHPKE(tok)
			h := len(parsed.header)
			regions := map[string][2]int{
				"version":    {0, 1},
				"algorithm":  {1, 2},
				"key id len": {2, 3},
				"key id":     {3, 5},
				"enc len":    {5, 7},
				"enc":        {7, h},
				"nonce":      {h, h + nonceLen},
				"ciphertext": {h + nonceLen, len(raw) - tagLen},
				"tag":        {len(raw) - tagLen, len(raw)},
			}
			for region, r := range regions {
				for i := r[0]; i < r[1]; i++ {
					for _, bit := range []byte{0x01, 0x80} {
						bad := bytes.Clone(raw)
						bad[i] ^= bit
						pt, err := ring.Open(HPKETokenPrefix + b64url.EncodeToString(bad))
						if err == nil {
							t.Fatalf("flipping bit %#x of %s byte %d still decrypts to %d bytes", bit, region, i, len(pt))
						}
						if !errors.Is(err, ErrDecrypt) && !errors.Is(err, ErrMalformedToken) && !errors.Is(err, ErrUnknownKey) {
							t.Fatalf("%s byte %d: unexpected error class %v", region, i, err)
						}
					}
				}
			}
			for _, prefix := range []string{HPKETokenPrefixV1, "hpke3.", "hpkf2.", "HPKE2."} {
				if _, err := ring.Open(prefix + tok[len(HPKETokenPrefix):]); err == nil {
					t.Fatalf("the prefix changed to %s still decrypts", prefix)
				}
			}
			if _, err := ring.Open(tok[:len(tok)-1]); err == nil {
				t.Fatal("a truncated token still decrypts")
			}
			if _, err := ring.Open(tok + "A"); err == nil {
				t.Fatal("an extended token still decrypts")
			}
		})
	}
	t.Run("rsa2048", func(t *testing.T) {
		ring := mustKeyring(t, map[string]string{"": "rsa2048"})
		tok := seal(t, mustEncrypter(t, "rsa2048", "k1"), "alice@example.com")
		ct, _ := base64.StdEncoding.DecodeString(tok)
		for _, i := range []int{0, 1, 100, len(ct) - 1} {
			bad := bytes.Clone(ct)
			bad[i] ^= 0x01
			if _, err := ring.Open(base64.StdEncoding.EncodeToString(bad)); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("flipped byte %d: error = %v, want ErrDecrypt", i, err)
			}
		}
	})
}

func TestWrongAndUnknownKeys(t *testing.T) {
	tests := []struct {
		name    string
		sealer  string
		keyID   string
		ring    map[string]string
		wantErr error
	}{
		{"an HPKE token under another key's id fails to authenticate", "p256", "k1", map[string]string{"k1": "p256-other"}, ErrDecrypt},
		{"an X-Wing token under another key's id fails to authenticate", "xwing", "k1", map[string]string{"k1": "xwing-other"}, ErrDecrypt},
		{"an HPKE token of an unknown key id is reported unknown", "p256", "k1", map[string]string{"k2": "p256"}, ErrUnknownKey},
		{"an HPKE key id held only for another algorithm is unknown", "p256", "k1", map[string]string{"k1": "xwing"}, ErrUnknownKey},
		{"an untagged wrong key fails to authenticate", "p256", "k1", map[string]string{"": "p256-other"}, ErrDecrypt},
		{"an RSA token with only another RSA key of its size fails", "rsa2048", "k1", map[string]string{"": "rsa2048-other"}, ErrDecrypt},
		{"an RSA token with no RSA key of its size is reported unknown", "rsa2048", "k1", map[string]string{"": "rsa3072"}, ErrUnknownKey},
		{"an empty keyring knows no key", "xwing", "k1", nil, ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := seal(t, mustEncrypter(t, tt.sealer, tt.keyID), "alice@example.com")
			pt, err := mustKeyring(t, tt.ring).Open(tok)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Open = %q, %v; want error wrapping %v", pt, err, tt.wantErr)
			}
		})
	}

	t.Run("a keyring with several keys finds the right one for each token", func(t *testing.T) {
		ring := mustKeyring(t, map[string]string{"a": "p256", "b": "p256-other", "c": "xwing", "": "rsa2048-other", "r": "rsa2048"})
		for _, tc := range []struct{ name, id string }{{"p256", "a"}, {"p256-other", "b"}, {"xwing", "c"}, {"rsa2048", "r"}, {"rsa2048-other", "x"}} {
			tok := seal(t, mustEncrypter(t, tc.name, tc.id), "v-"+tc.name)
			got, err := ring.Open(tok)
			if err != nil || string(got) != "v-"+tc.name {
				t.Fatalf("%s: Open = %q, %v", tc.name, got, err)
			}
		}
	})

	t.Run("a key id cannot be claimed by two different keys", func(t *testing.T) {
		var r Keyring
		if err := r.Add("k1", testKey(t, "p256")); err != nil {
			t.Fatal(err)
		}
		if err := r.Add("k1", testKey(t, "p256-other")); !errors.Is(err, ErrInvalidKey) {
			t.Fatalf("second Add error = %v, want ErrInvalidKey", err)
		}
		if err := r.Add("bad id", testKey(t, "p256")); !errors.Is(err, ErrInvalidKeyID) {
			t.Fatalf("Add(bad id) error = %v, want ErrInvalidKeyID", err)
		}
		if err := r.Add("k2", nil); !errors.Is(err, ErrInvalidKey) {
			t.Fatalf("Add(nil) error = %v, want ErrInvalidKey", err)
		}
	})
}

// TestRotation: data under key 1, rotate, data under key 2; each decrypts with its own private key
// only.
func TestRotation(t *testing.T) {
	for _, pair := range [][2]string{{"p256", "p256-other"}, {"xwing", "xwing-other"}, {"rsa2048", "rsa2048-other"}} {
		t.Run(pair[0], func(t *testing.T) {
			tok1 := seal(t, mustEncrypter(t, pair[0], "key-1"), "before rotation")
			tok2 := seal(t, mustEncrypter(t, pair[1], "key-2"), "after rotation")
			ring1 := mustKeyring(t, map[string]string{"key-1": pair[0]})
			ring2 := mustKeyring(t, map[string]string{"key-2": pair[1]})
			if got, err := ring1.Open(tok1); err != nil || string(got) != "before rotation" {
				t.Fatalf("key 1 on its own token: %q, %v", got, err)
			}
			if got, err := ring2.Open(tok2); err != nil || string(got) != "after rotation" {
				t.Fatalf("key 2 on its own token: %q, %v", got, err)
			}
			if _, err := ring1.Open(tok2); err == nil {
				t.Fatal("key 1 decrypts key 2's token")
			}
			if _, err := ring2.Open(tok1); err == nil {
				t.Fatal("key 2 decrypts key 1's token")
			}
		})
	}
}

func TestMalformedTokens(t *testing.T) {
	good := seal(t, mustEncrypter(t, "p256", "k1"), "v")
	parsedGood, _ := parseHPKE(good)
	raw, _ := b64url.DecodeString(good[len(HPKETokenPrefix):])
	reencode := func(f func([]byte) []byte) string {
		return HPKETokenPrefix + b64url.EncodeToString(f(bytes.Clone(raw)))
	}
	tests := []struct {
		name  string
		token string
	}{
		{"empty text", ""},
		{"the bare prefix", HPKETokenPrefix},
		{"plain text", "alice@example.com"},
		{"padded base64url", good + "=="},
		{"standard base64 alphabet in an HPKE token", strings.ReplaceAll(strings.ReplaceAll(good, "-", "+"), "_", "/") + "+"},
		{"a line break inside", good[:20] + "\n" + good[20:]},
		{"an unknown version", reencode(func(b []byte) []byte { b[0] = 3; return b })},
		{"a version byte of 1 behind the hpke2. prefix", reencode(func(b []byte) []byte { b[0] = 1; return b })},
		{"a version 2 body behind the hpke1. prefix", HPKETokenPrefixV1 + good[len(HPKETokenPrefix):]},
		{"an unknown prefix version", "hpke3." + good[len(HPKETokenPrefix):]},
		{"an unknown algorithm id", reencode(func(b []byte) []byte { b[1] = 9; return b })},
		{"an empty key id", reencode(func(b []byte) []byte { return append(b[:2:2], append([]byte{0}, b[5:]...)...) })},
		{"a key id running past the end", reencode(func(b []byte) []byte { b[2] = 255; return b })},
		{"an enc length that does not match the KEM", reencode(func(b []byte) []byte { b[6] = 64; return b })},
		{"a token cut inside enc", reencode(func(b []byte) []byte { return b[:40] })},
		{"a token without a tag", reencode(func(b []byte) []byte { return b[:len(b)-len(parsedGood.ciphertext)+tagLen] })},
		{"a version 2 token with fewer than 29 bytes after enc", reencode(func(b []byte) []byte {
			return b[:len(parsedGood.header)+nonceLen+tagLen]
		})},
		{"an oversize HPKE token", HPKETokenPrefix + strings.Repeat("A", b64url.EncodedLen(maxRawHPKELen)+4)},
		{"base64 of a 100-byte ciphertext", base64.StdEncoding.EncodeToString(make([]byte, 100))},
		{"base64 of a 255-byte ciphertext", base64.StdEncoding.EncodeToString(make([]byte, 255))},
		{"344 characters that are not base64", strings.Repeat("!", 344)},
		{"RSA base64 with unpadded bits set", base64.StdEncoding.EncodeToString(make([]byte, 256))[:341] + "B=="},
	}
	ring := mustKeyring(t, map[string]string{"k1": "p256", "": "rsa2048"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Inspect(tt.token); !errors.Is(err, ErrMalformedToken) {
				t.Fatalf("Inspect error = %v, want ErrMalformedToken", err)
			}
			if _, err := ring.Open(tt.token); !errors.Is(err, ErrMalformedToken) {
				t.Fatalf("Open error = %v, want ErrMalformedToken", err)
			}
		})
	}
}

func TestEncrypterArguments(t *testing.T) {
	if _, err := NewEncrypter(nil, "k1"); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("NewEncrypter(nil) error = %v, want ErrInvalidKey", err)
	}
	for _, id := range []string{"", "has space", strings.Repeat("k", 256)} {
		if _, err := NewEncrypter(testKey(t, "p256").Public(), id); !errors.Is(err, ErrInvalidKeyID) {
			t.Errorf("NewEncrypter(key id %.10q) error = %v, want ErrInvalidKeyID", id, err)
		}
	}
	e := mustEncrypter(t, "xwing", strings.Repeat("k", 255))
	tok := seal(t, e, "longest key id")
	if info, err := Inspect(tok); err != nil || len(info.KeyID) != 255 || info.EncapsulatedKeyLen != 1120 {
		t.Fatalf("Inspect = %+v, %v", info, err)
	}
}

func TestSealAppendsWithoutAllocating(t *testing.T) {
	for _, name := range []string{"p256", "xwing"} {
		e := mustEncrypter(t, name, "k1")
		dst := make([]byte, 0, 64<<10)
		value := []byte("alice@example.com")
		allocs := testing.AllocsPerRun(100, func() {
			var err error
			if dst, err = e.Seal(dst[:0], value); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s Seal into a buffer with room allocates %.1f times per call", name, allocs)
		}
		dst, _ = e.Seal([]byte(`{"email":"`), value)
		if !strings.HasPrefix(string(dst), `{"email":"hpke2.`) {
			t.Errorf("%s Seal did not append after existing bytes: %.20q", name, dst)
		}
	}
}

func TestConcurrentSealAndOpen(t *testing.T) {
	e := mustEncrypter(t, "p256", "k1")
	ring := mustKeyring(t, map[string]string{"k1": "p256"})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			var dst []byte
			for i := range 50 {
				v := strings.Repeat("v", g*50+i)
				tok, err := e.Seal(dst[:0], []byte(v))
				if err != nil {
					errs <- err
					return
				}
				dst = tok
				got, err := ring.Open(string(tok))
				if err != nil || string(got) != v {
					errs <- errors.New("concurrent round trip failed")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// FuzzOpen checks that no input makes Inspect or Open panic; the seed corpus runs in every go test.
func FuzzOpen(f *testing.F) {
	ring := mustKeyring(f, map[string]string{"k1": "p256", "k2": "xwing", "": "rsa2048"})
	f.Add(seal(f, mustEncrypter(f, "p256", "k1"), "v"))
	f.Add(seal(f, mustEncrypter(f, "xwing", "k2"), "v"))
	f.Add(seal(f, mustEncrypter(f, "rsa2048", "k3"), "v"))
	f.Add("hpke1.AQEC")
	f.Add("hpke1.")
	f.Fuzz(func(t *testing.T, token string) {
		info, ierr := Inspect(token)
		_, oerr := ring.Open(token)
		if ierr != nil && oerr == nil {
			t.Fatalf("Open accepted a token Inspect rejects: %v", ierr)
		}
		if ierr == nil && info.TokenLen != len(token) {
			t.Fatalf("Inspect TokenLen = %d, want %d", info.TokenLen, len(token))
		}
	})
}

// TestTokenLengthsMatchTheDocument checks the size formulas and examples of docs/ENCRYPTION.md
// section 3.3: 6 + ceil(4*(98 + L + p)/3) characters for P-256 and 6 + ceil(4*(1153 + L + p)/3)
// for X-Wing, with p = n (version 1), n+1 (version 2 unpadded) or the bucket of n+1.
func TestTokenLengthsMatchTheDocument(t *testing.T) {
	keyID := "0b9d1c5e-7a3f-4c57-9d8e-3f0e2f6b1a22"
	value := "alice.smith@mail.com"
	for _, tc := range []struct {
		name string
		pad  Padding
		want int
	}{
		{"p256", PadBuckets, 228}, {"xwing", PadBuckets, 1634}, {"p256", PadNone, 213}, {"xwing", PadNone, 1620},
		{"rsa2048", PadBuckets, 344}, {"rsa3072", PadBuckets, 512}, {"rsa4096", PadBuckets, 684},
	} {
		e, err := NewEncrypterWith(testKey(t, tc.name).Public(), keyID, Options{Padding: tc.pad})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(seal(t, e, value)); got != tc.want {
			t.Errorf("%s (padding %s) token of a 20-byte value is %d characters, the document says %d", tc.name, tc.pad, got, tc.want)
		}
	}
	ceil := func(a, b int) int { return (a + b - 1) / b }
	for _, name := range []string{"p256", "xwing"} {
		fixed := map[string]int{"p256": 98, "xwing": 1153}[name]
		v1, err := newEncrypter(testKey(t, name).Public(), keyID, Options{}, tokenVersion1)
		if err != nil {
			t.Fatal(err)
		}
		padded := mustEncrypter(t, name, keyID)
		unpadded, _ := NewEncrypterWith(testKey(t, name).Public(), keyID, Options{Padding: PadNone})
		for _, n := range []int{0, 1, 30, 31, 32, 33, 63, 64, 100, 1000, 4095, 65535, 65536} {
			v := strings.Repeat("x", n)
			for _, c := range []struct {
				e *Encrypter
				p int
			}{{v1, n}, {unpadded, n + 1}, {padded, PadBuckets.PaddedLen(n + 1)}} {
				if got, want := len(seal(t, c.e, v)), 6+ceil(4*(fixed+len(keyID)+c.p), 3); got != want {
					t.Fatalf("%s version %d padding %s, %d-byte value: %d characters, the formula says %d", name, c.e.version, c.e.pad, n, got, want)
				}
			}
		}
	}
}

func TestPaddingBuckets(t *testing.T) {
	for _, c := range []struct{ m, want int }{
		{1, 32}, {21, 32}, {32, 32}, {33, 64}, {64, 64}, {65, 128}, {1000, 1024}, {4097, 8192},
		{65536, 65536}, {65537, 65537},
	} {
		if got := PadBuckets.PaddedLen(c.m); got != c.want {
			t.Errorf("PaddedLen(%d) = %d, want %d", c.m, got, c.want)
		}
		if got := PadNone.PaddedLen(c.m); got != c.m {
			t.Errorf("PadNone.PaddedLen(%d) = %d", c.m, got)
		}
	}
	for _, s := range []string{"", "buckets", "none"} {
		if _, err := ParsePadding(s); err != nil {
			t.Errorf("ParsePadding(%q) = %v", s, err)
		}
	}
	if _, err := ParsePadding("pad"); !errors.Is(err, ErrInvalidPadding) {
		t.Errorf("ParsePadding(pad) = %v, want ErrInvalidPadding", err)
	}
	if _, err := NewEncrypterWith(testKey(t, "p256").Public(), "k1", Options{Padding: 7}); !errors.Is(err, ErrInvalidPadding) {
		t.Errorf("NewEncrypterWith(padding 7) = %v, want ErrInvalidPadding", err)
	}
	// Values of one bucket give tokens of one length; the next bucket is longer.
	e := mustEncrypter(t, "p256", "k1")
	short, long := len(seal(t, e, "HIV")), len(seal(t, e, "Influenza, seasonal, type A"))
	if short != long {
		t.Fatalf("a 3-byte and a 27-byte value give tokens of %d and %d characters: padding does not hide their lengths", short, long)
	}
	if l := len(seal(t, e, strings.Repeat("x", 40))); l <= short {
		t.Fatalf("a 40-byte value's token (%d) is not longer than a 3-byte value's (%d)", l, short)
	}
}

// TestValueTypesRoundTrip: a version 2 token restores the value's JSON type; 42 and "42" differ.
func TestValueTypesRoundTrip(t *testing.T) {
	for _, name := range []string{"p256", "xwing"} {
		e := mustEncrypter(t, name, "k1")
		ring := mustKeyring(t, map[string]string{"k1": name})
		for _, c := range []struct {
			typ  ValueType
			data string
			json string
		}{
			{TypeString, "42", `"42"`},
			{TypeNumber, "42", `42`},
			{TypeNumber, "42.50", `42.50`},
			{TypeNumber, "-1e5", `-1e5`},
			{TypeBoolean, "true", `true`},
			{TypeBoolean, "false", `false`},
			{TypeObject, `{"a":[1,"x"]}`, `{"a":[1,"x"]}`},
			{TypeArray, `[]`, `[]`},
			{TypeString, "", `""`},
			{TypeString, "a\"\n<b>", `"a\"\n<b>"`},
			{TypeString, "ends in NUL\x00", `"ends in NUL\u0000"`},
		} {
			tok, err := e.SealValue(nil, c.typ, []byte(c.data))
			if err != nil {
				t.Fatal(err)
			}
			v, err := ring.OpenValue(string(tok))
			if err != nil || v.Type != c.typ || string(v.Data) != c.data {
				t.Fatalf("%s: %s %q: OpenValue = %v %q, %v", name, c.typ, c.data, v.Type, v.Data, err)
			}
			if got := string(v.AppendJSON(nil)); got != c.json {
				t.Fatalf("%s: %s %q: AppendJSON = %s, want %s", name, c.typ, c.data, got, c.json)
			}
		}
		if _, err := e.SealValue(nil, ValueType('x'), []byte("1")); err == nil {
			t.Fatal("SealValue accepts an unknown type")
		}
	}
	rsaTok, _ := mustEncrypter(t, "rsa2048", "k1").SealValue(nil, TypeNumber, []byte("42"))
	if v, err := mustKeyring(t, map[string]string{"": "rsa2048"}).OpenValue(string(rsaTok)); err != nil || v.Type != TypeUnknown || string(v.Data) != "42" {
		t.Fatalf("RSA OpenValue = %v %q, %v; want the untyped value", v.Type, v.Data, err)
	}
}

// TestVersion1TokensStillDecrypt: tokens of the old format open, untyped, with their exact length
// visible to Inspect.
func TestVersion1TokensStillDecrypt(t *testing.T) {
	for _, name := range []string{"p256", "xwing"} {
		e, err := newEncrypter(testKey(t, name).Public(), "k1", Options{}, tokenVersion1)
		if err != nil {
			t.Fatal(err)
		}
		tok := seal(t, e, "alice@example.com")
		if !strings.HasPrefix(tok, HPKETokenPrefixV1) {
			t.Fatalf("version 1 token starts %.6s", tok)
		}
		v, err := mustKeyring(t, map[string]string{"k1": name}).OpenValue(tok)
		if err != nil || v.Type != TypeUnknown || string(v.Data) != "alice@example.com" {
			t.Fatalf("OpenValue = %v %q, %v", v.Type, v.Data, err)
		}
		if info, err := Inspect(tok); err != nil || info.Version != 1 || info.PlaintextLen != 17 || info.EncodedLen != 0 {
			t.Fatalf("Inspect = %+v, %v", info, err)
		}
	}
}

// TestMalformedPayloadsAreRejected seals, under a real batch key, version 2 payloads that break
// the type rules: they authenticate but must not decrypt.
func TestMalformedPayloadsAreRejected(t *testing.T) {
	e := mustEncrypter(t, "p256", "k1")
	ring := mustKeyring(t, map[string]string{"k1": "p256"})
	for _, c := range []struct{ name, p string }{
		{"an empty payload", ""},
		{"only zero bytes", "\x00\x00\x00"},
		{"an unknown type byte", "v\x7a"},
		{"a number type on text that is not a number", "abc" + "n"},
		{"a boolean type on a number", "1" + "b"},
		{"an object type on an array", "[]" + "o"},
		{"an object type on broken JSON", "{\"a\":" + "o"},
	} {
		tok := sealRawPayload(t, e, []byte(c.p))
		if _, err := ring.Open(tok); !errors.Is(err, ErrMalformedToken) {
			t.Errorf("%s: Open error = %v, want ErrMalformedToken", c.name, err)
		}
	}
}

// sealRawPayload makes a version 2 token of e's batch whose payload P is p exactly.
func sealRawPayload(t testing.TB, e *Encrypter, p []byte) string {
	t.Helper()
	nonce := make([]byte, nonceLen)
	raw := append(append(bytes.Clone(e.header), nonce...), e.aead.Seal(nil, nonce, p, e.header)...)
	return HPKETokenPrefix + b64url.EncodeToString(raw)
}

// TestKeyringLearnsTheIDOfAKeyWithout: a key added without an id that opens a token is used for
// that key id from then on, before (and instead of) the other id-less keys.
func TestKeyringLearnsTheIDOfAKeyWithout(t *testing.T) {
	ring := mustKeyring(t, map[string]string{"": "p256"})
	if err := ring.Add("", testKey(t, "p256-other")); err != nil {
		t.Fatal(err)
	}
	for range 2 { // two batches of the same key id
		tok := seal(t, mustEncrypter(t, "p256", "key-7"), "v")
		if got, err := ring.Open(tok); err != nil || string(got) != "v" {
			t.Fatalf("Open = %q, %v", got, err)
		}
	}
	if k := ring.learned[string(HPKEP256)+"/key-7"]; k == nil || !k.Public().Equal(testKey(t, "p256").Public()) {
		t.Fatal("the keyring did not learn which key has id key-7")
	}
	if len(ring.learned) != 1 {
		t.Fatalf("learned %d ids", len(ring.learned))
	}
}
