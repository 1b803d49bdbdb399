// Package retry reruns a store's transaction that the database turned down
// for a reason that passes: a serialization failure or deadlock in
// PostgreSQL, a file locked by another process in SQLite. What counts as
// such a reason, and how long to wait, is each store's; the loop is here.
package retry

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy says when and how often to rerun.
type Policy struct {
	// Tries bounds the runs, the first included.
	Tries int
	// Pause is the longest wait after the first failed run; it grows by
	// as much with every run. Each wait is random up to that length, so
	// that the rivals of a failed transaction do not meet again in the
	// same order.
	Pause time.Duration
	// Transient reports whether err leaves nothing done, so that the run
	// can be repeated as is.
	Transient func(err error) bool
}

// Do runs fn, running it again while it fails with a transient error and
// tries are left. fn must be a whole transaction. It returns fn's last
// error, or that error when ctx ends during a pause.
func (p Policy) Do(ctx context.Context, fn func() error) error {
	for try := 1; ; try++ {
		err := fn()
		if err == nil || try >= p.Tries || !p.Transient(err) {
			return err
		}
		pause := time.Duration(rand.Int64N(int64(try) * int64(p.Pause)))
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
	}
}
