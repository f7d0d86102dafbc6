// Package transform protects the PHI fields of one Segment-spec event for one
// destination by rewriting the event's JSON text in a single pass.
//
// A destination's configuration is compiled once into a [Plan] (paths under
// context, traits and properties, each with a [Treatment], plus the paths the
// destination blocks). [Transformer.Apply] then walks each event's bytes once:
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
// A path is a root — "context", "traits" or "properties" — followed by one or
// more dot-separated keys, for example "traits.email", "context.traits.phone",
// "properties.address.zip" or "properties.products[].name". A key may end in
// one or more "[]" to say that the value there is an array. Keys are matched
// exactly (case-sensitive) against the unescaped JSON key. A key cannot
// contain '.', '[', ']', '"', '\\' or control characters, nor start or end
// with white space.
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
// Redacted and blocked members are removed whatever their type, null
// included.
package transform
