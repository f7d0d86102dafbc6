package privacy_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/phiguard/phiguard/shared/privacy"
)

func TestParseFieldPath(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string // empty: valid
	}{
		{name: "a trait is valid", in: "traits.email"},
		{name: "a property of each array element is valid", in: "properties.products[].name"},
		{name: "a nested context field is valid", in: "context.device.advertisingId"},
		{name: "nested arrays are valid", in: "properties.matrix[][]"},
		{name: "keys may contain spaces and other printable characters", in: "traits.First Name.$ref-1"},
		{name: "keys may be non-ASCII", in: "traits.prénom"},
		{name: "an empty path is refused with an example", in: "", wantErr: "e.g. properties.products[].name"},
		{name: "a bare key has no root", in: "email", wantErr: "must start with context, traits or properties"},
		{name: "an unknown root is refused", in: "event.email", wantErr: "must start with context, traits or properties"},
		{name: "a root alone is not a field", in: "traits", wantErr: "names a root, not a field"},
		{name: "a trailing dot after the root is refused", in: "traits.", wantErr: "ends with a dot"},
		{name: "two dots in a row are refused", in: "traits..email", wantErr: "segment 2 is empty"},
		{name: "a trailing dot is refused", in: "traits.address.", wantErr: "segment 3 is empty"},
		{name: "the root cannot be an array", in: "traits[].email", wantErr: "is an object, not an array"},
		{name: "an unclosed bracket is refused", in: "properties.products[.name", wantErr: "brackets may only appear as []"},
		{name: "brackets with an index are refused", in: "properties.products[0].name", wantErr: "brackets may only appear as []"},
		{name: "brackets inside a key are refused", in: "properties.a[]b", wantErr: "brackets may only appear as []"},
		{name: "an array marker without a key is refused", in: "properties.[]", wantErr: "has no key before []"},
		{name: "control characters are refused", in: "traits.e\nmail", wantErr: "non-printable character U+000A"},
		{name: "a key starting with a space is refused", in: "traits. email", wantErr: "starts with a space"},
		{name: "a key ending with a space is refused", in: "traits.email ", wantErr: "ends with a space"},
		{name: "invalid UTF-8 is refused", in: "traits.\xff", wantErr: "not valid UTF-8"},
		{name: "an overlong path is refused with the limit", in: "traits." + strings.Repeat("a", privacy.MaxPathLen), wantErr: "the limit is 512"},
		{name: "an escaped dot makes it part of the key", in: `traits.a\.b`},
		{name: "escaped brackets and quotes are part of the key", in: `properties.x\[0\].say\"hi\"`},
		{name: "an identity field alone is valid", in: "userId"},
		{name: "every identity field is valid", in: "previousId"},
		{name: "a key under an identity field is refused", in: "anonymousId.x", wantErr: "write it alone"},
		{name: "a backslash before another character is refused", in: `traits.e\mail`, wantErr: "a backslash may only escape"},
		{name: "a raw quote is refused with the escape to use", in: `traits.e"mail`, wantErr: `write a quote in a key as \"`},
		{name: "a bare key names the identity fields it could be", in: "email", wantErr: "userId, anonymousId, groupId, previousId"},
		{name: "an overdeep path is refused with the limit", in: "traits" + strings.Repeat(".a", privacy.MaxPathDepth), wantErr: "the limit is 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := privacy.ParseFieldPath(tt.in)
			if tt.wantErr == "" {
				if err != nil || string(p) != tt.in {
					t.Fatalf("ParseFieldPath(%q) = %q, %v; want it back, valid", tt.in, p, err)
				}
				return
			}
			var inv *privacy.InvalidError
			if !errors.As(err, &inv) || inv.Field != "path" {
				t.Fatalf("ParseFieldPath(%q) error = %v, want *InvalidError for path", tt.in, err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not say %q", err, tt.wantErr)
			}
			if len(err.Error()) > 300 {
				t.Errorf("error is %d bytes long; caller input should be clipped", len(err.Error()))
			}
		})
	}
}

func TestFieldPathKeyAndRoot(t *testing.T) {
	tests := []struct {
		name, path, key, root string
	}{
		{name: "the key of a trait is its name", path: "traits.email", key: "email", root: "traits"},
		{name: "the key of an array element field is the last key", path: "properties.products[].name", key: "name", root: "properties"},
		{name: "array markers are dropped from the key", path: "traits.emails[]", key: "emails", root: "traits"},
		{name: "nested array markers are dropped from the key", path: "properties.matrix[][]", key: "matrix", root: "properties"},
		{name: "a deep context field keys on its last segment", path: "context.device.advertisingId", key: "advertisingId", root: "context"},
		{name: "an empty path has an empty key", path: "", key: "", root: ""},
		{name: "a path without dots is its own key", path: "email", key: "email", root: "email"},
		{name: "an escaped key is unescaped", path: `traits.a\.b`, key: "a.b", root: "traits"},
		{name: "escaped brackets are kept and markers dropped", path: `properties.x\[0\][]`, key: "x[0]", root: "properties"},
		{name: "an escaped backslash before markers", path: `traits.a\\[]`, key: `a\`, root: "traits"},
		{name: "an identity field is its own root and key", path: "userId", key: "userId", root: "userId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := privacy.FieldPath(tt.path)
			if got := p.Key(); got != tt.key {
				t.Errorf("Key() = %q, want %q", got, tt.key)
			}
			if got := p.Root(); got != tt.root {
				t.Errorf("Root() = %q, want %q", got, tt.root)
			}
		})
	}
}
