// Package api is confhub's HTTP surface: the Nylas v3 compatible routes, the
// envelopes, authentication, and the one place where domain errors become
// HTTP statuses. Handlers stay thin: decode, call a feature, encode.
package api

import (
	"context"
	_ "embed"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/confhub/confhub/connectors"
	"github.com/confhub/confhub/grants"
	"github.com/confhub/confhub/internal/apperr"
	"github.com/confhub/confhub/internal/applications"
	"github.com/confhub/confhub/internal/telemetry"
)

// MaxBodyBytes caps every request body.
const MaxBodyBytes = 1 << 20

//go:embed openapi.yaml
var openAPISpec []byte

// OpenAPISpec is the API's contract, api/openapi.yaml, as served at
// /openapi.yaml; tests in other packages load it to check exchanges.
func OpenAPISpec() []byte { return openAPISpec }

// Authenticator resolves an API key to its application.
type Authenticator interface {
	Authenticate(ctx context.Context, key string) (uuid.UUID, error)
}

// Applications is what the application and redirect-URI routes need.
type Applications interface {
	Get(ctx context.Context, appID uuid.UUID) (applications.Application, error)
	ListRedirectURIs(ctx context.Context, appID uuid.UUID) ([]applications.RedirectURI, error)
	CreateRedirectURI(ctx context.Context, appID uuid.UUID, in applications.RedirectURIInput) (applications.RedirectURI, error)
	GetRedirectURI(ctx context.Context, appID uuid.UUID, id string) (applications.RedirectURI, error)
	UpdateRedirectURI(ctx context.Context, appID uuid.UUID, id string, in applications.RedirectURIInput) (applications.RedirectURI, error)
	DeleteRedirectURI(ctx context.Context, appID uuid.UUID, id string) error
	// OriginAllowed: whether origin is that of a redirect URI of appID (of
	// any application when nil); the scheduling routes' CORS asks it.
	OriginAllowed(ctx context.Context, origin string, appID *uuid.UUID) (bool, error)
}

// Connectors is what the connector routes need.
type Connectors interface {
	Create(ctx context.Context, appID uuid.UUID, in connectors.CreateInput) (connectors.Connector, error)
	List(ctx context.Context, appID uuid.UUID, limit, offset int) ([]connectors.Connector, error)
	Get(ctx context.Context, appID uuid.UUID, provider, level string) (connectors.Connector, error)
	Update(ctx context.Context, appID uuid.UUID, provider, level string, in connectors.UpdateInput) (connectors.Connector, error)
	Delete(ctx context.Context, appID uuid.UUID, provider, level string) error
}

// Grants is what the connect and grant routes need.
type Grants interface {
	StartAuth(ctx context.Context, q grants.AuthRequest) (string, error)
	Callback(ctx context.Context, q url.Values) (string, error)
	ExchangeCode(ctx context.Context, r grants.TokenRequest) (grants.TokenResponse, error)
	RevokeGrantToken(ctx context.Context, token string) error
	AuthenticateGrantToken(ctx context.Context, token string) (appID, grantID uuid.UUID, err error)
	ConnectCustom(ctx context.Context, appID uuid.UUID, in grants.CustomInput) (grants.Grant, error)
	HandleZoomWebhook(ctx context.Context, timestamp, signature string, body []byte) (*grants.URLValidation, *grants.MeetingNotice, error)
	List(ctx context.Context, appID uuid.UUID, f grants.ListFilter) ([]grants.Grant, error)
	Get(ctx context.Context, appID uuid.UUID, id string) (grants.Grant, error)
	Update(ctx context.Context, appID uuid.UUID, id string, in grants.UpdateInput) (grants.Grant, error)
	Delete(ctx context.Context, appID uuid.UUID, id string) error
}

// Pinger reports whether the database is reachable.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Deps are the server's collaborators.
type Deps struct {
	Log          *slog.Logger
	Auth         Authenticator
	Applications Applications
	Connectors   Connectors
	Grants       Grants
	Calendars    Calendars
	Events       EventWorkflows
	Scheduler    Scheduler
	Bookings     Bookings
	Webhooks     Webhooks
	DB           Pinger
	// Temporal is checked by the readiness probe; nil: not checked.
	Temporal Pinger
	// SchemaReady reports whether the database schema is up to date; until
	// it is, every route but the probes answers 503. Nil: always ready.
	SchemaReady func() bool
	// PublicURL is the externally visible base URL (for error_uri links,
	// and the booking page's API origin).
	PublicURL string
	// SchedulerPages resolves the hosted booking pages; nil: they answer 404.
	SchedulerPages SchedulerPages
	// SchedulerBundleURL is the <nylas-scheduling> module the booking page
	// imports (CONFHUB_SCHEDULER_BUNDLE_URL); empty: the copy served from
	// WebElementsDir under /scheduler/assets/.
	SchedulerBundleURL string
	// WebElementsDir is @nylas/web-elements' dist/cdn directory
	// (CONFHUB_WEB_ELEMENTS_DIR), served under /scheduler/assets/.
	WebElementsDir string
}

// Server is the HTTP API.
type Server struct {
	deps Deps
	log  *slog.Logger
	echo *echo.Echo
}

// Auth says what a route accepts as credentials.
type Auth int

const (
	// APIKey: the application's API key (the default).
	APIKey Auth = iota
	// Public: nothing (browser redirects, OAuth endpoints, Zoom's webhooks, probes).
	Public
	// APIKeyOrGrantToken: the API key, or an access token from /v3/connect/token
	// for the grant the path names.
	APIKeyOrGrantToken
)

// Route is one entry of the route table; the OpenAPI test compares the two.
type Route struct {
	Method  string
	Path    string // echo syntax: /v3/connectors/:provider
	Handler echo.HandlerFunc
	Auth    Auth
}

// New builds the server and registers every route.
func New(deps Deps) *Server {
	s := &Server{deps: deps, log: deps.Log, echo: echo.New()}
	e := s.echo
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Pre(s.requestID)
	e.Use(s.logRequests, s.recoverPanics, limitBody, s.cors, storableText)
	for _, r := range s.Routes() {
		var mw []echo.MiddlewareFunc
		if strings.HasPrefix(r.Path, "/v3/") { // every API route; not the probes
			mw = append(mw, s.requireSchema)
		}
		if r.Auth != Public {
			mw = append(mw, s.requireAuth(r.Auth))
		}
		e.Add(r.Method, r.Path, r.Handler, mw...)
	}
	return s
}

// Handler is the server as an http.Handler.
// Every request gets a server span (a trace starts here unless the caller
// sent a traceparent); the middleware names it after the route template.
func (s *Server) Handler() http.Handler {
	return otelhttp.NewHandler(s.echo, "confhub", otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
		return r.Method // renamed to "METHOD /route/:template" once routed
	}))
}

// Routes is the route table.
func (s *Server) Routes() []Route {
	routes := []Route{
		{Method: http.MethodGet, Path: "/healthz", Handler: s.healthz, Auth: Public},
		{Method: http.MethodGet, Path: "/readyz", Handler: s.readyz, Auth: Public},
		{Method: http.MethodGet, Path: "/openapi.yaml", Handler: s.openapi, Auth: Public},
		{Method: http.MethodGet, Path: "/metrics", Handler: echo.WrapHandler(telemetry.MetricsHandler()), Auth: Public},

		{Method: http.MethodGet, Path: "/v3/applications", Handler: s.getApplication},
		{Method: http.MethodPost, Path: "/v3/applications/redirect-uris", Handler: s.createRedirectURI},
		{Method: http.MethodGet, Path: "/v3/applications/redirect-uris", Handler: s.listRedirectURIs},
		{Method: http.MethodGet, Path: "/v3/applications/redirect-uris/:id", Handler: s.getRedirectURI},
		{Method: http.MethodPatch, Path: "/v3/applications/redirect-uris/:id", Handler: s.updateRedirectURI},
		{Method: http.MethodDelete, Path: "/v3/applications/redirect-uris/:id", Handler: s.deleteRedirectURI},

		{Method: http.MethodPost, Path: "/v3/connectors", Handler: s.createConnector},
		{Method: http.MethodGet, Path: "/v3/connectors", Handler: s.listConnectors},
		{Method: http.MethodGet, Path: "/v3/connectors/:provider", Handler: s.getConnector},
		{Method: http.MethodPatch, Path: "/v3/connectors/:provider", Handler: s.updateConnector},
		{Method: http.MethodPut, Path: "/v3/connectors/:provider", Handler: s.updateConnector},
		{Method: http.MethodDelete, Path: "/v3/connectors/:provider", Handler: s.deleteConnector},

		{Method: http.MethodGet, Path: "/v3/connect/auth", Handler: s.connectAuth, Auth: Public},
		{Method: http.MethodGet, Path: "/v3/connect/callback", Handler: s.connectCallback, Auth: Public},
		{Method: http.MethodPost, Path: "/v3/connect/token", Handler: s.connectToken, Auth: Public},
		{Method: http.MethodPost, Path: "/v3/connect/revoke", Handler: s.connectRevoke, Auth: Public},
		{Method: http.MethodPost, Path: "/v3/connect/custom", Handler: s.connectCustom},
		{Method: http.MethodPost, Path: "/v3/connect/zoom/webhook", Handler: s.zoomWebhook, Auth: Public},

		{Method: http.MethodGet, Path: "/v3/grants", Handler: s.listGrants},
		{Method: http.MethodGet, Path: "/v3/grants/:grant_id", Handler: s.getGrant, Auth: APIKeyOrGrantToken},
		{Method: http.MethodPatch, Path: "/v3/grants/:grant_id", Handler: s.updateGrant, Auth: APIKeyOrGrantToken},
		{Method: http.MethodDelete, Path: "/v3/grants/:grant_id", Handler: s.deleteGrant, Auth: APIKeyOrGrantToken},
		{Method: http.MethodGet, Path: "/v3/grants/:grant_id/conferencing/orphans", Handler: s.listOrphans, Auth: APIKeyOrGrantToken},

		{Method: http.MethodPost, Path: "/v3/grants/:grant_id/calendars", Handler: s.createCalendar, Auth: APIKeyOrGrantToken},
		{Method: http.MethodGet, Path: "/v3/grants/:grant_id/calendars", Handler: s.listCalendars, Auth: APIKeyOrGrantToken},
		{Method: http.MethodGet, Path: "/v3/grants/:grant_id/calendars/:calendar_id", Handler: s.getCalendar, Auth: APIKeyOrGrantToken},
		{Method: http.MethodPut, Path: "/v3/grants/:grant_id/calendars/:calendar_id", Handler: s.updateCalendar, Auth: APIKeyOrGrantToken},
		{Method: http.MethodDelete, Path: "/v3/grants/:grant_id/calendars/:calendar_id", Handler: s.deleteCalendar, Auth: APIKeyOrGrantToken},

		{Method: http.MethodPost, Path: "/v3/grants/:grant_id/events", Handler: s.createEvent, Auth: APIKeyOrGrantToken},
		{Method: http.MethodGet, Path: "/v3/grants/:grant_id/events", Handler: s.listEvents, Auth: APIKeyOrGrantToken},
		{Method: http.MethodGet, Path: "/v3/grants/:grant_id/events/:event_id", Handler: s.getEvent, Auth: APIKeyOrGrantToken},
		{Method: http.MethodPut, Path: "/v3/grants/:grant_id/events/:event_id", Handler: s.updateEvent, Auth: APIKeyOrGrantToken},
		{Method: http.MethodDelete, Path: "/v3/grants/:grant_id/events/:event_id", Handler: s.deleteEvent, Auth: APIKeyOrGrantToken},
		{Method: http.MethodPost, Path: "/v3/grants/:grant_id/scheduling/configurations", Handler: s.createConfiguration},
		{Method: http.MethodGet, Path: "/v3/grants/:grant_id/scheduling/configurations", Handler: s.listConfigurations},
		{Method: http.MethodGet, Path: "/v3/grants/:grant_id/scheduling/configurations/:configuration_id", Handler: s.getConfiguration},
		{Method: http.MethodPut, Path: "/v3/grants/:grant_id/scheduling/configurations/:configuration_id", Handler: s.updateConfiguration},
		{Method: http.MethodDelete, Path: "/v3/grants/:grant_id/scheduling/configurations/:configuration_id", Handler: s.deleteConfiguration},
		{Method: http.MethodPost, Path: "/v3/scheduling/sessions", Handler: s.createSession},
		{Method: http.MethodDelete, Path: "/v3/scheduling/sessions/:session_id", Handler: s.deleteSession},
		// Page calls: a session, the API key, or nothing for a public
		// configuration; the handlers resolve which (schedulingCredentials).
		{Method: http.MethodGet, Path: "/v3/scheduling/ui-settings", Handler: s.uiSettings, Auth: Public},
		{Method: http.MethodGet, Path: "/v3/scheduling/availability", Handler: s.availability, Auth: Public},
		{Method: http.MethodPost, Path: "/v3/scheduling/bookings", Handler: s.createBooking, Auth: Public},
		{Method: http.MethodGet, Path: "/v3/scheduling/bookings/:booking_id", Handler: s.getBooking, Auth: Public},
		{Method: http.MethodPatch, Path: "/v3/scheduling/bookings/:booking_id", Handler: s.rescheduleBooking, Auth: Public},
		{Method: http.MethodPut, Path: "/v3/scheduling/bookings/:booking_id", Handler: s.decideBooking, Auth: Public},
		{Method: http.MethodDelete, Path: "/v3/scheduling/bookings/:booking_id", Handler: s.cancelBooking, Auth: Public},
	}
	routes = append(routes, webhookRoutes(s)...)
	routes = append(routes, s.schedulerPageRoutes()...)
	return routes
}

// schedulerPageRoutes are the hosted booking pages, the component's files,
// and the CORS preflights of the routes the component calls.
func (s *Server) schedulerPageRoutes() []Route {
	routes := []Route{
		{Method: http.MethodGet, Path: "/scheduler/:slug", Handler: s.schedulerPageBySlug, Auth: Public},
		{Method: http.MethodGet, Path: "/scheduler/configurations/:configuration_id", Handler: s.schedulerPageByConfiguration, Auth: Public},
		{Method: http.MethodGet, Path: "/scheduler/reschedule/:booking_ref", Handler: s.schedulerReschedulePage, Auth: Public},
		{Method: http.MethodGet, Path: "/scheduler/cancel/:booking_ref", Handler: s.schedulerCancelPage, Auth: Public},
		{Method: http.MethodGet, Path: "/scheduler/confirm/:booking_ref", Handler: s.schedulerConfirmPage, Auth: Public},
		{Method: http.MethodGet, Path: "/scheduler/assets/:component/:file", Handler: s.schedulerAsset, Auth: Public},
	}
	for _, p := range schedulingPreflights {
		routes = append(routes, Route{Method: http.MethodOptions, Path: p.path, Handler: s.schedulingPreflight(p.methods), Auth: Public})
	}
	return routes
}

func (s *Server) healthz(c echo.Context) error {
	return ok(c, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz says whether this process can serve, and if not, what it is
// missing: the database, its schema (migrations still to apply), Temporal.
// Each is checked side by side, within readyTimeout.
func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), readyTimeout)
	defer cancel()
	checks := map[string]Pinger{"database": s.deps.DB, "temporal": s.deps.Temporal}
	var (
		mu      sync.Mutex
		missing []string
		wg      sync.WaitGroup
	)
	for name, p := range checks {
		if p == nil {
			continue
		}
		wg.Go(func() {
			if err := p.Ping(ctx); err != nil {
				s.log.Warn("readiness: "+name+" unreachable", "err", err)
				mu.Lock()
				missing = append(missing, name)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if !s.schemaReady() && !slices.Contains(missing, "database") {
		missing = append(missing, "database migrations")
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return c.JSON(http.StatusServiceUnavailable, envelope{RequestID: requestIDOf(c),
			Data: map[string]any{"status": "unavailable", "missing": missing}})
	}
	return ok(c, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) schemaReady() bool { return s.deps.SchemaReady == nil || s.deps.SchemaReady() }

// requireSchema answers 503 until the database schema is up to date.
func (s *Server) requireSchema(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !s.schemaReady() {
			return &apperr.Error{Kind: apperr.Unavailable, Message: "the database is not ready yet; retry shortly"}
		}
		return next(c)
	}
}

func (s *Server) openapi(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/yaml", openAPISpec)
}
