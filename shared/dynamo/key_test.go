package dynamo

import (
	"context"
	"maps"
	"slices"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"testing"
	"time"

	"github.com/phiguard/phiguard/shared/phi"
)

func encryptionKey(f *fixture) *phi.Key {
	return &phi.Key{ID: phi.NewID(phi.PrefixKey), WorkspaceID: f.ws.ID, DestinationID: f.dst.ID, Kind: phi.KeyEncryption,
		Algorithm: "hpke-p256", Origin: phi.OriginKMS, PublicKeyPEM: "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n",
		Fingerprint: "sha256:ab12", CreatedBy: f.owner.ID}
}

func hmacKey(f *fixture) *phi.Key {
	return &phi.Key{ID: phi.NewID(phi.PrefixKey), WorkspaceID: f.ws.ID, DestinationID: f.dst.ID, Kind: phi.KeyHMAC,
		Algorithm: "hmac-sha256", Origin: phi.OriginKMS, EncryptedHMACKey: []byte{0x01, 0x02, 0xfe, 0xff}, CreatedBy: f.owner.ID}
}

// statuses returns the status of each key of the destination, by key id.
func statuses(t *testing.T, s *Store, f *fixture) map[string]phi.KeyStatus {
	t.Helper()
	keys, err := s.ListKeys(context.Background(), f.ws.ID, f.dst.ID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]phi.KeyStatus{}
	for _, k := range keys {
		out[k.ID] = k.Status
	}
	return out
}

func TestKeyRotationKeepsOneActiveKeyPerDestinationAndKind(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	f := newFixture(t, s)

	k1, k2, h1 := encryptionKey(f), encryptionKey(f), hmacKey(f)
	for _, k := range []*phi.Key{k1, h1, k2} {
		if err := s.PutActiveKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]phi.KeyStatus{k1.ID: phi.KeyDecryptOnly, k2.ID: phi.KeyActive, h1.ID: phi.KeyActive}
	if got := statuses(t, s, f); !maps.Equal(got, want) {
		t.Fatalf("after rotating, statuses = %v, want %v", got, want)
	}
	got, err := s.GetKey(ctx, f.ws.ID, f.dst.ID, h1.ID)
	if err != nil || string(got.EncryptedHMACKey) != string(h1.EncryptedHMACKey) || got.Status != phi.KeyActive {
		t.Errorf("GetKey(hmac) = %+v, %v; want the KMS ciphertext back", got, err)
	}
	got, err = s.GetKey(ctx, f.ws.ID, f.dst.ID, k2.ID)
	if err != nil || got.PublicKeyPEM != k2.PublicKeyPEM || got.Fingerprint != k2.Fingerprint || !got.CreatedAt.Equal(k2.CreatedAt) {
		t.Errorf("GetKey = %+v, %v; want %+v", got, err, k2)
	}

	at := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	if err := s.RevokeKey(ctx, f.ws.ID, f.dst.ID, k2.ID, at); err != nil {
		t.Fatal(err)
	}
	if got := statuses(t, s, f); got[k2.ID] != phi.KeyRevoked || got[k1.ID] != phi.KeyDecryptOnly || countActive(got, k1.ID, k2.ID) != 0 {
		t.Fatalf("after revoking the active key, statuses = %v; want no active encryption key", got)
	}
	revoked, _ := s.GetKey(ctx, f.ws.ID, f.dst.ID, k2.ID)
	if revoked.RevokedAt == nil || !revoked.RevokedAt.Equal(at) {
		t.Errorf("revoked key's RevokedAt = %v, want %v", revoked.RevokedAt, at)
	}
	if err := s.RevokeKey(ctx, f.ws.ID, f.dst.ID, k2.ID, at.Add(time.Hour)); err != nil {
		t.Errorf("revoking twice: %v", err)
	}

	k3 := encryptionKey(f)
	if err := s.PutActiveKey(ctx, k3); err != nil {
		t.Fatalf("a new key after revoking the active one: %v", err)
	}
	if got := statuses(t, s, f); got[k3.ID] != phi.KeyActive || got[k2.ID] != phi.KeyRevoked || got[k1.ID] != phi.KeyDecryptOnly {
		t.Errorf("statuses = %v", got)
	}

	if err := s.RevokeKey(ctx, f.ws.ID, f.dst.ID, h1.ID, at); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetKey(ctx, f.ws.ID, f.dst.ID, h1.ID); len(got.EncryptedHMACKey) != 0 {
		t.Error("a revoked HMAC key kept its ciphertext")
	}

	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"a key for an unknown destination is not found", s.PutActiveKey(ctx, &phi.Key{ID: phi.NewID(phi.PrefixKey), WorkspaceID: f.ws.ID, DestinationID: phi.NewID(phi.PrefixDestination), Kind: phi.KeyEncryption, PublicKeyPEM: "x"}), phi.ENOTFOUND},
		{"storing a key id twice is a conflict", s.PutActiveKey(ctx, k3), phi.ECONFLICT},
		{"an encryption key without a public key is refused", s.PutActiveKey(ctx, &phi.Key{ID: phi.NewID(phi.PrefixKey), WorkspaceID: f.ws.ID, DestinationID: f.dst.ID, Kind: phi.KeyEncryption}), phi.EINVALID},
		{"an HMAC key without its ciphertext is refused", s.PutActiveKey(ctx, &phi.Key{ID: phi.NewID(phi.PrefixKey), WorkspaceID: f.ws.ID, DestinationID: f.dst.ID, Kind: phi.KeyHMAC}), phi.EINVALID},
		{"an unknown kind is refused", s.PutActiveKey(ctx, &phi.Key{ID: phi.NewID(phi.PrefixKey), WorkspaceID: f.ws.ID, DestinationID: f.dst.ID, Kind: "rsa"}), phi.EINVALID},
		{"revoking an unknown key is not found", s.RevokeKey(ctx, f.ws.ID, f.dst.ID, phi.NewID(phi.PrefixKey), at), phi.ENOTFOUND},
	} {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, tt.err, tt.want) })
	}
	if got := statuses(t, s, f); got[k3.ID] != phi.KeyActive {
		t.Errorf("a refused PutActiveKey disturbed the active key: %v", got)
	}
}

func TestARotationThatLostTheRaceRetriesOnTopOfTheWinner(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	f := newFixture(t, s)
	first, theirs, mine := encryptionKey(f), encryptionKey(f), encryptionKey(f)
	if err := s.PutActiveKey(ctx, first); err != nil {
		t.Fatal(err)
	}
	var theirErr error
	racing := interleaved(t, s, "TransactWriteItems", func() { theirErr = s.PutActiveKey(ctx, theirs) })
	if err := racing.PutActiveKey(ctx, mine); err != nil {
		t.Fatalf("the rotation that lost the race: %v", err)
	}
	if theirErr != nil {
		t.Fatal(theirErr)
	}
	want := map[string]phi.KeyStatus{first.ID: phi.KeyDecryptOnly, theirs.ID: phi.KeyDecryptOnly, mine.ID: phi.KeyActive}
	if got := statuses(t, s, f); !maps.Equal(got, want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}
}

func TestAStaleRotationIsRefusedByTheActiveKeyPointer(t *testing.T) {
	s, client, _ := newStore(t)
	ctx := context.Background()
	f := newFixture(t, s)
	a, b := encryptionKey(f), encryptionKey(f)
	if err := s.PutActiveKey(ctx, a); err != nil {
		t.Fatal(err)
	}
	// A writer that still believes there is no active key must not create a second one.
	stale := encryptionKey(f)
	m, err := item(wsPK(f.ws.ID), keySK(f.dst.ID, stale.ID), stale, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: s.rotation(stale, m, "")})
	if _, ok := canceled(err); !ok {
		t.Fatalf("a rotation from a stale pointer was not canceled: %v", err)
	}
	// Nor may one that believes an already replaced key is active.
	if err := s.PutActiveKey(ctx, b); err != nil {
		t.Fatal(err)
	}
	_, err = client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: s.rotation(stale, m, a.ID)})
	if _, ok := canceled(err); !ok {
		t.Fatalf("a rotation replacing a decrypt-only key was not canceled: %v", err)
	}
	if got := statuses(t, s, f); countActive(got) != 1 || got[b.ID] != phi.KeyActive || len(got) != 2 {
		t.Errorf("statuses = %v; want only %s active and no stale key stored", got, b.ID)
	}
}

func countActive(st map[string]phi.KeyStatus, only ...string) int {
	n := 0
	for id, s := range st {
		if s == phi.KeyActive && (len(only) == 0 || slices.Contains(only, id)) {
			n++
		}
	}
	return n
}
