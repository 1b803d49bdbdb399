package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/tune-dev/tune/trials"
)

// testListStudiesPages: pages of studies follow each other in creation
// order without gaps or repeats, say whether more follow, keep their
// counts, and a deleted study is simply skipped.
func (su suite) testListStudiesPages(t *testing.T) {
	ctx := context.Background()
	s := su.open(t)
	var ids []int64
	for i := range 7 {
		st := createStudy(t, s, fmt.Sprintf("paged-%d", i), nil)
		ids = append(ids, st.ID)
		if i == 2 {
			createRunning(t, s, st.ID, 16, "r")
		}
	}

	var got []int64
	f := trials.StudyFilter{Limit: 3}
	for pages := 0; ; pages++ {
		if pages > len(ids) {
			t.Fatalf("paging never ends: %v", got)
		}
		page, more, err := s.ListStudies(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 3 {
			t.Fatalf("a page of limit 3 has %d studies", len(page))
		}
		for _, sum := range page {
			got = append(got, sum.ID)
			if want := map[bool]int{true: 1, false: 0}[sum.ID == ids[2]]; sum.Counts[trials.TrialRunning] != want {
				t.Errorf("study %d listed with %d running, want %d", sum.ID, sum.Counts[trials.TrialRunning], want)
			}
		}
		if !more {
			if len(page) == 3 && len(got) != len(ids) {
				t.Errorf("a full page said no more follow after %v", got)
			}
			break
		}
		f.AfterID = page[len(page)-1].ID
	}
	if fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Errorf("pages listed %v, want %v", got, ids)
	}

	// The last page exactly full says no more follow.
	page, more, err := s.ListStudies(ctx, trials.StudyFilter{AfterID: ids[3], Limit: 3})
	if err != nil || len(page) != 3 || more {
		t.Errorf("last full page: %d studies, more %v, %v; want 3, false", len(page), more, err)
	}
	// After a deleted study, the page goes on from the next one.
	if err := s.DeleteStudy(ctx, ids[4]); err != nil {
		t.Fatal(err)
	}
	page, _, err = s.ListStudies(ctx, trials.StudyFilter{AfterID: ids[3], Limit: 1})
	if err != nil || len(page) != 1 || page[0].ID != ids[5] {
		t.Errorf("page after a deleted study = %+v, %v; want study %d", page, err, ids[5])
	}
	// No limit is the default page size.
	page, more, err = s.ListStudies(ctx, trials.StudyFilter{})
	if err != nil || len(page) != len(ids)-1 || more {
		t.Errorf("default page: %d studies, more %v, %v; want %d, false", len(page), more, err, len(ids)-1)
	}
}
