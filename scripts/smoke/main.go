// Command smoke does, without Docker, what `sam local invoke` does: it builds every function's
// bootstrap for this machine (the deploy build stays linux/arm64), boots each under the AWS
// Lambda Runtime Interface Emulator with the emulators' endpoints, invokes it over the RIE's
// invoke API with each of its samples from events/, and checks every response against the
// expectation in events/samples.json. It prints each function's cold-start init duration beside
// that of a minimal aws-lambda-go handler booted in the same run, and the binary sizes.
//
// Run it under the emulator runner: `.tools/bin/emulators -- go run ./scripts/smoke`.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/phiguard/phiguard/scripts/internal/devstack"
	"github.com/phiguard/phiguard/shared/awsclient"
	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/stack"
	"github.com/phiguard/phiguard/shared/webhook"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "smoke:", err)
		os.Exit(1)
	}
}

// baseline is the name under which the minimal handler is reported.
const baseline = "minimal (baseline)"

// sampleWebhookTarget is the local address:port of the webhook URL in the config samples.
const sampleWebhookTarget = "127.0.0.1:8443"

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("smoke", flag.ContinueOnError)
	eventsDir := fs.String("events", "events", "directory of sample events with samples.json")
	buildDir := fs.String("build", "build/host", "where to put the host-architecture bootstraps")
	rie := fs.String("rie", ".tools/bin/aws-lambda-rie", "the Lambda Runtime Interface Emulator (built by make bootstrap)")
	only := fs.String("only", "", "comma-separated functions to check (default: all)")
	coldStarts := fs.Int("cold-starts", 5, "cold starts measured per function (and the baseline); the report shows their median")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *coldStarts < 1 {
		return fmt.Errorf("-cold-starts %d: measure at least one", *coldStarts)
	}
	manifest, err := LoadManifest(*eventsDir)
	if err != nil {
		return err
	}

	// Functions run in the manifest's order: the samples share one seeded workspace, and a
	// sample that downgrades it (operator-update-plan) must come after those that need it
	// eligible.
	functions := manifest.Functions()
	if *only != "" {
		functions = strings.Split(*only, ",")
	}
	for _, fn := range stack.Functions {
		if !slices.Contains(manifest.Functions(), fn) {
			return fmt.Errorf("function %s has no sample in %s/samples.json", fn, *eventsDir)
		}
	}
	binaries := map[string]string{baseline: "./scripts/smoke/minimal"}
	for _, fn := range functions {
		binaries[fn] = "./functions/" + fn
	}
	for _, name := range slices.Sorted(maps.Keys(binaries)) {
		if err := build(binaries[name], bootstrapPath(*buildDir, name)); err != nil {
			return err
		}
	}

	clients, err := awsclient.Load(ctx)
	if err != nil {
		return err
	}
	res, err := devstack.Provision(ctx, clients, fmt.Sprintf("smoke-%d", time.Now().UnixNano()))
	if err != nil {
		return err
	}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()
	if err := devstack.SeedSamples(ctx, dynamo.New(clients.DynamoDB, res.Table), &webhook.Generator{KMS: clients.KMS, CMK: res.KMSKeyID}, receiver.URL+"/hook"); err != nil {
		return err
	}
	env := res.Env()
	// The seeded destinations post to the receiver over plain http; the config samples create
	// destinations at https://127.0.0.1:8443/hook (events/samples.json). Both are listed, and
	// nothing else local is reachable.
	env[stack.EnvLocalWebhookTargets] = receiver.Listener.Addr().String() + "," + sampleWebhookTarget

	var failures []string
	inits := map[string][]float64{} // every cold start's init duration, in ms
	order := append([]string{baseline}, functions...)
	for _, fn := range order {
		samples := manifest.For(fn)
		if fn == baseline {
			samples = []Sample{{File: "", Function: baseline, Expect: json.RawMessage(`"ok"`)}}
		}
		if len(samples) == 0 {
			failures = append(failures, fn+": no sample events")
			continue
		}
		initMS, errs := invokeAll(ctx, *rie, bootstrapPath(*buildDir, fn), env, *eventsDir, samples, out)
		if initMS > 0 {
			inits[fn] = append(inits[fn], initMS)
		}
		failures = append(failures, errs...)
	}
	// One cold start is noisy on a shared machine: boot every binary again, the baseline in the
	// same rounds, so that all of them see the same load, and report medians.
	for range *coldStarts - 1 {
		for _, fn := range order {
			initMS, err := coldStart(ctx, *rie, bootstrapPath(*buildDir, fn), fn, env)
			if err != nil {
				failures = append(failures, fn+": cold start: "+err.Error())
				continue
			}
			inits[fn] = append(inits[fn], initMS)
		}
	}
	if err := report(out, *buildDir, order, inits); err != nil {
		return err
	}
	if len(failures) > 0 {
		return fmt.Errorf("%d failed:\n  %s", len(failures), strings.Join(failures, "\n  "))
	}
	fmt.Fprintf(out, "smoke: %d functions, all samples passed\n", len(functions))
	return nil
}

// initTarget is the cold-start target: no function's init above twice the baseline's.
const initTarget = 2.0

// report prints each binary's size and the median (with the range) of its measured init
// durations, as a ratio to the baseline's median, marking a ratio above initTarget "over".
func report(out io.Writer, buildDir string, order []string, inits map[string][]float64) error {
	base := median(inits[baseline])
	fmt.Fprintf(out, "\n%-20s %12s %16s %15s %15s\n", "function", "binary (MiB)", "init median (ms)", "range (ms)", "median/minimal")
	for _, fn := range order {
		info, err := os.Stat(bootstrapPath(buildDir, fn))
		if err != nil {
			return err
		}
		m, ratio, span := median(inits[fn]), "-", "-"
		if len(inits[fn]) > 0 {
			span = fmt.Sprintf("%.1f–%.1f", slices.Min(inits[fn]), slices.Max(inits[fn]))
		}
		if base > 0 && m > 0 {
			ratio = strconv.FormatFloat(m/base, 'f', 2, 64)
			if m/base > initTarget {
				ratio += " over"
			}
		}
		fmt.Fprintf(out, "%-20s %12.1f %16.2f %15s %15s\n", fn, float64(info.Size())/(1<<20), m, span, ratio)
	}
	fmt.Fprintf(out, "init: median of %d cold starts each, the baseline booted in the same rounds; target: median/minimal <= %.0f\n",
		len(inits[baseline]), initTarget)
	return nil
}

// median returns the median of xs, 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func bootstrapPath(buildDir, name string) string {
	return filepath.Join(buildDir, strings.Fields(name)[0], "bootstrap")
}

// build compiles pkg for this machine with the deploy flags but the host's architecture.
func build(pkg, out string) error {
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

var initDuration = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)

// rie is one bootstrap running under a fresh Runtime Interface Emulator.
type rie struct {
	cmd  *exec.Cmd
	url  string       // the RIE's invoke API
	logs bytes.Buffer // the RIE's and the function's output
}

// boot starts bootstrap under a new RIE with env and waits until the RIE listens. The function
// itself initialises on the first invoke (a cold start). Stop it with close.
func boot(rieBin, bootstrap, name string, env map[string]string) (*rie, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	apiPort, err := freePort()
	if err != nil {
		return nil, err
	}
	r := &rie{url: fmt.Sprintf("http://127.0.0.1:%d/2015-03-31/functions/function/invocations", port)}
	r.cmd = exec.Command(rieBin,
		"--runtime-interface-emulator-address", fmt.Sprintf("127.0.0.1:%d", port),
		"--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", apiPort),
		bootstrap)
	r.cmd.Env = append(lambdaEnviron(), "AWS_LAMBDA_FUNCTION_NAME="+name, "AWS_LAMBDA_FUNCTION_TIMEOUT=30")
	for _, k := range slices.Sorted(maps.Keys(env)) {
		r.cmd.Env = append(r.cmd.Env, k+"="+env[k])
	}
	r.cmd.Stdout, r.cmd.Stderr = &r.logs, &r.logs
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start RIE: %w", err)
	}
	if err := waitListening(fmt.Sprintf("127.0.0.1:%d", port), 10*time.Second); err != nil {
		r.close()
		return nil, fmt.Errorf("RIE did not listen: %w", err)
	}
	return r, nil
}

// close stops the RIE and the function. Read logs only after close: the processes write to
// the buffer until they have exited.
func (r *rie) close() {
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
	_ = r.cmd.Wait()
}

// initMS returns the init duration the RIE reported, after close.
func (r *rie) initMS() (float64, error) {
	m := initDuration.FindStringSubmatch(r.logs.String())
	if m == nil {
		return 0, errors.New("the RIE reported no init duration")
	}
	return strconv.ParseFloat(m[1], 64)
}

// invokeAll boots bootstrap under a fresh RIE (a cold start), invokes it with each sample in
// order and returns the init duration the RIE reported and one line per failed sample.
func invokeAll(ctx context.Context, rieBin, bootstrap string, env map[string]string, eventsDir string, samples []Sample, out io.Writer) (float64, []string) {
	name := samples[0].Function
	fail := func(format string, args ...any) []string { return []string{name + ": " + fmt.Sprintf(format, args...)} }
	r, err := boot(rieBin, bootstrap, name, env)
	if err != nil {
		return 0, fail("%v", err)
	}

	var failures []string
	for _, s := range samples {
		payload := []byte("{}")
		if s.File != "" {
			if payload, err = os.ReadFile(filepath.Join(eventsDir, s.File)); err != nil {
				failures = append(failures, fail("%v", err)...)
				continue
			}
		}
		got, err := invoke(ctx, r.url, payload)
		if err == nil {
			err = Match(s.Expect, got)
		}
		status := "ok"
		if err != nil {
			status = "FAIL"
			failures = append(failures, fail("%s: %v", s.File, err)...)
		}
		fmt.Fprintf(out, "%-4s %-12s %s\n", status, name, s.File)
	}
	r.close()
	initMS, err := r.initMS()
	if err != nil {
		failures = append(failures, fail("%v", err)...)
	}
	if len(failures) > 0 {
		fmt.Fprintf(out, "---- %s logs ----\n%s\n", name, lastLines(r.logs.String(), 20))
	}
	return initMS, failures
}

// coldStart boots bootstrap under a fresh RIE, invokes it once with an empty JSON object (the
// response does not matter: the function initialises on its first invoke whatever the event)
// and returns the init duration the RIE reported.
func coldStart(ctx context.Context, rieBin, bootstrap, name string, env map[string]string) (float64, error) {
	r, err := boot(rieBin, bootstrap, name, env)
	if err != nil {
		return 0, err
	}
	_, err = invoke(ctx, r.url, []byte("{}"))
	r.close()
	if err != nil {
		return 0, err
	}
	return r.initMS()
}

// lambdaEnviron returns the part of this process's environment that a function would also see
// in Lambda: the path, and the SDK's region, credentials and (here) emulator endpoints. Nothing
// else leaks in — this machine's AWS_CA_BUNDLE, for one, makes every SDK config load parse a
// certificate bundle that Lambda never has, and would distort the init durations.
func lambdaEnviron() []string {
	keep := []string{"PATH=" + os.Getenv("PATH"), "TZ=:UTC"}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "AWS_ENDPOINT_URL_"),
			k == "AWS_ACCESS_KEY_ID", k == "AWS_SECRET_ACCESS_KEY", k == "AWS_SESSION_TOKEN",
			k == "AWS_REGION", k == "AWS_DEFAULT_REGION", k == "AWS_EC2_METADATA_DISABLED",
			k == "AWS_CONFIG_FILE", k == "AWS_SHARED_CREDENTIALS_FILE":
			keep = append(keep, kv)
		}
	}
	return keep
}

func invoke(ctx context.Context, url string, payload []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, 6<<20))
}

func waitListening(addr string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

var errMismatch = errors.New("response does not match")
