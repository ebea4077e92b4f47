package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/confhub/confhub/connectors/zoom/zoomsim"
)

// Text PostgreSQL cannot hold (NUL, invalid UTF-8) is refused at the edge:
// a 400 that names where it was, before any lookup, and nothing changes.
const (
	reasonNUL  = "contains a NUL character"
	reasonUTF8 = "is not valid UTF-8"
)

// serve sends a request straight to the server's handler (contract check
// included), as a client that does not check header values could: Go's
// client refuses to send NUL in a header, a raw socket does not.
func (e *env) serve(req *http.Request) response {
	e.t.Helper()
	rec := httptest.NewRecorder()
	e.srv.Config.Handler.ServeHTTP(rec, req)
	out := response{Status: rec.Code, Header: rec.Header(), Raw: rec.Body.String()}
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(rec.Body.Bytes(), &out.Body); err != nil {
			e.t.Fatalf("%s %s: body is not a JSON object: %v: %s", req.Method, req.URL, err, rec.Body)
		}
	}
	e.checkEnvelope(req.Method, req.URL.Path, out)
	return out
}

// newRequest builds a request with headers; rawQuery is sent as written.
// path is escaped.
func newRequest(method, path, rawQuery string, header map[string]string, body string) *http.Request {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, "/", r)
	u, err := url.Parse(path) // %00 and %FF in the path are decoded, as the server does
	if err != nil {
		panic(err)
	}
	u.RawQuery = rawQuery
	req.URL, req.RequestURI = u, u.RequestURI()
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return req
}

// expectTextRefused asserts a 400 invalid_request_error whose message starts
// with the field and gives the reason.
func (e *env) expectTextRefused(r response, what, field, reason string) {
	e.t.Helper()
	if r.Status != http.StatusBadRequest || r.errType() != "invalid_request_error" ||
		!strings.HasPrefix(r.errMessage(), field) || !strings.Contains(r.errMessage(), reason) {
		e.t.Errorf("%s: %d %s, want 400 naming %q: %s", what, r.Status, r.Raw, field, reason)
	}
}

func TestUnstorableRedirectURIIsA400(t *testing.T) {
	e := newEnv(t)
	z := e.zoomApp(zoomScopes, false)
	for _, bad := range []string{"%FF", "https://app.example.com/cb%00"} {
		q := "client_id=" + z.appID.String() + "&response_type=code&provider=zoom&redirect_uri=" + bad
		e.expectTextRefused(e.serve(newRequest("GET", "/v3/connect/auth", q, nil, "")), "redirect_uri="+bad, "redirect_uri", "")
	}
	if n := e.count("oauth_states"); n != 0 {
		t.Fatalf("%d oauth states stored", n)
	}
}

func TestUnstorableStateIsA400(t *testing.T) {
	e := newEnv(t)
	z := e.zoomApp(zoomScopes, false)
	q := authQuery(z, nil)
	q.Del("state")
	r := e.serve(newRequest("GET", "/v3/connect/auth", q.Encode()+"&state=client%FFstate", nil, ""))
	e.expectTextRefused(r, "state with invalid UTF-8", "state", reasonUTF8)
	if n := e.count("oauth_states"); n != 0 {
		t.Fatalf("%d oauth states stored", n)
	}
}

func TestUnstorableEmailFilterIsA400(t *testing.T) {
	e := newEnv(t)
	key := e.newApp("grants-filter")
	r := e.serve(newRequest("GET", "/v3/grants", "email=a%FF@example.com", map[string]string{"Authorization": "Bearer " + key}, ""))
	e.expectTextRefused(r, "email with invalid UTF-8", "email", reasonUTF8)
}

func TestUnstorableIdempotencyKeyIsA400(t *testing.T) {
	e := newEnv(t)
	cs := e.calendarSetup("pro")
	body := mustJSON(t, cs.eventBody("Keyed", time.Now().Add(48*time.Hour).Truncate(time.Second), nil))
	for key, reason := range map[string]string{"key\x00one": reasonNUL, "key\xfftwo": reasonUTF8} {
		r := e.serve(newRequest("POST", "/v3/grants/"+cs.cal+"/events", "calendar_id=primary",
			map[string]string{"Authorization": "Bearer " + cs.key, "Idempotency-Key": key}, body))
		e.expectTextRefused(r, fmt.Sprintf("Idempotency-Key %q", key), "Idempotency-Key", reason)
	}
	// Over a real connection too (Go's client sends the invalid UTF-8, not the NUL).
	req, _ := http.NewRequest("POST", e.srv.URL+"/v3/grants/"+cs.cal+"/events?calendar_id=primary", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+cs.key)
	req.Header.Set("Idempotency-Key", "k\xc3")
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	e.expectTextRefused(readResponse(t, resp), "Idempotency-Key over HTTP", "Idempotency-Key", reasonUTF8)
	if n := e.count("events"); n != 0 || len(e.meetings()) != 0 {
		t.Fatalf("refused requests left %d events, %d meetings", n, len(e.meetings()))
	}
}

func TestUnstorableConfSettingsAreA400(t *testing.T) {
	e := newEnv(t)
	cs := e.calendarSetup("pro")
	start := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	for field, value := range map[string]string{"topic": "Plan\x00ning", "agenda": "line one\x00"} {
		body := cs.eventBody("Conf settings", start, nil)
		body["conferencing"].(map[string]any)["autocreate"].(map[string]any)["conf_settings"] = map[string]any{field: value}
		began := time.Now()
		r := e.do("POST", "/v3/grants/"+cs.cal+"/events?calendar_id=primary", cs.key, body)
		e.expectTextRefused(r, field+" with NUL", "conferencing.autocreate.conf_settings."+field, reasonNUL)
		if took := time.Since(began); took > 2*time.Second {
			t.Errorf("%s: refused after %v: it went further than the edge", field, took)
		}
	}
	// encoding/json would store U+FFFD in place of invalid bytes: refused and named instead.
	raw := strings.Replace(mustJSON(t, cs.eventBody("Café", start, nil)), "Café", "Caf\xe9", 1)
	e.expectTextRefused(e.do("POST", "/v3/grants/"+cs.cal+"/events?calendar_id=primary", cs.key, raw), "title in Latin-1", "title", reasonUTF8)
	if n := e.count("events"); n != 0 || len(e.meetings()) != 0 {
		t.Fatalf("refused requests left %d events, %d meetings", n, len(e.meetings()))
	}
}

// Zoom's webhook used to look the connector up by payload.client_id before
// checking anything: a NUL there reached the query.
func TestUnstorableWebhookClientIDIsA400(t *testing.T) {
	e := newEnv(t)
	z := e.zoomApp(zoomScopes, false)
	now := fmt.Sprint(e.clock.Now().Unix())
	for _, client := range []string{z.clientID + `\u0000`, "zc\xff"} {
		body := fmt.Sprintf(`{"event":"app_deauthorized","event_ts":%d,"payload":{"account_id":%q,"user_id":%q,"client_id":"%s"}}`,
			e.clock.Now().UnixMilli(), z.user.AccountID, z.user.ID, client)
		r := e.serve(newRequest("POST", "/v3/connect/zoom/webhook", "", map[string]string{
			"x-zm-request-timestamp": now, "x-zm-signature": zoomsim.Sign(z.secretToken, now, []byte(body))}, body))
		e.expectTextRefused(r, fmt.Sprintf("client_id %q", client), "payload.client_id", "")
	}
}

// Every place a string comes in (path, query name and value, the headers
// the service reads, JSON values and keys), with and without credentials:
// a 400 naming it, never a lookup, and nothing changes.
func TestUnstorableTextAnywhereIsA400(t *testing.T) {
	e := newEnv(t)
	cs := e.calendarSetup("pro")
	auth := map[string]string{"Authorization": "Bearer " + cs.key}
	event := mustJSON(t, cs.eventBody("Anywhere", time.Now().Add(48*time.Hour).Truncate(time.Second), nil))
	before := e.snapshot() + fmt.Sprint(e.count("events"), e.count("grants"), e.count("calendars"))
	type call struct {
		method, path, query string
		header              map[string]string
		body, field, reason string
	}
	var calls []call
	for _, cred := range []map[string]string{auth, nil} {
		for _, bad := range []struct{ esc, reason string }{{"%00", reasonNUL}, {"%FF", reasonUTF8}} {
			calls = append(calls,
				call{"GET", "/v3/grants/" + bad.esc, "", cred, "", "grant_id", bad.reason},
				call{"DELETE", "/v3/grants/" + cs.cal + "/events/" + bad.esc, "", cred, "", "event_id", bad.reason},
				call{"GET", "/v3/grants/" + cs.cal + "/calendars/x" + bad.esc, "", cred, "", "calendar_id", bad.reason},
				call{"GET", "/v3/connectors/zoom" + bad.esc, "", cred, "", "provider", bad.reason},
				call{"DELETE", "/v3/applications/redirect-uris/" + bad.esc, "", cred, "", "id", bad.reason},
				call{"GET", "/v3/grants/" + cs.cal + "/events", "calendar_id=" + bad.esc, cred, "", "calendar_id", bad.reason},
				call{"GET", "/v3/connectors", "limit=1&x" + bad.esc + "=1", cred, "", "query parameter name", bad.reason},
				call{"POST", "/v3/connect/custom", "", cred, `{"provider":"virtual-calendar","settings":{"email":"a` +
					map[string]string{"%00": `\u0000`, "%FF": "\xff"}[bad.esc] + `"}}`, "settings.email", bad.reason},
				call{"POST", "/v3/grants/" + cs.cal + "/calendars", "", cred, `{"name":"n","` +
					map[string]string{"%00": `\u0000`, "%FF": "\xff"}[bad.esc] + `":1}`, `object key`, bad.reason},
				call{"GET", "/v3/connect/callback", "code=c&state=" + bad.esc, cred, "", "state", bad.reason},
			)
		}
		calls = append(calls,
			call{"POST", "/v3/grants/" + cs.cal + "/events", "calendar_id=primary", map[string]string{
				"Authorization": cred["Authorization"], "Idempotency-Key": "\x00"}, event, "Idempotency-Key", reasonNUL},
			call{"POST", "/v3/connect/zoom/webhook", "", map[string]string{
				"Authorization": cred["Authorization"], "x-zm-signature": "v0=\xff"}, `{}`, "X-Zm-Signature", reasonUTF8},
			call{"POST", "/v3/connect/zoom/webhook", "", map[string]string{
				"Authorization": cred["Authorization"], "x-zm-request-timestamp": "1\x00"}, `{}`, "X-Zm-Request-Timestamp", reasonNUL},
		)
	}
	calls = append(calls,
		call{"GET", "/v3/applications", "", map[string]string{"Authorization": "Bearer ck_\x00"}, "", "Authorization", reasonNUL},
		call{"GET", "/v3/applications", "", map[string]string{"Authorization": "Bearer ck_\xff"}, "", "Authorization", reasonUTF8},
	)
	for _, c := range calls {
		r := e.serve(newRequest(c.method, c.path, c.query, c.header, c.body))
		e.expectTextRefused(r, fmt.Sprintf("%s %s?%s %q %q", c.method, c.path, c.query, c.header, c.body), c.field, c.reason)
	}
	// JSON sent with curl's default form Content-Type is judged as the JSON it is.
	r := e.serve(newRequest("POST", "/v3/connectors", "", map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		`{"provider":"zoom","name":"a\u0000","settings":{"client_id":"c","client_secret":"s"}}`))
	e.expectTextRefused(r, "JSON as a form, without credentials", "name", reasonNUL)
	// The OAuth endpoints answer in their own shape.
	for _, c := range []struct{ path, query, body, ctype string }{
		{"/v3/connect/revoke", "token=gt_%00", "", ""},
		{"/v3/connect/token", "", "grant_type=authorization_code&code=c%FF", "application/x-www-form-urlencoded"},
		{"/v3/connect/token", "", `{"grant_type":"authorization_code","code":"\u0000"}`, "application/json"},
	} {
		req := newRequest("POST", c.path, c.query, map[string]string{"Content-Type": c.ctype}, c.body)
		r := e.serve(req)
		desc := fmt.Sprint(r.Body["error_description"])
		if r.Status != http.StatusBadRequest || r.Body["error"] != "invalid_request" || !strings.HasPrefix(desc, "code: ") && !strings.HasPrefix(desc, "token: ") {
			t.Errorf("%s %s %s: %d %s, want 400 invalid_request naming the field", c.path, c.query, c.body, r.Status, r.Raw)
		}
	}
	if after := e.snapshot() + fmt.Sprint(e.count("events"), e.count("grants"), e.count("calendars")); after != before {
		t.Errorf("refused requests changed the database:\nbefore %s\nafter  %s", before, after)
	}
}
