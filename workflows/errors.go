// Package workflows creates, syncs and removes Zoom meetings together with
// events, as Temporal workflows. Zoom calls and database writes are local
// activities (fast: no extra round trips through the server); deleting a
// meeting after its event is gone is a regular activity retried for hours.
package workflows

import (
	"errors"

	"go.temporal.io/sdk/temporal"

	"github.com/confhub/confhub/internal/apperr"
)

// errorDetails carries a domain error through Temporal.
type errorDetails struct {
	Kind          apperr.Kind `json:"kind"`
	Field         string      `json:"field,omitempty"`
	Message       string      `json:"message"`
	ProviderError any         `json:"provider_error,omitempty"`
}

const domainErrorType = "confhub.domain"

// toTemporal wraps a domain error so it crosses the workflow boundary; domain
// errors are the caller's or Zoom's final word, so they are not retried.
func toTemporal(err error) error {
	if err == nil {
		return nil
	}
	if e, ok := apperr.As(err); ok {
		return temporal.NewNonRetryableApplicationError(e.Public(), domainErrorType, nil,
			errorDetails{Kind: e.Kind, Field: e.Field, Message: e.Message, ProviderError: e.ProviderError})
	}
	return err
}

// FromTemporal turns a workflow's error back into the domain error it carries.
func FromTemporal(err error) error {
	if err == nil {
		return nil
	}
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) && ae.Type() == domainErrorType {
		var d errorDetails
		if ae.Details(&d) == nil {
			return &apperr.Error{Kind: d.Kind, Field: d.Field, Message: d.Message, ProviderError: d.ProviderError, Err: err}
		}
	}
	return err
}
