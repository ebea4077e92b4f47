// Package apperr holds the domain errors that feature packages return. They
// say what went wrong in the caller's terms (which field, which resource);
// package api is the one place that turns them into HTTP statuses.
package apperr

import (
	"errors"
	"fmt"
)

// Kind classifies an error by who has to act on it.
type Kind int

const (
	// Invalid: the caller sent something wrong (400).
	Invalid Kind = iota + 1
	// Unauthorized: no or bad credentials, or a grant that needs reconnecting (401).
	Unauthorized
	// Forbidden: authenticated but not allowed (403).
	Forbidden
	// NotFound: the resource does not exist for this application (404).
	NotFound
	// Conflict: the request collides with existing state (409).
	Conflict
	// RateLimited: try again later (429).
	RateLimited
	// Provider: an upstream provider such as Zoom failed (502).
	Provider
	// ProviderTimeout: an upstream provider did not answer in time (504).
	ProviderTimeout
	// Unavailable: a dependency of ours (PostgreSQL, Temporal) is down or
	// restarting; the same request will work once it is back (503).
	Unavailable
	// Internal: anything else (500); the zero Kind reads the same.
	Internal Kind = 0
)

// String names a kind in metrics and logs.
func (k Kind) String() string {
	switch k {
	case Invalid:
		return "invalid"
	case Unauthorized:
		return "unauthorized"
	case Forbidden:
		return "forbidden"
	case NotFound:
		return "not_found"
	case Conflict:
		return "conflict"
	case RateLimited:
		return "rate_limited"
	case Provider:
		return "provider"
	case ProviderTimeout:
		return "provider_timeout"
	case Unavailable:
		return "unavailable"
	}
	return "internal"
}

// Error is a domain error. Message is safe to show to the API caller; Err is
// the internal cause and is only logged.
type Error struct {
	Kind    Kind
	Field   string // JSON path of the offending field, for Invalid
	Message string
	Err     error
	// ProviderError is shown as the envelope's provider_error: the upstream's
	// own code and message, for Provider and provider-caused errors.
	ProviderError any
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Public is the message shown to the caller: the field, then the reason.
func (e *Error) Public() string {
	if e.Field != "" {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

// InvalidField reports a bad value in the named field.
func InvalidField(field, format string, args ...any) *Error {
	return &Error{Kind: Invalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Invalidf reports a bad request that no single field is to blame for.
func Invalidf(format string, args ...any) *Error {
	return &Error{Kind: Invalid, Message: fmt.Sprintf(format, args...)}
}

// NotFoundf reports a missing resource.
func NotFoundf(format string, args ...any) *Error {
	return &Error{Kind: NotFound, Message: fmt.Sprintf(format, args...)}
}

// Conflictf reports a collision with existing state.
func Conflictf(format string, args ...any) *Error {
	return &Error{Kind: Conflict, Message: fmt.Sprintf(format, args...)}
}

// Unauthorizedf reports missing or bad credentials.
func Unauthorizedf(format string, args ...any) *Error {
	return &Error{Kind: Unauthorized, Message: fmt.Sprintf(format, args...)}
}

// Wrapf makes a domain error of kind k around a cause.
func Wrapf(cause error, k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...), Err: cause}
}

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// IsKind reports whether err carries a domain error of kind k.
func IsKind(err error, k Kind) bool {
	e, ok := As(err)
	return ok && e.Kind == k
}

// OAuthError is an error of the OAuth endpoints (/v3/connect/token and
// /v3/connect/revoke), which answer in the OAuth shape rather than the
// envelope.
type OAuthError struct {
	Status      int
	Code        string // invalid_request, invalid_client, invalid_grant, unsupported_grant_type
	Description string
}

func (e *OAuthError) Error() string { return e.Code + ": " + e.Description }

// OAuth error codes and the numbers the error_code field carries for them.
var OAuthErrorCodes = map[string]int{
	"invalid_request":        1,
	"invalid_client":         2,
	"invalid_grant":          3,
	"unsupported_grant_type": 4,
	"server_error":           5,
}
