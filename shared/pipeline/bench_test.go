package pipeline_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/phiguard/phiguard/shared/fieldcrypt"
	"github.com/phiguard/phiguard/shared/pack"
	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/pipeline"
	"github.com/phiguard/phiguard/shared/privacy"
)

// In-memory fakes for measuring the handler itself; behaviour against AWS is tested with the
// emulators in handler_test.go.

type memStore struct{ snap *phi.Snapshot }

func (m memStore) LoadSnapshot(context.Context, string) (*phi.Snapshot, []privacy.Matcher, error) {
	return m.snap, nil, nil
}
func (memStore) RecordInboxPaths(context.Context, string, string, []string) error {
	return nil
}

type countingSNS struct {
	inFlight, maxInFlight, copies atomic.Int64
}

func (c *countingSNS) PublishBatch(_ context.Context, in *sns.PublishBatchInput, _ ...func(*sns.Options)) (*sns.PublishBatchOutput, error) {
	n := c.inFlight.Add(1)
	defer c.inFlight.Add(-1)
	for {
		m := c.maxInFlight.Load()
		if n <= m || c.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(100 * time.Microsecond) // a network call takes time: lets batches overlap
	out := &sns.PublishBatchOutput{}
	for _, e := range in.PublishBatchRequestEntries {
		out.Successful = append(out.Successful, snstypes.PublishBatchResultEntry{Id: e.Id})
	}
	for _, e := range in.PublishBatchRequestEntries {
		copies, err := pack.FromMessage([]byte(aws.ToString(e.Message)), aws.ToString(e.MessageAttributes[pipeline.AttrFormat].StringValue),
			aws.ToString(e.MessageAttributes[pipeline.AttrDedupID].StringValue))
		if err != nil {
			return nil, err
		}
		c.copies.Add(int64(len(copies)))
	}
	return out, nil
}

type noSQS struct{}

func (noSQS) SendMessage(context.Context, *sqs.SendMessageInput, ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	return &sqs.SendMessageOutput{}, nil
}

type fixedKMS struct{ key []byte }

func (f fixedKMS) Decrypt(context.Context, *kms.DecryptInput, ...func(*kms.Options)) (*kms.DecryptOutput, error) {
	return &kms.DecryptOutput{Plaintext: append([]byte(nil), f.key...)}, nil
}

var (
	memOnce sync.Once
	memSnap *phi.Snapshot
)

// memWorld is a workspace with one source and three destinations using every treatment.
func memWorld(tb testing.TB) *phi.Snapshot {
	memOnce.Do(func() {
		ws := phi.Workspace{ID: phi.NewID(phi.PrefixWorkspace), Tier: phi.TierBusiness, BAA: phi.BAA{Signed: true}}
		src := phi.Source{ID: phi.NewID(phi.PrefixSource), WorkspaceID: ws.ID}
		snap := &phi.Snapshot{Workspace: ws, Sources: []phi.Source{src},
			Classifications: []phi.Classification{{Path: "traits.ssn", Class: "red"}}}
		for range 3 {
			d := phi.Destination{ID: phi.NewID(phi.PrefixDestination), WorkspaceID: ws.ID, SourceID: src.ID, Type: phi.DestinationWebhook, Enabled: true, Hashing: full}
			priv, err := fieldcrypt.GenerateKeyPair(fieldcrypt.HPKEP256, 0)
			if err != nil {
				panic(err)
			}
			snap.Destinations = append(snap.Destinations, d)
			snap.Keys = append(snap.Keys,
				phi.Key{ID: phi.NewID(phi.PrefixKey), WorkspaceID: ws.ID, DestinationID: d.ID, Kind: phi.KeyEncryption, Algorithm: "hpke-p256", Status: phi.KeyActive, PublicKeyPEM: string(priv.Public().PEM())},
				phi.Key{ID: phi.NewID(phi.PrefixKey), WorkspaceID: ws.ID, DestinationID: d.ID, Kind: phi.KeyHMAC, Algorithm: "hmac-sha256", Status: phi.KeyActive, EncryptedHMACKey: []byte{1}})
		}
		memSnap = snap
	})
	return memSnap
}

func memHandler(tb testing.TB, pub pipeline.Publisher) (*pipeline.Handler, *phi.Snapshot) {
	snap := memWorld(tb)
	h, err := pipeline.New(pipeline.Config{Store: memStore{snap}, SNS: pub, SQS: noSQS{}, KMS: fixedKMS{make([]byte, 32)},
		TopicARN: "arn:aws:sns:us-east-1:111122223333:t", RejectedQueueURL: "https://q", PublishConcurrency: 8})
	if err != nil {
		tb.Fatal(err)
	}
	return h, snap
}

func memEvent(snap *phi.Snapshot, n int) events.SQSEvent {
	ev := events.SQSEvent{Records: make([]events.SQSMessage, n)}
	ws, src := snap.Workspace.ID, snap.Sources[0].ID
	for i := range ev.Records {
		body := identify(fmt.Sprintf("m-%d", i))
		if i%2 == 1 {
			body = track(fmt.Sprintf("m-%d", i))
		}
		ev.Records[i] = events.SQSMessage{MessageId: fmt.Sprint(i), Body: body, MessageAttributes: map[string]events.SQSMessageAttribute{
			pipeline.AttrWorkspace: {StringValue: aws.String(ws), DataType: "String"},
			pipeline.AttrSource:    {StringValue: aws.String(src), DataType: "String"},
		}}
	}
	return ev
}

// A batch of 10,000 messages streams through: every copy is published and no more than the
// configured number of PublishBatch calls (each holding at most 10 copies) is ever in flight,
// so memory does not grow with the batch.
func TestTenThousandMessagesStreamThroughInBoundedMemory(t *testing.T) {
	pub := &countingSNS{}
	h, snap := memHandler(t, pub)
	resp, err := h.Handle(context.Background(), memEvent(snap, 10_000))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("failures %d err %v", len(resp.BatchItemFailures), err)
	}
	if got := pub.copies.Load(); got != 30_000 {
		t.Fatalf("published %d copies, want 30000", got)
	}
	if m := pub.maxInFlight.Load(); m > 8 || m < 2 {
		t.Fatalf("%d PublishBatch calls in flight at most; want between 2 (concurrent) and 8 (bounded)", m)
	}
}

// BenchmarkHandle measures the whole handler (validation, inbox path extraction, transform for
// three destinations, SNS batching) on invocations of 100 messages, with in-memory fakes.
func BenchmarkHandle(b *testing.B) {
	h, snap := memHandler(b, &countingSNS{})
	ev := memEvent(snap, 100)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := h.Handle(context.Background(), ev); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/event")
}
