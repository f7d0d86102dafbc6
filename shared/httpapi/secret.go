package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// secretBody returns the JSON object meta (which must encode as a non-empty JSON object) with
// one more string member, field, holding secret — built in one buffer of the exact size so the
// caller can clear every copy this package made. secret may hold printable ASCII and line feeds
// (PEM or base64); anything else is refused, and the error never contains the secret.
func secretBody(meta any, field string, secret []byte) ([]byte, error) {
	m, err := json.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("encode key metadata: %w", err)
	}
	if len(m) < 2 || m[0] != '{' || m[len(m)-1] != '}' {
		return nil, fmt.Errorf("encode key metadata: not a JSON object")
	}
	escaped := 0
	for i, c := range secret {
		switch {
		case c == '\n':
			escaped += 2
		case c < 0x20 || c > 0x7e || c == '"' || c == '\\':
			return nil, fmt.Errorf("encode secret: byte %d is not printable ASCII", i)
		default:
			escaped++
		}
	}
	sep := `,"`
	if len(m) == 2 {
		sep = `"`
	}
	body := make([]byte, 0, len(m)-1+len(sep)+len(field)+3+escaped+3)
	body = append(body, m[:len(m)-1]...)
	body = append(body, sep...)
	body = append(body, field...)
	body = append(body, `":"`...)
	for _, c := range secret {
		if c == '\n' {
			body = append(body, '\\', 'n')
			continue
		}
		body = append(body, c)
	}
	return append(body, "\"}\n"...), nil
}

// writeSecret writes body, a JSON response that carries a secret shown once, with headers that
// forbid every cache from keeping it, and then clears body.
func writeSecret(w http.ResponseWriter, status int, body []byte) {
	defer clear(body)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
