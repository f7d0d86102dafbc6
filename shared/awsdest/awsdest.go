// Package awsdest delivers protected copies to the AWS destination types of the catalog — the
// customer's S3 bucket, Firehose stream, EventBridge bus and SQS queue — each a delivery.Sender,
// and writes a destination's test record (Test).
//
// Every call reaches the customer's account through the destination's role (settings.roleArn,
// on catalog.RolePath), assumed with STS AssumeRole and the destination's external id
// (catalog.ExternalID); the temporary credentials are cached per destination until shortly
// before they expire. The senders make one attempt per request and never sleep: the delivery
// engine (shared/delivery) retries what an Outcome says is retryable, so a failing destination
// holds only its own copies. Client-side SDK retries are off for the same reason.
//
// # Records
//
// Every type receives the protected event itself — so phictl decrypt reads it as it is — with
// one member added in front, the delivery metadata:
//
//	{"_delivery":{"dedupId":"<the copy's dedup id>"},"type":"track",…,"_phi":{…}}
//
// A test record has "_delivery":{"dedupId":"test-…","test":true} and a track event named
// TestEventName.
package awsdest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/phiguard/phiguard/shared/catalog"
	"github.com/phiguard/phiguard/shared/delivery"
	"github.com/phiguard/phiguard/shared/phi"
)

// Config wires the senders.
type Config struct {
	// AWS is the service's own configuration; its credentials assume the customers' roles.
	AWS aws.Config
	// S3PathStyle makes S3 requests path-style, for an emulator's endpoint (an address, not a
	// bucket's host name); AWS itself gets virtual-hosted-style requests.
	S3PathStyle bool
	// APIOptions are added to every client's middleware stack (tests inject failures through
	// them; the throughput benchmark counts requests).
	APIOptions []func(*middleware.Stack) error
	Logger     *slog.Logger
	// Now is the clock of S3 partitions and test records; time.Now when nil.
	Now func() time.Time
}

// Senders holds the clients of every destination it has sent to, one set per destination
// (role, region), so that the role is assumed once per credential lifetime, not per batch. It
// is safe for concurrent use. Build it once per container with New.
type Senders struct {
	cfg Config
	sts *sts.Client
	log *slog.Logger
	now func() time.Time

	mu      sync.Mutex
	clients map[clientKey]*clients
}

type clientKey struct {
	dst, role, region string
}

// clients are one destination's SDK clients, built lazily from its assumed-role credentials.
type clients struct {
	creds       aws.CredentialsProvider
	s3          *s3.Client
	firehose    *firehose.Client
	eventbridge *eventbridge.Client
	sqs         *sqs.Client
}

// New returns the senders; it makes no call.
func New(cfg Config) *Senders {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Senders{
		cfg: cfg, log: cfg.Logger, now: cfg.Now, clients: map[clientKey]*clients{},
		sts: sts.NewFromConfig(cfg.AWS, func(o *sts.Options) { o.APIOptions = append(o.APIOptions, cfg.APIOptions...) }),
	}
}

// ForFunction returns New's senders for a function's wiring: its AWS configuration and logger,
// with path-style S3 requests when getenv("AWS_ENDPOINT_URL_S3") names an emulator.
func ForFunction(cfg aws.Config, getenv func(string) string, log *slog.Logger) *Senders {
	return New(Config{AWS: cfg, S3PathStyle: getenv("AWS_ENDPOINT_URL_S3") != "", Logger: log})
}

// ByType returns a Sender for each AWS type of the catalog, for the delivery engine to dispatch
// to.
func (s *Senders) ByType() map[phi.DestinationType]delivery.Sender {
	return map[phi.DestinationType]delivery.Sender{
		phi.DestinationS3:          S3Sender{s},
		phi.DestinationFirehose:    FirehoseSender{s},
		phi.DestinationEventBridge: EventBridgeSender{s},
		phi.DestinationSQS:         SQSSender{s},
	}
}

// roleSession is the session name of an assumed role: it names the destination in the
// customer's CloudTrail.
func roleSession(d *phi.Destination) string { return "phiguard-" + d.ID }

// credentialWindow is how long before expiry cached role credentials are refreshed.
const credentialWindow = 2 * time.Minute

// forDestination returns d's clients, creating them (and the assumed-role credentials) once.
func (s *Senders) forDestination(d *phi.Destination) *clients {
	k := clientKey{dst: d.ID, role: d.Settings.RoleARN, region: catalog.Region(d.Type, d.Settings)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.clients[k]; ok {
		return c
	}
	ext := catalog.ExternalID(d)
	provider := stscreds.NewAssumeRoleProvider(s.sts, d.Settings.RoleARN, func(o *stscreds.AssumeRoleOptions) {
		o.ExternalID = aws.String(ext)
		o.RoleSessionName = roleSession(d)
		o.Duration = 15 * time.Minute
	})
	creds := aws.NewCredentialsCache(provider, func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = credentialWindow })
	cfg := s.cfg.AWS.Copy()
	cfg.Credentials = creds
	cfg.Region = k.region
	cfg.RetryMaxAttempts = 1 // the engine retries, with backoff, per copy
	opts := s.cfg.APIOptions
	c := &clients{
		creds: creds,
		s3: s3.NewFromConfig(cfg, func(o *s3.Options) {
			o.UsePathStyle = s.cfg.S3PathStyle
			o.APIOptions = append(o.APIOptions, opts...)
		}),
		firehose:    firehose.NewFromConfig(cfg, func(o *firehose.Options) { o.APIOptions = append(o.APIOptions, opts...) }),
		eventbridge: eventbridge.NewFromConfig(cfg, func(o *eventbridge.Options) { o.APIOptions = append(o.APIOptions, opts...) }),
		sqs:         sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.APIOptions = append(o.APIOptions, opts...) }),
	}
	s.clients[k] = c
	return c
}

// permanentCodes are AWS error codes that sending again cannot fix: the role, the resource or
// the key is wrong or gone. The destination's owner must act (the test action says what).
var permanentCodes = map[string]bool{
	"AccessDenied": true, "AccessDeniedException": true, "AuthorizationError": true, "UnauthorizedOperation": true,
	"InvalidClientTokenId": true, "InvalidAccessKeyId": true, "SignatureDoesNotMatch": true,
	"NoSuchBucket": true, "PermanentRedirect": true, "AuthorizationHeaderMalformed": true, "IllegalLocationConstraintException": true,
	"InvalidBucketName": true, "NoSuchKey": true,
	"ResourceNotFoundException": true, "InvalidArgumentException": true, "ValidationException": true,
	"AWS.SimpleQueueService.NonExistentQueue": true, "QueueDoesNotExist": true, "InvalidParameterValue": true,
	"KMS.DisabledException": true, "KMS.NotFoundException": true, "KMS.InvalidStateException": true, "KMS.KMSInvalidStateException": true,
	"KMS.AccessDeniedException": true, "KMSAccessDenied": true, "KMSDisabled": true, "KMSNotFound": true, "KMSInvalidState": true,
	"KMS.InvalidKeyUsageException": true, "InvalidEncryptionAlgorithmError": true,
	"NotFoundException": true, "EntityTooLarge": true, "MessageTooLong": true, "BatchRequestTooLong": true,
	"InvalidMessageContents": true, "MissingParameter": true,
	"RegionDisabledException": true,
}

// outcomeOf turns the error of a call into the Outcome of each copy it carried: permanent for
// the codes above (and for a role that cannot be assumed), retryable for everything else
// (throttling, 5xx, timeouts, connection errors). Its Err names the operation and the AWS code
// and message, never a copy's content.
func outcomeOf(op string, err error) delivery.Outcome {
	if err == nil {
		return delivery.Outcome{}
	}
	code := errorCode(err)
	o := delivery.Outcome{Err: fmt.Errorf("%s: %w", op, err), Reason: code, Permanent: isPermanentCode(code)}
	if o.Reason == "" {
		var ne net.Error
		switch {
		case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
			o.Reason = "timeout"
		case errors.Is(err, context.Canceled):
			o.Reason = "canceled"
		default:
			o.Reason = "network"
		}
	}
	if throttled[strings.TrimPrefix(code, "AssumeRole:")] {
		o.Reason = "throttled:" + code
	}
	return o
}

// throttled are the codes that mean "slow down".
var throttled = map[string]bool{
	"Throttling": true, "ThrottlingException": true, "ThrottledException": true, "SlowDown": true,
	"RequestThrottled": true, "RequestLimitExceeded": true, "TooManyRequestsException": true,
	"ProvisionedThroughputExceededException": true, "ServiceUnavailableException": true, "LimitExceededException": true,
	"KMS.ThrottlingException": true, "KMSThrottlingException": true,
}

// errorCode returns the AWS error code in err's chain, "" when there is none. A failure to
// assume the role is reported with the STS code prefixed "AssumeRole:", so that the reason tells
// a broken trust policy (or external id) from a broken permissions policy.
func errorCode(err error) string {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return ""
	}
	if isAssumeRole(err) {
		return "AssumeRole:" + api.ErrorCode()
	}
	return api.ErrorCode()
}

// isAssumeRole reports whether err's chain holds a failed STS AssumeRole call.
func isAssumeRole(err error) bool {
	for e := err; e != nil; {
		var op *smithy.OperationError
		if !errors.As(e, &op) {
			return false
		}
		if op.ServiceID == "STS" && op.OperationName == "AssumeRole" {
			return true
		}
		e = op.Err
	}
	return false
}

// all returns n copies of o.
func all(n int, o delivery.Outcome) []delivery.Outcome {
	out := make([]delivery.Outcome, n)
	for i := range out {
		out[i] = o
	}
	return out
}

// tooLarge is the Outcome of a record over the type's limit.
func tooLarge(size, limit int) delivery.Outcome {
	return delivery.Outcome{Err: fmt.Errorf("record of %d bytes is over the destination type's limit of %d", size, limit), Permanent: true, Reason: "too-large"}
}

// misconfigured is the Outcome of copies for a destination whose settings do not pass the
// catalog's Check (saved before a rule existed): nothing is sent.
func misconfigured(d *phi.Destination, n int) []delivery.Outcome {
	if err := phi.Invalid(catalog.Check(d.Type, d.Settings)); err != nil {
		return all(n, delivery.Outcome{Err: fmt.Errorf("destination %s: %s", d.ID, phi.ErrorMessage(err)), Permanent: true, Reason: "settings"})
	}
	return nil
}

// isPermanentCode reports whether code, as errorCode returns it, is a permanent failure.
func isPermanentCode(code string) bool {
	return permanentCodes[strings.TrimPrefix(code, "AssumeRole:")]
}
