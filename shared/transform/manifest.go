package transform

// ManifestKey is the top-level member the transform appends to every event
// it outputs. Any member of that name in the input is removed first, so a
// producer cannot spoof it.
const ManifestKey = "_phi"

// ManifestVersion is the value of "v" in the manifest.
const ManifestVersion = 1

// appendManifest writes the "_phi" member. Its layout (documented in
// docs/ENCRYPTION.md, section 6) is:
//
//	"_phi": {
//	  "v": 1,
//	  "fields": [
//	    {"path": "traits.email", "treatment": "encrypt", "alg": "hpke-p256", "kid": "k-2024"},
//	    {"path": "traits.phone", "treatment": "sha256", "alg": "sha256", "norm": "e164"},
//	    {"path": "traits.user_ref", "treatment": "hmac", "alg": "hmac-sha256", "kid": "h-1"},
//	    {"path": "context.ip", "treatment": "redact"}
//	  ],
//	  "dropped": [
//	    {"path": "traits.ssn", "reason": "blocked"},
//	    {"path": "traits.notes", "reason": "protect-failed"}
//	  ]
//	}
//
// "fields" lists each configured path that matched at least one value in this
// event, in plan order; "dropped" lists each path with values removed for a
// reason other than redact. A path can appear in both when some of its values
// (array elements) were protected and others dropped. The manifest never
// contains values, only configured paths, treatments and key ids.
func (t *Transformer) appendManifest(dst []byte) []byte {
	dst = append(dst, `"_phi":{"v":1,"fields":[`...)
	first := true
	sep := func() {
		if !first {
			dst = append(dst, ',')
		}
		first = false
	}
	for k := range t.plan.rules {
		r, st := &t.plan.rules[k], &t.stats[k]
		if st.protected > 0 {
			sep()
			dst = append(dst, `{"path":`...)
			dst = append(dst, r.pathJSON...)
			switch r.treatment {
			case Encrypt:
				dst = append(dst, `,"treatment":"encrypt"`...)
				if t.prot.Algorithm != "" {
					dst = append(dst, `,"alg":`...)
					dst = appendJSONString(dst, t.prot.Algorithm)
				}
				if t.prot.KeyID != "" {
					dst = append(dst, `,"kid":`...)
					dst = appendJSONString(dst, t.prot.KeyID)
				}
			case HMAC:
				dst = append(dst, `,"treatment":"hmac","alg":"hmac-sha256"`...)
				if t.macKeyID != "" {
					dst = append(dst, `,"kid":`...)
					dst = appendJSONString(dst, t.macKeyID)
				}
			case SHA256:
				dst = append(dst, `,"treatment":"sha256","alg":"sha256","norm":"`...)
				dst = append(dst, r.norm.String()...)
				dst = append(dst, '"')
			}
			dst = append(dst, '}')
		}
		if st.redacted > 0 {
			sep()
			dst = append(dst, `{"path":`...)
			dst = append(dst, r.pathJSON...)
			dst = append(dst, `,"treatment":"redact"}`...)
		}
	}
	dst = append(dst, `],"dropped":[`...)
	first = true
	drop := func(r *rule, n int, reason string) {
		if n > 0 {
			sep()
			dst = append(dst, `{"path":`...)
			dst = append(dst, r.pathJSON...)
			dst = append(dst, `,"reason":"`...)
			dst = append(dst, reason...)
			dst = append(dst, `"}`...)
		}
	}
	for k := range t.plan.rules {
		r, st := &t.plan.rules[k], &t.stats[k]
		drop(r, st.blocked, ReasonBlocked)
		drop(r, st.noKey, ReasonKeyUnavailable)
		drop(r, st.failed, ReasonProtectFailed)
	}
	return append(dst, "]}"...)
}
