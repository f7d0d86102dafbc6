package transform

import (
	"encoding/json"
	"testing"

	"github.com/phiguard/phiguard/shared/fieldcrypt"
)

// TestEncryptedValuesKeepTheirJSONType: with fieldcrypt's Encrypter (a TypedSealer) every
// encrypted value decrypts to exactly the JSON value that was sent — 42 and "42" stay apart.
func TestEncryptedValuesKeepTheirJSONType(t *testing.T) {
	const event = `{"type":"track","userId":42,"properties":{"n":42,"s":"42","f":42.50,"b":false,` +
		`"o":{"a": [1, "x"]},"a":[ true ,null],"e":"a\"\\\u00e9","z":null,"tags":[7,"7",{"k":"v"}]}}`
	fields := []string{"userId", "properties.n", "properties.s", "properties.f", "properties.b", "properties.o",
		"properties.a", "properties.e", "properties.z", "properties.tags[]"}
	spec := Spec{}
	for _, f := range fields {
		spec.Fields = append(spec.Fields, Field{Path: f, Treatment: Encrypt})
	}
	plan, err := Compile(spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range []fieldcrypt.Algorithm{fieldcrypt.HPKEP256, fieldcrypt.HPKEXWing} {
		t.Run(string(alg), func(t *testing.T) {
			k, err := fieldcrypt.GenerateKeyPair(alg, 0)
			if err != nil {
				t.Fatal(err)
			}
			enc, err := fieldcrypt.NewEncrypter(k.Public(), "k1")
			if err != nil {
				t.Fatal(err)
			}
			var ring fieldcrypt.Keyring
			if err := ring.Add("k1", k); err != nil {
				t.Fatal(err)
			}
			out, _, err := Apply(nil, []byte(event), plan, Protectors{Sealer: enc, Algorithm: string(alg), KeyID: "k1"})
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				UserID     string         `json:"userId"`
				Properties map[string]any `json:"properties"`
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			open := func(v any) string {
				s, ok := v.(string)
				if !ok {
					t.Fatalf("value %v was not replaced by a token", v)
				}
				val, err := ring.OpenValue(s)
				if err != nil {
					t.Fatal(err)
				}
				return string(val.AppendJSON(nil))
			}
			want := map[string]string{"n": `42`, "s": `"42"`, "f": `42.50`, "b": `false`, "o": `{"a":[1,"x"]}`,
				"a": `[true,null]`, "e": `"a\"\\é"`}
			if g := open(got.UserID); g != "42" {
				t.Errorf("userId decrypts to %s, want the number 42", g)
			}
			for key, w := range want {
				if g := open(got.Properties[key]); g != w {
					t.Errorf("properties.%s decrypts to %s, want %s", key, g, w)
				}
			}
			if got.Properties["z"] != nil {
				t.Errorf("null became %v", got.Properties["z"])
			}
			tags := got.Properties["tags"].([]any)
			for i, w := range []string{`7`, `"7"`, `{"k":"v"}`} {
				if g := open(tags[i]); g != w {
					t.Errorf("properties.tags[%d] decrypts to %s, want %s", i, g, w)
				}
			}
		})
	}
}
