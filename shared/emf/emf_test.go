package emf

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// One document per call: the dimension values and counts as members, and the _aws directive
// naming the namespace, the dimension set in order and each metric (unit Count) in name order.
func TestCountsWritesOneEMFDocument(t *testing.T) {
	var b bytes.Buffer
	w := New(&b, "phiguard/test", func() time.Time { return time.UnixMilli(1_750_000_000_123) })
	w.Counts([]Dimension{{"Function", "delivery"}, {"DestinationId", "dst_1"}}, map[string]int{"B": 2, "A": 1})
	var doc struct {
		A, B int
		AWS  struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("%v: %s", err, b.String())
	}
	var raw map[string]any
	_ = json.Unmarshal(b.Bytes(), &raw)
	d := doc.AWS.CloudWatchMetrics
	if raw["Function"] != "delivery" || raw["DestinationId"] != "dst_1" || doc.A != 1 || doc.B != 2 || doc.AWS.Timestamp != 1_750_000_000_123 ||
		len(d) != 1 || d[0].Namespace != "phiguard/test" || len(d[0].Dimensions) != 1 || len(d[0].Dimensions[0]) != 2 ||
		d[0].Dimensions[0][0] != "Function" || d[0].Dimensions[0][1] != "DestinationId" ||
		len(d[0].Metrics) != 2 || d[0].Metrics[0].Name != "A" || d[0].Metrics[1].Name != "B" || d[0].Metrics[0].Unit != "Count" {
		t.Errorf("document %s", b.String())
	}
	if bytes.Count(b.Bytes(), []byte("\n")) != 1 {
		t.Errorf("want one line, got %q", b.String())
	}
}

func TestANilWriterWritesNothing(t *testing.T) {
	var w *Writer
	w.Counts(nil, map[string]int{"A": 1}) // must not panic
	New(nil, "ns", nil).Counts(nil, map[string]int{"A": 1})
}
