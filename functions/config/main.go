// Command config is the customer configuration API (workspace, tokens, sources, destinations,
// Privacy Portal, audit log) behind API Gateway's REST proxy integration. Wiring only:
// shared/fn/configfn builds it.
package main

import (
	"github.com/phiguard/phiguard/shared/fn"
	"github.com/phiguard/phiguard/shared/fn/configfn"
	"github.com/phiguard/phiguard/shared/httpapi"
	"github.com/phiguard/phiguard/shared/stack"
)

func main() { fn.Main(stack.FunctionConfig, httpapi.LambdaOf(configfn.Build)) }
