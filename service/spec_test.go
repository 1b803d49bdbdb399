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
