package connectors

import (
	"bytes"
	"strings"
	"unicode"

	"github.com/confhub/confhub/connectors/zoom"
	"github.com/confhub/confhub/internal/apperr"
	"github.com/confhub/confhub/internal/strictjson"
)

const maxCredentialLength = 512

// ValidateCreate checks a create request completely, before anything is stored.
func ValidateCreate(in CreateInput) (Provider, string, ZoomSettings, error) {
	p, err := ParseProvider("provider", in.Provider)
	if err != nil {
		return "", "", ZoomSettings{}, err
	}
	name := defaultName(p)
	if in.Name != nil {
		name = *in.Name
	}
	if err := validateName(name); err != nil {
		return "", "", ZoomSettings{}, err
	}
	if err := validateScope(in.Scope); err != nil {
		return "", "", ZoomSettings{}, err
	}
	settings, err := settingsFor(p, in.Settings)
	return p, name, settings, err
}

// ValidateUpdate checks an update request for the connector at provider.
// replace reports whether the request carries settings that replace the stored ones.
func ValidateUpdate(provider string, in UpdateInput) (p Provider, replace bool, settings ZoomSettings, err error) {
	if p, err = ParseProvider("provider", provider); err != nil {
		return "", false, settings, err
	}
	if in.Provider != nil && *in.Provider != string(p) {
		return "", false, settings, apperr.InvalidField("provider", "cannot change a connector's provider (path says %s)", p)
	}
	if in.Name != nil {
		if err := validateName(*in.Name); err != nil {
			return "", false, settings, err
		}
	}
	if err := validateScope(in.Scope); err != nil {
		return "", false, settings, err
	}
	if replace = !isAbsent(in.Settings); replace {
		if settings, err = settingsFor(p, in.Settings); err != nil {
			return "", false, settings, err
		}
	}
	return p, replace, settings, nil
}

// ParseProvider validates a provider name, from a body field or a path.
func ParseProvider(field, s string) (Provider, error) {
	for _, p := range Providers {
		if string(p) == s {
			return p, nil
		}
	}
	if s == "" {
		return "", apperr.InvalidField(field, "is required (one of: zoom, virtual-calendar)")
	}
	return "", apperr.InvalidField(field, "unknown provider %q (supported: zoom, virtual-calendar)", truncate(s, 64))
}

func validateName(name string) error {
	if strings.TrimSpace(name) == "" || len(name) > 256 {
		return apperr.InvalidField("name", "must be 1 to 256 characters")
	}
	// PostgreSQL text cannot hold NUL, and control characters in a display
	// name are never intended.
	if strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return apperr.InvalidField("name", "must not contain control characters")
	}
	return nil
}

func validateScope(scope []string) error {
	if len(scope) > 0 {
		return apperr.InvalidField("scope", "is not used by these connectors: Zoom scopes are configured on the Zoom app")
	}
	return nil
}

// settingsFor decodes and validates provider-specific settings. For Zoom the
// client id and secret are required; for virtual-calendar there are none.
func settingsFor(p Provider, raw []byte) (ZoomSettings, error) {
	switch p {
	case Zoom:
		if isAbsent(raw) {
			return ZoomSettings{}, apperr.InvalidField("settings", "is required for provider zoom (client_id and client_secret)")
		}
		var s ZoomSettings
		if err := strictjson.Decode(raw, &s, "settings"); err != nil {
			return s, err
		}
		if err := validateCredential("settings.client_id", s.ClientID, true); err != nil {
			return s, err
		}
		if err := validateCredential("settings.client_secret", s.ClientSecret, true); err != nil {
			return s, err
		}
		if err := validateCredential("settings.secret_token", s.SecretToken, false); err != nil {
			return s, err
		}
		if s.AccountID != nil && !zoom.ValidID(*s.AccountID) {
			return s, apperr.InvalidField("settings.account_id", "must be a Zoom account id (1 to 64 letters, digits, - or _), as the Server-to-Server OAuth app's page shows it")
		}
		if s.IsAccountLevel() && s.AccountID != nil {
			return s, apperr.InvalidField("settings.account_level", "cannot go with settings.account_id: account_id is a Server-to-Server app, "+
				"account_level an admin-managed OAuth app installed through hosted OAuth; a Zoom app is one or the other")
		}
		return s, nil
	default:
		if !isAbsent(raw) && !bytes.Equal(bytes.TrimSpace(raw), []byte("{}")) {
			return ZoomSettings{}, apperr.InvalidField("settings", "provider %s takes no settings", p)
		}
		return ZoomSettings{}, nil
	}
}

func validateCredential(field string, v *string, required bool) error {
	if v == nil {
		if required {
			return apperr.InvalidField(field, "is required")
		}
		return nil
	}
	s := *v
	if s == "" {
		return apperr.InvalidField(field, "must not be empty")
	}
	if len(s) > maxCredentialLength {
		return apperr.InvalidField(field, "must be at most %d characters", maxCredentialLength)
	}
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar }) >= 0 {
		return apperr.InvalidField(field, "must not contain spaces or control characters")
	}
	return nil
}

func isAbsent(raw []byte) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func defaultName(p Provider) string {
	switch p {
	case Zoom:
		return "Zoom"
	default:
		return "Virtual Calendar"
	}
}
