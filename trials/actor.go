package trials

import "context"

// ReaperActor is the FinishedBy of a trial failed by the lease reaper.
const ReaperActor = "reaper"

type actorKey struct{}

// WithActor returns ctx carrying the name of whoever makes the writes done
// with it: the token's name, set once by the service's authentication.
// Stores record it as the CreatedBy of the studies and trials they create
// and the FinishedBy of the trials they finish. It travels in the context
// rather than as a parameter because every write needs it and no layer
// between the service and the store decides it.
func WithActor(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, actorKey{}, name)
}

// Actor returns the name WithActor put in ctx, "" when none (an
// unauthenticated server, or a write made by the service itself).
func Actor(ctx context.Context) string {
	name, _ := ctx.Value(actorKey{}).(string)
	return name
}
