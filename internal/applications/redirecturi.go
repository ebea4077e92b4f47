package applications

import (
	"github.com/google/uuid"
	"net/url"
	"strings"
	"unicode"

	"github.com/confhub/confhub/internal/apperr"
)

const maxURLLength = 2048

// ValidateRedirectURL enforces the contract: an absolute https URL, or http
// only for localhost/127.0.0.1; no fragment, no user info.
func ValidateRedirectURL(field, raw string) error {
	if raw == "" {
		return apperr.InvalidField(field, "is required")
	}
	if len(raw) > maxURLLength {
		return apperr.InvalidField(field, "must be at most %d characters", maxURLLength)
	}
	if strings.IndexFunc(raw, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return apperr.InvalidField(field, "must not contain spaces or control characters")
	}
	if strings.Contains(raw, "#") {
		return apperr.InvalidField(field, "must not contain a fragment (#...)")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return apperr.InvalidField(field, "is not a valid URL")
	}
	if !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return apperr.InvalidField(field, "must be an absolute URL such as https://app.example.com/callback")
	}
	if u.User != nil {
		return apperr.InvalidField(field, "must not contain user info")
	}
	host := u.Hostname()
	if host == "" {
		return apperr.InvalidField(field, "must name a host")
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if host != "localhost" && host != "127.0.0.1" {
			return apperr.InvalidField(field, "must use https (plain http is allowed only for localhost and 127.0.0.1)")
		}
	default:
		return apperr.InvalidField(field, "must use https (plain http is allowed only for localhost and 127.0.0.1)")
	}
	return nil
}

func validatePlatform(p string) error {
	if p != "web" {
		return apperr.InvalidField("platform", "must be \"web\" (the only platform supported)")
	}
	return nil
}

// ValidateNewRedirectURI checks a POST body and returns the URI to store
// (without id or timestamps).
func ValidateNewRedirectURI(in RedirectURIInput) (RedirectURI, error) {
	if in.URL == nil {
		return RedirectURI{}, apperr.InvalidField("url", "is required")
	}
	r := RedirectURI{ID: uuid.New(), URL: *in.URL, Platform: "web"}
	if in.Platform != nil {
		r.Platform = *in.Platform
	}
	if err := ValidateRedirectURL("url", r.URL); err != nil {
		return r, err
	}
	return r, validatePlatform(r.Platform)
}

// ValidateRedirectURIChange checks a PATCH body.
func ValidateRedirectURIChange(in RedirectURIInput) error {
	if in.URL != nil {
		if err := ValidateRedirectURL("url", *in.URL); err != nil {
			return err
		}
	}
	if in.Platform != nil {
		return validatePlatform(*in.Platform)
	}
	return nil
}
