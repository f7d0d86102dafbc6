// Command console is the web console (pages under /console) behind API Gateway's REST proxy
// integration. Wiring only: shared/fn/consolefn builds it.
package main

import (
	"github.com/phiguard/phiguard/shared/fn"
	"github.com/phiguard/phiguard/shared/fn/consolefn"
	"github.com/phiguard/phiguard/shared/httpapi"
	"github.com/phiguard/phiguard/shared/stack"
)

func main() { fn.Main(stack.FunctionConsole, httpapi.LambdaOf(consolefn.Build)) }
