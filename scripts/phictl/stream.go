package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/phiguard/phiguard/shared/fieldcrypt"
	"github.com/phiguard/phiguard/shared/fieldpath"
	"github.com/phiguard/phiguard/shared/transform"
)

// The stream decrypter: decrypt reads NDJSON (or any concatenation of JSON objects) and rewrites
// each event in one pass over its bytes, copying every byte it does not decrypt, without building
// a tree of the event. Only the small "_phi" manifest is decoded with encoding/json.

// maxDepth bounds nesting, as the transform does.
const maxDepth = 64

var errIncomplete = errors.New("incomplete JSON value")

// syntaxError is a JSON syntax error at a byte offset of one value; it never holds input bytes.
type syntaxError struct{ off int }

func (e syntaxError) Error() string { return fmt.Sprintf("invalid JSON near byte %d", e.off) }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(in []byte, i int) int {
	for i < len(in) && isSpace(in[i]) {
		i++
	}
	return i
}

// skipString returns the index after the string starting at in[i] (a '"') and whether it holds
// an escape. It returns errIncomplete when in ends inside it.
func skipString(in []byte, i int) (int, bool, error) {
	esc := false
	for i++; i < len(in); i++ {
		switch c := in[i]; {
		case c == '"':
			return i + 1, esc, nil
		case c == '\\':
			esc = true
			i++
			if i >= len(in) {
				return 0, false, errIncomplete
			}
			switch in[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(in) {
					return 0, false, errIncomplete
				}
				for _, h := range in[i+1 : i+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return 0, false, syntaxError{i}
					}
				}
				i += 4
			default:
				return 0, false, syntaxError{i}
			}
		case c < 0x20:
			return 0, false, syntaxError{i}
		}
	}
	return 0, false, errIncomplete
}

// skipValidString is skipString for input already validated (by eachObject): it finds the closing
// quote with bytes.IndexByte, which is what makes long tokens cheap to step over.
func skipValidString(in []byte, i int) (int, bool) {
	j := i + 1
	esc := false
	for {
		q := bytes.IndexByte(in[j:], '"')
		if q < 0 {
			return len(in), esc
		}
		if b := bytes.IndexByte(in[j:j+q], '\\'); b < 0 {
			return j + q + 1, esc
		}
		esc = true
		// An escape before the quote: fall back to the exact scan from here.
		end, _, err := skipString(in, i)
		if err != nil {
			return len(in), true
		}
		return end, true
	}
}

// skipValid returns the index after the value at in[i] of input already validated.
func skipValid(in []byte, i int) int {
	switch in[i] {
	case '"':
		end, _ := skipValidString(in, i)
		return end
	case '{', '[':
		depth := 0
		for j := i; j < len(in); j++ {
			switch in[j] {
			case '"':
				end, _ := skipValidString(in, j)
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return len(in)
	}
	j := i
	for j < len(in) && in[j] != ',' && in[j] != '}' && in[j] != ']' && !isSpace(in[j]) {
		j++
	}
	return j
}

// skipValue returns the index after the JSON value starting at in[i], validating it.
func skipValue(in []byte, i, depth int) (int, error) {
	if i >= len(in) {
		return 0, errIncomplete
	}
	switch c := in[i]; {
	case c == '"':
		end, _, err := skipString(in, i)
		return end, err
	case c == '{' || c == '[':
		if depth >= maxDepth {
			return 0, syntaxError{i}
		}
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		i = skipSpace(in, i+1)
		if i < len(in) && in[i] == closer {
			return i + 1, nil
		}
		for {
			var err error
			if c == '{' {
				if i >= len(in) {
					return 0, errIncomplete
				}
				if in[i] != '"' {
					return 0, syntaxError{i}
				}
				if i, _, err = skipString(in, i); err != nil {
					return 0, err
				}
				i = skipSpace(in, i)
				if i >= len(in) {
					return 0, errIncomplete
				}
				if in[i] != ':' {
					return 0, syntaxError{i}
				}
				i = skipSpace(in, i+1)
			}
			if i, err = skipValue(in, i, depth+1); err != nil {
				return 0, err
			}
			i = skipSpace(in, i)
			if i >= len(in) {
				return 0, errIncomplete
			}
			switch in[i] {
			case ',':
				i = skipSpace(in, i+1)
			case closer:
				return i + 1, nil
			default:
				return 0, syntaxError{i}
			}
		}
	case c == 't':
		return skipLiteral(in, i, "true")
	case c == 'f':
		return skipLiteral(in, i, "false")
	case c == 'n':
		return skipLiteral(in, i, "null")
	case c == '-' || c >= '0' && c <= '9':
		return skipNumber(in, i)
	}
	return 0, syntaxError{i}
}

func skipLiteral(in []byte, i int, lit string) (int, error) {
	if len(in)-i < len(lit) {
		if strings.HasPrefix(lit, string(in[i:])) {
			return 0, errIncomplete
		}
		return 0, syntaxError{i}
	}
	if string(in[i:i+len(lit)]) != lit {
		return 0, syntaxError{i}
	}
	return i + len(lit), nil
}

func skipNumber(in []byte, i int) (int, error) {
	start := i
	digits := func() int {
		n := 0
		for i < len(in) && in[i] >= '0' && in[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if in[i] == '-' {
		i++
	}
	if i < len(in) && in[i] == '0' {
		i++
	} else if digits() == 0 {
		return 0, numberEnd(in, i, start)
	}
	if i < len(in) && in[i] == '.' {
		i++
		if digits() == 0 {
			return 0, numberEnd(in, i, start)
		}
	}
	if i < len(in) && (in[i] == 'e' || in[i] == 'E') {
		i++
		if i < len(in) && (in[i] == '+' || in[i] == '-') {
			i++
		}
		if digits() == 0 {
			return 0, numberEnd(in, i, start)
		}
	}
	if i >= len(in) {
		return 0, errIncomplete // a number at the end of the buffer may go on
	}
	return i, nil
}

func numberEnd(in []byte, i, start int) error {
	if i >= len(in) {
		return errIncomplete
	}
	return syntaxError{start}
}

// eachObject calls fn with every top-level JSON value of r, numbered from 1, like eachValue, but
// splits the stream with its own scanner instead of encoding/json. raw is valid until fn returns.
func eachObject(r io.Reader, fn func(n int, raw []byte) error) error {
	buf := make([]byte, 0, 256<<10)
	start, offset, eof := 0, 0, false // offset: input bytes before buf[0]
	fill := func() error {
		if start > 0 && start >= len(buf)/2 { // slide the unread part down
			offset += start
			buf = buf[:copy(buf, buf[start:])]
			start = 0
		}
		if len(buf) == cap(buf) {
			buf = append(buf, make([]byte, cap(buf))...)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			eof = true
			return nil
		}
		return err
	}
	for n := 1; ; {
		start = skipSpace(buf, start)
		if start == len(buf) {
			if eof {
				if n == 1 {
					return errors.New("stdin is empty: send a JSON event, JSON lines or {\"batch\": [...]}")
				}
				return nil
			}
			if err := fill(); err != nil {
				return fmt.Errorf("read stdin: %w", err)
			}
			continue
		}
		if c := buf[start]; c != '{' {
			if strings.IndexByte(`["-0123456789tfn`, c) >= 0 {
				return fmt.Errorf("stdin: value %d is not a JSON object (an event or {\"batch\": [...]})", n)
			}
			return fmt.Errorf("stdin: value %d is not JSON (near byte %d of the input)", n, offset+start)
		}
		end, err := skipValue(buf, start, 0)
		if errors.Is(err, errIncomplete) && !eof {
			need := 2 * (len(buf) - start) // read at least as much again: linear in the value's size
			if len(buf)-start > maxEventBytes {
				return fmt.Errorf("stdin: value %d is larger than %d bytes", n, maxEventBytes)
			}
			for len(buf)-start < need && !eof {
				if err := fill(); err != nil {
					return fmt.Errorf("read stdin: %w", err)
				}
			}
			continue
		}
		if err != nil {
			off := offset + len(buf)
			var se syntaxError
			if errors.As(err, &se) {
				off = offset + se.off
			}
			return fmt.Errorf("stdin: value %d is not JSON (near byte %d of the input)", n, off)
		}
		if end-start > maxEventBytes {
			return fmt.Errorf("stdin: value %d is larger than %d bytes", n, maxEventBytes)
		}
		if err := fn(n, buf[start:end]); err != nil {
			return err
		}
		start = end
		n++
	}
}

// pathTrie is the encrypt paths of one manifest, keys case-folded (fieldpath.Fold); a node with
// end set ends a path, and kid is the key id the manifest names for it (RSA tokens carry none).
type pathTrie struct {
	children map[string]*pathTrie
	end      bool
	path     string
	kid      string
}

// child returns the node of key, compared by Unicode simple case folding (strings.EqualFold), as
// the transform matches keys; fold is scratch for the folded key.
func (p *pathTrie) child(key []byte, fold *[]byte) *pathTrie {
	if p == nil || p.children == nil {
		return nil
	}
	if !fieldpath.NeedsFold(key) {
		return p.children[string(key)]
	}
	*fold = fieldpath.AppendFold((*fold)[:0], key)
	return p.children[string(*fold)]
}

// eventWriter rewrites one event.
type eventWriter struct {
	d    *decrypter
	in   []byte
	out  []byte
	rep  *report
	key  []byte // scratch: an unescaped key
	fold []byte // scratch: a case-folded key
}

// decryptEvent appends to dst the event in (validated JSON object) with every token it can open
// decrypted: the values at the manifest's encrypt paths, or without a manifest every string that
// is a well-formed token. A top-level {"batch": [...]} has each object element treated as an
// event.
//
// n numbers the top-level value; name, for a batch element, names it in messages.
func (d *decrypter) decryptEvent(dst, in []byte, n int, name string) ([]byte, error) {
	top := name == ""
	b, m := findMembers(in)
	if top {
		if b >= 0 && in[b] == '[' {
			return d.decryptBatch(dst, in, b, n)
		}
		name = fmt.Sprintf("event %d", n)
	}
	w := &eventWriter{d: d, in: in, out: dst, rep: &report{event: name}}
	var trie *pathTrie
	if m >= 0 {
		end := skipValid(in, m)
		var err error
		if trie, err = d.manifestTrie(in[m:end]); err != nil {
			return nil, fmt.Errorf("stdin: %s: the %s manifest is malformed", w.rep.event, transform.ManifestKey)
		}
	}
	last := 0
	w.object(0, trie, trie == nil, "", &last, top)
	w.out = append(w.out, in[last:]...)
	w.rep.print(d.stderr)
	return w.out, nil
}

// maxTries bounds the manifests whose path tries a decrypter keeps: an export's events mostly
// carry one of a few manifests (one per destination configuration).
const maxTries = 256

// manifestTrie returns the trie of the encrypt paths of the manifest text raw, from the cache
// when the same manifest was seen before.
func (d *decrypter) manifestTrie(raw []byte) (*pathTrie, error) {
	if t, ok := d.tries[string(raw)]; ok {
		return t, nil
	}
	var man manifest
	if err := json.Unmarshal(raw, &man); err != nil {
		return nil, err
	}
	trie := &pathTrie{}
	for _, f := range man.Fields {
		if f.Treatment != string(transform.Encrypt) {
			continue
		}
		keys := splitPath(f.Path)
		if keys == nil {
			continue // not a path: nothing it could name was encrypted
		}
		n := trie
		for _, k := range keys {
			k = fieldpath.Fold(k)
			if n.children == nil {
				n.children = map[string]*pathTrie{}
			}
			c := n.children[k]
			if c == nil {
				c = &pathTrie{}
				n.children[k] = c
			}
			n = c
		}
		n.end, n.path, n.kid = true, f.Path, f.KID
	}
	if d.tries == nil || len(d.tries) >= maxTries {
		d.tries = map[string]*pathTrie{}
	}
	d.tries[string(raw)] = trie
	return trie, nil
}

// decryptBatch rewrites the object elements of the array at in[b] as events.
func (d *decrypter) decryptBatch(dst, in []byte, b, n int) ([]byte, error) {
	dst = append(dst, in[:b+1]...)
	i := skipSpace(in, b+1)
	last := b + 1
	for idx := 0; i < len(in) && in[i] != ']'; idx++ {
		end := skipValid(in, i)
		if in[i] == '{' {
			dst = append(dst, in[last:i]...)
			var err error
			if dst, err = d.decryptEvent(dst, in[i:end], n, fmt.Sprintf("value %d batch[%d]", n, idx)); err != nil {
				return nil, err
			}
			last = end
		}
		i = skipSpace(in, end)
		if i < len(in) && in[i] == ',' {
			i = skipSpace(in, i+1)
		}
	}
	return append(dst, in[last:]...), nil
}

// findMembers returns the indexes of the values of the top-level members "batch" and "_phi" of
// the object in (exact keys, as a batch and the manifest are written; the last one if repeated),
// or -1.
func findMembers(in []byte) (batch, man int) {
	batch, man = -1, -1
	i := skipSpace(in, 1)
	for i < len(in) && in[i] == '"' {
		kend, _ := skipValidString(in, i)
		k := in[i+1 : kend-1]
		v := skipSpace(in, skipSpace(in, kend)+1)
		switch string(k) {
		case "batch":
			batch = v
		case transform.ManifestKey:
			man = v
		}
		end := skipValid(in, v)
		i = skipSpace(in, end)
		if i < len(in) && in[i] == ',' {
			i = skipSpace(in, i+1)
		}
	}
	return batch, man
}

// object walks the object at in[i]: with a trie, into the members the trie names (keys matched
// case-insensitively); scanning (no manifest), into every member. It returns the index after it.
// *last is the input already copied to w.out.
func (w *eventWriter) object(i int, n *pathTrie, scan bool, path string, last *int, top bool) int {
	in := w.in
	i = skipSpace(in, i+1)
	for i < len(in) && in[i] == '"' {
		kend, esc := skipValidString(in, i)
		key := in[i+1 : kend-1]
		if esc {
			var s string
			json.Unmarshal(in[i:kend], &s)
			w.key = append(w.key[:0], s...)
			key = w.key
		}
		v := skipSpace(in, skipSpace(in, kend)+1)
		var end int
		switch {
		case top && string(key) == transform.ManifestKey:
			end = skipValid(in, v)
		case scan:
			end = w.value(v, nil, true, joinPath(path, string(key)), last)
		default:
			if c := n.child(key, &w.fold); c != nil {
				end = w.value(v, c, false, "", last)
			} else {
				end = skipValid(in, v)
			}
		}
		i = skipSpace(in, end)
		if i < len(in) && in[i] == ',' {
			i = skipSpace(in, i+1)
		}
	}
	return i + 1 // the closing brace
}

func joinPath(path, key string) string {
	if path == "" {
		return fieldpath.Escape(key)
	}
	return path + "." + fieldpath.Escape(key)
}

// value walks the value at in[i] for trie node n (or scanning) and returns the index after it.
// Arrays are transparent, as in the transform; a string at the end of a path (or any string when
// scanning) that is a token is decrypted.
func (w *eventWriter) value(i int, n *pathTrie, scan bool, path string, last *int) int {
	in := w.in
	switch in[i] {
	case '"':
		end, esc := skipValidString(in, i)
		if !scan && !n.end {
			return end
		}
		var tok string
		if esc {
			if json.Unmarshal(in[i:end], &tok) != nil {
				return end
			}
		} else {
			tok = string(in[i+1 : end-1])
		}
		if scan {
			if len(tok) < 6 || !(strings.HasPrefix(tok, "hpke") || len(tok) >= 344) {
				return end
			}
			if _, err := fieldcrypt.Inspect(tok); err != nil {
				return end
			}
		}
		p, kid := path, ""
		if !scan {
			p, kid = n.path, n.kid
		}
		v, ok := w.d.openToken(tok, w.rep, p, kid)
		if !ok {
			return end
		}
		w.out = append(w.out, in[*last:i]...)
		w.out = w.d.appendValue(w.out, v)
		clear(v.Data)
		*last = end
		return end
	case '[':
		j := skipSpace(in, i+1)
		for j < len(in) && in[j] != ']' {
			j = skipSpace(in, w.value(j, n, scan, path, last))
			if j < len(in) && in[j] == ',' {
				j = skipSpace(in, j+1)
			}
		}
		return j + 1
	case '{':
		if scan || len(n.children) > 0 {
			return w.object(i, n, scan, path, last, false)
		}
	}
	return skipValid(in, i)
}

// compactLine appends raw to dst on one line: raw as it is when it has no line break, else
// compacted.
func compactLine(dst, raw []byte) ([]byte, error) {
	if bytes.IndexByte(raw, '\n') < 0 && bytes.IndexByte(raw, '\r') < 0 {
		return append(dst, raw...), nil
	}
	b := bytes.NewBuffer(dst)
	if err := json.Compact(b, raw); err != nil {
		return nil, errors.New("internal error: output is not JSON")
	}
	return b.Bytes(), nil
}
