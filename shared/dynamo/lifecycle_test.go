package dynamo

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/privacy"
)

// countPartition returns how many items partition pk holds.
func countPartition(t *testing.T, s *Store, pk string) int {
	t.Helper()
	b := newExpr()
	out, err := s.client.Query(context.Background(), &dynamodb.QueryInput{
		TableName: s.table, ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String(b.n(Table.PartitionKey) + " = " + b.v("pk", str(pk))),
		ExpressionAttributeNames:  b.nameMap(),
		ExpressionAttributeValues: b.valueMap(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Items)
}

// Closing revokes every token (the last owner's too) and every key, and refuses new tokens;
// reopening is allowed during the grace period only; purging only after it, and then deletes
// the configuration, the tokens' lookup items, inbox and idempotency records, keeping the
// workspace as a tombstone and every audit record.
func TestTheWorkspaceLifecycleClosesReopensAndPurges(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	f := newFixture(t, s)
	member := &phi.Token{ID: phi.NewID(phi.PrefixToken), WorkspaceID: f.ws.ID, Name: "m", Role: phi.RoleMember}
	memberSecret := "secret-" + phi.NewID("")
	if err := s.CreateToken(ctx, member, hashOf(memberSecret)); err != nil {
		t.Fatal(err)
	}
	enc, hk := encryptionKey(f), hmacKey(f)
	for _, k := range []*phi.Key{enc, hk} {
		if err := s.PutActiveKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutMatcher(ctx, f.ws.ID, &privacy.Matcher{Name: "mrn", Classification: privacy.Red, Target: privacy.TargetKey, Mode: privacy.ModeExact, Synonyms: []string{"mrn"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordInboxPaths(ctx, f.ws.ID, f.src.ID, []string{"traits.mrn"}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if _, err := s.ClaimIdempotency(ctx, &phi.IdempotencyRecord{WorkspaceID: f.ws.ID, DestinationID: f.dst.ID, Kind: phi.KeyEncryption,
		KeyHash: sha("idem"), RequestHash: sha("req"), KeyID: phi.NewID(phi.PrefixKey), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSigningSecrets(ctx, &phi.SigningSecrets{WorkspaceID: f.ws.ID, DestinationID: f.dst.ID,
		Secrets: []phi.SigningSecret{{Ciphertext: []byte{1, 2, 3}, CreatedAt: now}}}); err != nil {
		t.Fatal(err)
	}
	if n := countPartition(t, s, idempotencyPK(f.ws.ID)) + countPartition(t, s, inboxPK(f.ws.ID)) + countPartition(t, s, signingPK(f.ws.ID)); n != 3 {
		t.Fatalf("the fixture has %d inbox, idempotency and signing items, want 3", n)
	}
	if err := s.AppendAudit(ctx, &phi.AuditRecord{WorkspaceID: f.ws.ID, Actor: f.owner.ID, Action: "key.generate", Outcome: "success"}); err != nil {
		t.Fatal(err)
	}

	closedAt := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	closure := phi.Closure{At: closedAt, By: "operator:alice", Reason: "customer offboarding", PurgeAfter: closedAt.Add(phi.ClosureGracePeriod)}
	ws, err := s.CloseWorkspace(ctx, f.ws.ID, closure)
	if err != nil {
		t.Fatal(err)
	}
	if ws.Closed == nil || ws.Closed.Reason != "customer offboarding" || !ws.Closed.PurgeAfter.Equal(closure.PurgeAfter) || ws.Version != 2 {
		t.Fatalf("closed workspace %+v (closure %+v)", ws, ws.Closed)
	}
	for _, secret := range []string{f.ownerSecret, memberSecret} {
		if tok, err := s.LookupToken(ctx, hashOf(secret)); err != nil || tok.RevokedAt == nil || !tok.RevokedAt.Equal(closedAt) {
			t.Errorf("token after closing: %+v, %v; want revoked at the closure", tok, err)
		}
	}
	for id, st := range statuses(t, s, f) {
		if st != phi.KeyRevoked {
			t.Errorf("key %s is %s after closing, want revoked", id, st)
		}
	}
	again, err := s.CloseWorkspace(ctx, f.ws.ID, phi.Closure{At: closedAt.Add(time.Hour), By: "operator:bob", Reason: "again", PurgeAfter: closedAt})
	if err != nil || again.Closed.Reason != "customer offboarding" || again.Version != 2 {
		t.Errorf("closing again changed the closure: %+v, %v", again, err)
	}
	wantCode(t, s.CreateToken(ctx, &phi.Token{ID: phi.NewID(phi.PrefixToken), WorkspaceID: f.ws.ID, Name: "late", Role: phi.RoleOwner}, hashOf("late-"+phi.NewID(""))), phi.ECONFLICT)

	_, err = s.PurgeWorkspace(ctx, f.ws.ID, closure.PurgeAfter.Add(-time.Second))
	wantCode(t, err, phi.ECONFLICT) // still in its grace period
	_, err = s.ReopenWorkspace(ctx, f.ws.ID, closure.PurgeAfter)
	wantCode(t, err, phi.ECONFLICT) // the grace period is over
	reopened, err := s.ReopenWorkspace(ctx, f.ws.ID, closure.PurgeAfter.Add(-time.Second))
	if err != nil || reopened.Closed != nil {
		t.Fatalf("reopen during the grace period: %+v, %v", reopened, err)
	}
	_, err = s.ReopenWorkspace(ctx, f.ws.ID, closedAt)
	wantCode(t, err, phi.ECONFLICT) // not closed
	_, err = s.PurgeWorkspace(ctx, f.ws.ID, closure.PurgeAfter.Add(time.Hour))
	wantCode(t, err, phi.ECONFLICT) // not closed

	if _, err := s.CloseWorkspace(ctx, f.ws.ID, closure); err != nil {
		t.Fatal(err)
	}
	purgedAt := closure.PurgeAfter.Add(time.Minute)
	purged, err := s.PurgeWorkspace(ctx, f.ws.ID, purgedAt)
	if err != nil || purged.Closed == nil || purged.Closed.PurgedAt == nil || !purged.Closed.PurgedAt.Equal(purgedAt) {
		t.Fatalf("purge: %+v, %v", purged, err)
	}
	if n := countPartition(t, s, wsPK(f.ws.ID)); n != 1 {
		t.Errorf("the workspace's partition holds %d items after the purge, want only the workspace (tombstone)", n)
	}
	for _, pk := range []string{inboxPK(f.ws.ID), idempotencyPK(f.ws.ID), signingPK(f.ws.ID), prefixTokHash + hashOf(f.ownerSecret), prefixTokHash + hashOf(memberSecret)} {
		if n := countPartition(t, s, pk); n != 0 {
			t.Errorf("%s holds %d items after the purge", pk, n)
		}
	}
	if n := countPartition(t, s, auditPK(f.ws.ID)); n != 1 {
		t.Errorf("the audit partition holds %d items after the purge, want its one record", n)
	}
	_, err = s.ReopenWorkspace(ctx, f.ws.ID, closedAt)
	wantCode(t, err, phi.ECONFLICT) // purged
	_, err = s.CloseWorkspace(ctx, f.ws.ID, closure)
	wantCode(t, err, phi.ECONFLICT) // purged
	if again, err := s.PurgeWorkspace(ctx, f.ws.ID, purgedAt.Add(time.Hour)); err != nil || !again.Closed.PurgedAt.Equal(purgedAt) {
		t.Errorf("purging again: %+v, %v", again, err)
	}
}
