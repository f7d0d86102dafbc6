// Command dev runs the whole service locally (`make dev`): the REST API, the SQS pollers that
// feed the hashing and delivery functions, and a webhook receiver, against the emulators that
// `.tools/bin/emulators --` starts around it. The logic lives in scripts/internal/devserver.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/phiguard/phiguard/scripts/internal/devserver"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := devserver.Main(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "dev:", err)
		os.Exit(1)
	}
}
