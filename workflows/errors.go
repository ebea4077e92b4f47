package workflows

import (
	"errors"

	"go.temporal.io/sdk/temporal"

	"github.com/confhub/confhub/connectors/zoom"
	"github.com/confhub/confhub/grants"
	"github.com/confhub/confhub/internal/apperr"
	"github.com/confhub/confhub/internal/database"
)

// Errors cross the workflow boundary as Temporal application errors whose
// type says what they are and whose details carry the facts; the workflow
// and the API decide by type and details, never by an error's text.
const (
	// errDomain is final: the caller's or Zoom's last word (validation,
	// permission, scope, daily limit, conflict). Never retried.
	errDomain = "confhub.domain"
	// errZoomUnavailable is Zoom failing for now (5xx, per-second 429, no
	// answer, a token refresh that failed for now). Retried within the step's
	// budget; if that runs out, the API answers 502 (504 with no answer).
	errZoomUnavailable = "confhub.zoom_unavailable"
	// errDBUnavailable is our database unreachable or restarting. Retried
	// within the step's budget; if that runs out, the API answers 503.
	errDBUnavailable = "confhub.db_unavailable"
)

// domainDetails carries a domain error through Temporal.
type domainDetails struct {
	Kind          apperr.Kind `json:"kind"`
	Field         string      `json:"field,omitempty"`
	Message       string      `json:"message"`
	ProviderError any         `json:"provider_error,omitempty"`
}

// unavailableDetails says how Zoom failed.
type unavailableDetails struct {
	NoAnswer bool   `json:"no_answer"` // the request got no answer (timeout, dropped connection)
	Message  string `json:"message"`
}

// toTemporal wraps a domain error so that it crosses the workflow boundary
// as a final (non-retryable) failure; other errors pass unchanged.
func toTemporal(err error) error {
	if e, ok := apperr.As(err); ok {
		return temporal.NewNonRetryableApplicationError(e.Public(), errDomain, nil,
			domainDetails{Kind: e.Kind, Field: e.Field, Message: e.Message, ProviderError: e.ProviderError})
	}
	return err
}

// storeError is a feature store's error as an activity reports it: domain
// errors are final, and so is a value the database refuses as data (SQLSTATE
// class 22: a NUL byte, a number out of range): retrying cannot store it.
// Anything else (the database unreachable, a deadlock) is retried.
// A statement that got no answer at all (no SQLSTATE: the connection was
// refused or dropped), or one refused because the server is going away
// (classes 08, 53, 57), is the database unavailable: retried, then 503.
func storeError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := apperr.As(err); ok {
		return toTemporal(err)
	}
	var coded interface{ SQLState() string }
	if !errors.As(err, &coded) {
		return temporal.NewApplicationError(err.Error(), errDBUnavailable)
	}
	switch code := coded.SQLState(); {
	case database.DataExceptionState(code):
		return toTemporal(apperr.Wrapf(err, apperr.Invalid, "a value cannot be stored (SQLSTATE %s)", code))
	case database.UnavailableState(code):
		return temporal.NewApplicationError(err.Error(), errDBUnavailable)
	}
	return err
}

// isDBUnavailable: the database gave no answer, so a write's outcome is unknown.
func isDBUnavailable(err error) bool {
	var ae *temporal.ApplicationError
	return errors.As(err, &ae) && ae.Type() == errDBUnavailable
}

func isDomain(err error) bool {
	var ae *temporal.ApplicationError
	return errors.As(err, &ae) && ae.Type() == errDomain
}

// FromTemporal turns a workflow's error back into the domain error it
// carries; other errors (internal failures) come back unchanged.
func FromTemporal(err error) error {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) && ae.Type() == errDomain {
		var d domainDetails
		if ae.Details(&d) == nil {
			return &apperr.Error{Kind: d.Kind, Field: d.Field, Message: d.Message, ProviderError: d.ProviderError, Err: err}
		}
	}
	return err
}

// zoomOutcome classifies the error of a Zoom call (made through a grant's
// token) for the workflow: nil stays nil, Zoom failing for now becomes
// errZoomUnavailable (retried), a final answer becomes errDomain, and
// anything else (our database) as storeError has it.
func zoomOutcome(err error) error {
	if err == nil {
		return nil
	}
	if e, ok := apperr.As(err); ok {
		// The token lifecycle reports Zoom's own failures as Provider kinds.
		if e.Kind == apperr.Provider || e.Kind == apperr.ProviderTimeout {
			return unavailable(e.Kind == apperr.ProviderTimeout, e.Message)
		}
		return toTemporal(err)
	}
	var ze *zoom.Error
	if !errors.As(err, &ze) {
		return storeError(err)
	}
	if ze.Class() == zoom.Retryable {
		return unavailable(ze.HTTPStatus == 0, ze.Error())
	}
	return toTemporal(grants.ProviderError(err))
}

func unavailable(noAnswer bool, message string) error {
	return temporal.NewApplicationError(message, errZoomUnavailable, unavailableDetails{NoAnswer: noAnswer, Message: message})
}

// step names what a workflow was doing when it failed, for the final error.
type step struct {
	doing string
	zoom  bool // a Zoom call (else our database)
}

var (
	stepCreateMeeting = step{"creating the Zoom meeting", true}
	stepUpdateMeeting = step{"updating the Zoom meeting", true}
	stepStoreEvent    = step{"storing the event", false}
	stepReadEvent     = step{"reading the event", false}
)

// finalError is the error a workflow ends with when a step failed for good:
// domain errors as they are; Zoom unavailable (retries exhausted) or out of
// time as a provider error the API shows as 502 or 504; anything else is an
// internal failure (the API answers 500 and logs it).
func finalError(err error, s step) error {
	if err == nil {
		return nil
	}
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		switch ae.Type() {
		case errDomain:
			return err
		case errZoomUnavailable:
			var d unavailableDetails
			_ = ae.Details(&d)
			return toTemporal(providerFailure(s, d.NoAnswer, d.Message))
		case errDBUnavailable:
			return toTemporal(&apperr.Error{Kind: apperr.Unavailable, Message: "the database is unavailable while " + s.doing + "; retry shortly"})
		}
	}
	var te *temporal.TimeoutError
	if s.zoom && errors.As(err, &te) {
		return toTemporal(providerFailure(s, true, te.Error()))
	}
	return err
}

func providerFailure(s step, noAnswer bool, message string) *apperr.Error {
	e := &apperr.Error{Kind: apperr.Provider, Message: "Zoom did not succeed while " + s.doing,
		ProviderError: map[string]any{"message": message}}
	if noAnswer {
		e.Kind, e.Message = apperr.ProviderTimeout, "Zoom did not answer in time while "+s.doing
	}
	return e
}
