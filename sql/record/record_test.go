package record

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tune-dev/tune/trials"
)

func TestDecodeParams(t *testing.T) {
	space := trials.SearchSpace{
		"batch_size":    {Type: trials.Int, Low: 1, High: 1 << 62},
		"learning_rate": {Type: trials.Float, Low: 0, High: 1},
	}
	got, err := DecodeParams([]byte(`{"batch_size": 4611686018427387903, "learning_rate": 0.5,
		"gone_int": 12345678901234567, "gone_float": 2.5, "gone_text": "x"}`), space)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		// Large integers keep every digit.
		"batch_size": int64(4611686018427387903), "learning_rate": 0.5,
		// Params the space no longer declares keep their value, in plain Go types.
		"gone_int": int64(12345678901234567), "gone_float": 2.5, "gone_text": "x",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DecodeParams (-want +got):\n%s", diff)
	}
}

func TestTrialDocsDecode(t *testing.T) {
	tr := trials.Trial{ID: 3}
	docs := TrialDocs{Params: []byte(`{}`), Intermediate: []byte(`[{"step":1,"value":0.5}]`),
		Metrics: []byte(`null`), SystemAttrs: []byte(`{}`)}
	if err := docs.Decode(&tr, trials.SearchSpace{}); err != nil {
		t.Fatal(err)
	}
	want := trials.Trial{ID: 3, Params: map[string]any{}, Metrics: map[string]float64{},
		SystemAttrs:  map[string]string{},
		Intermediate: []trials.Intermediate{{Step: 1, Value: 0.5, Metrics: map[string]float64{}}}}
	if diff := cmp.Diff(want, tr); diff != "" {
		t.Errorf("Decode (-want +got):\n%s", diff)
	}
	docs.Metrics = []byte(`[`)
	if err := docs.Decode(&tr, nil); err == nil || err.Error()[:8] != "trial 3:" {
		t.Errorf("a broken document: %v", err)
	}
}

func TestStudyDocsRoundTrip(t *testing.T) {
	st := trials.Study{ID: 1, Objective: trials.Objective{Metric: "loss", Direction: trials.Minimize},
		SearchSpace: trials.SearchSpace{"x": {Type: trials.Float, Low: 0, High: 1}},
		Sampler:     trials.Sampler{Type: trials.SamplerTPE}, Pruner: trials.Pruner{Type: trials.PrunerNone}}
	docs, err := EncodeStudy(st)
	if err != nil {
		t.Fatal(err)
	}
	if docs.Workload != nil {
		t.Errorf("no workload encodes as %q, want nil (SQL NULL)", docs.Workload)
	}
	got := trials.Study{ID: 1}
	if err := docs.Decode(&got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(st, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestSortedCurveAndJSONObject(t *testing.T) {
	in := []trials.Intermediate{{Step: 2, Value: 1}, {Step: 0, Value: 3}}
	got := SortedCurve(in)
	want := []trials.Intermediate{{Step: 0, Value: 3, Metrics: map[string]float64{}}, {Step: 2, Value: 1, Metrics: map[string]float64{}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("SortedCurve (-want +got):\n%s", diff)
	}
	if in[0].Step != 2 {
		t.Error("SortedCurve changed its argument")
	}
	var nilMap map[string]float64
	if doc, err := JSONObject(nilMap); err != nil || string(doc) != `{}` {
		t.Errorf("JSONObject(nil) = %s, %v", doc, err)
	}
}

func TestPage(t *testing.T) {
	rows := []trials.Trial{{ID: 1}, {ID: 2}, {ID: 3}}
	if page, more, err := Page(rows, 2, nil); err != nil || !more || len(page) != 2 || page[1].ID != 2 {
		t.Errorf("Page(3 rows, 2) = %v, %v, %v; want the first 2 and more", page, more, err)
	}
	if page, more, err := Page(rows, 3, nil); err != nil || more || len(page) != 3 {
		t.Errorf("Page(3 rows, 3) = %v, %v, %v; want all 3 and no more", page, more, err)
	}
	boom := errors.New("boom")
	if page, more, err := Page(rows, 2, boom); !errors.Is(err, boom) || page != nil || more {
		t.Errorf("Page with a query error = %v, %v, %v; want the error alone", page, more, err)
	}
}

func TestBest(t *testing.T) {
	if best, err := Best(4, []trials.Trial{{ID: 7}}); err != nil || best.ID != 7 {
		t.Errorf("Best = %v, %v; want trial 7", best, err)
	}
	if _, err := Best(4, nil); !errors.Is(err, trials.ErrNotFound) {
		t.Errorf("Best of no rows = %v, want ErrNotFound", err)
	}
}
