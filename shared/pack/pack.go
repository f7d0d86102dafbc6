// Package pack is the fan-out's wire format: the protected copies, for one destination, of the
// events of one hashing invocation, packed into as few SNS messages (and so SQS messages
// downstream) as the message size limit allows.
//
// A packed message has the fan-out attributes of every copy (stack.AttrWorkspace,
// stack.AttrSource, stack.AttrDestination, stack.AttrDestinationType) and stack.AttrFormat set to
// Format; its body is Encode's JSON:
//
//	{"format":"pack/1","copies":[{"dedupId":"…","event":{…}},…]}
//
// A message without stack.AttrFormat is a single copy in the format of earlier releases: its body
// is the protected event itself and stack.AttrDedupID carries its dedup id. Consumers accept both
// (FromMessage), so messages in flight across a deploy are delivered.
package pack

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Format is the value of stack.AttrFormat on a packed message.
const Format = "pack/1"

// MaxBodyBytes is the largest body Encode's output may have for one SNS message: the 256 KiB SNS
// limit less room for the message attributes (at most a few hundred bytes).
const MaxBodyBytes = 256<<10 - 4<<10

// Copy is one protected copy of one event for one destination.
type Copy struct {
	// DedupID is the copy's dedup id (pipeline.DedupID): the same on every redelivery.
	DedupID string `json:"dedupId"`
	// Event is the protected event, a JSON object.
	Event json.RawMessage `json:"event"`
	// Attempts counts the delivery attempts already made for this copy (0 when fresh from the
	// pipeline); the delivery function sets it when it schedules a retry.
	Attempts int `json:"attempts,omitempty"`
}

type body struct {
	Format string `json:"format"`
	Copies []Copy `json:"copies"`
}

// overhead is the size of an encoded body with no copies, and perCopy the bytes Encode adds
// around one copy's dedup id and event (keys, quotes, braces, a comma, an attempts member).
var (
	overhead = len(`{"format":"` + Format + `","copies":[]}`)
	perCopy  = len(`{"dedupId":"","event":,"attempts":1000000},`)
)

// Size is an upper bound of the bytes c adds to an encoded body (dedup ids are hex, so they
// need no escaping; the event is copied as is).
func Size(c Copy) int { return perCopy + len(c.DedupID) + len(c.Event) }

// Fits reports whether copies totalling size bytes (the sum of Size) fit in one body.
func Fits(size int) bool { return overhead+size <= MaxBodyBytes }

// Encode returns the body of a packed message holding copies.
func Encode(copies []Copy) ([]byte, error) {
	if len(copies) == 0 {
		return nil, errors.New("pack: no copies")
	}
	for i, c := range copies {
		if c.DedupID == "" {
			return nil, fmt.Errorf("pack: copy %d has no dedup id", i)
		}
	}
	return json.Marshal(body{Format: Format, Copies: copies})
}

// Decode returns the copies of a packed message's body. It fails when the body is not a pack of
// this format or a copy lacks its dedup id or an object event.
func Decode(b []byte) ([]Copy, error) {
	var p body
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&p); err != nil {
		return nil, fmt.Errorf("pack: body is not a pack: %w", err)
	}
	if p.Format != Format {
		return nil, fmt.Errorf("pack: format %q, want %q", p.Format, Format)
	}
	if len(p.Copies) == 0 {
		return nil, errors.New("pack: no copies")
	}
	for i, c := range p.Copies {
		switch {
		case c.DedupID == "":
			return nil, fmt.Errorf("pack: copy %d has no dedup id", i)
		case len(c.Event) == 0 || c.Event[0] != '{':
			return nil, fmt.Errorf("pack: copy %d's event is not a JSON object", i)
		}
	}
	return p.Copies, nil
}

// FromMessage returns the copies of a fan-out message given its body, its stack.AttrFormat
// attribute and its stack.AttrDedupID attribute: Decode's for a pack, or the single copy of a
// message of earlier releases.
func FromMessage(b []byte, format, dedupID string) ([]Copy, error) {
	switch format {
	case Format:
		return Decode(b)
	case "":
		if dedupID == "" {
			return nil, errors.New("pack: single-copy message without a dedup id")
		}
		if len(b) == 0 || b[0] != '{' {
			return nil, errors.New("pack: single-copy message whose body is not a JSON object")
		}
		return []Copy{{DedupID: dedupID, Event: json.RawMessage(b)}}, nil
	}
	return nil, fmt.Errorf("pack: unknown format %q", format)
}
