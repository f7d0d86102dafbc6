// Package workspace is the customer's side of the service as rules, independent of HTTP: a
// workspace's HIPAA eligibility, its API tokens, sources and destinations, the hashing settings
// that protect a destination's fields, the Privacy Portal (matchers, inbox, classifications) and
// the audit log — and, for platform operators, creating workspaces and setting their plan.
//
// The REST handlers (shared/httpapi) decode a request, call a Service method and encode its
// result; the console calls the same methods. Every refusal is a *phi.Error from the one
// vocabulary (EINVALID with the problems as phi.Problem details, EFORBIDDEN, ECONFLICT, …);
// store failures are wrapped and keep their code. Auditing is the caller's: a method names what
// it acts on with audit.SetTarget, in the caller's audit.Scope.
package workspace

import (
	"context"
	"fmt"
	"time"

	"github.com/phiguard/phiguard/shared/audit"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/webhook"
)

// Workspaces reads workspaces. *dynamo.Store satisfies it.
type Workspaces interface {
	// GetWorkspace returns the workspace or ENOTFOUND.
	GetWorkspace(ctx context.Context, wsID string) (*phi.Workspace, error)
}

// Tokens manages a workspace's API tokens. *dynamo.Store satisfies it.
type Tokens interface {
	CreateToken(ctx context.Context, t *phi.Token, secretHash string) error
	ListTokens(ctx context.Context, wsID string, page phi.Page) ([]phi.Token, string, error)
	// RevokeToken revokes the token; ECONFLICT when it is the workspace's last active owner
	// token.
	RevokeToken(ctx context.Context, wsID, tokenID string, at time.Time) error
}

// Sources manages a workspace's sources. *dynamo.Store satisfies it.
type Sources interface {
	CreateSource(ctx context.Context, s *phi.Source) error
	GetSource(ctx context.Context, wsID, id string) (*phi.Source, error)
	ListSources(ctx context.Context, wsID string, page phi.Page) ([]phi.Source, string, error)
	UpdateSource(ctx context.Context, s *phi.Source) error
	DeleteSource(ctx context.Context, wsID, id string) error
}

// Destinations manages a workspace's destinations and reads their key metadata (to refuse
// treatments that need a key the destination does not have). *dynamo.Store satisfies it.
type Destinations interface {
	CreateDestination(ctx context.Context, d *phi.Destination) error
	GetDestination(ctx context.Context, wsID, id string) (*phi.Destination, error)
	ListDestinations(ctx context.Context, wsID string, page phi.Page) ([]phi.Destination, string, error)
	UpdateDestination(ctx context.Context, d *phi.Destination) error
	DeleteDestination(ctx context.Context, wsID, id string) error
	ListKeys(ctx context.Context, wsID, dstID string) ([]phi.Key, error)
	// CreateSignedDestination is CreateDestination storing the destination's signing secrets
	// in the same write.
	CreateSignedDestination(ctx context.Context, d *phi.Destination, sec *phi.SigningSecrets) error
	// GetSigningSecrets returns a destination's signing secrets, or ENOTFOUND.
	GetSigningSecrets(ctx context.Context, wsID, dstID string) (*phi.SigningSecrets, error)
	// PutSigningSecrets replaces them when they are still at sec.Version (ECONFLICT
	// otherwise; ENOTFOUND without the destination) and bumps sec.Version.
	PutSigningSecrets(ctx context.Context, sec *phi.SigningSecrets) error
}

// SigningGenerator generates a webhook destination's signing secret (*webhook.Generator): the
// secret to store, holding only the key's KMS ciphertext, and the key's "whsec_…" text to
// return once.
type SigningGenerator interface {
	NewSigningSecret(ctx context.Context, wsID, dstID string) (phi.SigningSecret, []byte, error)
}

// AuditReader pages through a workspace's audit log. *dynamo.Store satisfies it.
type AuditReader interface {
	ListAudit(ctx context.Context, wsID string, from, to time.Time, page phi.Page) ([]phi.AuditRecord, string, error)
}

// Store is everything the customer's side of the service stores. *dynamo.Store satisfies it.
type Store interface {
	Workspaces
	Tokens
	Sources
	Destinations
	Privacy
	AuditReader
	Snapshots
}

// Service applies the rules of a customer's workspace. Its methods take the workspace id the
// caller was authenticated for (workspace scoping and role checks are the caller's).
type Service struct {
	Store Store
	// Webhooks decides which webhook URLs a destination may be given. Its zero value is the
	// production policy: https only, the host resolved with net.DefaultResolver, every address
	// public. A local server lists its receiver's IP:port in LocalTargets
	// (webhook.PolicyFromEnv of stack.EnvLocalWebhookTargets); tests inject a Resolver, since a
	// name that does not resolve is refused.
	Webhooks webhook.Policy
	// Tester writes an AWS destination's test record (*awsdest.Senders); nil refuses tests.
	Tester Tester
	// AssumingRoles are the ARNs of the service's roles that assume customer roles (the delivery
	// and config functions'), the principals of an access policy's trust policy
	// (stack.EnvAssumingRoleARNs); empty refuses access policies.
	AssumingRoles []string
	// Signing generates webhook destinations' signing secrets; creating or rotating one fails
	// without it.
	Signing SigningGenerator
	// Now is the service's clock; time.Now when nil.
	Now func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC()
	}
	return s.Now().UTC()
}

// MaxPageLimit is the page a rule that reads every page asks for: phi.MaxPageLimit.
const MaxPageLimit = phi.MaxPageLimit

// wrap adds context to a store error while keeping its *phi.Error for the caller.
func wrap(err error, format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, err)...)
}

// Workspace returns the workspace wsID, or the store's error, wrapped (ENOTFOUND when absent).
func (s *Service) Workspace(ctx context.Context, wsID string) (*phi.Workspace, error) {
	ws, err := s.Store.GetWorkspace(ctx, wsID)
	if err != nil {
		return nil, wrap(err, "get workspace")
	}
	return ws, nil
}

// ---- tokens ----

// TokenInput is what a new token is made of.
type TokenInput struct {
	Name string   `json:"name"`
	Role phi.Role `json:"role"`
}

// ListTokens returns a page of the workspace's tokens (never their secrets).
func (s *Service) ListTokens(ctx context.Context, wsID string, page phi.Page) ([]phi.Token, string, error) {
	toks, next, err := s.Store.ListTokens(ctx, wsID, page)
	if err != nil {
		return nil, "", wrap(err, "list tokens")
	}
	return toks, next, nil
}

// CreateToken creates a token in a's workspace and returns it with its secret, which exists
// nowhere else (only its hash is stored). Bad input is EINVALID listing each problem.
func (s *Service) CreateToken(ctx context.Context, a phi.Actor, in TokenInput) (*phi.Token, string, error) {
	problems := phi.CheckName("name", in.Name)
	if !in.Role.Valid() {
		problems = append(problems, phi.Problem{Field: "role", Reason: `use "owner", "member" or "readonly"`})
	}
	if err := phi.Invalid(problems); err != nil {
		return nil, "", err
	}
	tok := &phi.Token{
		ID: phi.NewID(phi.PrefixToken), WorkspaceID: a.WorkspaceID, Name: in.Name, Role: in.Role,
		CreatedAt: s.now(), CreatedBy: a.ID,
	}
	audit.SetTarget(ctx, "tokens/"+tok.ID)
	secret := phi.NewTokenSecret()
	if err := s.Store.CreateToken(ctx, tok, phi.HashToken(secret)); err != nil {
		return nil, "", wrap(err, "create token %s", tok.ID)
	}
	return tok, secret, nil
}

// RevokeToken revokes tokenID. The store refuses (ECONFLICT) to revoke the workspace's last
// active owner token, as a condition of the write itself, so that owners revoking each other's
// tokens at the same instant cannot lock the workspace out: only owners reach the Privacy Portal,
// keys, tokens and audit log, and no customer route could let them back in.
func (s *Service) RevokeToken(ctx context.Context, wsID, tokenID string) error {
	if err := s.Store.RevokeToken(ctx, wsID, tokenID, s.now()); err != nil {
		return wrap(err, "revoke token %s", tokenID)
	}
	return nil
}

// ---- sources ----

// SourceInput is what a source is made of.
type SourceInput struct {
	Name string `json:"name"`
}

// ListSources returns a page of the workspace's sources.
func (s *Service) ListSources(ctx context.Context, wsID string, page phi.Page) ([]phi.Source, string, error) {
	srcs, next, err := s.Store.ListSources(ctx, wsID, page)
	if err != nil {
		return nil, "", wrap(err, "list sources")
	}
	return srcs, next, nil
}

// CreateSource creates a source; a bad name is EINVALID.
func (s *Service) CreateSource(ctx context.Context, wsID string, in SourceInput) (*phi.Source, error) {
	if err := phi.Invalid(phi.CheckName("name", in.Name)); err != nil {
		return nil, err
	}
	now := s.now()
	src := &phi.Source{ID: phi.NewID(phi.PrefixSource), WorkspaceID: wsID, Name: in.Name, CreatedAt: now, UpdatedAt: now}
	if err := s.Store.CreateSource(ctx, src); err != nil {
		return nil, wrap(err, "create source")
	}
	return src, nil
}

// Source returns one source, or ENOTFOUND.
func (s *Service) Source(ctx context.Context, wsID, id string) (*phi.Source, error) {
	src, err := s.Store.GetSource(ctx, wsID, id)
	if err != nil {
		return nil, wrap(err, "get source %s", id)
	}
	return src, nil
}

// ValidSource checks a source's input before anything is read (EINVALID), so that bad input is
// refused before a missing or stale version is.
func ValidSource(in SourceInput) error { return phi.Invalid(phi.CheckName("name", in.Name)) }

// UpdateSource renames source id, whose stored version must be version (else EPRECONDITION;
// phi.AnyVersion replaces whatever version is current).
func (s *Service) UpdateSource(ctx context.Context, wsID, id string, version int64, in SourceInput) (*phi.Source, error) {
	if err := ValidSource(in); err != nil {
		return nil, err
	}
	src, err := s.Source(ctx, wsID, id)
	if err != nil {
		return nil, err
	}
	src.Name = in.Name
	if version != phi.AnyVersion {
		src.Version = version
	}
	if err := s.Store.UpdateSource(ctx, src); err != nil {
		return nil, wrap(err, "update source %s", id)
	}
	return src, nil
}

// DeleteSource deletes source id (ENOTFOUND when absent).
func (s *Service) DeleteSource(ctx context.Context, wsID, id string) error {
	if err := s.Store.DeleteSource(ctx, wsID, id); err != nil {
		return wrap(err, "delete source %s", id)
	}
	return nil
}
