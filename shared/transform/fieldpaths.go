package transform

import "github.com/phiguard/phiguard/shared/fieldpath"

// AppendFieldPaths appends to dst the field paths present in event under
// context, traits and properties — keys only, never values — and returns the
// extended slice. Every object member yields a path (intermediate objects
// included, e.g. "traits.address" and "traits.address.city"); array values
// are entered with "[]" appended to the key, e.g.
// "properties.products[].name". Keys are written in the field-path grammar
// (shared/fieldpath): '.', '[', ']', '\' and '"' inside a key are escaped with
// a backslash, so the key "a.b" under traits is reported as `traits.a\.b`.
// Roots are matched case-insensitively (the case rule) and written in lower
// case. Each path is appended once per call, in the order first seen, and is a
// valid argument to ParsePath. Members whose key no path can name (empty, with
// control or format characters, or surrounding white space; see
// fieldpath.Addressable), and paths longer than MaxPathLen or MaxPathKeys, are
// skipped with everything below them. It scans the event once; on malformed
// input it returns dst unchanged and an error matching ErrMalformed.
func AppendFieldPaths(dst []string, event []byte) ([]string, error) {
	w := pathWalker{in: event, out: dst}
	i := skipSpace(event, 0)
	if i >= len(event) || event[i] != '{' {
		return dst, syntaxErr(i, "event must be a JSON object")
	}
	i, err := w.object(i, 1, true, 0)
	if err != nil {
		return dst, err
	}
	if i = skipSpace(event, i); i != len(event) {
		return dst, syntaxErr(i, "unexpected data after the event object")
	}
	return w.out, nil
}

type pathWalker struct {
	in   []byte
	out  []string
	buf  []byte // the current path
	kbuf []byte
	seen map[string]struct{}
}

// object walks the object at in[i]. At the top only roots are entered; below,
// every member is recorded. keys counts the keys in buf.
func (w *pathWalker) object(i, depth int, top bool, keys int) (int, error) {
	if depth > MaxDepth {
		return 0, syntaxErr(i, "nesting deeper than 64 levels")
	}
	in := w.in
	i = skipSpace(in, i+1)
	if i < len(in) && in[i] == '}' {
		return i + 1, nil
	}
	for {
		var key []byte
		var err error
		if key, w.kbuf, i, err = memberKey(in, i, w.kbuf); err != nil {
			return 0, err
		}

		mark := len(w.buf)
		enter := false
		if top {
			if root := fieldpath.CanonicalTop(key); fieldpath.IsRoot(root) {
				w.buf = append(w.buf[:0], root...)
				enter = true
			}
		} else if keys < MaxPathKeys && len(w.buf)+1+len(key) <= MaxPathLen && fieldpath.Addressable(key) {
			w.buf = fieldpath.AppendEscaped(append(w.buf, '.'), key)
			if enter = len(w.buf) <= MaxPathLen; enter {
				w.record()
			}
		}
		if enter && i < len(in) && (in[i] == '{' || in[i] == '[') {
			i, err = w.value(i, depth, keys+1)
		} else {
			i, err = skipValue(in, i, depth)
		}
		if err != nil {
			return 0, err
		}
		w.buf = w.buf[:mark]

		var more bool
		if i, more, err = nextItem(in, i, '}'); err != nil {
			return 0, err
		}
		if !more {
			return i, nil
		}
	}
}

// value walks the container at in[i] whose path is buf.
func (w *pathWalker) value(i, depth, keys int) (int, error) {
	if w.in[i] == '{' {
		return w.object(i, depth+1, false, keys)
	}
	if depth+1 > MaxDepth {
		return 0, syntaxErr(i, "nesting deeper than 64 levels")
	}
	if len(w.buf)+2 > MaxPathLen {
		return skipValue(w.in, i, depth)
	}
	mark := len(w.buf)
	if keys > 1 { // a root cannot carry "[]"; arrays are transparent anyway
		w.buf = append(w.buf, "[]"...)
	}
	defer func() { w.buf = w.buf[:mark] }()
	in := w.in
	i = skipSpace(in, i+1)
	if i < len(in) && in[i] == ']' {
		return i + 1, nil
	}
	for {
		var err error
		if i < len(in) && (in[i] == '{' || in[i] == '[') {
			i, err = w.value(i, depth+1, keys)
		} else {
			i, err = skipValue(in, i, depth+1)
		}
		if err != nil {
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

func (w *pathWalker) record() {
	if _, ok := w.seen[string(w.buf)]; ok {
		return
	}
	if w.seen == nil {
		w.seen = make(map[string]struct{})
	}
	p := string(w.buf)
	w.seen[p] = struct{}{}
	w.out = append(w.out, p)
}
