package keygen_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/httpapi"
	"github.com/phiguard/phiguard/shared/jsonlog"
	"github.com/phiguard/phiguard/shared/keygen"
	"github.com/phiguard/phiguard/shared/logtest"
	"github.com/phiguard/phiguard/shared/phi"
)

// recordingKMS delegates to local-kms and keeps, for the leak test, a copy of every secret KMS
// handed out, plus the output structs themselves so a test can check the service overwrote them.
type recordingKMS struct {
	keygen.KMS
	mu       sync.Mutex
	secrets  [][]byte // copies: private key plaintexts, ciphertext blobs, random seeds, data keys
	handed   [][]byte // the very buffers handed to the service, which it must overwrite
	blobs    [][]byte // copies of the KMS ciphertext blobs of private keys
	pairs    []*kms.GenerateDataKeyPairOutput
	randoms  []*kms.GenerateRandomOutput
	dataKeys []*kms.GenerateDataKeyOutput
}

func (k *recordingKMS) GenerateDataKeyPair(ctx context.Context, in *kms.GenerateDataKeyPairInput, opts ...func(*kms.Options)) (*kms.GenerateDataKeyPairOutput, error) {
	out, err := k.KMS.GenerateDataKeyPair(ctx, in, opts...)
	if err == nil {
		k.mu.Lock()
		k.secrets = append(k.secrets, bytes.Clone(out.PrivateKeyPlaintext), bytes.Clone(out.PrivateKeyCiphertextBlob))
		k.handed = append(k.handed, out.PrivateKeyPlaintext, out.PrivateKeyCiphertextBlob)
		k.blobs = append(k.blobs, bytes.Clone(out.PrivateKeyCiphertextBlob))
		k.pairs = append(k.pairs, out)
		k.mu.Unlock()
	}
	return out, err
}

// overwritten reports whether every secret buffer KMS handed to the service is now all zeros.
func (k *recordingKMS) overwritten() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, b := range k.handed {
		for _, c := range b {
			if c != 0 {
				return false
			}
		}
	}
	return len(k.handed) > 0
}

func (k *recordingKMS) GenerateRandom(ctx context.Context, in *kms.GenerateRandomInput, opts ...func(*kms.Options)) (*kms.GenerateRandomOutput, error) {
	out, err := k.KMS.GenerateRandom(ctx, in, opts...)
	if err == nil {
		k.mu.Lock()
		k.secrets = append(k.secrets, bytes.Clone(out.Plaintext))
		k.handed = append(k.handed, out.Plaintext)
		k.randoms = append(k.randoms, out)
		k.mu.Unlock()
	}
	return out, err
}

func (k *recordingKMS) GenerateDataKey(ctx context.Context, in *kms.GenerateDataKeyInput, opts ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error) {
	out, err := k.KMS.GenerateDataKey(ctx, in, opts...)
	if err == nil {
		k.mu.Lock()
		k.secrets = append(k.secrets, bytes.Clone(out.Plaintext))
		k.handed = append(k.handed, out.Plaintext)
		k.dataKeys = append(k.dataKeys, out)
		k.mu.Unlock()
	}
	return out, err
}

// env is one test's service: its own table and CMK on the emulators, workspaces and tokens.
type env struct {
	ctx    context.Context
	ddb    *dynamodb.Client
	kms    *kms.Client
	rec    *recordingKMS
	table  string
	cmk    string
	store  *dynamo.Store
	h      http.Handler
	logs   *logtest.Buffer
	mu     sync.Mutex
	bodies [][]byte // every response body served, in order
}

// workspace is a test workspace with one destination and a token per role.
type workspace struct {
	ID, Destination             string
	Owner, Member, Readonly     string // bearer secrets
	OwnerID, MemberID, ReadonID string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	c := awstest.Clients(t)
	ctx := context.Background()
	e := &env{ctx: ctx, ddb: c.DynamoDB, kms: c.KMS, table: awstest.UniqueName("keygen"), logs: &logtest.Buffer{}}
	if err := dynamo.CreateTable(ctx, c.DynamoDB, e.table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.DynamoDB.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(e.table)}) })
	key, err := c.KMS.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("keygen test CMK")})
	if err != nil {
		t.Fatal(err)
	}
	e.cmk = *key.KeyMetadata.KeyId
	e.store = dynamo.New(c.DynamoDB, e.table)
	e.rec = &recordingKMS{KMS: c.KMS}
	logger, err := jsonlog.New(e.logs, "debug")
	if err != nil {
		t.Fatal(err)
	}
	svc := &keygen.Service{Store: e.store, KMS: e.rec, CMK: e.cmk, Logger: logger}
	api := &httpapi.KeygenAPI{Keys: svc, Audit: e.store, Auth: httpapi.InProcess{Tokens: e.store}, Idempotency: e.store, Logger: logger}
	if e.h, err = api.Handler(); err != nil {
		t.Fatal(err)
	}
	return e
}

// newWorkspace creates a workspace (eligible when tier is business and baa is true) with a
// source, a destination and owner, member and readonly tokens.
func (e *env) newWorkspace(t *testing.T, tier phi.Tier, baa bool) *workspace {
	t.Helper()
	ws := &workspace{ID: phi.NewID(phi.PrefixWorkspace), Destination: phi.NewID(phi.PrefixDestination)}
	now := time.Now().UTC()
	w := &phi.Workspace{ID: ws.ID, Name: "test", Tier: tier, BAA: phi.BAA{Signed: baa}, CreatedAt: now, UpdatedAt: now}
	if baa {
		w.BAA.SignedAt, w.BAA.SignedBy = now, "operator:test"
	}
	ws.Owner, ws.Member, ws.Readonly = phi.NewTokenSecret(), phi.NewTokenSecret(), phi.NewTokenSecret()
	owner := &phi.Token{ID: phi.NewID(phi.PrefixToken), WorkspaceID: ws.ID, Name: "owner", Role: phi.RoleOwner, CreatedAt: now, CreatedBy: "operator:test"}
	ws.OwnerID = owner.ID
	if err := e.store.CreateWorkspace(e.ctx, w, owner, phi.HashToken(ws.Owner)); err != nil {
		t.Fatal(err)
	}
	for _, tk := range []struct {
		secret string
		role   phi.Role
		id     *string
	}{{ws.Member, phi.RoleMember, &ws.MemberID}, {ws.Readonly, phi.RoleReadonly, &ws.ReadonID}} {
		tok := &phi.Token{ID: phi.NewID(phi.PrefixToken), WorkspaceID: ws.ID, Name: string(tk.role), Role: tk.role, CreatedAt: now, CreatedBy: owner.ID}
		*tk.id = tok.ID
		if err := e.store.CreateToken(e.ctx, tok, phi.HashToken(tk.secret)); err != nil {
			t.Fatal(err)
		}
	}
	src := &phi.Source{ID: phi.NewID(phi.PrefixSource), WorkspaceID: ws.ID, Name: "web", CreatedAt: now, UpdatedAt: now}
	if err := e.store.CreateSource(e.ctx, src); err != nil {
		t.Fatal(err)
	}
	dst := &phi.Destination{ID: ws.Destination, WorkspaceID: ws.ID, SourceID: src.ID, Name: "crm", Type: phi.DestinationWebhook,
		Enabled: true, Settings: phi.DestinationSettings{URL: "https://crm.example.com/hook"}, CreatedAt: now, UpdatedAt: now}
	if err := e.store.CreateDestination(e.ctx, dst); err != nil {
		t.Fatal(err)
	}
	return ws
}

// response is one served response.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// do serves one request, with headers given as name, value pairs, and records its body for the
// leak test.
func (e *env) do(method, path, token, body string, headers ...string) response {
	var rd *strings.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	var req *http.Request
	if rd != nil {
		req = httptest.NewRequest(method, path, rd)
		req.Header.Set("Content-Type", "application/json")
	} else {
		req = httptest.NewRequest(method, path, nil)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	res := response{Status: rec.Code, Header: rec.Header(), Body: bytes.Clone(rec.Body.Bytes())}
	e.mu.Lock()
	e.bodies = append(e.bodies, res.Body)
	e.mu.Unlock()
	return res
}

// must serves a request and fails the test unless it gets status want.
func (e *env) must(t *testing.T, want int, method, path, token, body string, headers ...string) response {
	t.Helper()
	res := e.do(method, path, token, body, headers...)
	if res.Status != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, res.Status, want, res.Body)
	}
	return res
}

func keysPath(ws *workspace) string {
	return "/workspaces/" + ws.ID + "/destinations/" + ws.Destination + "/keys"
}

func hmacPath(ws *workspace) string {
	return "/workspaces/" + ws.ID + "/destinations/" + ws.Destination + "/hmac-keys"
}

// generate generates a key pair through the API as the workspace owner; it is pending.
func (e *env) generate(t *testing.T, ws *workspace, body string) httpapi.GeneratedKey {
	t.Helper()
	var g httpapi.GeneratedKey
	e.must(t, http.StatusCreated, "POST", keysPath(ws), ws.Owner, body).json(t, &g)
	return g
}

// activate activates key id through the API as the owner (the console's Save) and returns it.
func (e *env) activate(t *testing.T, ws *workspace, id string) phi.Key {
	t.Helper()
	var k phi.Key
	e.must(t, http.StatusOK, "POST", keysPath(ws)+"/"+id+"/activate", ws.Owner, "").json(t, &k)
	if k.ID != id || k.Status != phi.KeyActive || k.ExpiresAt != nil {
		t.Fatalf("activated key = %+v", k)
	}
	return k
}

// generateActive generates a key pair and activates it, as an owner who saved the private key.
func (e *env) generateActive(t *testing.T, ws *workspace, body string) httpapi.GeneratedKey {
	t.Helper()
	g := e.generate(t, ws, body)
	g.Key = e.activate(t, ws, g.ID)
	return g
}

// statuses returns the status of each listed key of ws's destination, by id.
func (e *env) statuses(t *testing.T, ws *workspace) map[string]phi.KeyStatus {
	t.Helper()
	out := map[string]phi.KeyStatus{}
	for _, k := range e.listKeys(t, ws) {
		out[k.ID] = k.Status
	}
	return out
}

// listKeys lists the destination's keys as the owner.
func (e *env) listKeys(t *testing.T, ws *workspace) []phi.Key {
	t.Helper()
	var l httpapi.List[phi.Key]
	e.must(t, http.StatusOK, "GET", keysPath(ws), ws.Owner, "").json(t, &l)
	return l.Items
}
