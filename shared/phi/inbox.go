package phi

import "time"

// InboxEntry is a field path the pipeline has seen in a workspace's events, waiting in the
// Privacy Portal's inbox for the owner to classify it. It records where and when the path was
// seen, never a field value; the recommended classification is computed from the workspace's
// matchers when the inbox is read.
type InboxEntry struct {
	Path        string    `json:"path"`
	SourceIDs   []string  `json:"sourceIds"`
	FirstSeenAt time.Time `json:"firstSeenAt"`
}
