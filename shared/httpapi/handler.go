package httpapi

import (
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
