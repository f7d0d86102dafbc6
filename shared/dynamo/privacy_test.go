package dynamo

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/phiguard/phiguard/shared/audit"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/privacy"
)

func newMatcher(name string) *privacy.Matcher {
	return &privacy.Matcher{Name: name, Classification: privacy.Yellow, Target: privacy.TargetKey, Mode: privacy.ModeSimilar,
		Synonyms: []string{name + " alias"}, Patterns: []string{`^` + name + `\d+$`}}
}

func TestMatchersStopAtOneHundred(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	f := newFixture(t, s)

	first := newMatcher("member id")
	if err := s.PutMatcher(ctx, f.ws.ID, first); err != nil {
		t.Fatal(err)
	}
	if !phi.ValidID(phi.PrefixMatcher, first.ID) {
		t.Errorf("assigned matcher id %q is not a matcher id", first.ID)
	}
	got, _, err := s.ListMatchers(ctx, f.ws.ID, phi.Page{})
	if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], *first) {
		t.Fatalf("ListMatchers = %+v, %v; want [%+v]", got, err, *first)
	}

	// Fill to 99, then race two creates for the last place: the one that commits second loses.
	for i := 2; i < privacy.MaxCustomMatchers; i++ {
		if err := s.PutMatcher(ctx, f.ws.ID, newMatcher(fmt.Sprint("custom ", i))); err != nil {
			t.Fatalf("matcher %d: %v", i, err)
		}
	}
	var theirs error
	racing := interleaved(t, s, "TransactWriteItems", func() { theirs = s.PutMatcher(ctx, f.ws.ID, newMatcher("winner")) })
	lost := racing.PutMatcher(ctx, f.ws.ID, newMatcher("loser"))
	if theirs != nil || !errors.Is(lost, privacy.ErrTooManyMatchers) {
		t.Fatalf("racing for the 100th place: winner %v, loser %v; want nil and the limit", theirs, lost)
	}

	err = s.PutMatcher(ctx, f.ws.ID, newMatcher("one too many"))
	wantCode(t, err, phi.ECONFLICT)
	if !errors.Is(err, privacy.ErrTooManyMatchers) || phi.ErrorMessage(err) != privacy.ErrTooManyMatchers.Error() {
		t.Errorf("101st matcher error = %v; want privacy.ErrTooManyMatchers naming the limit", err)
	}

	t.Run("lists are capped and default to fifty", func(t *testing.T) {
		page, next, err := s.ListMatchers(ctx, f.ws.ID, phi.Page{})
		if err != nil || len(page) != DefaultPageLimit || next == "" {
			t.Errorf("default page: %d items, cursor %q, %v; want %d and a cursor", len(page), next, err, DefaultPageLimit)
		}
		page, next, err = s.ListMatchers(ctx, f.ws.ID, phi.Page{Limit: 5000})
		if err != nil || len(page) != MaxPageLimit || next != "" {
			t.Errorf("oversize page: %d items, cursor %q, %v; want all %d and no cursor", len(page), next, err, MaxPageLimit)
		}
	})

	if err := s.DeleteMatcher(ctx, f.ws.ID, first.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.PutMatcher(ctx, f.ws.ID, newMatcher("fits again")); err != nil {
		t.Errorf("after a delete, a new matcher is refused: %v", err)
	}
	wantCode(t, s.PutMatcher(ctx, f.ws.ID, newMatcher("still full")), phi.ECONFLICT)

	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"deleting a matcher twice is not found", s.DeleteMatcher(ctx, f.ws.ID, first.ID), phi.ENOTFOUND},
		{"deleting a default matcher is a conflict", s.DeleteMatcher(ctx, f.ws.ID, privacy.DefaultIDPrefix+"email"), phi.ECONFLICT},
		{"an invalid matcher is refused", s.PutMatcher(ctx, f.ws.ID, &privacy.Matcher{Name: "x", Classification: "purple"}), phi.EINVALID},
		{"a matcher for an unknown workspace is not found", s.PutMatcher(ctx, phi.NewID(phi.PrefixWorkspace), newMatcher("orphan")), phi.ENOTFOUND},
	} {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, tt.err, tt.want) })
	}
	m, _ := s.getItem(ctx, wsPK(f.ws.ID), skMeta)
	if n := m[attrMatcherCount]; !reflect.DeepEqual(n, num(100)) {
		t.Errorf("matcher count = %v, want 100", n)
	}
}

func TestClassificationsRoundTripAndValidate(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	f := newFixture(t, s)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	email := phi.Classification{Path: "traits.email", Class: "green", DecidedBy: f.owner.ID, DecidedAt: at}
	if err := s.PutClassification(ctx, f.ws.ID, email); err != nil {
		t.Fatal(err)
	}
	email.Class, email.Matcher = "yellow", "default-email" // the owner changes their mind
	if err := s.PutClassification(ctx, f.ws.ID, email); err != nil {
		t.Fatal(err)
	}
	ssn := phi.Classification{Path: "traits.ssn", Class: "red", DecidedBy: f.owner.ID}
	if err := s.PutClassification(ctx, f.ws.ID, ssn); err != nil {
		t.Fatal(err)
	}
	list, next, err := s.ListClassifications(ctx, f.ws.ID, phi.Page{Limit: 1})
	if err != nil || len(list) != 1 || !reflect.DeepEqual(list[0], email) || next == "" {
		t.Fatalf("first page = %+v, %q, %v; want [%+v] and a cursor", list, next, err, email)
	}
	list, next, err = s.ListClassifications(ctx, f.ws.ID, phi.Page{Limit: 1, Cursor: next})
	if err != nil || len(list) != 1 || list[0].Path != "traits.ssn" || list[0].DecidedAt.IsZero() || next != "" {
		t.Fatalf("second page = %+v, %q, %v", list, next, err)
	}
	got, err := s.GetClassifications(ctx, f.ws.ID, []string{"traits.email", "traits.email", "traits.unknown", "not a path"})
	if err != nil || len(got) != 1 || got["traits.email"].Class != "yellow" {
		t.Errorf("GetClassifications = %+v, %v; want only traits.email, yellow", got, err)
	}
	for name, c := range map[string]phi.Classification{
		"an unknown class":             {Path: "traits.email", Class: "orange"},
		"a path outside the roots":     {Path: "user.email", Class: "red"}, // userId is an identity field: a valid path
		"an empty path":                {Class: "red"},
		"a path with an empty segment": {Path: "traits..email", Class: "red"},
	} {
		t.Run(name+" is refused", func(t *testing.T) {
			err := s.PutClassification(ctx, f.ws.ID, c)
			wantCode(t, err, phi.EINVALID)
			if phi.ErrorDetails(err) == nil {
				t.Error("no details naming the broken rule")
			}
		})
	}
}

func TestInboxRecordsEachPathOncePerSource(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	f := newFixture(t, s)
	other := phi.NewID(phi.PrefixSource)
	t0 := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return t0 }
	if err := s.RecordInboxPaths(ctx, f.ws.ID, f.src.ID, []string{"traits.email", "context.ip", "traits.email"}); err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return t0.Add(time.Hour) }
	if err := s.RecordInboxPaths(ctx, f.ws.ID, other, []string{"context.ip", "properties.items[].sku"}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordInboxPaths(ctx, f.ws.ID, f.src.ID, []string{"traits.email"}); err != nil {
		t.Fatalf("recording a known path again: %v", err)
	}
	got, next, err := s.ListInbox(ctx, f.ws.ID, phi.Page{})
	if err != nil || next != "" {
		t.Fatal(err, next)
	}
	srcs := []string{f.src.ID, other}
	sortStrings(srcs)
	want := []phi.InboxEntry{
		{Path: "context.ip", SourceIDs: srcs, FirstSeenAt: t0},
		{Path: "properties.items[].sku", SourceIDs: []string{other}, FirstSeenAt: t0.Add(time.Hour)},
		{Path: "traits.email", SourceIDs: []string{f.src.ID}, FirstSeenAt: t0},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("inbox = %+v\nwant    %+v", got, want)
	}

	err = s.RecordInboxPaths(ctx, f.ws.ID, f.src.ID, []string{"traits.phone", "no root"})
	wantCode(t, err, phi.EINVALID)
	if got, _, _ := s.ListInbox(ctx, f.ws.ID, phi.Page{}); len(got) != 3 {
		t.Errorf("a refused call recorded paths: %d entries, want 3", len(got))
	}
	page, next, err := s.ListInbox(ctx, f.ws.ID, phi.Page{Limit: 2})
	if err != nil || len(page) != 2 || next == "" {
		t.Fatalf("first inbox page: %d, %q, %v", len(page), next, err)
	}
	page, next, err = s.ListInbox(ctx, f.ws.ID, phi.Page{Limit: 2, Cursor: next})
	if err != nil || len(page) != 1 || page[0].Path != "traits.email" || next != "" {
		t.Errorf("second inbox page: %+v, %q, %v", page, next, err)
	}
	_, _, err = s.ListInbox(ctx, f.ws.ID, phi.Page{Cursor: encodeRaw(`{"pk":"WS#` + f.ws.ID + `","sk":"PATH#traits.email"}`)})
	wantCode(t, err, phi.EBADREQUEST) // the inbox lives in its own partition
}

func TestAuditIsAppendOnlyAndListsNewestFirstWithinTheRange(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	f := newFixture(t, s)
	base := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	// Appended out of order, with sub-second times whose RFC 3339 forms would misorder.
	offsets := []time.Duration{3 * time.Second, 0, 100 * time.Millisecond, 120 * time.Millisecond, time.Second, 5 * time.Second}
	recs := map[time.Duration]*phi.AuditRecord{}
	for _, off := range offsets {
		r := &phi.AuditRecord{WorkspaceID: f.ws.ID, Actor: f.owner.ID, Action: "destination.hashing.update",
			Target: "destination/" + f.dst.ID, Outcome: "success", RequestID: "req-1", At: base.Add(off)}
		if err := s.AppendAudit(ctx, r); err != nil {
			t.Fatal(err)
		}
		recs[off] = r
	}

	var got []time.Duration
	cursor := ""
	for range 5 {
		page, next, err := s.ListAudit(ctx, f.ws.ID, base.Add(100*time.Millisecond), base.Add(3*time.Second), phi.Page{Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			got = append(got, r.At.Sub(base))
			if !reflect.DeepEqual(&r, recs[r.At.Sub(base)]) {
				t.Errorf("listed %+v, appended %+v", r, recs[r.At.Sub(base)])
			}
		}
		if cursor = next; cursor == "" {
			break
		}
	}
	want := []time.Duration{3 * time.Second, time.Second, 120 * time.Millisecond, 100 * time.Millisecond}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("listed offsets %v, want %v (newest first, bounds included)", got, want)
	}

	all, _, err := s.ListAudit(ctx, f.ws.ID, time.Time{}, time.Time{}, phi.Page{})
	if err != nil || len(all) != len(offsets) {
		t.Errorf("open range listed %d records, %v; want %d", len(all), err, len(offsets))
	}

	r := recs[0]
	m, err := s.getItem(ctx, auditPK(f.ws.ID), auditSK(r.At, r.ID))
	if err != nil {
		t.Fatal(err)
	}
	if want := num(r.At.AddDate(7, 0, 0).Unix()); !reflect.DeepEqual(m[Table.TTLAttribute], want) &&
		!reflect.DeepEqual(m[Table.TTLAttribute], num(r.At.Add(AuditRetention).Unix())) {
		t.Errorf("expiresAt = %v, want about seven years after %v", m[Table.TTLAttribute], r.At)
	}
	if AuditRetention < 6*366*24*time.Hour {
		t.Errorf("retention %v is under six years", AuditRetention)
	}

	retry := *r // the SDK's retry of a write whose response was lost
	if err := s.AppendAudit(ctx, &retry); err != nil {
		t.Errorf("appending the same record again: %v, want success", err)
	}
	now := &phi.AuditRecord{WorkspaceID: f.ws.ID, Actor: f.owner.ID, Action: "token.create", Target: "tokens/x",
		Outcome: "success", RequestID: "req-2", At: time.Now()} // timed by the clock, as the router times its records
	if err := s.AppendAudit(ctx, now); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx, now); err != nil {
		t.Errorf("appending a record timed by time.Now again: %v, want success", err)
	}
	dup := *r
	dup.Outcome = "denied"
	wantCode(t, s.AppendAudit(ctx, &dup), phi.ECONFLICT)
	if again, _, _ := s.ListAudit(ctx, f.ws.ID, r.At, r.At, phi.Page{}); len(again) != 1 || again[0].Outcome != "success" {
		t.Errorf("the audit record was overwritten: %+v", again)
	}
	_, _, err = s.ListAudit(ctx, f.ws.ID, base.Add(time.Hour), base, phi.Page{})
	wantCode(t, err, phi.EINVALID)
	_, next, _ := s.ListAudit(ctx, f.ws.ID, base, base.Add(time.Minute), phi.Page{Limit: 1})
	_, _, err = s.ListAudit(ctx, f.ws.ID, base.Add(10*time.Second), base.Add(time.Minute), phi.Page{Limit: 1, Cursor: next})
	wantCode(t, err, phi.EBADREQUEST) // a cursor outside the requested range
}

// A writer whose chain head moved between its read and its transaction (another record was
// appended in between) reads the head again and chains after that record: two writers never
// fork the chain.
func TestAuditChainDoesNotForkUnderAConcurrentAppend(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	f := newFixture(t, s)
	first := &phi.AuditRecord{WorkspaceID: f.ws.ID, Actor: f.owner.ID, Action: "audit.read", Outcome: "success"}
	if err := s.AppendAudit(ctx, first); err != nil {
		t.Fatal(err)
	}
	competing := &phi.AuditRecord{WorkspaceID: f.ws.ID, Actor: f.owner.ID, Action: "token.create", Outcome: "success"}
	racer := interleaved(t, s, "TransactWriteItems", func() {
		if err := s.AppendAudit(ctx, competing); err != nil {
			t.Error(err)
		}
	})
	late := &phi.AuditRecord{WorkspaceID: f.ws.ID, Actor: f.owner.ID, Action: "key.list", Outcome: "success"}
	if err := racer.AppendAudit(ctx, late); err != nil {
		t.Fatal(err)
	}
	if first.Seq != 1 || competing.Seq != 2 || late.Seq != 3 || late.PrevHash != audit.Hash(competing) || first.PrevHash != audit.Genesis {
		t.Fatalf("seqs %d, %d, %d; late.prevHash %s, want the competing record's hash %s", first.Seq, competing.Seq, late.Seq, late.PrevHash, audit.Hash(competing))
	}
	head, err := s.AuditHead(ctx, f.ws.ID)
	if err != nil || head.Seq != 3 || head.Hash != audit.Hash(late) {
		t.Fatalf("head %+v, %v", head, err)
	}
	recs, err := s.AuditRecords(ctx, f.ws.ID, time.Time{}, time.Time{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if rep := audit.Verify(audit.Chain{WorkspaceID: f.ws.ID, Records: recs, Head: &head}, nil); !rep.Intact || rep.Through != 3 {
		t.Fatalf("report %+v", rep)
	}
	if _, err := s.AuditRecords(ctx, f.ws.ID, time.Time{}, time.Time{}, 2); phi.ErrorCode(err) != phi.EINVALID {
		t.Errorf("more records than the limit: %v, want EINVALID", err)
	}
}
