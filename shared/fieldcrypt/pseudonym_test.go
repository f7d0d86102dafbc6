package fieldcrypt

import (
	"bytes"
	"errors"
	"testing"
)

func TestHMAC(t *testing.T) {
	// Known answer from an independent implementation:
	// printf %s alice@example.com | openssl dgst -sha256 -mac HMAC -macopt hexkey:0b0b…0b (32 bytes)
	key := bytes.Repeat([]byte{0x0b}, 32)
	got, err := HMAC([]byte("p="), key, []byte("alice@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "p=de9defa9c41e331fdeac725fe15c3902a5d4da0d992e378a452ddac01e339a06"; string(got) != want {
		t.Fatalf("HMAC = %s, want %s", got, want)
	}
	again, _ := HMAC(nil, key, []byte("alice@example.com"))
	if !bytes.Equal(again, got[2:]) {
		t.Fatal("HMAC is not deterministic")
	}
	other, _ := HMAC(nil, bytes.Repeat([]byte{0x0c}, 32), []byte("alice@example.com"))
	if bytes.Equal(other, again) {
		t.Fatal("HMAC ignores the key")
	}
	for _, short := range [][]byte{nil, make([]byte, 31)} {
		out, err := HMAC([]byte("keep"), short, []byte("v"))
		if !errors.Is(err, ErrInvalidHMACKey) || string(out) != "keep" {
			t.Fatalf("HMAC with %d-byte key = %q, %v; want dst unchanged and ErrInvalidHMACKey", len(short), out, err)
		}
	}
}

func TestSHA256(t *testing.T) {
	// FIPS 180-2 example "abc".
	got := SHA256([]byte("x:"), []byte("abc"))
	if want := "x:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; string(got) != want {
		t.Fatalf("SHA256 = %s, want %s", got, want)
	}
}
