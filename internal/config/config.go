// Package config reads confhub's configuration from the environment once, at
// start, and refuses to start with one clear line naming the bad variable.
package config

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"

	"github.com/confhub/confhub/internal/vault"
)

// Config is everything confhub reads from its environment.
type Config struct {
	DatabaseURL string
	Keyring     *vault.Keyring
	HTTPAddr    string
	// PublicURL is the externally visible base URL (no trailing slash), used
	// to build OAuth callback URLs.
	PublicURL string
	LogLevel  slog.Level
	// Zoom's endpoints: the real ones by default, the simulator's in tests and demos.
	ZoomOAuthURL string
	ZoomAPIURL   string
	// Temporal frontend and namespace.
	TemporalAddress   string
	TemporalNamespace string
	// SchedulerBundleURL is the <nylas-scheduling> module the hosted booking
	// page imports: a CDN in production; empty, the copy this service serves
	// from WebElementsDir.
	SchedulerBundleURL string
	// WebElementsDir is the @nylas/web-elements package's dist/cdn directory,
	// served under /scheduler/assets/ (`make web-elements` installs it).
	WebElementsDir string
}

// DefaultWebElementsDir is where `make web-elements` unpacks the bundle,
// relative to the repository (the directory `make run` starts in).
const DefaultWebElementsDir = ".tools/web-elements-2.6.0/package/dist/cdn"

// Load parses the environment. getenv is os.Getenv in production.
func Load(getenv func(string) string) (Config, error) {
	var c Config
	c.DatabaseURL = strings.TrimSpace(getenv("DATABASE_URL"))
	if c.DatabaseURL == "" {
		return c, fmt.Errorf("DATABASE_URL is required (e.g. postgres://user:pass@localhost:5432/confhub)")
	}
	if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return c, fmt.Errorf("DATABASE_URL must be a postgres:// or postgresql:// URL")
	}

	keys := strings.TrimSpace(getenv("CONFHUB_ENCRYPTION_KEYS"))
	if keys == "" {
		return c, fmt.Errorf("CONFHUB_ENCRYPTION_KEYS is required: comma-separated keyid:base64-of-32-bytes, the first encrypts (generate one with: echo k1:$(head -c32 /dev/urandom | base64))")
	}
	kr, err := vault.ParseKeys(keys)
	if err != nil {
		return c, fmt.Errorf("CONFHUB_ENCRYPTION_KEYS: %v", err)
	}
	c.Keyring = kr

	c.HTTPAddr = strings.TrimSpace(getenv("CONFHUB_HTTP_ADDR"))
	if c.HTTPAddr == "" {
		c.HTTPAddr = ":8080"
	}
	host, port, err := net.SplitHostPort(c.HTTPAddr)
	if err != nil || port == "" {
		return c, fmt.Errorf("CONFHUB_HTTP_ADDR must be host:port or :port, got %q", c.HTTPAddr)
	}

	c.PublicURL = strings.TrimRight(strings.TrimSpace(getenv("CONFHUB_PUBLIC_URL")), "/")
	if c.PublicURL == "" {
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "localhost"
		}
		c.PublicURL = "http://" + net.JoinHostPort(host, port)
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return c, fmt.Errorf("CONFHUB_PUBLIC_URL must be an absolute http(s) URL without query or fragment, got %q", c.PublicURL)
	}

	for _, z := range []struct {
		name, def string
		dst       *string
	}{
		{"ZOOM_OAUTH_URL", "https://zoom.us", &c.ZoomOAuthURL},
		{"ZOOM_API_URL", "https://api.zoom.us/v2", &c.ZoomAPIURL},
	} {
		v := strings.TrimRight(strings.TrimSpace(getenv(z.name)), "/")
		if v == "" {
			v = z.def
		}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c, fmt.Errorf("%s must be an absolute http(s) URL, got %q", z.name, v)
		}
		*z.dst = v
	}

	c.TemporalAddress = strings.TrimSpace(getenv("TEMPORAL_ADDRESS"))
	if c.TemporalAddress == "" {
		c.TemporalAddress = "127.0.0.1:7233"
	}
	if _, _, err := net.SplitHostPort(c.TemporalAddress); err != nil {
		return c, fmt.Errorf("TEMPORAL_ADDRESS must be host:port, got %q", c.TemporalAddress)
	}
	c.TemporalNamespace = strings.TrimSpace(getenv("TEMPORAL_NAMESPACE"))
	if c.TemporalNamespace == "" {
		c.TemporalNamespace = "default"
	}

	// Guests' browsers load it as a module: an absolute https URL (http only
	// for a local one), or a path on this service.
	c.SchedulerBundleURL = strings.TrimSpace(getenv("CONFHUB_SCHEDULER_BUNDLE_URL"))
	if v := c.SchedulerBundleURL; v != "" {
		u, err := url.Parse(v)
		local := err == nil && strings.HasPrefix(v, "/") && !strings.HasPrefix(v, "//") && u.Host == ""
		remote := err == nil && u.Host != "" && u.User == nil && (u.Scheme == "https" || (u.Scheme == "http" && isLoopback(u.Hostname())))
		if !local && !remote || strings.ContainsAny(v, "\"'<> ") {
			return c, fmt.Errorf("CONFHUB_SCHEDULER_BUNDLE_URL must be an https URL of nylas-scheduling.es.js (or a path on this service), got %q", v)
		}
	}
	c.WebElementsDir = strings.TrimSpace(getenv("CONFHUB_WEB_ELEMENTS_DIR"))
	if c.WebElementsDir == "" {
		c.WebElementsDir = DefaultWebElementsDir
	}

	switch lvl := strings.ToLower(strings.TrimSpace(getenv("CONFHUB_LOG_LEVEL"))); lvl {
	case "", "info":
		c.LogLevel = slog.LevelInfo
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "warn":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		return c, fmt.Errorf("CONFHUB_LOG_LEVEL must be debug, info, warn or error, got %q", lvl)
	}
	return c, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
