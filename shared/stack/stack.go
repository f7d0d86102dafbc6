// Package stack defines, once and in plain Go, the names that the deployed service and its
// functions share: the Lambda functions, the environment variables that carry resource names,
// and the REST API's route table. The CDK app in infra/ and every function import it, so the two
// cannot drift apart. It must never import the CDK.
package stack

// Function names; each is also the folder functions/<name> and the asset build/<name>/bootstrap.
const (
	FunctionOperator   = "operator"   // platform-operator routes (IAM-authorized): workspaces, tier, BAA
	FunctionConfig     = "config"     // customer config API: workspace, tokens, sources, destinations, privacy, audit
	FunctionKeygen     = "keygen"     // key generation: returns private keys once, never stores them
	FunctionAuthorizer = "authorizer" // API Gateway Lambda authorizer for bearer tokens
	FunctionHashing    = "hashing"    // SQS-triggered pipeline: protects events, fans out to SNS
	FunctionDelivery   = "delivery"   // example destination consumer: POSTs copies to webhooks
)

// Functions lists every function, in a stable order.
var Functions = []string{
	FunctionOperator, FunctionConfig, FunctionKeygen, FunctionAuthorizer, FunctionHashing, FunctionDelivery,
}

// Environment variables that carry resource names into the functions. A function whose required
// variable is missing fails its cold start with a message naming the variable.
const (
	EnvTable             = "PHI_TABLE_NAME"          // the DynamoDB table
	EnvKMSKeyID          = "PHI_KMS_KEY_ID"          // the service's customer-managed KMS key (id, ARN or alias)
	EnvTopicARN          = "PHI_TOPIC_ARN"           // the SNS fan-out topic
	EnvRejectedQueueURL  = "PHI_REJECTED_QUEUE_URL"  // permanent pipeline failures, with a reason attribute
	EnvWebhookSigningKey = "PHI_WEBHOOK_SIGNING_KEY" // delivery: secret for the webhook HMAC signature header
	EnvLogLevel          = "PHI_LOG_LEVEL"           // debug, info (default), warn, error
	EnvConfigCacheTTL    = "PHI_CONFIG_CACHE_TTL"    // pipeline: Go duration, default 30s
	// config and delivery, local development only: comma-separated loopback IP:port pairs
	// (127.0.0.1:3001,…) that webhooks may reach besides public addresses, over https or http;
	// deployed stacks leave it empty (webhook.PolicyFromEnv).
	EnvLocalWebhookTargets = "PHI_LOCAL_WEBHOOK_TARGETS"
)

// EndpointVars are the AWS SDK's own variables that point the functions' clients at local
// emulators (moto, local-kms). Deployed functions never set them, so the SDK talks to AWS; the
// local tools set all four, and a template synthesized for SAM declares them (empty) so that
// `sam local --env-vars` may set them: SAM only overrides variables a template declares.
var EndpointVars = []string{"AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_SNS", "AWS_ENDPOINT_URL_KMS"}

// Auth says how API Gateway authorizes a route.
type Auth string

// Route authorization kinds.
const (
	AuthToken    Auth = "token" // Authorization: Bearer <token>, checked by the authorizer function
	AuthOperator Auth = "iam"   // SigV4-signed by a platform operator's IAM principal
)

// Route is one REST API route. Path uses API Gateway's template syntax ({param}).
type Route struct {
	Method   string
	Path     string
	Function string
	Auth     Auth
}

// Routes is the REST API. API Gateway (infra), the local server and the handlers' routers are all
// built from it; the OpenAPI document is tested against it.
var Routes = []Route{
	{"POST", "/operator/workspaces", FunctionOperator, AuthOperator},
	{"GET", "/operator/workspaces/{workspaceId}", FunctionOperator, AuthOperator},
	{"PUT", "/operator/workspaces/{workspaceId}/plan", FunctionOperator, AuthOperator},

	{"GET", "/workspaces/{workspaceId}", FunctionConfig, AuthToken},
	{"GET", "/workspaces/{workspaceId}/tokens", FunctionConfig, AuthToken},
	{"POST", "/workspaces/{workspaceId}/tokens", FunctionConfig, AuthToken},
	{"DELETE", "/workspaces/{workspaceId}/tokens/{tokenId}", FunctionConfig, AuthToken},
	{"GET", "/workspaces/{workspaceId}/sources", FunctionConfig, AuthToken},
	{"POST", "/workspaces/{workspaceId}/sources", FunctionConfig, AuthToken},
	{"GET", "/workspaces/{workspaceId}/sources/{sourceId}", FunctionConfig, AuthToken},
	{"PUT", "/workspaces/{workspaceId}/sources/{sourceId}", FunctionConfig, AuthToken},
	{"DELETE", "/workspaces/{workspaceId}/sources/{sourceId}", FunctionConfig, AuthToken},
	{"GET", "/workspaces/{workspaceId}/destinations", FunctionConfig, AuthToken},
	{"POST", "/workspaces/{workspaceId}/destinations", FunctionConfig, AuthToken},
	{"GET", "/workspaces/{workspaceId}/destinations/{destinationId}", FunctionConfig, AuthToken},
	{"PUT", "/workspaces/{workspaceId}/destinations/{destinationId}", FunctionConfig, AuthToken},
	{"DELETE", "/workspaces/{workspaceId}/destinations/{destinationId}", FunctionConfig, AuthToken},
	{"PUT", "/workspaces/{workspaceId}/destinations/{destinationId}/hashing", FunctionConfig, AuthToken},
	{"GET", "/workspaces/{workspaceId}/privacy/matchers", FunctionConfig, AuthToken},
	{"POST", "/workspaces/{workspaceId}/privacy/matchers", FunctionConfig, AuthToken},
	{"DELETE", "/workspaces/{workspaceId}/privacy/matchers/{matcherId}", FunctionConfig, AuthToken},
	{"GET", "/workspaces/{workspaceId}/privacy/inbox", FunctionConfig, AuthToken},
	{"GET", "/workspaces/{workspaceId}/privacy/classifications", FunctionConfig, AuthToken},
	{"PUT", "/workspaces/{workspaceId}/privacy/classifications", FunctionConfig, AuthToken},
	{"GET", "/workspaces/{workspaceId}/audit", FunctionConfig, AuthToken},

	{"GET", "/workspaces/{workspaceId}/destinations/{destinationId}/keys", FunctionKeygen, AuthToken},
	{"POST", "/workspaces/{workspaceId}/destinations/{destinationId}/keys", FunctionKeygen, AuthToken},
	{"POST", "/workspaces/{workspaceId}/destinations/{destinationId}/keys/import", FunctionKeygen, AuthToken},
	{"POST", "/workspaces/{workspaceId}/destinations/{destinationId}/keys/{keyId}/revoke", FunctionKeygen, AuthToken},
	{"POST", "/workspaces/{workspaceId}/destinations/{destinationId}/hmac-keys", FunctionKeygen, AuthToken},
}

// Queue and batching settings of the hashing function's event source mapping; infra configures
// them and the local poller of `make dev` honours the same numbers.
const (
	IngestBatchSize         = 100
	IngestBatchWindowSecond = 2
	IngestMaxReceiveCount   = 5 // redrive to the DLQ after this many failed receives
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
)

// WebhookFilterPolicy is the SNS filter policy of the example webhook consumer's queue.
const WebhookFilterPolicy = `{"` + AttrDestinationType + `":["webhook"]}`
