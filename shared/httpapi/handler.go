package httpapi

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
)

// HandlerFunc is a handler that returns its error instead of writing it, so every failure goes
// through WriteError and its one status table.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Handle adapts fn to an http.Handler that writes fn's error with WriteError, logging internal
// errors on logger (nil discards).
func Handle(logger *slog.Logger, fn HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			WriteError(w, r, logger, err)
		}
	})
}

// NewLogger returns the JSON logger every function uses, at the level named by level (debug,
// info, warn or error; "" is info). An unknown level is an error naming the accepted ones.
func NewLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if level != "" {
		if err := l.UnmarshalText([]byte(level)); err != nil {
			return nil, fmt.Errorf("log level %q: use debug, info, warn or error", clip(level))
		}
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})), nil
}
