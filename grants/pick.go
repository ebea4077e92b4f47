package grants

import (
	"context"

	"github.com/google/uuid"

	"github.com/confhub/confhub/connectors"
	"github.com/confhub/confhub/internal/apperr"
)

// zoomConnector picks the application's Zoom connector for a new grant. An
// application has at most one of each level. level is the caller's choice
// (field names it in errors; "" when none was made). Without a choice, a
// user's own consent (hosted OAuth, a refresh token) goes to the user-level
// connector and a user named by the company (email, user_id) to the
// account-level one; with a single connector, that one, and its kind
// decides what the request may do.
func (s *Service) zoomConnector(ctx context.Context, appID uuid.UUID, field, level string, byCompany bool) (connectors.ZoomCredentials, error) {
	l, err := connectors.ParseLevel(field, level)
	if err != nil {
		return connectors.ZoomCredentials{}, err
	}
	apps, err := s.connectors.ZoomApps(ctx, appID)
	if err != nil {
		return connectors.ZoomCredentials{}, err
	}
	if len(apps) == 0 {
		return connectors.ZoomCredentials{}, apperr.InvalidField("provider", "this application has no zoom connector (POST /v3/connectors)")
	}
	if l == "" {
		if len(apps) == 1 {
			return apps[0], nil
		}
		l = connectors.LevelUser
		if byCompany {
			l = connectors.LevelAccount
		}
	}
	for _, a := range apps {
		if a.Level() == l {
			return a, nil
		}
	}
	return connectors.ZoomCredentials{}, apperr.InvalidField(field, "this application has no %s-level zoom connector", l)
}
