package pipeline

import (
	"encoding/json"
	"io"
	"maps"
	"slices"
	"sync"
	"time"
)

// MetricsNamespace is the CloudWatch namespace of the pipeline's metrics.
const MetricsNamespace = "phiguard/pipeline"

// counts are one invocation's metrics.
type counts struct {
	MessagesIn       int
	EventsIn         int
	MessagesRejected int // whole messages parked on the rejected-events queue
	EventsRejected   int // events of a batch parked on their own
	MessagesFailed   int // batch item failures, retried by SQS
	CopiesOut        int
	FieldsProtected  int
	FieldsDropped    int // removed fail-closed: no usable key, or the value could not be protected
	FieldsBlocked    int // red fields removed for destinations that block them
	FieldsRedacted   int
}

// metrics writes CloudWatch Embedded Metric Format documents, one JSON line each, to w
// (stdout in Lambda, where CloudWatch Logs extracts them). Writes are serialized.
type metrics struct {
	mu       sync.Mutex
	w        io.Writer
	function string
	now      func() time.Time
}

type emfMetric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type emfDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []emfMetric `json:"Metrics"`
}

type emfMeta struct {
	Timestamp         int64          `json:"Timestamp"`
	CloudWatchMetrics []emfDirective `json:"CloudWatchMetrics"`
}

// emit writes the invocation's totals under the Function dimension, and the copies published
// per destination under Function and DestinationId. Only counts and ids are written.
func (m *metrics) emit(c counts, perDestination map[string]int) {
	if m == nil || m.w == nil {
		return
	}
	ts := m.now().UnixMilli()
	values := map[string]int{
		"MessagesIn": c.MessagesIn, "EventsIn": c.EventsIn, "MessagesRejected": c.MessagesRejected,
		"EventsRejected": c.EventsRejected, "MessagesFailed": c.MessagesFailed, "CopiesOut": c.CopiesOut,
		"FieldsProtected": c.FieldsProtected, "FieldsDropped": c.FieldsDropped, "FieldsBlocked": c.FieldsBlocked,
		"FieldsRedacted": c.FieldsRedacted,
	}
	doc := map[string]any{"Function": m.function}
	var ms []emfMetric
	for _, name := range slices.Sorted(maps.Keys(values)) {
		ms = append(ms, emfMetric{Name: name, Unit: "Count"})
		doc[name] = values[name]
	}
	doc["_aws"] = emfMeta{Timestamp: ts, CloudWatchMetrics: []emfDirective{{Namespace: MetricsNamespace, Dimensions: [][]string{{"Function"}}, Metrics: ms}}}
	m.write(doc)
	for _, dst := range slices.Sorted(maps.Keys(perDestination)) {
		m.write(map[string]any{
			"_aws": emfMeta{Timestamp: ts, CloudWatchMetrics: []emfDirective{{Namespace: MetricsNamespace,
				Dimensions: [][]string{{"Function", "DestinationId"}}, Metrics: []emfMetric{{Name: "CopiesOut", Unit: "Count"}}}}},
			"Function": m.function, "DestinationId": dst, "CopiesOut": perDestination[dst],
		})
	}
}

func (m *metrics) write(doc map[string]any) {
	b, err := json.Marshal(doc)
	if err != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, _ = m.w.Write(append(b, '\n'))
}
