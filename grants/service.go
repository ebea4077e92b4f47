package grants

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/confhub/confhub/connectors"
	"github.com/confhub/confhub/connectors/zoom"
	"github.com/confhub/confhub/internal/vault"
)

// ZoomClient is the part of the Zoom client the grants feature uses.
type ZoomClient interface {
	ZoomAuth
	AccountAuth
	AuthCodeURL(app zoom.App, redirectURL, state, verifier string) string
	Exchange(ctx context.Context, app zoom.App, redirectURL, code, verifier string) (*zoom.Token, error)
	Revoke(ctx context.Context, app zoom.App, token string) error
	Me(ctx context.Context, token string) (zoom.User, error)
	User(ctx context.Context, token, idOrEmail string) (zoom.User, error)
}

// ConnectorSource gives connector facts the grants feature needs.
type ConnectorSource interface {
	Credentials
	ZoomApps(ctx context.Context, appID uuid.UUID) ([]connectors.ZoomCredentials, error)
	ConnectorID(ctx context.Context, appID uuid.UUID, provider string) (uuid.UUID, error)
	ZoomWebhookSecrets(ctx context.Context, clientID string) ([]connectors.WebhookSecret, error)
}

// Applications checks redirect URIs and API keys.
type Applications interface {
	HasRedirectURI(ctx context.Context, appID uuid.UUID, url string) (bool, error)
	Authenticate(ctx context.Context, key string) (uuid.UUID, error)
}

// Service is the grants feature.
type Service struct {
	*Store
	pool       *pgxpool.Pool
	vault      *vault.Keyring
	zoom       ZoomClient
	connectors ConnectorSource
	apps       Applications
	Tokens     *Tokens
	// Accounts are the account-level connectors' tokens (Tokens uses them
	// for the grants under such a connector).
	Accounts *AccountTokens
	// callbackURL is our /v3/connect/callback, registered on the Zoom app.
	callbackURL string
	now         func() time.Time
	log         *slog.Logger
}

// Deps are the Service's collaborators.
type Deps struct {
	Pool       *pgxpool.Pool
	Vault      *vault.Keyring
	Zoom       ZoomClient
	Connectors ConnectorSource
	Apps       Applications
	Calendars  Calendars
	PublicURL  string
	Now        func() time.Time
	Log        *slog.Logger
}

// NewService wires the grants feature.
func NewService(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	tokens := NewTokens(d.Pool, d.Vault, d.Zoom, d.Connectors, d.Now, d.Log)
	return &Service{
		Store: NewStore(d.Pool, d.Vault, d.Calendars), pool: d.Pool, vault: d.Vault, zoom: d.Zoom, connectors: d.Connectors, apps: d.Apps,
		Tokens: tokens, Accounts: tokens.account,
		callbackURL: d.PublicURL + "/v3/connect/callback", now: d.Now, log: d.Log,
	}
}

// CallbackURL is the redirect URL to register on the Zoom app.
func (s *Service) CallbackURL() string { return s.callbackURL }

// Delete removes a grant and its tokens, then revokes the tokens at Zoom
// (best effort: the grant is gone from our side whatever Zoom says).
func (s *Service) Delete(ctx context.Context, appID uuid.UUID, id string) error {
	g, held, err := s.deleteGrant(ctx, appID, id)
	if err != nil {
		return err
	}
	if g.Provider == ProviderZoom {
		s.revoke(ctx, appID, g.ID, held)
	}
	return nil
}

// revoke revokes a refresh token the grant no longer holds, with the Zoom
// app it was issued to (best effort: our side is already done).
func (s *Service) revoke(ctx context.Context, appID, grantID uuid.UUID, held heldToken) {
	if held.refresh == "" {
		return
	}
	if held.connectorID == nil {
		s.log.Info("a Zoom token left its grant; no Zoom connector to revoke it with", "grant_id", grantID)
		return
	}
	creds, err := s.connectors.ZoomCredentials(ctx, appID, *held.connectorID)
	if err != nil {
		s.log.Info("a Zoom token left its grant; no Zoom connector to revoke it with", "grant_id", grantID, "err", err)
		return
	}
	if err := s.zoom.Revoke(ctx, zoom.App{ClientID: creds.ClientID, ClientSecret: creds.ClientSecret}, held.refresh); err != nil {
		s.log.Warn("revoking a Zoom token that left its grant failed", "grant_id", grantID, "err", err)
	}
}
