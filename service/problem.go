package service

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tune-dev/tune/openapi"
	"github.com/tune-dev/tune/trials"
)

// handleError turns every error into RFC 9457 problem+json. Domain errors
// carry a detail written for the client; anything else is logged and
// reported as a bare 500 so that internal text never leaks.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, detail := http.StatusInternalServerError, "internal error; the server log has the cause"
	var (
		de *trials.Error
		he *echo.HTTPError
	)
	switch {
	case errors.As(err, &de) && de.Kind != trials.KindInternal:
		detail = de.Detail
		switch de.Kind {
		case trials.KindInvalid:
			status = http.StatusUnprocessableEntity
		case trials.KindNotFound:
			status = http.StatusNotFound
		case trials.KindConflict:
			status = http.StatusConflict
		}
	case errors.As(err, &he):
		status = he.Code
		if m, ok := he.Message.(string); ok {
			detail = m
		} else {
			detail = http.StatusText(status)
		}
		// A body cut off by the size limit surfaces inside the validator's
		// or the binder's error; report it as what it is.
		var inner *echo.HTTPError
		if errors.As(he.Internal, &inner) && inner.Code == http.StatusRequestEntityTooLarge {
			status, detail = inner.Code, "the request body is larger than the server accepts"
		}
		if status == http.StatusRequestEntityTooLarge && detail == http.StatusText(status) {
			detail = "the request body is larger than the server accepts"
		}
		if status >= 500 {
			s.log.Error("request failed", "method", c.Request().Method, "path", c.Path(), "err", err)
		}
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads the answer.
		return
	default:
		s.log.Error("request failed", "method", c.Request().Method, "path", c.Path(), "err", err)
	}
	p := openapi.Problem{
		Type:     ptr("about:blank"),
		Title:    http.StatusText(status),
		Status:   status,
		Detail:   &detail,
		Instance: ptr(c.Request().URL.Path),
	}
	c.Response().Header().Set(echo.HeaderContentType, "application/problem+json")
	if c.Request().Method == http.MethodHead {
		c.Response().WriteHeader(status)
		return
	}
	if err := c.JSON(status, p); err != nil {
		s.log.Warn("writing an error response", "err", err)
	}
}

func ptr[T any](v T) *T { return &v }
