package service

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"golang.org/x/time/rate"
)

// RateLimit bounds how fast one caller may call the API. A caller is its
// bearer token when it sends one, else its address: a token shared by a
// team's runners shares one budget, so size Rate for the whole fleet.
type RateLimit struct {
	// Rate is requests per second per caller (default 500); negative
	// disables the limit.
	Rate float64
	// Burst is how many requests a caller may make at once above the rate
	// (default 2 × Rate, at least 20).
	Burst int
}

func (l RateLimit) withDefaults() RateLimit {
	if l.Rate == 0 {
		l.Rate = 500
	}
	if l.Burst <= 0 {
		l.Burst = max(20, int(2*l.Rate))
	}
	return l
}

// rateLimiter answers 429 with Retry-After once a caller has spent its
// burst, until its bucket refills.
func rateLimiter(l RateLimit) echo.MiddlewareFunc {
	retryAfter := fmt.Sprint(int(math.Ceil(1 / l.Rate)))
	return middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		Store: middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
			Rate:      rate.Limit(l.Rate),
			Burst:     l.Burst,
			ExpiresIn: 3 * time.Minute,
		}),
		IdentifierExtractor: callerID,
		ErrorHandler: func(c echo.Context, err error) error {
			return echo.NewHTTPError(http.StatusForbidden, "the caller could not be identified")
		},
		DenyHandler: func(c echo.Context, id string, err error) error {
			c.Response().Header().Set("Retry-After", retryAfter)
			return echo.NewHTTPError(http.StatusTooManyRequests,
				fmt.Sprintf("too many requests from this caller: at most %g a second (bursts of %d); retry after %s s", l.Rate, l.Burst, retryAfter))
		},
	})
}

// callerID names the caller for the limiter: a hash of its bearer token
// (never the token itself, which would then sit in memory in the clear),
// else its address.
func callerID(c echo.Context) (string, error) {
	if auth := c.Request().Header.Get(echo.HeaderAuthorization); strings.HasPrefix(auth, "Bearer ") {
		sum := sha256.Sum256([]byte(strings.TrimPrefix(auth, "Bearer ")))
		return "token:" + hex.EncodeToString(sum[:12]), nil
	}
	return "addr:" + c.RealIP(), nil
}
