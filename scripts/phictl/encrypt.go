package main

import (
	"fmt"
	"io"

	"github.com/phiguard/phiguard/shared/fieldcrypt"
	"github.com/phiguard/phiguard/shared/stack"
	"github.com/phiguard/phiguard/shared/transform"
)

// encrypter protects events exactly as the hashing pipeline does: a transform.Plan with every
// field treated "encrypt", sealed by a fieldcrypt.Encrypter whose HPKE encapsulation is shared by
// the events of one batch (stack.IngestBatchSize events, as the pipeline's SQS batches).
type encrypter struct {
	pub    *fieldcrypt.PublicKey
	keyID  string
	opts   fieldcrypt.Options
	plan   *transform.Plan
	tr     transform.Transformer
	enc    *fieldcrypt.Encrypter
	events int
	stderr io.Writer
}

const encryptUsage = `usage: phictl encrypt --public-key FILE --key-id ID [--alg ALG] [--padding buckets|none] --field PATH [--field PATH...]   < events > protected

Reads Segment events — one JSON object, JSON lines, or {"batch": [...]} — and writes them, one per
line, with the named fields encrypted exactly as the hashing pipeline does (the "_phi" manifest
included; one HPKE encapsulation per 100 events). Values too large for RSA are removed (fail
closed) and named on stderr.

flags:
`

func encrypt(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fl := newFlags("encrypt", encryptUsage)
	keyFile := fl.String("public-key", "", "public key PEM file")
	keyID := fl.String("key-id", "", "key id named in every token and the manifest")
	alg := fl.String("alg", "", "algorithm the key must be for")
	padding := fl.String("padding", "buckets", "HPKE tokens: buckets (pad values to 32, 64, 128, … bytes, hiding their length) or none")
	var fields stringList
	fl.Var(&fields, "field", `field path to encrypt (repeatable): traits.email, properties.products[].name, userId; escape '.', '[', ']', '\' and '"' inside a key with a backslash (traits.a\.b is the key "a.b")`)
	if err := parseFlags(fl, args); err != nil {
		return err
	}
	switch {
	case *keyFile == "":
		return usagef("--public-key FILE is required")
	case *keyID == "":
		return usagef("--key-id ID is required (the id the service gave the key, e.g. key_…)")
	case len(fields) == 0:
		return usagef("at least one --field PATH is required, e.g. --field traits.email")
	}
	if err := fieldcrypt.ValidateKeyID(*keyID); err != nil {
		return usagef("--key-id: %s", describe(err))
	}
	pad, err := fieldcrypt.ParsePadding(*padding)
	if err != nil {
		return usagef("--padding: %s", describe(err))
	}
	spec := transform.Spec{}
	for _, f := range fields {
		if _, err := transform.ParsePath(f); err != nil {
			return usagef("--field: %v", err)
		}
		spec.Fields = append(spec.Fields, transform.Field{Path: f, Treatment: transform.Encrypt})
	}
	plan, err := transform.Compile(spec)

	if err != nil {
		return usagef("--field: %s", describe(err))
	}
	pemData, err := readFile(*keyFile)
	if err != nil {
		return err
	}
	var pub *fieldcrypt.PublicKey
	if *alg == "" {
		pub, err = fieldcrypt.ParsePublicKey(pemData)
	} else {
		a, aerr := fieldcrypt.ParseAlgorithm(*alg)
		if aerr != nil {
			return usagef("--alg: %s", describe(aerr))
		}
		pub, err = fieldcrypt.ParsePublicKeyFor(a, pemData)
	}
	if err != nil {
		return fmt.Errorf("public key %s: %s", *keyFile, describe(err))
	}
	e := &encrypter{pub: pub, keyID: *keyID, opts: fieldcrypt.Options{Padding: pad}, plan: plan, stderr: stderr}
	return eachValue(stdin, func(n int, raw []byte) error {
		out, err := e.value(n, raw)
		if err != nil {
			return err
		}
		return writeLine(stdout, out)
	})
}

// value protects one top-level value: an event, or each event of {"batch": [...]}.
func (e *encrypter) value(n int, raw []byte) ([]byte, error) {
	ms, err := parseObject(raw)
	if err != nil {
		return nil, fmt.Errorf("stdin: value %d: %v", n, err)
	}
	b := batchIndex(ms)
	if b < 0 {
		return e.event(fmt.Sprintf("event %d", n), raw)
	}
	elems, err := parseArray(ms[b].val)
	if err != nil {
		return nil, fmt.Errorf("stdin: value %d: batch: %v", n, err)
	}
	for i, el := range elems {
		if el[0] != '{' {
			return nil, fmt.Errorf("stdin: value %d: batch[%d] is not a JSON object", n, i)
		}
		if elems[i], err = e.event(fmt.Sprintf("value %d batch[%d]", n, i), el); err != nil {
			return nil, err
		}
	}
	ms[b].val = appendArray(nil, elems)
	return appendObject(nil, ms), nil
}

// event protects one event and reports on stderr the values that could not be encrypted (too
// large for RSA) and so were removed, fail closed, as the pipeline does.
func (e *encrypter) event(name string, raw []byte) ([]byte, error) {
	if e.enc == nil || e.events%stack.IngestBatchSize == 0 {
		enc, err := fieldcrypt.NewEncrypterWith(e.pub, e.keyID, e.opts)
		if err != nil {
			return nil, fmt.Errorf("new encrypter: %s", describe(err))
		}
		e.enc = enc
	}
	e.events++
	out, res, err := e.tr.Apply(nil, raw, e.plan, transform.Protectors{Sealer: e.enc, Algorithm: string(e.pub.Algorithm()), KeyID: e.keyID})
	if err != nil {
		return nil, fmt.Errorf("stdin: %s: %v", name, err)
	}
	for _, en := range res.Entries {
		if en.Outcome == transform.Dropped {
			fmt.Fprintf(e.stderr, "phictl encrypt: %s: %d value(s) of %s could not be encrypted (%s, e.g. too large for %s) and were removed\n",
				name, en.Count, en.Path, en.Reason, e.pub.Algorithm())
		}
	}
	return out, nil
}
