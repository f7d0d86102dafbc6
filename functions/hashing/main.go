// Command hashing is the SQS-triggered pipeline: it protects each ingested event per destination
// and fans the copies out to SNS. Wiring only: shared/fn/hashingfn builds it.
package main

import (
	"github.com/phiguard/phiguard/shared/fn"
	"github.com/phiguard/phiguard/shared/fn/hashingfn"
	"github.com/phiguard/phiguard/shared/stack"
)

func main() { fn.Main(stack.FunctionHashing, hashingfn.Build) }
