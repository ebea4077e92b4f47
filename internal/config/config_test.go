package config

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

var goodKey = "k1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load(env(map[string]string{"DATABASE_URL": "postgres://u@h/db", "CONFHUB_ENCRYPTION_KEYS": goodKey}))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != ":8080" || c.PublicURL != "http://localhost:8080" || c.Keyring.ActiveID() != "k1" ||
		c.ZoomOAuthURL != "https://zoom.us" || c.ZoomAPIURL != "https://api.zoom.us/v2" ||
		c.SchedulerBundleURL != "" || c.WebElementsDir != DefaultWebElementsDir {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestLoadNamesTheBadVariable(t *testing.T) {
	base := map[string]string{"DATABASE_URL": "postgres://u@h/db", "CONFHUB_ENCRYPTION_KEYS": goodKey}
	cases := []struct{ key, val, want string }{
		{"DATABASE_URL", "", "DATABASE_URL is required"},
		{"DATABASE_URL", "mysql://x", "DATABASE_URL must be"},
		{"CONFHUB_ENCRYPTION_KEYS", "", "CONFHUB_ENCRYPTION_KEYS is required"},
		{"CONFHUB_ENCRYPTION_KEYS", "k1:c2hvcnQ=", "CONFHUB_ENCRYPTION_KEYS: key 1 (k1): must be 32 bytes"},
		{"CONFHUB_HTTP_ADDR", "8080", "CONFHUB_HTTP_ADDR"},
		{"CONFHUB_PUBLIC_URL", "ftp://x", "CONFHUB_PUBLIC_URL"},
		{"CONFHUB_PUBLIC_URL", "https://x/#frag", "CONFHUB_PUBLIC_URL"},
		{"CONFHUB_LOG_LEVEL", "loud", "CONFHUB_LOG_LEVEL"},
		{"ZOOM_OAUTH_URL", "zoom.us", "ZOOM_OAUTH_URL"},
		{"ZOOM_API_URL", "ftp://api.zoom.us", "ZOOM_API_URL"},
		{"CONFHUB_SCHEDULER_BUNDLE_URL", "http://cdn.example.com/nylas-scheduling.es.js", "CONFHUB_SCHEDULER_BUNDLE_URL"},
		{"CONFHUB_SCHEDULER_BUNDLE_URL", "//cdn.example.com/nylas-scheduling.es.js", "CONFHUB_SCHEDULER_BUNDLE_URL"},
		{"CONFHUB_SCHEDULER_BUNDLE_URL", "nylas-scheduling.es.js", "CONFHUB_SCHEDULER_BUNDLE_URL"},
		{"CONFHUB_SCHEDULER_BUNDLE_URL", `https://cdn.example.com/x.js"><script>`, "CONFHUB_SCHEDULER_BUNDLE_URL"},
	}
	for _, tc := range cases {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		m[tc.key] = tc.val
		_, err := Load(env(m))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%q: err = %v, want %q", tc.key, tc.val, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error is not one line: %q", tc.key, err)
		}
	}
}

func TestPublicURLFollowsAddr(t *testing.T) {
	c, err := Load(env(map[string]string{"DATABASE_URL": "postgres://u@h/db", "CONFHUB_ENCRYPTION_KEYS": goodKey,
		"CONFHUB_HTTP_ADDR": "127.0.0.1:9999", "CONFHUB_PUBLIC_URL": ""}))
	if err != nil {
		t.Fatal(err)
	}
	if c.PublicURL != "http://127.0.0.1:9999" {
		t.Fatalf("PublicURL = %q", c.PublicURL)
	}
}

// The booking page's bundle may come from a CDN (https), from a local
// server while developing, or from a path on this service.
func TestSchedulerBundleURL(t *testing.T) {
	for _, v := range []string{"https://cdn.example.com/@nylas/web-elements@2.6.0/dist/cdn/nylas-scheduling/nylas-scheduling.es.js",
		"http://127.0.0.1:5173/nylas-scheduling.es.js", "/static/nylas-scheduling.es.js"} {
		c, err := Load(env(map[string]string{"DATABASE_URL": "postgres://u@h/db", "CONFHUB_ENCRYPTION_KEYS": goodKey,
			"CONFHUB_SCHEDULER_BUNDLE_URL": v, "CONFHUB_WEB_ELEMENTS_DIR": "/srv/web-elements/dist/cdn"}))
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if c.SchedulerBundleURL != v || c.WebElementsDir != "/srv/web-elements/dist/cdn" {
			t.Fatalf("%s: got %+v", v, c)
		}
	}
}
