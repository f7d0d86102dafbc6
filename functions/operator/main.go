// Command operator is the platform-operator API (creating workspaces, setting their tier and BAA)
// behind API Gateway's REST proxy integration, IAM-authorized. Wiring only: shared/fn/operatorfn
// builds it.
package main

import (
	"github.com/phiguard/phiguard/shared/fn"
	"github.com/phiguard/phiguard/shared/fn/operatorfn"
	"github.com/phiguard/phiguard/shared/httpapi"
	"github.com/phiguard/phiguard/shared/stack"
)

func main() { fn.Main(stack.FunctionOperator, httpapi.LambdaOf(operatorfn.Build)) }
