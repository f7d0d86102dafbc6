package retry

import (
	"context"
	"testing"
	"time"
)

func TestBackoffGrowsWithJitterAndStaysUnderItsLimit(t *testing.T) {
	base, limit := 100*time.Millisecond, time.Second
	for n := 1; n <= 40; n++ {
		want := min(base<<(n-1), limit)
		if n > 30 {
			want = limit // the shift overflows: capped, never zero or negative
		}
		for range 50 {
			d := Backoff(base, limit, n)
			if d < want/2 || d > want {
				t.Fatalf("Backoff(n=%d) = %v, want within [%v, %v]", n, d, want/2, want)
			}
		}
	}
}

func TestSleepGivesUpRatherThanRunIntoTheDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), DeadlineMargin+50*time.Millisecond)
	defer cancel()
	if Sleep(ctx, 100*time.Millisecond) {
		t.Fatal("Sleep waited into the deadline margin")
	}
	if !Sleep(context.Background(), time.Millisecond) {
		t.Fatal("Sleep without a deadline did not wait")
	}
	done, stop := context.WithCancel(context.Background())
	stop()
	if Sleep(done, time.Second) {
		t.Fatal("Sleep on a cancelled context reported success")
	}
}
