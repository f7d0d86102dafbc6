package dynamo

import (
	"context"
	"reflect"
	"testing"

	"github.com/phiguard/phiguard/shared/phi"
)

func TestLoadSnapshotReturnsWhatThePipelineNeedsAndNothingElse(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	f := newFixture(t, s)
	neighbour := newFixture(t, s) // another workspace's items must not appear

	src2 := &phi.Source{ID: phi.NewID(phi.PrefixSource), WorkspaceID: f.ws.ID, Name: "app"}
	if err := s.CreateSource(ctx, src2); err != nil {
		t.Fatal(err)
	}
	enc, old, mac := encryptionKey(f), encryptionKey(f), hmacKey(f)
	for _, k := range []*phi.Key{old, enc, mac} {
		if err := s.PutActiveKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	class := phi.Classification{Path: "traits.email", Class: "yellow", DecidedBy: f.owner.ID}
	if err := s.PutClassification(ctx, f.ws.ID, class); err != nil {
		t.Fatal(err)
	}
	matcher := newMatcher("member id")
	if err := s.PutMatcher(ctx, f.ws.ID, matcher); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateToken(ctx, &phi.Token{ID: phi.NewID(phi.PrefixToken), WorkspaceID: f.ws.ID, Role: phi.RoleReadonly}, hashOf("ro")); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordInboxPaths(ctx, f.ws.ID, f.src.ID, []string{"traits.email"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx, &phi.AuditRecord{WorkspaceID: f.ws.ID, Action: "key.generate"}); err != nil {
		t.Fatal(err)
	}

	snap, matchers, err := s.LoadSnapshot(ctx, f.ws.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(matchers) != 1 || !reflect.DeepEqual(matchers[0], *matcher) {
		t.Errorf("custom matchers = %+v, want %+v", matchers, *matcher)
	}
	if !reflect.DeepEqual(snap.Workspace, *f.ws) {
		t.Errorf("workspace = %+v, want %+v", snap.Workspace, *f.ws)
	}
	if len(snap.Sources) != 2 || len(snap.Destinations) != 1 || len(snap.Keys) != 3 || len(snap.Classifications) != 1 {
		t.Fatalf("snapshot has %d sources, %d destinations, %d keys, %d classifications; want 2, 1, 3, 1",
			len(snap.Sources), len(snap.Destinations), len(snap.Keys), len(snap.Classifications))
	}
	if !reflect.DeepEqual(snap.Destinations[0], *f.dst) {
		t.Errorf("destination = %+v, want %+v", snap.Destinations[0], *f.dst)
	}
	if snap.Classifications[0].Path != class.Path || snap.Classifications[0].Class != class.Class {
		t.Errorf("classification = %+v, want %+v", snap.Classifications[0], class)
	}
	byID := map[string]phi.Key{}
	for _, k := range snap.Keys {
		byID[k.ID] = k
	}
	if byID[enc.ID].Status != phi.KeyActive || byID[old.ID].Status != phi.KeyDecryptOnly || byID[enc.ID].PublicKeyPEM != enc.PublicKeyPEM {
		t.Errorf("encryption keys in the snapshot: %+v", snap.Keys)
	}
	if string(byID[mac.ID].EncryptedHMACKey) != string(mac.EncryptedHMACKey) {
		t.Error("the HMAC key's KMS ciphertext is missing from the snapshot")
	}
	for _, src := range snap.Sources {
		if src.WorkspaceID != f.ws.ID || src.ID == neighbour.src.ID {
			t.Errorf("snapshot holds another workspace's source %+v", src)
		}
	}

	_, _, err = s.LoadSnapshot(ctx, phi.NewID(phi.PrefixWorkspace))
	wantCode(t, err, phi.ENOTFOUND)
}
