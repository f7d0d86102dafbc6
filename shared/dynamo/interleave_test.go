package dynamo

import (
	"context"
	"sync/atomic"
	"testing"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"
)

// interleaved returns a copy of s whose first call of DynamoDB operation op first runs
// competitor — another writer committing between this store's read and its conditional
// write. This is the race optimistic concurrency exists for, made deterministic.
//
// Why not goroutines? moto's server does not serialize concurrent requests: a long
// conditional write or transaction can interleave with another one inside the emulator
// (measured: two winners in several of 30 runs), which real DynamoDB never allows. The
// interleaving below reproduces the same race without depending on the emulator's locking.
func interleaved(t *testing.T, s *Store, op string, competitor func()) *Store {
	t.Helper()
	var fired atomic.Bool
	hook := middleware.InitializeMiddlewareFunc("interleave", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		if awsmiddleware.GetOperationName(ctx) == op && fired.CompareAndSwap(false, true) {
			competitor()
		}
		return next.HandleInitialize(ctx, in)
	})
	client := dynamodb.New(s.client.Options(), func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error { return st.Initialize.Add(hook, middleware.Before) })
	})
	t.Cleanup(func() {
		if !fired.Load() {
			t.Errorf("the competing writer never ran: no %s call", op)
		}
	})
	c := *s
	c.client = client
	return &c
}
