// Package transform protects the PHI fields of one Segment-spec event for one
// destination by rewriting the event's JSON text in a single pass.
//
// A destination's configuration is compiled once into a [Plan] (paths under
// context, traits and properties or identity fields, each with a [Treatment],
// plus the paths the destination blocks, and optionally a [Reviewer] for the
// fields nobody has reviewed yet). [Transformer.Apply] then walks each event's
// bytes once:
// it validates the JSON, copies every untouched byte through unchanged,
// replaces the value of every selected path with a JSON string (a ciphertext
// token, an HMAC or a SHA-256 digest), removes redacted and blocked members
// (keeping the commas right) and appends a manifest under the top-level key
// "_phi" that names what was protected with which key. No maps are built and
// untouched parts of the event are never decoded, which keeps the transform
// cheaper than a plain encoding/json round trip.
//
// The package fails closed: a field that must be protected but cannot be (no
// active key, HMAC key unavailable, the sealer refuses the value) is removed
// and counted, never written in clear. Malformed input is rejected with an
// error matching [ErrMalformed]; errors never contain event bytes.
//
// # Path syntax
//
// Paths follow the one field-path grammar of shared/fieldpath. A path is a
// root — "context", "traits" or "properties" — followed by one or more
// dot-separated keys, for example "traits.email", "context.traits.phone",
// "properties.address.zip" or "properties.products[].name"; or one of the
// identity fields "userId", "anonymousId", "groupId" and "previousId" alone,
// which names that top-level member of the event. A key may end in one or more
// "[]" to say that the value there is an array. A backslash escapes '.', '[',
// ']', '\' and '"' inside a key, so `traits.a\.b` is the key "a.b" under
// traits (not "b" inside "a"). A key cannot contain control or format
// characters, nor start or end with white space; paths are at most 512 bytes
// and 32 keys.
//
// An identity field listed without a treatment is HMACed (joins on it keep
// working); any other field without a treatment is encrypted.
//
// # Case
//
// Keys are matched against the unescaped JSON key case-insensitively, by
// Unicode simple case folding (the semantics of strings.EqualFold), roots and
// identity fields included: with "traits.email" configured, an event's
// "Traits": {"EMAIL": …} is protected just the same. Two configured paths of
// one plan that differ only in case are one field: Compile refuses them unless
// their treatments are identical.
//
// # Fields nobody has reviewed
//
// A plan with a Reviewer (Spec.Review) also visits every member under the
// three roots that no configured path selects, asks the Reviewer about its
// path (and, when it asks to, about its string or number values) and protects
// or removes it as told; the manifest lists those paths marked
// "unreviewed":true. A member whose key no path can name can never be reviewed
// and is removed. Without a Reviewer such members are copied unread, as before.
//
// Arrays are transparent when a path continues into an object key: at every
// step, if the value is an array, each element is searched (recursively for
// nested arrays). So "properties.products[].name" and
// "properties.products.name" select the same values, and an event that sends
// an array where an object was expected cannot smuggle a configured field
// past the plan. "[]" changes behaviour only on the last key: "properties.tags"
// protects the whole array as one value, "properties.tags[]" protects each
// element on its own (an element that cannot be protected becomes null).
//
// # Values that are not strings
//
// The plaintext of a selected value is:
//   - a string: its unescaped UTF-8 content;
//   - a number, true or false: its JSON text exactly as sent (e.g. 42.50);
//   - an object or array: its JSON text with insignificant white space
//     removed (strings keep their original escapes), so decrypting yields
//     valid JSON text;
//   - null: nothing — null carries no value and stays null (not counted).
//
// A Sealer that is a [TypedSealer] (fieldcrypt's Encrypter) also records which
// JSON type the value had, so that decryption restores 42 as a number and "42"
// as a string (docs/ENCRYPTION.md, section 3.4).
//
// Redacted and blocked members are removed whatever their type, null
// included.
package transform
