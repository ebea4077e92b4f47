package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/confhub/confhub/connectors"
)

func TestConnectorLifecycle(t *testing.T) {
	e := newEnv(t)
	key := e.newApp("a")

	r := e.do("POST", "/v3/connectors", key, map[string]any{
		"provider": "zoom", "name": "Our Zoom",
		"settings": map[string]any{"client_id": "cid", "client_secret": "csecret", "secret_token": "wtoken"},
	})
	e.expect(r, http.StatusCreated, "create zoom")
	d := r.data()
	settings, _ := d["settings"].(map[string]any)
	if d["provider"] != "zoom" || d["name"] != "Our Zoom" || settings["client_id"] != "cid" ||
		settings["client_secret_set"] != true || settings["secret_token_set"] != true {
		t.Fatalf("create returned %s", r.Raw)
	}

	e.expect(e.do("POST", "/v3/connectors", key, map[string]any{"provider": "virtual-calendar"}), http.StatusCreated, "create virtual-calendar")

	r = e.do("GET", "/v3/connectors?limit=1", key, nil)
	e.expect(r, http.StatusOK, "list page 1")
	if len(r.list()) != 1 || r.Body["limit"] != float64(1) || r.Body["offset"] != float64(0) {
		t.Fatalf("list page 1: %s", r.Raw)
	}
	r = e.do("GET", "/v3/connectors?limit=1&offset=1", key, nil)
	if len(r.list()) != 1 || r.list()[0].(map[string]any)["provider"] != "virtual-calendar" {
		t.Fatalf("list page 2: %s", r.Raw)
	}
	if r = e.do("GET", "/v3/connectors?offset=2", key, nil); len(r.list()) != 0 {
		t.Fatalf("list past the end: %s", r.Raw)
	}

	// PATCH keeps omitted fields; settings are left alone when absent.
	r = e.do("PATCH", "/v3/connectors/zoom", key, map[string]any{"name": "Renamed"})
	e.expect(r, http.StatusOK, "patch name")
	if s := r.data()["settings"].(map[string]any); r.data()["name"] != "Renamed" || s["secret_token_set"] != true {
		t.Fatalf("patch name: %s", r.Raw)
	}
	// PUT (as the Node SDK sends it) replaces settings whole: the token is cleared.
	r = e.do("PUT", "/v3/connectors/zoom", key, map[string]any{"settings": map[string]any{"client_id": "cid2", "client_secret": "csecret2"}})
	e.expect(r, http.StatusOK, "put settings")
	if s := r.data()["settings"].(map[string]any); r.data()["name"] != "Renamed" || s["client_id"] != "cid2" || s["secret_token_set"] != false {
		t.Fatalf("put settings: %s", r.Raw)
	}
	creds, err := e.storedZoom(key)
	if err != nil || creds.ClientID != "cid2" || creds.ClientSecret != "csecret2" || creds.SecretToken != "" {
		t.Fatalf("stored credentials after PUT: %+v, %v", creds, err)
	}

	r = e.do("GET", "/v3/connectors/zoom", key, nil)
	e.expect(r, http.StatusOK, "get")
	r = e.do("DELETE", "/v3/connectors/zoom", key, nil)
	e.expect(r, http.StatusOK, "delete")
	if len(r.Body) != 1 || r.Body["request_id"] == "" {
		t.Fatalf("delete body = %s, want only request_id", r.Raw)
	}
	e.expect(e.do("GET", "/v3/connectors/zoom", key, nil), http.StatusNotFound, "get after delete")
	e.expect(e.do("DELETE", "/v3/connectors/zoom", key, nil), http.StatusNotFound, "delete twice")
}

// storedZoom returns the stored credentials of the application's only Zoom connector.
func (e *env) storedZoom(key string) (connectors.ZoomCredentials, error) {
	apps, err := e.conns.ZoomApps(context.Background(), e.appID(key))
	if err != nil {
		return connectors.ZoomCredentials{}, err
	}
	if len(apps) != 1 {
		return connectors.ZoomCredentials{}, fmt.Errorf("%d zoom connectors, want 1", len(apps))
	}
	return apps[0], nil
}

func (e *env) appID(key string) uuid.UUID {
	e.t.Helper()
	id, err := e.apps.Authenticate(context.Background(), key)
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

func TestOneConnectorPerProvider(t *testing.T) {
	e := newEnv(t)
	key := e.newApp("a")
	e.expect(e.do("POST", "/v3/connectors", key, zoomConnector("s1")), http.StatusCreated, "first")
	r := e.do("POST", "/v3/connectors", key, zoomConnector("s2"))
	e.expect(r, http.StatusConflict, "second")
	if r.errType() != "conflict" {
		t.Fatalf("type %q", r.errType())
	}
	creds, _ := e.storedZoom(key)
	if creds.ClientSecret != "s1" {
		t.Fatalf("the refused POST changed the stored secret to %q", creds.ClientSecret)
	}
	// Another application may have its own.
	e.expect(e.do("POST", "/v3/connectors", e.newApp("b"), zoomConnector("s3")), http.StatusCreated, "other app")
}

func TestTenantIsolation(t *testing.T) {
	e := newEnv(t)
	a, b := e.newApp("a"), e.newApp("b")
	e.expect(e.do("POST", "/v3/connectors", a, zoomConnector("a-secret")), http.StatusCreated, "a's connector")
	r := e.do("POST", "/v3/applications/redirect-uris", a, map[string]any{"url": "https://a.example.com/cb"})
	e.expect(r, http.StatusOK, "a's redirect uri")
	uri := "/v3/applications/redirect-uris/" + r.data()["id"].(string)

	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/v3/connectors/zoom", nil},
		{"PATCH", "/v3/connectors/zoom", map[string]any{"name": "stolen"}},
		{"PUT", "/v3/connectors/zoom", map[string]any{"settings": map[string]any{"client_id": "x", "client_secret": "y"}}},
		{"DELETE", "/v3/connectors/zoom", nil},
		{"GET", uri, nil},
		{"PATCH", uri, map[string]any{"url": "https://evil.example.com/cb"}},
		{"DELETE", uri, nil},
	} {
		r := e.do(c.method, c.path, b, c.body)
		if r.Status != http.StatusNotFound || r.errType() != "not_found_error" {
			t.Errorf("b: %s %s = %d %s, want 404 not_found_error", c.method, c.path, r.Status, r.Raw)
		}
	}
	if r := e.do("GET", "/v3/connectors", b, nil); len(r.list()) != 0 {
		t.Errorf("b lists a's connectors: %s", r.Raw)
	}
	if r := e.do("GET", "/v3/applications/redirect-uris", b, nil); len(r.list()) != 0 {
		t.Errorf("b lists a's redirect uris: %s", r.Raw)
	}
	if r := e.do("GET", "/v3/applications", b, nil); len(r.data()["callback_uris"].([]any)) != 0 {
		t.Errorf("b's application shows a's callback uris: %s", r.Raw)
	}
	// a's things are untouched.
	r = e.do("GET", "/v3/connectors/zoom", a, nil)
	if r.Status != http.StatusOK || r.data()["name"] != "Zoom" || r.data()["settings"].(map[string]any)["client_id"] != "zoom-client-1" {
		t.Fatalf("a's connector changed: %s", r.Raw)
	}
	if r = e.do("GET", uri, a, nil); r.Status != http.StatusOK || r.data()["url"] != "https://a.example.com/cb" {
		t.Fatalf("a's redirect uri changed: %s", r.Raw)
	}
}

func TestSecretsNeverLeak(t *testing.T) {
	e := newEnv(t)
	key := e.newApp("a")
	const secret, token = "zoom-SECRET-7f3a9c", "webhook-TOKEN-5b2d81"
	var bodies []string
	r := e.do("POST", "/v3/connectors", key, map[string]any{"provider": "zoom",
		"settings": map[string]any{"client_id": "cid", "client_secret": secret, "secret_token": token}})
	e.expect(r, http.StatusCreated, "create")
	bodies = append(bodies, r.Raw)
	bodies = append(bodies, e.do("GET", "/v3/connectors/zoom", key, nil).Raw)
	bodies = append(bodies, e.do("GET", "/v3/connectors", key, nil).Raw)
	bodies = append(bodies, e.do("PATCH", "/v3/connectors/zoom", key, map[string]any{"name": "x"}).Raw)
	// A refused request that carries the secret must not echo it either.
	r = e.do("POST", "/v3/connectors", key, map[string]any{"provider": "zoom",
		"settings": map[string]any{"client_id": "cid", "client_secret": secret, "secret_token": token}})
	e.expect(r, http.StatusConflict, "duplicate")
	bodies = append(bodies, r.Raw)
	r = e.do("POST", "/v3/connectors", key, `{"provider":"zoom","settings":{"client_id":"c","client_secret":"`+secret+`","bogus":1}}`)
	e.expect(r, http.StatusBadRequest, "bad field")
	bodies = append(bodies, r.Raw)

	for _, b := range bodies {
		if strings.Contains(b, secret) || strings.Contains(b, token) {
			t.Errorf("response contains a secret: %s", b)
		}
	}
	if logs := e.logs.String(); strings.Contains(logs, secret) || strings.Contains(logs, token) || strings.Contains(logs, key) {
		t.Errorf("log contains a secret:\n%s", logs)
	}
	// No column of any table holds the secrets (or the API key) in plaintext.
	rows, err := e.pool.Query(context.Background(),
		`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		_ = rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	if len(tables) < 4 {
		t.Fatalf("found only tables %v", tables)
	}
	apiSecret := key[len(key)-43:]
	for _, tbl := range tables {
		var dump string
		if err := e.pool.QueryRow(context.Background(), fmt.Sprintf(`SELECT COALESCE(string_agg(t::text, E'\n'), '') FROM %q t`, tbl)).Scan(&dump); err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{secret, token, apiSecret} {
			if strings.Contains(dump, s) {
				t.Errorf("table %s holds a secret in plaintext", tbl)
			}
		}
	}
}

func TestSwappedCiphertextsDoNotOpen(t *testing.T) {
	e := newEnv(t)
	a, b := e.newApp("a"), e.newApp("b")
	e.expect(e.do("POST", "/v3/connectors", a, zoomConnector("secret-a")), http.StatusCreated, "a")
	e.expect(e.do("POST", "/v3/connectors", b, zoomConnector("secret-b")), http.StatusCreated, "b")
	ctx := context.Background()
	for _, k := range []string{a, b} {
		if _, err := e.storedZoom(k); err != nil {
			t.Fatalf("before the swap: %v", err)
		}
	}
	_, err := e.pool.Exec(ctx, `UPDATE connectors c SET client_secret_enc = o.client_secret_enc
		FROM connectors o WHERE c.provider = 'zoom' AND o.provider = 'zoom' AND c.id <> o.id`)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{a, b} {
		if creds, err := e.storedZoom(k); err == nil {
			t.Errorf("swapped ciphertext opened: %+v", creds)
		}
	}
}

func TestBadInputIsA400NamingTheProblem(t *testing.T) {
	e := newEnv(t)
	key := e.newApp("a")
	e.expect(e.do("POST", "/v3/connectors", key, zoomConnector("s")), http.StatusCreated, "setup")
	e.expect(e.do("POST", "/v3/applications/redirect-uris", key, map[string]any{"url": "https://ok.example.com/cb"}), http.StatusOK, "setup uri")
	before := e.snapshot()

	big := `{"provider":"zoom","name":"` + strings.Repeat("x", 2<<20) + `"}`
	cases := []struct {
		method, path string
		body         any
		want         string // a substring of the error message
	}{
		{"POST", "/v3/connectors", `{"provider":`, "malformed JSON"},
		{"POST", "/v3/connectors", `not json`, "malformed JSON"},
		{"POST", "/v3/connectors", ``, "request body is required"},
		{"POST", "/v3/connectors", `[]`, "request body must be an object"},
		{"POST", "/v3/connectors", `{"provider":"zoom"} {}`, "unexpected data"},
		{"POST", "/v3/connectors", `{"provider":42}`, "provider: must be a string"},
		{"POST", "/v3/connectors", `{"provider":"teams"}`, `provider: unknown provider "teams"`},
		{"POST", "/v3/connectors", `{}`, "provider: is required"},
		{"POST", "/v3/connectors", `{"provider":"zoom"}`, "settings: is required"},
		{"POST", "/v3/connectors", `{"provider":"zoom","settings":{"client_id":"x"}}`, "settings.client_secret: is required"},
		{"POST", "/v3/connectors", `{"provider":"zoom","settings":{"client_id":1,"client_secret":"y"}}`, "settings.client_id: must be a string"},
		{"POST", "/v3/connectors", `{"provider":"zoom","settings":{"client_id":"x","client_secret":"y","colour":"red"}}`, `settings.colour: unknown field`},
		{"POST", "/v3/connectors", `{"provider":"zoom","settings":{"client_id":"x","client_secret":""}}`, "settings.client_secret: must not be empty"},
		{"POST", "/v3/connectors", `{"provider":"zoom","settings":"x"}`, "settings: must be an object"},
		{"POST", "/v3/connectors", `{"provider":"zoom","name":"a\u0007b","settings":{"client_id":"x","client_secret":"y"}}`, "name: must not contain control characters"},
		{"POST", "/v3/connectors", `{"provider":"zoom","name":"a\u0000b","settings":{"client_id":"x","client_secret":"y"}}`, "name: contains a NUL character"},
		{"POST", "/v3/connectors", `{"provider":"zoom","scope":["meeting:write"],"settings":{"client_id":"x","client_secret":"y"}}`, "scope:"},
		{"POST", "/v3/connectors", `{"provider":"virtual-calendar","settings":{"a":1}}`, "settings: provider virtual-calendar takes no settings"},
		{"POST", "/v3/connectors", `{"provider":"zoom","extra":true}`, "extra: unknown field"},
		{"POST", "/v3/connectors", big, "larger than 1048576 bytes"},
		{"GET", "/v3/connectors?limit=0", nil, "limit: must be an integer from 1 to 200"},
		{"GET", "/v3/connectors?limit=abc", nil, "limit:"},
		{"GET", "/v3/connectors?offset=-1", nil, "offset:"},
		{"GET", "/v3/connectors/teams", nil, `provider: unknown provider "teams"`},
		{"PATCH", "/v3/connectors/zoom", `{"provider":"virtual-calendar"}`, "provider: cannot change"},
		{"PATCH", "/v3/connectors/zoom", `{"name":""}`, "name: must be 1 to 256"},
		{"PUT", "/v3/connectors/zoom", `{"settings":{"client_id":"only"}}`, "settings.client_secret: is required"},
		{"POST", "/v3/applications/redirect-uris", `{}`, "url: is required"},
		{"POST", "/v3/applications/redirect-uris", `{"url":"http://example.com/cb"}`, "url: must use https"},
		{"POST", "/v3/applications/redirect-uris", `{"url":"https://example.com/cb#frag"}`, "url: must not contain a fragment"},
		{"POST", "/v3/applications/redirect-uris", `{"url":"/relative"}`, "url: must be an absolute URL"},
		{"POST", "/v3/applications/redirect-uris", `{"url":"ftp://example.com/x"}`, "url: must use https"},
		{"POST", "/v3/applications/redirect-uris", `{"url":"https://u:p@example.com/"}`, "url: must not contain user info"},
		{"POST", "/v3/applications/redirect-uris", `{"url":"https://example.com/a b"}`, "url: must not contain spaces"},
		{"POST", "/v3/applications/redirect-uris", `{"url":"https://example.com/","platform":"ios"}`, "platform:"},
		{"POST", "/v3/applications/redirect-uris", `{"url":["https://example.com/"]}`, "url: must be a string"},
	}
	for _, c := range cases {
		r := e.do(c.method, c.path, key, c.body)
		if r.Status != http.StatusBadRequest || r.errType() != "invalid_request_error" || !strings.Contains(r.errMessage(), c.want) {
			msg := r.Raw
			if len(msg) > 300 {
				msg = msg[:300]
			}
			t.Errorf("%s %s %.60v: got %d %s, want 400 mentioning %q", c.method, c.path, c.body, r.Status, msg, c.want)
		}
	}
	if after := e.snapshot(); after != before {
		t.Errorf("refused requests changed the database:\nbefore %s\nafter  %s", before, after)
	}
}

// snapshot renders the tenant tables, to check refused requests change nothing.
func (e *env) snapshot() string {
	e.t.Helper()
	var s string
	err := e.pool.QueryRow(context.Background(), `SELECT
		(SELECT COALESCE(string_agg(c::text, ';' ORDER BY c.id), '') FROM connectors c) || '|' ||
		(SELECT COALESCE(string_agg(r::text, ';' ORDER BY r.id), '') FROM redirect_uris r)`).Scan(&s)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}
