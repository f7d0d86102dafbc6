package transform

import (
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of objects and arrays an event may have;
// the event object itself is level 1. Deeper events are rejected with an
// error matching ErrMalformed, which also bounds the scanner's recursion.
const MaxDepth = 64

// plain marks the bytes that need no attention inside a string: printable
// ASCII other than '"' and '\\'.
var plain [256]bool

// space marks JSON insignificant white space.
var space [256]bool

func init() {
	for c := 0x20; c < 0x80; c++ {
		plain[c] = c != '"' && c != '\\'
	}
	space[' '], space['\t'], space['\n'], space['\r'] = true, true, true, true
}

func skipSpace(in []byte, i int) int {
	for i < len(in) && space[in[i]] {
		i++
	}
	return i
}

// scanString validates the string that starts with the quote at in[i] and
// returns the offset just past its closing quote and whether it contains
// escapes.
func scanString(in []byte, i int) (int, bool, error) {
	start := i
	i++
	esc, high := false, false
	for {
		// Unrolled fast path: most string bytes are plain ASCII.
		for i+4 <= len(in) && plain[in[i]] && plain[in[i+1]] && plain[in[i+2]] && plain[in[i+3]] {
			i += 4
		}
		for i < len(in) && plain[in[i]] {
			i++
		}
		if i >= len(in) {
			return 0, false, syntaxErr(start, "unterminated string")
		}
		switch c := in[i]; {
		case c == '"':
			if high && !utf8.Valid(in[start+1:i]) {
				return 0, false, syntaxErr(start, "string is not valid UTF-8")
			}
			return i + 1, esc, nil
		case c == '\\':
			esc = true
			if i+1 >= len(in) {
				return 0, false, syntaxErr(start, "unterminated string")
			}
			switch in[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(in) || hex4(in[i+2:i+6]) < 0 {
					return 0, false, syntaxErr(i, `invalid \u escape`)
				}
				i += 6
			default:
				return 0, false, syntaxErr(i, "invalid escape in string")
			}
		case c < 0x20:
			return 0, false, syntaxErr(i, "control character in string")
		default: // non-ASCII: validated once the string ends
			high = true
			i++
		}
	}
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

func scanNumber(in []byte, i int) (int, error) {
	start := i
	if in[i] == '-' {
		i++
	}
	switch {
	case i < len(in) && in[i] == '0':
		i++
	case i < len(in) && '1' <= in[i] && in[i] <= '9':
		i++
		for i < len(in) && '0' <= in[i] && in[i] <= '9' {
			i++
		}
	default:
		return 0, syntaxErr(start, "invalid number")
	}
	if i < len(in) && in[i] == '.' {
		i++
		d := i
		for i < len(in) && '0' <= in[i] && in[i] <= '9' {
			i++
		}
		if i == d {
			return 0, syntaxErr(start, "invalid number")
		}
	}
	if i < len(in) && (in[i] == 'e' || in[i] == 'E') {
		i++
		if i < len(in) && (in[i] == '+' || in[i] == '-') {
			i++
		}
		d := i
		for i < len(in) && '0' <= in[i] && in[i] <= '9' {
			i++
		}
		if i == d {
			return 0, syntaxErr(start, "invalid number")
		}
	}
	return i, nil
}

func scanLiteral(in []byte, i int, lit string) (int, error) {
	if len(in)-i < len(lit) || string(in[i:i+len(lit)]) != lit {
		return 0, syntaxErr(i, "invalid literal")
	}
	return i + len(lit), nil
}

// skipValue validates the value at in[i] (inside a container at the given
// depth) and returns the offset just past it.
func skipValue(in []byte, i, depth int) (int, error) {
	if i >= len(in) {
		return 0, syntaxErr(i, "unexpected end of event")
	}
	switch c := in[i]; c {
	case '"':
		end, _, err := scanString(in, i)
		return end, err
	case '{':
		return skipObject(in, i, depth+1)
	case '[':
		return skipArray(in, i, depth+1)
	case 't':
		return scanLiteral(in, i, "true")
	case 'f':
		return scanLiteral(in, i, "false")
	case 'n':
		return scanLiteral(in, i, "null")
	default:
		if c == '-' || ('0' <= c && c <= '9') {
			return scanNumber(in, i)
		}
		return 0, syntaxErr(i, "unexpected character")
	}
}

// memberKey reads the key of the object member starting at in[i] and the ':' after it. It returns
// the key — unescaped into buf when it holds escapes, so that keys compare by their JSON value —
// the buffer (grown if needed, for reuse), and the index of the member's value.
func memberKey(in []byte, i int, buf []byte) (key, _ []byte, next int, err error) {
	if i >= len(in) || in[i] != '"' {
		return nil, buf, 0, syntaxErr(i, "expected a string key")
	}
	end, esc, err := scanString(in, i)
	if err != nil {
		return nil, buf, 0, err
	}
	key = in[i+1 : end-1]
	if esc {
		buf = appendUnescaped(buf[:0], key)
		key = buf
	}
	i = skipSpace(in, end)
	if i >= len(in) || in[i] != ':' {
		return nil, buf, 0, syntaxErr(i, "expected ':' after key")
	}
	return key, buf, skipSpace(in, i+1), nil
}

// nextItem steps past what follows an object member or array element that ends before in[i]:
// after a ',' it returns the index of the next one and more; after closer ('}' or ']') the
// index past it and not more; anything else is a syntax error.
func nextItem(in []byte, i int, closer byte) (next int, more bool, err error) {
	i = skipSpace(in, i)
	switch {
	case i >= len(in):
		return 0, false, syntaxErr(i, "unexpected end of event")
	case in[i] == ',':
		return skipSpace(in, i+1), true, nil
	case in[i] == closer:
		return i + 1, false, nil
	}
	return 0, false, syntaxErr(i, "expected ',' or '"+string(closer)+"'")
}

func skipObject(in []byte, i, depth int) (int, error) {
	if depth > MaxDepth {
		return 0, syntaxErr(i, "nesting deeper than 64 levels")
	}
	i = skipSpace(in, i+1)
	if i < len(in) && in[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(in) || in[i] != '"' {
			return 0, syntaxErr(i, "expected a string key")
		}
		var err error
		if i, _, err = scanString(in, i); err != nil {
			return 0, err
		}
		i = skipSpace(in, i)
		if i >= len(in) || in[i] != ':' {
			return 0, syntaxErr(i, "expected ':' after key")
		}
		i = skipSpace(in, i+1)
		if i, err = skipValue(in, i, depth); err != nil {
			return 0, err
		}
		var more bool
		if i, more, err = nextItem(in, i, '}'); err != nil {
			return 0, err
		}
		if !more {
			return i, nil
		}
	}
}

func skipArray(in []byte, i, depth int) (int, error) {
	if depth > MaxDepth {
		return 0, syntaxErr(i, "nesting deeper than 64 levels")
	}
	i = skipSpace(in, i+1)
	if i < len(in) && in[i] == ']' {
		return i + 1, nil
	}
	for {
		var err error
		if i, err = skipValue(in, i, depth); err != nil {
			return 0, err
		}
		var more bool
		if i, more, err = nextItem(in, i, ']'); err != nil {
			return 0, err
		}
		if !more {
			return i, nil
		}
	}
}

// appendUnescaped appends the decoded content of a validated JSON string body
// (without quotes). Lone surrogates decode to U+FFFD, as encoding/json does.
func appendUnescaped(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		if s[i] != '\\' {
			j := i + 1
			for j < len(s) && s[j] != '\\' {
				j++
			}
			dst = append(dst, s[i:j]...)
			i = j
			continue
		}
		switch c := s[i+1]; c {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(s[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
					r2 = hex4(s[i+2:])
				}
				if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
					r = d
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, c)
		}
		i += 2
	}
	return dst
}

// appendCompact appends validated JSON text without insignificant white
// space; strings are copied as written.
func appendCompact(dst, src []byte) []byte {
	in := false
	start := 0
	for i := 0; i < len(src); i++ {
		c := src[i]
		if in {
			if c == '\\' {
				i++
			} else if c == '"' {
				in = false
			}
			continue
		}
		if c == '"' {
			in = true
		} else if space[c] {
			dst = append(dst, src[start:i]...)
			start = i + 1
		}
	}
	return append(dst, src[start:]...)
}

// appendJSONString appends s as a JSON string literal; invalid UTF-8 is
// replaced by U+FFFD so the output stays valid.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			if r, size := utf8.DecodeRuneInString(s[i:]); r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, "\\ufffd"...)
				start = i + 1
			} else {
				i += size - 1
			}
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\r':
			dst = append(dst, '\\', 'r')
		default:
			const hexDigits = "0123456789abcdef"
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
