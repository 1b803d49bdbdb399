package service

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"

	"github.com/tune-dev/tune/auth"
	"github.com/tune-dev/tune/trials"
)

// TokenStore keeps API tokens; sql/postgres and sql/sqlite implement it.
type TokenStore interface {
	CreateToken(ctx context.Context, t auth.Token) (*auth.Token, error)
	TokenByHash(ctx context.Context, hash []byte) (*auth.Token, error)
	ListTokens(ctx context.Context) ([]auth.Token, error)
	RevokeToken(ctx context.Context, id int64) (*auth.Token, error)
	TouchToken(ctx context.Context, id int64) error
}

// Caller is who made a request: the token's name and scopes.
type Caller struct {
	TokenID int64
	Name    string
	Scopes  []auth.Scope
}

type callerKey struct{}

// CallerFrom returns the caller of the request ctx belongs to; ok is false
// on an insecure server, where nobody is authenticated.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// touchEvery bounds how often a token's last use is written: once a minute
// is precise enough to tell a live token from a forgotten one, and spares
// the store a write per request.
const touchEvery = time.Minute

// trialGetter reads the trial a runner token works on, to learn who holds
// it.
type trialGetter interface {
	GetTrial(ctx context.Context, id int64) (*trials.Trial, error)
}

// authenticator checks bearer tokens and the scope table on /api/v1.
type authenticator struct {
	tokens TokenStore
	trials trialGetter
	now    func() time.Time
	// ops maps echo's method and route to the spec's operationId.
	ops map[string]string

	mu      sync.Mutex
	touched map[int64]time.Time
}

func newAuthenticator(tokens TokenStore, store trialGetter, now func() time.Time, spec *openapi3.T) *authenticator {
	a := &authenticator{tokens: tokens, trials: store, now: now, ops: map[string]string{}, touched: map[int64]time.Time{}}
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			a.ops[method+" "+echoPath(apiPrefix+path)] = operationID(op)
		}
	}
	return a
}

// operationID is the operation's id as the spec file spells it: the
// generator's copy of the spec capitalizes the first letter.
func operationID(op *openapi3.Operation) string {
	id := op.OperationID
	if id == "" {
		return id
	}
	return strings.ToLower(id[:1]) + id[1:]
}

// unauthorized is a 401 with the challenge RFC 6750 asks for.
func unauthorized(c echo.Context, invalid bool, detail string) error {
	challenge := `Bearer realm="tune"`
	if invalid {
		challenge += `, error="invalid_token"`
	}
	c.Response().Header().Set(echo.HeaderWWWAuthenticate, challenge)
	return echo.NewHTTPError(http.StatusUnauthorized, detail)
}

const howToGetAToken = "send Authorization: Bearer <token>; on the server's machine `tune serve` wrote an admin token to <data-dir>/token (default ~/.tune/token), and `tune token create` makes more"

func (a *authenticator) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if req.URL.Path == apiPrefix+"/openapi.yaml" {
			return next(c)
		}
		scheme, secret, _ := strings.Cut(req.Header.Get(echo.HeaderAuthorization), " ")
		secret = strings.TrimSpace(secret)
		if !strings.EqualFold(scheme, "Bearer") || secret == "" {
			return unauthorized(c, false, "this API needs a bearer token: "+howToGetAToken)
		}
		if !auth.LooksLikeSecret(secret) {
			return unauthorized(c, true, "the bearer token is not a tune token (tune_...)")
		}
		tok, err := a.tokens.TokenByHash(req.Context(), auth.HashSecret(secret))
		if errors.Is(err, trials.ErrNotFound) || (err == nil && !tok.Matches(secret)) {
			return unauthorized(c, true, "the bearer token is not known to this server")
		}
		if err != nil {
			return fmt.Errorf("authenticating: %w", err)
		}
		if why := tok.Usable(a.now()); why != "" {
			return unauthorized(c, true, why)
		}
		a.touch(req.Context(), tok.ID)

		op, known := a.ops[req.Method+" "+c.Path()]
		if known {
			d := auth.Decide(tok.Scopes, op)
			if !d.Allowed {
				return echo.NewHTTPError(http.StatusForbidden,
					fmt.Sprintf("token %q (scopes %s) may not %s", tok.Name, auth.JoinScopes(tok.Scopes), op))
			}
			if d.LeaseRequired {
				if err := requireLease(c); err != nil {
					return err
				}
				if err := a.requireHolder(c, tok.Name); err != nil {
					return err
				}
			}
		}
		ctx := context.WithValue(req.Context(), callerKey{}, Caller{TokenID: tok.ID, Name: tok.Name, Scopes: tok.Scopes})
		// The stores record the token's name on what this request creates
		// or finishes.
		ctx = trials.WithActor(ctx, tok.Name)
		c.SetRequest(req.WithContext(ctx))
		return next(c)
	}
}

// requireLease refuses a runner token's heartbeat, report or tell that does
// not carry the trial's lease token: a runner may touch only the trials it
// holds, and the store's conditional writes check the lease itself (409
// when it is not the current one). The body is read here and put back for
// the handler; the body limit has already bounded it.
func requireLease(c echo.Context) error {
	req := c.Request()
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return err // the body limit's 413, or a broken connection
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	var peek struct {
		Lease *int64 `json:"lease"`
	}
	if len(body) > 0 && json.Unmarshal(body, &peek) != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "the request body is not valid JSON")
	}
	if peek.Lease == nil {
		return echo.NewHTTPError(http.StatusForbidden,
			`a runner token must present the trial's lease token ("lease", from the lease grant): it may only touch the trials it holds`)
	}
	return nil
}

// requireHolder refuses a runner token's work on a trial whose current
// lease another token was granted. Lease tokens are small, growing
// numbers, shown in trial listings: only who was granted the lease makes a
// runner the holder. A trial nobody holds (waiting again, or written
// before holders were recorded) is left to the lease check; an unknown
// one to the handler's 404.
func (a *authenticator) requireHolder(c echo.Context, name string) error {
	id, err := strconv.ParseInt(c.Param("trial"), 10, 64)
	if err != nil {
		return nil // the handler refuses the path
	}
	t, err := a.trials.GetTrial(c.Request().Context(), id)
	if errors.Is(err, trials.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("authorizing: %w", err)
	}
	if t.HeldBy != "" && t.HeldBy != name {
		return echo.NewHTTPError(http.StatusForbidden,
			fmt.Sprintf("trial %d is held by another token's lease: a runner token may only touch the trials it holds", id))
	}
	return nil
}

// touch records a token's use, at most once per touchEvery per token and
// process. A failure costs only precision, so it is not the caller's.
func (a *authenticator) touch(ctx context.Context, id int64) {
	now := a.now()
	a.mu.Lock()
	last, ok := a.touched[id]
	due := !ok || now.Sub(last) >= touchEvery
	if due {
		a.touched[id] = now
	}
	a.mu.Unlock()
	if due {
		_ = a.tokens.TouchToken(ctx, id)
	}
}

// metricsGuard asks for the metrics token, when one is set, on /metrics.
func metricsGuard(token string) echo.MiddlewareFunc {
	want := []byte("Bearer " + token)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if token == "" {
				return next(c)
			}
			got := []byte(c.Request().Header.Get(echo.HeaderAuthorization))
			if subtle.ConstantTimeCompare(got, want) != 1 {
				return unauthorized(c, len(got) > 0, "/metrics needs the metrics token: Authorization: Bearer <--metrics-token>")
			}
			return next(c)
		}
	}
}
