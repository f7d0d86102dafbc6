package transform

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/phiguard/phiguard/shared/fieldpath"
)

var fuzzSpec = Spec{
	Fields: []Field{
		{"traits.email", Encrypt}, {"traits.phone", SHA256}, {"traits.name", HMAC}, {"context.ip", Redact},
		{"properties.products[].name", Encrypt}, {"properties.address.zip", SHA256}, {"properties.tags[]", Encrypt},
	},
	Drop: []string{"traits.ssn"},
}

var fuzzProt = Protectors{Sealer: failingSealer{max: 40}, Algorithm: "test", KeyID: "k", HMAC: fixedKey{"h", []byte("key")}}

// FuzzApply checks that Apply never panics, accepts exactly the valid JSON
// objects within the nesting limit, always outputs valid JSON with a
// manifest, and never lets a configured field out in clear. raw is applied
// as it is; shape drives a generator that hides distinctive secrets at the
// configured paths (with escapes, duplicates, arrays and white space).
func FuzzApply(f *testing.F) {
	f.Add([]byte(`{"traits":{"email":"a@b.c","phone":"555"},"properties":{"products":[{"name":"x"}]}}`), []byte{1, 2, 3})
	f.Add([]byte(`{"_phi":1,"traits":{"em\u0061il":"x","ssn":{"a":[1]}},"context":{"ip":"1"}}`), []byte{9, 8, 7, 6, 5, 4, 3, 2, 1})
	f.Add([]byte(`{"properties":{"tags":["a",["b",null],{"c":1}],"address":[{"zip":1}]}}`), []byte("tags and zips"))
	f.Add([]byte(`{"Traits":{" pad":1,"a.b":{"x":"s","y":[true,2]}},"PROPERTIES":[["v"],{"x":[1,"2"]}],"context":{"Address":{"zip":"9","c":"x"}}}`), []byte("keys"))
	f.Add([]byte(`[1]`), []byte{})
	f.Add([]byte(`{"a":"\ud800"}`), []byte{255, 0, 255, 0})
	plan := mustCompile(f, fuzzSpec)
	reviewing := mustCompile(f, Spec{Fields: fuzzSpec.Fields, Drop: fuzzSpec.Drop, Review: protectAll{}})
	f.Fuzz(func(t *testing.T, raw, shape []byte) {
		checkRaw(t, plan, raw)
		checkReviewed(t, reviewing, raw)
		event, secrets, keeps := generateEvent(shape)
		out, _, err := Apply(nil, event, plan, fuzzProt)
		if err != nil {
			t.Fatalf("generated event rejected: %v\n%s", err, event)
		}
		checkNoSecrets(t, event, out, secrets, keeps)
	})
}

func checkRaw(t *testing.T, plan *Plan, raw []byte) {
	var tr Transformer
	out, _, err := tr.Apply([]byte("x"), raw, plan, fuzzProt)
	if err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("error does not match ErrMalformed: %v", err)
		}
		if string(out) != "x" {
			t.Fatalf("dst changed on error")
		}
		if wellFormedObject(raw) {
			t.Fatalf("valid event rejected: %v", err)
		}
		return
	}
	out = out[1:]
	if !wellFormedObject(raw) {
		t.Fatalf("invalid event accepted: %q", raw)
	}
	if !json.Valid(out) || !utf8.Valid(out) {
		t.Fatalf("output is not valid JSON: %q", out)
	}
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if m, ok := doc["_phi"].(map[string]any); !ok || m["v"] != float64(1) {
		t.Fatalf("output has no manifest: %s", out)
	}
	// Every value left at a configured path must be protected.
	for _, r := range plan.rules {
		walkPath(doc, r.path.keys, r.path.each, func(v any) {
			switch v := v.(type) {
			case nil:
			case string:
				if r.treatment.removes() || !(v == "tok.opaque" || isDigest([]byte(v))) {
					t.Fatalf("%s left %q at %s", r.treatment, v, r.path)
				}
			default:
				t.Fatalf("%s left %v at %s", r.treatment, v, r.path)
			}
		})
	}
	// The field lister accepts exactly what Apply accepts.
	if _, err := AppendFieldPaths(nil, raw); err != nil {
		t.Fatalf("AppendFieldPaths rejected an event Apply accepted: %v", err)
	}
}

// protectAll is a Reviewer that has every unreviewed field encrypted, except the keys "x" of
// objects, whose strings it inspects and removes.
type protectAll struct{}

func (protectAll) ReviewPath(path []byte) (Treatment, bool) {
	if bytes.HasSuffix(path, []byte(".x")) {
		return "", true
	}
	return Encrypt, false
}

func (protectAll) ReviewValue(path, value []byte) Treatment { return Drop }

// checkReviewed applies a plan with the protectAll reviewer: nothing under a root may be left
// in clear.
func checkReviewed(t *testing.T, plan *Plan, raw []byte) {
	out, _, err := Apply(nil, raw, plan, fuzzProt)
	if err != nil {
		return // checkRaw tested the errors
	}
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("output is not JSON: %v: %s", err, out)
	}
	var leaf func(v any)
	leaf = func(v any) {
		switch v := v.(type) {
		case nil, bool:
		case string:
			if v != "tok.opaque" && !isDigest([]byte(v)) {
				t.Fatalf("left %q in clear: %s", v, out)
			}
		case map[string]any:
			for _, c := range v {
				leaf(c)
			}
		case []any:
			for _, c := range v {
				leaf(c)
			}
		default:
			if _, isNumber := v.(float64); !isNumber {
				t.Fatalf("unexpected %T", v)
			}
			t.Fatalf("left %v in clear: %s", v, out)
		}
	}
	for k, v := range doc {
		switch v.(type) {
		case map[string]any, []any:
			if fieldpath.IsRoot(fieldpath.CanonicalTop(k)) {
				leaf(v)
			}
		}
	}
}

// walkPath calls fn with every value at keys (arrays transparent; keys compared
// case-insensitively, as the transform matches them).
func walkPath(v any, keys []string, each bool, fn func(any)) {
	if a, ok := v.([]any); ok && (len(keys) > 0 || each) {
		for _, e := range a {
			walkPath(e, keys, each, fn)
		}
		return
	}
	if len(keys) == 0 {
		fn(v)
		return
	}
	if m, ok := v.(map[string]any); ok {
		for k, c := range m {
			if strings.EqualFold(k, keys[0]) {
				walkPath(c, keys[1:], each, fn)
			}
		}
	}
}

// wellFormedObject is the reference for what Apply must accept: a valid
// JSON object, valid UTF-8, at most MaxDepth levels deep.
func wellFormedObject(b []byte) bool {
	if !json.Valid(b) || !utf8.Valid(b) {
		return false
	}
	t := bytes.TrimLeft(b, " \t\r\n")
	if len(t) == 0 || t[0] != '{' {
		return false
	}
	depth, max := 0, 0
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		if d, ok := tok.(json.Delim); ok {
			if d == '{' || d == '[' {
				depth++
				max = maxInt(max, depth)
			} else {
				depth--
			}
		}
	}
	return max <= MaxDepth
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// checkNoSecrets asserts that out is valid JSON, that no secret appears in it
// raw or in any decoded key or value (duplicates included: the token stream
// sees every member), and that every kept decoy survives.
func checkNoSecrets(t *testing.T, event, out []byte, secrets, keeps []string) {
	t.Helper()
	if !json.Valid(out) {
		t.Fatalf("output is not valid JSON:\n%s\nfrom\n%s", out, event)
	}
	seen := map[string]bool{}
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	var strs []string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch v := tok.(type) {
		case string:
			strs = append(strs, v)
		case json.Number:
			strs = append(strs, v.String())
		}
	}
	all := strings.Join(strs, "\x00")
	for _, s := range secrets {
		if bytes.Contains(out, []byte(s)) || strings.Contains(all, s) {
			t.Fatalf("secret %q in clear:\n%s\nfrom\n%s", s, out, event)
		}
	}
	for _, s := range strs {
		seen[s] = true
	}
	for _, k := range keeps {
		if !strings.Contains(all, k) {
			t.Fatalf("untouched value %q lost:\n%s\nfrom\n%s", k, out, event)
		}
	}
}

// shapeGen turns fuzz bytes into an event.
type shapeGen struct {
	b       []byte
	i       int
	n       int
	secrets []string
	keeps   []string
	buf     bytes.Buffer
}

func (g *shapeGen) pick(n int) int {
	if g.i >= len(g.b) || g.buf.Len() > 1<<16 { // bound the event size
		return 0
	}
	c := g.b[g.i]
	g.i++
	return int(c) % n
}

func (g *shapeGen) ws() {
	if g.pick(4) == 0 {
		g.buf.WriteString(" \n\t"[:1+g.pick(3)])
	}
}

// str writes s as a JSON string, escaping some characters as \u00XX.
func (g *shapeGen) str(s string) {
	g.buf.WriteByte('"')
	for _, r := range s {
		if r < 0x80 && g.pick(5) == 0 {
			fmt.Fprintf(&g.buf, `\u%04x`, r)
		} else {
			g.buf.WriteRune(r)
		}
	}
	g.buf.WriteByte('"')
}

// A position in the generated event: which keys may appear and what they
// hold. Leaves hold secrets (configured) or keepers (not configured).
type genPos struct {
	key    string
	leaf   bool // a configured path ends here: its value is secret
	each   bool // values there may be arrays of secrets
	keep   bool // not configured: its value must survive
	childs []genPos
}

var genRoot = []genPos{
	{key: "type", keep: true},
	{key: "_phi", keep: false},
	{key: "context", childs: []genPos{{key: "ip", leaf: true}, {key: "library", keep: true}}},
	{key: "traits", childs: []genPos{
		{key: "email", leaf: true}, {key: "phone", leaf: true}, {key: "name", leaf: true},
		{key: "ssn", leaf: true}, {key: "plan", keep: true},
	}},
	{key: "properties", childs: []genPos{
		{key: "products", childs: []genPos{{key: "name", leaf: true}, {key: "sku", keep: true}}},
		{key: "address", childs: []genPos{{key: "zip", leaf: true}, {key: "city", keep: true}}},
		{key: "tags", leaf: true, each: true},
		{key: "revenue", keep: true},
	}},
}

func generateEvent(shape []byte) (event []byte, secrets, keeps []string) {
	g := &shapeGen{b: shape}
	g.object(genRoot, 0)
	return g.buf.Bytes(), g.secrets, g.keeps
}

func (g *shapeGen) object(pos []genPos, depth int) {
	g.buf.WriteByte('{')
	n := 1 + g.pick(5)
	for m := 0; m < n; m++ {
		if m > 0 {
			g.buf.WriteByte(',')
		}
		g.ws()
		p := pos[g.pick(len(pos))] // duplicates happen naturally
		g.str(p.key)
		g.ws()
		g.buf.WriteByte(':')
		g.ws()
		switch {
		case p.leaf:
			g.secret(depth, p.each)
		case p.keep:
			g.n++
			k := "Keep" + strconv.Itoa(g.n) + "w"
			g.keeps = append(g.keeps, k)
			g.str(k)
		case p.childs != nil && depth < 6 && g.pick(3) == 0:
			g.buf.WriteByte('[')
			for e := 0; e < 1+g.pick(3); e++ {
				if e > 0 {
					g.buf.WriteByte(',')
				}
				g.object(p.childs, depth+1)
			}
			g.buf.WriteByte(']')
		case p.childs != nil && depth < 6:
			g.object(p.childs, depth+1)
		default:
			g.buf.WriteString(`{"v":1}`) // a spoofed manifest or depth cut-off
		}
		g.ws()
	}
	g.buf.WriteByte('}')
}

func (g *shapeGen) secret(depth int, each bool) {
	g.n++
	s := "Zq" + strconv.Itoa(g.n) + "xV\u00e9"
	switch k := g.pick(7); {
	case k == 0:
		g.buf.WriteString("null")
	case k == 1:
		num := strconv.Itoa(900000000 + g.n*7919)
		g.secrets = append(g.secrets, num)
		g.buf.WriteString(num)
	case k == 2:
		g.secrets = append(g.secrets, s)
		g.buf.WriteString(`{"inner":`)
		g.str(s)
		g.buf.WriteString(`,"n":[1,true]}`)
	case k == 3 && depth < 8:
		g.buf.WriteByte('[')
		g.secret(depth+1, each)
		g.buf.WriteByte(',')
		g.secret(depth+1, each)
		g.buf.WriteByte(']')
	case k == 4:
		// Long enough for the fuzz sealer to refuse it: must be dropped.
		long := s + strings.Repeat("-long", 10)
		g.secrets = append(g.secrets, long)
		g.str(long)
	default:
		g.secrets = append(g.secrets, s)
		g.str(s)
	}
}

func TestGeneratedEventsKeepNoSecrets(t *testing.T) {
	plan := mustCompile(t, fuzzSpec)
	seeds := 0
	for seed := 0; seed < 3000; seed++ {
		rng := rand.New(rand.NewPCG(uint64(seed), 7))
		shape := make([]byte, 64)
		for i := range shape {
			shape[i] = byte(rng.Uint32())
		}
		event, secrets, keeps := generateEvent(shape)
		out, _, err := Apply(nil, event, plan, fuzzProt)
		if err != nil {
			t.Fatalf("seed %d: %v\n%s", seed, err, event)
		}
		checkNoSecrets(t, event, out, secrets, keeps)
		checkRaw(t, plan, event)
		if len(secrets) > 0 {
			seeds++
		}
	}
	if seeds < 1000 {
		t.Fatalf("generator produced secrets for only %d of 3000 seeds", seeds)
	}
}
