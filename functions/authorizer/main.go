// Command authorizer is API Gateway's REQUEST authorizer for the token routes: it hashes the bearer
// token, looks it up in DynamoDB and allows the request with the context {workspaceId, tokenId,
// role}, or refuses it with 401. Wiring only: shared/fn/authorizerfn builds it.
package main

import (
	"github.com/phiguard/phiguard/shared/fn"
	"github.com/phiguard/phiguard/shared/fn/authorizerfn"
	"github.com/phiguard/phiguard/shared/stack"
)

func main() { fn.Main(stack.FunctionAuthorizer, authorizerfn.Build) }
