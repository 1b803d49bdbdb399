package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

var (
	errBusy = errors.New("busy")
	errBad  = errors.New("bad")
)

func policy(tries int) Policy {
	return Policy{Tries: tries, Pause: time.Microsecond, Transient: func(err error) bool { return errors.Is(err, errBusy) }}
}

func TestDoRerunsTransientFailures(t *testing.T) {
	runs := 0
	err := policy(5).Do(context.Background(), func() error {
		runs++
		if runs < 3 {
			return errBusy
		}
		return nil
	})
	if err != nil || runs != 3 {
		t.Errorf("Do = %v after %d runs, want nil after 3", err, runs)
	}
}

func TestDoStops(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ctx      func() context.Context
		fail     error
		wantRuns int
	}{
		{"after its tries", context.Background, errBusy, 4},
		{"on a lasting error", context.Background, errBad, 1},
		{"when the context ends", func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, errBusy, 1},
	} {
		runs := 0
		p := policy(4)
		if tc.ctx().Err() != nil {
			p.Pause = time.Hour // only the context can end the wait
		}
		err := p.Do(tc.ctx(), func() error { runs++; return tc.fail })
		if !errors.Is(err, tc.fail) || runs != tc.wantRuns {
			t.Errorf("%s: Do = %v after %d runs, want %v after %d", tc.name, err, runs, tc.fail, tc.wantRuns)
		}
	}
}
