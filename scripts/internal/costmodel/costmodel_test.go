package costmodel

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The committed documents are what the program prints from the committed inputs: change the
// prices or the measurement and run `make cost`, never edit the documents by hand.
func TestTheDocumentsAreWhatTheModelPrints(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	m, p, err := Load(filepath.Join(root, MeasuredFile), filepath.Join(root, PricesFile))
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{CostFile: Cost(m, p), ScalingFile: Scaling(m, p)} {
		got, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s differs from what scripts/costmodel prints from %s and %s: run `make cost`", file, MeasuredFile, PricesFile)
		}
	}
}

// The model reproduces the mechanism: a naive copy is one SNS message, a pack holds an
// invocation's copies for a destination, and a busy single workspace fills packs where traffic
// spread over many workspaces does not.
func TestTheModelCountsMessagesAndChunks(t *testing.T) {
	one := shape{destinations: 3, eventBytes: 1024, perMessage: 1, workspaces: 1}
	naive := model(one, calib{overhead: 1700}, 64<<10, 100)
	if naive.messages != 3000 || naive.calls["SNS.PublishBatch"] != 300 || naive.billed["SQS (SNS deliveries)"] != 3000 {
		t.Fatalf("naive: %v messages, %v", naive.messages, naive.calls)
	}
	one.packed = true
	packed := model(one, calib{overhead: 1700}, 64<<10, 100)
	// 100 copies of 2,801 bytes (with the pack's per-copy keys) need two packs per destination.
	if packed.messages != 60 || packed.copiesPerPack != 50 {
		t.Fatalf("packed: %v messages of %v copies, want 60 of 50", packed.messages, packed.copiesPerPack)
	}
	if _, billed := packed.total(); billed >= 1000 {
		t.Fatalf("packed: %v billed requests per 1,000 events", billed)
	}
	spread := one
	spread.workspaces = 1000
	if s := model(spread, calib{overhead: 1700}, 64<<10, 100); s.copiesPerPack > 1.1 {
		t.Fatalf("single events over 1,000 workspaces: %v copies per pack, want about 1", s.copiesPerPack)
	}
}

// Packs shrink by the measured ratio of their size, interpolated between the measured sizes, and
// a pack's fewer bytes are fewer billed chunks.
func TestThePackRatioIsInterpolatedBetweenMeasuredSizes(t *testing.T) {
	c := calib{overhead: 1700, ratios: PackRatios{{1, 0.8}, {10, 0.4}, {100, 0.2}}}
	for _, tc := range []struct{ n, want float64 }{{0.5, 0.8}, {1, 0.8}, {10, 0.4}, {math.Sqrt(10), 0.6}, {100, 0.2}, {1000, 0.2}} {
		if got := c.ratio(tc.n); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("ratio(%v) = %v, want %v", tc.n, got, tc.want)
		}
	}
	one := shape{packed: true, destinations: 3, eventBytes: 1024, perMessage: 1, workspaces: 1}
	_, plain := model(one, calib{overhead: 1700}, 64<<10, 100).total()
	_, shrunk := model(one, c, 64<<10, 100).total()
	if shrunk >= plain {
		t.Fatalf("compressed packs: %v billed requests per 1,000 events, uncompressed %v", shrunk, plain)
	}
}

func TestLoadRefusesAMeasurementWithoutBothDesigns(t *testing.T) {
	dir := t.TempDir()
	m, pr := filepath.Join(dir, "m.json"), filepath.Join(dir, "p.json")
	_ = os.WriteFile(m, []byte(`{"runs":[{"mode":"naive"}]}`), 0o644)
	_ = os.WriteFile(pr, []byte(`{"taken":"2026-12-02","billing":{"chunkBytes":65536}}`), 0o644)
	if _, _, err := Load(m, pr); err == nil || !strings.Contains(err.Error(), "packed") {
		t.Fatalf("err = %v, want one naming the missing run", err)
	}
}
