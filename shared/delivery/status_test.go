package delivery_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/phiguard/phiguard/shared/delivery"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

// status returns dst's delivery status as stored.
func (f *fixture) status(dst string) *phi.DeliveryStatus {
	f.t.Helper()
	d, err := f.store.GetDestination(f.t.Context(), f.ws, dst)
	if err != nil {
		f.t.Fatal(err)
	}
	return d.Delivery
}

// A destination that refuses copies turns degraded, with the failure's code and text, and
// records it again at most once a minute while it keeps failing; copies delivered two minutes
// after its last recorded failure restore it. A healthy destination is never written.
func TestADestinationThatRefusesCopiesIsDegradedUntilItDeliversAgain(t *testing.T) {
	f := newFixture(t)
	refusing := f.destination(true, rejecting)
	healthy := f.destination(true, ok)
	e := f.engine(nil)
	start := f.now.UTC()
	handle := func(after time.Duration, id string) {
		t.Helper()
		f.now = start.Add(after)
		resp, err := e.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{
			f.packed(id+"-r", refusing, copies(id, 2, 0)...), f.packed(id+"-h", healthy, copies(id+"-h", 2, 0)...)}})
		noFailures(t, resp, err)
	}

	handle(0, "first")
	want := phi.DeliveryStatus{State: phi.DeliveryDegraded, Since: start, LastFailureAt: start, Reason: "http-400",
		DeadLetterReason: delivery.ReasonRejected, Status: 400, Error: "rejected"}
	if got := f.status(refusing); got == nil || *got != want {
		t.Fatalf("after copies were refused, status %+v; want %+v", got, want)
	}
	if got := f.status(healthy); got != nil {
		t.Errorf("a destination that delivered everything has status %+v; want none written", got)
	}
	if n := strings.Count(f.logs.String(), "destination delivery degraded"); n != 1 {
		t.Errorf("logged the degradation %d times; want once", n)
	}

	handle(40*time.Second, "again")
	if got := f.status(refusing); *got != want {
		t.Errorf("40 s later, status %+v; want it left as it was (refreshed at most every %v)", got, delivery.FailureRefresh)
	}
	handle(90*time.Second, "later")
	want.LastFailureAt = start.Add(90 * time.Second)
	if got := f.status(refusing); *got != want {
		t.Errorf("90 s later, status %+v; want the failure refreshed and Since kept: %+v", got, want)
	}

	f.answer[refusing] = ok
	handle(90*time.Second+delivery.RestoreAfter-time.Second, "fixed")
	if got := f.status(refusing); !got.Degraded() {
		t.Errorf("delivered %v after the last failure, status %+v; want degraded until %v have passed", delivery.RestoreAfter-time.Second, got, delivery.RestoreAfter)
	}
	handle(90*time.Second+delivery.RestoreAfter, "restored")
	if got, want := f.status(refusing), (phi.DeliveryStatus{State: phi.DeliveryOK, Since: start.Add(90*time.Second + delivery.RestoreAfter)}); got == nil || *got != want {
		t.Errorf("delivered %v after the last failure, status %+v; want %+v", delivery.RestoreAfter, got, want)
	}
	if n := strings.Count(f.logs.String(), "destination delivery restored"); n != 1 {
		t.Errorf("logged the restoration %d times; want once", n)
	}
}

// Copies out of attempts degrade their destination too; a failure another container recorded
// after this one read the status keeps it from restoring the destination.
func TestCopiesOutOfAttemptsDegradeAndANewerFailureIsNotOverwritten(t *testing.T) {
	f := newFixture(t)
	down := f.destination(true, failing(503, 0))
	e := f.engine(nil)
	start := f.now.UTC()
	resp, err := e.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{
		f.packed("m1", down, copies("last", 1, stack.DeliveryMaxAttempts-1)...)}})
	noFailures(t, resp, err)
	got := f.status(down)
	if got == nil || got.State != phi.DeliveryDegraded || got.DeadLetterReason != delivery.ReasonMaxAttempts || got.Reason != "http-503" || got.Status != 503 {
		t.Fatalf("after a copy's last attempt failed, status %+v; want degraded, max-attempts, http-503", got)
	}

	// Another container records a later failure; this one still believes the first.
	newer := *got
	newer.LastFailureAt = start.Add(time.Minute)
	if err := f.store.SetDeliveryStatus(t.Context(), f.ws, down, newer, time.Time{}); err != nil {
		t.Fatal(err)
	}
	f.answer[down] = ok
	f.now = start.Add(delivery.RestoreAfter)
	resp, err = e.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{f.packed("m2", down, copies("ok", 1, 0)...)}})
	noFailures(t, resp, err)
	if got := f.status(down); *got != newer {
		t.Errorf("status %+v; want the newer failure kept: %+v", got, newer)
	}
	// Having reloaded it, the engine restores the destination once that failure is old enough.
	f.now = start.Add(time.Minute + delivery.RestoreAfter)
	resp, err = e.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{f.packed("m3", down, copies("ok2", 1, 0)...)}})
	noFailures(t, resp, err)
	if got := f.status(down); got.Degraded() {
		t.Errorf("status %+v; want ok once the newer failure is %v old", got, delivery.RestoreAfter)
	}
}
