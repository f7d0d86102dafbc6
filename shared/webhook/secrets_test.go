package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/phi"
)

// secretsEnv is a table (moto) with a workspace, a source and a KMS key (local-kms).
type secretsEnv struct {
	store *dynamo.Store
	kms   *kms.Client
	cmk   string
	ws    string
	src   string
}

func newSecretsEnv(t *testing.T) *secretsEnv {
	t.Helper()
	c := awstest.Clients(t)
	ctx := context.Background()
	table := awstest.UniqueName("signing")
	if err := dynamo.CreateTable(ctx, c.DynamoDB, table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.DynamoDB.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)}) })
	key, err := c.KMS.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("signing secrets test")})
	if err != nil {
		t.Fatal(err)
	}
	e := &secretsEnv{store: dynamo.New(c.DynamoDB, table), kms: c.KMS, cmk: *key.KeyMetadata.KeyId}
	ws := &phi.Workspace{ID: phi.NewID(phi.PrefixWorkspace), Name: "Clinic", Tier: phi.TierBusiness, BAA: phi.BAA{Signed: true}}
	var tok [16]byte
	_, _ = rand.Read(tok[:])
	sum := sha256.Sum256(tok[:])
	if err := e.store.CreateWorkspace(ctx, ws, &phi.Token{ID: phi.NewID(phi.PrefixToken), Role: phi.RoleOwner}, hex.EncodeToString(sum[:])); err != nil {
		t.Fatal(err)
	}
	src := &phi.Source{ID: phi.NewID(phi.PrefixSource), WorkspaceID: ws.ID, Name: "web"}
	if err := e.store.CreateSource(ctx, src); err != nil {
		t.Fatal(err)
	}
	e.ws, e.src = ws.ID, src.ID
	return e
}

// destination creates a webhook destination with a secret generated through KMS and returns
// its id and the secret's text.
func (e *secretsEnv) destination(t *testing.T, g *Generator) (string, string) {
	t.Helper()
	d := &phi.Destination{ID: phi.NewID(phi.PrefixDestination), WorkspaceID: e.ws, SourceID: e.src, Name: "hook",
		Type: phi.DestinationWebhook, Enabled: true, Settings: phi.DestinationSettings{URL: "https://hooks.example.com/in"}}
	sec, text, err := g.NewSigningSecret(context.Background(), e.ws, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreateSignedDestination(context.Background(), d, &phi.SigningSecrets{WorkspaceID: e.ws, DestinationID: d.ID, Secrets: []phi.SigningSecret{sec}}); err != nil {
		t.Fatal(err)
	}
	return d.ID, string(text)
}

// A secret generated through KMS is stored only as its ciphertext; the keyring decrypts it (with
// the destination's encryption context) into the key of the text the customer was shown, and a
// ciphertext copied onto another destination does not decrypt there.
func TestGeneratedSecretsAreStoredEncryptedAndDecryptOnlyForTheirDestination(t *testing.T) {
	e := newSecretsEnv(t)
	ctx := context.Background()
	g := &Generator{KMS: e.kms, CMK: e.cmk}
	a, textA := e.destination(t, g)
	b, textB := e.destination(t, g)
	keyA, err := ParseSecret(textA)
	if err != nil || len(keyA) != SecretLen {
		t.Fatalf("the secret's text %q does not parse into %d bytes: %v", textA[:6], SecretLen, err)
	}
	if textA == textB {
		t.Fatal("two destinations got the same secret")
	}
	stored, err := e.store.GetSigningSecrets(ctx, e.ws, a)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored.Secrets) != 1 || bytes.Contains(stored.Secrets[0].Ciphertext, keyA) || stored.Version != 1 {
		t.Fatalf("stored %+v; want one ciphertext that does not contain the key, version 1", stored)
	}
	ring := NewKeyring(e.store, e.kms, nil)
	keys, err := ring.SigningKeys(ctx, e.ws, a)
	if err != nil || len(keys) != 1 || !bytes.Equal(keys[0], keyA) {
		t.Fatalf("SigningKeys(a) = %d keys, %v; want a's key", len(keys), err)
	}

	// b's item with a's ciphertext: KMS refuses it under b's encryption context.
	forged, _ := e.store.GetSigningSecrets(ctx, e.ws, b)
	forged.Secrets = stored.Secrets
	if err := e.store.PutSigningSecrets(ctx, forged); err != nil {
		t.Fatal(err)
	}
	if keys, err := NewKeyring(e.store, e.kms, nil).SigningKeys(ctx, e.ws, b); err == nil {
		t.Fatalf("a ciphertext copied onto another destination decrypted (%d keys)", len(keys))
	} else if strings.Contains(err.Error(), textA[6:]) {
		t.Errorf("the error quotes the key: %v", err)
	}
	if _, err := ring.SigningKeys(ctx, e.ws, phi.NewID(phi.PrefixDestination)); err == nil {
		t.Error("a destination without secrets got keys")
	}
}

// A rotation keeps the replaced secret signing until its overlap ends — decided at each call,
// not when the keyring last read — and a second rotation within the overlap drops it; a
// concurrent rotation (a stale version) is refused.
func TestRotationOverlapsAndTheKeyringFollowsIt(t *testing.T) {
	e := newSecretsEnv(t)
	ctx := context.Background()
	now := time.Now().UTC()
	clock := func() time.Time { return now }
	g := &Generator{KMS: e.kms, CMK: e.cmk, Now: clock}
	dst, first := e.destination(t, g)
	cur, err := e.store.GetSigningSecrets(ctx, e.ws, dst)
	if err != nil {
		t.Fatal(err)
	}
	sec, second, err := g.NewSigningSecret(ctx, e.ws, dst)
	if err != nil {
		t.Fatal(err)
	}
	next := cur.Rotate(sec, now, time.Hour)
	if err := e.store.PutSigningSecrets(ctx, next); err != nil {
		t.Fatal(err)
	}
	stale := *cur
	if err := e.store.PutSigningSecrets(ctx, &stale); phi.ErrorCode(err) != phi.ECONFLICT {
		t.Fatalf("a rotation from a stale version: %v, want ECONFLICT", err)
	}
	ring := NewKeyring(e.store, e.kms, clock)
	want := func(what string, texts ...string) {
		t.Helper()
		keys, err := ring.SigningKeys(ctx, e.ws, dst)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if len(keys) != len(texts) {
			t.Fatalf("%s: %d keys, want %d", what, len(keys), len(texts))
		}
		for i, text := range texts {
			if k, _ := ParseSecret(text); !bytes.Equal(keys[i], k) {
				t.Errorf("%s: key %d is not the expected secret", what, i)
			}
		}
	}
	want("in the overlap: the new secret first, then the replaced one", string(second), first)
	now = now.Add(time.Hour)
	want("at the end of the overlap, within the cache's TTL: the new secret alone", string(second))

	third, text3, err := g.NewSigningSecret(ctx, e.ws, dst)
	if err != nil {
		t.Fatal(err)
	}
	cur, _ = e.store.GetSigningSecrets(ctx, e.ws, dst)
	if err := e.store.PutSigningSecrets(ctx, cur.Rotate(third, now, 0)); err != nil {
		t.Fatal(err)
	}
	now = now.Add(KeyringTTL)
	want("after a rotation without overlap, once the cache expired", string(text3))
	if got, _ := e.store.GetSigningSecrets(ctx, e.ws, dst); len(got.Secrets) != 1 || got.Version != 3 {
		t.Errorf("after two rotations: %d secrets at version %d, want 1 at 3", len(got.Secrets), got.Version)
	}
}

// storeFunc is a SecretStore from a function.
type storeFunc func(ctx context.Context, wsID, dstID string) (*phi.SigningSecrets, error)

func (f storeFunc) GetSigningSecrets(ctx context.Context, wsID, dstID string) (*phi.SigningSecrets, error) {
	return f(ctx, wsID, dstID)
}

// decryptFunc is a KMSDecrypter from a function.
type decryptFunc func(ctx context.Context, in *kms.DecryptInput) (*kms.DecryptOutput, error)

func (f decryptFunc) Decrypt(ctx context.Context, in *kms.DecryptInput, _ ...func(*kms.Options)) (*kms.DecryptOutput, error) {
	return f(ctx, in)
}

// The keyring reads a destination once per TTL; when a refresh fails it keeps signing with the
// keys it has and asks again only after a pause, so an outage costs one call per destination
// and container per pause, not one per delivery.
func TestKeyringCachesAndSurvivesAFailedRefresh(t *testing.T) {
	var reads atomic.Int32
	fail := false
	store := storeFunc(func(_ context.Context, ws, dst string) (*phi.SigningSecrets, error) {
		reads.Add(1)
		if fail {
			return nil, errors.New("throttled")
		}
		return &phi.SigningSecrets{WorkspaceID: ws, DestinationID: dst, Secrets: []phi.SigningSecret{{Ciphertext: []byte("blob")}}}, nil
	})
	decrypt := decryptFunc(func(_ context.Context, in *kms.DecryptInput) (*kms.DecryptOutput, error) {
		if in.EncryptionContext["phiguard:purpose"] != phi.SigningSecretPurpose {
			return nil, errors.New("wrong encryption context")
		}
		return &kms.DecryptOutput{Plaintext: bytes.Repeat([]byte{'k'}, SecretLen)}, nil
	})
	now := time.Now()
	ring := NewKeyring(store, decrypt, func() time.Time { return now })
	for range 3 {
		if _, err := ring.SigningKeys(context.Background(), "ws_1", "dst_1"); err != nil {
			t.Fatal(err)
		}
	}
	if n := reads.Load(); n != 1 {
		t.Fatalf("%d reads within the TTL, want 1", n)
	}
	fail = true
	now = now.Add(KeyringTTL)
	for range 3 {
		if keys, err := ring.SigningKeys(context.Background(), "ws_1", "dst_1"); err != nil || len(keys) != 1 {
			t.Fatalf("during an outage: %d keys, %v; want the cached key", len(keys), err)
		}
	}
	if n := reads.Load(); n != 2 {
		t.Errorf("%d reads, want 2: one, one failed refresh, then a pause", n)
	}
	for range 2 {
		if _, err := ring.SigningKeys(context.Background(), "ws_1", "dst_2"); err == nil {
			t.Fatal("no keys and a failing store: want an error")
		}
	}
	if n := reads.Load(); n != 3 {
		t.Errorf("%d reads, want 3: a failed first read is not repeated at once", n)
	}
}
