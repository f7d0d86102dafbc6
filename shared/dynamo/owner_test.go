package dynamo

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/phiguard/phiguard/shared/phi"
)

// Two owners revoking each other's tokens at the same instant both pass any check made before
// writing; what saves the workspace is that the store's revocation itself is conditional on
// another active owner token remaining. DynamoDB applies the two transactions one after the
// other, so this test applies them one after the other, straight to the store with no check
// before: the second is refused as the last owner token's, and the workspace keeps an active
// owner. (moto does not isolate concurrent transactions from each other, so running them in
// parallel here would test moto, not the store.) Revoking a revoked owner token again succeeds
// and does not count twice.
func TestTheLastActiveOwnerTokenCannotBeRevokedByTheStore(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	f := newFixture(t, s)
	second := &phi.Token{ID: phi.NewID(phi.PrefixToken), WorkspaceID: f.ws.ID, Name: "second owner", Role: phi.RoleOwner, CreatedBy: f.owner.ID}
	if err := s.CreateToken(ctx, second, hashOf("second-owner-secret")); err != nil {
		t.Fatal(err)
	}
	member := &phi.Token{ID: phi.NewID(phi.PrefixToken), WorkspaceID: f.ws.ID, Name: "member", Role: phi.RoleMember, CreatedBy: f.owner.ID}
	if err := s.CreateToken(ctx, member, hashOf("member-secret")); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(ctx, f.ws.ID, second.ID, time.Now()); err != nil {
		t.Fatalf("revoking one of two owner tokens: %v", err)
	}
	if err := s.RevokeToken(ctx, f.ws.ID, second.ID, time.Now()); err != nil {
		t.Fatalf("revoking a revoked owner token again: %v", err)
	}
	if err := s.RevokeToken(ctx, f.ws.ID, f.owner.ID, time.Now()); !errors.Is(err, ErrLastOwner) {
		t.Fatalf("revoking the last owner token (the revoked one must not count twice): err = %v, want ErrLastOwner", err)
	}
	if err := s.RevokeToken(ctx, f.ws.ID, member.ID, time.Now()); err != nil {
		t.Fatalf("a member token is revoked whatever the owners: %v", err)
	}
	tok, err := s.LookupToken(ctx, hashOf(f.ownerSecret))
	if err != nil || tok.RevokedAt != nil {
		t.Fatalf("the last owner token is %+v, %v; want it active", tok, err)
	}
	// A new owner token makes the first one revocable again.
	third := &phi.Token{ID: phi.NewID(phi.PrefixToken), WorkspaceID: f.ws.ID, Name: "third owner", Role: phi.RoleOwner, CreatedBy: f.owner.ID}
	if err := s.CreateToken(ctx, third, hashOf("third-owner-secret")); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(ctx, f.ws.ID, f.owner.ID, time.Now()); err != nil {
		t.Fatalf("revoking the first owner once a third exists: %v", err)
	}
}
