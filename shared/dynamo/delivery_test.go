package dynamo

import (
	"context"
	"testing"
	"time"

	"github.com/phiguard/phiguard/shared/phi"
)

func TestTheDeliveryStatusIsKeptBesideTheVersionedDestination(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	f := newFixture(t, s)

	failed := time.Date(2026, 12, 3, 10, 0, 0, 123456789, time.UTC)
	degraded := phi.DeliveryStatus{State: phi.DeliveryDegraded, Since: failed, LastFailureAt: failed,
		Reason: "NoSuchBucket", DeadLetterReason: "rejected", Status: 404, Error: "PutObject: api error NoSuchBucket"}
	if err := s.SetDeliveryStatus(ctx, f.ws.ID, f.dst.ID, degraded, time.Time{}); err != nil {
		t.Fatal(err)
	}
	d, err := s.GetDestination(ctx, f.ws.ID, f.dst.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Delivery == nil || *d.Delivery != degraded || d.Version != f.dst.Version {
		t.Fatalf("after SetDeliveryStatus, delivery %+v version %d; want %+v, version %d unchanged", d.Delivery, d.Version, degraded, f.dst.Version)
	}

	// The owner's edit neither needs nor loses it.
	d.Name = "renamed"
	if err := s.UpdateDestination(ctx, d); err != nil {
		t.Fatal(err)
	}
	if d, _ = s.GetDestination(ctx, f.ws.ID, f.dst.ID); d.Delivery == nil || *d.Delivery != degraded {
		t.Errorf("after UpdateDestination, delivery %+v; want it kept", d.Delivery)
	}

	// Restoring is conditional on no failure recorded since the one the caller read.
	ok := phi.DeliveryStatus{State: phi.DeliveryOK, Since: failed.Add(2 * time.Minute)}
	wantCode(t, s.SetDeliveryStatus(ctx, f.ws.ID, f.dst.ID, ok, failed.Add(-time.Second)), phi.EPRECONDITION)
	if err := s.SetDeliveryStatus(ctx, f.ws.ID, f.dst.ID, ok, failed); err != nil {
		t.Fatal(err)
	}
	if d, _ = s.GetDestination(ctx, f.ws.ID, f.dst.ID); d.Delivery == nil || *d.Delivery != ok {
		t.Errorf("after restoring, delivery %+v; want %+v", d.Delivery, ok)
	}
	wantCode(t, s.SetDeliveryStatus(ctx, f.ws.ID, f.dst.ID, ok, failed), phi.EPRECONDITION) // no longer degraded

	wantCode(t, s.SetDeliveryStatus(ctx, f.ws.ID, phi.NewID(phi.PrefixDestination), degraded, time.Time{}), phi.ENOTFOUND)
	wantCode(t, s.SetDeliveryStatus(ctx, f.ws.ID, "dst_1", degraded, time.Time{}), phi.EINVALID)
}
