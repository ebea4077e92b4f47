package api

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/confhub/confhub/internal/apperr"
	"github.com/confhub/confhub/internal/applications"
)

// The booking component (<nylas-scheduling>) runs on the application's own
// site and calls these routes from there: they answer cross-origin requests.
const schedulingPrefix = "/v3/scheduling/"

// corsAllowHeaders are the headers the component sends (on every call, GETs
// included, so every call is preflighted) and the session's Authorization.
const corsAllowHeaders = "Authorization, Content-Type, X-Source, X-Nylas-Web-Elements-Version, X-Nylas-Application-Public-Id"

const ctxCORSAllowed = "confhub.cors_allowed"

// schedulingPreflights are the routes the component calls, with their
// methods: each answers OPTIONS (the CORS preflight). The other scheduling
// routes take the API key, which belongs on a server, not in a browser.
var schedulingPreflights = []struct{ path, methods string }{
	{"/v3/scheduling/ui-settings", "GET"},
	{"/v3/scheduling/availability", "GET"},
	{"/v3/scheduling/bookings", "POST"},
	{"/v3/scheduling/bookings/:booking_id", "GET, PATCH, PUT, DELETE"},
}

// cors marks which origins may read the scheduling routes' answers. It runs
// before authentication, so an error (a 401 for an expired session, a 400)
// reaches the component readable. An origin is allowed when it is this
// service's own, or when it is the origin of a redirect URI of the
// application the request names (configuration_id, client_id, or the
// X-Nylas-Application-Public-Id header; every one named must list it); a
// request naming none (a session's calls) needs an origin some application
// lists. No credentials mode: the session travels in Authorization, never
// in a cookie.
func (s *Server) cors(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if !strings.HasPrefix(req.URL.Path, schedulingPrefix) {
			return next(c)
		}
		h := c.Response().Header()
		h.Add("Vary", "Origin")
		origin := req.Header.Get("Origin")
		if origin == "" {
			return next(c)
		}
		allowed, err := s.originAllowed(c, origin)
		if err != nil {
			if req.Method == http.MethodOptions {
				return err
			}
			// The request itself may still be served; it just is not
			// readable cross-origin this time.
			s.log.Warn("CORS: checking the origin failed", "request_id", requestIDOf(c), "err", err.Error())
		}
		if allowed {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Expose-Headers", "X-Request-Id, Retry-After")
		}
		c.Set(ctxCORSAllowed, allowed)
		return next(c)
	}
}

func (s *Server) originAllowed(c echo.Context, origin string) (bool, error) {
	norm, ok := applications.NormalizeOrigin(origin)
	if !ok {
		return false, nil
	}
	if own, ok := applications.OriginOf(s.deps.PublicURL); ok && own == norm {
		return true, nil
	}
	if s.deps.Applications == nil {
		return false, nil
	}
	ctx := c.Request().Context()
	named, err := s.namedApplications(c)
	if err != nil {
		return false, err
	}
	if len(named) == 0 {
		return s.deps.Applications.OriginAllowed(ctx, origin, nil)
	}
	for _, app := range named {
		ok, err := s.deps.Applications.OriginAllowed(ctx, origin, &app)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// namedApplications are the applications a scheduling request names. A name
// that resolves to none (not a UUID, an unknown configuration) is uuid.Nil,
// which lists no origin.
func (s *Server) namedApplications(c echo.Context) ([]uuid.UUID, error) {
	var apps []uuid.UUID
	add := func(id uuid.UUID) {
		for _, a := range apps {
			if a == id {
				return
			}
		}
		apps = append(apps, id)
	}
	parse := func(v string) uuid.UUID {
		id, err := uuid.Parse(v)
		if err != nil {
			return uuid.Nil
		}
		return id
	}
	if v := c.Request().Header.Get("X-Nylas-Application-Public-Id"); v != "" {
		add(parse(v))
	}
	q := c.Request().URL.Query()
	if v := q.Get("client_id"); v != "" {
		add(parse(v))
	}
	if v := q.Get("configuration_id"); v != "" {
		if s.deps.SchedulerPages == nil {
			add(uuid.Nil)
		} else {
			p, err := s.deps.SchedulerPages.PageByConfiguration(c.Request().Context(), v)
			switch {
			case err == nil:
				add(p.ApplicationID)
			case apperr.IsKind(err, apperr.NotFound) || apperr.IsKind(err, apperr.Invalid):
				add(uuid.Nil)
			default:
				return nil, err
			}
		}
	}
	return apps, nil
}

// schedulingPreflight answers a CORS preflight: the methods and headers the
// component uses, when the origin may call (see cors).
func (s *Server) schedulingPreflight(methods string) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		origin := c.Request().Header.Get("Origin")
		if origin == "" {
			// Not a preflight: plain OPTIONS says what the route takes.
			h.Set("Allow", methods+", OPTIONS")
			return c.NoContent(http.StatusNoContent)
		}
		if allowed, _ := c.Get(ctxCORSAllowed).(bool); !allowed {
			return &apperr.Error{Kind: apperr.Forbidden, Message: fmt.Sprintf("origin %q may not call this route: "+
				"a booking page may be embedded on the origins of the application's redirect URIs (POST /v3/applications/redirect-uris)", origin)}
		}
		h.Set("Access-Control-Allow-Methods", methods)
		h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
		// Every call is preflighted (the component sends custom headers even
		// on GETs): browsers may keep the answer this long.
		h.Set("Access-Control-Max-Age", "600")
		return c.NoContent(http.StatusNoContent)
	}
}
