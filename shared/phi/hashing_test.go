package phi_test

import (
	"testing"

	"github.com/phiguard/phiguard/shared/phi"
)

func TestDefaultTreatmentIsHMACForIdentityFieldsAndEncryptOtherwise(t *testing.T) {
	for path, want := range map[string]phi.Treatment{
		"userId": phi.TreatmentHMAC, "anonymousId": phi.TreatmentHMAC, "groupId": phi.TreatmentHMAC, "previousId": phi.TreatmentHMAC,
		"traits.email": phi.TreatmentEncrypt, "traits.userId": phi.TreatmentEncrypt, "context.groupId": phi.TreatmentEncrypt,
		"UserId": phi.TreatmentEncrypt, // not a valid path: the grammar writes identity fields exactly
	} {
		if got := phi.DefaultTreatment(path); got != want {
			t.Errorf("DefaultTreatment(%q) = %s, want %s", path, got, want)
		}
	}
}

func TestUnreviewedRule(t *testing.T) {
	tests := []struct {
		name     string
		h        phi.HashingSettings
		eligible bool
		want     phi.Unreviewed
	}{
		{"the default protects when hashing is enabled in an eligible workspace", phi.HashingSettings{Enabled: true}, true, phi.UnreviewedProtect},
		{"the default passes when hashing is off", phi.HashingSettings{}, true, phi.UnreviewedPass},
		{"the default passes in a workspace that is not eligible", phi.HashingSettings{Enabled: true}, false, phi.UnreviewedPass},
		{"pass must be chosen explicitly", phi.HashingSettings{Enabled: true, Unreviewed: phi.UnreviewedPass}, true, phi.UnreviewedPass},
		{"block is kept", phi.HashingSettings{Enabled: true, Unreviewed: phi.UnreviewedBlock}, true, phi.UnreviewedBlock},
		{"an explicit choice holds with hashing off", phi.HashingSettings{Unreviewed: phi.UnreviewedProtect}, false, phi.UnreviewedProtect},
		{"an unknown value blocks: fail closed", phi.HashingSettings{Unreviewed: "maybe"}, true, phi.UnreviewedBlock},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.h.UnreviewedRule(tt.eligible); got != tt.want {
				t.Errorf("UnreviewedRule = %q, want %q", got, tt.want)
			}
		})
	}
}
