package dynamo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/phiguard/phiguard/shared/phi"
)

// pendingKey returns k as a pending key expiring at exp.
func pendingKey(k *phi.Key, exp time.Time) *phi.Key {
	k.ExpiresAt = &exp
	return k
}

// rawKey reads a key's item as stored.
func rawKey(t *testing.T, client *dynamodb.Client, table string, k *phi.Key) map[string]types.AttributeValue {
	t.Helper()
	out, err := client.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(table),
		Key: key(wsPK(k.WorkspaceID), keySK(k.DestinationID, k.ID)), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	return out.Item
}

func TestAPendingKeyIsStoredWithATTLAndBecomesActiveOnlyWhenActivated(t *testing.T) {
	s, client, table := newStore(t)
	ctx := context.Background()
	f := newFixture(t, s)
	now := time.Now().UTC()
	exp := now.Add(time.Hour).Add(500 * time.Millisecond)

	active, hmacActive := encryptionKey(f), hmacKey(f)
	for _, k := range []*phi.Key{active, hmacActive} {
		if err := s.PutActiveKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	pending := pendingKey(encryptionKey(f), exp)
	if err := s.PutPendingKey(ctx, pending); err != nil {
		t.Fatal(err)
	}

	t.Run("a pending key is stored pending, with its expiry as the table's TTL in epoch seconds", func(t *testing.T) {
		if pending.Status != phi.KeyPending || !pending.ExpiresAt.Equal(exp.Truncate(time.Second)) {
			t.Fatalf("stored key = %s, expires %v; want pending, expiring %v", pending.Status, pending.ExpiresAt, exp.Truncate(time.Second))
		}
		item := rawKey(t, client, table, pending)
		n, ok := item[Table.TTLAttribute].(*types.AttributeValueMemberN)
		if !ok || n.Value != strconv.FormatInt(exp.Unix(), 10) {
			t.Fatalf("TTL attribute %s = %#v, want the number %d", Table.TTLAttribute, item[Table.TTLAttribute], exp.Unix())
		}
		got, err := s.GetKey(ctx, f.ws.ID, f.dst.ID, pending.ID)
		if err != nil || got.Status != phi.KeyPending || got.ExpiresAt == nil || !got.ExpiresAt.Equal(*pending.ExpiresAt) {
			t.Fatalf("GetKey = %+v, %v; want it pending with its expiry", got, err)
		}
	})
	t.Run("storing a pending key leaves the active key active", func(t *testing.T) {
		want := map[string]phi.KeyStatus{active.ID: phi.KeyActive, hmacActive.ID: phi.KeyActive, pending.ID: phi.KeyPending}
		if got := statuses(t, s, f); !maps.Equal(got, want) {
			t.Fatalf("statuses = %v, want %v", got, want)
		}
		snap, _, err := s.LoadSnapshot(ctx, f.ws.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range snap.Keys {
			if k.ID == pending.ID && k.Status != phi.KeyPending {
				t.Fatalf("the snapshot shows the pending key as %s", k.Status)
			}
		}
	})
	t.Run("activation makes it active, the previous key of its kind decrypt-only, and drops its TTL", func(t *testing.T) {
		got, err := s.ActivateKey(ctx, f.ws.ID, f.dst.ID, pending.ID, now)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != phi.KeyActive || got.ExpiresAt != nil {
			t.Fatalf("activated key = %+v", got)
		}
		want := map[string]phi.KeyStatus{active.ID: phi.KeyDecryptOnly, hmacActive.ID: phi.KeyActive, pending.ID: phi.KeyActive}
		if st := statuses(t, s, f); !maps.Equal(st, want) {
			t.Fatalf("statuses = %v, want %v", st, want)
		}
		if item := rawKey(t, client, table, pending); item[Table.TTLAttribute] != nil {
			t.Fatal("the active key still carries a TTL: DynamoDB would delete it")
		}
		ptr, _ := s.getItem(ctx, wsPK(f.ws.ID), activeSK(f.dst.ID, phi.KeyEncryption))
		if stringAttr(ptr, attrActiveKeyID) != pending.ID {
			t.Fatalf("the active-key pointer names %s", stringAttr(ptr, attrActiveKeyID))
		}
	})
	t.Run("activating the active key again changes nothing", func(t *testing.T) {
		got, err := s.ActivateKey(ctx, f.ws.ID, f.dst.ID, pending.ID, now)
		if err != nil || got.Status != phi.KeyActive {
			t.Fatalf("second activation = %+v, %v", got, err)
		}
		if st := statuses(t, s, f); st[pending.ID] != phi.KeyActive || st[active.ID] != phi.KeyDecryptOnly {
			t.Fatalf("statuses = %v", st)
		}
	})
	t.Run("a pending HMAC key with no previous key becomes the first active one", func(t *testing.T) {
		g := newFixture(t, s)
		h := pendingKey(hmacKey(g), exp)
		if err := s.PutPendingKey(ctx, h); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ActivateKey(ctx, g.ws.ID, g.dst.ID, h.ID, now); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetKey(ctx, g.ws.ID, g.dst.ID, h.ID); got.Status != phi.KeyActive || string(got.EncryptedHMACKey) != string(h.EncryptedHMACKey) {
			t.Fatalf("activated HMAC key = %+v", got)
		}
	})

	expired := pendingKey(encryptionKey(f), now.Add(-time.Second))
	revoked := pendingKey(encryptionKey(f), exp)
	for _, k := range []*phi.Key{expired, revoked} {
		if err := s.PutPendingKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RevokeKey(ctx, f.ws.ID, f.dst.ID, revoked.ID, now); err != nil {
		t.Fatal(err)
	}
	_, expiredErr := s.ActivateKey(ctx, f.ws.ID, f.dst.ID, expired.ID, now)
	_, revokedErr := s.ActivateKey(ctx, f.ws.ID, f.dst.ID, revoked.ID, now)
	_, decryptOnlyErr := s.ActivateKey(ctx, f.ws.ID, f.dst.ID, active.ID, now)
	_, unknownErr := s.ActivateKey(ctx, f.ws.ID, f.dst.ID, phi.NewID(phi.PrefixKey), now)
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"an expired pending key cannot be activated", expiredErr, phi.ECONFLICT},
		{"a revoked pending key cannot be activated", revokedErr, phi.ECONFLICT},
		{"a decrypt-only key cannot be activated again", decryptOnlyErr, phi.ECONFLICT},
		{"an unknown key is not found", unknownErr, phi.ENOTFOUND},
		{"a pending key without an expiry is refused", s.PutPendingKey(ctx, encryptionKey(f)), phi.EINVALID},
		{"a pending key for an unknown destination is not found", s.PutPendingKey(ctx, pendingKey(&phi.Key{ID: phi.NewID(phi.PrefixKey), WorkspaceID: f.ws.ID, DestinationID: phi.NewID(phi.PrefixDestination), Kind: phi.KeyEncryption, PublicKeyPEM: "x"}, exp)), phi.ENOTFOUND},
		{"storing a pending key id twice is a conflict", s.PutPendingKey(ctx, pendingKey(&phi.Key{ID: expired.ID, WorkspaceID: f.ws.ID, DestinationID: f.dst.ID, Kind: phi.KeyEncryption, PublicKeyPEM: "x"}, exp)), phi.ECONFLICT},
	} {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, tt.err, tt.want) })
	}
	t.Run("a revoked pending key loses its TTL and stays listed as revoked", func(t *testing.T) {
		if item := rawKey(t, client, table, revoked); item[Table.TTLAttribute] != nil {
			t.Error("the revoked key kept its TTL")
		}
		if st := statuses(t, s, f); st[revoked.ID] != phi.KeyRevoked || st[pending.ID] != phi.KeyActive {
			t.Errorf("statuses = %v", st)
		}
	})
}

// The activation's transaction itself refuses a key that expired or was revoked after it was
// read: the condition is on the stored item, not on what the caller saw.
func TestActivationIsConditionalOnTheKeyStillBeingPendingAndUnexpired(t *testing.T) {
	s, client, table := newStore(t)
	ctx := context.Background()
	f := newFixture(t, s)
	now := time.Now().UTC()
	prev := encryptionKey(f)
	if err := s.PutActiveKey(ctx, prev); err != nil {
		t.Fatal(err)
	}

	t.Run("revoked between the read and the write", func(t *testing.T) {
		k := pendingKey(encryptionKey(f), now.Add(time.Hour))
		if err := s.PutPendingKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		racing := interleaved(t, s, "TransactWriteItems", func() {
			if err := s.RevokeKey(ctx, f.ws.ID, f.dst.ID, k.ID, now); err != nil {
				t.Error(err)
			}
		})
		_, err := racing.ActivateKey(ctx, f.ws.ID, f.dst.ID, k.ID, now)
		wantCode(t, err, phi.ECONFLICT)
		if st := statuses(t, s, f); st[prev.ID] != phi.KeyActive || st[k.ID] != phi.KeyRevoked {
			t.Fatalf("statuses = %v; the previous key must stay active", st)
		}
	})
	t.Run("expired in the stored item between the read and the write", func(t *testing.T) {
		k := pendingKey(encryptionKey(f), now.Add(time.Hour))
		if err := s.PutPendingKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		// The stored expiry moves into the past after ActivateKey read the key: the
		// transaction's condition, not the read, must refuse it.
		racing := interleaved(t, s, "TransactWriteItems", func() {
			_, err := client.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table),
				Key:                       key(wsPK(f.ws.ID), keySK(f.dst.ID, k.ID)),
				UpdateExpression:          aws.String("SET #e = :past"),
				ExpressionAttributeNames:  map[string]string{"#e": Table.TTLAttribute},
				ExpressionAttributeValues: map[string]types.AttributeValue{":past": num(now.Add(-time.Second).Unix())}})
			if err != nil {
				t.Error(err)
			}
		})
		_, err := racing.ActivateKey(ctx, f.ws.ID, f.dst.ID, k.ID, now)
		wantCode(t, err, phi.ECONFLICT)
		if st := statuses(t, s, f); st[prev.ID] != phi.KeyActive || st[k.ID] != phi.KeyPending {
			t.Fatalf("statuses = %v", st)
		}
	})
	t.Run("another key activated concurrently: retried on top of it", func(t *testing.T) {
		theirs, mine := pendingKey(encryptionKey(f), now.Add(time.Hour)), pendingKey(encryptionKey(f), now.Add(time.Hour))
		for _, k := range []*phi.Key{theirs, mine} {
			if err := s.PutPendingKey(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		var theirErr error
		racing := interleaved(t, s, "TransactWriteItems", func() { _, theirErr = s.ActivateKey(ctx, f.ws.ID, f.dst.ID, theirs.ID, now) })
		if _, err := racing.ActivateKey(ctx, f.ws.ID, f.dst.ID, mine.ID, now); err != nil || theirErr != nil {
			t.Fatalf("mine: %v, theirs: %v", err, theirErr)
		}
		if st := statuses(t, s, f); st[mine.ID] != phi.KeyActive || st[theirs.ID] != phi.KeyDecryptOnly || countActive(st) != 1 {
			t.Fatalf("statuses = %v; want only %s active", st, mine.ID)
		}
	})
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestAnIdempotencyKeyIsClaimedOncePerDestinationKindAndTTL(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	f := newFixture(t, s)
	now := time.Now().UTC()
	record := func(idem, req string, kind phi.KeyKind, at time.Time) *phi.IdempotencyRecord {
		return &phi.IdempotencyRecord{WorkspaceID: f.ws.ID, DestinationID: f.dst.ID, Kind: kind, KeyHash: sha(idem),
			RequestHash: sha(req), KeyID: phi.NewID(phi.PrefixKey), CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
	}
	first := record("retry-1", "hpke-p256/0", phi.KeyEncryption, now)
	if held, err := s.ClaimIdempotency(ctx, first); err != nil || held != nil {
		t.Fatalf("first claim = %+v, %v; want it stored", held, err)
	}
	t.Run("a second claim of the key returns the first record", func(t *testing.T) {
		held, err := s.ClaimIdempotency(ctx, record("retry-1", "rsa-oaep-sha256/3072", phi.KeyEncryption, now.Add(time.Minute)))
		if err != nil || held == nil || held.KeyID != first.KeyID || held.RequestHash != first.RequestHash ||
			!held.ExpiresAt.Equal(first.ExpiresAt.Truncate(time.Second)) || !held.CreatedAt.Equal(first.CreatedAt) {
			t.Fatalf("held = %+v, %v; want %+v", held, err, first)
		}
	})
	t.Run("the same key for the other kind or another destination is another claim", func(t *testing.T) {
		if held, err := s.ClaimIdempotency(ctx, record("retry-1", "hmac-sha256", phi.KeyHMAC, now)); err != nil || held != nil {
			t.Fatalf("other kind: %+v, %v", held, err)
		}
		g := newFixture(t, s)
		r := record("retry-1", "hpke-p256/0", phi.KeyEncryption, now)
		r.WorkspaceID, r.DestinationID = g.ws.ID, g.dst.ID
		if held, err := s.ClaimIdempotency(ctx, r); err != nil || held != nil {
			t.Fatalf("other destination: %+v, %v", held, err)
		}
	})
	t.Run("an expired record no longer holds the key, even before DynamoDB's TTL deletes it", func(t *testing.T) {
		later := record("retry-1", "hpke-p256/0", phi.KeyEncryption, now.Add(time.Hour+time.Second))
		if held, err := s.ClaimIdempotency(ctx, later); err != nil || held != nil {
			t.Fatalf("claim after expiry = %+v, %v", held, err)
		}
		first = later
	})
	t.Run("a release by another key id leaves the record; by its own key id deletes it", func(t *testing.T) {
		other := *first
		other.KeyID = phi.NewID(phi.PrefixKey)
		if err := s.ReleaseIdempotency(ctx, &other); err != nil {
			t.Fatal(err)
		}
		if held, _ := s.ClaimIdempotency(ctx, record("retry-1", "x", phi.KeyEncryption, now.Add(time.Hour+2*time.Second))); held == nil || held.KeyID != first.KeyID {
			t.Fatalf("after a foreign release the key is not held by %s: %+v", first.KeyID, held)
		}
		if err := s.ReleaseIdempotency(ctx, first); err != nil {
			t.Fatal(err)
		}
		if held, err := s.ClaimIdempotency(ctx, record("retry-1", "x", phi.KeyEncryption, now.Add(time.Hour+3*time.Second))); err != nil || held != nil {
			t.Fatalf("after its release the key is still held: %+v, %v", held, err)
		}
		if err := s.ReleaseIdempotency(ctx, first); err != nil {
			t.Errorf("releasing a released record: %v", err)
		}
	})
	t.Run("a claim that loses a race returns the winner's record", func(t *testing.T) {
		theirs, mine := record("race", "a", phi.KeyEncryption, now), record("race", "a", phi.KeyEncryption, now)
		var theirErr error
		racing := interleaved(t, s, "PutItem", func() { _, theirErr = s.ClaimIdempotency(ctx, theirs) })
		held, err := racing.ClaimIdempotency(ctx, mine)
		if err != nil || theirErr != nil || held == nil || held.KeyID != theirs.KeyID {
			t.Fatalf("mine = %+v, %v; theirs: %v", held, err, theirErr)
		}
	})
	for _, tt := range []struct {
		name string
		r    *phi.IdempotencyRecord
	}{
		{"a hash that is not SHA-256 hex", &phi.IdempotencyRecord{WorkspaceID: f.ws.ID, DestinationID: f.dst.ID, Kind: phi.KeyEncryption, KeyHash: "retry-1", RequestHash: sha("x"), KeyID: phi.NewID(phi.PrefixKey)}},
		{"an unknown kind", &phi.IdempotencyRecord{WorkspaceID: f.ws.ID, DestinationID: f.dst.ID, Kind: "rsa", KeyHash: sha("k"), RequestHash: sha("x"), KeyID: phi.NewID(phi.PrefixKey)}},
		{"a malformed key id", &phi.IdempotencyRecord{WorkspaceID: f.ws.ID, DestinationID: f.dst.ID, Kind: phi.KeyHMAC, KeyHash: sha("k"), RequestHash: sha("x"), KeyID: "key_1"}},
	} {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			_, err := s.ClaimIdempotency(ctx, tt.r)
			wantCode(t, err, phi.EINVALID)
		})
	}
}
