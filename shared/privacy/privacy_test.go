package privacy_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/phiguard/phiguard/shared/privacy"
)

func TestParseClassification(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    privacy.Classification
		wantErr string
	}{
		{name: "red is accepted", in: "red", want: privacy.Red},
		{name: "yellow is accepted", in: "yellow", want: privacy.Yellow},
		{name: "green is accepted", in: "green", want: privacy.Green},
		{name: "an empty classification is required", in: "", wantErr: "is required"},
		{name: "upper case is not a spelling", in: "RED", wantErr: `"RED" is not a classification`},
		{name: "an unknown colour is refused with the allowed values", in: "blue", wantErr: `use "red", "yellow" or "green"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := privacy.ParseClassification(tt.in)
			if tt.wantErr != "" {
				var inv *privacy.InvalidError
				if !errors.As(err, &inv) || inv.Field != "classification" {
					t.Fatalf("ParseClassification(%q) error = %v, want *InvalidError for classification", tt.in, err)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q does not say %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseClassification(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestInvalidErrorMatchesErrInvalid(t *testing.T) {
	err := fmt.Errorf("create matcher: %w", &privacy.InvalidError{Field: "name", Reason: "is required"})
	if !errors.Is(err, privacy.ErrInvalid) {
		t.Error("a wrapped *InvalidError does not match ErrInvalid")
	}
	if errors.Is(err, privacy.ErrTooManyMatchers) {
		t.Error("an *InvalidError matches ErrTooManyMatchers")
	}
	if got, want := err.Error(), "create matcher: invalid name: is required"; got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
}

func TestProblemsListsEveryInvalidField(t *testing.T) {
	err := privacy.Matcher{Name: "", Classification: "blue", Target: "key", Mode: "exact"}.Validate()
	wrapped := fmt.Errorf("create matcher: %w", err)
	var fields []string
	for _, p := range privacy.Problems(wrapped) {
		fields = append(fields, p.Field)
	}
	if got, want := strings.Join(fields, ","), "name,classification,patterns"; got != want {
		t.Errorf("Problems fields = %s, want %s", got, want)
	}
	if privacy.Problems(errors.New("other")) != nil || privacy.Problems(nil) != nil {
		t.Error("Problems of an error without *InvalidError is not nil")
	}
}

// Validation messages quote bad input back, but never an API token pasted into the wrong field.
func TestValidationMessagesWithholdPastedTokens(t *testing.T) {
	const secret = "phit_VvDIg2xu8qoM5is-LTVEPJUy_JUNaQCFHx3PGIlWbnw"
	for name, err := range map[string]error{
		"classification":       privacy.Classification(secret).Validate(),
		"target":               privacy.Target(secret).Validate(),
		"mode":                 privacy.Mode(secret).Validate(),
		"path root":            privacy.FieldPath(secret).Validate(),
		"path segment":         privacy.FieldPath("traits. " + secret).Validate(),
		"pattern":              privacy.Matcher{Name: "x", Classification: "red", Target: "key", Mode: "exact", Patterns: []string{"(?:" + secret + ")?"}}.Validate(),
		"default matcher edit": privacy.CheckEditable("default-" + secret),
	} {
		t.Run(name, func(t *testing.T) {
			if err == nil {
				t.Fatal("the bad input was accepted")
			}
			if strings.Contains(err.Error(), secret[:20]) {
				t.Errorf("the message quotes the token: %v", err)
			}
		})
	}
}
