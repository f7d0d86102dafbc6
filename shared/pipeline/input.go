package pipeline

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
	"github.com/phiguard/phiguard/shared/transform"
)

// Message attributes a producer sets on every ingest message (see docs/PRODUCERS.md).
const (
	AttrWorkspace = stack.AttrWorkspace // the workspace id, "ws_…"
	AttrSource    = stack.AttrSource    // the source id, "src_…"
)

// Message attributes the pipeline sets on every message it publishes to the fan-out topic (with
// AttrWorkspace and AttrSource). Destination consumers subscribe with a filter policy on them;
// infra's webhook subscription filters on AttrDestinationType. A pack (AttrFormat pack.Format)
// carries each copy's dedup id in its body; a single copy carries it as AttrDedupID.
const (
	AttrDestination     = stack.AttrDestination     // the destination id, "dst_…"
	AttrDestinationType = stack.AttrDestinationType // phi.DestinationType, e.g. "webhook"
	AttrDedupID         = stack.AttrDedupID         // DedupID(event messageId, destination id), on a single copy
	AttrFormat          = stack.AttrFormat          // pack.Format on a pack, absent on a single copy
)

// Message attributes of a message on the rejected-events queue.
const (
	AttrReason          = stack.AttrReason  // one of the Reason constants
	AttrDetail          = "detail"          // what was wrong, never a field value
	AttrSourceMessageID = "sourceMessageId" // the SQS message id of the ingest message
	AttrEventIndex      = "eventIndex"      // position in {"batch": [...]}, absent for message-level reasons
)

// Reasons a message or event is rejected (the AttrReason attribute). Every one is permanent:
// retrying the same bytes cannot succeed.
const (
	ReasonNotJSON          = "not-json"           // the body is not a JSON object
	ReasonMissingAttribute = "missing-attributes" // workspace or source attribute missing or malformed
	ReasonUnknownWorkspace = "unknown-workspace"  // no such workspace
	ReasonWorkspaceClosed  = "workspace-closed"   // the workspace is closed (offboarded): nothing is delivered
	ReasonUnknownSource    = "unknown-source"     // no such source in the workspace
	ReasonInvalidEvent     = "invalid-event"      // not a valid Segment-spec event
	ReasonOversize         = "oversize"           // an event over MaxEventBytes, or whose protected copy exceeds the SNS limit
	ReasonEmptyBatch       = "empty-batch"        // {"batch": []}
)

// MaxEventBytes is the largest event the pipeline accepts, in bytes of JSON text: Segment's
// own per-event limit (32 KiB). Its protected copies usually fit an SNS message, but not
// always (many short protected array elements): such an event is rejected as ReasonOversize.
const MaxEventBytes = 32 << 10

// maxMessageIDLen bounds an event's messageId.
const maxMessageIDLen = 256

// eventTypes are the Segment-spec calls the pipeline accepts.
var eventTypes = map[string]bool{"track": true, "identify": true, "page": true, "screen": true, "group": true, "alias": true}

// rejection is a permanent problem with a message or one of its events. detail never contains
// a value from the event.
type rejection struct {
	reason, detail string
}

func (r *rejection) Error() string { return r.reason + ": " + r.detail }

func reject(reason, format string, args ...any) *rejection {
	return &rejection{reason: reason, detail: fmt.Sprintf(format, args...)}
}

// route returns the workspace and source named by the message's attributes.
func route(m *events.SQSMessage) (ws, src string, r *rejection) {
	ws, src = attr(m, AttrWorkspace), attr(m, AttrSource)
	switch {
	case ws == "":
		return ws, src, reject(ReasonMissingAttribute, "message attribute %q (the workspace id) is missing", AttrWorkspace)
	case !phi.ValidID(phi.PrefixWorkspace, ws):
		return ws, src, reject(ReasonMissingAttribute, "message attribute %q is not a workspace id (ws_ followed by 26 characters)", AttrWorkspace)
	case src == "":
		return ws, src, reject(ReasonMissingAttribute, "message attribute %q (the source id) is missing", AttrSource)
	case !phi.ValidID(phi.PrefixSource, src):
		return ws, src, reject(ReasonMissingAttribute, "message attribute %q is not a source id (src_ followed by 26 characters)", AttrSource)
	}
	return ws, src, nil
}

func attr(m *events.SQSMessage, name string) string {
	a, ok := m.MessageAttributes[name]
	if !ok || a.StringValue == nil {
		return ""
	}
	return strings.TrimSpace(*a.StringValue)
}

// splitEvents returns the events of a message body: the body itself, or the elements of its
// "batch" array (then batch is true). The returned slices alias body.
func splitEvents(body []byte) (evs [][]byte, batch bool, r *rejection) {
	i := skipWS(body, 0)
	if i >= len(body) || body[i] != '{' || !json.Valid(body) {
		return nil, false, reject(ReasonNotJSON, "the message body is not a JSON object")
	}
	var arr []byte
	eachMember(body, func(key string, val []byte) {
		if key == "batch" {
			arr = val
		}
	})
	if arr == nil {
		return [][]byte{body}, false, nil
	}
	if arr[0] != '[' {
		return nil, true, reject(ReasonInvalidEvent, `"batch" must be an array of events`)
	}
	eachElement(arr, func(v []byte) { evs = append(evs, v) })
	if len(evs) == 0 {
		return nil, true, reject(ReasonEmptyBatch, `"batch" is empty`)
	}
	return evs, true, nil
}

// event is what the pipeline needs from a validated event.
type event struct {
	messageID string
}

// validateEvent checks one event against the Segment spec, as documented in
// docs/PRODUCERS.md. paths must be the result of transform.AppendFieldPaths on ev having
// succeeded (so ev is a valid JSON object of valid UTF-8, nested at most 64 levels).
func validateEvent(ev []byte) (event, *rejection) {
	var (
		typ, messageID, userID, anonID, name, groupID, prevID member
		roots                                                 [3]member
	)
	eachMember(ev, func(key string, val []byte) {
		var m *member
		switch key {
		case "type":
			m = &typ
		case "messageId":
			m = &messageID
		case "userId":
			m = &userID
		case "anonymousId":
			m = &anonID
		case "event":
			m = &name
		case "groupId":
			m = &groupID
		case "previousId":
			m = &prevID
		case "context":
			m = &roots[0]
		case "traits":
			m = &roots[1]
		case "properties":
			m = &roots[2]
		default:
			return
		}
		m.set(val)
	})
	var out event
	switch {
	case !typ.present:
		return out, reject(ReasonInvalidEvent, `"type" is missing; use track, identify, page, screen, group or alias`)
	case !typ.isString() || !eventTypes[typ.str]:
		return out, reject(ReasonInvalidEvent, `"type" is not one of track, identify, page, screen, group, alias`)
	case !messageID.nonEmptyString():
		return out, reject(ReasonInvalidEvent, `"messageId" is missing or not a non-empty string; the pipeline derives the copies' dedup ids from it`)
	case len(messageID.str) > maxMessageIDLen:
		return out, reject(ReasonInvalidEvent, `"messageId" is longer than %d bytes`, maxMessageIDLen)
	case !userID.nonEmptyString() && !anonID.nonEmptyString():
		return out, reject(ReasonInvalidEvent, `every event needs "userId" or "anonymousId" (a non-empty string)`)
	}
	for i, r := range roots {
		if r.present && r.kind != '{' && r.kind != 'n' {
			return out, reject(ReasonInvalidEvent, "%q must be an object", [...]string{"context", "traits", "properties"}[i])
		}
	}
	switch typ.str {
	case "track":
		if !name.nonEmptyString() {
			return out, reject(ReasonInvalidEvent, `a track call needs "event", the name of the action (a non-empty string)`)
		}
	case "group":
		if !groupID.nonEmptyString() && groupID.kind != '-' && (groupID.kind < '0' || groupID.kind > '9') {
			return out, reject(ReasonInvalidEvent, `a group call needs "groupId" (a non-empty string or a number)`)
		}
	case "alias":
		if !prevID.nonEmptyString() || !userID.nonEmptyString() {
			return out, reject(ReasonInvalidEvent, `an alias call needs "previousId" and "userId" (non-empty strings)`)
		}
	}
	out.messageID = messageID.str
	return out, nil
}

// checkEvent validates ev's size, JSON syntax and Segment shape, and appends its field paths
// (keys only) to paths.
func checkEvent(ev []byte, paths []string) (event, []string, *rejection) {
	if len(ev) > MaxEventBytes {
		return event{}, paths, reject(ReasonOversize, "the event is %d bytes; the limit is %d", len(ev), MaxEventBytes)
	}
	i := skipWS(ev, 0)
	if i >= len(ev) || ev[i] != '{' {
		return event{}, paths, reject(ReasonInvalidEvent, "an event must be a JSON object")
	}
	paths, err := transform.AppendFieldPaths(paths, ev)
	if err != nil {
		// transform's errors name a byte offset, never content.
		return event{}, paths, reject(ReasonInvalidEvent, "%v", err)
	}
	e, r := validateEvent(ev)
	return e, paths, r
}

// member is one top-level member of an event: its JSON kind ('"', '{', '[', 'n', 't', 'f', or
// the first byte of a number) and, for strings, the unescaped value.
type member struct {
	present bool
	kind    byte
	str     string
}

func (m *member) set(val []byte) {
	m.present, m.kind, m.str = true, val[0], ""
	if m.kind == '"' {
		if err := json.Unmarshal(val, &m.str); err != nil {
			m.kind = 0
		}
	}
}

func (m *member) isString() bool       { return m.present && m.kind == '"' }
func (m *member) nonEmptyString() bool { return m.isString() && strings.TrimSpace(m.str) != "" }

// The scanners below walk JSON text that has already been validated (json.Valid or
// transform.AppendFieldPaths); they never fail and never allocate except to unescape keys.

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// skipValue returns the index after the value starting at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(b)
	}
	for i < len(b) && !strings.ContainsRune(",}] \t\r\n", rune(b[i])) {
		i++
	}
	return i
}

// eachMember calls fn with every member of the validated object at the start of b.
func eachMember(b []byte, fn func(key string, val []byte)) {
	i := skipWS(b, 0) + 1
	for {
		i = skipWS(b, i)
		if i >= len(b) || b[i] != '"' {
			return
		}
		end := skipString(b, i)
		raw := b[i+1 : end-1]
		key := string(raw)
		if strings.IndexByte(key, '\\') >= 0 {
			_ = json.Unmarshal(b[i:end], &key) // valid JSON: cannot fail
		}
		i = skipWS(b, end) + 1 // ':'
		i = skipWS(b, i)
		vend := skipValue(b, i)
		fn(key, b[i:vend])
		i = skipWS(b, vend)
		if i >= len(b) || b[i] != ',' {
			return
		}
		i++
	}
}

// eachElement calls fn with every element of the validated array at the start of b.
func eachElement(b []byte, fn func(val []byte)) {
	i := skipWS(b, 0) + 1
	for {
		i = skipWS(b, i)
		if i >= len(b) || b[i] == ']' {
			return
		}
		end := skipValue(b, i)
		fn(b[i:end])
		i = skipWS(b, end)
		if i >= len(b) || b[i] != ',' {
			return
		}
		i++
	}
}
