package pipeline

import (
	"sync"

	"github.com/phiguard/phiguard/shared/fieldpath"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/privacy"
	"github.com/phiguard/phiguard/shared/transform"
)

// maxVerdicts bounds the per-workspace cache of path verdicts; past it verdicts are computed
// each time (correct, slower) until the configuration is reloaded.
const maxVerdicts = 20_000

// verdict is what a workspace's matchers and classifications say about one field path.
type verdict uint8

const (
	verdictPass    verdict = iota + 1 // classified (reviewed), or a matcher recommends green
	verdictInspect                    // no matcher fires on the key: each value is judged by the value matchers
	verdictYellow                     // not classified, recommended yellow
	verdictRed                        // not classified, recommended red
)

// review is a workspace's view of the fields nobody has classified yet: its classifier (the
// default matchers and its custom ones) and the paths that are classified, with the verdict on
// every path seen cached for as long as the configuration snapshot it was built from.
//
// Key matchers decide per path, once. Value matchers cannot be cached — they judge the value —
// so they run on each string or number of a path whose key no matcher fires on, per event and
// destination, and only while that path is unclassified: classifying it (green included) stops
// them. Values longer than privacy.MaxValueLen are judged by their key alone.
type review struct {
	cls      *privacy.Classifier
	reviewed map[string]bool // fieldpath canonical form of every classified path

	mu       sync.RWMutex
	verdicts map[string]verdict // by path as the transform writes it
}

func newReview(cls *privacy.Classifier, classes []phi.Classification) *review {
	r := &review{cls: cls, reviewed: make(map[string]bool, len(classes)), verdicts: map[string]verdict{}}
	for _, c := range classes {
		if p, err := fieldpath.Parse(c.Path); err == nil {
			r.reviewed[p.Canonical()] = true
		}
	}
	return r
}

func (r *review) verdict(path []byte) verdict {
	r.mu.RLock()
	v, ok := r.verdicts[string(path)]
	r.mu.RUnlock()
	if ok {
		return v
	}
	p := string(path)
	v = r.decide(p)
	r.mu.Lock()
	if len(r.verdicts) < maxVerdicts {
		r.verdicts[p] = v
	}
	r.mu.Unlock()
	return v
}

func (r *review) decide(path string) verdict {
	p, err := fieldpath.Parse(path)
	if err != nil {
		return verdictRed // the transform writes only valid paths; fail closed all the same
	}
	if r.reviewed[p.Canonical()] {
		return verdictPass
	}
	rec, ok := r.cls.Recommend(privacy.FieldPath(path))
	return verdictOf(rec, ok, verdictInspect)
}

func verdictOf(rec privacy.Recommendation, ok bool, none verdict) verdict {
	switch {
	case !ok:
		return none
	case rec.Classification == privacy.Red:
		return verdictRed
	case rec.Classification == privacy.Yellow:
		return verdictYellow
	}
	return verdictPass
}

// reviewer applies a workspace's review with one destination's rule (phi.UnreviewedProtect or
// phi.UnreviewedBlock); it is the destination plan's transform.Reviewer.
type reviewer struct {
	r      *review
	yellow transform.Treatment // for fields recommended yellow; red ones are always removed
}

var _ transform.Reviewer = reviewer{}

// newReviewer returns the Reviewer for rule; protect applies h.UnreviewedTreatment to fields
// recommended yellow (a default treatment that is not a treatment removes them).
func newReviewer(r *review, rule phi.Unreviewed, h phi.HashingSettings) reviewer {
	rv := reviewer{r: r, yellow: transform.Drop}
	if t := h.UnreviewedTreatment(); rule == phi.UnreviewedProtect && t != "" {
		rv.yellow = transform.Treatment(t)
	}
	return rv
}

func (rv reviewer) ReviewPath(path []byte) (transform.Treatment, bool) {
	return rv.treat(rv.r.verdict(path))
}

func (rv reviewer) ReviewValue(_, value []byte) transform.Treatment {
	if len(value) > privacy.MaxValueLen {
		return ""
	}
	rec, ok := rv.r.cls.RecommendByValue(string(value))
	t, _ := rv.treat(verdictOf(rec, ok, verdictPass))
	return t
}

func (rv reviewer) treat(v verdict) (transform.Treatment, bool) {
	switch v {
	case verdictRed:
		return transform.Drop, false
	case verdictYellow:
		return rv.yellow, false
	case verdictInspect:
		return "", true
	}
	return "", false
}
