package dynamo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/phi"
)

// newStore returns a Store on a fresh table in the emulator, deleted when the test ends.
func newStore(t *testing.T) (*Store, *dynamodb.Client, string) {
	t.Helper()
	client := awstest.Clients(t).DynamoDB
	name := awstest.UniqueName("dynamo-test")
	ctx := context.Background()
	if err := CreateTable(ctx, client, name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	return New(client, name), client, name
}

// hashOf returns the hex SHA-256 of secret, as the API computes it.
func hashOf(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// fixture is a workspace with an owner token, a source and a destination.
type fixture struct {
	ws          *phi.Workspace
	owner       *phi.Token
	ownerSecret string
	src         *phi.Source
	dst         *phi.Destination
}

func newFixture(t *testing.T, s *Store) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{
		ws:          &phi.Workspace{ID: phi.NewID(phi.PrefixWorkspace), Name: "Acme Health", Tier: phi.TierBusiness, BAA: phi.BAA{Signed: true, SignedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), SignedBy: "operator:alice"}},
		ownerSecret: "secret-" + phi.NewID(""),
	}
	f.owner = &phi.Token{ID: phi.NewID(phi.PrefixToken), Name: "first owner", Role: phi.RoleOwner, CreatedBy: "operator:alice"}
	if err := s.CreateWorkspace(ctx, f.ws, f.owner, hashOf(f.ownerSecret)); err != nil {
		t.Fatalf("CreateWorkspace: %v", err)
	}
	f.src = &phi.Source{ID: phi.NewID(phi.PrefixSource), WorkspaceID: f.ws.ID, Name: "web"}
	if err := s.CreateSource(ctx, f.src); err != nil {
		t.Fatalf("CreateSource: %v", err)
	}
	f.dst = &phi.Destination{
		ID: phi.NewID(phi.PrefixDestination), WorkspaceID: f.ws.ID, SourceID: f.src.ID, Name: "crm",
		Type: phi.DestinationWebhook, Enabled: true, Settings: phi.DestinationSettings{URL: "https://crm.example/hook"},
		Hashing: phi.HashingSettings{Enabled: true, BlockRed: true, Fields: []phi.FieldTreatment{
			{Path: "traits.email", Treatment: phi.TreatmentHMAC},
			{Path: "properties.products[].name", Treatment: phi.TreatmentEncrypt},
		}},
	}
	if err := s.CreateDestination(ctx, f.dst); err != nil {
		t.Fatalf("CreateDestination: %v", err)
	}
	return f
}

// wantCode fails the test unless err carries the application error code want.
func wantCode(t *testing.T, err error, want string) {
	t.Helper()
	if got := phi.ErrorCode(err); got != want {
		t.Fatalf("error code = %q, want %q (err: %v)", got, want, err)
	}
}

func TestCreateTableIsIdempotentAndEnablesTTL(t *testing.T) {
	_, client, name := newStore(t)
	ctx := context.Background()
	if err := CreateTable(ctx, client, name); err != nil {
		t.Fatalf("second CreateTable: %v", err)
	}
	desc, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	if got := desc.Table.TableStatus; got != "ACTIVE" {
		t.Errorf("status = %s, want ACTIVE", got)
	}
	keys := map[string]string{}
	for _, k := range desc.Table.KeySchema {
		keys[aws.ToString(k.AttributeName)] = string(k.KeyType)
	}
	if want := map[string]string{Table.PartitionKey: "HASH", Table.SortKey: "RANGE"}; !reflect.DeepEqual(keys, want) {
		t.Errorf("key schema = %v, want %v", keys, want)
	}
	ttl, err := client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	if d := ttl.TimeToLiveDescription; aws.ToString(d.AttributeName) != Table.TTLAttribute || d.TimeToLiveStatus != "ENABLED" {
		t.Errorf("TTL = %s on %q, want ENABLED on %q", d.TimeToLiveStatus, aws.ToString(d.AttributeName), Table.TTLAttribute)
	}
}

func TestWorkspaceRoundTripAndConflicts(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	f := newFixture(t, s)

	got, err := s.GetWorkspace(ctx, f.ws.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 1 || !reflect.DeepEqual(got, f.ws) {
		t.Errorf("GetWorkspace = %+v, want %+v with version 1", got, f.ws)
	}
	if !got.HIPAAEligible() {
		t.Error("business tier with signed BAA came back not eligible")
	}

	t.Run("creating the same workspace twice is a conflict", func(t *testing.T) {
		again := *f.ws
		tok := &phi.Token{ID: phi.NewID(phi.PrefixToken), Role: phi.RoleOwner}
		wantCode(t, s.CreateWorkspace(ctx, &again, tok, hashOf("other")), phi.ECONFLICT)
		if _, err := s.LookupToken(ctx, hashOf("other")); phi.ErrorCode(err) != phi.ENOTFOUND {
			t.Errorf("the failed transaction left its token behind: %v", err)
		}
	})
	t.Run("an unknown workspace is not found", func(t *testing.T) {
		_, err := s.GetWorkspace(ctx, phi.NewID(phi.PrefixWorkspace))
		wantCode(t, err, phi.ENOTFOUND)
	})
	t.Run("a malformed workspace id is not found and never reaches a key", func(t *testing.T) {
		_, err := s.GetWorkspace(ctx, f.ws.ID+"#AUDIT")
		wantCode(t, err, phi.ENOTFOUND)
	})
	t.Run("a secret passed in place of its hash is refused", func(t *testing.T) {
		w := &phi.Workspace{ID: phi.NewID(phi.PrefixWorkspace), Tier: phi.TierFree}
		tok := &phi.Token{ID: phi.NewID(phi.PrefixToken), Role: phi.RoleOwner}
		wantCode(t, s.CreateWorkspace(ctx, w, tok, "phi_live_notahash"), phi.EINVALID)
	})
	t.Run("an unknown tier is refused", func(t *testing.T) {
		w := &phi.Workspace{ID: phi.NewID(phi.PrefixWorkspace), Tier: "platinum"}
		tok := &phi.Token{ID: phi.NewID(phi.PrefixToken), Role: phi.RoleOwner}
		wantCode(t, s.CreateWorkspace(ctx, w, tok, hashOf("x")), phi.EINVALID)
	})
}

func TestUpdateWorkspaceChecksTheVersion(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	f := newFixture(t, s)

	w := *f.ws
	w.Tier = phi.TierTeam
	if err := s.UpdateWorkspace(ctx, &w); err != nil {
		t.Fatal(err)
	}
	if w.Version != 2 {
		t.Errorf("version after update = %d, want 2", w.Version)
	}
	got, _ := s.GetWorkspace(ctx, f.ws.ID)
	if got.Tier != phi.TierTeam || got.Version != 2 || got.HIPAAEligible() {
		t.Errorf("stored workspace = %+v, want team tier, version 2, not eligible", got)
	}

	stale := *f.ws // still version 1
	stale.BAA = phi.BAA{}
	wantCode(t, s.UpdateWorkspace(ctx, &stale), phi.EPRECONDITION)
	if phi.ErrorMessage(s.UpdateWorkspace(ctx, &stale)) != "version mismatch: reload and retry" {
		t.Error("version mismatch message differs from the contract")
	}

	missing := phi.Workspace{ID: phi.NewID(phi.PrefixWorkspace), Tier: phi.TierFree, Version: 1}
	wantCode(t, s.UpdateWorkspace(ctx, &missing), phi.ENOTFOUND)

	// The matcher counter on the workspace item survives an update.
	m, err := s.getItem(ctx, wsPK(f.ws.ID), skMeta)
	if err != nil || m[attrMatcherCount] == nil {
		t.Errorf("matcher count lost by UpdateWorkspace: %v %v", m, err)
	}
}

func TestAWriterThatLostTheRaceGetsPreconditionFailed(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	f := newFixture(t, s)

	for _, tt := range []struct {
		name         string
		op           string
		mine, theirs func(s *Store) error
	}{
		{"destination", "UpdateItem",
			func(s *Store) error { d := *f.dst; d.Name = "mine"; return s.UpdateDestination(ctx, &d) },
			func(s *Store) error { d := *f.dst; d.Name = "theirs"; return s.UpdateDestination(ctx, &d) }},
		{"destination moved to another source", "TransactWriteItems",
			func(s *Store) error {
				d, _ := s.GetDestination(ctx, f.ws.ID, f.dst.ID)
				other := &phi.Source{ID: phi.NewID(phi.PrefixSource), WorkspaceID: f.ws.ID}
				if err := newStoreLike(s).CreateSource(ctx, other); err != nil {
					return err
				}
				d.SourceID = other.ID
				return s.UpdateDestination(ctx, d)
			},
			func(s *Store) error {
				d, _ := s.GetDestination(ctx, f.ws.ID, f.dst.ID)
				d.Name = "theirs"
				return s.UpdateDestination(ctx, d)
			}},
		{"source", "UpdateItem",
			func(s *Store) error { src := *f.src; src.Name = "mine"; return s.UpdateSource(ctx, &src) },
			func(s *Store) error { src := *f.src; src.Name = "theirs"; return s.UpdateSource(ctx, &src) }},
		{"workspace", "UpdateItem",
			func(s *Store) error { w := *f.ws; w.Tier = phi.TierTeam; return s.UpdateWorkspace(ctx, &w) },
			func(s *Store) error { w := *f.ws; w.BAA = phi.BAA{}; return s.UpdateWorkspace(ctx, &w) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var theirs error
			racing := interleaved(t, s, tt.op, func() { theirs = tt.theirs(s) })
			mine := tt.mine(racing)
			if theirs != nil {
				t.Fatalf("the competing update failed: %v", theirs)
			}
			wantCode(t, mine, phi.EPRECONDITION)
		})
	}
	d, _ := s.GetDestination(ctx, f.ws.ID, f.dst.ID)
	if d.Name != "theirs" || d.SourceID != f.src.ID {
		t.Errorf("destination = %+v; want only the winners' changes", d)
	}
	// The lost move must not have moved the destination count either.
	wantCode(t, s.DeleteSource(ctx, f.ws.ID, f.src.ID), phi.ECONFLICT)
}

func TestDeleteSourceLosesToAConcurrentlyConnectedDestination(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	f := newFixture(t, s)
	lonely := &phi.Source{ID: phi.NewID(phi.PrefixSource), WorkspaceID: f.ws.ID}
	if err := s.CreateSource(ctx, lonely); err != nil {
		t.Fatal(err)
	}
	var theirs error
	racing := interleaved(t, s, "DeleteItem", func() {
		theirs = s.CreateDestination(ctx, &phi.Destination{ID: phi.NewID(phi.PrefixDestination), WorkspaceID: f.ws.ID, SourceID: lonely.ID})
	})
	err := racing.DeleteSource(ctx, f.ws.ID, lonely.ID)
	if theirs != nil {
		t.Fatal(theirs)
	}
	wantCode(t, err, phi.ECONFLICT)
}

func TestTokensLookupListAndRevoke(t *testing.T) {
	s, client, name := newStore(t)
	ctx := context.Background()
	f := newFixture(t, s)

	owner, err := s.LookupToken(ctx, hashOf(f.ownerSecret))
	if err != nil {
		t.Fatal(err)
	}
	if owner.ID != f.owner.ID || owner.WorkspaceID != f.ws.ID || owner.Role != phi.RoleOwner || owner.RevokedAt != nil {
		t.Errorf("owner token = %+v", owner)
	}

	member := &phi.Token{ID: phi.NewID(phi.PrefixToken), WorkspaceID: f.ws.ID, Name: "ci", Role: phi.RoleMember, CreatedBy: f.owner.ID}
	memberSecret := "secret-member"
	if err := s.CreateToken(ctx, member, hashOf(memberSecret)); err != nil {
		t.Fatal(err)
	}
	got, err := s.LookupToken(ctx, hashOf(memberSecret))
	if err != nil || !reflect.DeepEqual(got, member) {
		t.Fatalf("LookupToken = %+v, %v; want %+v", got, err, member)
	}

	list, next, err := s.ListTokens(ctx, f.ws.ID, phi.Page{})
	if err != nil || next != "" || len(list) != 2 {
		t.Fatalf("ListTokens = %d tokens, cursor %q, %v; want 2 and no cursor", len(list), next, err)
	}

	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	if err := s.RevokeToken(ctx, f.ws.ID, member.ID, at); err != nil {
		t.Fatal(err)
	}
	got, err = s.LookupToken(ctx, hashOf(memberSecret))
	if err != nil || got.RevokedAt == nil || !got.RevokedAt.Equal(at) {
		t.Fatalf("after revoke, LookupToken = %+v, %v; want RevokedAt %v", got, err, at)
	}
	if err := s.RevokeToken(ctx, f.ws.ID, member.ID, at.Add(time.Hour)); err != nil {
		t.Fatalf("revoking again: %v", err)
	}
	list, _, _ = s.ListTokens(ctx, f.ws.ID, phi.Page{})
	for _, tok := range list {
		if tok.ID == member.ID && (tok.RevokedAt == nil || !tok.RevokedAt.Equal(at)) {
			t.Errorf("listed revoked token = %+v, want the first revocation time %v", tok, at)
		}
		if tok.ID == f.owner.ID && tok.RevokedAt != nil {
			t.Error("revoking one token revoked another")
		}
	}

	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"revoking an unknown token is not found", s.RevokeToken(ctx, f.ws.ID, phi.NewID(phi.PrefixToken), at), phi.ENOTFOUND},
		{"revoking through another workspace is not found", s.RevokeToken(ctx, phi.NewID(phi.PrefixWorkspace), member.ID, at), phi.ENOTFOUND},
		{"a token for an unknown workspace is refused", s.CreateToken(ctx, &phi.Token{ID: phi.NewID(phi.PrefixToken), WorkspaceID: phi.NewID(phi.PrefixWorkspace), Role: phi.RoleMember}, hashOf("z")), phi.ENOTFOUND},
		{"a second token with the same secret is a conflict", s.CreateToken(ctx, &phi.Token{ID: phi.NewID(phi.PrefixToken), WorkspaceID: f.ws.ID, Role: phi.RoleMember}, hashOf(memberSecret)), phi.ECONFLICT},
		{"an unknown role is refused", s.CreateToken(ctx, &phi.Token{ID: phi.NewID(phi.PrefixToken), WorkspaceID: f.ws.ID, Role: "admin"}, hashOf("r")), phi.EINVALID},
	} {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, tt.err, tt.want) })
	}
	_, err = s.LookupToken(ctx, hashOf("never issued"))
	wantCode(t, err, phi.ENOTFOUND)

	// The stored items hold the hash, never the secret.
	for _, pk := range []string{wsPK(f.ws.ID), prefixTokHash + hashOf(memberSecret)} {
		out, err := client.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(name),
			KeyConditionExpression:    aws.String("pk = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pk)},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Items) == 0 {
			t.Fatalf("no items under %s", pk)
		}
		if leaks(out.Items, memberSecret) || leaks(out.Items, f.ownerSecret) {
			t.Errorf("a token secret is stored under %s", pk)
		}
	}
}

func TestSourcesPaginateWithAnOpaqueCursor(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	f := newFixture(t, s)
	want := []string{f.src.ID}
	for i := range 6 {
		src := &phi.Source{ID: phi.NewID(phi.PrefixSource), WorkspaceID: f.ws.ID, Name: fmt.Sprint("source ", i)}
		if err := s.CreateSource(ctx, src); err != nil {
			t.Fatal(err)
		}
		want = append(want, src.ID)
	}
	sortStrings(want)

	var got []string
	var sizes []int
	cursor := ""
	for range 10 {
		page, next, err := s.ListSources(ctx, f.ws.ID, phi.Page{Limit: 3, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(page))
		for _, src := range page {
			got = append(got, src.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if !reflect.DeepEqual(sizes, []int{3, 3, 1}) || !reflect.DeepEqual(got, want) {
		t.Errorf("pages of %v with ids %v, want pages [3 3 1] with %v", sizes, got, want)
	}

	_, next, _ := s.ListSources(ctx, f.ws.ID, phi.Page{Limit: 7})
	if next != "" {
		t.Errorf("a page holding exactly the last item returned cursor %q, want none", next)
	}

	if err := s.CreateDestination(ctx, &phi.Destination{ID: phi.NewID(phi.PrefixDestination), WorkspaceID: f.ws.ID, SourceID: f.src.ID}); err != nil {
		t.Fatal(err)
	}
	_, dstCursor, _ := s.ListDestinations(ctx, f.ws.ID, phi.Page{Limit: 1})
	if dstCursor == "" {
		t.Fatal("no cursor from the first page of two destinations")
	}
	other := newFixture(t, s)
	if err := s.CreateSource(ctx, &phi.Source{ID: phi.NewID(phi.PrefixSource), WorkspaceID: other.ws.ID}); err != nil {
		t.Fatal(err)
	}
	_, otherCursor, _ := s.ListSources(ctx, other.ws.ID, phi.Page{Limit: 1})
	if otherCursor == "" {
		t.Fatal("no cursor from the other workspace's first page")
	}
	for name, c := range map[string]string{
		"not base64":                     "%%%",
		"base64 of garbage":              "bm90IGpzb24",
		"unknown field":                  encodeRaw(`{"pk":"WS#` + f.ws.ID + `","sk":"SRC#x","extra":1}`),
		"another workspace's cursor":     otherCursor,
		"a cursor from another list":     dstCursor,
		"a token item's key in the list": encodeRaw(`{"pk":"WS#` + f.ws.ID + `","sk":"TOKEN#` + f.owner.ID + `"}`),
	} {
		t.Run("a cursor that is "+name+" is a bad request", func(t *testing.T) {
			_, _, err := s.ListSources(ctx, f.ws.ID, phi.Page{Cursor: c})
			wantCode(t, err, phi.EBADREQUEST)
		})
	}
}

func TestSourceAndDestinationRoundTrips(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	f := newFixture(t, s)

	src, err := s.GetSource(ctx, f.ws.ID, f.src.ID)
	if err != nil || !reflect.DeepEqual(src, f.src) {
		t.Errorf("GetSource = %+v, %v; want %+v", src, err, f.src)
	}
	dst, err := s.GetDestination(ctx, f.ws.ID, f.dst.ID)
	if err != nil || !reflect.DeepEqual(dst, f.dst) {
		t.Errorf("GetDestination = %+v, %v; want %+v", dst, err, f.dst)
	}

	dst.Hashing.Fields = append(dst.Hashing.Fields, phi.FieldTreatment{Path: "traits.phone", Treatment: phi.TreatmentSHA256})
	dst.Enabled = false
	if err := s.UpdateDestination(ctx, dst); err != nil {
		t.Fatal(err)
	}
	again, _ := s.GetDestination(ctx, f.ws.ID, f.dst.ID)
	if !reflect.DeepEqual(again, dst) || again.Version != 2 || len(again.Hashing.Fields) != 3 {
		t.Errorf("after update, GetDestination = %+v, want %+v", again, dst)
	}

	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"creating a source twice is a conflict", s.CreateSource(ctx, &phi.Source{ID: f.src.ID, WorkspaceID: f.ws.ID}), phi.ECONFLICT},
		{"a source of an unknown workspace is refused", s.CreateSource(ctx, &phi.Source{ID: phi.NewID(phi.PrefixSource), WorkspaceID: phi.NewID(phi.PrefixWorkspace)}), phi.ENOTFOUND},
		{"a source with a malformed id is refused", s.CreateSource(ctx, &phi.Source{ID: "src_1", WorkspaceID: f.ws.ID}), phi.EINVALID},
		{"creating a destination twice is a conflict", s.CreateDestination(ctx, &phi.Destination{ID: f.dst.ID, WorkspaceID: f.ws.ID, SourceID: f.src.ID}), phi.ECONFLICT},
		{"a destination of an unknown source is refused", s.CreateDestination(ctx, &phi.Destination{ID: phi.NewID(phi.PrefixDestination), WorkspaceID: f.ws.ID, SourceID: phi.NewID(phi.PrefixSource)}), phi.EINVALID},
		{"moving a destination to an unknown source is refused", func() error {
			d := *again
			d.SourceID = phi.NewID(phi.PrefixSource)
			return s.UpdateDestination(ctx, &d)
		}(), phi.EINVALID},
		{"updating an unknown destination is not found", s.UpdateDestination(ctx, &phi.Destination{ID: phi.NewID(phi.PrefixDestination), WorkspaceID: f.ws.ID, Version: 1}), phi.ENOTFOUND},
		{"updating with a stale version fails its precondition", s.UpdateDestination(ctx, f.dst), phi.EPRECONDITION},
		{"updating an unknown source is not found", s.UpdateSource(ctx, &phi.Source{ID: phi.NewID(phi.PrefixSource), WorkspaceID: f.ws.ID, Version: 1}), phi.ENOTFOUND},
		{"deleting an unknown destination is not found", s.DeleteDestination(ctx, f.ws.ID, phi.NewID(phi.PrefixDestination)), phi.ENOTFOUND},
	} {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, tt.err, tt.want) })
	}
	if _, err := s.GetSource(ctx, f.ws.ID, phi.NewID(phi.PrefixSource)); phi.ErrorCode(err) != phi.ENOTFOUND {
		t.Errorf("GetSource of an unknown source: %v", err)
	}
	if _, err := s.GetDestination(ctx, phi.NewID(phi.PrefixWorkspace), f.dst.ID); phi.ErrorCode(err) != phi.ENOTFOUND {
		t.Errorf("GetDestination through another workspace: %v", err)
	}
}

func TestDeleteSourceIsRefusedWhileADestinationIsConnected(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	f := newFixture(t, s)

	err := s.DeleteSource(ctx, f.ws.ID, f.src.ID)
	wantCode(t, err, phi.ECONFLICT)
	if _, err := s.GetSource(ctx, f.ws.ID, f.src.ID); err != nil {
		t.Fatalf("the refused delete removed the source: %v", err)
	}

	// Moving the destination moves the count.
	other := &phi.Source{ID: phi.NewID(phi.PrefixSource), WorkspaceID: f.ws.ID, Name: "app"}
	if err := s.CreateSource(ctx, other); err != nil {
		t.Fatal(err)
	}
	d := *f.dst
	d.SourceID = other.ID
	if err := s.UpdateDestination(ctx, &d); err != nil {
		t.Fatal(err)
	}
	if d.Version != 2 {
		t.Errorf("version after moving = %d, want 2", d.Version)
	}
	if err := s.DeleteSource(ctx, f.ws.ID, f.src.ID); err != nil {
		t.Fatalf("deleting the source the destination left: %v", err)
	}
	wantCode(t, s.DeleteSource(ctx, f.ws.ID, other.ID), phi.ECONFLICT)

	if err := s.DeleteDestination(ctx, f.ws.ID, f.dst.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSource(ctx, f.ws.ID, other.ID); err != nil {
		t.Fatalf("deleting a source with no destinations left: %v", err)
	}
	wantCode(t, s.DeleteSource(ctx, f.ws.ID, other.ID), phi.ENOTFOUND)
	_, err = s.GetDestination(ctx, f.ws.ID, f.dst.ID)
	wantCode(t, err, phi.ENOTFOUND)
}

// leaks reports whether any string, binary or string-set attribute of items contains secret.
func leaks(items []map[string]types.AttributeValue, secret string) bool {
	for _, m := range items {
		for _, v := range m {
			switch v := v.(type) {
			case *types.AttributeValueMemberS:
				if strings.Contains(v.Value, secret) {
					return true
				}
			case *types.AttributeValueMemberB:
				if bytes.Contains(v.Value, []byte(secret)) {
					return true
				}
			case *types.AttributeValueMemberSS:
				if slices.ContainsFunc(v.Value, func(s string) bool { return strings.Contains(s, secret) }) {
					return true
				}
			}
		}
	}
	return false
}

func sortStrings(s []string) { slices.Sort(s) }

func encodeRaw(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// newStoreLike returns a store on the same table and client as s without any interleaving.
func newStoreLike(s *Store) *Store { return New(dynamodb.New(s.client.Options()), *s.table) }

// A store failure while looking up or revoking a token names neither the token's secret nor
// the hash it is stored under: the authorizer logs these errors, and the hash is the key that
// finds the token.
func TestTokenStoreErrorsDoNotCarryTheSecretHash(t *testing.T) {
	s, client, _ := newStore(t)
	ctx := context.Background()
	f := newFixture(t, s)
	broken := New(client, awstest.UniqueName("no-such-table"))
	hash := hashOf(f.ownerSecret)
	if _, err := broken.LookupToken(ctx, hash); err == nil || phi.ErrorCode(err) != phi.EINTERNAL {
		t.Fatalf("LookupToken on a missing table = %v, want an internal error", err)
	} else if strings.Contains(err.Error(), hash) || strings.Contains(err.Error(), f.ownerSecret) {
		t.Errorf("LookupToken error carries the token's hash: %v", err)
	}
	if err := broken.RevokeToken(ctx, f.ws.ID, f.owner.ID, time.Now()); err == nil {
		t.Fatal("RevokeToken on a missing table succeeded")
	} else if strings.Contains(err.Error(), hash) {
		t.Errorf("RevokeToken error carries the token's hash: %v", err)
	}
}
