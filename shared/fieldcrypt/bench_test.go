package fieldcrypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"sync"
	"testing"
	"time"
)

var benchValue = []byte("alice.longname@example-hospital.org") // a typical 35-byte PHI field

// baselineNsPerOp measures, once per run, a bare AES-256-GCM seal of benchValue with a random
// nonce and no encoding: the floor any per-field encryption is compared with. (It times a plain
// loop: testing.Benchmark cannot run inside a running benchmark.)
var baselineNsPerOp = sync.OnceValue(func() float64 {
	key := make([]byte, 32)
	rand.Read(key)
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	nonce := make([]byte, 12)
	dst := make([]byte, 0, 256)
	const n = 200_000
	start := time.Now()
	for range n {
		rand.Read(nonce)
		dst = gcm.Seal(dst[:0], nonce, benchValue, nil)
	}
	return float64(time.Since(start).Nanoseconds()) / n
})

func reportRatio(b *testing.B) {
	if base := baselineNsPerOp(); base > 0 && b.N > 0 {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/base, "x-aes-gcm")
	}
}

// BenchmarkSeal measures the per-field cost inside a batch: one Seal of a 35-byte value with an
// Encrypter created beforehand. x-aes-gcm is the ratio to a bare AES-256-GCM seal.
func BenchmarkSeal(b *testing.B) {
	for _, name := range []string{"p256", "xwing", "rsa2048", "rsa3072", "rsa4096"} {
		b.Run(name, func(b *testing.B) {
			e := mustEncrypter(b, name, "0b9d1c5e-7a3f-4c57-9d8e-3f0e2f6b1a22")
			dst := make([]byte, 0, 4096)
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if dst, err = e.Seal(dst[:0], benchValue); err != nil {
					b.Fatal(err)
				}
			}
			reportRatio(b)
		})
	}
}

// BenchmarkNewEncrypter measures the per-batch cost: one HPKE encapsulation and key export.
func BenchmarkNewEncrypter(b *testing.B) {
	for _, name := range []string{"p256", "xwing", "rsa2048"} {
		b.Run(name, func(b *testing.B) {
			pub := testKey(b, name).Public()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := NewEncrypter(pub, "0b9d1c5e-7a3f-4c57-9d8e-3f0e2f6b1a22"); err != nil {
					b.Fatal(err)
				}
			}
			reportRatio(b)
		})
	}
}

// BenchmarkOpen measures decrypting one token of an already-seen batch (HPKE) or one RSA token.
func BenchmarkOpen(b *testing.B) {
	for _, name := range []string{"p256", "xwing", "rsa2048"} {
		b.Run(name, func(b *testing.B) {
			tok := seal(b, mustEncrypter(b, name, "k1"), string(benchValue))
			ring := mustKeyring(b, map[string]string{"k1": name})
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ring.Open(tok); err != nil {
					b.Fatal(err)
				}
			}
			reportRatio(b)
		})
	}
}

func BenchmarkHMAC(b *testing.B) {
	key := make([]byte, 32)
	dst := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		dst, _ = HMAC(dst[:0], key, benchValue)
	}
	reportRatio(b)
}
