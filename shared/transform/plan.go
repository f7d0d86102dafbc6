package transform

import (
	"slices"
	"strings"

	"github.com/phiguard/phiguard/shared/phi"
)

// Treatment says what a destination receives instead of a field's value.
type Treatment string

// The treatments. Encrypt, HMAC and SHA256 replace the value with a JSON
// string; Redact and Drop remove the member. Drop is what a destination gets
// for a red field it blocks; it is reported as "blocked", not as a treatment
// the customer chose.
const (
	Encrypt Treatment = "encrypt"
	HMAC    Treatment = "hmac"
	SHA256  Treatment = "sha256"
	Redact  Treatment = "redact"
	Drop    Treatment = "drop"
)

// ParseTreatment returns the Treatment named s. The empty string means
// Encrypt, the product default. Any other unknown name returns an error
// matching ErrInvalidPlan: a *PlanError.
func ParseTreatment(s string) (Treatment, error) {
	switch t := Treatment(s); t {
	case "":
		return Encrypt, nil
	case Encrypt, HMAC, SHA256, Redact, Drop:
		return t, nil
	}
	return "", planErr("unknown treatment %q (want encrypt, hmac, sha256, redact or drop)", s)
}

func (t Treatment) removes() bool { return t == Redact || t == Drop }

// Field is one configured path and its treatment.
type Field struct {
	Path      string
	Treatment Treatment // "" means the path's default: HMAC for an identity field, Encrypt otherwise (phi.DefaultTreatment)
}

// Spec is one destination's protection configuration.
type Spec struct {
	// Fields are the paths to protect and how.
	Fields []Field
	// Drop lists the paths of red fields the destination blocks: they are
	// removed from every copy sent to it.
	Drop []string
	// DefaultCountryCode is the calling code (1–3 digits, e.g. "1", "44")
	// assumed for phone numbers without one when a sha256 treatment
	// normalizes them to E.164. Empty means "1".
	DefaultCountryCode string
	// Review, when set, decides the fate of every member under context,
	// traits and properties that no path of Fields or Drop selects (fields
	// not reviewed yet; see Reviewer). Nil lets such members through
	// untouched, unread.
	Review Reviewer
}

// Plan is a compiled Spec: a trie over the configured paths, ready to apply
// to any number of events. A Plan is immutable and safe for concurrent use.
type Plan struct {
	root   *node
	rules  []rule
	cc     string
	review Reviewer
}

type node struct {
	children map[string]*node // by case-folded key (fieldpath.Fold)
	rule     int              // index into Plan.rules; -1 for an intermediate node
}

type rule struct {
	path      Path
	treatment Treatment
	norm      norm
	pathJSON  []byte // path as a JSON string literal, for the manifest
}

// Compile validates spec and builds its Plan. It returns a *PlanError, matching
// ErrInvalidPlan (and ErrInvalidPath for a bad path), when:
//   - a path is invalid or a treatment unknown;
//   - the same field is configured twice with different treatments (a Drop
//     beside another treatment is not a conflict: blocking wins) — paths
//     that differ only in the case of their keys are the same field, since
//     event keys are matched case-insensitively;
//   - a path lies inside another path that is encrypted, hashed or HMACed as
//     a whole while the inner path is to be removed (the outer value would
//     carry the inner one to the destination).
//
// Other overlaps are resolved, not rejected: a path inside a removed
// (redacted or blocked) path is covered by the removal, and a path inside a
// path protected as a whole is covered by that protection. Paths that differ
// only in "[]" markers on inner keys select the same field (arrays are
// transparent).
func Compile(spec Spec) (*Plan, error) {
	cc := spec.DefaultCountryCode
	if cc == "" {
		cc = "1"
	}
	if len(cc) > 3 || cc[0] == '0' || strings.Trim(cc, "0123456789") != "" {
		return nil, planErr("default country code %q must be 1 to 3 digits not starting with 0", cc)
	}

	var rules []rule
	index := map[string]int{} // folded key path (joined with NUL) → rules index
	add := func(text string, t Treatment) error {
		p, err := ParsePath(text)
		if err != nil {
			return planPathErr(err)
		}
		k := strings.Join(p.folded, "\x00")
		r := rule{path: p, treatment: t, norm: normFor(p.keys[len(p.keys)-1])}
		n, seen := index[k]
		switch {
		case !seen:
			index[k] = len(rules)
			rules = append(rules, r)
		case rules[n].treatment == Drop:
			// Blocking wins over anything else configured for the field.
		case t == Drop:
			rules[n] = r
		case rules[n].treatment != t || rules[n].path.each != p.each:
			how := "select the same field"
			if !slices.Equal(rules[n].path.keys, p.keys) {
				how = "differ only in case, and event keys are matched case-insensitively, so they select the same field,"
			}
			return planErr("%q and %q %s with different treatments (%s, %s)",
				rules[n].path, text, how, rules[n].treatment, t)
		}
		return nil
	}
	for _, f := range spec.Fields {
		if f.Treatment == "" {
			f.Treatment = Treatment(phi.DefaultTreatment(f.Path))
		}
		t, err := ParseTreatment(string(f.Treatment))
		if err != nil {
			return nil, planFieldErr(f.Path, err)
		}
		if err := add(f.Path, t); err != nil {
			return nil, err
		}
	}
	for _, d := range spec.Drop {
		if err := add(d, Drop); err != nil {
			return nil, err
		}
	}

	// Resolve overlaps: an ancestor's treatment covers its descendants.
	plan := &Plan{root: &node{rule: -1}, cc: cc, review: spec.Review}
	for _, r := range rules {
		covered := false
		for l := 2; l < len(r.path.keys); l++ {
			n, ok := index[strings.Join(r.path.folded[:l], "\x00")]
			if !ok {
				continue
			}
			anc := rules[n]
			if !anc.treatment.removes() && r.treatment.removes() {
				return nil, planErr("%q is to be removed but lies inside %q, which is sent protected as a whole (%s); configure only one of them",
					r.path, anc.path, anc.treatment)
			}
			covered = true
		}
		if covered {
			continue
		}
		r.pathJSON = appendJSONString(nil, r.path.text)
		plan.rules = append(plan.rules, r)
		at := plan.root
		for _, k := range r.path.folded {
			next := at.children[k]
			if next == nil {
				if at.children == nil {
					at.children = map[string]*node{}
				}
				next = &node{rule: -1}
				at.children[k] = next
			}
			at = next
		}
		at.rule = len(plan.rules) - 1
	}
	return plan, nil
}

// Paths returns the configured paths that the plan applies, with their
// treatments, in configuration order (covered and duplicate paths omitted).
func (p *Plan) Paths() []Field {
	out := make([]Field, len(p.rules))
	for i, r := range p.rules {
		out[i] = Field{Path: r.path.text, Treatment: r.treatment}
	}
	return out
}

// DestinationSpec is the Spec for a destination with hashing settings h in a workspace whose
// field paths classified red are red: every listed field with its treatment (they apply even
// while hashing is disabled — then without keys, so encrypt and hmac fields are dropped rather
// than sent in clear), and the red paths as drops when the destination blocks red fields. The
// pipeline compiles it for every copy; the config API compiles it before saving settings, so
// a saved configuration always compiles.
//
// An identity field listed without a treatment gets HMAC (phi.DefaultTreatment). The rule for
// fields not reviewed yet (h.Unreviewed) needs the workspace's classifications and matchers:
// the pipeline sets the returned Spec's Review itself.
func DestinationSpec(h phi.HashingSettings, red []string) Spec {
	spec := Spec{Fields: make([]Field, 0, len(h.Fields))}
	for _, f := range h.Fields {
		spec.Fields = append(spec.Fields, Field{Path: f.Path, Treatment: Treatment(f.Treatment)})
	}
	if h.BlockRed {
		spec.Drop = red
	}
	return spec
}

// BlockEnclosing returns spec with every field that is sent protected as a whole (encrypt, hmac,
// sha256) while a path of spec.Drop lies inside it moved to Drop: the outer value would carry
// the blocked field to the destination, so the outer field is blocked too (fail closed). Compile
// refuses such a spec; the pipeline applies BlockEnclosing when red classifications made after a
// destination was configured conflict with its fields, so its copies keep leaving, without the
// red data, instead of failing until they reach the dead-letter queue. Fields and drops that do
// not parse are kept as they are (Compile reports them).
func BlockEnclosing(spec Spec) Spec {
	var drops []Path
	for _, d := range spec.Drop {
		if p, err := ParsePath(d); err == nil {
			drops = append(drops, p)
		}
	}
	out := Spec{Drop: slices.Clone(spec.Drop), DefaultCountryCode: spec.DefaultCountryCode, Review: spec.Review}
	for _, f := range spec.Fields {
		p, perr := ParsePath(f.Path)
		t, terr := ParseTreatment(string(f.Treatment))
		if perr == nil && terr == nil && !t.removes() && slices.ContainsFunc(drops, p.encloses) {
			out.Drop = append(out.Drop, f.Path)
			continue
		}
		out.Fields = append(out.Fields, f)
	}
	return out
}
