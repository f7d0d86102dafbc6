package transform

// Reviewer decides what a destination receives for the members of an event that no path of
// the plan selects: fields nobody has reviewed yet (Spec.Review). The pipeline implements it
// from the workspace's classifications and matchers. Its methods are called for every such
// member under context, traits and properties of every event, so they must be fast (cache by
// path) and must not keep path or value. Identity fields (userId, …) are not reviewed: they
// are protected only as configured.
type Reviewer interface {
	// ReviewPath returns what happens to the member at path, written as AppendFieldPaths
	// writes it (a root, escaped keys, "[]" after array keys: "properties.products[].name").
	// Encrypt, HMAC or SHA256 protect its value as a whole; Redact or Drop remove the member;
	// "" lets it through — an object or array is then entered and its members are reviewed in
	// turn, and when inspect is true each string or number at path (the value, or the
	// elements of an array there) is passed to ReviewValue.
	ReviewPath(path []byte) (t Treatment, inspect bool)
	// ReviewValue returns what happens to one string or number at path: its plaintext as
	// protection would see it (a string unescaped, a number as sent). "" lets it through;
	// Redact or Drop remove it (an array element becomes null).
	ReviewValue(path, value []byte) Treatment
}

// ReasonUnreviewed and ReasonUnaddressable are the manifest reasons for removals made because
// of the plan's Reviewer: the field is recommended for protection but not reviewed (and is red,
// or the destination blocks unreviewed fields, or its default treatment is redact), or its key
// cannot be written in a field path, so it can never be reviewed (the manifest then names the
// path of the enclosing object).
const (
	ReasonUnreviewed    = "unreviewed"
	ReasonUnaddressable = "unaddressable"
)

// scope is what applies inside the object or array being walked.
type scope struct {
	n      *node // trie node of the container: configured paths below; nil for none
	review bool  // members are reviewed: the plan has a Reviewer and the walk is below a root
	// force, when set, is the treatment of every member no configured path selects: the
	// container lies in a field recommended for protection that could not be protected as a
	// whole, because configured paths lie inside it.
	force Treatment
	// path, member: t.path[:path] is the container's path ("[]" included for an array), and
	// t.path[:member] the path of the member whose value the container is. keys counts the
	// keys of the container's path.
	path, member, keys int
	inspect            bool // strings and numbers in this array go to ReviewValue
}

// dynStat counts what the Reviewer did at one path in one event.
type dynStat struct {
	path      string
	treatment Treatment // "" for unaddressable removals
	reason    string    // for removals
	ruleStat
}

// dynamic returns the index in t.dyn of the stats for path and treatment, adding them.
func (t *Transformer) dynamic(path []byte, tr Treatment, reason string) int {
	for i := range t.dyn {
		if d := &t.dyn[i]; d.treatment == tr && d.reason == reason && d.path == string(path) {
			return i
		}
	}
	t.dyn = append(t.dyn, dynStat{path: string(path), treatment: tr, reason: reason})
	return len(t.dyn) - 1
}

// reviewed applies treatment tr, decided by the Reviewer for the value in[vs:ve] at path, and
// reports whether the value must be removed (for an array element: replaced by null).
func (t *Transformer) reviewed(path []byte, tr Treatment, vs, ve int) (remove bool) {
	if tr.removes() {
		t.dyn[t.dynamic(path, tr, ReasonUnreviewed)].blocked++
		return true
	}
	if tr != Encrypt && tr != HMAC && tr != SHA256 {
		tr = Encrypt // an unknown treatment from a Reviewer: protect with the default
	}
	nm := normTrim
	if tr == SHA256 {
		nm = normFor(lastKey(path))
	}
	k := t.dynamic(path, tr, "")
	return !t.protect(tr, nm, &t.dyn[k].ruleStat, vs, ve)
}

// inspectValue asks the Reviewer about the string or number in[vs:ve] at path and applies
// its answer; it reports whether the value must be removed.
func (t *Transformer) inspectValue(path []byte, vs, ve int) (remove bool) {
	switch t.in[vs] {
	case 'n', 't', 'f', '{', '[':
		return false
	}
	if tr := t.plan.review.ReviewValue(path, t.plaintext(vs, ve)); tr != "" {
		return t.reviewed(path, tr, vs, ve)
	}
	return false
}

// lastKey returns the last key of a path written by the walk, unescaped, "[]" markers dropped.
func lastKey(path []byte) string {
	start := 0
	for i := 0; i < len(path); i++ {
		switch path[i] {
		case '\\':
			i++
		case '.':
			start = i + 1
		}
	}
	key := make([]byte, 0, len(path)-start)
	for i := start; i < len(path); i++ {
		switch c := path[i]; c {
		case '\\':
			if i+1 < len(path) {
				i++
				key = append(key, path[i])
			}
		case '[':
			return string(key)
		default:
			key = append(key, c)
		}
	}
	return string(key)
}
