// Package connectors owns an application's provider connectors: the Zoom
// app's OAuth credentials (client secret and webhook secret token encrypted
// by the vault) and the platform's virtual-calendar connector.
package connectors

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/confhub/confhub/internal/apperr"
	"github.com/confhub/confhub/internal/vault"
)

// Provider names a connector type.
type Provider string

const (
	Zoom            Provider = "zoom"
	VirtualCalendar Provider = "virtual-calendar"
)

// Providers lists the supported providers, in the order errors name them.
var Providers = []Provider{Zoom, VirtualCalendar}

// Level is how far a Zoom connector reaches: a user-level app acts for the
// users who consented one by one; an account-level app (Server-to-Server, or
// admin-managed) for the users of a whole Zoom account. An application has
// at most one Zoom connector of each level.
type Level string

const (
	LevelUser    Level = "user"
	LevelAccount Level = "account"
)

// ParseLevel validates a level from a query or body field; "" means none given.
func ParseLevel(field, s string) (Level, error) {
	switch Level(s) {
	case "", LevelUser, LevelAccount:
		return Level(s), nil
	}
	return "", apperr.InvalidField(field, "must be user or account")
}

func levelOf(accountID string, accountLevel bool) Level {
	if accountID != "" || accountLevel {
		return LevelAccount
	}
	return LevelUser
}

// Connector is a stored connector. Secrets are never held here: only whether
// they are set.
type Connector struct {
	ID             uuid.UUID
	Provider       Provider
	Name           string
	ClientID       string
	AccountID      string // set: an account-level (Server-to-Server) Zoom app
	AccountLevel   bool   // an admin-managed (account-level) OAuth app, installed by a Zoom admin
	HasSecret      bool
	HasSecretToken bool
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// CreateInput is the body of POST /v3/connectors.
type CreateInput struct {
	Provider string          `json:"provider"`
	Name     *string         `json:"name"`
	Settings json.RawMessage `json:"settings"`
	Scope    []string        `json:"scope"`
}

// UpdateInput is the body of PATCH and PUT /v3/connectors/{provider}. Omitted
// fields are kept; settings, when present, replace the stored settings whole.
type UpdateInput struct {
	Provider *string         `json:"provider"`
	Name     *string         `json:"name"`
	Settings json.RawMessage `json:"settings"`
	Scope    []string        `json:"scope"`
}

// ZoomSettings are a Zoom connector's settings as sent by the client.
type ZoomSettings struct {
	ClientID     *string `json:"client_id"`
	ClientSecret *string `json:"client_secret"`
	// SecretToken is the Zoom app's webhook secret token, used to verify
	// Zoom's deauthorization notices.
	SecretToken *string `json:"secret_token"`
	// AccountID makes the connector account-level: a Server-to-Server OAuth
	// app of that Zoom account, whose token acts for every user in it.
	AccountID *string `json:"account_id"`
	// AccountLevel makes the connector an admin-managed (account-level)
	// OAuth app: an owner or admin of a Zoom account installs it through
	// hosted OAuth, and the install acts for the account's users.
	AccountLevel *bool `json:"account_level"`
}

func (z ZoomSettings) level() Level {
	return levelOf(deref(z.AccountID), z.IsAccountLevel())
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// IsAccountLevel reports whether the settings ask for an admin-managed app.
func (z ZoomSettings) IsAccountLevel() bool { return z.AccountLevel != nil && *z.AccountLevel }

// ZoomCredentials are the decrypted credentials other features use to talk
// to Zoom on the application's behalf.
type ZoomCredentials struct {
	ConnectorID  uuid.UUID
	ClientID     string
	ClientSecret string
	SecretToken  string // empty when not configured
	AccountID    string // empty for a user-level app
	// AccountLevel: an admin-managed OAuth app; its grants are installs
	// (an admin's) and the users under them.
	AccountLevel bool
}

// Level is the connector's level.
func (c ZoomCredentials) Level() Level { return levelOf(c.AccountID, c.AccountLevel) }

// WebhookSecret is a Zoom connector's webhook secret token, to verify a
// notice from Zoom that names the connector's client id.
type WebhookSecret struct {
	ApplicationID uuid.UUID
	ConnectorID   uuid.UUID
	SecretToken   string
}

// EncryptedColumns lists this package's vault-encrypted columns, for key rotation.
var EncryptedColumns = []vault.Column{
	{Table: "connectors", Column: "client_secret_enc"},
	{Table: "connectors", Column: "secret_token_enc"},
}
