// Package apicontract holds the API contract test: schemathesis (pinned in requirements.txt)
// generates requests from docs/openapi.json, sends them to the local service of `make dev`
// (devserver) and checks every response against the document. It has no code of its own: see
// schemathesis_test.go.
package apicontract
