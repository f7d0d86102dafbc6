// Package costmodel computes docs/COST.md and docs/SCALING.md from the figures the end-to-end
// benchmark measured (docs/cost/measured.json, written by `make bench`) and AWS's prices and
// quotas (docs/cost/prices.json, with the date they were taken). scripts/costmodel is its
// command (`make cost`); a test fails when the committed documents differ from what Generate
// returns, so they cannot drift from the figures.
//
// The model counts requests the way the benchmark does (shared/awsmetrics: SNS and SQS bill each
// 64 KiB chunk of a request's payload) for any number of destinations, event size, producer
// batching and spread of traffic over workspaces, from the mechanism — messages per call, copies
// per pack, chunks per message — calibrated by the measured copy size; each measured run is shown
// beside the model's figure for the same configuration, so a reader sees how well it fits.
package costmodel

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"

	"github.com/phiguard/phiguard/shared/pack"
	"github.com/phiguard/phiguard/shared/stack"
)

// Measured is the benchmark's output (scripts/internal/devserver, BenchmarkPipelineReport).
type Measured struct {
	Source        string `json:"source"`
	Destinations  int    `json:"destinations"`
	IngestBatch   int    `json:"ingestBatch"`
	DeliveryBatch int    `json:"deliveryBatch"`
	Runs          []Run  `json:"runs"`
}

// Run is one mode of the benchmark, per 1,000 events; the benchmark writes it as it measured it.
type Run struct {
	Mode       string `json:"mode"`
	PerMessage int    `json:"eventsPerMessage"`
	Events     int    `json:"events"`
	// Requests and Billed are the AWS requests per 1,000 events (API calls, and the requests AWS
	// bills: 64 KiB chunks), including SNS's deliveries to the destination queue and excluding
	// receives that returned nothing (idle polling, a fixed cost per queue, not per event).
	Requests float64 `json:"requestsPer1000"`
	Billed   float64 `json:"billedPer1000"`
	// ByOperation is Billed by "Service.Operation" (and "SQS.SNSDelivery").
	ByOperation map[string]float64 `json:"billedPer1000ByOperation"`
	// HashingMS and DeliveryMS are the functions' run time per 1,000 events; HashingInvocations
	// and DeliveryInvocations their invocations per 1,000 events.
	HashingMS           float64 `json:"hashingMsPer1000"`
	DeliveryMS          float64 `json:"deliveryMsPer1000"`
	HashingInvocations  float64 `json:"hashingInvocationsPer1000"`
	DeliveryInvocations float64 `json:"deliveryInvocationsPer1000"`
	// EventBytes is the mean size of an ingested event; CopyBytes of a protected copy.
	EventBytes float64 `json:"eventBytes"`
	CopyBytes  float64 `json:"copyBytes"`
	// FanOutBytesPerCopy is what the hashing function published to SNS per copy (message bodies
	// and attributes): CopyBytes and the attributes for single copies, much less for packs.
	FanOutBytesPerCopy float64 `json:"fanOutBytesPerCopy"`
	// PackRatio is how much shared/pack shrinks packs of the copies delivered, by copies per
	// pack (in increasing order).
	PackRatio PackRatios `json:"packRatio"`
	// Seconds is the wall time from the first push to the last delivery; Duplicates the copies
	// delivered more than once.
	Seconds    float64 `json:"seconds"`
	Duplicates int     `json:"duplicates"`
}

// PackRatio is the encoded size of packs of Copies copies over the sum of their pack.Size.
type PackRatio struct {
	Copies int     `json:"copies"`
	Ratio  float64 `json:"ratio"`
}

// PackRatios are the ratios measured for several pack sizes.
type PackRatios []PackRatio

// String lists the ratios as "copies: ratio, …".
func (rs PackRatios) String() string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%d: %.2f", r.Copies, r.Ratio))
	}
	if len(out) == 0 {
		return "none measured: 1"
	}
	return strings.Join(out, ", ")
}

// Prices are AWS's prices, quotas and the model's other assumptions (docs/cost/prices.json).
type Prices struct {
	Taken  string `json:"taken"`
	Region string `json:"region"`
	Note   string `json:"note"`
	Prices struct {
		SQS            float64 `json:"sqsPerMillionRequests"`
		SNS            float64 `json:"snsPerMillionPublishes"`
		SNSToSQS       float64 `json:"snsToSQSDeliveryPerMillion"`
		LambdaRequests float64 `json:"lambdaPerMillionRequests"`
		LambdaGBSecond float64 `json:"lambdaArmPerGBSecond"`
		DynamoDBReads  float64 `json:"dynamoDBPerMillionReadUnits"`
		DynamoDBWrites float64 `json:"dynamoDBPerMillionWriteUnits"`
		KMS            float64 `json:"kmsPerMillionRequests"`
	} `json:"prices"`
	Billing struct {
		ChunkBytes int    `json:"chunkBytes"`
		Note       string `json:"chunkNote"`
	} `json:"billing"`
	Quotas struct {
		SNSPublish         float64 `json:"snsPublishMessagesPerSecond"`
		SNSNote            string  `json:"snsPublishNote"`
		LambdaConcurrency  float64 `json:"lambdaAccountConcurrency"`
		ESMMaxConcurrency  float64 `json:"sqsEventSourceMaxConcurrency"`
		SQSInFlight        float64 `json:"sqsInFlightMessages"`
		DynamoDBTableReads float64 `json:"dynamoDBTableReadUnitsPerSecond"`
		DynamoDBPartition  float64 `json:"dynamoDBPartitionReadUnitsPerSecond"`
		KMS                float64 `json:"kmsSymmetricRequestsPerSecond"`
		KMSNote            string  `json:"kmsNote"`
	} `json:"quotas"`
	Assumptions struct {
		Workspaces            int     `json:"workspaces"`
		Destinations          int     `json:"destinationsPerWorkspace"`
		SnapshotReadUnits     float64 `json:"snapshotReadUnits"`
		DestinationReadUnits  float64 `json:"destinationReadUnits"`
		TransformEventsPerSec float64 `json:"transformEventsPerCoreSecond"`
		TransformNote         string  `json:"transformNote"`
		LambdaMBPerVCPU       float64 `json:"lambdaMBPerVCPU"`
		AWSCallMS             float64 `json:"awsCallMilliseconds"`
		WebhookMS             float64 `json:"webhookMilliseconds"`
		WebhookConcurrency    float64 `json:"webhookConcurrencyPerDestination"`
		IdlePollers           float64 `json:"idlePollersPerQueue"`
		IdlePollSeconds       float64 `json:"idlePollSeconds"`
	} `json:"assumptions"`
}

// Load reads the measured figures and the prices. It fails when a file is missing or malformed,
// or the measurement lacks a naive and a packed run for single-event messages.
func Load(measuredFile, pricesFile string) (*Measured, *Prices, error) {
	var m Measured
	var p Prices
	for _, f := range []struct {
		name string
		v    any
	}{{measuredFile, &m}, {pricesFile, &p}} {
		b, err := os.ReadFile(f.name)
		if err != nil {
			return nil, nil, err
		}
		if err := json.Unmarshal(b, f.v); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", f.name, err)
		}
	}
	if m.run("naive") == nil || m.run("packed") == nil {
		return nil, nil, fmt.Errorf("%s: want the runs naive and packed (make bench)", measuredFile)
	}
	if p.Taken == "" || p.Billing.ChunkBytes <= 0 {
		return nil, nil, fmt.Errorf("%s: want the date the prices were taken and the billing chunk", pricesFile)
	}
	return &m, &p, nil
}

func (m *Measured) run(mode string) *Run {
	for i := range m.Runs {
		if m.Runs[i].Mode == mode {
			return &m.Runs[i]
		}
	}
	return nil
}

// Attribute bytes of an ingest message (workspace and source) and of a fan-out message (the
// routing attributes), as SNS and SQS count them; and the bytes pack.Encode adds per copy
// besides its event before compression (keys, a 32-character dedup id).
const (
	ingestAttrBytes = 80
	fanOutAttrBytes = 160
	packCopyBytes   = 77
	receiveBatch    = 10 // SQS returns at most 10 messages per ReceiveMessage
	sendBatch       = 10 // and takes at most 10 per SendMessageBatch or PublishBatch
	requestLimit    = 256 << 10
)

// shape is the traffic the model is evaluated for.
type shape struct {
	packed       bool
	destinations int
	eventBytes   float64
	perMessage   int // events per ingest message
	workspaces   int // workspaces the traffic is spread over, evenly
}

// requests is the model's count per 1,000 events: API calls and billed requests by part.
type requests struct {
	calls, billed map[string]float64
	// copiesPerPack is how many copies an SNS message holds on average; packs the messages
	// per 1,000 events.
	copiesPerPack, messages float64
	hashingInvocations      float64
	deliveryInvocations     float64
}

func (r requests) total() (calls, billed float64) {
	for _, v := range r.calls {
		calls += v
	}
	for _, v := range r.billed {
		billed += v
	}
	return calls, billed
}

// calib is what the model takes from the measurement: the bytes a copy has beyond its event
// (tokens and the manifest) and how much shared/pack shrinks packs by copies per pack.
type calib struct {
	overhead float64
	ratios   PackRatios
}

// ratio is the measured shrink of a pack of n copies, interpolated on log n between the
// measured pack sizes and held at the ends.
func (c calib) ratio(n float64) float64 {
	rs := c.ratios
	switch {
	case len(rs) == 0:
		return 1
	case n <= float64(rs[0].Copies):
		return rs[0].Ratio
	}
	for i := 1; i < len(rs); i++ {
		if a, b := rs[i-1], rs[i]; n <= float64(b.Copies) {
			f := math.Log(n/float64(a.Copies)) / math.Log(float64(b.Copies)/float64(a.Copies))
			return a.Ratio + f*(b.Ratio-a.Ratio)
		}
	}
	return rs[len(rs)-1].Ratio
}

// model returns the requests per 1,000 events of s, with the measured calibration c, chunk the
// billing chunk and batch the ingest batch size.
func model(s shape, c calib, chunk, batch int) requests {
	r := requests{calls: map[string]float64{}, billed: map[string]float64{}}
	chunks := func(bytes float64) float64 { return math.Max(1, math.Ceil(bytes/float64(chunk))) }
	add := func(op string, calls, billedPerCall float64) {
		r.calls[op] += calls
		r.billed[op] += calls * billedPerCall
	}
	// Ingest: the producer's SendMessageBatch, the event source's receives and deletes.
	msgs := 1000 / float64(s.perMessage)
	msgBytes := float64(s.perMessage)*s.eventBytes + ingestAttrBytes
	perSend := math.Min(sendBatch, math.Floor(requestLimit/msgBytes))
	add("SQS.SendMessageBatch (producer)", msgs/perSend, chunks(perSend*msgBytes))
	add("SQS.ReceiveMessage (ingest)", msgs/receiveBatch, chunks(receiveBatch*msgBytes))
	add("SQS.DeleteMessageBatch (ingest)", msgs/receiveBatch, 1)
	r.hashingInvocations = msgs / float64(batch)

	copyBytes := s.eventBytes + c.overhead
	copies := 1000 * float64(s.destinations)
	var msgSize float64 // of one fan-out message
	if !s.packed {
		r.messages, r.copiesPerPack, msgSize = copies, 1, copyBytes+fanOutAttrBytes
	} else {
		// The batch's messages spread over the workspaces: each workspace present gets a pack
		// per destination (more when its copies do not fit in one).
		w := float64(s.workspaces)
		present := w * (1 - math.Pow(1-1/w, float64(batch)))
		perDest := float64(batch*s.perMessage) / present
		perPack := math.Floor(float64(pack.MaxCopiesBytes) / (copyBytes + packCopyBytes))
		packsPerDest := math.Ceil(perDest / perPack)
		r.messages = r.hashingInvocations * present * float64(s.destinations) * packsPerDest
		r.copiesPerPack = copies / r.messages
		msgSize = r.copiesPerPack*(copyBytes+packCopyBytes)*c.ratio(r.copiesPerPack) + fanOutAttrBytes
	}
	perPublish := math.Min(sendBatch, math.Max(1, math.Floor(requestLimit/msgSize)))
	add("SNS.PublishBatch", r.messages/perPublish, chunks(perPublish*msgSize))
	add("SQS (SNS deliveries)", r.messages, chunks(msgSize))
	add("SQS.ReceiveMessage (delivery)", r.messages/receiveBatch, chunks(receiveBatch*msgSize))
	add("SQS.DeleteMessageBatch (delivery)", r.messages/receiveBatch, 1)
	r.deliveryInvocations = r.messages / receiveBatch
	return r
}

// dollars is a cost split by service.
type dollars struct{ sqs, sns, lambdaReq, lambdaDur, ddb, kms float64 }

func (d dollars) total() float64 { return d.sqs + d.sns + d.lambdaReq + d.lambdaDur + d.ddb + d.kms }

// costPerMillion prices r for a million events. The Lambda duration is the measured run's
// handler time (an upper bound: the emulators answer more slowly than AWS), scaled by the
// destinations; DynamoDB and KMS are the measured run's steady-state requests.
func costPerMillion(r requests, s shape, run *Run, measuredDests int, p *Prices) dollars {
	var d dollars
	for op, billed := range r.billed {
		switch {
		case op == "SNS.PublishBatch":
			d.sns += billed * 1000 / 1e6 * p.Prices.SNS
		case op == "SQS (SNS deliveries)":
			d.sqs += billed * 1000 / 1e6 * (p.Prices.SQS + p.Prices.SNSToSQS)
		default:
			d.sqs += billed * 1000 / 1e6 * p.Prices.SQS
		}
	}
	scale := float64(s.destinations) / float64(measuredDests)
	d.lambdaReq = (r.hashingInvocations + r.deliveryInvocations) * 1000 / 1e6 * p.Prices.LambdaRequests
	// ms per 1,000 events is s per million; times GB.
	gbs := (run.HashingMS*stack.HashingMemoryMB + run.DeliveryMS*stack.DeliveryMemoryMB) * scale / 1024
	d.lambdaDur = gbs * p.Prices.LambdaGBSecond
	for op, n := range run.ByOperation {
		switch op {
		case "DynamoDB.Query", "DynamoDB.GetItem":
			d.ddb += n * 1000 / 1e6 * p.Prices.DynamoDBReads
		case "DynamoDB.UpdateItem", "DynamoDB.PutItem":
			d.ddb += n * 1000 / 1e6 * p.Prices.DynamoDBWrites
		case "KMS.Decrypt":
			d.kms += n * 1000 / 1e6 * p.Prices.KMS
		}
	}
	return d
}
