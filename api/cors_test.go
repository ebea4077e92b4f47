package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// preflight sends an OPTIONS as a browser does before a cross-origin call
// of the component (through the contract check), and returns the answer.
func (e *env) preflight(path, origin string, extra map[string]string) *httptest.ResponseRecorder {
	e.t.Helper()
	h := map[string]string{"Access-Control-Request-Method": "GET",
		"Access-Control-Request-Headers": "content-type,x-nylas-application-public-id,x-nylas-web-elements-version,x-source"}
	if origin != "" {
		h["Origin"] = origin
	}
	for k, v := range extra {
		h[k] = v
	}
	p, q, _ := strings.Cut(path, "?")
	rec := httptest.NewRecorder()
	e.srv.Config.Handler.ServeHTTP(rec, newRequest(http.MethodOptions, p, q, h, ""))
	if rec.Header().Get("x-request-id") == "" {
		e.t.Errorf("OPTIONS %s: no x-request-id", path)
	}
	if rec.Code >= 500 {
		e.t.Fatalf("OPTIONS %s from %s: %d %s", path, origin, rec.Code, rec.Body)
	}
	return rec
}

// corsApp makes an application with redirect URIs and returns its id.
func (e *env) corsApp(name string, uris ...string) uuid.UUID {
	e.t.Helper()
	app, key, err := e.apps.Create(context.Background(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, u := range uris {
		e.expect(e.do("POST", "/v3/applications/redirect-uris", key, map[string]any{"url": u, "platform": "web"}), http.StatusOK, "register "+u)
	}
	return app.ID
}

// The component embedded on an application's site may call the scheduling
// routes from the origins of that application's redirect URIs (and this
// service's own), without credentials for the preflight; no other origin
// may, and one application's origins do not open another's pages.
func TestCORSPreflight(t *testing.T) {
	e := newEnv(t)
	shop := e.corsApp("shop", "https://shop.example.com/booking/callback", "http://localhost:3000/cb")
	other := e.corsApp("other", "https://other.example.org:8443/cb")
	const shopOrigin = "https://shop.example.com"

	allowed := func(path, origin string, extra map[string]string) {
		t.Helper()
		rec := e.preflight(path, origin, extra)
		h := rec.Header()
		if rec.Code != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != origin || !strings.Contains(h.Get("Vary"), "Origin") {
			t.Fatalf("preflight %s from %s: %d %v %s, want 204 allowing it", path, origin, rec.Code, h, rec.Body)
		}
		for _, want := range []string{"Authorization", "Content-Type", "X-Source", "X-Nylas-Web-Elements-Version", "X-Nylas-Application-Public-Id"} {
			if !strings.Contains(h.Get("Access-Control-Allow-Headers"), want) {
				t.Errorf("preflight %s: Access-Control-Allow-Headers %q lacks %s", path, h.Get("Access-Control-Allow-Headers"), want)
			}
		}
		if h.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("preflight %s allows credentials", path)
		}
	}
	refused := func(path, origin string) {
		t.Helper()
		rec := e.preflight(path, origin, nil)
		if rec.Code != http.StatusForbidden || rec.Header().Get("Access-Control-Allow-Origin") != "" ||
			!strings.Contains(rec.Body.String(), "redirect URIs") || !strings.Contains(rec.Body.String(), `"forbidden"`) {
			t.Fatalf("preflight %s from %s: %d %v %s, want 403 without Access-Control-Allow-Origin", path, origin, rec.Code, rec.Header(), rec.Body)
		}
	}

	q := "?slug=demo&client_id=" + shop.String()
	allowed("/v3/scheduling/ui-settings"+q, shopOrigin, nil)
	allowed("/v3/scheduling/availability"+q+"&start_time=1&end_time=2", shopOrigin, nil)
	allowed("/v3/scheduling/bookings"+q, "http://localhost:3000", nil)
	rec := e.preflight("/v3/scheduling/bookings/"+uuid.NewString()+q, shopOrigin, nil)
	if m := rec.Header().Get("Access-Control-Allow-Methods"); rec.Code != http.StatusNoContent || m != "GET, PATCH, PUT, DELETE" {
		t.Fatalf("booking preflight: %d, methods %q", rec.Code, m)
	}
	// The same origin however a browser could spell it.
	allowed("/v3/scheduling/ui-settings"+q, "https://shop.example.com:443", nil)

	refused("/v3/scheduling/ui-settings"+q, "https://evil.example")
	refused("/v3/scheduling/ui-settings"+q, "https://shop.example.com.evil.example")
	refused("/v3/scheduling/ui-settings"+q, "http://shop.example.com")
	refused("/v3/scheduling/ui-settings"+q, "https://shop.example.com:8443")
	refused("/v3/scheduling/ui-settings"+q, "null")
	// Another application's origin does not open this one's pages, nor the reverse.
	refused("/v3/scheduling/ui-settings"+q, "https://other.example.org:8443")
	refused("/v3/scheduling/ui-settings?slug=x&client_id="+other.String(), shopOrigin)
	refused("/v3/scheduling/ui-settings?slug=x&client_id=not-a-uuid", shopOrigin)
	refused("/v3/scheduling/ui-settings?slug=x&client_id="+uuid.NewString(), shopOrigin)
	// A configuration that does not resolve names no application listing the origin.
	refused("/v3/scheduling/availability?configuration_id="+uuid.NewString(), shopOrigin)
	// Naming two applications needs both to list the origin.
	refusedHeader := e.preflight("/v3/scheduling/availability"+q, shopOrigin, map[string]string{"X-Nylas-Application-Public-Id": other.String()})
	if refusedHeader.Code != http.StatusForbidden {
		t.Fatalf("client_id of one application and the header of another: %d", refusedHeader.Code)
	}

	// A session's calls name no application: an origin some application lists.
	allowed("/v3/scheduling/bookings/"+uuid.NewString(), "https://other.example.org:8443", nil)
	allowed("/v3/scheduling/availability", shopOrigin, nil)
	refused("/v3/scheduling/availability", "https://evil.example")

	// This service's own origin (its hosted pages) always may.
	allowed("/v3/scheduling/ui-settings?slug=x&client_id="+other.String(), e.srv.URL, nil)

	// A plain OPTIONS (no Origin) says what the route takes.
	plain := e.preflight("/v3/scheduling/bookings", "", nil)
	if plain.Code != http.StatusNoContent || plain.Header().Get("Allow") != "POST, OPTIONS" || plain.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("plain OPTIONS: %d %v", plain.Code, plain.Header())
	}
}

// The answers themselves (errors included: a 401 for an expired session
// must be readable by the component) carry Access-Control-Allow-Origin for
// an allowed origin, and only on the scheduling routes.
func TestCORSActualRequests(t *testing.T) {
	e := newEnv(t)
	shop := e.corsApp("shop", "https://shop.example.com/cb")
	const shopOrigin = "https://shop.example.com"
	send := func(method, path string, h map[string]string) response {
		t.Helper()
		p, q, _ := strings.Cut(path, "?")
		return e.serve(newRequest(method, p, q, h, ""))
	}
	for _, path := range []string{"/v3/scheduling/availability?start_time=1&end_time=2&slug=demo&client_id=" + shop.String(),
		"/v3/scheduling/ui-settings?slug=demo&client_id=" + shop.String()} {
		r := send("GET", path, map[string]string{"Origin": shopOrigin, "X-Source": "nylas-scheduling", "Content-Type": "application/json"})
		if r.Header.Get("Access-Control-Allow-Origin") != shopOrigin || !strings.Contains(r.Header.Get("Vary"), "Origin") {
			t.Fatalf("GET %s from %s: %d %v", path, shopOrigin, r.Status, r.Header)
		}
		if r.Header.Get("Access-Control-Expose-Headers") == "" {
			t.Errorf("GET %s: the request id is not exposed", path)
		}
		r = send("GET", path, map[string]string{"Origin": "https://evil.example"})
		if r.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("GET %s from evil: %v", path, r.Header)
		}
	}
	// A booking call with a session names no application (an origin some
	// application lists), and its refusal stays readable.
	r := send("DELETE", "/v3/scheduling/bookings/"+uuid.NewString(), map[string]string{"Origin": shopOrigin, "Authorization": "Bearer no-such-session"})
	if r.Status < 400 || r.Header.Get("Access-Control-Allow-Origin") != shopOrigin {
		t.Fatalf("DELETE with a bad session from %s: %d %v", shopOrigin, r.Status, r.Header)
	}
	// Other routes are not for browsers on other sites.
	key := e.newApp("plain")
	req := newRequest("GET", "/v3/applications", "", map[string]string{"Origin": shopOrigin, "Authorization": "Bearer " + key}, "")
	if got := e.serve(req); got.Status != http.StatusOK || got.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("GET /v3/applications from %s: %d %v", shopOrigin, got.Status, got.Header)
	}
}
