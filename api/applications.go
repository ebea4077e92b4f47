package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/confhub/confhub/internal/applications"
)

type applicationJSON struct {
	ApplicationID string            `json:"application_id"`
	Name          string            `json:"name"`
	CallbackURIs  []redirectURIJSON `json:"callback_uris"`
	CreatedAt     int64             `json:"created_at"`
	UpdatedAt     int64             `json:"updated_at"`
}

type redirectURIJSON struct {
	ID        string `json:"id"`
	URL       string `json:"url"`
	Platform  string `json:"platform"`
	CreatedAt int64  `json:"created_at"`
	UpdatedAt int64  `json:"updated_at"`
}

func toRedirectURIJSON(r applications.RedirectURI) redirectURIJSON {
	return redirectURIJSON{ID: r.ID.String(), URL: r.URL, Platform: r.Platform, CreatedAt: r.CreatedAt.Unix(), UpdatedAt: r.UpdatedAt.Unix()}
}

func toRedirectURIsJSON(rs []applications.RedirectURI) []redirectURIJSON {
	out := make([]redirectURIJSON, 0, len(rs))
	for _, r := range rs {
		out = append(out, toRedirectURIJSON(r))
	}
	return out
}

func (s *Server) getApplication(c echo.Context) error {
	ctx, app := c.Request().Context(), applicationID(c)
	a, err := s.deps.Applications.Get(ctx, app)
	if err != nil {
		return err
	}
	uris, err := s.deps.Applications.ListRedirectURIs(ctx, app)
	if err != nil {
		return err
	}
	return ok(c, http.StatusOK, applicationJSON{
		ApplicationID: a.ID.String(), Name: a.Name, CallbackURIs: toRedirectURIsJSON(uris),
		CreatedAt: a.CreatedAt.Unix(), UpdatedAt: a.UpdatedAt.Unix(),
	})
}

func (s *Server) createRedirectURI(c echo.Context) error {
	var in applications.RedirectURIInput
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	r, err := s.deps.Applications.CreateRedirectURI(c.Request().Context(), applicationID(c), in)
	if err != nil {
		return err
	}
	return ok(c, http.StatusOK, toRedirectURIJSON(r))
}

func (s *Server) listRedirectURIs(c echo.Context) error {
	rs, err := s.deps.Applications.ListRedirectURIs(c.Request().Context(), applicationID(c))
	if err != nil {
		return err
	}
	return ok(c, http.StatusOK, toRedirectURIsJSON(rs))
}

func (s *Server) getRedirectURI(c echo.Context) error {
	r, err := s.deps.Applications.GetRedirectURI(c.Request().Context(), applicationID(c), c.Param("id"))
	if err != nil {
		return err
	}
	return ok(c, http.StatusOK, toRedirectURIJSON(r))
}

func (s *Server) updateRedirectURI(c echo.Context) error {
	var in applications.RedirectURIInput
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	r, err := s.deps.Applications.UpdateRedirectURI(c.Request().Context(), applicationID(c), c.Param("id"), in)
	if err != nil {
		return err
	}
	return ok(c, http.StatusOK, toRedirectURIJSON(r))
}

func (s *Server) deleteRedirectURI(c echo.Context) error {
	if err := s.deps.Applications.DeleteRedirectURI(c.Request().Context(), applicationID(c), c.Param("id")); err != nil {
		return err
	}
	return okDeleted(c)
}
