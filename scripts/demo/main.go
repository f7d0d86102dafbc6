// Command demo walks the HIPAA workflow of the source page end to end (`make demo`): it starts
// the local service in-process on free ports (run it under `.tools/bin/emulators --`, as `make
// demo` does), then an operator creates a workspace, signs the BAA, the owner classifies fields,
// adds a webhook destination, generates hashing keys, enables hashing, a producer pushes PHI
// events, and the customer decrypts what the destination received — before and after a key
// rotation. Every step prints one line and checks its claim; the first failing check ends the
// run with exit status 1. The last line is `demo: N checks passed`.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/phiguard/phiguard/scripts/internal/demo"
	"github.com/phiguard/phiguard/scripts/internal/devserver"
	"github.com/phiguard/phiguard/shared/jsonlog"
	"github.com/phiguard/phiguard/shared/stack"
)

// cacheTTL is the pipeline's config cache TTL in the demo: short, so that the key rotation
// reaches the pipeline within a second rather than the deployed default.
const cacheTTL = time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyOut := fs.String("private-key-out", "", "file to save the first private key to (must not exist; the rotated key goes beside it with -2); default: a new temporary directory")
	phictl := fs.String("phictl", ".tools/bin/phictl", "the phictl binary the customer decrypts with (`make demo` builds it); empty: phictl's library code path in process")
	python := fs.String("python", ".venv/bin/python", "the Python with DuckDB (pinned in requirements.txt; make bootstrap installs it) that queries the S3 destination's objects")
	verbose := fs.Bool("v", false, "show the local service's logs on stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *keyOut == "" {
		dir, err := os.MkdirTemp("", "phiguard-demo-")
		if err != nil {
			return err
		}
		*keyOut = filepath.Join(dir, "private-key.pem")
	}
	logger, err := jsonlog.New(io.Discard, "error")
	if *verbose {
		logger, err = jsonlog.New(stderr, "info")
	}
	if err != nil {
		return err
	}
	s, err := devserver.Start(ctx, devserver.Config{
		APIAddr: "127.0.0.1:0", ReceiverAddr: "127.0.0.1:0",
		Prefix: fmt.Sprintf("phiguard-demo-%d", time.Now().UnixNano()),
		Logger: logger,
		Env:    map[string]string{stack.EnvConfigCacheTTL: cacheTTL.String()},
	})
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Fprintf(stdout, "local service: API %s · webhook receiver %s · ingest queue %s\n\n", s.APIURL, s.ReceiverURL, s.Resources.IngestQueueURL)

	cfg := demo.ConfigFor(s, cacheTTL, *keyOut, stdout)
	cfg.Python = *python
	if *phictl != "" {
		if _, err := os.Stat(*phictl); err != nil {
			return fmt.Errorf("-phictl: %w (build it with `go build -o %s ./scripts/phictl`, or pass -phictl '')", err, *phictl)
		}
		cfg.Phictl = *phictl
	}
	n, err := demo.Run(ctx, cfg)
	if err != nil {
		return fmt.Errorf("stopped after %d checks passed: %w", n, err)
	}
	fmt.Fprintf(stdout, "\ndemo: %d checks passed\n", n)
	return nil
}
