package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

func TestRedirectURILifecycle(t *testing.T) {
	e := newEnv(t)
	key := e.newApp("a")
	r := e.do("POST", "/v3/applications/redirect-uris", key, map[string]any{"url": "http://localhost:3000/callback"})
	e.expect(r, http.StatusOK, "create localhost")
	id := r.data()["id"].(string)
	if r.data()["platform"] != "web" || r.data()["url"] != "http://localhost:3000/callback" {
		t.Fatalf("create: %s", r.Raw)
	}
	e.expect(e.do("POST", "/v3/applications/redirect-uris", key, map[string]any{"url": "http://127.0.0.1:8000/cb", "platform": "web"}), http.StatusOK, "create 127.0.0.1")
	e.expect(e.do("POST", "/v3/applications/redirect-uris", key, map[string]any{"url": "https://app.example.com/oauth?x=1"}), http.StatusOK, "create https with query")
	r = e.do("POST", "/v3/applications/redirect-uris", key, map[string]any{"url": "http://localhost:3000/callback"})
	e.expect(r, http.StatusConflict, "duplicate")

	r = e.do("GET", "/v3/applications/redirect-uris", key, nil)
	if len(r.list()) != 3 {
		t.Fatalf("list: %s", r.Raw)
	}
	r = e.do("GET", "/v3/applications", key, nil)
	e.expect(r, http.StatusOK, "application")
	if r.data()["application_id"] == "" || len(r.data()["callback_uris"].([]any)) != 3 {
		t.Fatalf("application: %s", r.Raw)
	}

	r = e.do("PATCH", "/v3/applications/redirect-uris/"+id, key, map[string]any{"url": "https://new.example.com/cb"})
	e.expect(r, http.StatusOK, "patch")
	if r.data()["url"] != "https://new.example.com/cb" || r.data()["platform"] != "web" {
		t.Fatalf("patch: %s", r.Raw)
	}
	r = e.do("PATCH", "/v3/applications/redirect-uris/"+id, key, map[string]any{"url": "http://127.0.0.1:8000/cb"})
	e.expect(r, http.StatusConflict, "patch onto an existing url")

	ok, err := e.apps.HasRedirectURI(context.Background(), e.appID(key), "https://new.example.com/cb")
	if err != nil || !ok {
		t.Fatalf("exact match of registered uri: %v %v", ok, err)
	}
	ok, _ = e.apps.HasRedirectURI(context.Background(), e.appID(key), "https://new.example.com/cb/")
	if ok {
		t.Fatal("a different URL (trailing slash) matched")
	}

	e.expect(e.do("DELETE", "/v3/applications/redirect-uris/"+id, key, nil), http.StatusOK, "delete")
	e.expect(e.do("GET", "/v3/applications/redirect-uris/"+id, key, nil), http.StatusNotFound, "get deleted")
	e.expect(e.do("GET", "/v3/applications/redirect-uris/not-a-uuid", key, nil), http.StatusNotFound, "malformed id")
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	key := e.newApp("a")
	last := "A"
	if strings.HasSuffix(key, "A") {
		last = "B"
	}
	wrongSecret := key[:len(key)-1] + last
	for name, header := range map[string]string{
		"missing":       "",
		"wrong scheme":  "Basic " + key,
		"no key":        "Bearer ",
		"garbage":       "Bearer nonsense",
		"unknown id":    "Bearer ck_0000000000000000_" + strings.Repeat("A", 43),
		"wrong secret":  "Bearer " + wrongSecret,
		"key with junk": "Bearer " + key + "x",
	} {
		req, _ := http.NewRequest("GET", e.srv.URL+"/v3/connectors", nil)
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", name, resp.StatusCode)
		}
	}
	r := e.do("GET", "/v3/connectors", "", nil)
	if r.errType() != "unauthorized" || !strings.Contains(r.errMessage(), "Authorization") {
		t.Errorf("missing key: %s", r.Raw)
	}
	// Lowercase scheme is accepted.
	req, _ := http.NewRequest("GET", e.srv.URL+"/v3/connectors", nil)
	req.Header.Set("Authorization", "bearer "+key)
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("bearer (lowercase): %d", resp.StatusCode)
	}
}

func TestProbesAndUnknownRoutes(t *testing.T) {
	e := newEnv(t)
	e.expect(e.do("GET", "/healthz", "", nil), http.StatusOK, "healthz")
	e.expect(e.do("GET", "/readyz", "", nil), http.StatusOK, "readyz")
	r := e.do("GET", "/openapi.yaml", "", nil)
	e.expect(r, http.StatusOK, "openapi")
	if !strings.HasPrefix(r.Raw, "openapi: 3") {
		t.Fatalf("openapi.yaml: %.80s", r.Raw)
	}
	r = e.do("GET", "/v3/nothing-here", "", nil)
	if r.Status != http.StatusNotFound || r.errType() != "not_found_error" {
		t.Fatalf("unknown route: %s", r.Raw)
	}
	r = e.do("DELETE", "/v3/connectors", e.newApp("x"), nil)
	if r.Status != http.StatusMethodNotAllowed {
		t.Fatalf("wrong method: %d %s", r.Status, r.Raw)
	}

	e.pool.Close() // the database goes away: not ready, but alive
	if r := e.do("GET", "/readyz", "", nil); r.Status != http.StatusServiceUnavailable {
		t.Fatalf("readyz with the database closed: %d", r.Status)
	}
	e.expect(e.do("GET", "/healthz", "", nil), http.StatusOK, "healthz without database")
}
