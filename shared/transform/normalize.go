package transform

import (
	"bytes"
	"strings"
	"unicode"
	"unicode/utf8"
)

// norm is the normalization applied before a sha256 treatment. It is chosen
// once per path, from the path's last key, when the plan is compiled.
type norm uint8

const (
	normTrim  norm = iota // trim surrounding white space
	normEmail             // trim, lower-case
	normPhone             // E.164: '+' and digits
	normName              // lower-case, punctuation removed, white space collapsed, trimmed
)

// String returns the name the manifest uses for the normalization.
func (n norm) String() string {
	switch n {
	case normEmail:
		return "email"
	case normPhone:
		return "e164"
	case normName:
		return "name"
	default:
		return "trim"
	}
}

// nameKeys are the last keys (lower-cased, '_', '-' and spaces removed)
// whose values are personal names.
var nameKeys = map[string]bool{
	"name": true, "firstname": true, "lastname": true, "fullname": true, "middlename": true,
	"givenname": true, "familyname": true, "surname": true, "displayname": true,
}

// normFor picks the normalization for a path's last key: a key containing
// "email" → email; containing "phone" → E.164; a personal-name key such as
// name, first_name, lastName → name; anything else → trim.
func normFor(key string) norm {
	k := strings.ToLower(key)
	switch {
	case strings.Contains(k, "email"):
		return normEmail
	case strings.Contains(k, "phone"):
		return normPhone
	}
	k = strings.NewReplacer("_", "", "-", "", " ", "").Replace(k)
	if nameKeys[k] {
		return normName
	}
	return normTrim
}

// isDigest reports whether v is already a hex SHA-256 digest (64 hex
// digits, either case).
func isDigest(v []byte) bool {
	if len(v) != 64 {
		return false
	}
	for _, c := range v {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// appendLower appends v lower-cased (Unicode aware, ASCII fast path).
func appendLower(dst, v []byte) []byte {
	for i := 0; i < len(v); {
		c := v[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(v[i:])
		dst = utf8.AppendRune(dst, unicode.ToLower(r))
		i += size
	}
	return dst
}

// appendNormalized appends the normalized form of v. cc is the default
// country code (digits) used for phone numbers written without one.
//
// Phone rule (E.164): all characters but digits are dropped. A number written
// with a leading '+' keeps its digits as they are; one starting with the
// international prefix "00" has it replaced by '+'. Otherwise leading zeros
// (a national trunk prefix) are removed, and if what remains already starts
// with the default country code and has more than 10 digits it is taken as
// international; else the default country code is prepended. So with the
// default "1", "(555) 123-4567", "555.123.4567" and "1 555 123 4567" all
// become "+15551234567". A value without any digit is only trimmed and
// lower-cased.
func appendNormalized(dst, v []byte, n norm, cc string) []byte {
	v = bytes.TrimSpace(v)
	switch n {
	case normEmail:
		return appendLower(dst, v)
	case normPhone:
		return appendPhone(dst, v, cc)
	case normName:
		return appendName(dst, v)
	default:
		return append(dst, v...)
	}
}

func appendPhone(dst, v []byte, cc string) []byte {
	start := len(dst)
	dst = append(dst, '+')
	digits := len(dst)
	for _, c := range v {
		if '0' <= c && c <= '9' {
			dst = append(dst, c)
		}
	}
	d := dst[digits:]
	switch {
	case len(d) == 0:
		return appendLower(dst[:start], v)
	case v[0] == '+':
		return dst
	case len(d) > 2 && d[0] == '0' && d[1] == '0':
		return append(dst[:digits], d[2:]...)
	}
	z := 0
	for z < len(d) && d[z] == '0' {
		z++
	}
	n := copy(dst[digits:], d[z:]) // drop the trunk prefix
	dst = dst[:digits+n]
	if n > 10 && bytes.HasPrefix(dst[digits:], []byte(cc)) {
		return dst
	}
	// Insert the country code in front of the digits (copy handles overlap).
	dst = append(dst, cc...)
	copy(dst[digits+len(cc):], dst[digits:digits+n])
	copy(dst[digits:], cc)
	return dst
}

func appendName(dst, v []byte) []byte {
	start := len(dst)
	pendingSpace := false
	for i := 0; i < len(v); {
		r, size := rune(v[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRune(v[i:])
		}
		i += size
		switch {
		case unicode.IsSpace(r):
			pendingSpace = len(dst) > start
		case unicode.IsPunct(r) || unicode.IsSymbol(r):
			// dropped: "O'Brien" → "obrien", "Mary-Jane" → "maryjane"
		default:
			if pendingSpace {
				dst = append(dst, ' ')
				pendingSpace = false
			}
			dst = utf8.AppendRune(dst, unicode.ToLower(r))
		}
	}
	return dst
}
