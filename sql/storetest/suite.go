// Package storetest is the conformance suite of trials.Store: every store
// (sql/postgres, sql/sqlite) runs the same tests, so that the service
// behaves the same whichever it is given. It is imported only by tests.
//
// The suite checks every Store method, the error kinds and the texts that
// clients see, concurrency (gapless numbers, caps, claims, reapers, last
// tells, from two stores on one database as two replicas or processes
// would have), lease expiry (by moving the store's clock), and that
// TrialsChangedSince never misses a change.
package storetest

import (
	"testing"
	"time"

	"github.com/tune-dev/tune/trials"
)

// Store is what the suite tests: a trials.Store whose clock tests can move.
type Store interface {
	trials.Store
	// SetClockOffset moves the store's clock by d, so that leases expire
	// without sleeping.
	SetClockOffset(d time.Duration)
}

// suite holds how to open the stores under test.
type suite struct {
	// open returns a store on a fresh, migrated, empty database, closed
	// when the test ends.
	open func(t *testing.T) Store
	// pair returns two stores on one fresh, migrated, empty database.
	pair func(t *testing.T) (Store, Store)
}

// Run runs the whole suite as subtests of t. open must return a store on a
// fresh, migrated, empty database, and pair two stores (separate
// connection pools) on one such database; both are closed when the test
// ends.
func Run(t *testing.T, open func(t *testing.T) Store, pair func(t *testing.T) (Store, Store)) {
	su := suite{open: open, pair: pair}
	for _, tc := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"Ping", su.testPing},
		{"CreateAndGetStudy", su.testCreateAndGetStudy},
		{"SetStudyState", su.testSetStudyState},
		{"DeleteStudyCascades", su.testDeleteStudyCascades},
		{"ParamsRoundTrip", su.testParamsRoundTrip},
		{"EnqueueAndClaim", su.testEnqueueAndClaim},
		{"MaxTrialsAndMaxParallel", su.testMaxTrialsAndMaxParallel},
		{"ListTrials", su.testListTrials},
		{"SummariesAndBest", su.testSummariesAndBest},
		{"ListStudiesEmpty", su.testListStudiesEmpty},
		{"ListStudiesPages", su.testListStudiesPages},
		{"LeasableStudies", su.testLeasableStudies},
		{"AddTrial", su.testAddTrial},
		{"Heartbeat", su.testHeartbeat},
		{"Report", su.testReport},
		{"Profiles", su.testProfiles},
		{"SetSystemAttrs", su.testSetSystemAttrs},
		{"CreateRunningWithAttrs", su.testCreateRunningWithAttrs},
		{"Origin", su.testOrigin},
		{"Tell", su.testTell},
		{"StudyDoneAfterLastTrial", su.testStudyDoneAfterLastTrial},
		{"ReapExpired", su.testReapExpired},
		{"ReapExpiredPlainClient", su.testReapExpiredPlainClient},
		{"Actors", su.testActors},
		{"ObjectivesRoundTrip", su.testObjectivesRoundTrip},
		{"FailureKind", su.testFailureKind},
		{"BestFeasible", su.testBestFeasible},
		{"TrialsChangedSince", su.testTrialsChangedSince},
		{"ConcurrentNumbersAndClaims", su.testConcurrentNumbersAndClaims},
		{"ConcurrentMaxTrials", su.testConcurrentMaxTrials},
		{"ConcurrentMaxParallel", su.testConcurrentMaxParallel},
		{"ConcurrentLastTells", su.testConcurrentLastTells},
		{"ConcurrentReapers", su.testConcurrentReapers},
		{"ConcurrentReportsAndHeartbeats", su.testConcurrentReportsAndHeartbeats},
		{"TrialsChangedSinceMissesNothing", su.testTrialsChangedSinceMissesNothing},
	} {
		t.Run(tc.name, tc.fn)
	}
}
