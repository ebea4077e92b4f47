package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/confhub/confhub/internal/apperr"
	"github.com/confhub/confhub/internal/database"
)

// Error types of the Nylas v3 error envelope.
const (
	typeInvalidRequest = "invalid_request_error"
	typeUnauthorized   = "unauthorized"
	typeForbidden      = "forbidden"
	typeNotFound       = "not_found_error"
	typeConflict       = "conflict"
	typeRateLimit      = "rate_limit_error"
	typeProvider       = "provider_error"
	typeUnavailable    = "service_unavailable"
	typeInternal       = "internal_error"
)

// retryAfterSeconds is what a 503 tells the caller to wait: about how long
// a restarting PostgreSQL or Temporal takes to answer again.
const retryAfterSeconds = "5"

type errorBody struct {
	RequestID string      `json:"request_id"`
	Error     errorDetail `json:"error"`
}

// oauthErrorBody is the OAuth endpoints' error shape.
type oauthErrorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorURI         string `json:"error_uri"`
	ErrorCode        int    `json:"error_code"`
}

type errorDetail struct {
	Type          string `json:"type"`
	Message       string `json:"message"`
	ProviderError any    `json:"provider_error,omitempty"`
}

var kindStatus = map[apperr.Kind]struct {
	status int
	typ    string
}{
	apperr.Invalid:         {http.StatusBadRequest, typeInvalidRequest},
	apperr.Unauthorized:    {http.StatusUnauthorized, typeUnauthorized},
	apperr.Forbidden:       {http.StatusForbidden, typeForbidden},
	apperr.NotFound:        {http.StatusNotFound, typeNotFound},
	apperr.Conflict:        {http.StatusConflict, typeConflict},
	apperr.RateLimited:     {http.StatusTooManyRequests, typeRateLimit},
	apperr.Provider:        {http.StatusBadGateway, typeProvider},
	apperr.ProviderTimeout: {http.StatusGatewayTimeout, typeProvider},
	apperr.Unavailable:     {http.StatusServiceUnavailable, typeUnavailable},
}

// handleError is the one place that maps errors to HTTP responses.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var oe *apperr.OAuthError
	if errors.As(err, &oe) {
		_ = c.JSON(oe.Status, oauthErrorBody{Error: oe.Code, ErrorDescription: oe.Description,
			ErrorURI: s.deps.PublicURL + "/openapi.yaml", ErrorCode: apperr.OAuthErrorCodes[oe.Code]})
		return
	}
	status, detail := s.classify(err, c)
	if status == http.StatusServiceUnavailable {
		c.Response().Header().Set("Retry-After", retryAfterSeconds)
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = c.JSON(status, errorBody{RequestID: requestIDOf(c), Error: detail})
}

func (s *Server) classify(err error, c echo.Context) (int, errorDetail) {
	if e, ok := apperr.As(err); ok {
		m, known := kindStatus[e.Kind]
		if known {
			if e.Err != nil {
				s.log.Info("request refused", "request_id", requestIDOf(c), "kind", m.typ, "cause", e.Err.Error())
			}
			return m.status, errorDetail{Type: m.typ, Message: e.Public(), ProviderError: e.ProviderError}
		}
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		switch he.Code {
		case http.StatusNotFound:
			return http.StatusNotFound, errorDetail{Type: typeNotFound, Message: "no such route: " + c.Request().Method + " " + c.Request().URL.Path}
		case http.StatusMethodNotAllowed:
			return http.StatusMethodNotAllowed, errorDetail{Type: typeInvalidRequest, Message: "method " + c.Request().Method + " is not allowed on this route"}
		}
		if he.Code >= 400 && he.Code < 500 {
			return he.Code, errorDetail{Type: typeInvalidRequest, Message: http.StatusText(he.Code)}
		}
	}
	if database.Unavailable(err) {
		// PostgreSQL is down or restarting: the same request works once it is back.
		s.log.Warn("database unavailable", "request_id", requestIDOf(c), "route", c.Path(), "err", err.Error())
		return http.StatusServiceUnavailable, errorDetail{Type: typeUnavailable, Message: "the database is unavailable; retry shortly"}
	}
	if errors.Is(err, context.Canceled) && c.Request().Context().Err() != nil {
		// The client went away; nobody reads this response.
		s.log.Info("request canceled by client", "request_id", requestIDOf(c))
		return 499, errorDetail{Type: typeInvalidRequest, Message: "request canceled"}
	}
	s.log.Error("internal error", "request_id", requestIDOf(c), "route", c.Path(), "err", err.Error())
	return http.StatusInternalServerError, errorDetail{Type: typeInternal, Message: "internal error; quote request_id " + requestIDOf(c) + " when reporting it"}
}
