package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/phiguard/phiguard/shared/fieldcrypt"
)

// decrypter turns tokens back into values with the private keys it was given.
type decrypter struct {
	ring fieldcrypt.Keyring
	// ids are the key ids of the keys given. A token whose key id (HPKE: in the token; RSA: in the
	// manifest) is not among them and that no key opens is "unknown key", not "altered".
	ids    map[string]bool
	stderr io.Writer
	// typed restores the plaintexts of untyped tokens (version 1 HPKE, RSA) that are JSON
	// numbers, true or false as such; by default they come back as strings, because such a token
	// does not record whether "42" was a string. Version 2 tokens record the type and always come
	// back as the JSON value that was sent.
	typed bool

	opened, left, failed int
	out                  []byte               // scratch for one decrypted value's JSON
	line                 []byte               // scratch for one output line
	tries                map[string]*pathTrie // manifest text -> its encrypt paths
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

const decryptUsage = `usage: phictl decrypt --private-key PATH[:KEYID] [--private-key PATH[:KEYID]...] [--key-list FILE]
                      [--typed] [--strict] [--csv [--column NAME...]]   < protected > clear

Decrypts every token it holds a key for and leaves the others as they are, naming them on stderr.

Input: NDJSON (one event, or {"batch": [...]}, per line; any concatenated JSON objects work) —
the values at the encrypt paths of each event's _phi manifest are decrypted, or, without a
manifest, every string that is a well-formed token. With --csv: CSV with a header row; the cells of
the --column columns (default: every cell that is a well-formed token) are decrypted.

Keys: PATH is a private key file (PEM, optionally with the Key-ID: line phictl keygen writes), a
saved REST response holding privateKey and id, or a directory of such files. A token is matched to
a key by the key id it carries (from :KEYID, the file's Key-ID line or JSON id, or the id
--key-list gives the key's fingerprint); a key whose id is not known is tried on the tokens of its
algorithm, and the authentication tag tells whether it is the one.

flags:
`

func decrypt(args []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	fl := newFlags("decrypt", decryptUsage)
	var keys, lists, columns stringList
	fl.Var(&keys, "private-key", "private key file, saved key response or directory of them, optionally FILE:KEYID (repeatable)")
	fl.Var(&lists, "key-list", "JSON key list (GET .../keys) whose ids are given to the keys of matching fingerprint (repeatable)")
	strict := fl.Bool("strict", false, "exit 3 when a token stays encrypted")
	typed := fl.Bool("typed", false, "for tokens that do not record the type (hpke1., RSA): restore numbers, true and false as JSON values, not strings")
	csvIn := fl.Bool("csv", false, "read and write CSV with a header row instead of JSON events")
	fl.Var(&columns, "column", "with --csv: a column whose cells are tokens (repeatable; default every cell that is a token)")
	if err := parseFlags(fl, args); err != nil {
		return 0, err
	}
	if len(keys) == 0 {
		return 0, usagef("at least one --private-key PATH[:KEYID] is required")
	}
	if len(columns) > 0 && !*csvIn {
		return 0, usagef("--column applies only with --csv")
	}
	var loaded []loadedKey
	for _, arg := range keys {
		ks, err := readKeyArg(arg)
		if err != nil {
			return 0, err
		}
		loaded = append(loaded, ks...)
	}
	byFingerprint := map[string]string{}
	for _, l := range lists {
		ids, err := readKeyList(l)
		if err != nil {
			return 0, err
		}
		for fp, id := range ids {
			byFingerprint[fp] = id
		}
	}
	loaded, err := bindKeys(loaded, byFingerprint)
	if err != nil {
		return 0, err
	}
	d := &decrypter{ids: map[string]bool{}, stderr: stderr, typed: *typed}
	for _, k := range loaded {
		if err := d.ring.Add(k.id, k.key); err != nil {
			return 0, fmt.Errorf("private key %s: %s", k.source, describe(err))
		}
		if k.id != "" {
			d.ids[k.id] = true
		}
	}
	w := bufio.NewWriterSize(stdout, 64<<10)
	if *csvIn {
		err = d.csv(stdin, w, columns)
	} else {
		var out []byte
		err = eachObject(stdin, func(n int, raw []byte) error {
			var err error
			if out, err = d.decryptEvent(out[:0], raw, n, ""); err != nil {
				return err
			}
			line, err := compactLine(d.line[:0], out)
			if err != nil {
				return err
			}
			d.line = append(line, '\n')
			clear(out)
			if _, err := w.Write(d.line); err != nil {
				return fmt.Errorf("write stdout: %w", err)
			}
			clear(d.line)
			return nil
		})
	}
	if ferr := w.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("write stdout: %w", ferr)
	}
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

// openToken decrypts tok, counting and reporting a token it cannot open (ok false).
func (d *decrypter) openToken(tok string, rep *report, path, kid string) (fieldcrypt.Value, bool) {
	v, err := d.ring.OpenValue(tok)
	if err == nil {
		d.opened++
		return v, true
	}
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
	return fieldcrypt.Value{}, false
}

// appendValue appends v as JSON text. A version 2 token's value is exactly the JSON value that
// was sent. An untyped token's (version 1, RSA) plaintext is appended as JSON text when it is an
// object or array, as a number or boolean with --typed, as a JSON string otherwise.
func (d *decrypter) appendValue(dst []byte, v fieldcrypt.Value) []byte {
	pt := v.Data
	switch {
	case v.Type != fieldcrypt.TypeUnknown:
		return v.AppendJSON(dst)
	case len(pt) > 0 && (pt[0] == '{' || pt[0] == '[') && json.Valid(pt),
		d.typed && isScalar(pt):
		return append(dst, pt...)
	}
	return fieldcrypt.AppendJSONString(dst, pt)
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
