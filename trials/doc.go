// Package trials is the domain of tune: studies, their search spaces, trials
// and leases, the rules that validate them, and the Store interface that the
// storage packages implement. It does no I/O and imports nothing of ours, so
// every other package can share one vocabulary.
package trials
