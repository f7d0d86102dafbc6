// Package stack defines, once and in plain Go, the names that the deployed service and its
// functions share: the Lambda functions, the environment variables that carry resource names,
// and the REST API's route table. The CDK app in infra/ and every function import it, so the two
// cannot drift apart. It must never import the CDK.
package stack

import (
	"strings"

	"github.com/phiguard/phiguard/shared/phi"
)

// Function names; each is also the folder functions/<name> and the asset build/<name>/bootstrap.
const (
	FunctionOperator   = "operator"   // platform-operator routes (IAM-authorized): workspaces, tier, BAA
	FunctionConfig     = "config"     // customer config API: workspace, tokens, sources, destinations, privacy, audit
	FunctionKeygen     = "keygen"     // key generation: returns private keys once, never stores them
	FunctionAuthorizer = "authorizer" // API Gateway Lambda authorizer for bearer tokens
	FunctionHashing    = "hashing"    // SQS-triggered pipeline: protects events, fans out to SNS
	FunctionDelivery   = "delivery"   // example destination consumer: POSTs copies to webhooks
	FunctionConsole    = "console"    // the web console: server-rendered pages over the same domain services
)

// Functions lists every function, in a stable order.
var Functions = []string{
	FunctionOperator, FunctionConfig, FunctionKeygen, FunctionAuthorizer, FunctionHashing, FunctionDelivery,
	FunctionConsole,
}

// Environment variables that carry resource names into the functions. A function whose required
// variable is missing fails its cold start with a message naming the variable.
const (
	EnvTable            = "PHI_TABLE_NAME"         // the DynamoDB table
	EnvKMSKeyID         = "PHI_KMS_KEY_ID"         // the service's customer-managed KMS key (id, ARN or alias)
	EnvTopicARN         = "PHI_TOPIC_ARN"          // the SNS fan-out topic
	EnvRejectedQueueURL = "PHI_REJECTED_QUEUE_URL" // permanent pipeline failures, with a reason attribute
	EnvLogLevel         = "PHI_LOG_LEVEL"          // debug, info (default), warn, error
	EnvConfigCacheTTL   = "PHI_CONFIG_CACHE_TTL"   // pipeline: Go duration, default 30s
	// delivery (re-schedules failed copies on it) and config (replays dead letters onto it):
	// the webhook delivery queue, subscribed to the fan-out topic.
	EnvDeliveryQueueURL = "PHI_DELIVERY_QUEUE_URL"
	// delivery (dead-letters copies on it) and config (counts and replays them): the webhook
	// delivery queue's dead-letter queue.
	EnvDeliveryDLQURL = "PHI_DELIVERY_DLQ_URL"
	// pipeline: "pack" (default, empty) packs the copies of an invocation for one destination
	// into as few SNS messages as fit (shared/pack); "single" publishes each copy on its own, as
	// earlier releases did (the end-to-end benchmark measures both).
	EnvFanOutFormat = "PHI_FANOUT_FORMAT"
	// config, console: comma-separated ARNs of the service's roles that assume customer roles (the
	// delivery, config and console functions'), the principals of an AWS destination's trust policy.
	EnvAssumingRoleARNs = "PHI_ASSUMING_ROLE_ARNS"
	// config and delivery, local development only: comma-separated loopback IP:port pairs
	// (127.0.0.1:3001,…) that webhooks may reach besides public addresses, over https or http;
	// deployed stacks leave it empty (webhook.PolicyFromEnv).
	EnvLocalWebhookTargets = "PHI_LOCAL_WEBHOOK_TARGETS"
	// console, local development only: "true" lets the console serve plain http on a loopback
	// host (http://127.0.0.1:3000/console/) with cookies that are not Secure and without HSTS;
	// deployed stacks leave it empty, and the console then refuses anything but https.
	EnvConsoleLocalHTTP = "PHI_CONSOLE_LOCAL_HTTP"
)

// EnvAuditSigningKeyID names the audit signing key (id, ARN or alias): the asymmetric KMS key
// (ECC_NIST_P256, SIGN_VERIFY) whose signatures checkpoint each workspace's audit chain. Only
// the functions that verify and export the chain (config, console) may sign with it.
const EnvAuditSigningKeyID = "PHI_AUDIT_SIGNING_KEY_ID"

// EndpointVars are the AWS SDK's own variables that point the functions' clients at local
// emulators (moto, local-kms). Deployed functions never set them, so the SDK talks to AWS; the
// local tools set all four, and a template synthesized for SAM declares them (empty) so that
// `sam local --env-vars` may set them: SAM only overrides variables a template declares.
var EndpointVars = []string{
	"AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_SNS", "AWS_ENDPOINT_URL_KMS",
	// The AWS destination types (shared/awsdest): the customer's role and resources.
	"AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_FIREHOSE", "AWS_ENDPOINT_URL_EVENTBRIDGE",
}

// Auth says how API Gateway authorizes a route.
type Auth string

// Route authorization kinds.
const (
	AuthToken    Auth = "token" // Authorization: Bearer <token>, checked by the authorizer function
	AuthOperator Auth = "iam"   // SigV4-signed by a platform operator's IAM principal
	// AuthSession routes are passed through by API Gateway without an authorizer: the function
	// authenticates each request itself (the console's session cookie, checked against the
	// token it was opened with on every request).
	AuthSession Auth = "session"
)

// Route is one REST API route: everything API Gateway (infra), the routers and the audit log
// need to know about it. Handlers are registered by Route value (httpapi.Router.Handle), so
// adding a route is one row here, listed in Routes, and one handler.
type Route struct {
	// Method is an HTTP method, or "ANY" for a session route that serves every method.
	Method string
	// Path uses API Gateway's template syntax ({param}, and {proxy+} for everything below a
	// session route's prefix).
	Path     string
	Function string
	Auth     Auth
	// Role is the least workspace role a token needs; empty for operator routes.
	Role phi.Role
	// Action, when set, makes every call of the route — allowed, denied or failed — append an
	// audit record with this action before the response leaves.
	Action string
}

// Key returns "METHOD /path", the route's name in net/http patterns, logs and tests.
func (r Route) Key() string { return r.Method + " " + r.Path }

// The routes. Owners alone reach the Privacy Portal, hashing settings, keys, tokens and the
// audit log; members manage sources and destinations (without hashing settings, which the
// destination handlers enforce on the body); readonly reads workspace, sources and
// destinations (without hashing settings).
var (
	RouteCreateWorkspace      = Route{Method: "POST", Path: "/operator/workspaces", Function: FunctionOperator, Auth: AuthOperator, Action: "workspace.create"}
	RouteOperatorGetWorkspace = Route{Method: "GET", Path: "/operator/workspaces/{workspaceId}", Function: FunctionOperator, Auth: AuthOperator, Action: "workspace.read"}
	RouteUpdatePlan           = Route{Method: "PUT", Path: "/operator/workspaces/{workspaceId}/plan", Function: FunctionOperator, Auth: AuthOperator, Action: "workspace.plan.update"}
	// RouteIssueOwnerToken gives a workspace whose owners lost every owner token a new one.
	RouteIssueOwnerToken = Route{Method: "POST", Path: "/operator/workspaces/{workspaceId}/owner-tokens", Function: FunctionOperator, Auth: AuthOperator, Action: "token.recover"}
	// The workspace lifecycle (docs/HIPAA.md, "Offboarding"): closing revokes every token and
	// key and makes the pipeline reject the workspace's events; reopening, during the grace
	// period, issues a new owner token; purging, after it, deletes the configuration and keeps
	// the audit trail.
	RouteCloseWorkspace  = Route{Method: "POST", Path: "/operator/workspaces/{workspaceId}/close", Function: FunctionOperator, Auth: AuthOperator, Action: "workspace.close"}
	RouteReopenWorkspace = Route{Method: "POST", Path: "/operator/workspaces/{workspaceId}/reopen", Function: FunctionOperator, Auth: AuthOperator, Action: "workspace.reopen"}
	RoutePurgeWorkspace  = Route{Method: "POST", Path: "/operator/workspaces/{workspaceId}/purge", Function: FunctionOperator, Auth: AuthOperator, Action: "workspace.purge"}

	// RouteCatalog lists the destination types (shared/catalog); any workspace token may read it.
	RouteCatalog = Route{Method: "GET", Path: "/catalog", Function: FunctionConfig, Auth: AuthToken, Role: phi.RoleReadonly}
	// RouteExportWorkspace is the owner's export of the whole configuration, before leaving.
	RouteExportWorkspace = Route{Method: "GET", Path: "/workspaces/{workspaceId}/export", Function: FunctionConfig, Auth: AuthToken, Role: phi.RoleOwner, Action: "workspace.export"}

	RouteGetWorkspace      = Route{Method: "GET", Path: "/workspaces/{workspaceId}", Function: FunctionConfig, Auth: AuthToken, Role: phi.RoleReadonly, Action: "workspace.read"}
	RouteListTokens        = Route{Method: "GET", Path: "/workspaces/{workspaceId}/tokens", Function: FunctionConfig, Auth: AuthToken, Role: phi.RoleOwner, Action: "token.list"}
	RouteCreateToken       = Route{Method: "POST", Path: "/workspaces/{workspaceId}/tokens", Function: FunctionConfig, Auth: AuthToken, Role: phi.RoleOwner, Action: "token.create"}
	RouteRevokeToken       = Route{Method: "DELETE", Path: "/workspaces/{workspaceId}/tokens/{tokenId}", Function: FunctionConfig, Auth: AuthToken, Role: phi.RoleOwner, Action: "token.revoke"}
	RouteListSources       = Route{Method: "GET", Path: "/workspaces/{workspaceId}/sources", Function: FunctionConfig, Auth: AuthToken, Role: phi.RoleReadonly}
	RouteCreateSource      = Route{Method: "POST", Path: "/workspaces/{workspaceId}/sources", Function: FunctionConfig, Auth: AuthToken, Role: phi.RoleMember}
	RouteGetSource         = Route{Method: "GET", Path: "/workspaces/{workspaceId}/sources/{sourceId}", Function: FunctionConfig, Auth: AuthToken, Role: phi.RoleReadonly}
	RouteUpdateSource      = Route{Method: "PUT", Path: "/workspaces/{workspaceId}/sources/{sourceId}", Function: FunctionConfig, Auth: AuthToken, Role: phi.RoleMember}
	RouteDeleteSource      = Route{Method: "DELETE", Path: "/workspaces/{workspaceId}/sources/{sourceId}", Function: FunctionConfig, Auth: AuthToken, Role: phi.RoleMember}
	RouteListDestinations  = Route{Method: "GET", Path: "/workspaces/{workspaceId}/destinations", Function: FunctionConfig, Auth: AuthToken, Role: phi.RoleReadonly, Action: "destination.list"}
	RouteCreateDestination = Route{Method: "POST", Path: "/workspaces/{workspaceId}/destinations", Function: FunctionConfig, Auth: AuthToken, Role: phi.RoleMember, Action: "destination.create"}
	RouteGetDestination    = Route{Method: "GET", Path: "/workspaces/{workspaceId}/destinations/{destinationId}", Function: FunctionConfig, Auth: AuthToken, Role: phi.RoleReadonly, Action: "destination.read"}
	RouteUpdateDestination = Route{Method: "PUT", Path: "/workspaces/{workspaceId}/destinations/{destinationId}", Function: FunctionConfig, Auth: AuthToken, Role: phi.RoleMember, Action: "destination.update"}
	RouteDeleteDestination = Route{Method: "DELETE", Path: "/workspaces/{workspaceId}/destinations/{destinationId}", Function: FunctionConfig, Auth: AuthToken, Role: phi.RoleMember, Action: "destination.delete"}
	// Dead letters of a destination's deliveries: their count by reason, and their replay back
	// to the delivery queue (shared/delivery.DeadLetters).
	RouteCountDeadLetters  = Route{Method: "GET", Path: "/workspaces/{workspaceId}/destinations/{destinationId}/dead-letters", Function: FunctionConfig, Auth: AuthToken, Role: phi.RoleOwner, Action: "destination.deadletters.read"}
	RouteReplayDeadLetters = Route{Method: "POST", Path: "/workspaces/{workspaceId}/destinations/{destinationId}/dead-letters/replay", Function: FunctionConfig, Auth: AuthToken, Role: phi.RoleOwner, Action: "destination.deadletters.replay"}
	// RouteGetAccessPolicy gives the trust and permissions policies of an AWS destination's role;
	// RouteTestDestination assumes it and writes one test record.
	RouteGetAccessPolicy = Route{Method: "GET", Path: "/workspaces/{workspaceId}/destinations/{destinationId}/access-policy", Function: FunctionConfig, Auth: AuthToken, Role: phi.RoleReadonly, Action: "destination.access-policy.read"}
	RouteTestDestination = Route{Method: "POST", Path: "/workspaces/{workspaceId}/destinations/{destinationId}/test", Function: FunctionConfig, Auth: AuthToken, Role: phi.RoleOwner, Action: "destination.test"}
	// RouteRotateSigningSecret gives a webhook destination a new signing secret, returned once;
	// the replaced one keeps signing beside it for the requested overlap.
	RouteRotateSigningSecret = Route{Method: "POST", Path: "/workspaces/{workspaceId}/destinations/{destinationId}/signing-secret/rotate", Function: FunctionConfig, Auth: AuthToken, Role: phi.RoleMember, Action: "destination.signing-secret.rotate"}
	RouteUpdateHashing       = Route{Method: "PUT", Path: "/workspaces/{workspaceId}/destinations/{destinationId}/hashing", Function: FunctionConfig, Auth: AuthToken, Role: phi.RoleOwner, Action: "destination.hashing.update"}
	RouteListMatchers        = Route{Method: "GET", Path: "/workspaces/{workspaceId}/privacy/matchers", Function: FunctionConfig, Auth: AuthToken, Role: phi.RoleOwner, Action: "privacy.matcher.list"}
	RouteCreateMatcher       = Route{Method: "POST", Path: "/workspaces/{workspaceId}/privacy/matchers", Function: FunctionConfig, Auth: AuthToken, Role: phi.RoleOwner, Action: "privacy.matcher.create"}
	RouteDeleteMatcher       = Route{Method: "DELETE", Path: "/workspaces/{workspaceId}/privacy/matchers/{matcherId}", Function: FunctionConfig, Auth: AuthToken, Role: phi.RoleOwner, Action: "privacy.matcher.delete"}
	RouteListInbox           = Route{Method: "GET", Path: "/workspaces/{workspaceId}/privacy/inbox", Function: FunctionConfig, Auth: AuthToken, Role: phi.RoleOwner, Action: "privacy.inbox.read"}
	RouteListClassifications = Route{Method: "GET", Path: "/workspaces/{workspaceId}/privacy/classifications", Function: FunctionConfig, Auth: AuthToken, Role: phi.RoleOwner, Action: "privacy.classification.read"}
	RoutePutClassifications  = Route{Method: "PUT", Path: "/workspaces/{workspaceId}/privacy/classifications", Function: FunctionConfig, Auth: AuthToken, Role: phi.RoleOwner, Action: "privacy.classification.update"}
	RouteListAudit           = Route{Method: "GET", Path: "/workspaces/{workspaceId}/audit", Function: FunctionConfig, Auth: AuthToken, Role: phi.RoleOwner, Action: "audit.read"}
	// RouteVerifyAudit checks the workspace's audit chain (and checkpoints it when intact);
	// RouteExportAudit returns it as NDJSON for an auditor to verify offline (docs/AUDIT.md).
	RouteVerifyAudit = Route{Method: "GET", Path: "/workspaces/{workspaceId}/audit/verify", Function: FunctionConfig, Auth: AuthToken, Role: phi.RoleOwner, Action: "audit.verify"}
	RouteExportAudit = Route{Method: "GET", Path: "/workspaces/{workspaceId}/audit/export", Function: FunctionConfig, Auth: AuthToken, Role: phi.RoleOwner, Action: "audit.export"}

	RouteListKeys        = Route{Method: "GET", Path: "/workspaces/{workspaceId}/destinations/{destinationId}/keys", Function: FunctionKeygen, Auth: AuthToken, Role: phi.RoleOwner, Action: "key.list"}
	RouteGenerateKeyPair = Route{Method: "POST", Path: "/workspaces/{workspaceId}/destinations/{destinationId}/keys", Function: FunctionKeygen, Auth: AuthToken, Role: phi.RoleOwner, Action: "key.generate"}
	RouteImportKey       = Route{Method: "POST", Path: "/workspaces/{workspaceId}/destinations/{destinationId}/keys/import", Function: FunctionKeygen, Auth: AuthToken, Role: phi.RoleOwner, Action: "key.import"}
	RouteRevokeKey       = Route{Method: "POST", Path: "/workspaces/{workspaceId}/destinations/{destinationId}/keys/{keyId}/revoke", Function: FunctionKeygen, Auth: AuthToken, Role: phi.RoleOwner, Action: "key.revoke"}
	RouteActivateKey     = Route{Method: "POST", Path: "/workspaces/{workspaceId}/destinations/{destinationId}/keys/{keyId}/activate", Function: FunctionKeygen, Auth: AuthToken, Role: phi.RoleOwner, Action: "key.activate"}
	RouteGenerateHMACKey = Route{Method: "POST", Path: "/workspaces/{workspaceId}/destinations/{destinationId}/hmac-keys", Function: FunctionKeygen, Auth: AuthToken, Role: phi.RoleOwner, Action: "key.hmac.generate"}

	// The web console: every page and form below ConsolePath. Each console action checks the
	// role and writes the audit action of the REST route it corresponds to (see ConsoleRoutes).
	RouteConsoleRoot = Route{Method: "ANY", Path: ConsolePath, Function: FunctionConsole, Auth: AuthSession}
	RouteConsole     = Route{Method: "ANY", Path: ConsolePath + "/{proxy+}", Function: FunctionConsole, Auth: AuthSession}
)

// ConsolePath is the path prefix of the web console (its cookie's Path, too).
const ConsolePath = "/console"

// Routes is the REST API. API Gateway (infra), the local server and the handlers' routers are all
// built from it; the OpenAPI document is tested against it.
var Routes = []Route{
	RouteCreateWorkspace, RouteOperatorGetWorkspace, RouteUpdatePlan, RouteIssueOwnerToken,
	RouteCloseWorkspace, RouteReopenWorkspace, RoutePurgeWorkspace,
	RouteCatalog, RouteGetWorkspace, RouteExportWorkspace, RouteListTokens, RouteCreateToken, RouteRevokeToken, RouteListSources,
	RouteCreateSource, RouteGetSource, RouteUpdateSource, RouteDeleteSource, RouteListDestinations,
	RouteCreateDestination, RouteGetDestination, RouteUpdateDestination, RouteDeleteDestination,
	RouteGetAccessPolicy, RouteTestDestination, RouteRotateSigningSecret,
	RouteUpdateHashing, RouteCountDeadLetters, RouteReplayDeadLetters, RouteListMatchers, RouteCreateMatcher, RouteDeleteMatcher, RouteListInbox,
	RouteListClassifications, RoutePutClassifications, RouteListAudit, RouteVerifyAudit, RouteExportAudit,
	RouteListKeys, RouteGenerateKeyPair, RouteImportKey, RouteRevokeKey, RouteActivateKey, RouteGenerateHMACKey,
}

// ConsoleRoutes are the web console's routes (auth AuthSession): API Gateway passes every method
// under ConsolePath to the console function, which serves its pages and forms itself. They are
// not part of the REST API (Routes, the OpenAPI document): infra and the local server read both.
var ConsoleRoutes = []Route{RouteConsoleRoot, RouteConsole}

// MaxRequestBodyBytes is the largest request body the REST API accepts. API Gateway's own limit
// (10 MB) cannot be lowered, so the web ACL in front of the stage blocks larger bodies, and the
// handlers answer 413 beyond it too, for callers that reach them another way (the local server,
// tests). Configuration documents are far smaller.
const MaxRequestBodyBytes = 64 << 10

// Queue and batching settings of the hashing function's event source mapping; infra configures
// them and the local poller of `make dev` honours the same numbers.
const (
	IngestBatchSize         = 100
	IngestBatchWindowSecond = 2
	IngestMaxReceiveCount   = 5 // redrive to the DLQ after this many failed receives

	// HashingMaxConcurrency caps the hashing function's event source (and so its share of the
	// account's Lambda concurrency and its DynamoDB and SNS load); HashingMemoryMB is its memory.
	HashingMaxConcurrency = 20
	HashingMemoryMB       = 1024

	// DeliveryMaxConcurrency and DeliveryMemoryMB are the delivery function's.
	DeliveryMaxConcurrency = 10
	DeliveryMemoryMB       = 256

	// DeliveryBatchSize is the delivery function's event source batch size (no batching window).
	DeliveryBatchSize = 10
	// DeliveryMaxAttempts is how many delivery attempts a copy gets (shared/delivery) before it
	// is dead-lettered with reason "max-attempts"; with the engine's backoff (10 s doubling to
	// 15 min) that is about four hours of retrying.
	DeliveryMaxAttempts = 20
	// DeliveryMaxDelaySeconds is the longest a re-scheduled copy waits (SQS's largest
	// DelaySeconds); the webhook backlog alarm allows for it.
	DeliveryMaxDelaySeconds = 900
	// DeliveryMaxReceiveCount is the delivery queue's redrive limit: a backstop only, as the
	// engine acknowledges every message it received and re-schedules or dead-letters its copies
	// itself; a message received this often crashed or timed out the function each time.
	DeliveryMaxReceiveCount = 5
)

// Message attributes of the pipeline: what producers set on ingest messages, and what the
// hashing function sets on every fan-out copy so that destination consumers subscribe with a
// filter policy. Infra's subscriptions and the pipeline use these names.
const (
	AttrWorkspace       = "workspace"       // ingest and fan-out: the workspace id
	AttrSource          = "source"          // ingest: the source id
	AttrDestination     = "destination"     // fan-out: the destination id
	AttrDestinationType = "destinationType" // fan-out: the destination's type, e.g. "webhook"
	AttrDedupID         = "dedupId"         // fan-out: deterministic per (event messageId, destination)
	AttrReason          = "reason"          // rejected queue: why a message was rejected
	AttrFormat          = "format"          // fan-out: "pack/2" for a packed message (shared/pack.Format); absent on a single copy

	// Dead-letter queue of the delivery queue: why the copies of a message are there
	// (AttrReason, e.g. "rejected", "max-attempts"), the failure of the last attempt (a
	// delivery.Outcome's Reason, e.g. "http-400"), its HTTP status (0 when none), the attempts
	// made, and when (RFC 3339).
	AttrLastReason     = "lastReason"
	AttrLastStatus     = "lastStatus"
	AttrAttempts       = "attempts"
	AttrDeadLetteredAt = "deadLetteredAt"
)

// DeliveryTypes are the destination types the delivery function delivers (every type of
// shared/catalog): the allowlist of its queue's subscription filter.
var DeliveryTypes = []string{"webhook", "s3", "firehose", "eventbridge", "sqs"}

// WebhookFilterPolicy is the SNS filter policy of the delivery queue (named for the webhook
// consumer it began as): a copy of every type in DeliveryTypes.
var WebhookFilterPolicy = `{"` + AttrDestinationType + `":["` + strings.Join(DeliveryTypes, `","`) + `"]}`
