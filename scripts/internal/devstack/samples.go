package devstack

import (
	"context"
	"fmt"
	"time"

	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/fieldcrypt"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/privacy"
	"github.com/phiguard/phiguard/shared/workspace"
)

// The fixed ids and the bearer token that the sample events in events/ refer to. The token is a
// published, local-only sample: it exists only in tables SeedSamples writes.
const (
	SampleWorkspaceID   = "ws_00000000000000000000000001"
	SampleOwnerTokenID  = "tok_00000000000000000000000001"
	SampleOwnerToken    = "phit_sample-token-for-local-testing-only-000000"
	SampleSourceID      = "src_00000000000000000000000001"
	SampleDestinationID = "dst_00000000000000000000000001"
	SampleKeyID         = "key_00000000000000000000000001"
	// SampleS3DestinationID is an S3 destination writing to SampleBucket through SampleRoleARN.
	SampleS3DestinationID = "dst_00000000000000000000000003"

	// Extra items the delete and revoke samples remove.
	spareTokenID       = "tok_00000000000000000000000002"
	spareSourceID      = "src_00000000000000000000000002"
	spareDestinationID = "dst_00000000000000000000000002"
	spareMatcherID     = "mat_00000000000000000000000001"
)

// SampleProtectedFields are the fields the sample destination protects.
var SampleProtectedFields = []phi.FieldTreatment{
	{Path: "traits.email", Treatment: phi.TreatmentEncrypt},
	{Path: "traits.phone", Treatment: phi.TreatmentSHA256},
}

// SeedSamples writes the workspace, owner token, source, webhook destination (delivering to
// webhookURL) and active encryption key that the sample events expect. The workspace is HIPAA
// eligible and the destination protects SampleProtectedFields. The key's private half is
// discarded: samples only need the public key. Both destinations get a signing secret from
// signing, whose text is discarded too (a receiver reads it as the delivery function does). It
// returns the first store or KMS error.
func SeedSamples(ctx context.Context, store *dynamo.Store, signing workspace.SigningGenerator, webhookURL string) error {
	create := func(d *phi.Destination) error {
		sec, text, err := signing.NewSigningSecret(ctx, d.WorkspaceID, d.ID)
		if err != nil {
			return fmt.Errorf("seed the signing secret of destination %s: %w", d.ID, err)
		}
		clear(text)
		return store.CreateSignedDestination(ctx, d, &phi.SigningSecrets{WorkspaceID: d.WorkspaceID, DestinationID: d.ID, Secrets: []phi.SigningSecret{sec}})
	}
	now := time.Now().UTC()
	ws := &phi.Workspace{
		ID: SampleWorkspaceID, Name: "Sample Health", Tier: phi.TierBusiness,
		BAA: phi.BAA{Signed: true, SignedAt: now, SignedBy: "operator:local"},
	}
	owner := &phi.Token{ID: SampleOwnerTokenID, WorkspaceID: ws.ID, Name: "sample owner", Role: phi.RoleOwner, CreatedAt: now, CreatedBy: "operator:local"}
	if err := store.CreateWorkspace(ctx, ws, owner, phi.HashToken(SampleOwnerToken)); err != nil {
		return fmt.Errorf("seed workspace: %w", err)
	}
	for id, name := range map[string]string{SampleSourceID: "web app", spareSourceID: "mobile app"} {
		if err := store.CreateSource(ctx, &phi.Source{ID: id, WorkspaceID: ws.ID, Name: name}); err != nil {
			return fmt.Errorf("seed source: %w", err)
		}
	}
	spare := &phi.Token{ID: spareTokenID, WorkspaceID: ws.ID, Name: "old integration", Role: phi.RoleMember, CreatedAt: now, CreatedBy: owner.ID}
	if err := store.CreateToken(ctx, spare, phi.HashToken(phi.NewTokenSecret())); err != nil {
		return fmt.Errorf("seed token: %w", err)
	}
	matcher := &privacy.Matcher{
		ID: spareMatcherID, Name: "member number", Classification: privacy.Yellow,
		Target: privacy.TargetKey, Mode: privacy.ModeExact, Synonyms: []string{"member_no", "memberNumber"},
	}
	if err := store.PutMatcher(ctx, ws.ID, matcher); err != nil {
		return fmt.Errorf("seed matcher: %w", err)
	}
	archive := &phi.Destination{
		ID: spareDestinationID, WorkspaceID: ws.ID, SourceID: SampleSourceID, Name: "archive webhook",
		Type: phi.DestinationWebhook, Settings: phi.DestinationSettings{URL: webhookURL},
	}
	if err := create(archive); err != nil {
		return fmt.Errorf("seed destination: %w", err)
	}
	lake := &phi.Destination{
		ID: SampleS3DestinationID, WorkspaceID: ws.ID, SourceID: SampleSourceID, Name: "sample data lake",
		Type: phi.DestinationS3, Settings: phi.DestinationSettings{RoleARN: SampleRoleARN, Bucket: SampleBucket, Region: "us-east-1", Prefix: "events/"},
	}
	if err := store.CreateDestination(ctx, lake); err != nil {
		return fmt.Errorf("seed destination: %w", err)
	}
	for _, f := range SampleProtectedFields {
		c := phi.Classification{Path: f.Path, Class: "yellow", DecidedBy: owner.ID, DecidedAt: now}
		if err := store.PutClassification(ctx, ws.ID, c); err != nil {
			return fmt.Errorf("seed classification: %w", err)
		}
	}
	dst := &phi.Destination{
		ID: SampleDestinationID, WorkspaceID: ws.ID, SourceID: SampleSourceID, Name: "sample webhook",
		Type: phi.DestinationWebhook, Enabled: true, Settings: phi.DestinationSettings{URL: webhookURL},
		Hashing: phi.HashingSettings{Enabled: true, Fields: SampleProtectedFields},
	}
	if err := create(dst); err != nil {
		return fmt.Errorf("seed destination: %w", err)
	}
	priv, err := fieldcrypt.GenerateKeyPair(fieldcrypt.HPKEP256, 0)
	if err != nil {
		return err
	}
	pub := priv.Public()
	key := &phi.Key{
		ID: SampleKeyID, WorkspaceID: ws.ID, DestinationID: SampleDestinationID,
		Kind: phi.KeyEncryption, Algorithm: string(pub.Algorithm()), Origin: phi.OriginKMS,
		PublicKeyPEM: string(pub.PEM()), Fingerprint: pub.Fingerprint(), Status: phi.KeyActive,
		CreatedAt: now, CreatedBy: owner.ID,
	}
	if err := store.PutActiveKey(ctx, key); err != nil {
		return fmt.Errorf("seed key: %w", err)
	}
	return nil
}
