package pipeline_test

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/phiguard/phiguard/shared/awsclient"
	"github.com/phiguard/phiguard/shared/awsmetrics"
	"github.com/phiguard/phiguard/shared/awstest"
	"github.com/phiguard/phiguard/shared/dynamo"
	"github.com/phiguard/phiguard/shared/fieldcrypt"
	"github.com/phiguard/phiguard/shared/logtest"
	"github.com/phiguard/phiguard/shared/pack"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/pipeline"
)

// countOf returns how many calls of operation op ("DynamoDB.Query") c counted.
func countOf(c *awsmetrics.Counter, op string) int {
	service, operation, _ := strings.Cut(op, ".")
	return int(c.Snapshot()[awsmetrics.Key{Service: service, Operation: operation}].Calls)
}

// env is one test's world: a table, a topic, an ingest and a rejected queue in moto, a KMS
// key in local-kms, and a HIPAA-eligible workspace with one source.
type env struct {
	t        *testing.T
	ctx      context.Context
	clients  *awsclient.Clients
	store    *dynamo.Store // uncounted, for seeding and checks
	table    string
	topicARN string
	ingest   string
	rejected string
	kmsKey   string
	ws       *phi.Workspace
	src      *phi.Source
	// rejectSQS, when set, replaces the SQS client the handler parks rejections with.
	rejectSQS pipeline.Sender
	ddbOps    *awsmetrics.Counter
	kmsOps    *awsmetrics.Counter
	logs      *logtest.Buffer
	metrics   *logtest.Buffer
	now       time.Time
}

func newEnv(t *testing.T) *env {
	t.Helper()
	c := awstest.Clients(t)
	ctx := context.Background()
	e := &env{t: t, ctx: ctx, clients: c, ddbOps: &awsmetrics.Counter{}, kmsOps: &awsmetrics.Counter{}, logs: &logtest.Buffer{}, metrics: &logtest.Buffer{},
		now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}

	e.table = awstest.UniqueName("pipeline")
	if err := dynamo.CreateTable(ctx, c.DynamoDB, e.table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.DynamoDB.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(e.table)}) })
	e.store = dynamo.New(c.DynamoDB, e.table)

	topic, err := c.SNS.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(awstest.UniqueName("fanout"))})
	if err != nil {
		t.Fatal(err)
	}
	e.topicARN = aws.ToString(topic.TopicArn)
	t.Cleanup(func() { _, _ = c.SNS.DeleteTopic(ctx, &sns.DeleteTopicInput{TopicArn: topic.TopicArn}) })
	e.ingest = e.queue("ingest")
	e.rejected = e.queue("rejected")

	key, err := c.KMS.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("pipeline test")})
	if err != nil {
		t.Fatal(err)
	}
	e.kmsKey = aws.ToString(key.KeyMetadata.KeyId)

	e.ws = &phi.Workspace{ID: phi.NewID(phi.PrefixWorkspace), Name: "Clinic", Tier: phi.TierBusiness,
		BAA: phi.BAA{Signed: true, SignedAt: e.now, SignedBy: "operator:test"}}
	owner := &phi.Token{ID: phi.NewID(phi.PrefixToken), Name: "owner", Role: phi.RoleOwner}
	var secret [32]byte
	_, _ = rand.Read(secret[:])
	sum := sha256.Sum256(secret[:])
	if err := e.store.CreateWorkspace(ctx, e.ws, owner, hex.EncodeToString(sum[:])); err != nil {
		t.Fatal(err)
	}
	e.src = e.source("web")
	for path, class := range map[string]string{
		"traits.email": "yellow", "traits.phone": "yellow", "traits.name": "yellow", "context.ip": "yellow",
		"properties.products[].name": "yellow", "traits.ssn": "red",
	} {
		if err := e.store.PutClassification(ctx, e.ws.ID, phi.Classification{Path: path, Class: class, DecidedBy: owner.ID}); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func (e *env) source(name string) *phi.Source {
	s := &phi.Source{ID: phi.NewID(phi.PrefixSource), WorkspaceID: e.ws.ID, Name: name}
	if err := e.store.CreateSource(e.ctx, s); err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *env) queue(prefix string) string {
	e.t.Helper()
	q, err := e.clients.SQS.CreateQueue(e.ctx, &sqs.CreateQueueInput{QueueName: aws.String(awstest.UniqueName(prefix))})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _, _ = e.clients.SQS.DeleteQueue(e.ctx, &sqs.DeleteQueueInput{QueueUrl: q.QueueUrl}) })
	return aws.ToString(q.QueueUrl)
}

// dest is a destination with its own queue subscribed to the topic (raw delivery, filtered
// on its id) and the private halves of its keys, as the customer holds them.
type dest struct {
	d        *phi.Destination
	queue    string
	ring     fieldcrypt.Keyring
	encKey   *phi.Key
	hmacKey  *phi.Key
	hmacData []byte
}

type destOpts struct {
	src      *phi.Source
	enabled  bool
	hashing  phi.HashingSettings
	alg      fieldcrypt.Algorithm // "" → no encryption key
	withHMAC bool
}

func (e *env) destination(o destOpts) *dest {
	e.t.Helper()
	ctx := e.ctx
	if o.src == nil {
		o.src = e.src
	}
	d := &phi.Destination{ID: phi.NewID(phi.PrefixDestination), WorkspaceID: e.ws.ID, SourceID: o.src.ID, Name: "hook",
		Type: phi.DestinationWebhook, Enabled: o.enabled, Settings: phi.DestinationSettings{URL: "https://hooks.example.com/in"}, Hashing: o.hashing}
	if err := e.store.CreateDestination(ctx, d); err != nil {
		e.t.Fatal(err)
	}
	out := &dest{d: d, queue: e.queue("dst")}
	attrs, err := e.clients.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(out.queue),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		e.t.Fatal(err)
	}
	_, err = e.clients.SNS.Subscribe(ctx, &sns.SubscribeInput{TopicArn: aws.String(e.topicARN), Protocol: aws.String("sqs"),
		Endpoint: aws.String(attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]),
		Attributes: map[string]string{"RawMessageDelivery": "true",
			"FilterPolicy": fmt.Sprintf(`{%q: [%q]}`, pipeline.AttrDestination, d.ID)}})
	if err != nil {
		e.t.Fatal(err)
	}
	if o.alg != "" {
		priv, err := fieldcrypt.GenerateKeyPair(o.alg, 2048)
		if err != nil {
			e.t.Fatal(err)
		}
		k := &phi.Key{ID: phi.NewID(phi.PrefixKey), WorkspaceID: e.ws.ID, DestinationID: d.ID, Kind: phi.KeyEncryption,
			Algorithm: string(o.alg), Origin: phi.OriginKMS, PublicKeyPEM: string(priv.Public().PEM()),
			Fingerprint: priv.Public().Fingerprint(), CreatedBy: "tok_test"}
		if err := e.store.PutActiveKey(ctx, k); err != nil {
			e.t.Fatal(err)
		}
		if err := out.ring.Add(k.ID, priv); err != nil {
			e.t.Fatal(err)
		}
		out.encKey = k
	}
	if o.withHMAC {
		k := &phi.Key{ID: phi.NewID(phi.PrefixKey), WorkspaceID: e.ws.ID, DestinationID: d.ID, Kind: phi.KeyHMAC,
			Algorithm: "hmac-sha256", Origin: phi.OriginKMS, CreatedBy: "tok_test"}
		dk, err := e.clients.KMS.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(e.kmsKey),
			KeySpec: kmstypes.DataKeySpecAes256, EncryptionContext: k.HMACEncryptionContext()})
		if err != nil {
			e.t.Fatal(err)
		}
		k.EncryptedHMACKey = dk.CiphertextBlob
		if err := e.store.PutActiveKey(ctx, k); err != nil {
			e.t.Fatal(err)
		}
		out.hmacKey, out.hmacData = k, dk.Plaintext
	}
	return out
}

// handler builds a pipeline on counted DynamoDB and KMS clients and the given SNS client, packing
// the copies (the default).
func (e *env) handler(pub pipeline.Publisher) *pipeline.Handler {
	e.t.Helper()
	return e.handlerWith(pub, false)
}

// handlerWith is handler, publishing every copy on its own when single is set.
func (e *env) handlerWith(pub pipeline.Publisher, single bool) *pipeline.Handler {
	e.t.Helper()
	ddbCfg, kmsCfg := e.clients.Config.Copy(), e.clients.Config.Copy()
	e.ddbOps.Attach(&ddbCfg)
	e.kmsOps.Attach(&kmsCfg)
	ddb, kc := dynamodb.NewFromConfig(ddbCfg), kms.NewFromConfig(kmsCfg)
	if pub == nil {
		pub = e.clients.SNS
	}
	h, err := pipeline.New(pipeline.Config{
		Store: dynamo.New(ddb, e.table), SNS: pub, SQS: cmp.Or[pipeline.Sender](e.rejectSQS, e.clients.SQS), KMS: kc,
		TopicARN: e.topicARN, RejectedQueueURL: e.rejected, KMSKeyID: e.kmsKey,
		Logger:  slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics: e.metrics, RetryBase: time.Millisecond, PublishAttempts: 3,
		Now:          func() time.Time { return e.now },
		SingleCopies: single,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return h
}

// msg is an ingest message as a producer sends it.
type msg struct {
	body    string
	ws, src string
}

func (e *env) msg(body string) msg { return msg{body: body, ws: e.ws.ID, src: e.src.ID} }

// sqsEvent sends msgs to the ingest queue in moto, receives them back and returns them as the
// SQS event Lambda would deliver, in the order sent.
func (e *env) sqsEvent(msgs ...msg) events.SQSEvent {
	e.t.Helper()
	ids := map[string]int{}
	for i, m := range msgs {
		attrs := map[string]sqstypes.MessageAttributeValue{}
		if m.ws != "" {
			attrs[pipeline.AttrWorkspace] = sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(m.ws)}
		}
		if m.src != "" {
			attrs[pipeline.AttrSource] = sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(m.src)}
		}
		out, err := e.clients.SQS.SendMessage(e.ctx, &sqs.SendMessageInput{QueueUrl: aws.String(e.ingest), MessageBody: aws.String(m.body), MessageAttributes: attrs})
		if err != nil {
			e.t.Fatal(err)
		}
		ids[aws.ToString(out.MessageId)] = i
	}
	recs := make([]events.SQSMessage, len(msgs))
	for _, m := range e.drain(e.ingest) {
		i, ok := ids[m.id]
		if !ok {
			e.t.Fatalf("unexpected message %s on the ingest queue", m.id)
		}
		rec := events.SQSMessage{MessageId: m.id, Body: m.body, EventSource: "aws:sqs", MessageAttributes: map[string]events.SQSMessageAttribute{}}
		for k, v := range m.attrs {
			v := v
			rec.MessageAttributes[k] = events.SQSMessageAttribute{StringValue: &v, DataType: "String"}
		}
		recs[i] = rec
	}
	for i, r := range recs {
		if r.MessageId == "" {
			e.t.Fatalf("message %d was not received from the ingest queue", i)
		}
	}
	return events.SQSEvent{Records: recs}
}

type received struct {
	id    string
	body  string
	attrs map[string]string
}

// drain receives and deletes every message on queue.
func (e *env) drain(queue string) []received {
	e.t.Helper()
	var out []received
	for empty := 0; empty < 2; {
		r, err := e.clients.SQS.ReceiveMessage(e.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queue), MaxNumberOfMessages: 10,
			MessageAttributeNames: []string{"All"}, VisibilityTimeout: 60})
		if err != nil {
			e.t.Fatal(err)
		}
		if len(r.Messages) == 0 {
			empty++
			continue
		}
		for _, m := range r.Messages {
			got := received{id: aws.ToString(m.MessageId), body: aws.ToString(m.Body), attrs: map[string]string{}}
			for k, v := range m.MessageAttributes {
				got.attrs[k] = aws.ToString(v.StringValue)
			}
			out = append(out, got)
			if _, err := e.clients.SQS.DeleteMessage(e.ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queue), ReceiptHandle: m.ReceiptHandle}); err != nil {
				e.t.Fatal(err)
			}
		}
	}
	return out
}

// copies drains d's queue and returns its copies by the messageId of their event.
func (e *env) copies(d *dest) map[string]copyDoc {
	e.t.Helper()
	out := map[string]copyDoc{}
	for _, r := range e.drain(d.queue) {
		copies, err := pack.FromMessage([]byte(r.body), r.attrs[pipeline.AttrFormat], r.attrs[pipeline.AttrDedupID])
		if err != nil {
			e.t.Fatalf("message for %s: %v", d.d.ID, err)
		}
		for _, c := range copies {
			var doc map[string]any
			if err := json.Unmarshal(c.Event, &doc); err != nil {
				e.t.Fatalf("copy for %s is not JSON: %v", d.d.ID, err)
			}
			id, _ := doc["messageId"].(string)
			if _, dup := out[id]; dup {
				e.t.Fatalf("destination %s received event %s twice", d.d.ID, id)
			}
			// A copy's attributes are its message's routing attributes and its own dedup id,
			// whether it came alone or in a pack.
			attrs := maps.Clone(r.attrs)
			delete(attrs, pipeline.AttrFormat)
			attrs[pipeline.AttrDedupID] = c.DedupID
			out[id] = copyDoc{raw: string(c.Event), doc: doc, attrs: attrs, packed: r.attrs[pipeline.AttrFormat] == pack.Format}
		}
	}
	return out
}

type copyDoc struct {
	raw    string
	doc    map[string]any
	attrs  map[string]string
	packed bool // it arrived in a pack
}

// at returns the value at a dotted path of the copy (no arrays), and whether it is present.
func (c copyDoc) at(path ...string) (any, bool) {
	var v any = c.doc
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

// manifest returns the copy's _phi fields and dropped entries as "path treatment" and
// "path reason" strings, sorted.
func (c copyDoc) manifest() (fields, dropped []string) {
	m, _ := c.doc["_phi"].(map[string]any)
	for _, f := range asList(m["fields"]) {
		fields = append(fields, fmt.Sprint(f["path"], " ", f["treatment"]))
	}
	for _, f := range asList(m["dropped"]) {
		dropped = append(dropped, fmt.Sprint(f["path"], " ", f["reason"]))
	}
	sort.Strings(fields)
	sort.Strings(dropped)
	return fields, dropped
}

func asList(v any) []map[string]any {
	var out []map[string]any
	l, _ := v.([]any)
	for _, x := range l {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// flakySNS wraps the real SNS client for fault injection: it fails the first failCalls calls
// outright (throttling) and, while failDedup is set, reports the entries with those dedup ids
// (single copies, or packs holding such a copy) as failed (a retryable, non-sender fault) without
// publishing them.
type flakySNS struct {
	real      pipeline.Publisher
	mu        sync.Mutex
	calls     int
	failCalls int
	failDedup map[string]bool
	err       error
}

func (f *flakySNS) PublishBatch(ctx context.Context, in *sns.PublishBatchInput, opts ...func(*sns.Options)) (*sns.PublishBatchOutput, error) {
	f.mu.Lock()
	f.calls++
	fail := f.calls <= f.failCalls
	failDedup := f.failDedup
	f.mu.Unlock()
	if fail {
		if f.err != nil {
			return nil, f.err
		}
		return nil, &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded"}
	}
	out := &sns.PublishBatchOutput{}
	pass := *in
	pass.PublishBatchRequestEntries = nil
	for _, e := range in.PublishBatchRequestEntries {
		if failDedup[aws.ToString(e.MessageAttributes[pipeline.AttrDedupID].StringValue)] || packHolds(e, failDedup) {
			out.Failed = append(out.Failed, snstypes.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InternalError"), SenderFault: false})
			continue
		}
		pass.PublishBatchRequestEntries = append(pass.PublishBatchRequestEntries, e)
	}
	if len(pass.PublishBatchRequestEntries) > 0 {
		real, err := f.real.PublishBatch(ctx, &pass, opts...)
		if err != nil {
			return nil, err
		}
		out.Successful = append(out.Successful, real.Successful...)
		out.Failed = append(out.Failed, real.Failed...)
	}
	return out, nil
}

// packHolds reports whether entry e is a pack holding a copy with one of the dedup ids.
func packHolds(e snstypes.PublishBatchRequestEntry, dedup map[string]bool) bool {
	if aws.ToString(e.MessageAttributes[pipeline.AttrFormat].StringValue) != pack.Format {
		return false
	}
	copies, err := pack.Decode([]byte(aws.ToString(e.Message)))
	if err != nil {
		return false
	}
	return slices.ContainsFunc(copies, func(c pack.Copy) bool { return dedup[c.DedupID] })
}

func itoa(i int) string { return strconv.Itoa(i) }
