package postgres

import "time"

// pgTimes scans timestamptz columns: pgx fills a time.Time (UTC, see
// Open) or a *time.Time as they are.
type pgTimes struct{}

func (pgTimes) Time(t *time.Time) any          { return t }
func (pgTimes) OptionalTime(t **time.Time) any { return t }

// times is how this store scans the rows of sql/record.
var times pgTimes
