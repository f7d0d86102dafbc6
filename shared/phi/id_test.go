package phi

import (
	"strings"
	"testing"
)

func TestNewIDIsValidAndUnique(t *testing.T) {
	a, b := NewID(PrefixDestination), NewID(PrefixDestination)
	if !ValidID(PrefixDestination, a) || !ValidID(PrefixDestination, b) {
		t.Fatalf("NewID produced invalid ids %q, %q", a, b)
	}
	if a == b {
		t.Fatal("two NewID calls returned the same id")
	}
}

func TestValidIDRejectsMalformedIDs(t *testing.T) {
	good := NewID(PrefixSource)
	for name, id := range map[string]string{
		"wrong prefix":      PrefixDestination + good[len(PrefixSource):],
		"too short":         good[:len(good)-1],
		"upper case":        PrefixSource + "ABCDEFGHJKMNPQRSTVWXYZ0123",
		"excluded letter i": PrefixSource + "iiiiiiiiiiiiiiiiiiiiiiiiii",
		"path traversal":    "../../etc/passwd",
		"empty":             "",
	} {
		t.Run(name, func(t *testing.T) {
			if ValidID(PrefixSource, id) {
				t.Fatalf("ValidID(%q) = true", id)
			}
		})
	}
}

func TestHIPAAEligibleNeedsBusinessTierAndSignedBAA(t *testing.T) {
	for _, tt := range []struct {
		tier   Tier
		signed bool
		want   bool
	}{
		{TierBusiness, true, true},
		{TierBusiness, false, false},
		{TierTeam, true, false},
		{TierFree, true, false},
	} {
		w := Workspace{Tier: tt.tier, BAA: BAA{Signed: tt.signed}}
		if got := w.HIPAAEligible(); got != tt.want {
			t.Errorf("tier %s, BAA signed %v: eligible = %v, want %v", tt.tier, tt.signed, got, tt.want)
		}
	}
}

func TestClipWithholdsTokensAndCutsAtACharacterBoundary(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"short text is kept", "abc", "abc"},
		{"a token is withheld", "x " + TokenPrefix + "abc", "(a value that looks like an API token, not shown)"},
		{"long text is cut and marked", "abcdefghij", "abcd…"},
		{"a cut never splits a character", "abcéfgh", "abc…"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Clip(tt.in, 4); got != tt.want {
				t.Fatalf("Clip(%q, 4) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestOperatorPseudonymsAreStableDistinctAndHideTheARN(t *testing.T) {
	a, b := "arn:aws:iam::123456789012:role/ops", "arn:aws:iam::123456789012:role/ops-2"
	if OperatorPseudonym(a) != OperatorPseudonym(a) {
		t.Fatal("not stable")
	}
	if OperatorPseudonym(a) == OperatorPseudonym(b) {
		t.Fatal("two principals share a pseudonym")
	}
	if p := OperatorPseudonym(a); !strings.HasPrefix(p, "operator:op_") || strings.Contains(p, "123456789012") || len(p) != len("operator:op_")+20 {
		t.Fatalf("pseudonym %q", p)
	}
}
