package pipeline

import (
	"cmp"
	"maps"
	"slices"
	"strings"

	"github.com/phiguard/phiguard/shared/emf"
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
	CopiesDegraded   int // copies for destinations whose hashing is degraded (phi.HashingState): their protected fields are removed
	FieldsProtected  int
	FieldsDropped    int // removed fail-closed: no usable key, or the value could not be protected
	FieldsBlocked    int // red fields removed for destinations that block them
	FieldsRedacted   int
}

// metrics writes the invocation's counts as CloudWatch Embedded Metric Format documents.
type metrics struct {
	w        *emf.Writer
	function string
}

// degradedKey names a degraded destination and why (phi.HashingStatus.Reason).
type degradedKey struct{ dst, reason string }

// emit writes the invocation's totals under the Function dimension, the copies published per
// destination under Function and DestinationId, and the degraded copies per destination under
// Function, DestinationId and Reason. Only counts, ids and reason codes are written.
func (m *metrics) emit(c counts, perDestination map[string]int, degraded map[degradedKey]int) {
	if m == nil {
		return
	}
	fn := emf.Dimension{Name: "Function", Value: m.function}
	m.w.Counts([]emf.Dimension{fn}, map[string]int{
		"MessagesIn": c.MessagesIn, "EventsIn": c.EventsIn, "MessagesRejected": c.MessagesRejected,
		"EventsRejected": c.EventsRejected, "MessagesFailed": c.MessagesFailed, "CopiesOut": c.CopiesOut,
		"CopiesDegraded":  c.CopiesDegraded,
		"FieldsProtected": c.FieldsProtected, "FieldsDropped": c.FieldsDropped, "FieldsBlocked": c.FieldsBlocked,
		"FieldsRedacted": c.FieldsRedacted,
	})
	for _, dst := range slices.Sorted(maps.Keys(perDestination)) {
		m.w.Counts([]emf.Dimension{fn, {Name: "DestinationId", Value: dst}}, map[string]int{"CopiesOut": perDestination[dst]})
	}
	keys := slices.SortedFunc(maps.Keys(degraded), func(a, b degradedKey) int {
		return cmp.Or(strings.Compare(a.dst, b.dst), strings.Compare(a.reason, b.reason))
	})
	for _, k := range keys {
		m.w.Counts([]emf.Dimension{fn, {Name: "DestinationId", Value: k.dst}, {Name: "Reason", Value: k.reason}},
			map[string]int{"CopiesDegraded": degraded[k]})
	}
}
