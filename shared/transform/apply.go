package transform

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"unicode/utf8"

	"github.com/phiguard/phiguard/shared/fieldcrypt"
	"github.com/phiguard/phiguard/shared/fieldpath"
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

// TypedSealer is a Sealer that also records the JSON type of the value in the
// token, so that decryption restores 42 as a number and "42" as a string
// (fieldcrypt.Encrypter; docs/ENCRYPTION.md, section 3.4). When the
// Protectors' Sealer has SealValue the transform calls it instead of Seal,
// with the value's type and the same plaintext.
type TypedSealer interface {
	Sealer
	SealValue(dst []byte, typ fieldcrypt.ValueType, plaintext []byte) ([]byte, error)
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

// Entry reports one outcome for one configured path in one event (in
// Result.Unreviewed: for one path of the event that the plan's Reviewer
// decided about).
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
	Blocked   int // members removed because the destination blocks them (or they are not reviewed)
	Dropped   int // values removed (or nulled in arrays) fail-closed
	// Entries lists, per configured path that matched, what happened. With
	// Transformer.Apply it is only valid until the next call on the same
	// Transformer.
	Entries []Entry
	// Unreviewed lists, per path of the event (as AppendFieldPaths writes it),
	// what the plan's Reviewer had done to fields not reviewed yet: Protected,
	// Blocked (Reason ReasonUnreviewed or ReasonUnaddressable) or Dropped. Its
	// counts are included in the totals above. Valid as long as Entries.
	Unreviewed []Entry
}

type ruleStat struct {
	protected, redacted, blocked, noKey, failed int
}

// Transformer applies plans to events, reusing its internal buffers between
// calls so that a stream of events is processed with no per-event
// allocation. The zero value is ready to use. A Transformer is not safe for
// concurrent use; use one per goroutine.
type Transformer struct {
	in    []byte
	out   []byte
	last  int // in[:last] has been copied to out or deliberately skipped
	plan  *Plan
	prot  Protectors
	typed TypedSealer // prot.Sealer, when it records types

	stats   []ruleStat
	dyn     []dynStat // what the Reviewer decided, by event path
	entries []Entry
	keyBuf  []byte // unescaped keys
	foldBuf []byte // case-folded keys
	path    []byte // the path of the member being reviewed
	ptBuf   []byte // plaintext of escaped strings, compacted containers
	normBuf []byte
	tokBuf  []byte

	macState macState
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
	t.in, t.out, t.last, t.plan, t.prot, t.macState = event, dst, 0, plan, p, macUnasked
	t.typed, _ = p.Sealer.(TypedSealer)
	if cap(t.stats) < len(plan.rules) {
		t.stats = make([]ruleStat, len(plan.rules))
	}
	t.stats = t.stats[:len(plan.rules)]
	clear(t.stats)
	t.dyn = t.dyn[:0]
	defer t.release()

	i := skipSpace(event, 0)
	if i >= len(event) || event[i] != '{' {
		return dst, Result{}, syntaxErr(i, "event must be a JSON object")
	}
	i, err := t.object(i, scope{n: plan.root}, 1, true)
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
	t.in, t.out, t.plan, t.prot, t.typed = nil, nil, nil, Protectors{}, nil
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

// child returns the trie child of n for the event key key, compared case-folded.
func (t *Transformer) child(n *node, key []byte) *node {
	if n == nil || len(n.children) == 0 {
		return nil
	}
	if !fieldpath.NeedsFold(key) {
		return n.children[string(key)]
	}
	t.foldBuf = fieldpath.AppendFold(t.foldBuf[:0], key)
	return n.children[string(t.foldBuf)]
}

// object walks the object at in[i] whose members may match children of s.n and, in a
// reviewing scope, are reviewed.
func (t *Transformer) object(i int, s scope, depth int, top bool) (int, error) {
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
			c = t.child(s.n, key)
		}
		switch {
		case remove:
			i, err = skipValue(in, vs, depth)
		case c != nil && c.rule >= 0:
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
					remove = !t.protect(r.treatment, r.norm, st, vs, i)
				}
			}
		case s.review:
			i, remove, err = t.reviewMember(s, c, key, vs, depth)
		case top && t.plan.review != nil && vs < len(in) && (in[vs] == '{' || in[vs] == '['):
			switch root := fieldpath.CanonicalTop(key); {
			case fieldpath.IsRoot(root):
				t.path = append(t.path[:0], root...)
				i, err = t.container(vs, scope{n: c, review: true, path: len(t.path), member: len(t.path), keys: 1}, depth)
			case c != nil:
				i, err = t.container(vs, scope{n: c}, depth)
			default:
				i, err = skipValue(in, vs, depth)
			}
		case c != nil:
			i, err = t.container(vs, scope{n: c}, depth)
		default:
			i, err = skipValue(in, vs, depth)
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

// container walks the value at in[vs] (a member's value, inside a container at depth) with
// scope s when it is an object or an array, and skips it otherwise.
func (t *Transformer) container(vs int, s scope, depth int) (int, error) {
	switch {
	case vs < len(t.in) && t.in[vs] == '{':
		return t.object(vs, s, depth+1, false)
	case vs < len(t.in) && t.in[vs] == '[':
		return t.array(vs, s, depth+1)
	}
	return skipValue(t.in, vs, depth)
}

// reviewMember handles the member with key key whose value starts at in[vs], in reviewing
// scope s, when no configured path selects it (c is nil or an intermediate node). It returns
// the end of the value and whether the member is to be removed.
func (t *Transformer) reviewMember(s scope, c *node, key []byte, vs, depth int) (end int, remove bool, err error) {
	in := t.in
	t.path = t.path[:s.path]
	ok := s.keys < MaxPathKeys && len(t.path)+1+len(key) <= MaxPathLen && fieldpath.Addressable(key)
	if ok {
		t.path = fieldpath.AppendEscaped(append(t.path, '.'), key)
		ok = len(t.path) <= MaxPathLen
	}
	if !ok {
		// No path can name the member, so nobody can ever review it: removed, fail closed.
		t.dyn[t.dynamic(t.path[:s.path], "", ReasonUnaddressable)].blocked++
		end, err = skipValue(in, vs, depth)
		return end, true, err
	}
	tr, inspect := t.plan.review.ReviewPath(t.path)
	if tr == "" {
		tr = s.force
	}
	container := vs < len(in) && (in[vs] == '{' || in[vs] == '[')
	switch {
	case tr != "" && c != nil && container && !tr.removes():
		// Configured paths lie inside: protect around them, member by member.
		n := len(t.path)
		end, err = t.container(vs, scope{n: c, review: true, force: tr, path: n, member: n, keys: s.keys + 1}, depth)
		return end, false, err
	case tr != "":
		if end, err = skipValue(in, vs, depth); err != nil {
			return 0, false, err
		}
		return end, t.reviewed(t.path, tr, vs, end), nil
	case container:
		n := len(t.path)
		end, err = t.container(vs, scope{n: c, review: true, path: n, member: n, keys: s.keys + 1, inspect: inspect}, depth)
		return end, false, err
	}
	if end, err = skipValue(in, vs, depth); err != nil || !inspect {
		return end, false, err
	}
	return end, t.inspectValue(t.path, vs, end), nil
}

// array walks an array at a trie node: arrays are transparent, so objects
// inside are matched against s.n's children. In a reviewing scope, objects
// inside are reviewed under the array's path with "[]" appended, and strings
// and numbers are inspected (s.inspect) or protected (s.force) as values of
// the member the array is.
func (t *Transformer) array(i int, s scope, depth int) (int, error) {
	if depth > MaxDepth {
		return 0, syntaxErr(i, "nesting deeper than 64 levels")
	}
	if s.review && s.keys > 1 { // a root cannot carry "[]"; it is transparent anyway
		t.path = append(t.path[:s.path], "[]"...)
		s.path = len(t.path)
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
			i, err = t.object(i, s, depth+1, false)
		case in[i] == '[':
			i, err = t.array(i, s, depth+1)
		case s.force != "" || s.inspect || s.review && s.keys == 1:
			start := i
			if i, err = skipValue(in, i, depth); err != nil {
				break
			}
			var remove bool
			switch {
			case s.force != "":
				remove = t.reviewed(t.path[:s.member], s.force, start, i)
			case s.inspect:
				remove = t.inspectValue(t.path[:s.member], start, i)
			case in[start] != 'n':
				// A value right inside a root sent as an array has no key, so no path.
				t.dyn[t.dynamic(t.path[:s.member], "", ReasonUnaddressable)].blocked++
				remove = true
			}
			if remove {
				t.flush(start)
				t.out = append(t.out, "null"...)
				t.last = i
			}
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
			if i, err = skipValue(in, i, depth); err == nil && !t.protect(r.treatment, r.norm, st, start, i) {
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

// plaintext returns the plaintext of the validated value in[vs:ve] (not null): a string's
// unescaped content, a container's compact JSON text, a number or boolean as sent. It may
// alias the event or t.ptBuf.
func (t *Transformer) plaintext(vs, ve int) []byte {
	v := t.in[vs:ve]
	switch v[0] {
	case '"':
		pt := v[1 : len(v)-1]
		if bytes.IndexByte(pt, '\\') >= 0 {
			t.ptBuf = appendUnescaped(t.ptBuf[:0], pt)
			pt = t.ptBuf
		}
		return pt
	case '{', '[':
		t.ptBuf = appendCompact(t.ptBuf[:0], v)
		return t.ptBuf
	}
	return v
}

// protect replaces the validated value in[vs:ve] with treatment tr (Encrypt,
// HMAC or SHA256, normalized by nm) and counts it in st. It returns false,
// having written nothing, when the value cannot be protected; the caller then
// removes it. null is left as it is.
func (t *Transformer) protect(tr Treatment, nm norm, st *ruleStat, vs, ve int) bool {
	if t.in[vs] == 'n' {
		return true
	}
	pt := t.plaintext(vs, ve)

	switch tr {
	case SHA256:
		// A digest is recognised as sent (trimmed), before normalization: the phone rule
		// would otherwise turn the digits of a hex digest into a "number" and hash it again.
		if v := bytes.TrimSpace(pt); isDigest(v) {
			t.normBuf = append(t.normBuf[:0], v...)
		} else {
			t.normBuf = appendNormalized(t.normBuf[:0], pt, nm, t.plan.cc)
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
		var out []byte
		var err error
		if t.typed != nil {
			out, err = t.typed.SealValue(t.out, fieldcrypt.TypeOf(t.in[vs:ve]), pt)
		} else {
			out, err = t.prot.Sealer.Seal(t.out, pt)
		}
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

// macState is whether an Apply call has the HMAC key it may need.
type macState uint8

const (
	macUnasked     macState = iota // the HMACKeyer has not been asked during this Apply call
	macLoaded                      // the key is loaded into t.mac
	macUnavailable                 // no key: hmac fields are dropped fail-closed
)

// macReady asks the HMACKeyer for the key once per Apply call and prepares
// (or reuses) the HMAC state.
func (t *Transformer) macReady() bool {
	if t.macState == macUnasked {
		t.macState = macUnavailable
		if t.prot.HMAC != nil {
			id, key, err := t.prot.HMAC.HMACKey()
			if err == nil && len(key) > 0 {
				if t.mac == nil || !hmac.Equal(key, t.macKey) {
					t.macKey = append(t.macKey[:0], key...)
					t.mac = hmac.New(sha256.New, t.macKey)
				}
				t.macKeyID, t.macState = id, macLoaded
			}
		}
	}
	return t.macState == macLoaded
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
	n := len(t.entries)
	for k := range t.dyn {
		d := &t.dyn[k]
		res.Protected += d.protected
		res.Blocked += d.blocked
		res.Dropped += d.noKey + d.failed
		dyn := func(o Outcome, reason string, n int) {
			if n > 0 {
				t.entries = append(t.entries, Entry{Path: d.path, Treatment: d.treatment, Outcome: o, Reason: reason, Count: n})
			}
		}
		dyn(Protected, "", d.protected)
		dyn(Blocked, d.reason, d.blocked)
		dyn(Dropped, ReasonKeyUnavailable, d.noKey)
		dyn(Dropped, ReasonProtectFailed, d.failed)
	}
	res.Entries, res.Unreviewed = t.entries[:n:n], t.entries[n:]
	return res
}
