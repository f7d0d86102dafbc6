package audit

import (
	"context"
	"slices"
	"testing"

	"github.com/phiguard/phiguard/shared/phi"
)

func TestHashingChangeRecordsDegradingAndRestoringOnly(t *testing.T) {
	off := phi.HashingStatus{State: phi.HashingOff}
	active := phi.HashingStatus{State: phi.HashingActive}
	noKey := phi.HashingStatus{State: phi.HashingDegraded, Reason: phi.DegradedNoActiveKey}
	lapsed := phi.HashingStatus{State: phi.HashingDegraded, Reason: phi.DegradedNotEligible}
	for _, c := range []struct {
		name          string
		before, after phi.HashingStatus
		want          string // "" for no record
	}{
		{"active to degraded names the reason", active, noKey, "destination.hashing.degraded.no-active-key"},
		{"off to degraded (hashing enabled without its key)", off, noKey, "destination.hashing.degraded.no-active-key"},
		{"degraded for another reason names the new one", noKey, lapsed, "destination.hashing.degraded.workspace-not-eligible"},
		{"degraded for the same reason records nothing", noKey, noKey, ""},
		{"degraded to active is restored", lapsed, active, "destination.hashing.restored"},
		{"degraded to off records nothing: the action's own record says it", noKey, off, ""},
		{"off to active records nothing", off, active, ""},
		{"active to active records nothing", active, active, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := NewScope("req-1", nil)
			HashingChange(With(context.Background(), s), "dst_1", c.before, c.after)
			var want []Consequence
			if c.want != "" {
				want = []Consequence{{Action: c.want, Target: "destinations/dst_1"}}
				if !slices.Contains(HashingActions(), c.want) {
					t.Errorf("HashingActions() lacks %s", c.want)
				}
			}
			if got := s.Consequences(); !slices.Equal(got, want) {
				t.Errorf("consequences %v, want %v", got, want)
			}
		})
	}
	HashingChange(context.Background(), "dst_1", active, noKey) // outside a scope: nothing, no panic
}
