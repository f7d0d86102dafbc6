package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/phiguard/phiguard/shared/fieldpath"
)

// maxEventBytes bounds one JSON value read from stdin (Segment events are at most 32 KB; a batch
// at most 500 KB).
const maxEventBytes = 8 << 20

// eachValue calls fn with every top-level JSON value of r — one object, JSON lines, or values
// simply concatenated — numbered from 1. A value that is not JSON stops it with an error naming
// the value's number and byte offset, never its content.
func eachValue(r io.Reader, fn func(n int, raw []byte) error) error {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	for n := 1; ; n++ {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			if n == 1 {
				return errors.New("stdin is empty: send a JSON event, JSON lines or {\"batch\": [...]}")
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("stdin: value %d is not JSON (near byte %d of the input)", n, dec.InputOffset())
		}
		if len(raw) > maxEventBytes {
			return fmt.Errorf("stdin: value %d is larger than %d bytes", n, maxEventBytes)
		}
		if raw[0] != '{' {
			return fmt.Errorf("stdin: value %d is not a JSON object (an event or {\"batch\": [...]})", n)
		}
		if err := fn(n, raw); err != nil {
			return err
		}
	}
}

// member is one member of a JSON object, its value kept as the exact input bytes.
type member struct {
	key string
	val json.RawMessage
}

// parseObject splits a JSON object into its members, in order, duplicates kept.
func parseObject(raw []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	var ms []member
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, errors.New("malformed JSON object")
		}
		k, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, errors.New("malformed JSON object")
		}
		ms = append(ms, member{k, v})
	}
	return ms, nil
}

// parseArray splits a JSON array into its elements.
func parseArray(raw []byte) ([]json.RawMessage, error) {
	var vs []json.RawMessage
	if err := json.Unmarshal(raw, &vs); err != nil {
		return nil, errors.New("malformed JSON array")
	}
	return vs, nil
}

// appendObject writes members back as a JSON object.
func appendObject(dst []byte, ms []member) []byte {
	dst = append(dst, '{')
	for i, m := range ms {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, m.key)
		dst = append(dst, ':')
		dst = append(dst, m.val...)
	}
	return append(dst, '}')
}

// appendArray writes elements back as a JSON array.
func appendArray(dst []byte, vs []json.RawMessage) []byte {
	dst = append(dst, '[')
	for i, v := range vs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, v...)
	}
	return append(dst, ']')
}

// appendString writes s as a JSON string without HTML escaping.
func appendString(dst []byte, s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a Go string always encodes
	return append(dst, bytes.TrimSuffix(b.Bytes(), []byte("\n"))...)
}

// writeLine writes one JSON value compacted onto one line.
func writeLine(w io.Writer, raw []byte) error {
	var b bytes.Buffer
	b.Grow(len(raw) + 1)
	if err := json.Compact(&b, raw); err != nil {
		return fmt.Errorf("internal error: output is not JSON")
	}
	b.WriteByte('\n')
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("write stdout: %w", err)
	}
	return nil
}

// batchIndex returns the index of the top-level "batch" member when it holds an array, else -1.
func batchIndex(ms []member) int {
	for i, m := range ms {
		if m.key == "batch" && len(m.val) > 0 && m.val[0] == '[' {
			return i
		}
	}
	return -1
}

// splitPath turns a field path (`properties.products[].name`, `traits.a\.b`, "userId") into its
// keys, unescaped, "[]" dropped, or returns nil for a path that does not parse.
func splitPath(p string) []string {
	fp, err := fieldpath.Parse(p)
	if err != nil {
		return nil
	}
	return fp.Keys()
}
