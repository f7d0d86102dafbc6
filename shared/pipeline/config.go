package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"

	"github.com/phiguard/phiguard/shared/fieldcrypt"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/privacy"
	"github.com/phiguard/phiguard/shared/transform"
)

// DefaultCacheTTL is how long a container keeps a workspace's configuration (destinations,
// hashing settings, classifications, which keys are active) before reading it again: key
// rotation, revocation and setting changes take effect within it.
const DefaultCacheTTL = 30 * time.Second

// missRefresh is how old a cached workspace must be before a message naming a source it does
// not know makes the pipeline read the workspace again ahead of the TTL, so a source created a
// moment ago is not rejected for up to a whole TTL. At most one extra read per workspace per
// missRefresh.
const missRefresh = 5 * time.Second

// ParseCacheTTL parses the value of stack.EnvConfigCacheTTL: a Go duration between 1s and 15m,
// or "" for DefaultCacheTTL. It returns an error naming the accepted range otherwise.
func ParseCacheTTL(s string) (time.Duration, error) {
	if s == "" {
		return DefaultCacheTTL, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Second || d > 15*time.Minute {
		return 0, fmt.Errorf("config cache TTL %q: want a Go duration between 1s and 15m, e.g. 30s", clip(s, 32))
	}
	return d, nil
}

// minHMACKeyLen matches fieldcrypt.MinHMACKeyLen: a shorter decrypted key is unusable.
const minHMACKeyLen = fieldcrypt.MinHMACKeyLen

// workspaceConfig is a workspace's compiled configuration, as cached.
type workspaceConfig struct {
	id       string
	loadedAt time.Time
	notFound bool
	// closed: the workspace is closed (offboarded); its events are rejected as
	// ReasonWorkspaceClosed, whatever source they name.
	closed bool
	// sources maps every source id of the workspace to its enabled destinations.
	sources map[string][]*destination
}

// destination is one destination's compiled configuration.
type destination struct {
	id, typ string
	plan    *transform.Plan
	planErr error // the settings do not compile: the destination's copies fail (retry, then DLQ)
	// useKeys is false when the workspace is not HIPAA eligible or hashing is disabled: then
	// encrypt and hmac fields are dropped fail-closed whatever keys exist.
	useKeys           bool
	needEnc, needHMAC bool
	enc               *encryptionKey // nil: no active encryption key
	hmac              *phi.Key       // nil: no active HMAC key
	// degraded is phi.HashingState's reason when the destination's hashing is degraded (its
	// protected fields are removed): its copies are counted as CopiesDegraded.
	degraded string
}

// encryptionKey is an active public key, parsed once per container.
type encryptionKey struct {
	id  string
	pub *fieldcrypt.PublicKey // nil when err != nil
	err error
}

// hmacSecret is a decrypted HMAC key, cached for as long as the key stays active.
type hmacSecret struct {
	workspace string
	key       []byte
	err       error // permanent decryption failure: fields are dropped until the key changes
}

// cache holds each workspace's configuration for ttl, parsed public keys and decrypted HMAC
// keys. Loads are serialized (Lambda runs one invocation at a time per container), which is
// what bounds the store to one query per workspace per TTL.
type cache struct {
	store    Store
	kms      Decrypter
	kmsKeyID string
	ttl      time.Duration
	now      func() time.Time
	log      *slog.Logger

	mu         sync.Mutex
	workspaces map[string]*workspaceConfig
	hmac       map[string]*hmacSecret // by key id
}

// get returns workspace wsID's configuration, reading it from the store when the cached copy
// is older than the TTL (or, when it does not know source src, older than missRefresh). A
// workspace that does not exist is cached as notFound. Store failures are returned (and are
// transient from the caller's point of view).
func (c *cache) get(ctx context.Context, wsID, src string) (*workspaceConfig, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if w := c.workspaces[wsID]; w != nil {
		age := now.Sub(w.loadedAt)
		_, known := w.sources[src]
		if age < c.ttl && (known || w.notFound || w.closed || age < missRefresh) {
			return w, nil
		}
	}
	snap, matchers, err := c.store.LoadSnapshot(ctx, wsID)
	if phi.ErrorCode(err) == phi.ENOTFOUND {
		w := &workspaceConfig{id: wsID, loadedAt: now, notFound: true}
		c.replace(w)
		return w, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load configuration of workspace %s: %w", wsID, err)
	}
	if snap.Workspace.Closed != nil {
		w := &workspaceConfig{id: wsID, loadedAt: now, closed: true}
		c.replace(w) // forgets its decrypted HMAC keys
		return w, nil
	}
	w := c.compile(wsID, now, snap, matchers)
	c.replace(w)
	return w, nil
}

// replace installs w and forgets the decrypted HMAC keys of w's workspace that are no longer
// active, wiping their bytes.
func (c *cache) replace(w *workspaceConfig) {
	if c.workspaces == nil {
		c.workspaces = map[string]*workspaceConfig{}
	}
	c.workspaces[w.id] = w
	active := map[string]bool{}
	for _, ds := range w.sources {
		for _, d := range ds {
			if d.hmac != nil {
				active[d.hmac.ID] = true
			}
		}
	}
	for id, s := range c.hmac {
		if s.workspace == w.id && !active[id] {
			clear(s.key)
			delete(c.hmac, id)
		}
	}
}

// compile builds a workspace's configuration from its snapshot and custom matchers. Public
// keys already parsed for the previous configuration are reused.
func (c *cache) compile(wsID string, now time.Time, snap *phi.Snapshot, matchers []privacy.Matcher) *workspaceConfig {
	parsed := map[string]*encryptionKey{}
	if old := c.workspaces[wsID]; old != nil {
		for _, ds := range old.sources {
			for _, d := range ds {
				if d.enc != nil {
					parsed[d.enc.id] = d.enc
				}
			}
		}
	}
	var red []string
	skipped := 0
	for _, cl := range snap.Classifications {
		if cl.Class != string(privacy.Red) {
			continue
		}
		if _, err := transform.ParsePath(cl.Path); err != nil {
			skipped++ // no event key can be addressed by it, so no event carries it
			continue
		}
		red = append(red, cl.Path)
	}
	if skipped > 0 {
		c.log.Warn("red classifications with paths the transform cannot address were skipped",
			"workspace", wsID, "count", skipped)
	}
	w := &workspaceConfig{id: wsID, loadedAt: now, sources: map[string][]*destination{}}
	for _, s := range snap.Sources {
		w.sources[s.ID] = []*destination{}
	}
	eligible := snap.Workspace.HIPAAEligible()
	var rv *review // built for the first destination that reviews unclassified fields
	for _, d := range snap.Destinations {
		if !d.Enabled {
			continue
		}
		if _, ok := w.sources[d.SourceID]; !ok {
			continue
		}
		if rv == nil && d.Hashing.UnreviewedRule(eligible) != phi.UnreviewedPass {
			rv = newReview(c.classifier(wsID, matchers), snap.Classifications)
		}
		dc := c.compileDestination(d, eligible, red, rv, snap.Keys, parsed)
		dc.degraded = phi.HashingState(&d, &snap.Workspace, snap.DestinationKeys(d.ID)).Reason
		w.sources[d.SourceID] = append(w.sources[d.SourceID], dc)
	}
	return w
}

// classifier compiles the workspace's matchers: the defaults and every valid custom matcher. A
// stored matcher that no longer validates is left out (and logged) rather than losing the
// others.
func (c *cache) classifier(wsID string, matchers []privacy.Matcher) *privacy.Classifier {
	valid := make([]privacy.Matcher, 0, len(matchers))
	for _, m := range matchers {
		if m.Validate() == nil {
			valid = append(valid, m)
		}
	}
	slices.SortFunc(valid, func(a, b privacy.Matcher) int { return strings.Compare(a.ID, b.ID) })
	if len(valid) < len(matchers) {
		c.log.Warn("custom matchers that do not validate are not used", "workspace", wsID, "count", len(matchers)-len(valid))
	}
	cls, err := privacy.NewClassifier(valid)
	if err != nil {
		c.log.Error("custom matchers do not compile; only the default matchers recommend", "workspace", wsID, "error", err.Error())
		cls, _ = privacy.NewClassifier(nil) // the defaults always compile
	}
	return cls
}

func (c *cache) compileDestination(d phi.Destination, eligible bool, red []string, rv *review, keys []phi.Key, parsed map[string]*encryptionKey) *destination {
	dc := &destination{id: d.ID, typ: string(d.Type), useKeys: eligible && d.Hashing.Enabled}
	// Hashing fields apply whether or not hashing is enabled: with hashing disabled (or the
	// workspace no longer eligible) they are applied without keys (useKeys), so encrypt and
	// hmac fields are dropped rather than sent in clear.
	spec := transform.DestinationSpec(d.Hashing, red)
	var yellow transform.Treatment
	if rule := d.Hashing.UnreviewedRule(eligible); rule != phi.UnreviewedPass {
		r := newReviewer(rv, rule, d.Hashing)
		spec.Review, yellow = r, r.yellow
	}
	dc.plan, dc.planErr = transform.Compile(spec)
	if dc.planErr != nil && d.Hashing.BlockRed {
		// The config API refuses settings that do not compile with the red classifications of
		// the moment, but a field classified red later can lie inside a field protected whole.
		// Blocking the enclosing field keeps the red data out and the copies flowing.
		if plan, err := transform.Compile(transform.BlockEnclosing(spec)); err == nil {
			c.log.Warn("fields enclosing a field classified red are blocked whole; reconfigure the destination",
				"workspace", d.WorkspaceID, "destination", d.ID)
			dc.plan, dc.planErr = plan, nil
		}
	}
	if dc.planErr != nil {
		c.log.Error("destination settings do not compile; its copies fail until they are fixed",
			"workspace", d.WorkspaceID, "destination", d.ID, "error", dc.planErr.Error())
		return dc
	}
	dc.needEnc, dc.needHMAC = yellow == transform.Encrypt, yellow == transform.HMAC
	for _, f := range dc.plan.Paths() {
		dc.needEnc = dc.needEnc || f.Treatment == transform.Encrypt
		dc.needHMAC = dc.needHMAC || f.Treatment == transform.HMAC
	}
	if k := activeKey(keys, d.ID, phi.KeyEncryption); k != nil {
		if p := parsed[k.ID]; p != nil {
			dc.enc = p
		} else {
			dc.enc = &encryptionKey{id: k.ID}
			alg, err := fieldcrypt.ParseAlgorithm(k.Algorithm)
			if err == nil {
				dc.enc.pub, err = fieldcrypt.ParsePublicKeyFor(alg, []byte(k.PublicKeyPEM))
			}
			if err != nil {
				dc.enc.err = err
				c.log.Error("active encryption key does not parse; encrypt fields are dropped",
					"workspace", d.WorkspaceID, "destination", d.ID, "key", k.ID, "error", err.Error())
			}
		}
	}
	dc.hmac = activeKey(keys, d.ID, phi.KeyHMAC)
	return dc
}

// activeKey returns the newest active, unrevoked key of kind for destination dstID, or nil.
func activeKey(keys []phi.Key, dstID string, kind phi.KeyKind) *phi.Key {
	var best *phi.Key
	for i := range keys {
		k := &keys[i]
		if k.DestinationID != dstID || k.Kind != kind || k.Status != phi.KeyActive || k.RevokedAt != nil {
			continue
		}
		if best == nil || k.CreatedAt.After(best.CreatedAt) {
			best = k
		}
	}
	return best
}

// errTransient marks failures that a retry of the message may fix.
var errTransient = errors.New("transient")

// hmacKey returns the plaintext of HMAC key k, decrypting it through KMS on first use and
// caching it while the key stays active. A permanent KMS refusal (bad ciphertext, wrong
// context, disabled key) is cached too and returned as is: the caller drops hmac fields. Any
// other failure wraps errTransient and is not cached.
func (c *cache) hmacKey(ctx context.Context, k *phi.Key) ([]byte, error) {
	c.mu.Lock()
	s := c.hmac[k.ID]
	c.mu.Unlock()
	if s != nil {
		return s.key, s.err
	}
	in := &kms.DecryptInput{CiphertextBlob: k.EncryptedHMACKey, EncryptionContext: k.HMACEncryptionContext()}
	if c.kmsKeyID != "" {
		in.KeyId = aws.String(c.kmsKeyID)
	}
	s = &hmacSecret{workspace: k.WorkspaceID}
	switch out, err := c.kms.Decrypt(ctx, in); {
	case err != nil && permanentKMSError(err):
		s.err = fmt.Errorf("decrypt HMAC key %s: %w", k.ID, err)
	case err != nil:
		return nil, fmt.Errorf("decrypt HMAC key %s: %w: %w", k.ID, errTransient, err)
	case len(out.Plaintext) < minHMACKeyLen:
		clear(out.Plaintext)
		s.err = fmt.Errorf("decrypt HMAC key %s: the key is shorter than %d bytes", k.ID, minHMACKeyLen)
	default:
		s.key = out.Plaintext
	}
	c.mu.Lock()
	if c.hmac == nil {
		c.hmac = map[string]*hmacSecret{}
	}
	c.hmac[k.ID] = s
	c.mu.Unlock()
	return s.key, s.err
}

// permanentKMSError reports whether KMS refused the request in a way a retry cannot fix.
func permanentKMSError(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	return slices.Contains([]string{
		"InvalidCiphertextException", "IncorrectKeyException", "DisabledException",
		"KMSInvalidStateException", "NotFoundException", "InvalidKeyUsageException",
		"InvalidGrantTokenException",
	}, ae.ErrorCode())
}

// fixedHMAC hands the transform a decrypted HMAC key.
type fixedHMAC struct {
	id  string
	key []byte
}

func (f fixedHMAC) HMACKey() (string, []byte, error) { return f.id, f.key, nil }

func clip(s string, n int) string { return phi.Clip(s, n) }
