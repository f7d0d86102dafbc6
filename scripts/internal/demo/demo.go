// Package demo is the walkthrough of `make demo`: the source page's HIPAA workflow, end to end,
// against a running local service (scripts/internal/devserver). Every step prints one line and
// checks what it claims; the first claim that does not hold stops the walkthrough with an
// error. The end-to-end test runs the same function.
package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/phiguard/phiguard/scripts/internal/devserver"
	"github.com/phiguard/phiguard/shared/fieldcrypt"
	"github.com/phiguard/phiguard/shared/stack"
)

// Config is what the walkthrough needs from the local service.
type Config struct {
	APIURL         string
	OperatorSecret string
	// ReceiverURL is the webhook receiver's base URL; ReceiverClient trusts its certificate.
	ReceiverURL    string
	ReceiverClient *http.Client
	// IngestQueueURL and SQS are where producers send events.
	IngestQueueURL string
	SQS            *sqs.Client
	// PrivateKeyOut is the file the first private key is written to (created, never
	// overwritten, mode 0600); the rotated key goes beside it with "-2" before the extension.
	PrivateKeyOut string
	// CacheTTL is the pipeline's config cache TTL: after rotating keys the walkthrough waits
	// it out, as the documentation says rotation takes effect within it.
	CacheTTL time.Duration
	// Phictl is the path of a built phictl binary: the customer decrypts with `phictl decrypt
	// --private-key FILE:KEYID`. Empty uses phictl's library code path (fieldcrypt's Keyring) in
	// process instead.
	Phictl string
	// S3 reads the customer's bucket of the S3 step (the customer's own client: in moto, the
	// service's account stands for the customer's).
	S3 *s3.Client
	// Python runs DuckDB (pinned in requirements.txt) over the S3 destination's objects: make
	// bootstrap's .venv/bin/python.
	Python string
	// DeliveryTimeout bounds the wait for deliveries; 60s when zero.
	DeliveryTimeout time.Duration
	Out             io.Writer
}

// Run walks the workflow and returns the number of checks that passed. It stops at the first
// check that fails, returning the count so far and an error naming the claim.
func Run(ctx context.Context, cfg Config) (int, error) {
	if cfg.DeliveryTimeout == 0 {
		cfg.DeliveryTimeout = 60 * time.Second
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.PrivateKeyOut == "" {
		return 0, errors.New("demo: no file named for the private key")
	}
	// Refuse an existing key file now, not halfway through the walkthrough.
	for _, f := range []string{cfg.PrivateKeyOut, rotatedKeyFile(cfg.PrivateKeyOut), lakeKeyFile(cfg.PrivateKeyOut)} {
		if _, err := os.Lstat(f); err == nil {
			return 0, fmt.Errorf("demo: %s already exists; name a private key file that does not exist yet", f)
		}
	}
	if cfg.S3 == nil || cfg.Python == "" {
		return 0, errors.New("demo: the S3 step needs the bucket's client and the Python that runs DuckDB")
	}
	w := &walk{cfg: cfg, out: cfg.Out, api: &api{base: cfg.APIURL, client: &http.Client{Timeout: 30 * time.Second}}}
	err := w.run(ctx)
	return w.checks, err
}

// walk is the state of one walkthrough.
type walk struct {
	cfg    Config
	out    io.Writer
	api    *api
	step   int
	checks int

	ws, owner, src, dst, dstETag, hook string
	key1, key2                         string // key ids
	key1File, key2File                 string
	r1                                 map[string]*copyOf // the first round's copies
	r1sent                             []sentEvent
	generations                        int // generate requests sent, for their Idempotency-Keys
}

// say prints one step line.
func (w *walk) say(format string, args ...any) {
	w.step++
	fmt.Fprintf(w.out, "%2d. %s\n", w.step, fmt.Sprintf(format, args...))
}

// detail prints an indented line under a step.
func (w *walk) detail(format string, args ...any) {
	fmt.Fprintf(w.out, "      %s\n", fmt.Sprintf(format, args...))
}

// check counts a claim that holds, or returns an error naming the one that does not.
func (w *walk) check(ok bool, claim string, args ...any) error {
	if !ok {
		msg := fmt.Sprintf(claim, args...)
		fmt.Fprintf(w.out, "    ✗ FAILED: %s\n", msg)
		return fmt.Errorf("check failed: %s", msg)
	}
	w.checks++
	return nil
}

// expect checks that a response has the wanted status.
func (w *walk) expect(r *response, status int, what string) error {
	return w.check(r.Status == status, "%s: got %d (%s), want %d", what, r.Status, short(r.errorMessage(), 200), status)
}

func (w *walk) run(ctx context.Context) error {
	for _, step := range []func(context.Context) error{
		w.createWorkspace, w.signBAA, w.matchers, w.classify, w.sourceAndDestination,
		w.hashingBeforeKeys, w.generateKeys, w.saveKeys, w.enableHashing,
		w.pushAndReceive, w.rotate, w.lake, w.audit,
	} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

type workspaceView struct {
	ID                string `json:"id"`
	Name              string `json:"name"`
	Tier              string `json:"tier"`
	HIPAAEligible     bool   `json:"hipaaEligible"`
	EligibilityReason string `json:"eligibilityReason"`
	OwnerToken        struct {
		Secret string `json:"secret"`
	} `json:"ownerToken"`
}

func (w *walk) createWorkspace(ctx context.Context) error {
	r, err := w.api.call(ctx, "POST", "/operator/workspaces", w.cfg.OperatorSecret,
		map[string]any{"name": "Riverside Health", "tier": "team", "ownerTokenName": "riverside owner"}, "")
	if err != nil {
		return err
	}
	if err := w.expect(r, http.StatusCreated, "operator creates a workspace"); err != nil {
		return err
	}
	var v workspaceView
	if err := r.decode(&v); err != nil {
		return err
	}
	w.ws, w.owner = v.ID, v.OwnerToken.Secret
	w.say("operator creates workspace %s %q on the team tier: HIPAA badge %s (%s)", v.ID, v.Name, badge(v.HIPAAEligible), v.EligibilityReason)
	if err := w.check(!v.HIPAAEligible && v.EligibilityReason != "", "a team-tier workspace without a BAA shows no HIPAA badge, with the reason"); err != nil {
		return err
	}
	return w.check(strings.HasPrefix(w.owner, "phit_"), "the workspace comes with an owner token")
}

func (w *walk) signBAA(ctx context.Context) error {
	r, err := w.api.call(ctx, "GET", "/operator/workspaces/"+w.ws, w.cfg.OperatorSecret, nil, "")
	if err != nil {
		return err
	}
	if err := w.expect(r, http.StatusOK, "operator reads the workspace"); err != nil {
		return err
	}
	r, err = w.api.call(ctx, "PUT", "/operator/workspaces/"+w.ws+"/plan", w.cfg.OperatorSecret,
		map[string]any{"tier": "business", "baa": map[string]any{"signed": true, "signedBy": "Dr. Alice Monroe, CPO"}}, r.Header.Get("ETag"))
	if err != nil {
		return err
	}
	if err := w.expect(r, http.StatusOK, "operator sets business tier and a signed BAA"); err != nil {
		return err
	}
	// The owner sees the badge in Settings > Workspace Settings.
	r, err = w.api.call(ctx, "GET", "/workspaces/"+w.ws, w.owner, nil, "")
	if err != nil {
		return err
	}
	var v workspaceView
	if err := r.decode(&v); err != nil {
		return err
	}
	w.say("operator sets the business tier and a signed BAA: the owner now sees the HIPAA badge %s", badge(v.HIPAAEligible))
	return w.check(r.Status == http.StatusOK && v.HIPAAEligible && v.Tier == "business", "a business-tier workspace with a signed BAA shows the HIPAA badge")
}

func badge(ok bool) string {
	if ok {
		return "[HIPAA eligible]"
	}
	return "absent"
}

type matcher struct {
	ID             string   `json:"id"`
	Name           string   `json:"name"`
	Classification string   `json:"classification"`
	Patterns       []string `json:"patterns"`
	Synonyms       []string `json:"synonyms"`
}

func (w *walk) matchers(ctx context.Context) error {
	r, err := w.api.call(ctx, "GET", "/workspaces/"+w.ws+"/privacy/matchers", w.owner, nil, "")
	if err != nil {
		return err
	}
	if err := w.expect(r, http.StatusOK, "owner lists matchers"); err != nil {
		return err
	}
	var list struct {
		Defaults []matcher `json:"defaults"`
	}
	if err := r.decode(&list); err != nil {
		return err
	}
	byClass := map[string][]string{} // distinct names: a name may have a key and a value matcher
	for _, m := range list.Defaults {
		if !slices.Contains(byClass[m.Classification], m.Name) {
			byClass[m.Classification] = append(byClass[m.Classification], m.Name)
		}
	}
	w.say("owner lists the default matchers: %d red (%s, …), %d yellow (%s, …)",
		len(byClass["red"]), strings.Join(first(byClass["red"], 3), ", "), len(byClass["yellow"]), strings.Join(first(byClass["yellow"], 4), ", "))
	if err := w.check(len(byClass["red"]) == 8 && len(byClass["yellow"]) == 28, "every workspace ships with the default red and yellow matchers"); err != nil {
		return err
	}

	r, err = w.api.call(ctx, "POST", "/workspaces/"+w.ws+"/privacy/matchers", w.owner, map[string]any{
		"name": "medical record number", "classification": "yellow", "target": "key", "mode": "similar",
		"patterns": []string{`(?i)^mrn$`}, "synonyms": []string{"medical record number", "medical_record_no"},
	}, "")
	if err != nil {
		return err
	}
	if err := w.expect(r, http.StatusCreated, "owner adds a custom matcher"); err != nil {
		return err
	}
	var m matcher
	if err := r.decode(&m); err != nil {
		return err
	}
	w.say("owner adds a custom matcher %s %q (yellow, key pattern %s)", m.ID, m.Name, m.Patterns[0])
	return w.check(m.ID != "" && m.Classification == "yellow", "the custom matcher is stored as yellow")
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }

func (w *walk) classify(ctx context.Context) error {
	var items []map[string]string
	for _, p := range hashedFields {
		items = append(items, map[string]string{"path": p, "classification": "yellow"})
	}
	items = append(items, map[string]string{"path": "properties.clinic", "classification": "green"})
	r, err := w.api.call(ctx, "PUT", "/workspaces/"+w.ws+"/privacy/classifications", w.owner, map[string]any{"classifications": items}, "")
	if err != nil {
		return err
	}
	if err := w.expect(r, http.StatusOK, "owner classifies fields"); err != nil {
		return err
	}
	var out struct {
		Items []struct {
			Path           string `json:"path"`
			Classification string `json:"classification"`
			Matcher        string `json:"matcher"`
		} `json:"items"`
	}
	if err := r.decode(&out); err != nil {
		return err
	}
	yellow, recommended := 0, map[string]string{}
	for _, it := range out.Items {
		if it.Classification == "yellow" {
			yellow++
		}
		if it.Matcher != "" {
			recommended[it.Path] = it.Matcher
		}
	}
	w.say("owner classifies %d fields yellow in the Privacy Portal (properties.mrn recommended by %q, traits.email by %q)",
		yellow, recommended["properties.mrn"], recommended["traits.email"])
	return w.check(yellow == len(hashedFields) && recommended["properties.mrn"] == "medical record number",
		"the fields are yellow, and the custom matcher recognises properties.mrn")
}

type destinationView struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	HashingState string `json:"hashingState"`
	Hashing      *struct {
		Enabled bool `json:"enabled"`
		Fields  []struct {
			Path      string `json:"path"`
			Treatment string `json:"treatment"`
		} `json:"fields"`
	} `json:"hashing"`
}

func (w *walk) sourceAndDestination(ctx context.Context) error {
	r, err := w.api.call(ctx, "POST", "/workspaces/"+w.ws+"/sources", w.owner, map[string]any{"name": "Patient portal (web)"}, "")
	if err != nil {
		return err
	}
	if err := w.expect(r, http.StatusCreated, "owner creates a source"); err != nil {
		return err
	}
	var src struct {
		ID string `json:"id"`
	}
	if err := r.decode(&src); err != nil {
		return err
	}
	w.src = src.ID
	w.hook = "analytics-" + strings.TrimPrefix(w.ws, "ws_")[:8]
	url := strings.TrimSuffix(w.cfg.ReceiverURL, "/") + "/hooks/" + w.hook
	r, err = w.api.call(ctx, "POST", "/workspaces/"+w.ws+"/destinations", w.owner, map[string]any{
		"sourceId": w.src, "name": "Analytics warehouse", "type": "webhook", "settings": map[string]any{"url": url},
	}, "")
	if err != nil {
		return err
	}
	if err := w.expect(r, http.StatusCreated, "owner adds a webhook destination"); err != nil {
		return err
	}
	var d destinationView
	if err := r.decode(&d); err != nil {
		return err
	}
	w.dst, w.dstETag = d.ID, r.Header.Get("ETag")
	w.say("owner creates source %s and webhook destination %s → %s (hashing %s)", w.src, w.dst, url, d.HashingState)
	return w.check(d.HashingState == "off" && w.dstETag != "", "a new destination starts with hashing off")
}

// hashingFields is the body that protects every yellow field with encryption.
func hashingFields() []map[string]string {
	var fs []map[string]string
	for _, p := range hashedFields {
		fs = append(fs, map[string]string{"path": p, "treatment": "encrypt"})
	}
	return fs
}

func (w *walk) hashingBeforeKeys(ctx context.Context) error {
	r, err := w.api.call(ctx, "PUT", w.dstPath()+"/hashing", w.owner,
		map[string]any{"enabled": true, "fields": hashingFields()}, w.dstETag)
	if err != nil {
		return err
	}
	w.say("owner ticks \"hash sensitive data\" before generating keys: refused (%d) — %q", r.Status, r.errorMessage())
	return w.check(r.Status == http.StatusConflict && strings.Contains(r.errorMessage(), "generate hashing keys first"),
		"enabling hashing without a key pair is refused with a message saying to generate keys first")
}

func (w *walk) dstPath() string { return "/workspaces/" + w.ws + "/destinations/" + w.dst }

type keyView struct {
	ID          string     `json:"id"`
	Algorithm   string     `json:"algorithm"`
	Fingerprint string     `json:"fingerprint"`
	Status      string     `json:"status"`
	ExpiresAt   *time.Time `json:"expiresAt"`
	PrivateKey  string     `json:"privateKey"`
}

// generate asks for a key pair, as the console's "Generate hashing keys" does (with an
// Idempotency-Key, so that a retried request cannot create a second key), and writes the private
// key to file. It returns the key, pending, and the Idempotency-Key and body it was generated
// with.
func (w *walk) generate(ctx context.Context, file string) (*keyView, string, map[string]any, error) {
	w.generations++
	idem := fmt.Sprintf("demo-%s-%d", w.dst, w.generations)
	body := map[string]any{"algorithm": "hpke-p256"}
	r, err := w.api.call(ctx, "POST", w.dstPath()+"/keys", w.owner, body, "", "Idempotency-Key", idem)
	if err != nil {
		return nil, "", nil, err
	}
	if err := w.expect(r, http.StatusCreated, "owner generates hashing keys"); err != nil {
		return nil, "", nil, err
	}
	var k keyView
	if err := r.decode(&k); err != nil {
		return nil, "", nil, err
	}
	if err := w.check(strings.Contains(k.PrivateKey, "-----BEGIN PRIVATE KEY-----") && r.Header.Get("Cache-Control") == "no-store",
		"the private key comes back once, as PKCS#8 PEM, marked no-store"); err != nil {
		return nil, "", nil, err
	}
	if err := w.check(k.Status == "pending" && k.ExpiresAt != nil && k.ExpiresAt.After(time.Now()),
		"the new key is pending, with the time it expires unless the owner saves (got %s, %v)", k.Status, k.ExpiresAt); err != nil {
		return nil, "", nil, err
	}
	if err := writeNew(file, []byte(k.PrivateKey)); err != nil {
		return nil, "", nil, err
	}
	return &k, idem, body, nil
}

// firstClause returns msg up to its first "; ", lastClause after its last: the part of a long
// message a step line shows.
func firstClause(msg string) string {
	before, _, _ := strings.Cut(msg, "; ")
	return before
}

func lastClause(msg string) string {
	if i := strings.LastIndex(msg, "; "); i >= 0 {
		return msg[i+2:]
	}
	return msg
}

// keyStatuses lists the destination's keys and returns their statuses by id.
func (w *walk) keyStatuses(ctx context.Context) (map[string]string, *response, error) {
	r, err := w.api.call(ctx, "GET", w.dstPath()+"/keys", w.owner, nil, "")
	if err != nil {
		return nil, nil, err
	}
	if err := w.expect(r, http.StatusOK, "owner lists the keys"); err != nil {
		return nil, nil, err
	}
	var list struct {
		Items []keyView `json:"items"`
	}
	if err := r.decode(&list); err != nil {
		return nil, nil, err
	}
	status := map[string]string{}
	for _, it := range list.Items {
		status[it.ID] = it.Status
	}
	return status, r, nil
}

// activate is the owner's Save: the pending key becomes the destination's active key.
func (w *walk) activate(ctx context.Context, id string) error {
	r, err := w.api.call(ctx, "POST", w.dstPath()+"/keys/"+id+"/activate", w.owner, nil, "")
	if err != nil {
		return err
	}
	if err := w.expect(r, http.StatusOK, "owner saves (activates the key)"); err != nil {
		return err
	}
	var k keyView
	if err := r.decode(&k); err != nil {
		return err
	}
	return w.check(k.ID == id && k.Status == "active" && k.PrivateKey == "" && !strings.Contains(string(r.Body), "PRIVATE KEY"),
		"the key is active, and activating it returns no private key")
}

// writeNew creates file with mode 0600; it refuses to overwrite an existing file, since a private
// key that is overwritten cannot be recovered.
func writeNew(file string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return fmt.Errorf("create the directory for %s: %w", file, err)
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("save the private key (choose a file that does not exist yet): %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("save the private key to %s: %w", file, err)
	}
	return f.Close()
}

func (w *walk) generateKeys(ctx context.Context) error {
	w.key1File = w.cfg.PrivateKeyOut
	k, idem, body, err := w.generate(ctx, w.key1File)
	if err != nil {
		return err
	}
	w.key1 = k.ID
	w.say("owner presses \"Generate hashing keys\": key %s (%s, %s) is pending until Save; the private key is shown this once and saved to %s",
		k.ID, k.Algorithm, k.Fingerprint, w.key1File)
	// "Once you finish setting up the destination, this key cannot be retrieved."
	status, r, err := w.keyStatuses(ctx)
	if err != nil {
		return err
	}
	if err := w.check(!strings.Contains(string(r.Body), "PRIVATE KEY") && status[k.ID] == "pending" && len(status) == 1,
		"listing the keys shows the key, pending, and never the private key again"); err != nil {
		return err
	}
	// A retried request (the response lost, the button pressed twice) creates no second key and
	// never gets the private key again.
	r, err = w.api.call(ctx, "POST", w.dstPath()+"/keys", w.owner, body, "", "Idempotency-Key", idem)
	if err != nil {
		return err
	}
	w.say("the same request is retried with its Idempotency-Key: refused (%d), no private key — %q", r.Status, firstClause(r.errorMessage())+"; …")
	if err := w.check(r.Status == http.StatusConflict && strings.Contains(r.errorMessage(), k.ID) && !strings.Contains(string(r.Body), "PRIVATE KEY"),
		"a retry names the key the first request created and does not return its private key"); err != nil {
		return err
	}
	if status, _, err = w.keyStatuses(ctx); err != nil {
		return err
	}
	if err := w.check(len(status) == 1, "the retry created no second key (%d keys)", len(status)); err != nil {
		return err
	}
	// Hashing needs an active key: the pending one does not count until the owner saves.
	r, err = w.api.call(ctx, "GET", w.dstPath(), w.owner, nil, "")
	if err != nil {
		return err
	}
	r, err = w.api.call(ctx, "PUT", w.dstPath()+"/hashing", w.owner,
		map[string]any{"enabled": true, "fields": hashingFields()}, r.Header.Get("ETag"))
	if err != nil {
		return err
	}
	w.say("owner ticks \"hash sensitive data\" before Save: refused (%d) — %q", r.Status, "…; "+lastClause(r.errorMessage()))
	return w.check(r.Status == http.StatusConflict && strings.Contains(r.errorMessage(), k.ID+" is pending"),
		"hashing cannot use a pending key, and the refusal says to activate it")
}

// saveKeys is the console's Save: the owner confirms the private key is stored, and the key
// becomes active.
func (w *walk) saveKeys(ctx context.Context) error {
	if err := w.activate(ctx, w.key1); err != nil {
		return err
	}
	status, _, err := w.keyStatuses(ctx)
	if err != nil {
		return err
	}
	w.say("owner presses Save (POST .../keys/%s/activate): the key is %s", w.key1, status[w.key1])
	return w.check(status[w.key1] == "active", "after Save the key is the destination's active key")
}

func (w *walk) enableHashing(ctx context.Context) error {
	r, err := w.api.call(ctx, "GET", w.dstPath(), w.owner, nil, "")
	if err != nil {
		return err
	}
	r, err = w.api.call(ctx, "PUT", w.dstPath()+"/hashing", w.owner,
		map[string]any{"enabled": true, "fields": hashingFields()}, r.Header.Get("ETag"))
	if err != nil {
		return err
	}
	if err := w.expect(r, http.StatusOK, "owner enables hashing"); err != nil {
		return err
	}
	var d destinationView
	if err := r.decode(&d); err != nil {
		return err
	}
	n := 0
	if d.Hashing != nil {
		n = len(d.Hashing.Fields)
	}
	w.say("owner enables hashing (encrypt) on the %d yellow fields: hashing is %s", n, d.HashingState)
	return w.check(d.HashingState == "active" && n == len(hashedFields), "hashing is active on every yellow field")
}

// push sends bodies to the ingest queue with the workspace and source attributes producers set
// (docs/PRODUCERS.md).
func (w *walk) push(ctx context.Context, bodies []any) error {
	for _, b := range bodies {
		raw, err := json.Marshal(b)
		if err != nil {
			return err
		}
		_, err = w.cfg.SQS.SendMessage(ctx, &sqs.SendMessageInput{
			QueueUrl:    aws.String(w.cfg.IngestQueueURL),
			MessageBody: aws.String(string(raw)),
			MessageAttributes: map[string]sqstypes.MessageAttributeValue{
				stack.AttrWorkspace: {DataType: aws.String("String"), StringValue: aws.String(w.ws)},
				stack.AttrSource:    {DataType: aws.String("String"), StringValue: aws.String(w.src)},
			},
		})
		if err != nil {
			return fmt.Errorf("send an event to the ingest queue: %w", err)
		}
	}
	return nil
}

// delivery is one copy the destination received.
type delivery struct {
	Body     json.RawMessage `json:"body"`
	Verified *bool           `json:"verified"`
}

// copyOf is a received event copy, decoded.
type copyOf struct {
	raw       []byte
	messageID string
	event     map[string]any
	manifest  struct {
		Fields []struct {
			Path      string `json:"path"`
			Treatment string `json:"treatment"`
			Alg       string `json:"alg"`
			Kid       string `json:"kid"`
		} `json:"fields"`
		Dropped []struct {
			Path   string `json:"path"`
			Reason string `json:"reason"`
		} `json:"dropped"`
	}
}

// received polls the receiver until a copy of every id in ids has arrived, or the timeout.
func (w *walk) received(ctx context.Context, ids []string) (map[string]*copyOf, []delivery, error) {
	deadline := time.Now().Add(w.cfg.DeliveryTimeout)
	for {
		got, all, err := w.fetchReceived(ctx)
		if err != nil {
			return nil, nil, err
		}
		missing := 0
		for _, id := range ids {
			if got[id] == nil {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			return got, all, nil
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (w *walk) fetchReceived(ctx context.Context) (map[string]*copyOf, []delivery, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimSuffix(w.cfg.ReceiverURL, "/")+"/received?destination="+w.hook, nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := w.cfg.ReceiverClient.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("read the webhook receiver: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		Items []delivery `json:"items"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, nil, fmt.Errorf("read the webhook receiver: %w", err)
	}
	got := map[string]*copyOf{}
	for _, d := range out.Items {
		c := &copyOf{raw: d.Body}
		if json.Unmarshal(d.Body, &c.event) != nil {
			continue
		}
		c.messageID, _ = c.event["messageId"].(string)
		if m, ok := c.event["_phi"]; ok {
			b, _ := json.Marshal(m)
			_ = json.Unmarshal(b, &c.manifest)
		}
		got[c.messageID] = c
	}
	return got, out.Items, nil
}

// round pushes one batch of events and checks what the destination received: every event, every
// configured field a token under wantKey, no PHI in clear. It returns the copies.
func (w *walk) round(ctx context.Context, name, wantKey string) (map[string]*copyOf, []sentEvent, error) {
	bodies, sent := batchOf(name, time.Now().UTC())
	if err := w.push(ctx, bodies); err != nil {
		return nil, nil, err
	}
	w.say("a producer pushes %d messages (%d events for %d patients, with a {\"batch\": […]}) to the ingest queue with attributes %s=%s, %s=%s",
		len(bodies), len(sent), len(patients), stack.AttrWorkspace, w.ws, stack.AttrSource, w.src)
	ids := make([]string, len(sent))
	for i, s := range sent {
		ids[i] = s.messageID
	}
	got, all, err := w.received(ctx, ids)
	if err != nil {
		return nil, nil, err
	}
	arrived := 0
	for _, id := range ids {
		if got[id] != nil {
			arrived++
		}
	}
	if err := w.check(arrived == len(ids), "the destination receives a copy of every event (%d of %d arrived within %s)", arrived, len(ids), w.cfg.DeliveryTimeout); err != nil {
		return nil, nil, err
	}
	verified := 0
	for _, d := range all {
		if d.Verified != nil && *d.Verified {
			verified++
		}
	}
	if err := w.check(verified == len(all), "every delivery carries a valid webhook signature (%d of %d verified)", verified, len(all)); err != nil {
		return nil, nil, err
	}

	var leaked []string
	tokens, wrongKey := 0, 0
	for _, s := range sent {
		c := got[s.messageID]
		for path := range s.fields {
			v, _ := lookup(c.event, path).(string)
			if strings.HasPrefix(v, fieldcrypt.HPKETokenPrefix) {
				tokens++
				if info, err := fieldcrypt.Inspect(v); err != nil || info.KeyID != wantKey {
					wrongKey++
				}
			}
		}
	}
	for _, c := range got {
		for _, p := range patients {
			for _, v := range p.phiValues() {
				if strings.Contains(string(c.raw), v) {
					leaked = append(leaked, "a "+c.messageID+" value")
				}
			}
		}
	}
	want := 0
	for _, s := range sent {
		want += len(s.fields)
	}
	sample := got[sent[0].messageID]
	email, _ := lookup(sample.event, "traits.email").(string)
	plan, _ := lookup(sample.event, "traits.plan").(string)
	w.say("the destination received %d copies: %d fields are tokens under key %s, e.g. traits.email = %s…, traits.plan = %q (not PHI, in clear)",
		len(ids), tokens, wantKey, clip(email), plan)
	if err := w.check(len(leaked) == 0, "no PHI value reaches the destination in clear (found %d)", len(leaked)); err != nil {
		return nil, nil, err
	}
	if err := w.check(tokens == want && wrongKey == 0, "every configured field is a token naming key %s (%d of %d; %d name another key)", wantKey, tokens, want, wrongKey); err != nil {
		return nil, nil, err
	}
	kids := map[string]bool{}
	for _, id := range ids {
		for _, f := range got[id].manifest.Fields {
			kids[f.Kid] = true
		}
	}
	if err := w.check(len(kids) == 1 && kids[wantKey], "every copy's _phi manifest names key %s (names %v)", wantKey, keys(kids)); err != nil {
		return nil, nil, err
	}
	return got, sent, nil
}

func (w *walk) pushAndReceive(ctx context.Context) error {
	got, sent, err := w.round(ctx, "r1", w.key1)
	if err != nil {
		return err
	}
	n, bad, err := w.decrypt(ctx, w.key1File, w.key1, got, sent)
	if err != nil {
		return err
	}
	w.say("the customer decrypts the copies with %s and %s: %d fields back in clear, e.g. traits.email = %s",
		w.decryptTool(), w.key1File, n, patients[0].email)
	w.r1, w.r1sent = got, sent
	return w.check(bad == 0 && n == countFields(sent), "every token decrypts with the saved private key to the value that was sent (%d mismatches)", bad)
}

// rotatedKeyFile is where the rotated private key goes: beside file, "-2" before its extension.
func rotatedKeyFile(file string) string {
	ext := filepath.Ext(file)
	return strings.TrimSuffix(file, ext) + "-2" + ext
}

// waitCache waits out the pipeline's config cache TTL, within which configuration changes reach
// new events.
func (w *walk) waitCache(ctx context.Context) error {
	if w.cfg.CacheTTL <= 0 {
		return nil
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(w.cfg.CacheTTL + 500*time.Millisecond):
		return nil
	}
}

func (w *walk) rotate(ctx context.Context) error {
	w.key2File = rotatedKeyFile(w.key1File)
	k, _, _, err := w.generate(ctx, w.key2File)
	if err != nil {
		return err
	}
	w.key2 = k.ID
	status, _, err := w.keyStatuses(ctx)
	if err != nil {
		return err
	}
	w.say("owner configures a new key pair: %s is %s, %s is still %s; saved to %s",
		w.key2, status[w.key2], w.key1, status[w.key1], w.key2File)
	if err := w.check(w.key2 != w.key1 && status[w.key2] == "pending" && status[w.key1] == "active",
		"until Save, the new key is pending and the old one stays active"); err != nil {
		return err
	}

	// Even after the config cache TTL, events pushed while the new key is pending use the old key.
	if err := w.waitCache(ctx); err != nil {
		return err
	}
	gotP, sentP, err := w.round(ctx, "r2p", w.key1)
	if err != nil {
		return err
	}

	if err := w.activate(ctx, w.key2); err != nil {
		return err
	}
	if status, _, err = w.keyStatuses(ctx); err != nil {
		return err
	}
	w.say("owner presses Save: %s is %s, %s is now %s (nothing is re-encrypted)", w.key2, status[w.key2], w.key1, status[w.key1])
	if err := w.check(status[w.key2] == "active" && status[w.key1] == "decrypt-only",
		"after Save the new key is active and the old one decrypt-only"); err != nil {
		return err
	}

	// Rotation reaches the pipeline within its config cache TTL.
	if err := w.waitCache(ctx); err != nil {
		return err
	}
	got2, sent2, err := w.round(ctx, "r2", w.key2)
	if err != nil {
		return err
	}
	pend, pendBad, err := w.decrypt(ctx, w.key1File, w.key1, gotP, sentP)
	if err != nil {
		return err
	}
	if err := w.check(pendBad == 0 && pend == countFields(sentP),
		"the events pushed while the new key was pending decrypt with the old key (%d of %d)", pend, countFields(sentP)); err != nil {
		return err
	}
	old, oldBad, err := w.decrypt(ctx, w.key1File, w.key1, w.r1, w.r1sent)
	if err != nil {
		return err
	}
	neu, newBad, err := w.decrypt(ctx, w.key2File, w.key2, got2, sent2)
	if err != nil {
		return err
	}
	cross, _, err := w.decrypt(ctx, w.key1File, w.key1, got2, sent2)
	if err != nil {
		return err
	}
	w.say("old data decrypts with the old key (%d fields), new data with the new key (%d fields); the old key opens none of the new data (%d)",
		old, neu, cross)
	return w.check(oldBad == 0 && newBad == 0 && old == countFields(w.r1sent) && neu == countFields(sent2) && cross == 0,
		"both generations decrypt with their own private key only")
}

type auditRecord struct {
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`
	Action  string    `json:"action"`
	Target  string    `json:"target"`
	Outcome string    `json:"outcome"`
}

func (w *walk) audit(ctx context.Context) error {
	r, err := w.api.call(ctx, "GET", "/workspaces/"+w.ws+"/audit?limit=100", w.owner, nil, "")
	if err != nil {
		return err
	}
	if err := w.expect(r, http.StatusOK, "owner reads the audit log"); err != nil {
		return err
	}
	var list struct {
		Items []auditRecord `json:"items"`
	}
	if err := r.decode(&list); err != nil {
		return err
	}
	slices.SortStableFunc(list.Items, func(a, b auditRecord) int { return a.At.Compare(b.At) })
	w.say("the owner reads the audit trail: %d records", len(list.Items))
	seen := map[string]bool{}
	for _, line := range auditTable(list.Items) {
		w.detail("%s", line)
	}
	for _, it := range list.Items {
		seen[it.Action+" "+it.Outcome] = true
	}
	var missing []string
	for _, want := range []string{
		"workspace.create success", "workspace.plan.update success", "privacy.matcher.list success",
		"privacy.matcher.create success", "privacy.classification.update success", "destination.create success",
		"destination.hashing.update failed", "key.generate success", "key.generate failed", "key.list success", "key.activate success",
		"destination.hashing.update success", "destination.access-policy.read success", "destination.test success",
	} {
		if !seen[want] {
			missing = append(missing, want)
		}
	}
	return w.check(len(missing) == 0, "the audit trail records every step, including the refused one (missing: %v)", missing)
}

// auditTable lays the records out as aligned columns — time, action, outcome, actor, target —
// each as wide as its widest value, so no outcome ("attempted" is the longest) or actor shifts
// the columns after it.
func auditTable(items []auditRecord) []string {
	var action, outcome, actor int
	for _, it := range items {
		action = max(action, len(it.Action))
		outcome = max(outcome, len(it.Outcome))
		actor = max(actor, len(it.Actor))
	}
	lines := make([]string, len(items))
	for i, it := range items {
		lines[i] = fmt.Sprintf("%s  %-*s  %-*s  %-*s  %s", it.At.Format("15:04:05.000"),
			action, it.Action, outcome, it.Outcome, actor, it.Actor, it.Target)
	}
	return lines
}

func (w *walk) decryptTool() string {
	if w.cfg.Phictl != "" {
		return "`phictl decrypt`"
	}
	return "phictl's code path (fieldcrypt.Keyring)"
}

// decrypt opens the configured fields of the copies with the private key in file (key id kid),
// through phictl when configured, and compares them with what was sent. It returns how many
// fields came back in clear and how many of those differ from what was sent.
func (w *walk) decrypt(ctx context.Context, file, kid string, got map[string]*copyOf, sent []sentEvent) (opened, mismatched int, err error) {
	if w.cfg.Phictl == "" {
		ring, err := keyring(file, kid)
		if err != nil {
			return 0, 0, err
		}
		opened, mismatched = decryptAll(ring, got, sent)
		return opened, mismatched, nil
	}
	var in bytes.Buffer
	for _, s := range sent {
		if c := got[s.messageID]; c != nil {
			in.Write(c.raw)
			in.WriteByte('\n')
		}
	}
	cmd := exec.CommandContext(ctx, w.cfg.Phictl, "decrypt", "--private-key", file+":"+kid)
	cmd.Stdin = &in
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("phictl decrypt: %w: %s", err, short(strings.TrimSpace(stderr.String()), 300))
	}
	clear := map[string]map[string]any{}
	dec := json.NewDecoder(&stdout)
	for dec.More() {
		var ev map[string]any
		if err := dec.Decode(&ev); err != nil {
			return 0, 0, fmt.Errorf("phictl decrypt wrote something that is not JSON: %w", err)
		}
		id, _ := ev["messageId"].(string)
		clear[id] = ev
	}
	for _, s := range sent {
		ev := clear[s.messageID]
		for path, want := range s.fields {
			v, _ := lookup(ev, path).(string)
			switch {
			case v == want:
				opened++
			case v != "" && !strings.HasPrefix(v, fieldcrypt.HPKETokenPrefix):
				opened++
				mismatched++
			}
		}
	}
	return opened, mismatched, nil
}

// keyring loads a saved private key the way `phictl decrypt --private-key FILE` does.
func keyring(file, kid string) (*fieldcrypt.Keyring, error) {
	pemData, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read the private key: %w", err)
	}
	k, err := fieldcrypt.ParsePrivateKey(pemData)
	if err != nil {
		return nil, fmt.Errorf("parse the private key in %s: %w", file, err)
	}
	ring := &fieldcrypt.Keyring{}
	if err := ring.Add(kid, k); err != nil {
		return nil, fmt.Errorf("load the private key in %s: %w", file, err)
	}
	return ring, nil
}

// decryptAll opens every configured field of the copies with ring and compares it with what was
// sent. It returns how many fields opened and how many opened to a different value.
func decryptAll(ring *fieldcrypt.Keyring, got map[string]*copyOf, sent []sentEvent) (opened, mismatched int) {
	for _, s := range sent {
		c := got[s.messageID]
		if c == nil {
			continue
		}
		for path, want := range s.fields {
			tok, _ := lookup(c.event, path).(string)
			plain, err := ring.Open(tok)
			if err != nil {
				continue
			}
			opened++
			if string(plain) != want {
				mismatched++
			}
		}
	}
	return opened, mismatched
}

func countFields(sent []sentEvent) int {
	n := 0
	for _, s := range sent {
		n += len(s.fields)
	}
	return n
}

// lookup returns the value at a dotted path of a decoded event, or nil.
func lookup(ev map[string]any, path string) any {
	var cur any = ev
	for _, seg := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[seg]
	}
	return cur
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// clip shortens a token for display.
func clip(s string) string { return short(s, 24) }

func short(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// ConfigFor returns the Config that walks the workflow against the local service s, saving the
// first private key to keyFile and printing to out.
func ConfigFor(s *devserver.Server, cacheTTL time.Duration, keyFile string, out io.Writer) Config {
	return Config{
		APIURL: s.APIURL, OperatorSecret: s.OperatorSecret,
		ReceiverURL: s.ReceiverURL, ReceiverClient: s.ReceiverClient,
		IngestQueueURL: s.Resources.IngestQueueURL, SQS: s.Clients.SQS, S3: s.Clients.S3,
		PrivateKeyOut: keyFile, CacheTTL: cacheTTL, Out: out,
	}
}
