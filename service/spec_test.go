package service_test

import (
	"context"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/tune-dev/tune/openapi"
)

// TestSpecIsValid keeps the contract loadable by third-party generators:
// kin-openapi's validation is stricter than most of them.
func TestSpecIsValid(t *testing.T) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openapi.SpecYAML)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("openapi.yaml is invalid: %v", err)
	}
	for _, op := range []string{"createStudy", "listStudies", "getStudy", "updateStudy", "deleteStudy",
		"listTrials", "enqueueTrial", "getBestTrial", "ask", "getTrial", "tell", "report", "heartbeat", "acquireLease", "getParamImportance"} {
		found := false
		for _, item := range doc.Paths.Map() {
			for _, o := range item.Operations() {
				found = found || o.OperationID == op
			}
		}
		if !found {
			t.Errorf("operation %s is missing from the spec", op)
		}
	}
}

// TestSpecDeclaresAuthAnswers: generated clients learn from the spec that
// every operation takes a bearer token and may answer 401, 403 and 429.
func TestSpecDeclaresAuthAnswers(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(openapi.SpecYAML)
	if err != nil {
		t.Fatal(err)
	}
	if s := doc.Components.SecuritySchemes["bearerAuth"]; s == nil || s.Value.Type != "http" || s.Value.Scheme != "bearer" {
		t.Fatalf("no bearer security scheme: %+v", doc.Components.SecuritySchemes)
	}
	if len(doc.Security) != 1 || doc.Security[0]["bearerAuth"] == nil {
		t.Errorf("the spec's default security is %v, want bearerAuth", doc.Security)
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.Security != nil && len(*op.Security) == 0 {
				t.Errorf("%s %s opts out of authentication", method, path)
			}
			for _, code := range []int{401, 403, 429} {
				if op.Responses.Status(code) == nil {
					t.Errorf("%s %s does not declare %d", method, path, code)
				}
			}
		}
	}
}
