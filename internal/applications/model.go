// Package applications owns tenants: applications, their API keys and their
// registered OAuth redirect URIs. Every other feature is scoped by the
// application id this package authenticates.
package applications

import (
	"time"

	"github.com/google/uuid"
)

// Application is a tenant.
type Application struct {
	ID        uuid.UUID
	Name      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// RedirectURI is a URL that hosted OAuth may redirect to, matched exactly.
type RedirectURI struct {
	ID        uuid.UUID
	URL       string
	Platform  string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// RedirectURIInput is the body of POST and PATCH /v3/applications/redirect-uris.
// Pointers tell "absent" from "empty" so PATCH keeps what it omits.
type RedirectURIInput struct {
	URL      *string `json:"url"`
	Platform *string `json:"platform"`
}

// MaxRedirectURIs bounds how many redirect URIs one application may register.
const MaxRedirectURIs = 100
