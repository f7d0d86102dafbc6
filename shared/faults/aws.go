package faults

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// AWSFault makes some attempts of an AWS service's calls fail before they are sent, with the
// error the service itself answers in that case, so the SDK's retryer and the caller's error
// handling treat it as they would the real one.
type AWSFault struct {
	// Service is the SDK's service id: "DynamoDB", "SNS", "KMS", "SQS".
	Service string
	// Operations limits the fault to these operations ("GetItem", "PublishBatch"); every
	// operation of the service when empty.
	Operations []string
	// Code and Status are the error the service answers: ThrottlingException with 400,
	// ProvisionedThroughputExceededException with 400, InternalError with 500, and so on.
	Code   string
	Status int
	// Rate is the share of attempts that fail at random, from 0 to 1.
	Rate float64
	// Every and For, when both are set, add outages: for For out of every Every (from the
	// injector's start), every attempt fails, the SDK's retries with it, so the error reaches
	// the caller.
	Every, For time.Duration
}

// AWS injects AWSFaults into every client built from a configuration it is attached to. It is
// the AWS side of a fault campaign: the calls still go to the real emulators, except the
// attempts it fails. Safe for concurrent use.
type AWS struct {
	faults []AWSFault
	start  time.Time

	mu       sync.Mutex
	rng      *rand.Rand
	injected map[string]int
	attempts map[string]int
}

// NewAWS returns an injector of faults whose random choices follow seed, so a campaign can be
// repeated.
func NewAWS(seed uint64, faults ...AWSFault) *AWS {
	return &AWS{
		faults: faults, start: time.Now(),
		rng:      rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		injected: map[string]int{}, attempts: map[string]int{},
	}
}

// Attach adds the injector to cfg: every client built from cfg afterwards (service.NewFromConfig)
// passes each attempt of each call through it, after the SDK's retry middleware, so a failed
// attempt is retried as a real one would be.
func (a *AWS) Attach(cfg *aws.Config) {
	cfg.APIOptions = append(cfg.APIOptions, func(s *middleware.Stack) error {
		mw := middleware.FinalizeMiddlewareFunc("faults.AWS", a.handle)
		if _, ok := s.Finalize.Get("Retry"); ok {
			return s.Finalize.Insert(mw, "Retry", middleware.After)
		}
		return s.Finalize.Add(mw, middleware.After)
	})
}

func (a *AWS) handle(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
	service, op := middleware.GetServiceID(ctx), middleware.GetOperationName(ctx)
	if f := a.pick(service, op); f != nil {
		return middleware.FinalizeOutput{}, middleware.Metadata{}, f.err()
	}
	return next.HandleFinalize(ctx, in)
}

// pick returns the fault an attempt of service's operation op fails with, or nil, and counts it.
func (a *AWS) pick(service, op string) *AWSFault {
	now := time.Since(a.start)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.attempts[service+"."+op]++
	for i := range a.faults {
		f := &a.faults[i]
		if f.Service != service || (len(f.Operations) > 0 && !slices.Contains(f.Operations, op)) {
			continue
		}
		outage := f.Every > 0 && f.For > 0 && now%f.Every < f.For
		if outage || a.rng.Float64() < f.Rate {
			a.injected[fmt.Sprintf("%s.%s %s", service, op, f.Code)]++
			return f
		}
	}
	return nil
}

// err is the error the service answers: an API error with the fault's code inside the HTTP
// response error the SDK's deserializers return, so both the code-based (throttling) and the
// status-based (5xx) retry rules see it.
func (f *AWSFault) err() error {
	status := f.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	fault := smithy.FaultServer
	if status < 500 {
		fault = smithy.FaultClient
	}
	return &awshttp.ResponseError{
		RequestID: "faults-injected",
		ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status, Header: http.Header{}}},
			Err:      &smithy.GenericAPIError{Code: f.Code, Message: "injected by the fault campaign", Fault: fault},
		},
	}
}

// Injected returns how many attempts failed, by "Service.Operation Code".
func (a *AWS) Injected() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return maps.Clone(a.injected)
}

// Attempts returns how many attempts the injector saw, failed or not, by "Service.Operation".
func (a *AWS) Attempts() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return maps.Clone(a.attempts)
}
