package runner

import (
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"
)

// FailureBackoff makes a runner stop leasing a study whose trials keep
// failing right after they start (a malformed command, a missing script):
// without it such a study burns its trials as fast as the service hands
// them out. It is per runner; a success resets it.
type FailureBackoff struct {
	// After is how many quick failures in a row start a pause; 3 when zero.
	After int
	// Within is how soon after its start a failed trial counts as quick;
	// 5 s when zero.
	Within time.Duration
	// Initial is the first pause; each further quick failure after a pause
	// doubles it, up to Max. 10 s and 5 min when zero.
	Initial, Max time.Duration
}

func (b FailureBackoff) withDefaults() FailureBackoff {
	if b.After <= 0 {
		b.After = 3
	}
	if b.Within <= 0 {
		b.Within = 5 * time.Second
	}
	if b.Initial <= 0 {
		b.Initial = 10 * time.Second
	}
	if b.Max <= 0 {
		b.Max = 5 * time.Minute
	}
	b.Max = max(b.Max, b.Initial)
	return b
}

// quickFailures tracks the studies a runner backs off from.
type quickFailures struct {
	b   FailureBackoff
	log *slog.Logger
	now func() time.Time

	mu      sync.Mutex
	studies map[int64]*studyFailures
}

type studyFailures struct {
	inRow int
	pause time.Duration // the last pause; 0 before the first
	until time.Time
}

func newQuickFailures(b FailureBackoff, log *slog.Logger) *quickFailures {
	return &quickFailures{b: b.withDefaults(), log: log, now: time.Now, studies: map[int64]*studyFailures{}}
}

// record notes how a trial of the study ended: failed or not, and how
// long after its start.
func (q *quickFailures) record(study int64, name string, failed bool, took time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !failed || took > q.b.Within {
		delete(q.studies, study)
		return
	}
	s := q.studies[study]
	if s == nil {
		s = &studyFailures{}
		q.studies[study] = s
	}
	s.inRow++
	// Once paused, one more quick failure pauses again, for longer.
	if s.inRow < q.b.After || q.now().Before(s.until) {
		return
	}
	s.pause = min(max(2*s.pause, q.b.Initial), q.b.Max)
	s.until = q.now().Add(s.pause)
	q.log.Warn("a study's trials keep failing right after they start; not leasing it for a while",
		"study", name, "study_id", study, "failures_in_a_row", s.inRow, "within", q.b.Within, "pause", s.pause)
}

// excluded lists the studies paused now, for the lease request.
func (q *quickFailures) excluded() []int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	var ids []int64
	for _, id := range slices.Sorted(maps.Keys(q.studies)) {
		if now.Before(q.studies[id].until) {
			ids = append(ids, id)
		}
	}
	return ids
}
