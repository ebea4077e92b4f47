package applications

import (
	"strings"
	"testing"
)

func TestValidateRedirectURL(t *testing.T) {
	good := []string{
		"https://app.example.com/callback",
		"https://app.example.com:8443/cb?x=1",
		"http://localhost:3000/cb",
		"http://127.0.0.1/cb",
		"HTTPS://APP.EXAMPLE.COM/cb",
	}
	for _, u := range good {
		if err := ValidateRedirectURL("url", u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	bad := map[string]string{
		"":                             "is required",
		"http://example.com/cb":        "must use https",
		"http://localhost.evil.com/cb": "must use https",
		"http://127.0.0.2/cb":          "must use https",
		"javascript:alert(1)":          "absolute URL",
		"https:///nohost":              "absolute URL",
		"//example.com/cb":             "absolute URL",
		"https://example.com/#x":       "fragment",
		"https://example.com/#":        "fragment",
		"https://user@example.com/":    "user info",
		"https://example.com/\x00":     "control characters",
		"https://example.com/" + strings.Repeat("a", 2048): "at most 2048",
	}
	for u, want := range bad {
		err := ValidateRedirectURL("url", u)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "url: ") {
			t.Errorf("%q: err = %v, want url: ...%s", u, err, want)
		}
	}
}

func TestAPIKeyFormat(t *testing.T) {
	id, secret, key := newAPIKey()
	gotID, gotSecret, ok := parseAPIKey(key)
	if !ok || gotID != id || gotSecret != secret {
		t.Fatalf("parse(%q) = %q %q %v", key, gotID, gotSecret, ok)
	}
	if !secretMatches(secret, hashSecret(secret)) || secretMatches(secret+"x", hashSecret(secret)) {
		t.Fatal("secretMatches is wrong")
	}
	for _, bad := range []string{"", "ck_", key[:len(key)-1], "xx" + key[2:], strings.Replace(key, "_", "-", 2), "ck_zzzzzzzzzzzzzzzz_" + secret} {
		if _, _, ok := parseAPIKey(bad); ok {
			t.Errorf("parseAPIKey(%q) accepted", bad)
		}
	}
}
