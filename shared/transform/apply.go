package transform

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"unicode/utf8"
)

// Sealer encrypts one field's plaintext into a self-contained token and
// appends the token's text to dst, returning the extended slice. Seal must
// not modify or retain plaintext (it may alias the event being transformed).
// An error means this value cannot be protected (for example it is too large
// for RSA): the transform then removes the field and counts it as dropped,
// fail closed. The token should be printable ASCII; it is JSON-escaped if it
// is not, and a token that is not valid UTF-8 or is empty counts as a failure.
type Sealer interface {
	Seal(dst, plaintext []byte) ([]byte, error)
}

// HMACKeyer supplies a destination's HMAC key. An error (or a nil HMACKeyer)
// means the key is unavailable: every hmac field is then removed and counted
// as dropped, fail closed. The returned key must not be modified afterwards.
type HMACKeyer interface {
	HMACKey() (keyID string, key []byte, err error)
}

// Protectors are the keys one Apply call may use. They are supplied per call
// (typically per batch and destination) so a plan compiled once keeps working
// across key rotations.
type Protectors struct {
	// Sealer encrypts encrypt fields; nil means the destination has no
	// active key and every encrypt field is dropped fail-closed.
	Sealer Sealer
	// Algorithm and KeyID name the Sealer's algorithm (e.g. "hpke-p256") and
	// key in the manifest. They are not secret.
	Algorithm string
	KeyID     string
	// HMAC supplies the key for hmac fields; nil drops them fail-closed.
	HMAC HMACKeyer
}

// Outcome says what happened to the values at one configured path.
type Outcome uint8

// The outcomes reported in Result.Entries.
const (
	Protected Outcome = iota + 1 // replaced by a token or digest
	Redacted                     // removed by a redact treatment
	Blocked                      // removed because the destination blocks the field
	Dropped                      // removed fail-closed: could not be protected
)

// Reasons a field is dropped fail-closed, as written in the manifest.
const (
	ReasonKeyUnavailable = "key-unavailable" // no active key / HMAC key
	ReasonProtectFailed  = "protect-failed"  // the Sealer refused the value
	ReasonBlocked        = "blocked"         // the destination blocks the field
)

// Entry reports one outcome for one configured path in one event.
type Entry struct {
	Path      string
	Treatment Treatment
	Outcome   Outcome
	Reason    string // for Blocked and Dropped: one of the Reason constants
	Count     int    // number of values (array elements, duplicate keys) affected
}

// Result counts what one Apply call did. Counts are per value: an array path
// that matched three elements counts three.
type Result struct {
	Protected int // values replaced by a token or digest
	Redacted  int // members removed by redact
	Blocked   int // members removed because the destination blocks them
	Dropped   int // values removed (or nulled in arrays) fail-closed
	// Entries lists, per configured path that matched, what happened. With
	// Transformer.Apply it is only valid until the next call on the same
	// Transformer.
	Entries []Entry
}

type ruleStat struct {
	protected, redacted, blocked, noKey, failed int
}

// Transformer applies plans to events, reusing its internal buffers between
// calls so that a stream of events is processed with no per-event
// allocation. The zero value is ready to use. A Transformer is not safe for
// concurrent use; use one per goroutine.
type Transformer struct {
	in   []byte
	out  []byte
	last int // in[:last] has been copied to out or deliberately skipped
	plan *Plan
	prot Protectors

	stats   []ruleStat
	entries []Entry
	keyBuf  []byte // unescaped keys
	ptBuf   []byte // plaintext of escaped strings, compacted containers
	normBuf []byte
	tokBuf  []byte

	macState uint8 // 0 not asked yet, 1 ready, 2 unavailable
	macKeyID string
	macKey   []byte
	mac      hash.Hash
	sum      [sha256.Size]byte
}

// Apply transforms one event with a fresh Transformer; see Transformer.Apply.
// For many events, reuse a Transformer instead.
func Apply(dst, event []byte, plan *Plan, p Protectors) ([]byte, Result, error) {
	var t Transformer
	return t.Apply(dst, event, plan, p)
}

// Apply appends to dst the event (a JSON object) with plan applied using the
// keys in p, and reports what it did. dst must not overlap event.
//
// The output is event byte for byte except that: every value at a protected
// path is replaced by a JSON string (token, HMAC or digest; null values stay
// null); redacted, blocked and fail-closed members are removed; any top-level
// "_phi" member of the input is removed; and a manifest is appended as the
// last top-level member "_phi" (see docs/ENCRYPTION.md, section 6). Duplicate keys are each
// treated. The output is valid JSON.
//
// Apply never fails because a key is missing or a value cannot be protected:
// those fields are removed and counted in Result.Dropped. It returns an
// error — and dst unchanged — only when plan is nil or the event is not a
// valid JSON object of valid UTF-8 nested at most MaxDepth levels (errors.Is
// ErrMalformed); the error names a byte offset, never event content.
func (t *Transformer) Apply(dst, event []byte, plan *Plan, p Protectors) ([]byte, Result, error) {
	if plan == nil {
		return dst, Result{}, errors.New("transform: nil plan")
	}
	t.in, t.out, t.last, t.plan, t.prot, t.macState = event, dst, 0, plan, p, 0
	if cap(t.stats) < len(plan.rules) {
		t.stats = make([]ruleStat, len(plan.rules))
	}
	t.stats = t.stats[:len(plan.rules)]
	clear(t.stats)
	defer t.release()

	i := skipSpace(event, 0)
	if i >= len(event) || event[i] != '{' {
		return dst, Result{}, syntaxErr(i, "event must be a JSON object")
	}
	i, err := t.object(i, plan.root, 1, true)
	if err != nil {
		return dst, Result{}, err
	}
	if i = skipSpace(event, i); i != len(event) {
		return dst, Result{}, syntaxErr(i, "unexpected data after the event object")
	}
	t.flush(len(event))
	return t.out, t.result(), nil
}

// release drops references to caller memory. The HMAC state is kept (with a
// private copy of its key) so the next call with the same key reuses it.
func (t *Transformer) release() {
	t.in, t.out, t.plan, t.prot = nil, nil, nil, Protectors{}
	t.macKeyID = ""
	if t.mac != nil {
		t.mac.Reset()
	}
}

func (t *Transformer) flush(to int) {
	if to > t.last {
		t.out = append(t.out, t.in[t.last:to]...)
		t.last = to
	}
}

// object walks the object at in[i] whose members may match children of n.
func (t *Transformer) object(i int, n *node, depth int, top bool) (int, error) {
	if depth > MaxDepth {
		return 0, syntaxErr(i, "nesting deeper than 64 levels")
	}
	in := t.in
	emitted := false   // a member of this object is in the output
	skipComma := false // the next ',' follows only removed members
	prevEnd := i + 1   // end of the previous member's value
	i = skipSpace(in, i+1)
	if i < len(in) && in[i] == '}' {
		if top {
			t.closeTop(i, false)
		}
		return i + 1, nil
	}
	for {
		ks := i
		var key []byte
		var err error
		if key, t.keyBuf, i, err = memberKey(in, i, t.keyBuf); err != nil {
			return 0, err
		}
		vs := i

		remove := false
		var c *node
		if top && string(key) == ManifestKey {
			remove = true // never let the input spoof the manifest
		} else {
			c = n.children[string(key)]
		}
		switch {
		case remove:
			i, err = skipValue(in, vs, depth)
		case c == nil:
			i, err = skipValue(in, vs, depth)
		case c.rule >= 0:
			r, st := &t.plan.rules[c.rule], &t.stats[c.rule]
			switch {
			case r.treatment == Redact:
				i, err = skipValue(in, vs, depth)
				st.redacted++
				remove = true
			case r.treatment == Drop:
				i, err = skipValue(in, vs, depth)
				st.blocked++
				remove = true
			case r.path.each && vs < len(in) && in[vs] == '[':
				i, err = t.eachElement(vs, r, st, depth+1)
			default:
				if i, err = skipValue(in, vs, depth); err == nil {
					remove = !t.protect(r, st, vs, i)
				}
			}
		default:
			if vs < len(in) && in[vs] == '{' {
				i, err = t.object(vs, c, depth+1, false)
			} else if vs < len(in) && in[vs] == '[' {
				i, err = t.array(vs, c, depth+1)
			} else {
				i, err = skipValue(in, vs, depth)
			}
		}
		if err != nil {
			return 0, err
		}
		if remove {
			if emitted {
				t.flush(prevEnd) // drop ",member"
			} else {
				t.flush(ks) // drop "member," (the comma when we reach it)
				skipComma = true
			}
			t.last = i
		} else {
			emitted = true
		}
		prevEnd = i

		i = skipSpace(in, i)
		if i >= len(in) {
			return 0, syntaxErr(i, "unexpected end of event")
		}
		switch in[i] {
		case ',':
			if skipComma {
				t.flush(i)
				t.last = i + 1
				skipComma = false
			}
			i = skipSpace(in, i+1)
		case '}':
			if top {
				t.closeTop(i, emitted)
			}
			return i + 1, nil
		default:
			return 0, syntaxErr(i, "expected ',' or '}'")
		}
	}
}

// array walks an array at a trie node: arrays are transparent, so objects
// inside are matched against n's children.
func (t *Transformer) array(i int, n *node, depth int) (int, error) {
	if depth > MaxDepth {
		return 0, syntaxErr(i, "nesting deeper than 64 levels")
	}
	in := t.in
	i = skipSpace(in, i+1)
	if i < len(in) && in[i] == ']' {
		return i + 1, nil
	}
	for {
		var err error
		switch {
		case i >= len(in):
			return 0, syntaxErr(i, "unexpected end of event")
		case in[i] == '{':
			i, err = t.object(i, n, depth+1, false)
		case in[i] == '[':
			i, err = t.array(i, n, depth+1)
		default:
			i, err = skipValue(in, i, depth)
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

// eachElement protects every element of the array at in[i] on its own
// (recursing into nested arrays). An element that cannot be protected is
// replaced by null.
func (t *Transformer) eachElement(i int, r *rule, st *ruleStat, depth int) (int, error) {
	if depth > MaxDepth {
		return 0, syntaxErr(i, "nesting deeper than 64 levels")
	}
	in := t.in
	i = skipSpace(in, i+1)
	if i < len(in) && in[i] == ']' {
		return i + 1, nil
	}
	for {
		var err error
		if i < len(in) && in[i] == '[' {
			i, err = t.eachElement(i, r, st, depth+1)
		} else {
			start := i
			if i, err = skipValue(in, i, depth); err == nil && !t.protect(r, st, start, i) {
				t.flush(start)
				t.out = append(t.out, "null"...)
				t.last = i
			}
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

// protect replaces the validated value in[vs:ve] according to r. It returns
// false, having written nothing, when the value cannot be protected; the
// caller then removes it. null is left as it is.
func (t *Transformer) protect(r *rule, st *ruleStat, vs, ve int) bool {
	v := t.in[vs:ve]
	var pt []byte
	switch v[0] {
	case 'n':
		return true
	case '"':
		pt = v[1 : len(v)-1]
		if bytes.IndexByte(pt, '\\') >= 0 {
			t.ptBuf = appendUnescaped(t.ptBuf[:0], pt)
			pt = t.ptBuf
		}
	case '{', '[':
		t.ptBuf = appendCompact(t.ptBuf[:0], v)
		pt = t.ptBuf
	default:
		pt = v
	}

	switch r.treatment {
	case SHA256:
		// A digest is recognised as sent (trimmed), before normalization: the phone rule
		// would otherwise turn the digits of a hex digest into a "number" and hash it again.
		if v := bytes.TrimSpace(pt); isDigest(v) {
			t.normBuf = append(t.normBuf[:0], v...)
		} else {
			t.normBuf = appendNormalized(t.normBuf[:0], pt, r.norm, t.plan.cc)
		}
		t.flush(vs)
		t.out = append(t.out, '"')
		if isDigest(t.normBuf) {
			t.out = appendLower(t.out, t.normBuf) // already hashed: never hash twice
		} else {
			t.sum = sha256.Sum256(t.normBuf)
			t.out = hex.AppendEncode(t.out, t.sum[:])
		}
		t.out = append(t.out, '"')
	case HMAC:
		if !t.macReady() {
			st.noKey++
			return false
		}
		t.mac.Reset()
		t.mac.Write(pt)
		t.flush(vs)
		t.out = append(t.out, '"')
		t.out = hex.AppendEncode(t.out, t.mac.Sum(t.sum[:0]))
		t.out = append(t.out, '"')
	default: // Encrypt
		if t.prot.Sealer == nil {
			st.noKey++
			return false
		}
		saved, last := t.out, t.last
		t.flush(vs)
		t.out = append(t.out, '"')
		start := len(t.out)
		out, err := t.prot.Sealer.Seal(t.out, pt)
		if err != nil || len(out) <= start || !utf8.Valid(out[start:]) {
			t.out, t.last = saved, last
			st.failed++
			return false
		}
		if needsEscape(out[start:]) {
			t.tokBuf = append(t.tokBuf[:0], out[start:]...)
			out = appendJSONString(out[:start-1], string(t.tokBuf))
			out = out[:len(out)-1]
		}
		t.out = append(out, '"')
	}
	t.last = ve
	st.protected++
	return true
}

func needsEscape(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c == '"' || c == '\\' {
			return true
		}
	}
	return false
}

// macReady asks the HMACKeyer for the key once per Apply call and prepares
// (or reuses) the HMAC state.
func (t *Transformer) macReady() bool {
	if t.macState == 0 {
		t.macState = 2
		if t.prot.HMAC != nil {
			id, key, err := t.prot.HMAC.HMACKey()
			if err == nil && len(key) > 0 {
				if t.mac == nil || !hmac.Equal(key, t.macKey) {
					t.macKey = append(t.macKey[:0], key...)
					t.mac = hmac.New(sha256.New, t.macKey)
				}
				t.macKeyID, t.macState = id, 1
			}
		}
	}
	return t.macState == 1
}

// closeTop writes the manifest just before the event's closing brace at
// in[i].
func (t *Transformer) closeTop(i int, emitted bool) {
	t.flush(i)
	if emitted {
		t.out = append(t.out, ',')
	}
	t.out = t.appendManifest(t.out)
}

func (t *Transformer) result() Result {
	var res Result
	t.entries = t.entries[:0]
	add := func(r *rule, o Outcome, reason string, n int) {
		if n > 0 {
			t.entries = append(t.entries, Entry{Path: r.path.text, Treatment: r.treatment, Outcome: o, Reason: reason, Count: n})
		}
	}
	for k := range t.plan.rules {
		r, st := &t.plan.rules[k], &t.stats[k]
		res.Protected += st.protected
		res.Redacted += st.redacted
		res.Blocked += st.blocked
		res.Dropped += st.noKey + st.failed
		add(r, Protected, "", st.protected)
		add(r, Redacted, "", st.redacted)
		add(r, Blocked, ReasonBlocked, st.blocked)
		add(r, Dropped, ReasonKeyUnavailable, st.noKey)
		add(r, Dropped, ReasonProtectFailed, st.failed)
	}
	res.Entries = t.entries
	return res
}
