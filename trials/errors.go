package trials

import (
	"errors"
	"fmt"
)

// Kind classifies an error so that transports can map it to a status code
// without knowing where it came from.
type Kind int

const (
	KindInternal Kind = iota
	// KindInvalid: the request itself is malformed or out of range (400/422).
	KindInvalid
	// KindNotFound: the study or trial does not exist (404).
	KindNotFound
	// KindConflict: the request is valid but the current state forbids it:
	// duplicate name, finished trial, lost lease, paused study (409).
	KindConflict
)

// Error is a domain error with a message safe to show to the person who
// made the request.
type Error struct {
	Kind   Kind
	Detail string
}

func (e *Error) Error() string { return e.Detail }

// Is makes errors.Is(err, ErrNotFound) and friends match on the kind alone.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Detail == "" && t.Kind == e.Kind
}

// Sentinels for errors.Is; their Detail is empty so they match any error of
// their kind.
var (
	ErrInvalid  = &Error{Kind: KindInvalid}
	ErrNotFound = &Error{Kind: KindNotFound}
	ErrConflict = &Error{Kind: KindConflict}
)

// Invalidf returns a KindInvalid error.
func Invalidf(format string, args ...any) error {
	return &Error{Kind: KindInvalid, Detail: fmt.Sprintf(format, args...)}
}

// NotFoundf returns a KindNotFound error.
func NotFoundf(format string, args ...any) error {
	return &Error{Kind: KindNotFound, Detail: fmt.Sprintf(format, args...)}
}

// Conflictf returns a KindConflict error.
func Conflictf(format string, args ...any) error {
	return &Error{Kind: KindConflict, Detail: fmt.Sprintf(format, args...)}
}

// KindOf reports the kind of err, KindInternal when it carries none.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}
