package runner

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff spaces out retries of a call that failed for a reason that may
// pass (the service unreachable or answering 5xx): exponential growth from
// Initial to Max, with jitter so that a fleet of runners cut off together
// does not come back in lockstep.
type Backoff struct {
	// Initial is the first wait; 200 ms when zero.
	Initial time.Duration
	// Max caps the wait; 10 s when zero.
	Max time.Duration
}

func (b Backoff) withDefaults() Backoff {
	if b.Initial <= 0 {
		b.Initial = 200 * time.Millisecond
	}
	if b.Max <= 0 {
		b.Max = 10 * time.Second
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	return b
}

// retrier is the state of one sequence of retries.
type retrier struct {
	b       Backoff
	attempt int
}

func (b Backoff) retrier() *retrier { return &retrier{b: b.withDefaults()} }

// next returns the wait before the next attempt: "equal jitter", half the
// exponential step fixed and half random, so waits grow reliably but never
// synchronize.
func (r *retrier) next() time.Duration {
	d := r.b.Initial
	for i := 0; i < r.attempt && d < r.b.Max; i++ {
		d *= 2
	}
	d = min(d, r.b.Max)
	r.attempt++
	half := d / 2
	return half + rand.N(half+1)
}

func (r *retrier) reset() { r.attempt = 0 }

// sleep waits d or until ctx is done, and reports whether the full wait
// passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
