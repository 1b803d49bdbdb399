package auth

import "slices"

// Access is the kind of an API operation, as far as permissions go.
type Access int

const (
	// Reading studies and trials.
	AccessRead Access = iota + 1
	// Creating, changing and deleting studies and trials, ask included.
	AccessWrite
	// Asking for work as a runner (POST /leases).
	AccessLease
	// Heartbeat, report and tell of one trial.
	AccessTrialWork
	// Token management.
	AccessTokens
)

// Operations maps every secured operation of the API (its OpenAPI
// operationId) to its access kind. An operation missing here is refused to
// everyone, so a new operation stays closed until someone decides.
var Operations = map[string]Access{
	"listStudies":        AccessRead,
	"getStudy":           AccessRead,
	"listTrials":         AccessRead,
	"getBestTrial":       AccessRead,
	"getParetoFront":     AccessRead,
	"getParamImportance": AccessRead,
	"getTrial":           AccessRead,
	"createStudy":        AccessWrite,
	"updateStudy":        AccessWrite,
	"deleteStudy":        AccessWrite,
	"enqueueTrial":       AccessWrite,
	"ask":                AccessWrite,
	"acquireLease":       AccessLease,
	"heartbeat":          AccessTrialWork,
	"report":             AccessTrialWork,
	"tell":               AccessTrialWork,
	"createToken":        AccessTokens,
	"listTokens":         AccessTokens,
	"revokeToken":        AccessTokens,
}

// grants is the scope table: what each scope may do. A runner reads the
// studies and trials it serves through the read access; its trial work is
// further bound to the lease token (see Decide).
var grants = map[Scope][]Access{
	Admin:  {AccessRead, AccessWrite, AccessLease, AccessTrialWork, AccessTokens},
	Write:  {AccessRead, AccessWrite, AccessLease, AccessTrialWork},
	Read:   {AccessRead},
	Runner: {AccessRead, AccessLease, AccessTrialWork},
}

// Decision is what Decide says about one call.
type Decision struct {
	// Allowed: the token's scopes permit the operation.
	Allowed bool
	// LeaseRequired: the call must carry the trial's lease token, because
	// only a runner scope allows it; a runner may touch only the trials it
	// holds.
	LeaseRequired bool
}

// Decide applies the scope table to a token's scopes and an operation.
func Decide(scopes []Scope, operationID string) Decision {
	access, ok := Operations[operationID]
	if !ok {
		return Decision{}
	}
	var d Decision
	for _, s := range scopes {
		if !slices.Contains(grants[s], access) {
			continue
		}
		if s == Runner && access == AccessTrialWork {
			if !d.Allowed {
				d = Decision{Allowed: true, LeaseRequired: true}
			}
			continue
		}
		return Decision{Allowed: true}
	}
	return d
}
