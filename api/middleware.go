package api

import (
	"fmt"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/confhub/confhub/internal/apperr"
	"github.com/confhub/confhub/internal/telemetry"
)

const (
	ctxRequestID     = "confhub.request_id"
	ctxApplicationID = "confhub.application_id"
	ctxGrantScope    = "confhub.grant_scope"
	headerRequestID  = "x-request-id"
)

// requestID gives every request an id, in the x-request-id header and (by the
// envelopes) in the body. Client-sent ids are not trusted.
func (s *Server) requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := uuid.NewString()
		c.Set(ctxRequestID, id)
		c.Response().Header().Set(headerRequestID, id)
		return next(c)
	}
}

func requestIDOf(c echo.Context) string {
	id, _ := c.Get(ctxRequestID).(string)
	return id
}

// applicationID is the authenticated tenant; only set behind requireAPIKey.
func applicationID(c echo.Context) uuid.UUID {
	id, _ := c.Get(ctxApplicationID).(uuid.UUID)
	return id
}

// logRequests writes one line per request. It logs the route template, never
// the raw path or query, which may carry tokens.
func (s *Server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		took := time.Since(start)
		ctx, method, route, status := c.Request().Context(), c.Request().Method, c.Path(), c.Response().Status
		if route == "" {
			route = "unmatched" // no raw paths as labels: they are unbounded and may carry ids
		}
		telemetry.HTTPRequests.WithLabelValues(method, route, strconv.Itoa(status)).Observe(took.Seconds())
		span := trace.SpanFromContext(ctx)
		span.SetName(method + " " + route)
		span.SetAttributes(semconv.HTTPRoute(route), attribute.String("confhub.request_id", requestIDOf(c)))
		attrs := []any{
			"method", method,
			"route", route,
			"status", status,
			"duration_ms", float64(took.Microseconds()) / 1000,
			"request_id", requestIDOf(c),
		}
		if app := applicationID(c); app != uuid.Nil {
			attrs = append(attrs, "application_id", app.String())
			span.SetAttributes(attribute.String("confhub.application_id", app.String()))
		}
		s.log.InfoContext(ctx, "request", attrs...)
		return nil
	}
}

func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				s.log.ErrorContext(c.Request().Context(), "panic in handler", "panic", fmt.Sprint(r), "request_id", requestIDOf(c), "stack", string(debug.Stack()))
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return next(c)
	}
}

func limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if req.Body != nil {
			req.Body = http.MaxBytesReader(c.Response(), req.Body, MaxBodyBytes)
		}
		return next(c)
	}
}

// grantScope is the grant a grant-scoped access token is limited to, if the
// request was authenticated by one.
func grantScope(c echo.Context) uuid.UUID {
	id, _ := c.Get(ctxGrantScope).(uuid.UUID)
	return id
}

func (s *Server) requireAuth(mode Auth) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Request().Header.Get("Authorization")
			scheme, key, found := strings.Cut(h, " ")
			key = strings.TrimSpace(key)
			if h == "" {
				return apperr.Unauthorizedf("missing Authorization header: send Authorization: Bearer <api key>")
			}
			if !found || !strings.EqualFold(scheme, "Bearer") || key == "" {
				return apperr.Unauthorizedf("Authorization header must be: Bearer <api key>")
			}
			if strings.HasPrefix(key, "gt_") && s.deps.Grants != nil {
				if mode != APIKeyOrGrantToken {
					return apperr.Unauthorizedf("this route needs the application's API key, not a grant access token")
				}
				app, grant, err := s.deps.Grants.AuthenticateGrantToken(c.Request().Context(), key)
				if err != nil {
					return err
				}
				c.Set(ctxApplicationID, app)
				c.Set(ctxGrantScope, grant)
				return next(c)
			}
			app, err := s.deps.Auth.Authenticate(c.Request().Context(), key)
			if err != nil {
				return err
			}
			c.Set(ctxApplicationID, app)
			return next(c)
		}
	}
}
