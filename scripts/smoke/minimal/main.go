// Command minimal is the cold-start baseline for `make smoke`: the smallest aws-lambda-go
// handler, built with the same flags as the service's functions and booted under the same
// Runtime Interface Emulator, so each function's init duration is read as a ratio to it.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context, json.RawMessage) (string, error) { return "ok", nil })
}
