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
//
// After the configured paths come the event's own paths that the plan's
// Reviewer decided about (fields not reviewed yet), marked "unreviewed":true:
//
//	{"path": "properties.diagnosis", "treatment": "encrypt", "alg": "hpke-p256", "kid": "k-2024", "unreviewed": true}
//	{"path": "traits.ssn", "reason": "unreviewed"}
//	{"path": "properties.notes", "reason": "key-unavailable", "unreviewed": true}
//	{"path": "traits", "reason": "unaddressable"}
func (t *Transformer) appendManifest(dst []byte) []byte {
	dst = append(dst, `"_phi":{"v":1,"fields":[`...)
	first := true
	sep := func() {
		if !first {
			dst = append(dst, ',')
		}
		first = false
	}
	protected := func(pathJSON []byte, path string, tr Treatment, nm norm, unreviewed bool) {
		sep()
		dst = appendPathMember(dst, pathJSON, path)
		switch tr {
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
			dst = append(dst, nm.String()...)
			dst = append(dst, '"')
		}
		if unreviewed {
			dst = append(dst, `,"unreviewed":true`...)
		}
		dst = append(dst, '}')
	}
	for k := range t.plan.rules {
		r, st := &t.plan.rules[k], &t.stats[k]
		if st.protected > 0 {
			protected(r.pathJSON, "", r.treatment, r.norm, false)
		}
		if st.redacted > 0 {
			sep()
			dst = append(dst, `{"path":`...)
			dst = append(dst, r.pathJSON...)
			dst = append(dst, `,"treatment":"redact"}`...)
		}
	}
	for k := range t.dyn {
		if d := &t.dyn[k]; d.protected > 0 {
			nm := normTrim
			if d.treatment == SHA256 {
				nm = normFor(lastKey([]byte(d.path)))
			}
			protected(nil, d.path, d.treatment, nm, true)
		}
	}
	dst = append(dst, `],"dropped":[`...)
	first = true
	drop := func(pathJSON []byte, path string, n int, reason string, unreviewed bool) {
		if n > 0 {
			sep()
			dst = appendPathMember(dst, pathJSON, path)
			dst = append(dst, `,"reason":"`...)
			dst = append(dst, reason...)
			dst = append(dst, '"')
			if unreviewed {
				dst = append(dst, `,"unreviewed":true`...)
			}
			dst = append(dst, '}')
		}
	}
	for k := range t.plan.rules {
		r, st := &t.plan.rules[k], &t.stats[k]
		drop(r.pathJSON, "", st.blocked, ReasonBlocked, false)
		drop(r.pathJSON, "", st.noKey, ReasonKeyUnavailable, false)
		drop(r.pathJSON, "", st.failed, ReasonProtectFailed, false)
	}
	for k := range t.dyn {
		d := &t.dyn[k]
		drop(nil, d.path, d.blocked, d.reason, false)
		drop(nil, d.path, d.noKey, ReasonKeyUnavailable, true)
		drop(nil, d.path, d.failed, ReasonProtectFailed, true)
	}
	return append(dst, "]}"...)
}

// appendPathMember opens a manifest entry with its path member: pathJSON when the path's JSON
// string is at hand, else path encoded.
func appendPathMember(dst, pathJSON []byte, path string) []byte {
	dst = append(dst, `{"path":`...)
	if pathJSON != nil {
		return append(dst, pathJSON...)
	}
	return appendJSONString(dst, path)
}
