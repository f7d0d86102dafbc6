package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phiguard/phiguard/shared/fieldcrypt"
)

// benchEvents is how many events one decrypt run of the benchmark reads: several pipeline
// batches, so the per-batch decapsulation is paid as it is in a real export. RSA decrypts each
// field with a private-key operation (~3 ms), so its export is shorter.
const benchEvents, benchEventsRSA = 2000, 100

// benchInput is, per algorithm, an NDJSON export of protected events (three encrypted fields
// each, as phictl encrypt writes them) and the private key file that opens it.
type benchInput struct {
	ndjson, csv []byte
	keyFile     string
	events      int
}

var benchInputs = sync.OnceValues(func() (map[string]benchInput, error) {
	dir, err := os.MkdirTemp("", "phictl-bench")
	if err != nil {
		return nil, err
	}
	var plain strings.Builder
	var plainRSA string
	for i := range benchEvents {
		if i == benchEventsRSA {
			plainRSA = plain.String()
		}
		fmt.Fprintf(&plain, `{"type":"identify","messageId":"m-%d","userId":"u-%d","traits":{"email":"patient%d@example-hospital.org","name":"Patient Number %d","birthday":"1970-01-%02d","plan":"gold","visits":%d},"context":{"ip":"203.0.113.%d","library":{"name":"analytics.js","version":"2.11.1"}}}`+"\n",
			i, i, i, i, 1+i%28, i%50, i%250)
	}
	out := map[string]benchInput{}
	for _, c := range []struct{ name, alg string }{{"hpke-p256", "hpke-p256"}, {"hpke-xwing", "hpke-xwing"}, {"rsa-2048", "rsa-oaep-sha256"}} {
		priv, pub := filepath.Join(dir, c.name+".pem"), filepath.Join(dir, c.name+".pub")
		var so, se bytes.Buffer
		args := []string{"keygen", "--alg", c.alg, "--key-id", "key_bench", "--private-out", priv, "--public-out", pub}
		if c.alg == string(fieldcrypt.RSAOAEPSHA256) {
			args = append(args, "--rsa-bits", "2048")
		}
		if code := run(args, nil, &so, &se); code != 0 {
			return nil, fmt.Errorf("keygen: %s", se.String())
		}
		var enc bytes.Buffer
		events, in := benchEvents, plain.String()
		if c.alg == string(fieldcrypt.RSAOAEPSHA256) {
			events, in = benchEventsRSA, plainRSA
		}
		if code := run([]string{"encrypt", "--public-key", pub, "--key-id", "key_bench", "--field", "traits.email", "--field", "traits.name", "--field", "traits.birthday"},
			strings.NewReader(in), &enc, &se); code != 0 {
			return nil, fmt.Errorf("encrypt: %s", se.String())
		}
		var csv bytes.Buffer
		csv.WriteString("message_id,email,name,birthday\n")
		for _, line := range strings.Split(strings.TrimSpace(enc.String()), "\n") {
			csv.WriteString(csvRowOf(line))
		}
		out[c.name] = benchInput{ndjson: enc.Bytes(), csv: csv.Bytes(), keyFile: priv, events: events}
	}
	return out, nil
})

// csvRowOf turns one protected event into a CSV row of its id and three tokens, as a warehouse
// export would hold them.
func csvRowOf(line string) string {
	field := func(key string) string {
		i := strings.Index(line, `"`+key+`":"`)
		rest := line[i+len(key)+4:]
		return rest[:strings.IndexByte(rest, '"')]
	}
	return field("messageId") + "," + field("email") + "," + field("name") + "," + field("birthday") + "\n"
}

// baselineCopy is the floor decrypt is compared with: read NDJSON line by line and write every
// line out again, nothing parsed.
func baselineCopy(in []byte, w io.Writer) error {
	sc := bufio.NewScanner(bytes.NewReader(in))
	sc.Buffer(make([]byte, 0, 64<<10), maxEventBytes)
	bw := bufio.NewWriterSize(w, 64<<10)
	for sc.Scan() {
		bw.Write(sc.Bytes())
		bw.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return bw.Flush()
}

func benchDecrypt(b *testing.B, in benchInput, csv bool) {
	b.Helper()
	data, args := in.ndjson, []string{"decrypt", "--private-key", in.keyFile}
	if csv {
		data = in.csv
		args = append(args, "--csv", "--column", "email", "--column", "name", "--column", "birthday")
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var se bytes.Buffer
		if code := run(args, bytes.NewReader(data), io.Discard, &se); code != 0 {
			b.Fatalf("decrypt: exit %d: %s", code, se.String())
		}
	}
	b.ReportMetric(float64(in.events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkDecrypt measures phictl decrypt over NDJSON and CSV exports of benchEvents events
// (three encrypted fields each) per algorithm, and a plain NDJSON read-and-write of the same
// P-256 export; BenchmarkDecryptReport prints the ratios.
func BenchmarkDecrypt(b *testing.B) {
	inputs, err := benchInputs()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("baseline-ndjson-copy", func(b *testing.B) {
		in := inputs["hpke-p256"].ndjson
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			if err := baselineCopy(in, io.Discard); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(benchEvents)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	for _, name := range []string{"hpke-p256", "hpke-xwing", "rsa-2048"} {
		in := inputs[name]
		b.Run(name+"/ndjson", func(b *testing.B) { benchDecrypt(b, in, false) })
		b.Run(name+"/csv", func(b *testing.B) { benchDecrypt(b, in, true) })
	}
}

// BenchmarkDecryptReport runs the decrypt benchmarks in one process and prints events/s per core
// for each algorithm and format, and the ratio of each to the plain NDJSON copy measured in the
// same run (`make bench` shows it):
//
//	go test -run '^$' -bench '^BenchmarkDecryptReport$' ./scripts/phictl
func BenchmarkDecryptReport(b *testing.B) {
	inputs, err := benchInputs()
	if err != nil {
		b.Fatal(err)
	}
	rate := func(name string, events int, fn func(b *testing.B)) float64 {
		var r float64
		b.Run(name, func(b *testing.B) {
			fn(b)
			r = float64(events) * float64(b.N) / b.Elapsed().Seconds()
		})
		return r
	}
	base := rate("baseline", benchEvents, func(b *testing.B) {
		for b.Loop() {
			if err := baselineCopy(inputs["hpke-p256"].ndjson, io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
	fmt.Printf("phictl decrypt: events of 3 encrypted fields; decrypt runs on one goroutine, so events/s is per core (GOMAXPROCS=%d); plain NDJSON read-and-write of the same export: %.0f events/s\n",
		runtime.GOMAXPROCS(0), base)
	for _, name := range []string{"hpke-p256", "hpke-xwing", "rsa-2048"} {
		in := inputs[name]
		nd := rate(name+"-ndjson", in.events, func(b *testing.B) { benchDecrypt(b, in, false) })
		cs := rate(name+"-csv", in.events, func(b *testing.B) { benchDecrypt(b, in, true) })
		fmt.Printf("phictl decrypt %-10s ndjson %7.0f events/s (%v/event, %.0fx the copy's time); csv %7.0f events/s (%v/event)\n",
			name, nd, time.Duration(1e9/nd).Round(100*time.Nanosecond), base/nd, cs, time.Duration(1e9/cs).Round(100*time.Nanosecond))
	}
}

// TestBenchInputsDecryptCompletely: the benchmark measures real work — every token of its inputs
// decrypts, in both formats, for every algorithm.
func TestBenchInputsDecryptCompletely(t *testing.T) {
	if testing.Short() {
		t.Skip("generates RSA keys and 5,000 events")
	}
	inputs, err := benchInputs()
	if err != nil {
		t.Fatal(err)
	}
	for name, in := range inputs {
		for _, csv := range []bool{false, true} {
			data, args := in.ndjson, []string{"decrypt", "--strict", "--private-key", in.keyFile}
			if csv {
				data, args = in.csv, append(args, "--csv", "--column", "email", "--column", "name", "--column", "birthday")
			}
			var out, errOut bytes.Buffer
			if code := run(args, bytes.NewReader(data), &out, &errOut); code != 0 {
				t.Fatalf("%s (csv %v): exit %d: %s", name, csv, code, errOut.String())
			}
			if n := strings.Count(out.String(), "@example-hospital.org"); n != in.events {
				t.Fatalf("%s (csv %v): %d e-mail addresses decrypted, want %d", name, csv, n, in.events)
			}
		}
	}
}
