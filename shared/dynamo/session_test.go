package dynamo

import (
	"strings"
	"testing"
	"time"

	"github.com/phiguard/phiguard/shared/phi"
)

func TestAConsoleSessionIsStoredByItsHashAndEndsWhenDeleted(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Millisecond)
	sess := &Session{
		IDHash: phi.HashToken("session-secret"), WorkspaceID: phi.NewID(phi.PrefixWorkspace), TokenID: phi.NewID(phi.PrefixToken),
		TokenHash: phi.HashToken(phi.NewTokenSecret()), CreatedAt: now, LastSeenAt: now, EndsAt: now.Add(12 * time.Hour),
	}
	if err := s.CreateSession(ctx, sess, now.Add(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(ctx, sess, now); phi.ErrorCode(err) != phi.ECONFLICT {
		t.Errorf("a second session with the same hash: %v, want a conflict", err)
	}
	got, err := s.GetSession(ctx, sess.IDHash)
	if err != nil || got.TokenID != sess.TokenID || !got.EndsAt.Equal(sess.EndsAt) {
		t.Fatalf("get: %+v, %v", got, err)
	}
	later := now.Add(5 * time.Minute)
	if err := s.TouchSession(ctx, sess.IDHash, later, later.Add(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveSessionDraft(ctx, sess.IDHash, `{"flow":"dst_x"}`); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetSession(ctx, sess.IDHash)
	if !got.LastSeenAt.Equal(later) || got.Draft != `{"flow":"dst_x"}` {
		t.Errorf("after touch and draft: %+v", got)
	}
	if err := s.DeleteSession(ctx, sess.IDHash); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSession(ctx, sess.IDHash); phi.ErrorCode(err) != phi.ENOTFOUND {
		t.Errorf("a deleted session: %v, want not found", err)
	}
	if err := s.TouchSession(ctx, sess.IDHash, later, later); phi.ErrorCode(err) != phi.ENOTFOUND {
		t.Errorf("touching a deleted session: %v, want not found (it must not come back)", err)
	}
	if _, err := s.GetSession(ctx, "not-a-hash"); phi.ErrorCode(err) != phi.ENOTFOUND || strings.Contains(err.Error(), "not-a-hash") {
		t.Errorf("a malformed hash: %v", err)
	}
	bad := *sess
	bad.IDHash = "session-secret" // a secret passed in place of its hash is never stored
	if err := s.CreateSession(ctx, &bad, now); phi.ErrorCode(err) != phi.EINVALID {
		t.Errorf("a raw secret as the key: %v, want invalid", err)
	}
}

func TestFailedSignInsAreCountedPerClientAndWindow(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := t.Context()
	client, other := phi.HashToken("203.0.113.10"), phi.HashToken("203.0.113.11")
	at := time.Date(2026, 12, 1, 10, 1, 0, 0, time.UTC)
	for i := 1; i <= 3; i++ {
		n, err := s.CountSignInFailure(ctx, client, at.Add(time.Duration(i)*time.Second), 15*time.Minute)
		if err != nil || n != i {
			t.Fatalf("failure %d counted as %d (%v)", i, n, err)
		}
	}
	if n, _ := s.SignInFailures(ctx, client, at, 15*time.Minute); n != 3 {
		t.Errorf("%d failures read back, want 3", n)
	}
	if n, _ := s.SignInFailures(ctx, other, at, 15*time.Minute); n != 0 {
		t.Errorf("another client has %d failures", n)
	}
	if n, _ := s.SignInFailures(ctx, client, at.Add(15*time.Minute), 15*time.Minute); n != 0 {
		t.Errorf("the next window starts with %d failures", n)
	}
}
