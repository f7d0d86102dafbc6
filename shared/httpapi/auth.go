package httpapi

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/phiguard/phiguard/shared/audit"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

// EnvLocalOperatorSecret names the environment variable that holds the operator credential of
// a local server (`make dev`, tests). In AWS, operator routes are IAM-authorized by API Gateway
// and this variable must be unset. Locally an operator sends "Authorization: Bearer <secret>"
// on /operator routes; it is compared in constant time and must be at least 32 characters.
const EnvLocalOperatorSecret = "PHI_LOCAL_OPERATOR_SECRET"

// TokenLookup finds a token by the hash of its secret. *dynamo.Store satisfies it.
type TokenLookup interface {
	// LookupToken returns the token whose secret hashes to secretHash (revoked tokens included,
	// with RevokedAt set), or a phi.ENOTFOUND error.
	LookupToken(ctx context.Context, secretHash string) (*phi.Token, error)
}

var errNoCredentials = phi.Errorf(phi.EUNAUTHORIZED, "send Authorization: Bearer <token>")

// BearerToken returns the credential of an "Authorization: Bearer <token>" header value, or
// an EUNAUTHORIZED error when it is missing or malformed.
func BearerToken(header string) (string, error) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", errNoCredentials
	}
	token = strings.TrimSpace(token)
	if token == "" || len(token) > 512 {
		return "", errNoCredentials
	}
	return token, nil
}

// LookupActor authenticates a bearer token against the store: the one code path shared by the
// API Gateway authorizer and the in-process authenticator of a local server. An unknown or
// revoked token is EUNAUTHORIZED (the two are indistinguishable to the caller); a store failure
// is returned wrapped (fail closed). The secret itself never appears in any error.
func LookupActor(ctx context.Context, tokens TokenLookup, bearer string) (phi.Actor, error) {
	tok, err := tokens.LookupToken(ctx, phi.HashToken(bearer))
	switch {
	case phi.ErrorCode(err) == phi.ENOTFOUND:
		return phi.Actor{}, phi.Errorf(phi.EUNAUTHORIZED, "the token is unknown or revoked")
	case err != nil:
		return phi.Actor{}, fmt.Errorf("look up token: %w", err)
	case tok.RevokedAt != nil:
		return phi.Actor{}, phi.Errorf(phi.EUNAUTHORIZED, "the token is unknown or revoked")
	case !tok.Role.Valid() || !phi.ValidID(phi.PrefixToken, tok.ID) || !phi.ValidID(phi.PrefixWorkspace, tok.WorkspaceID):
		return phi.Actor{}, fmt.Errorf("look up token: stored token %s is malformed", tok.ID)
	}
	return phi.Actor{ID: tok.ID, WorkspaceID: tok.WorkspaceID, Role: tok.Role}, nil
}

// Authenticator identifies the caller of a request on a route of the given kind. It returns an
// EUNAUTHORIZED error when the request carries no valid credential of that kind, and any other
// error when it could not decide (the request then fails closed with 500).
type Authenticator interface {
	Authenticate(r *http.Request, kind stack.Auth) (phi.Actor, error)
}

// AuthenticatorFunc adapts a function to an Authenticator.
type AuthenticatorFunc func(r *http.Request, kind stack.Auth) (phi.Actor, error)

// Authenticate calls f.
func (f AuthenticatorFunc) Authenticate(r *http.Request, kind stack.Auth) (phi.Actor, error) {
	return f(r, kind)
}

// Gateway authenticates requests that arrived through API Gateway (see Lambda): token routes
// trust the context the authorizer function attached (workspaceId, tokenId, role); operator
// routes trust the IAM caller API Gateway verified (requestContext.identity.userArn), named by its
// pseudonym (phi.OperatorPseudonym). Anything
// else — a request without gateway context, or a token route without authorizer context — is
// EUNAUTHORIZED, so a misconfigured route fails closed.
type Gateway struct{}

// Authenticate implements Authenticator.
func (Gateway) Authenticate(r *http.Request, kind stack.Auth) (phi.Actor, error) {
	gw, ok := gatewayContext(r.Context())
	if !ok {
		return phi.Actor{}, errNoCredentials
	}
	switch kind {
	case stack.AuthOperator:
		if len(gw.Authorizer) > 0 {
			return phi.Actor{}, phi.Errorf(phi.EUNAUTHORIZED, "operator routes need an operator's IAM credentials")
		}
		principal := gw.Identity.UserArn
		if principal == "" {
			return phi.Actor{}, phi.Errorf(phi.EUNAUTHORIZED, "operator routes need an operator's IAM credentials")
		}
		return phi.Actor{ID: phi.OperatorPseudonym(principal), Operator: true, Principal: principal}, nil
	case stack.AuthToken:
		a, err := actorFromAuthorizer(gw.Authorizer)
		if err != nil {
			return phi.Actor{}, err
		}
		return a, nil
	}
	return phi.Actor{}, fmt.Errorf("authenticate: unknown route auth kind %q", kind)
}

// Authorizer context keys, set by the authorizer function and read by the handlers.
const (
	ContextWorkspaceID = "workspaceId"
	ContextTokenID     = "tokenId"
	ContextRole        = "role"
)

func actorFromAuthorizer(m map[string]any) (phi.Actor, error) {
	str := func(k string) string { s, _ := m[k].(string); return s }
	a := phi.Actor{ID: str(ContextTokenID), WorkspaceID: str(ContextWorkspaceID), Role: phi.Role(str(ContextRole))}
	if a.ID == "" && a.WorkspaceID == "" {
		return phi.Actor{}, errNoCredentials
	}
	if !phi.ValidID(phi.PrefixToken, a.ID) || !phi.ValidID(phi.PrefixWorkspace, a.WorkspaceID) || !a.Role.Valid() {
		return phi.Actor{}, errors.New("authenticate: authorizer context is malformed")
	}
	return a, nil
}

// InProcess authenticates requests in the process itself, for a local server and tests: token
// routes look the bearer token up with LookupActor (the authorizer function's own code path);
// operator routes compare the bearer credential with OperatorSecret in constant time. An empty
// OperatorSecret disables operator access entirely.
type InProcess struct {
	Tokens         TokenLookup
	OperatorSecret string
}

// Authenticate implements Authenticator.
func (a InProcess) Authenticate(r *http.Request, kind stack.Auth) (phi.Actor, error) {
	bearer, err := BearerToken(r.Header.Get("Authorization"))
	if err != nil {
		return phi.Actor{}, err
	}
	switch kind {
	case stack.AuthOperator:
		if len(a.OperatorSecret) < 32 ||
			subtle.ConstantTimeCompare([]byte(bearer), []byte(a.OperatorSecret)) != 1 {
			return phi.Actor{}, phi.Errorf(phi.EUNAUTHORIZED, "operator routes need the operator credential")
		}
		return phi.Actor{ID: "operator:local", Operator: true}, nil
	case stack.AuthToken:
		return LookupActor(r.Context(), a.Tokens, bearer)
	}
	return phi.Actor{}, fmt.Errorf("authenticate: unknown route auth kind %q", kind)
}

// Authorizer is the API Gateway REQUEST authorizer for token routes.
type Authorizer struct {
	Tokens TokenLookup
	// Logger records decisions (request id and token id only); nil discards.
	Logger *slog.Logger
}

// Authorize checks the request's bearer token. A missing, malformed, unknown or revoked token
// returns the error "Unauthorized", which API Gateway answers with 401. A store failure returns
// another error, which API Gateway answers with 500 (fail closed). An accepted token gets an
// Allow policy for every method of the API's stage — the decision may be cached by token, and
// workspace scoping and roles are enforced by the handlers — and the context
// {workspaceId, tokenId, role}.
func (a Authorizer) Authorize(ctx context.Context, req events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	logger := a.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	header := headerValue(req.Headers, "Authorization")
	if header == "" {
		for k, vs := range req.MultiValueHeaders {
			if strings.EqualFold(k, "Authorization") && len(vs) > 0 {
				header = vs[0]
			}
		}
	}
	bearer, err := BearerToken(header)
	if err != nil {
		logger.InfoContext(ctx, "authorizer refused", "requestId", req.RequestContext.RequestID, "reason", "no bearer token")
		return events.APIGatewayCustomAuthorizerResponse{}, errors.New("Unauthorized")
	}
	actor, err := LookupActor(ctx, a.Tokens, bearer)
	if phi.ErrorCode(err) == phi.EUNAUTHORIZED {
		logger.InfoContext(ctx, "authorizer refused", "requestId", req.RequestContext.RequestID, "reason", "unknown or revoked token")
		return events.APIGatewayCustomAuthorizerResponse{}, errors.New("Unauthorized")
	}
	if err != nil {
		logger.ErrorContext(ctx, "authorizer failed", "requestId", req.RequestContext.RequestID, "error", err.Error())
		return events.APIGatewayCustomAuthorizerResponse{}, fmt.Errorf("authorize: %w", err)
	}
	logger.InfoContext(ctx, "authorizer allowed", "requestId", req.RequestContext.RequestID, "actor", actor.ID, "workspace", actor.WorkspaceID)
	return events.APIGatewayCustomAuthorizerResponse{
		PrincipalID: actor.ID,
		PolicyDocument: events.APIGatewayCustomAuthorizerPolicy{
			Version: "2012-10-17",
			Statement: []events.IAMPolicyStatement{{
				Action:   []string{"execute-api:Invoke"},
				Effect:   "Allow",
				Resource: []string{stageWildcard(req.MethodArn)},
			}},
		},
		Context: map[string]any{
			ContextWorkspaceID: actor.WorkspaceID,
			ContextTokenID:     actor.ID,
			ContextRole:        string(actor.Role),
		},
	}, nil
}

// stageWildcard turns arn:aws:execute-api:region:account:api/stage/METHOD/path into
// arn:aws:execute-api:region:account:api/stage/*/*.
func stageWildcard(methodARN string) string {
	parts := strings.SplitN(methodARN, "/", 3)
	if len(parts) < 2 {
		return methodARN
	}
	return parts[0] + "/" + parts[1] + "/*/*"
}

type ctxKey int

const (
	actorKey ctxKey = iota
	gatewayKey
)

// ActorFrom returns the authenticated caller the router attached to ctx, and false outside a
// routed request.
func ActorFrom(ctx context.Context) (phi.Actor, bool) {
	a, ok := ctx.Value(actorKey).(phi.Actor)
	return a, ok
}

// WithActor returns ctx carrying actor (for handlers invoked without the router, in tests).
func WithActor(ctx context.Context, actor phi.Actor) context.Context {
	return context.WithValue(ctx, actorKey, actor)
}

// RequestID returns the request id of ctx: API Gateway's request id under Lambda, a generated
// one otherwise; "" outside a routed request.
func RequestID(ctx context.Context) string { return audit.RequestID(ctx) }

// RoutePattern returns the route (for example "GET /workspaces/{workspaceId}") that matched r,
// for logs: it names no caller-controlled text.
func RoutePattern(r *http.Request) string {
	if i := info(r.Context()); i.route != "" {
		return i.route
	}
	return r.Pattern
}

// RequireRole returns nil when actor's role is at least min, and an EFORBIDDEN error naming the
// role needed otherwise. Operators hold no workspace role.
func RequireRole(actor phi.Actor, min phi.Role) error {
	if rank(actor.Role) >= rank(min) && rank(min) > 0 {
		return nil
	}
	return phi.Errorf(phi.EFORBIDDEN, "this needs the %s role in the workspace", min)
}

func rank(r phi.Role) int {
	switch r {
	case phi.RoleOwner:
		return 3
	case phi.RoleMember:
		return 2
	case phi.RoleReadonly:
		return 1
	}
	return 0
}

// AuthOf returns a, or Gateway{} — API Gateway's authentication, what every deployed API
// function uses — when a is nil.
func AuthOf(a Authenticator) Authenticator {
	if a == nil {
		return Gateway{}
	}
	return a
}
