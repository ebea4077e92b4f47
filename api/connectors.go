package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/confhub/confhub/connectors"
)

// connectorJSON is the Nylas connector object. Secrets are never returned:
// the *_set flags say whether they are configured.
type connectorJSON struct {
	Name      string            `json:"name"`
	Provider  string            `json:"provider"`
	Settings  *zoomSettingsJSON `json:"settings,omitempty"`
	CreatedAt int64             `json:"created_at"`
	UpdatedAt int64             `json:"updated_at"`
}

type zoomSettingsJSON struct {
	ClientID        string `json:"client_id"`
	AccountID       string `json:"account_id,omitempty"`
	AccountLevel    bool   `json:"account_level,omitempty"`
	ClientSecretSet bool   `json:"client_secret_set"`
	SecretTokenSet  bool   `json:"secret_token_set"`
}

func toConnectorJSON(c connectors.Connector) connectorJSON {
	out := connectorJSON{Name: c.Name, Provider: string(c.Provider), CreatedAt: c.CreatedAt.Unix(), UpdatedAt: c.UpdatedAt.Unix()}
	if c.Provider == connectors.Zoom {
		out.Settings = &zoomSettingsJSON{ClientID: c.ClientID, AccountID: c.AccountID, AccountLevel: c.AccountLevel, ClientSecretSet: c.HasSecret, SecretTokenSet: c.HasSecretToken}
	}
	return out
}

func (s *Server) createConnector(c echo.Context) error {
	var in connectors.CreateInput
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	conn, err := s.deps.Connectors.Create(c.Request().Context(), applicationID(c), in)
	if err != nil {
		return err
	}
	return ok(c, http.StatusCreated, toConnectorJSON(conn))
}

func (s *Server) listConnectors(c echo.Context) error {
	limit, offset, err := pageParams(c)
	if err != nil {
		return err
	}
	cs, err := s.deps.Connectors.List(c.Request().Context(), applicationID(c), limit, offset)
	if err != nil {
		return err
	}
	out := make([]connectorJSON, 0, len(cs))
	for _, x := range cs {
		out = append(out, toConnectorJSON(x))
	}
	return c.JSON(http.StatusOK, adminList{RequestID: requestIDOf(c), Data: out, Limit: limit, Offset: offset})
}

func (s *Server) getConnector(c echo.Context) error {
	conn, err := s.deps.Connectors.Get(c.Request().Context(), applicationID(c), c.Param("provider"), c.QueryParam("level"))
	if err != nil {
		return err
	}
	return ok(c, http.StatusOK, toConnectorJSON(conn))
}

// updateConnector serves PATCH and PUT alike: the Node SDK sends PUT, and the
// contract gives both "keep omitted top-level fields" semantics.
func (s *Server) updateConnector(c echo.Context) error {
	var in connectors.UpdateInput
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	conn, err := s.deps.Connectors.Update(c.Request().Context(), applicationID(c), c.Param("provider"), c.QueryParam("level"), in)
	if err != nil {
		return err
	}
	return ok(c, http.StatusOK, toConnectorJSON(conn))
}

func (s *Server) deleteConnector(c echo.Context) error {
	if err := s.deps.Connectors.Delete(c.Request().Context(), applicationID(c), c.Param("provider"), c.QueryParam("level")); err != nil {
		return err
	}
	return okDeleted(c)
}
