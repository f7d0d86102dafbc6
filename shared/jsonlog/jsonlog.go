// Package jsonlog builds the structured JSON logger every function writes to stdout, where
// Lambda sends it to CloudWatch Logs. Log lines carry ids and counts only: never event payloads,
// tokens or keys.
package jsonlog

import (
	"fmt"
	"io"
	"log/slog"
)

// New returns a slog JSON logger writing to w at level ("debug", "info", "warn" or "error";
// "" means info). It fails, without echoing more than a few characters of it, when level is
// not one of those.
func New(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if level != "" {
		if err := l.UnmarshalText([]byte(level)); err != nil {
			if len(level) > 16 {
				level = level[:16] + "…"
			}
			return nil, fmt.Errorf("log level %q: use debug, info, warn or error", level)
		}
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})), nil
}
