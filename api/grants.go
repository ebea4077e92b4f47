package api

import (
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/confhub/confhub/grants"
	"github.com/confhub/confhub/internal/apperr"
)

// grantJSON is the Nylas grant object; it never carries a token.
type grantJSON struct {
	ID             string   `json:"id"`
	Provider       string   `json:"provider"`
	GrantStatus    string   `json:"grant_status"`
	Email          string   `json:"email"`
	Name           string   `json:"name,omitempty"`
	Scope          []string `json:"scope"`
	ProviderUserID string   `json:"provider_user_id,omitempty"`
	CreatedAt      int64    `json:"created_at"`
	UpdatedAt      int64    `json:"updated_at"`
}

func toGrantJSON(g grants.Grant) grantJSON {
	scope := g.Scope
	if scope == nil {
		scope = []string{}
	}
	return grantJSON{ID: g.ID.String(), Provider: g.Provider, GrantStatus: g.Status, Email: g.Email, Name: g.Name,
		Scope: scope, ProviderUserID: g.ProviderUserID, CreatedAt: g.CreatedAt.Unix(), UpdatedAt: g.UpdatedAt.Unix()}
}

// grantParam is the path's grant id; a grant access token only reaches its own grant.
func grantParam(c echo.Context) (string, error) {
	id := c.Param("grant_id")
	if scope := grantScope(c); scope != uuid.Nil && scope.String() != id {
		return "", apperr.NotFoundf("grant not found")
	}
	return id, nil
}

func (s *Server) listGrants(c echo.Context) error {
	limit, offset, err := pageParams(c)
	if err != nil {
		return err
	}
	gs, err := s.deps.Grants.List(c.Request().Context(), applicationID(c), grants.ListFilter{Limit: limit, Offset: offset,
		Provider: c.QueryParam("provider"), Status: c.QueryParam("grant_status"), Email: c.QueryParam("email")})
	if err != nil {
		return err
	}
	out := make([]grantJSON, 0, len(gs))
	for _, g := range gs {
		out = append(out, toGrantJSON(g))
	}
	return c.JSON(http.StatusOK, adminList{RequestID: requestIDOf(c), Data: out, Limit: limit, Offset: offset})
}

func (s *Server) getGrant(c echo.Context) error {
	id, err := grantParam(c)
	if err != nil {
		return err
	}
	g, err := s.deps.Grants.Get(c.Request().Context(), applicationID(c), id)
	if err != nil {
		return err
	}
	return ok(c, http.StatusOK, toGrantJSON(g))
}

func (s *Server) updateGrant(c echo.Context) error {
	id, err := grantParam(c)
	if err != nil {
		return err
	}
	var in grants.UpdateInput
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	g, err := s.deps.Grants.Update(c.Request().Context(), applicationID(c), id, in)
	if err != nil {
		return err
	}
	return ok(c, http.StatusOK, toGrantJSON(g))
}

func (s *Server) deleteGrant(c echo.Context) error {
	id, err := grantParam(c)
	if err != nil {
		return err
	}
	if err := s.deps.Grants.Delete(c.Request().Context(), applicationID(c), id); err != nil {
		return err
	}
	return okDeleted(c)
}
