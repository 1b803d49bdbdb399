package trials

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// TrialState is where a trial is in its life: waiting -> running -> complete
// | pruned | failed, and running -> waiting again when a lease expires and a
// retry is left.
type TrialState string

const (
	TrialWaiting  TrialState = "waiting"
	TrialRunning  TrialState = "running"
	TrialComplete TrialState = "complete"
	TrialPruned   TrialState = "pruned"
	TrialFailed   TrialState = "failed"
)

// TrialStates lists every state in life-cycle order.
var TrialStates = []TrialState{TrialWaiting, TrialRunning, TrialComplete, TrialPruned, TrialFailed}

// Finished reports whether a trial in state s can never change again.
func (s TrialState) Finished() bool {
	return s == TrialComplete || s == TrialPruned || s == TrialFailed
}

// Valid reports whether s is a known state.
func (s TrialState) Valid() bool {
	for _, v := range TrialStates {
		if s == v {
			return true
		}
	}
	return false
}

// Origin names what decided a trial's params.
type Origin string

// A sampler's origins are the tuner's (tuner.Origin*): OriginStartup for
// TPE's random start-up trials, OriginTPE, OriginCMAES, OriginRandom and
// OriginQMC. The others say a person or program gave the params.
const (
	OriginStartup Origin = "startup"
	OriginTPE     Origin = "tpe"
	OriginGP      Origin = "gp"
	OriginCMAES   Origin = "cmaes"
	OriginRandom  Origin = "random"
	OriginQMC     Origin = "qmc"
	// OriginEnqueued: enqueued with fixed params (POST .../trials).
	OriginEnqueued Origin = "enqueued"
	// OriginRecorded: recorded finished, as given (an import, results
	// obtained elsewhere) when the record does not name an origin.
	OriginRecorded Origin = "recorded"
)

// Origins lists every origin.
var Origins = []Origin{OriginStartup, OriginTPE, OriginGP, OriginCMAES, OriginRandom, OriginQMC, OriginEnqueued, OriginRecorded}

// originList is Origins for error messages.
var originList = func() string {
	names := make([]string, len(Origins))
	for i, o := range Origins {
		names[i] = string(o)
	}
	return strings.Join(names, ", ")
}()

// Valid reports whether o is a known origin.
func (o Origin) Valid() bool {
	return slices.Contains(Origins, o)
}

// Intermediate is one point of a trial's learning curve.
type Intermediate struct {
	Step    int                `json:"step"`
	Value   float64            `json:"value"`
	Metrics map[string]float64 `json:"metrics,omitempty"`
	// Profile is where the step's time and memory went; nil when the
	// workload did not say.
	Profile *Profile `json:"profile,omitempty"`
}

// Trial is one evaluation of one configuration.
type Trial struct {
	ID      int64 `json:"id"`
	StudyID int64 `json:"study_id"`
	// Number counts the study's trials from 0, without gaps.
	Number int        `json:"number"`
	State  TrialState `json:"state"`
	// Params holds int params as int64, float params as float64 and
	// categorical params as the chosen value.
	Params       map[string]any     `json:"params"`
	Value        *float64           `json:"value"`
	Intermediate []Intermediate     `json:"intermediate_values"`
	Metrics      map[string]float64 `json:"metrics"`
	// Attempt counts grants that ended in a lost lease; it starts at 0.
	Attempt int    `json:"attempt"`
	Runner  string `json:"runner"`
	// Lease is the token of the current grant: it grows on every grant, and
	// writes that present an older one are refused.
	Lease          int64      `json:"lease"`
	LeaseExpiresAt *time.Time `json:"lease_expires_at"`
	CreatedAt      time.Time  `json:"created_at"`
	StartedAt      *time.Time `json:"started_at"`
	FinishedAt     *time.Time `json:"finished_at"`
	Error          string     `json:"error"`
	// FailureKind says why a failed trial failed; empty otherwise.
	FailureKind FailureKind `json:"failure_kind,omitempty"`
	// Device is what the trial ran on ("cpu", "cuda:0"), as its runner
	// told it; empty for ask/tell clients that do not say.
	Device string `json:"device"`
	// Origin says what decided the trial's params. It is set when the
	// trial is created and never changes: a trial requeued after a lost
	// lease keeps it, and Attempt > 0 says it was retried.
	Origin Origin `json:"origin"`
	// SystemAttrs is bookkeeping that samplers and pruners keep per trial
	// (successive halving records its rungs here).
	SystemAttrs map[string]string `json:"system_attrs,omitempty"`
	// CreatedBy names the token that created the trial (an enqueue, an
	// ask, a lease that needed a new trial, a record); FinishedBy the one
	// that told its outcome, or ReaperActor when a lost lease failed it.
	// Both are "" where nobody was authenticated. See Actor.
	CreatedBy  string `json:"created_by"`
	FinishedBy string `json:"finished_by"`
	// HeldBy names the token that was granted the trial's current lease
	// (ClaimWaiting, CreateRunning), "" when none: the service lets a
	// runner token work only on the trials it holds. Not shown to clients.
	HeldBy string `json:"-"`
	// UpdatedAt is the database time of the trial's last change.
	UpdatedAt time.Time `json:"updated_at"`
}

// LastIntermediate returns the point with the highest step.
func (t *Trial) LastIntermediate() (Intermediate, bool) {
	var best Intermediate
	found := false
	for _, iv := range t.Intermediate {
		if !found || iv.Step > best.Step {
			best, found = iv, true
		}
	}
	return best, found
}

// Outcome is what a tell says about a finished trial.
type Outcome struct {
	State   TrialState
	Value   *float64
	Metrics map[string]float64
	Error   string
	// FailureKind is why a failed trial failed (empty: FailureError).
	FailureKind FailureKind
	// Device is what the trial ran on; it is kept only when given.
	Device string
}

// SameOutcome reports whether t finished with outcome o: the same state,
// value, error, failure kind and metrics (the device is not compared).
func (t *Trial) SameOutcome(o Outcome) bool {
	sameValue := (t.Value == nil) == (o.Value == nil) && (t.Value == nil || *t.Value == *o.Value)
	return t.State == o.State && sameValue && t.Error == o.Error && t.FailureKind == o.FailureKind &&
		maps.Equal(t.Metrics, o.Metrics)
}

// DescribeOutcome renders a finished trial's outcome for a conflict
// message: its state, with its value and error when it has them.
func (t *Trial) DescribeOutcome() string {
	switch {
	case t.Value != nil && t.Error != "":
		return fmt.Sprintf("%s (value %v, error %q)", t.State, *t.Value, t.Error)
	case t.Value != nil:
		return fmt.Sprintf("%s (value %v)", t.State, *t.Value)
	case t.Error != "":
		return fmt.Sprintf("%s (error %q)", t.State, t.Error)
	}
	return string(t.State)
}

// Device is one compute device a runner offers.
type Device struct {
	Kind              string `json:"kind"` // cpu or cuda
	Index             int    `json:"index"`
	Name              string `json:"name,omitempty"`
	MemoryBytes       int64  `json:"memory_bytes,omitempty"`
	ComputeCapability string `json:"compute_capability,omitempty"`
	// PeakFLOPS is the matrix-product rate the runner measured on the
	// device at start, per precision (float32, float64): the peak a
	// trial's achieved rate is read against.
	PeakFLOPS map[string]float64 `json:"peak_flops,omitempty"`
}

// Runner describes a process that executes trials.
type Runner struct {
	ID        string   `json:"id"`
	Host      string   `json:"host"`
	Devices   []Device `json:"devices"`
	Workloads []string `json:"workloads"`
}
