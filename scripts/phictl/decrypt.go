package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/phiguard/phiguard/shared/fieldcrypt"
	"github.com/phiguard/phiguard/shared/fieldpath"
	"github.com/phiguard/phiguard/shared/transform"
)

// decrypter turns tokens back into values with the private keys it was given.
type decrypter struct {
	ring fieldcrypt.Keyring
	// ids are the key ids given with FILE:KEYID. A token whose key id (HPKE: in the token; RSA:
	// in the manifest) is not among them and that no key opens is "unknown key", not "altered".
	ids    map[string]bool
	prints map[string]string // key id -> public key fingerprint
	stderr io.Writer
	// typed restores plaintexts that are JSON numbers, true or false as such; by default they
	// come back as strings, because a token does not record whether "42" was a string.
	typed bool

	opened, left, failed int
}

// manifest is the part of transform's "_phi" manifest decrypt needs (see docs/ENCRYPTION.md,
// section 6).
type manifest struct {
	Fields []struct {
		Path      string `json:"path"`
		Treatment string `json:"treatment"`
		Alg       string `json:"alg"`
		KID       string `json:"kid"`
	} `json:"fields"`
}

func decrypt(args []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	fl := newFlags("decrypt")
	var keys stringList
	fl.Var(&keys, "private-key", "private key PEM file, optionally FILE:KEYID (repeatable)")
	strict := fl.Bool("strict", false, "exit 3 when a token stays encrypted")
	typed := fl.Bool("typed", false, "restore numbers, true and false as JSON values, not strings")
	if err := parseFlags(fl, args); err != nil {
		return 0, err
	}
	if len(keys) == 0 {
		return 0, usagef("at least one --private-key FILE[:KEYID] is required")
	}
	d := &decrypter{ids: map[string]bool{}, prints: map[string]string{}, stderr: stderr, typed: *typed}
	for _, arg := range keys {
		if err := d.addKey(arg); err != nil {
			return 0, err
		}
	}
	err := eachValue(stdin, func(n int, raw []byte) error {
		out, err := d.value(n, raw)
		if err != nil {
			return err
		}
		return writeLine(stdout, out)
	})
	if err != nil {
		return 0, err
	}
	switch {
	case d.failed > 0:
		return 0, fmt.Errorf("%d token(s) did not decrypt (altered, or made for another key); they were left as they are, see above", d.failed)
	case d.left > 0 && *strict:
		return exitLeftOver, nil
	}
	return exitOK, nil
}

// addKey reads FILE or FILE:KEYID. A path that exists is taken whole, so a file name with a colon
// still works.
func (d *decrypter) addKey(arg string) error {
	path, id := arg, ""
	if _, err := os.Stat(arg); err != nil {
		if i := strings.LastIndexByte(arg, ':'); i > 0 {
			path, id = arg[:i], arg[i+1:]
			if err := fieldcrypt.ValidateKeyID(id); err != nil {
				return usagef("--private-key %s: key id: %s", clip(path), describe(err))
			}
		}
	}
	pemData, err := readFile(path)
	if err != nil {
		return err
	}
	defer clear(pemData)
	k, err := fieldcrypt.ParsePrivateKey(pemData)
	if err != nil {
		return fmt.Errorf("private key %s: %s", path, describe(err))
	}
	if fp, ok := d.prints[id]; ok && id != "" && fp != k.Public().Fingerprint() {
		return usagef("--private-key: key id %s is given for two different keys", id)
	}
	if err := d.ring.Add(id, k); err != nil {
		return fmt.Errorf("private key %s: %s", path, describe(err))
	}
	if id != "" {
		d.ids[id] = true
		d.prints[id] = k.Public().Fingerprint()
	}
	return nil
}

// value decrypts one top-level value: an event, or each event of {"batch": [...]}.
func (d *decrypter) value(n int, raw []byte) ([]byte, error) {
	ms, err := parseObject(raw)
	if err != nil {
		return nil, fmt.Errorf("stdin: value %d: %v", n, err)
	}
	if b := batchIndex(ms); b >= 0 {
		elems, err := parseArray(ms[b].val)
		if err != nil {
			return nil, fmt.Errorf("stdin: value %d: batch: %v", n, err)
		}
		for i, el := range elems {
			if el[0] != '{' {
				continue
			}
			if elems[i], err = d.event(fmt.Sprintf("value %d batch[%d]", n, i), el); err != nil {
				return nil, err
			}
		}
		ms[b].val = appendArray(nil, elems)
		return appendObject(nil, ms), nil
	}
	return d.event(fmt.Sprintf("event %d", n), raw)
}

// event decrypts the tokens of one event. With a "_phi" manifest, the values at its encrypt paths
// are decrypted; without one (a copy that lost it), every string that is a well-formed token is.
func (d *decrypter) event(name string, raw []byte) ([]byte, error) {
	ms, err := parseObject(raw)
	if err != nil {
		return nil, fmt.Errorf("stdin: %s: %v", name, err)
	}
	var man *manifest
	for _, m := range ms {
		if m.key == transform.ManifestKey {
			man = new(manifest)
			if err := json.Unmarshal(m.val, man); err != nil {
				return nil, fmt.Errorf("stdin: %s: the %s manifest is malformed", name, transform.ManifestKey)
			}
		}
	}
	rep := &report{event: name}
	if man == nil {
		for i := range ms {
			ms[i].val = d.scan(ms[i].val, rep, "")
		}
	} else {
		for _, f := range man.Fields {
			if f.Treatment != string(transform.Encrypt) {
				continue
			}
			keys := splitPath(f.Path)
			if keys == nil {
				continue // not a path: nothing it could name was encrypted
			}
			for i := range ms {
				if strings.EqualFold(ms[i].key, keys[0]) { // keys match case-insensitively, as in the transform
					ms[i].val = d.walk(ms[i].val, keys[1:], rep, f.Path, f.KID)
				}
			}
		}
	}
	rep.print(d.stderr)
	return appendObject(nil, ms), nil
}

// walk decrypts the values at keys below raw. Arrays are transparent on the way, as in the
// transform; at the end a string is a token, and an array holds tokens (a "path[]" field).
func (d *decrypter) walk(raw json.RawMessage, keys []string, rep *report, path, kid string) json.RawMessage {
	switch {
	case len(raw) == 0:
		return raw
	case raw[0] == '[':
		elems, err := parseArray(raw)
		if err != nil {
			return raw
		}
		for i := range elems {
			elems[i] = d.walk(elems[i], keys, rep, path, kid)
		}
		return appendArray(nil, elems)
	case len(keys) == 0 && raw[0] == '"':
		return d.open(raw, rep, path, kid)
	case len(keys) > 0 && raw[0] == '{':
		ms, err := parseObject(raw)
		if err != nil {
			return raw
		}
		for i := range ms {
			if strings.EqualFold(ms[i].key, keys[0]) {
				ms[i].val = d.walk(ms[i].val, keys[1:], rep, path, kid)
			}
		}
		return appendObject(nil, ms)
	}
	return raw
}

// scan decrypts every string below raw that is a well-formed token (no manifest to go by).
func (d *decrypter) scan(raw json.RawMessage, rep *report, path string) json.RawMessage {
	switch {
	case len(raw) == 0:
		return raw
	case raw[0] == '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return raw
		}
		if _, err := fieldcrypt.Inspect(s); err != nil {
			return raw
		}
		return d.open(raw, rep, path, "")
	case raw[0] == '[':
		elems, err := parseArray(raw)
		if err != nil {
			return raw
		}
		for i := range elems {
			elems[i] = d.scan(elems[i], rep, path)
		}
		return appendArray(nil, elems)
	case raw[0] == '{':
		ms, err := parseObject(raw)
		if err != nil {
			return raw
		}
		for i := range ms {
			if path == "" && ms[i].key == transform.ManifestKey {
				continue
			}
			ms[i].val = d.scan(ms[i].val, rep, strings.TrimPrefix(path+"."+fieldpath.Escape(ms[i].key), "."))
		}
		return appendObject(nil, ms)
	}
	return raw
}

// open decrypts one token (a JSON string) and returns the value as JSON: the plaintext of an
// object or array is JSON text and is restored as such; any other plaintext becomes a JSON
// string — a number or boolean too, unless --typed, since the token does not record the type. A
// token it cannot open is returned unchanged and reported.
func (d *decrypter) open(raw json.RawMessage, rep *report, path, kid string) json.RawMessage {
	var tok string
	if json.Unmarshal(raw, &tok) != nil {
		return raw
	}
	pt, err := d.ring.Open(tok)
	if err != nil {
		info, _ := fieldcrypt.Inspect(tok)
		id := info.KeyID
		if id == "" { // RSA tokens carry no key id: the manifest names the key
			id = kid
		}
		switch {
		case errors.Is(err, fieldcrypt.ErrMalformedToken):
			d.failed++
			rep.add("not a well-formed token", path)
		case errors.Is(err, fieldcrypt.ErrUnknownKey), errors.Is(err, fieldcrypt.ErrDecrypt) && !d.ids[id]:
			d.left++
			if id == "" {
				id = fmt.Sprintf("its RSA-%d key (no key id known)", info.RSABits)
			}
			rep.add("no private key for "+id, path)
		default:
			d.failed++
			rep.add("token does not decrypt (altered, or made for another key)", path)
		}
		return raw
	}
	d.opened++
	defer clear(pt)
	if len(pt) > 0 && (pt[0] == '{' || pt[0] == '[') && json.Valid(pt) {
		return json.RawMessage(string(pt))
	}
	if d.typed && isScalar(pt) {
		return json.RawMessage(string(pt))
	}
	return appendString(nil, string(pt))
}

// isScalar reports whether b is exactly a JSON number, true or false.
func isScalar(b []byte) bool {
	if string(b) == "true" || string(b) == "false" {
		return true
	}
	var n json.Number
	return len(b) > 0 && (b[0] == '-' || b[0] >= '0' && b[0] <= '9') && json.Unmarshal(b, &n) == nil
}

// report collects, per event, the tokens left encrypted and why, for one stderr line each.
type report struct {
	event string
	why   map[string]map[string]int // reason -> path -> count
}

func (r *report) add(reason, path string) {
	if r.why == nil {
		r.why = map[string]map[string]int{}
	}
	if r.why[reason] == nil {
		r.why[reason] = map[string]int{}
	}
	r.why[reason][path]++
}

func (r *report) print(w io.Writer) {
	reasons := make([]string, 0, len(r.why))
	for reason := range r.why {
		reasons = append(reasons, reason)
	}
	sort.Strings(reasons)
	for _, reason := range reasons {
		var parts []string
		for p, n := range r.why[reason] {
			parts = append(parts, fmt.Sprintf("%s (%d)", p, n))
		}
		sort.Strings(parts)
		fmt.Fprintf(w, "phictl decrypt: %s: left encrypted, %s: %s\n", r.event, reason, strings.Join(parts, ", "))
	}
}
