// Command keygen is the key-generation API (key pairs and HMAC keys through KMS, imported public
// keys, listing and revoking) behind API Gateway's REST proxy integration. Private keys are
// returned once and never stored. Wiring only: shared/fn/keygenfn builds it.
package main

import (
	"github.com/phiguard/phiguard/shared/fn"
	"github.com/phiguard/phiguard/shared/fn/keygenfn"
	"github.com/phiguard/phiguard/shared/httpapi"
	"github.com/phiguard/phiguard/shared/stack"
)

func main() { fn.Main(stack.FunctionKeygen, httpapi.LambdaOf(keygenfn.Build)) }
