package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"unicode/utf8"

	"github.com/phiguard/phiguard/shared/phi"
)

// checkStrictJSON refuses (EBADREQUEST) what encoding/json would accept but change or hide:
// invalid UTF-8 and lone UTF-16 surrogates (both decoded as U+FFFD, so a stored name would no
// longer be what the caller sent), an object with the same member twice (the last one would win
// silently), and null as a member's value (it would read as the member's default, so
// {"algorithm": null} would mean "the default algorithm"). A body that is not JSON at all is
// left to the decoder, whose message says where. Messages name the member, never its value.
func checkStrictJSON(body []byte) error {
	if !utf8.Valid(body) {
		return phi.Errorf(phi.EBADREQUEST, "the request body is not valid UTF-8")
	}
	if loneSurrogate(body) {
		return phi.Errorf(phi.EBADREQUEST, "the request body has a lone UTF-16 surrogate escape (\\ud800–\\udfff without its pair); send the character itself or a valid pair")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type object struct {
		seen map[string]bool
		key  string // the member whose value comes next; "" after a value
	}
	var stack []*object // nil entries are arrays
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return nil // not JSON: Decode's own error says where
		}
		var top *object
		if n := len(stack); n > 0 {
			top = stack[n-1]
		}
		// A string token in an object where no key is pending is the next member's name.
		if s, ok := tok.(string); ok && top != nil && top.key == "" {
			if top.seen[s] {
				return fieldProblem(s, "appears twice in one object; send each member once")
			}
			top.seen[s], top.key = true, s
			continue
		}
		if top != nil && tok == nil {
			return fieldProblem(top.key, "must not be null; leave it out to take its default")
		}
		if top != nil {
			top.key = ""
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &object{seen: map[string]bool{}})
		case json.Delim('['):
			stack = append(stack, nil)
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
	}
}

// fieldProblem is the EBADREQUEST naming member name when it is safe to quote back.
func fieldProblem(name, reason string) error {
	if !echoable(name) {
		return phi.Errorf(phi.EBADREQUEST, "a member of the body %s (its name is not shown: it does not look like a field name)", reason)
	}
	return phi.Errorf(phi.EBADREQUEST, "field %q %s", name, reason).WithDetails(map[string]string{"field": name})
}

// loneSurrogate reports whether a JSON text has a \u escape of a UTF-16 surrogate that is not
// part of a high-low pair. It follows string boundaries and escapes, so an escaped backslash
// before "ud800" is not mistaken for an escape.
func loneSurrogate(b []byte) bool {
	inString := false
	pendingHigh := false // the previous escape was a high surrogate awaiting its low half
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !inString {
			if c == '"' {
				inString = true
			}
			continue
		}
		switch c {
		case '"':
			if pendingHigh {
				return true
			}
			inString = false
		case '\\':
			if i+1 >= len(b) {
				return false // truncated: the decoder reports it
			}
			i++
			if b[i] != 'u' {
				if pendingHigh {
					return true
				}
				continue
			}
			if i+4 >= len(b) {
				return false
			}
			v, ok := hex4(b[i+1 : i+5])
			i += 4
			if !ok {
				return false // the decoder reports it
			}
			switch {
			case v >= 0xD800 && v <= 0xDBFF:
				if pendingHigh {
					return true
				}
				pendingHigh = true
			case v >= 0xDC00 && v <= 0xDFFF:
				if !pendingHigh {
					return true
				}
				pendingHigh = false
			default:
				if pendingHigh {
					return true
				}
			}
		default:
			if pendingHigh {
				return true
			}
		}
	}
	return false
}

func hex4(b []byte) (rune, bool) {
	var v rune
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return v, true
}
