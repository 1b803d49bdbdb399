package sqlite

import (
	"database/sql/driver"
	"fmt"
	"regexp"
	"time"

	"github.com/tune-dev/tune/sql/record"
	"github.com/tune-dev/tune/trials"
)

// Times are stored as int64 nanoseconds since the Unix epoch, which covers
// the years 1678 to 2262 and sorts and compares as the times do.
var (
	minTime = time.Unix(0, -1<<63).UTC()
	maxTime = time.Unix(0, 1<<63-1).UTC()
)

func nanos(t time.Time) int64 { return t.UnixNano() }

// optionalNanos is nil for a nil time, SQL NULL.
func optionalNanos(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixNano()
}

// storableTime refuses a caller's time that nanoseconds cannot hold.
func storableTime(name string, t *time.Time) error {
	if t != nil && (t.Before(minTime) || t.After(maxTime)) {
		return trials.Invalidf("%s %s is out of range (years 1678 to 2262)", name, t.Format(time.RFC3339))
	}
	return nil
}

// timeDest scans stored nanoseconds into a UTC time.
type timeDest struct{ t *time.Time }

func (d timeDest) Scan(src any) error {
	n, ok := src.(int64)
	if !ok {
		return fmt.Errorf("scan time: got %T, want int64 nanoseconds", src)
	}
	*d.t = time.Unix(0, n).UTC()
	return nil
}

// optTimeDest scans stored nanoseconds or NULL into a *time.Time.
type optTimeDest struct{ t **time.Time }

func (d optTimeDest) Scan(src any) error {
	if src == nil {
		*d.t = nil
		return nil
	}
	var t time.Time
	if err := (timeDest{&t}).Scan(src); err != nil {
		return err
	}
	*d.t = &t
	return nil
}

// jsonText is a JSON document as the TEXT the STRICT tables hold: as a
// []byte it would be bound as a BLOB, which a TEXT column refuses.
type jsonText []byte

func (j jsonText) Value() (driver.Value, error) { return string(j), nil }

// nanoTimes scans the stored nanoseconds of time columns.
type nanoTimes struct{}

func (nanoTimes) Time(t *time.Time) any          { return timeDest{t} }
func (nanoTimes) OptionalTime(t **time.Time) any { return optTimeDest{t} }

// times is how this store scans the rows of sql/record.
var times nanoTimes

// SQLite's RETURNING names the written table's columns without a
// qualifier; these are record.StudyCols and record.TrialCols so.
var (
	studyReturning = unqualified(record.StudyCols)
	trialReturning = unqualified(record.TrialCols)
)

func unqualified(cols string) string {
	return regexp.MustCompile(`\b[st]\.`).ReplaceAllString(cols, "")
}

// jsonObject is record.JSONObject as the TEXT the tables hold.
func jsonObject[M ~map[K]V, K comparable, V any](m M) (jsonText, error) {
	doc, err := record.JSONObject(m)
	return jsonText(doc), err
}
