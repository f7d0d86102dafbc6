package transform

import (
	"testing"

	"github.com/phiguard/phiguard/shared/fieldcrypt"
)

// TestPaddingCostOnTheBenchCorpus measures what length padding costs on the benchmark corpus
// (realistic PHI fields encrypted with hpke-p256): docs/ENCRYPTION.md section 3.4 quotes these
// figures, and the test holds them to the range it states.
func TestPaddingCostOnTheBenchCorpus(t *testing.T) {
	env := loadBench(t)
	size := func(pad fieldcrypt.Padding) (copies int) {
		var tr Transformer
		for d, plan := range env.encPlans {
			enc, err := fieldcrypt.NewEncrypterWith(env.keys[d].Public(), benchKeyID, fieldcrypt.Options{Padding: pad})
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range env.events {
				out, _, err := tr.Apply(nil, ev, plan, Protectors{Sealer: enc, Algorithm: "hpke-p256", KeyID: benchKeyID})
				if err != nil {
					t.Fatal(err)
				}
				copies += len(out)
			}
		}
		return copies
	}
	none, buckets := size(fieldcrypt.PadNone), size(fieldcrypt.PadBuckets)
	cost := float64(buckets-none) / float64(none)
	t.Logf("event copies: %d bytes unpadded, %d padded: padding adds %.1f%%", none, buckets, 100*cost)
	if cost <= 0 || cost > 0.10 {
		t.Fatalf("padding adds %.1f%% to the event copies; docs/ENCRYPTION.md section 3.4 says 3.7%%, under 10%%", 100*cost)
	}
}
