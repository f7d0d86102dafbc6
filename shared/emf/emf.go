// Package emf writes CloudWatch Embedded Metric Format documents: one JSON line per document on
// a function's stdout, from which CloudWatch Logs extracts the metrics. Only names, ids and
// counts are written, never content.
package emf

import (
	"encoding/json"
	"io"
	"maps"
	"slices"
	"sync"
	"time"
)

// Writer writes the metrics of one namespace to an io.Writer. Writes are serialized, so a Writer
// is safe for concurrent use. A nil Writer, or one without an io.Writer, writes nothing.
type Writer struct {
	namespace string
	now       func() time.Time

	mu sync.Mutex
	w  io.Writer
}

// New returns a Writer of namespace to w; now is time.Now when nil.
func New(w io.Writer, namespace string, now func() time.Time) *Writer {
	if now == nil {
		now = time.Now
	}
	return &Writer{w: w, namespace: namespace, now: now}
}

// Dimension is one dimension's name and value.
type Dimension struct{ Name, Value string }

type metric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type directive struct {
	Namespace  string     `json:"Namespace"`
	Dimensions [][]string `json:"Dimensions"`
	Metrics    []metric   `json:"Metrics"`
}

type meta struct {
	Timestamp         int64       `json:"Timestamp"`
	CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
}

// Counts writes one document holding counts (metric name → value, unit Count) under one
// dimension set made of dims, in their order. Metrics are listed in name order.
func (w *Writer) Counts(dims []Dimension, counts map[string]int) {
	if w == nil || w.w == nil {
		return
	}
	doc := make(map[string]any, len(dims)+len(counts)+1)
	names := make([]string, len(dims))
	for i, d := range dims {
		names[i] = d.Name
		doc[d.Name] = d.Value
	}
	ms := make([]metric, 0, len(counts))
	for _, name := range slices.Sorted(maps.Keys(counts)) {
		ms = append(ms, metric{Name: name, Unit: "Count"})
		doc[name] = counts[name]
	}
	doc["_aws"] = meta{Timestamp: w.now().UnixMilli(), CloudWatchMetrics: []directive{{Namespace: w.namespace, Dimensions: [][]string{names}, Metrics: ms}}}
	b, err := json.Marshal(doc)
	if err != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	_, _ = w.w.Write(append(b, '\n'))
}
