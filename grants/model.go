// Package grants owns conferencing grants: a user's connection to Zoom (or a
// platform-owned virtual calendar) within one application. It runs hosted
// OAuth and bring-your-own-token connections, answers Zoom's deauthorization
// notices, and keeps Zoom tokens fresh without ever racing itself: a refresh
// happens at most once per expiry across all processes, serialised on the
// grant's row, because Zoom's refresh tokens rotate and are single use.
package grants

import (
	"time"

	"github.com/google/uuid"

	"github.com/confhub/confhub/internal/vault"
)

// Grant statuses.
const (
	StatusValid   = "valid"
	StatusInvalid = "invalid"
)

// Providers.
const (
	ProviderZoom            = "zoom"
	ProviderVirtualCalendar = "virtual-calendar"
)

// Grant is a stored grant. It never holds tokens.
type Grant struct {
	ID                uuid.UUID
	ApplicationID     uuid.UUID
	Provider          string
	Status            string
	InvalidReason     string
	Email             string
	Name              string
	ProviderUserID    string
	ProviderAccountID string
	Scope             []string
	CreatedAt         time.Time
	UpdatedAt         time.Time
	// AccountLevel: a user of a company's Zoom account, served by the
	// company's connection (a Server-to-Server app or an admin's install).
	AccountLevel bool
}

// ListFilter selects grants for GET /v3/grants.
type ListFilter struct {
	Limit, Offset int
	Provider      string
	Status        string
	Email         string
}

// UpdateInput is the body of PATCH /v3/grants/{id}.
type UpdateInput struct {
	Name *string `json:"name"`
}

// EncryptedColumns lists this package's vault-encrypted columns, for key rotation.
var EncryptedColumns = []vault.Column{
	{Table: "grants", Column: "access_token_enc"},
	{Table: "grants", Column: "refresh_token_enc"},
	{Table: "oauth_states", Column: "zoom_verifier_enc"},
	{Table: "zoom_account_tokens", Column: "access_token_enc"},
}

// MinTokenLife is how long a token handed to a caller stays valid at least.
const MinTokenLife = 5 * time.Minute

func tokenBinding(appID, grantID uuid.UUID, column string) vault.Binding {
	return vault.Binding{ApplicationID: appID.String(), Table: "grants", RowID: grantID.String(), Column: column}
}
