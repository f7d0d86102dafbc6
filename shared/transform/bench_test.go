package transform

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/phiguard/phiguard/shared/eventcorpus"
	"github.com/phiguard/phiguard/shared/fieldcrypt"
)

// The benchmarks run over a seeded corpus of Segment events (identify, track,
// page; 0.5–4 KB; 3–10 PHI fields per destination) sent to a source with
// three destinations, each with its own plan. One benchmark op is one Lambda
// invocation: a batch of benchInvocation events, each transformed for every
// destination, with the production sealer (fieldcrypt.Encrypter, hpke-p256:
// one encapsulation per destination and invocation). All benchmarks process
// the same (event, destination) pairs.
//
// The headline ratios compare like with like: BenchmarkTransform encrypts
// with hpke-p256 exactly the fields BenchmarkReference encrypts with RSA
// (every configured field that is not removed). BenchmarkTransformTreatments
// applies the destinations' real mix of treatments and is compared with
// BenchmarkReferenceMatched, which uses RSA only for encrypt fields.

const (
	benchInvocation = 100
	benchCorpus     = 1000
	benchKeyID      = "key_01J0ZK7T3V8E9X2Q4R6S5W1Y0A"
)

var benchDestinations = []Spec{
	{ // a data warehouse: encrypt everything personal
		Fields: []Field{
			{"traits.email", Encrypt}, {"traits.phone", Encrypt}, {"traits.name", Encrypt},
			{"traits.address", Encrypt}, {"traits.birthday", Encrypt}, {"context.ip", Encrypt},
			{"context.traits.email", Encrypt}, {"context.traits.phone", Encrypt},
			{"properties.products[].name", Encrypt}, {"properties.shipping_address", Encrypt},
		},
		Drop: []string{"traits.ssn"},
	},
	{ // an ad platform: normalized SHA-256 match keys, nothing else personal
		Fields: []Field{
			{"traits.email", SHA256}, {"traits.phone", SHA256}, {"traits.first_name", SHA256},
			{"traits.last_name", SHA256}, {"context.traits.email", SHA256}, {"context.traits.phone", SHA256},
			{"context.ip", Redact}, {"traits.address", Redact}, {"properties.shipping_address", Redact},
		},
		Drop: []string{"traits.ssn", "traits.birthday"},
	},
	{ // a webhook: joinable pseudonyms plus encrypted contact data
		Fields: []Field{
			{"traits.email", HMAC}, {"context.traits.email", HMAC}, {"traits.phone", Encrypt}, {"context.traits.phone", Encrypt},
			{"context.ip", Encrypt}, {"properties.products[].name", Encrypt},
			{"properties.shipping_address", Encrypt}, {"traits.address", Encrypt}, {"traits.birthday", Redact},
		},
		Drop: []string{"traits.ssn"},
	},
}

type benchEnv struct {
	events [][]byte
	// plans apply each destination's treatments; encPlans have the same paths
	// with every field that is not removed encrypted, as the reference does.
	plans, encPlans []*Plan
	keys            []*fieldcrypt.PrivateKey // hpke-p256, one per destination
	rsa             []*rsa.PublicKey
	hmac            HMACKeyer
}

// encryptAll returns spec with every treatment that does not remove the
// field replaced by Encrypt.
func encryptAll(spec Spec) Spec {
	out := Spec{Drop: spec.Drop, DefaultCountryCode: spec.DefaultCountryCode}
	for _, f := range spec.Fields {
		if !f.Treatment.removes() {
			f.Treatment = Encrypt
		}
		out.Fields = append(out.Fields, f)
	}
	return out
}

var (
	benchOnce sync.Once
	benchData *benchEnv
)

func loadBench(tb testing.TB) *benchEnv {
	benchOnce.Do(func() {
		env := &benchEnv{hmac: fixedKey{"h1", []byte("0123456789abcdef0123456789abcdef")}}
		env.events = eventcorpus.Events(benchCorpus)
		for _, spec := range benchDestinations {
			p, err := Compile(spec)
			if err != nil {
				panic(err)
			}
			ep, err := Compile(encryptAll(spec))
			if err != nil {
				panic(err)
			}
			env.plans, env.encPlans = append(env.plans, p), append(env.encPlans, ep)
			hk, err := fieldcrypt.GenerateKeyPair(fieldcrypt.HPKEP256, 0)
			if err != nil {
				panic(err)
			}
			env.keys = append(env.keys, hk)
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			env.rsa = append(env.rsa, &k.PublicKey)
		}
		benchData = env
	})
	return benchData
}

// protectors returns destination d's keys for one invocation: a fresh
// fieldcrypt.Encrypter (one HPKE encapsulation), as the pipeline makes.
func (env *benchEnv) protectors(tb testing.TB, d int) Protectors {
	enc, err := fieldcrypt.NewEncrypter(env.keys[d].Public(), benchKeyID)
	if err != nil {
		tb.Fatal(err)
	}
	return Protectors{Sealer: enc, Algorithm: string(fieldcrypt.HPKEP256), KeyID: benchKeyID, HMAC: env.hmac}
}

// transformInvocation runs one invocation: one HPKE encapsulation per
// destination, then every event of the batch through every plan.
func transformInvocation(tb testing.TB, env *benchEnv, plans []*Plan, tr *Transformer, buf []byte, batch [][]byte) []byte {
	for d, plan := range plans {
		prot := env.protectors(tb, d)
		for _, ev := range batch {
			out, _, err := tr.Apply(buf[:0], ev, plan, prot)
			if err != nil {
				tb.Fatal(err)
			}
			buf = out // a real handler would publish out here, then reuse buf
		}
	}
	return buf
}

func batchAt(env *benchEnv, n int) [][]byte {
	start := (n * benchInvocation) % len(env.events)
	return env.events[start : start+benchInvocation]
}

func benchTransform(b *testing.B, encryptEverything bool) {
	env := loadBench(b)
	plans := env.plans
	if encryptEverything {
		plans = env.encPlans
	}
	var tr Transformer
	buf := make([]byte, 0, 16<<10)
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		buf = transformInvocation(b, env, plans, &tr, buf, batchAt(env, n))
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchInvocation), "ns/event")
}

// BenchmarkTransform encrypts with hpke-p256 every field the reference
// encrypts with RSA.
func BenchmarkTransform(b *testing.B) { benchTransform(b, true) }

// BenchmarkTransformTreatments applies the destinations' own treatments.
func BenchmarkTransformTreatments(b *testing.B) { benchTransform(b, false) }

// referenceApply protects like the seed's platform: decode into a map,
// RSA-OAEP-SHA-256 each configured field (matched=false) and re-encode. With
// matched=true only encrypt fields use RSA; sha256 and hmac fields get the
// same digests as the transform. It returns the event and the number of
// values it protected.
func referenceApply(env *benchEnv, d int, event []byte, matched bool) ([]byte, int, error) {
	var m map[string]any
	if err := json.Unmarshal(event, &m); err != nil {
		return nil, 0, err
	}
	protected := 0
	plan := env.plans[d]
	for _, r := range plan.rules {
		r := r
		refWalk(m, r.path.keys, func(parent map[string]any, key string) {
			v, ok := parent[key]
			if !ok {
				return
			}
			if r.treatment.removes() {
				delete(parent, key)
				return
			}
			if v == nil {
				return
			}
			var pt []byte
			if s, ok := v.(string); ok {
				pt = []byte(s)
			} else {
				pt, _ = json.Marshal(v)
			}
			switch {
			case matched && r.treatment == SHA256:
				n := appendNormalized(nil, pt, r.norm, plan.cc)
				sum := sha256.Sum256(n)
				parent[key] = hex.EncodeToString(sum[:])
			case matched && r.treatment == HMAC:
				_, k, _ := env.hmac.HMACKey()
				h := hmac.New(sha256.New, k)
				h.Write(pt)
				parent[key] = hex.EncodeToString(h.Sum(nil))
			default:
				ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, env.rsa[d], pt, nil)
				if err != nil {
					delete(parent, key) // too large for RSA: fail closed
					return
				}
				parent[key] = base64.StdEncoding.EncodeToString(ct)
			}
			protected++
		})
	}
	out, err := json.Marshal(m)
	return out, protected, err
}

func refWalk(v any, keys []string, fn func(map[string]any, string)) {
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			refWalk(e, keys, fn)
		}
	case map[string]any:
		if len(keys) == 1 {
			fn(v, keys[0])
		} else if c, ok := v[keys[0]]; ok {
			refWalk(c, keys[1:], fn)
		}
	}
}

func benchReference(b *testing.B, matched bool) {
	env := loadBench(b)
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		for d := range env.plans {
			for _, ev := range batchAt(env, n) {
				if _, _, err := referenceApply(env, d, ev, matched); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchInvocation), "ns/event")
}

func BenchmarkReference(b *testing.B)        { benchReference(b, false) }
func BenchmarkReferenceMatched(b *testing.B) { benchReference(b, true) }

func BenchmarkJSONRoundtrip(b *testing.B) {
	env := loadBench(b)
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		for range env.plans {
			for _, ev := range batchAt(env, n) {
				var m map[string]any
				if err := json.Unmarshal(ev, &m); err != nil {
					b.Fatal(err)
				}
				if _, err := json.Marshal(m); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchInvocation), "ns/event")
}

// measured is what one benchmark's final run took, per event.
type measured struct {
	nsPerEvent, allocsPerEvent float64
}

// measure runs fn as a sub-benchmark of b and records its final run.
func measure(b *testing.B, name string, fn func(*testing.B)) measured {
	var m measured
	b.Run(name, func(b *testing.B) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		fn(b)
		runtime.ReadMemStats(&after)
		events := float64(b.N * benchInvocation)
		m = measured{
			nsPerEvent:     float64(b.Elapsed().Nanoseconds()) / events,
			allocsPerEvent: float64(after.Mallocs-before.Mallocs) / events,
		}
	})
	return m
}

// BenchmarkReport runs the benchmarks above in one process and prints the
// ratios the performance issue asks for:
//
//	go test -run '^$' -bench '^BenchmarkReport$' ./shared/transform
func BenchmarkReport(b *testing.B) {
	loadBench(b)
	tr := measure(b, "transform", BenchmarkTransform)
	trt := measure(b, "transform-treatments", BenchmarkTransformTreatments)
	ref := measure(b, "reference", BenchmarkReference)
	refm := measure(b, "reference-matched", BenchmarkReferenceMatched)
	rt := measure(b, "json-roundtrip", BenchmarkJSONRoundtrip)
	if tr.nsPerEvent == 0 || trt.nsPerEvent == 0 || rt.nsPerEvent == 0 {
		b.Fatal("a sub-benchmark did not run")
	}
	t, tt, r, rm, j := tr.nsPerEvent, trt.nsPerEvent, ref.nsPerEvent, refm.nsPerEvent, rt.nsPerEvent
	n := len(benchDestinations)
	fmt.Printf("with the destinations' treatments (encrypt, sha256, hmac, redact): speedup vs treatment-matched reference (RSA only for encrypt fields) %.2f, cost vs json roundtrip %.2f, %.0f events/s per core, %.3f allocs per event\n",
		rm/tt, tt/j, 1e9/tt, trt.allocsPerEvent)
	fmt.Printf("transform (hpke-p256 for every field the reference encrypts with RSA-2048): %.0f events/s per core (%.0f destination copies/s), %.3f allocs per event (%d destinations, invocations of %d events)\n",
		1e9/t, float64(n)*1e9/t, tr.allocsPerEvent, n, benchInvocation)
	fmt.Printf("reference: %.0f events/s per core, %.1f allocs per event; json roundtrip: %.0f events/s per core, %.1f allocs per event\n",
		1e9/r, ref.allocsPerEvent, 1e9/j, rt.allocsPerEvent)
	fmt.Printf("per event (all %d destinations): transform %v, reference %v, json roundtrip %v\n",
		n, time.Duration(t), time.Duration(r), time.Duration(j))
	// The two ratios the performance target is stated in come last: `make bench` ends with them.
	fmt.Printf("transform speedup vs reference: %.2f\n", r/t)
	fmt.Printf("transform cost vs json roundtrip: %.2f\n", t/j)
}

func TestBenchCorpusIsRealistic(t *testing.T) {
	env := loadBench(t)
	var tr Transformer
	for i, ev := range env.events {
		if len(ev) < 500 || len(ev) > 4096 {
			t.Fatalf("event %d is %d bytes, want 0.5–4 KB", i, len(ev))
		}
		for d, plan := range env.plans {
			_, res, err := tr.Apply(nil, ev, plan, env.protectors(t, d))
			if err != nil {
				t.Fatal(err)
			}
			paths := map[string]bool{}
			for _, e := range res.Entries {
				paths[e.Path] = true
			}
			if len(paths) < 3 || len(paths) > 10 {
				t.Fatalf("event %d destination %d touches %d PHI paths, want 3–10", i, d, len(paths))
			}
			if res.Dropped != 0 {
				t.Fatalf("event %d destination %d dropped %d fields", i, d, res.Dropped)
			}
		}
	}
}

// The headline ratio is honest only if the transform encrypts exactly the
// values the reference encrypts with RSA, and with the production token
// format: every such value decrypts with the destination's private key.
func TestBenchTransformEncryptsTheReferencesFields(t *testing.T) {
	env := loadBench(t)
	var tr Transformer
	rings := make([]fieldcrypt.Keyring, len(env.keys))
	for d, k := range env.keys {
		if err := rings[d].Add(benchKeyID, k); err != nil {
			t.Fatal(err)
		}
	}
	for i, ev := range env.events[:200] {
		for d, plan := range env.encPlans {
			out, res, err := tr.Apply(nil, ev, plan, env.protectors(t, d))
			if err != nil {
				t.Fatal(err)
			}
			_, n, err := referenceApply(env, d, ev, false)
			if err != nil {
				t.Fatal(err)
			}
			if res.Protected != n || res.Dropped != 0 || n == 0 {
				t.Fatalf("event %d destination %d: transform encrypted %d values (dropped %d), the reference %d", i, d, res.Protected, res.Dropped, n)
			}
			var doc, orig struct {
				Context struct {
					IP string `json:"ip"`
				} `json:"context"`
			}
			if err := json.Unmarshal(out, &doc); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(ev, &orig); err != nil {
				t.Fatal(err)
			}
			if d == 1 { // the ad platform redacts context.ip
				continue
			}
			pt, err := rings[d].Open(doc.Context.IP)
			if err != nil || string(pt) != orig.Context.IP {
				t.Fatalf("event %d destination %d: context.ip does not decrypt to the original: %v", i, d, err)
			}
		}
	}
}
