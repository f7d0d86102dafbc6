package fieldcrypt

import (
	"encoding/json"
	"unicode/utf8"
)

// ValueType is the JSON type of a field value, recorded inside a version 2 HPKE token so that
// decryption restores the exact JSON value (docs/ENCRYPTION.md, section 3.4). Its byte is the one
// the token carries.
type ValueType byte

// The value types. TypeUnknown is what version 1 HPKE tokens and RSA tokens give: they do not
// record the type.
const (
	TypeUnknown ValueType = 0
	TypeString  ValueType = 's' // Data is the string's UTF-8 content
	TypeNumber  ValueType = 'n' // Data is the JSON number as sent, e.g. 42.50
	TypeBoolean ValueType = 'b' // Data is true or false
	TypeObject  ValueType = 'o' // Data is the JSON object text, white space removed
	TypeArray   ValueType = 'a' // Data is the JSON array text, white space removed
)

// String returns the type's name: "string", "number", "boolean", "object", "array", or
// "unknown".
func (t ValueType) String() string {
	switch t {
	case TypeString:
		return "string"
	case TypeNumber:
		return "number"
	case TypeBoolean:
		return "boolean"
	case TypeObject:
		return "object"
	case TypeArray:
		return "array"
	}
	return "unknown"
}

func (t ValueType) valid() bool {
	switch t {
	case TypeString, TypeNumber, TypeBoolean, TypeObject, TypeArray:
		return true
	}
	return false
}

// TypeOf returns the type of the JSON value text v from its first byte: '"' a string, '{' an
// object, '[' an array, 't' or 'f' a boolean, '-' or a digit a number. Anything else (null,
// empty, not JSON) is TypeUnknown. It does not validate v.
func TypeOf(v []byte) ValueType {
	if len(v) == 0 {
		return TypeUnknown
	}
	switch c := v[0]; {
	case c == '"':
		return TypeString
	case c == '{':
		return TypeObject
	case c == '[':
		return TypeArray
	case c == 't' || c == 'f':
		return TypeBoolean
	case c == '-' || c >= '0' && c <= '9':
		return TypeNumber
	}
	return TypeUnknown
}

// Value is a decrypted field value.
type Value struct {
	// Type is the value's JSON type; TypeUnknown for a token that does not record it (version 1
	// HPKE, RSA).
	Type ValueType
	// Data is a string's UTF-8 content, the JSON text of a number, boolean, object or array, or
	// for TypeUnknown the plaintext as it was sealed.
	Data []byte
}

// AppendJSON appends the value as JSON text: a string as a JSON string, the other types as the
// JSON text they hold. An untyped value is appended as a JSON string (its type is not known).
func (v Value) AppendJSON(dst []byte) []byte {
	switch v.Type {
	case TypeNumber, TypeBoolean, TypeObject, TypeArray:
		return append(dst, v.Data...)
	}
	return AppendJSONString(dst, v.Data)
}

// AppendJSONString appends s as a JSON string: quotes, backslash and control characters escaped
// (no HTML escaping), invalid UTF-8 replaced by U+FFFD, as encoding/json does.
func AppendJSONString(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c >= 0x20:
				dst = append(dst, c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, "\\ufffd"...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

// Padding says how an HPKE Encrypter pads the sealed payload, hiding the value's exact length
// (docs/ENCRYPTION.md, section 3.4). RSA tokens are always the modulus size and need none.
type Padding uint8

// The padding schemes. The zero value is the default, PadBuckets.
const (
	// PadBuckets pads the payload (value and type byte) to the next length bucket: 32 bytes, then
	// the next power of two, up to 65,536.
	PadBuckets Padding = iota
	// PadNone seals the payload as it is: the token reveals the value's exact length.
	PadNone
)

// String returns "buckets" or "none".
func (p Padding) String() string {
	if p == PadNone {
		return "none"
	}
	return "buckets"
}

// ParsePadding returns the Padding named s: "buckets" (or empty, the default) or "none". Anything
// else returns an error wrapping ErrInvalidPadding.
func ParsePadding(s string) (_ Padding, err error) {
	defer setOp(&err, "parse padding")
	switch s {
	case "", "buckets":
		return PadBuckets, nil
	case "none":
		return PadNone, nil
	}
	return 0, errorf(ErrInvalidPadding, "padding must be buckets or none")
}

// minBucket is the smallest padded payload: every value under 32 bytes looks the same.
const minBucket = 32

// PaddedLen returns the length of the sealed payload P of an m-byte payload (value and type
// byte) under p: for PadBuckets the smallest bucket ≥ m — 32, 64, 128, …, 65,536 — and m itself
// beyond the last bucket (only a value of the maximum length); for PadNone m.
func (p Padding) PaddedLen(m int) int {
	if p == PadNone || m > MaxPlaintextLen {
		return m
	}
	b := minBucket
	for b < m {
		b <<= 1
	}
	return b
}

// decodePayload splits a version 2 payload P = value || type || 0x00… into the value and its
// type. It returns false when P holds no type byte, an unknown one, or a value that is not JSON
// text of the type it claims.
func decodePayload(p []byte) (Value, bool) {
	end := len(p)
	for end > 0 && p[end-1] == 0 {
		end--
	}
	if end == 0 {
		return Value{}, false
	}
	v := Value{Type: ValueType(p[end-1]), Data: p[:end-1]}
	switch v.Type {
	case TypeString:
		return v, true
	case TypeNumber, TypeBoolean, TypeObject, TypeArray:
		if TypeOf(v.Data) != v.Type || !json.Valid(v.Data) {
			return Value{}, false
		}
		if v.Type == TypeBoolean && string(v.Data) != "true" && string(v.Data) != "false" {
			return Value{}, false
		}
		return v, true
	}
	return Value{}, false
}
