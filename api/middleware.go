package api

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/confhub/confhub/internal/apperr"
	"github.com/confhub/confhub/internal/strictjson"
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

// readHeaders are the request headers whose values reach a lookup or the
// database: the credentials, the idempotency key, Zoom's webhook signature
// and timestamp. Others (User-Agent, traceparent, Content-Type) are never
// stored, and a client-sent x-request-id is ignored, so they are not judged.
var readHeaders = []string{"Authorization", "Idempotency-Key", "X-Zm-Request-Timestamp", "X-Zm-Signature"}

// oauthRoutes answer errors in the OAuth shape.
var oauthRoutes = map[string]bool{"/v3/connect/token": true, "/v3/connect/revoke": true}

// storableText refuses, before authentication or any lookup, text that
// PostgreSQL could not hold (NUL, invalid UTF-8) anywhere in the request: a
// path parameter, a query parameter's name or value, a read header, a JSON
// body's strings and keys, a form body's fields. The answer is a 400 naming
// it instead of a query that fails. The probes read nothing from the request.
func storableText(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !strings.HasPrefix(c.Path(), "/v3/") {
			return next(c)
		}
		if err := requestTextProblem(c); err != nil {
			if oauthRoutes[c.Path()] {
				return &apperr.OAuthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: err.Public()}
			}
			return err
		}
		return next(c)
	}
}

func requestTextProblem(c echo.Context) *apperr.Error {
	values := c.ParamValues()
	for i, name := range c.ParamNames() {
		if i < len(values) {
			if why := strictjson.TextProblem(values[i]); why != "" {
				return apperr.InvalidField(name, "%s", why)
			}
		}
	}
	if err := formTextProblem(c.QueryParams(), "query parameter"); err != nil {
		return err
	}
	req := c.Request()
	for _, name := range readHeaders {
		for _, v := range req.Header.Values(name) {
			if why := strictjson.TextProblem(v); why != "" {
				return apperr.InvalidField(name, "%s", why)
			}
		}
	}
	return bodyTextProblem(req, oauthRoutes[c.Path()])
}

// bodyTextProblem judges the body as its route will read it, then hands it
// on unread to the handler (with the read error, if any: an oversized body
// is the handler's to report).
func bodyTextProblem(req *http.Request, formsToo bool) *apperr.Error {
	if req.Body == nil || req.Body == http.NoBody {
		return nil
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		req.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{err}))
		return nil
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	// Only the OAuth endpoints take forms.
	if mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type")); formsToo && mt == "application/x-www-form-urlencoded" {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil // malformed: the form decoder says so
		}
		return formTextProblem(form, "form field")
	}
	// Content-Type is not enforced for JSON (curl's default form type
	// works): every other body is judged as JSON, and one that is not JSON
	// is left to the decoder to refuse.
	if err := strictjson.CheckText(body, ""); err != nil {
		e, _ := apperr.As(err)
		return e
	}
	return nil
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// formTextProblem judges a query string's or form body's names and values,
// in name order so the answer does not depend on map order.
func formTextProblem(form url.Values, what string) *apperr.Error {
	names := make([]string, 0, len(form))
	for k := range form {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if why := strictjson.TextProblem(k); why != "" {
			return apperr.Invalidf("%s name %+q %s", what, k, why)
		}
		for _, v := range form[k] {
			if why := strictjson.TextProblem(v); why != "" {
				return apperr.InvalidField(k, "%s", why)
			}
		}
	}
	return nil
}

// grantScope is the grant a grant-scoped access token is limited to, if the
// request was authenticated by one.
func grantScope(c echo.Context) uuid.UUID {
	id, _ := c.Get(ctxGrantScope).(uuid.UUID)
	return id
}

// bearer reads Authorization: Bearer <token>: sent says whether the header
// is there at all, ok whether it has that form.
func bearer(c echo.Context) (token string, sent, ok bool) {
	h := c.Request().Header.Get("Authorization")
	scheme, token, found := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	return token, h != "", found && strings.EqualFold(scheme, "Bearer") && token != ""
}

func (s *Server) requireAuth(mode Auth) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			key, sent, ok := bearer(c)
			if !sent {
				return apperr.Unauthorizedf("missing Authorization header: send Authorization: Bearer <api key>")
			}
			if !ok {
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
