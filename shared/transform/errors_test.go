package transform

import (
	"errors"
	"strings"
	"testing"
)

// TestPlanErrorsCarryACallerSafeReason pins what the config API shows a customer whose hashing
// settings do not compile: PlanError.Reason, read with errors.As, with no package name or
// ErrInvalidPlan text to strip.
func TestPlanErrorsCarryACallerSafeReason(t *testing.T) {
	for _, tt := range []struct {
		name   string
		spec   Spec
		reason string // the whole Reason; "" when only prefix is pinned
		prefix string
		path   bool // also a bad path: ErrInvalidPath and a *PathError
	}{
		{
			name:   "an unknown treatment names its field",
			spec:   Spec{Fields: []Field{{"traits.email", "rot13"}}},
			reason: `field "traits.email": unknown treatment "rot13" (want encrypt, hmac, sha256, redact or drop)`,
		},
		{
			name:   "two treatments for one field",
			spec:   Spec{Fields: []Field{{"traits.email", HMAC}, {"traits.email", SHA256}}},
			reason: `"traits.email" and "traits.email" select the same field with different treatments (hmac, sha256)`,
		},
		{
			name:   "a removal inside a field protected whole",
			spec:   Spec{Fields: []Field{{"traits.address", Encrypt}}, Drop: []string{"traits.address.city"}},
			reason: `"traits.address.city" is to be removed but lies inside "traits.address", which is sent protected as a whole (encrypt); configure only one of them`,
		},
		{
			name:   "a bad country code",
			spec:   Spec{DefaultCountryCode: "01"},
			reason: `default country code "01" must be 1 to 3 digits not starting with 0`,
		},
		{
			name:   "a bad path says so and keeps its PathError",
			spec:   Spec{Fields: []Field{{"event", Encrypt}}},
			prefix: `invalid field path "event": `,
			path:   true,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.spec)
			var pe *PlanError
			if !errors.As(err, &pe) || !errors.Is(err, ErrInvalidPlan) {
				t.Fatalf("err = %v, want a *PlanError matching ErrInvalidPlan", err)
			}
			if tt.reason != "" && pe.Reason != tt.reason {
				t.Errorf("Reason = %q\nwant     %q", pe.Reason, tt.reason)
			}
			if !strings.HasPrefix(pe.Reason, tt.prefix) || strings.Contains(pe.Reason, "transform:") || strings.Contains(pe.Reason, ErrInvalidPlan.Error()) {
				t.Errorf("Reason = %q, want it to start with %q and carry no package or kind prefix", pe.Reason, tt.prefix)
			}
			if got, want := err.Error(), "transform: invalid protection plan: "+pe.Reason; got != want {
				t.Errorf("Error() = %q, want %q", got, want)
			}
			var path *PathError
			if errors.Is(err, ErrInvalidPath) != tt.path || errors.As(err, &path) != tt.path {
				t.Errorf("err = %v: ErrInvalidPath %v, want %v", err, errors.Is(err, ErrInvalidPath), tt.path)
			}
			if tt.path && pe.Reason != `invalid field path "`+path.Path+`": `+path.Reason {
				t.Errorf("Reason = %q does not quote the PathError %q: %q", pe.Reason, path.Path, path.Reason)
			}
		})
	}
	if _, err := ParseTreatment("rot13"); !errors.As(err, new(*PlanError)) {
		t.Errorf("ParseTreatment error = %v, want a *PlanError", err)
	}
}
