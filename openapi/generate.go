// Package openapi holds tune's API contract, openapi.yaml, and the code
// generated from it: models, the echo strict server interface, the Go
// client and the embedded spec. Only generate.go is written by hand.
package openapi

import _ "embed"

//go:generate go tool oapi-codegen -config config.yaml openapi.yaml

// SpecYAML is the contract as written, served at /api/v1/openapi.yaml so
// that SDK generators read the same file the server was built from.
//
//go:embed openapi.yaml
var SpecYAML []byte
