// Package phi holds the service's domain: workspaces and their HIPAA eligibility, access
// tokens and roles, sources, destinations and their hashing settings, encryption and HMAC key
// metadata, and audit records — plus the one error vocabulary ([Error]) every layer uses.
//
// It depends on nothing but the standard library and shared/fieldpath (the field-path grammar,
// itself standard library only). Stores live in packages named after their dependency (dynamo),
// the HTTP glue in httpapi, cryptography in fieldcrypt.
package phi

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/phiguard/phiguard/shared/fieldpath"
)

// Tier is a workspace's plan tier.
type Tier string

// Plan tiers. Only the Business tier can sign a BAA and so become HIPAA eligible.
const (
	TierFree     Tier = "free"
	TierTeam     Tier = "team"
	TierBusiness Tier = "business"
)

// Valid reports whether t is a known tier.
func (t Tier) Valid() bool { return t == TierFree || t == TierTeam || t == TierBusiness }

// BAA is the state of a workspace's Business Associate Addendum.
type BAA struct {
	Signed   bool      `json:"signed"`
	SignedAt time.Time `json:"signedAt,omitzero"`
	SignedBy string    `json:"signedBy,omitempty"`
}

// Workspace is a customer's workspace.
type Workspace struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Tier      Tier      `json:"tier"`
	BAA       BAA       `json:"baa"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	Version   int64     `json:"version"`
	// Closed is set while the workspace is closed (offboarded): its tokens and keys are revoked,
	// the pipeline rejects its events, and after Closed.PurgeAfter its configuration may be
	// purged. Nil for an open workspace.
	Closed *Closure `json:"closed,omitempty"`
}

// ClosureGracePeriod is how long a closed workspace keeps its configuration, and can be
// reopened, before it may be purged.
const ClosureGracePeriod = 30 * 24 * time.Hour

// Closure records a workspace's closing: when, by which operator, why, from when on it may be
// purged, and when it was.
type Closure struct {
	At         time.Time  `json:"at"`
	By         string     `json:"by"`
	Reason     string     `json:"reason"`
	PurgeAfter time.Time  `json:"purgeAfter"`
	PurgedAt   *time.Time `json:"purgedAt,omitempty"`
}

// HIPAAEligible reports whether the workspace shows the HIPAA badge: Business tier with a
// signed BAA. Only eligible workspaces may configure or use PHI protection.
func (w *Workspace) HIPAAEligible() bool {
	return w.Tier == TierBusiness && w.BAA.Signed
}

// Role is what a token may do inside its workspace.
type Role string

// Roles, from most to least privileged. Only owners reach the Privacy Portal, hashing
// settings, keys and the audit log; members manage sources and destinations without hashing
// settings; readonly reads non-PHI configuration.
const (
	RoleOwner    Role = "owner"
	RoleMember   Role = "member"
	RoleReadonly Role = "readonly"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleOwner || r == RoleMember || r == RoleReadonly }

// Token is an API token's metadata. The secret itself is shown once at creation and stored
// only as a hash, which never leaves the store.
type Token struct {
	ID          string     `json:"id"`
	WorkspaceID string     `json:"workspaceId"`
	Name        string     `json:"name"`
	Role        Role       `json:"role"`
	CreatedAt   time.Time  `json:"createdAt"`
	CreatedBy   string     `json:"createdBy"`
	RevokedAt   *time.Time `json:"revokedAt,omitempty"`
}

// Actor is the authenticated caller of a request: a workspace token, or a platform operator.
type Actor struct {
	// ID is the token id, or for a platform operator "operator:" and a pseudonym of the IAM
	// principal (OperatorPseudonym): audit records, which customers read, never name an
	// operator's ARN.
	ID          string
	WorkspaceID string // empty for an operator
	Role        Role   // empty for an operator
	Operator    bool
	// Principal is an operator's IAM principal (ARN), for the service's own logs only.
	Principal string
}

// OperatorPseudonym returns the stable actor id of the operator with IAM principal principal:
// "operator:op_" and 20 hex digits of a SHA-256 of the principal. The service's access log
// records the principal beside it, so operators can tell who acted; customers, who read the
// audit log, see only the pseudonym.
func OperatorPseudonym(principal string) string {
	sum := sha256.Sum256([]byte("phiguard operator pseudonym v1\x00" + principal))
	return "operator:op_" + hex.EncodeToString(sum[:10])
}

// Source is where events enter a workspace.
type Source struct {
	ID          string    `json:"id"`
	WorkspaceID string    `json:"workspaceId"`
	Name        string    `json:"name"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
	Version     int64     `json:"version"`
}

// DestinationType names a kind of destination.
type DestinationType string

// Destination types. The catalog (shared/catalog) describes each: what it delivers, its
// settings, its limits and whether a BAA can cover it.
const (
	DestinationWebhook     DestinationType = "webhook"     // POSTs each event to an HTTPS URL
	DestinationS3          DestinationType = "s3"          // gzip NDJSON objects in the customer's bucket
	DestinationFirehose    DestinationType = "firehose"    // records on the customer's Firehose stream
	DestinationEventBridge DestinationType = "eventbridge" // events on the customer's EventBridge bus
	DestinationSQS         DestinationType = "sqs"         // messages on the customer's SQS queue
)

// Destination receives the events of one source, protected per its hashing settings.
type Destination struct {
	ID          string              `json:"id"`
	WorkspaceID string              `json:"workspaceId"`
	SourceID    string              `json:"sourceId"`
	Name        string              `json:"name"`
	Type        DestinationType     `json:"type"`
	Enabled     bool                `json:"enabled"`
	Settings    DestinationSettings `json:"settings"`
	Hashing     HashingSettings     `json:"hashing"`
	CreatedAt   time.Time           `json:"createdAt"`
	UpdatedAt   time.Time           `json:"updatedAt"`
	Version     int64               `json:"version"`
	// Delivery is what the delivery function last recorded of the destination's deliveries
	// (DeliveryStatus); nil until copies were first dead-lettered. The owner does not set it and
	// a change to it does not change Version.
	Delivery *DeliveryStatus `json:"delivery,omitempty"`
}

// DestinationSettings are the type-specific settings of a destination; which ones a type takes,
// and their form, is the catalog's (shared/catalog.Check). The AWS types reach the customer's
// account by assuming RoleARN with the destination's external id (catalog.ExternalID).
type DestinationSettings struct {
	// URL is the webhook's HTTPS endpoint.
	URL string `json:"url,omitempty"`
	// RoleARN is the customer's role the service assumes (s3, firehose, eventbridge, sqs).
	RoleARN string `json:"roleArn,omitempty"`
	// Bucket, Region, Prefix and KMSKeyARN place an s3 destination's objects: the bucket, its
	// region, a key prefix, and the customer's KMS key for SSE-KMS (empty: the bucket's default
	// encryption).
	Bucket    string `json:"bucket,omitempty"`
	Region    string `json:"region,omitempty"`
	Prefix    string `json:"prefix,omitempty"`
	KMSKeyARN string `json:"kmsKeyArn,omitempty"`
	// DeliveryStreamARN is a firehose destination's stream.
	DeliveryStreamARN string `json:"deliveryStreamArn,omitempty"`
	// EventBusARN is an eventbridge destination's bus.
	EventBusARN string `json:"eventBusArn,omitempty"`
	// QueueARN is an sqs destination's queue (standard or FIFO).
	QueueARN string `json:"queueArn,omitempty"`
	// BatchSize is how many events one request to a webhook destination may carry; nil (the
	// default) is one event per request, in the body of its own. Its bounds are the catalog's.
	BatchSize *int `json:"batchSize,omitempty"`
}

// Treatment is how one field is protected for one destination.
type Treatment string

// Treatments. Encrypt is the default.
const (
	TreatmentEncrypt Treatment = "encrypt" // token under the destination's active key pair
	TreatmentHMAC    Treatment = "hmac"    // HMAC-SHA-256 pseudonym under the destination's HMAC key
	TreatmentSHA256  Treatment = "sha256"  // SHA-256 of the normalized value; not de-identification
	TreatmentRedact  Treatment = "redact"  // the field is removed
)

// Valid reports whether t is a known treatment.
func (t Treatment) Valid() bool {
	return t == TreatmentEncrypt || t == TreatmentHMAC || t == TreatmentSHA256 || t == TreatmentRedact
}

// DefaultTreatment returns the treatment a hashing field at path gets when none is named: hmac
// for the identity fields (userId, anonymousId, groupId, previousId), so that joins on them keep
// working, and encrypt for every other field. It does not validate path.
func DefaultTreatment(path string) Treatment {
	if fieldpath.IsIdentity(path) {
		return TreatmentHMAC
	}
	return TreatmentEncrypt
}

// Unreviewed says what a destination receives for a field that the workspace's matchers
// recommend yellow or red but that nobody has classified yet (a new field in the Privacy
// Portal's inbox).
type Unreviewed string

// The choices for fields not reviewed yet. The zero value means the default,
// [HashingSettings.UnreviewedRule].
const (
	// UnreviewedProtect applies the destination's default treatment (HashingSettings.
	// DefaultTreatment, encrypt unless set) to fields recommended yellow and removes fields
	// recommended red. Without the key the treatment needs, the field is removed (fail closed).
	UnreviewedProtect Unreviewed = "protect"
	// UnreviewedBlock removes every field recommended yellow or red until it is classified.
	UnreviewedBlock Unreviewed = "block"
	// UnreviewedPass sends them as they are, in clear (the behaviour before this setting).
	UnreviewedPass Unreviewed = "pass"
)

// Valid reports whether u is "" (the default) or one of the three choices.
func (u Unreviewed) Valid() bool {
	return u == "" || u == UnreviewedProtect || u == UnreviewedBlock || u == UnreviewedPass
}

// HashingSettings say which fields of a destination's events are protected and how
// ("Have Segment hash sensitive data" in the source page).
type HashingSettings struct {
	Enabled bool             `json:"enabled"`
	Fields  []FieldTreatment `json:"fields"`
	// BlockRed drops every field classified red before the copy leaves for the destination.
	BlockRed bool `json:"blockRed"`
	// Unreviewed is the rule for fields recommended yellow or red that are not classified yet;
	// "" means the default (see UnreviewedRule).
	Unreviewed Unreviewed `json:"unreviewed,omitempty"`
	// DefaultTreatment is what UnreviewedProtect applies to a field recommended yellow: encrypt,
	// hmac, sha256 or redact; "" means encrypt.
	DefaultTreatment Treatment `json:"defaultTreatment,omitempty"`
}

// UnreviewedRule returns the rule the pipeline applies to fields not reviewed yet, in a
// workspace that is HIPAA eligible or not: h.Unreviewed when set, otherwise UnreviewedProtect
// when hashing is enabled in an eligible workspace and UnreviewedPass elsewhere. An unknown
// value (settings that bypassed validation) is UnreviewedBlock: fail closed.
func (h HashingSettings) UnreviewedRule(eligible bool) Unreviewed {
	switch {
	case !h.Unreviewed.Valid():
		return UnreviewedBlock
	case h.Unreviewed != "":
		return h.Unreviewed
	case h.Enabled && eligible:
		return UnreviewedProtect
	}
	return UnreviewedPass
}

// FieldTreatment protects the field at Path (for example "traits.email",
// "properties.products[].name" or "userId") with Treatment.
type FieldTreatment struct {
	Path      string    `json:"path"`
	Treatment Treatment `json:"treatment"`
}

// Uses reports whether the settings protect any listed field with t.
func (h HashingSettings) Uses(t Treatment) bool {
	return slices.ContainsFunc(h.Fields, func(f FieldTreatment) bool { return f.Treatment == t })
}

// UnreviewedTreatment returns what UnreviewedProtect applies to a field recommended yellow:
// h.DefaultTreatment, encrypt when it is unset, and "" when it is not a treatment (settings that
// bypassed validation), for which the pipeline removes the field (fail closed).
func (h HashingSettings) UnreviewedTreatment() Treatment {
	switch t := h.DefaultTreatment; {
	case t == "":
		return TreatmentEncrypt
	case t.Valid():
		return t
	}
	return ""
}

// Needs reports whether the pipeline applies t for the settings in a workspace eligible or
// not: a listed field has t (Uses), or fields not reviewed yet get it (UnreviewedRule is
// UnreviewedProtect and UnreviewedTreatment is t).
func (h HashingSettings) Needs(t Treatment, eligible bool) bool {
	return h.Uses(t) || (h.UnreviewedRule(eligible) == UnreviewedProtect && h.UnreviewedTreatment() == t)
}

// KeyKind says what a key is for.
type KeyKind string

// Key kinds.
const (
	KeyEncryption KeyKind = "encryption" // a key pair for the encrypt treatment
	KeyHMAC       KeyKind = "hmac"       // a symmetric key for the hmac treatment
)

// KeyStatus is a key's place in its life cycle.
type KeyStatus string

// Key statuses. A generated key starts pending: its secret has gone out in the response to its
// generation, but nothing uses it until the owner confirms they hold it (activation); a pending
// key not activated before its ExpiresAt can never be activated and is deleted. A destination has
// at most one active key of each kind. Activating a key (or importing a public key, which is
// active at once: the customer already holds the private key) makes the previous active one
// decrypt-only: listed, never used for new data, and the data it protected stays decryptable
// with its private key. A revoked key is never used again.
const (
	KeyPending     KeyStatus = "pending"
	KeyActive      KeyStatus = "active"
	KeyDecryptOnly KeyStatus = "decrypt-only"
	KeyRevoked     KeyStatus = "revoked"
)

// KeyOrigin says where a key pair came from.
type KeyOrigin string

// Key origins.
const (
	OriginKMS  KeyOrigin = "kms"  // generated by the service through AWS KMS; private key returned once
	OriginBYOK KeyOrigin = "byok" // public key uploaded by the customer; no private key ever on our side
)

// Key is a destination's key metadata. It never holds a private key or a plaintext HMAC key.
type Key struct {
	ID            string     `json:"id"`
	WorkspaceID   string     `json:"workspaceId"`
	DestinationID string     `json:"destinationId"`
	Kind          KeyKind    `json:"kind"`
	Algorithm     string     `json:"algorithm"` // a fieldcrypt algorithm for encryption keys; "hmac-sha256" for HMAC keys
	Origin        KeyOrigin  `json:"origin"`
	PublicKeyPEM  string     `json:"publicKey,omitempty"`
	Fingerprint   string     `json:"fingerprint,omitempty"`
	Status        KeyStatus  `json:"status"`
	CreatedAt     time.Time  `json:"createdAt"`
	CreatedBy     string     `json:"createdBy"`
	RevokedAt     *time.Time `json:"revokedAt,omitempty"`
	// ExpiresAt is when a pending key stops being activatable; nil for every other status.
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	// EncryptedHMACKey is the KMS ciphertext blob of an HMAC key; the pipeline decrypts it
	// through KMS on first use. Never returned by the API.
	EncryptedHMACKey []byte `json:"-"`
}

// Expired reports whether k is a pending key whose time to be activated has passed at now.
func (k *Key) Expired(now time.Time) bool {
	return k.Status == KeyPending && (k.ExpiresAt == nil || !now.Before(*k.ExpiresAt))
}

// HMACEncryptionContext is the KMS encryption context an HMAC key is generated under
// (GenerateDataKey, by the key-generation function) and decrypted with (Decrypt, by the
// pipeline). Binding the blob to its workspace, destination and key id means a ciphertext
// copied onto another key's item does not decrypt.
func (k *Key) HMACEncryptionContext() map[string]string {
	return map[string]string{
		"phiguard:purpose":     "hmac-key",
		"phiguard:workspace":   k.WorkspaceID,
		"phiguard:destination": k.DestinationID,
		"phiguard:key":         k.ID,
	}
}

// IdempotencyRecord remembers the first key-generation request sent with an Idempotency-Key, so
// that a retry of it generates no second key. It lives as long as a pending key and holds hashes
// only: never the request, the Idempotency-Key itself or anything secret.
type IdempotencyRecord struct {
	WorkspaceID   string `json:"workspaceId"`
	DestinationID string `json:"destinationId"`
	// Kind names the generate route the key was sent to: there is one per key kind.
	Kind        KeyKind `json:"kind"`
	KeyHash     string  `json:"keyHash"`     // SHA-256 (hex) of the Idempotency-Key
	RequestHash string  `json:"requestHash"` // SHA-256 (hex) of what the request asked for
	// KeyID is the key the first request generates.
	KeyID     string    `json:"keyId"`
	CreatedAt time.Time `json:"createdAt"`
	// ExpiresAt is when the record stops counting; the store keeps it as the table's TTL.
	ExpiresAt time.Time `json:"-"`
}

// IdempotentRequest is the record of one Idempotency-Key sent to a POST route (shared/httpapi's
// router middleware; the key generation routes keep their own IdempotencyRecord). It is scoped
// to the workspace and the caller: ScopeHash is a SHA-256 of the caller's id and the key, so
// neither another workspace nor another token of the same one can reach it.
type IdempotentRequest struct {
	WorkspaceID string `json:"workspaceId"` // empty for an operator's request
	ScopeHash   string `json:"scopeHash"`   // SHA-256 (hex) of the caller's id and the Idempotency-Key
	RequestHash string `json:"requestHash"` // SHA-256 (hex) of the method, path, query and body
	// Done is false while the first request is in flight.
	Done bool `json:"done"`
	// Status, Headers (Content-Type, Location, ETag) and Body are the first response, to replay;
	// a success that showed a secret once keeps none of them (ShownOnce).
	Status    int               `json:"status,omitempty"`
	Headers   map[string]string `json:"headers,omitempty"`
	Body      []byte            `json:"body,omitempty"`
	ShownOnce bool              `json:"shownOnce,omitempty"`
	CreatedAt time.Time         `json:"createdAt"`
	// ExpiresAt is when the record stops counting (a short lease while in flight, 24 hours once
	// done); the store keeps it as the table's TTL.
	ExpiresAt time.Time `json:"-"`
}

// AuditRecord is one entry of a workspace's append-only audit log.
type AuditRecord struct {
	ID          string    `json:"id"`
	WorkspaceID string    `json:"workspaceId"`
	Actor       string    `json:"actor"`
	Action      string    `json:"action"`  // e.g. "destination.hashing.update", "key.generate"
	Target      string    `json:"target"`  // e.g. "destination/dst_…"
	Outcome     string    `json:"outcome"` // "success", "denied", "failed", or "attempted" (written before a key is generated)
	RequestID   string    `json:"requestId"`
	At          time.Time `json:"at"`
	// Seq numbers the workspace's records 1, 2, 3, … in the order they were chained; 0 marks a
	// record written before the chain existed (it is not covered by verification).
	Seq int64 `json:"seq"`
	// PrevHash is the SHA-256 (hex) of record Seq-1's canonical encoding (shared/audit.Hash),
	// 64 zeros for record 1: each record commits to the whole chain before it.
	PrevHash string `json:"prevHash"`
}

// AuditHead is the newest record of a workspace's audit chain: its sequence number and hash.
// The zero value is the empty chain.
type AuditHead struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

// AuditCheckpoint is a signature, by the service's audit signing key (an asymmetric KMS key
// only the audit writers may use), over a workspace's chain head at a moment: whoever holds the
// public key can check that the chain had reached record Seq with hash Hash, so records removed
// from the end, or a rewritten chain, no longer match a checkpoint.
type AuditCheckpoint struct {
	WorkspaceID string    `json:"workspaceId"`
	Seq         int64     `json:"seq"`
	Hash        string    `json:"hash"`
	At          time.Time `json:"at"`
	KeyID       string    `json:"keyId"`     // the signing key's ARN
	Algorithm   string    `json:"algorithm"` // "ECDSA_SHA_256" (KMS's name)
	Signature   []byte    `json:"signature"` // ASN.1 DER ECDSA signature over shared/audit.CheckpointMessage
}

// Page limits, the same for every list: a page holds DefaultPageLimit items unless the caller
// asks for fewer, and never more than MaxPageLimit.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 100
)

// Page asks for one page of a list. Cursor is the opaque value a previous page returned; Limit
// is capped by the store at MaxPageLimit.
type Page struct {
	Limit  int
	Cursor string
}

// Classification is an owner's decision about one field path in the Privacy Portal.
type Classification struct {
	Path      string    `json:"path"`
	Class     string    `json:"classification"` // "red", "yellow" or "green"
	Matcher   string    `json:"matcher,omitempty"`
	DecidedBy string    `json:"decidedBy"`
	DecidedAt time.Time `json:"decidedAt"`
}

// Snapshot is everything the pipeline needs to protect a workspace's events, read in one
// query and cached per container for a short TTL.
type Snapshot struct {
	Workspace       Workspace
	Sources         []Source
	Destinations    []Destination
	Keys            []Key
	Classifications []Classification
}

// DestinationKeys returns the keys of destination dstID in s.
func (s *Snapshot) DestinationKeys(dstID string) []Key {
	var out []Key
	for _, k := range s.Keys {
		if k.DestinationID == dstID {
			out = append(out, k)
		}
	}
	return out
}

// AnyVersion is the version a change names when it replaces whatever version is current
// (If-Match: *, RFC 9110): stored versions start at 1.
const AnyVersion int64 = 0

// Ineligibility says why w is not HIPAA eligible, in a sentence for its owner, or "" when it is.
func (w *Workspace) Ineligibility() string {
	switch {
	case w.HIPAAEligible():
		return ""
	case w.Tier != TierBusiness && !w.BAA.Signed:
		return fmt.Sprintf("the workspace is on the %s tier and has no signed BAA; HIPAA eligibility needs the business tier and a signed BAA", w.Tier)
	case w.Tier != TierBusiness:
		return fmt.Sprintf("the workspace is on the %s tier; HIPAA eligibility needs the business tier", w.Tier)
	}
	return "the workspace has no signed BAA; HIPAA eligibility needs a signed BAA"
}

// NotEligible returns the EFORBIDDEN error refusing what, a PHI setting, in w when w is not
// HIPAA eligible — the reason in the message, the tier and BAA in the details — and nil when it
// is.
func (w *Workspace) NotEligible(what string) error {
	reason := w.Ineligibility()
	if reason == "" {
		return nil
	}
	return Errorf(EFORBIDDEN, "%s in a HIPAA eligible workspace: %s", what, reason).
		WithDetails(map[string]any{"hipaaEligible": false, "tier": w.Tier, "baaSigned": w.BAA.Signed})
}
