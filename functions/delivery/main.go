// Command delivery is the example destination consumer: triggered by the webhook queue subscribed
// to the fan-out topic, it POSTs each copy, signed, to its destination's webhook URL. Wiring only:
// shared/fn/deliveryfn builds it.
package main

import (
	"github.com/phiguard/phiguard/shared/fn"
	"github.com/phiguard/phiguard/shared/fn/deliveryfn"
	"github.com/phiguard/phiguard/shared/stack"
)

func main() { fn.Main(stack.FunctionDelivery, deliveryfn.Build) }
