package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/confhub/confhub/connectors"
	"github.com/confhub/confhub/events"
	"github.com/confhub/confhub/grants"
	"github.com/confhub/confhub/internal/apperr"
	"github.com/confhub/confhub/internal/applications"
)

// The stand-ins below replace the stores in the fuzz test only: they run the
// real validation where it is cheap and keep nothing, so the fuzzer
// exercises routing, decoding, validation and error mapping at full speed.
// Each stands for PostgreSQL in one respect: a string it could not store
// (NUL, invalid UTF-8) that reaches it is an internal error, as the database
// would make it, so a check the edge missed shows up as a 500. The real
// stores are covered by the other tests in this package.
type memDeps struct{}

var (
	fuzzApp   = uuid.MustParse("00000000-0000-4000-8000-000000000001")
	fuzzGrant = uuid.MustParse("00000000-0000-4000-8000-000000000002")
)

// stored fails the way PostgreSQL would on any string among vs: struct
// fields, map keys and values, slices, pointers, and the JSON text of a
// json.RawMessage (jsonb).
func stored(vs ...any) error {
	for _, v := range vs {
		if err := storable(reflect.ValueOf(v)); err != nil {
			return err
		}
	}
	return nil
}

var rawMessage = reflect.TypeFor[json.RawMessage]()

func storable(v reflect.Value) error {
	switch v.Kind() {
	case reflect.String:
		if s := v.String(); strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) {
			return fmt.Errorf("ERROR: invalid byte sequence for encoding \"UTF8\" (SQLSTATE 22021): %+q", s)
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return storable(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				if err := storable(v.Field(i)); err != nil {
					return err
				}
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if err := storable(it.Key()); err != nil {
				return err
			}
			if err := storable(it.Value()); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type() == rawMessage {
			// Text that is not JSON is refused by the decoders before
			// anything is stored; JSON text is stored as jsonb.
			var doc any
			if json.Unmarshal(v.Bytes(), &doc) == nil && (!utf8.Valid(v.Bytes()) || stored(doc) != nil) {
				return fmt.Errorf("ERROR: unsupported Unicode escape sequence (SQLSTATE 22P05)")
			}
			return nil
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return nil // bytea
		}
		for i := range v.Len() {
			if err := storable(v.Index(i)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (memDeps) Authenticate(_ context.Context, key string) (uuid.UUID, error) {
	return fuzzApp, stored(key)
}
func (memDeps) Ping(context.Context) error { return nil }
func (memDeps) Get(context.Context, uuid.UUID) (applications.Application, error) {
	return applications.Application{ID: fuzzApp, Name: "fuzz"}, nil
}
func (memDeps) ListRedirectURIs(context.Context, uuid.UUID) ([]applications.RedirectURI, error) {
	return nil, nil
}
func (memDeps) CreateRedirectURI(_ context.Context, _ uuid.UUID, in applications.RedirectURIInput) (applications.RedirectURI, error) {
	if err := stored(in); err != nil {
		return applications.RedirectURI{}, err
	}
	return applications.ValidateNewRedirectURI(in)
}
func (memDeps) GetRedirectURI(_ context.Context, _ uuid.UUID, id string) (applications.RedirectURI, error) {
	return applications.RedirectURI{}, stored(id)
}
func (memDeps) UpdateRedirectURI(_ context.Context, _ uuid.UUID, id string, in applications.RedirectURIInput) (applications.RedirectURI, error) {
	if err := stored(id, in); err != nil {
		return applications.RedirectURI{}, err
	}
	return applications.RedirectURI{}, applications.ValidateRedirectURIChange(in)
}
func (memDeps) DeleteRedirectURI(_ context.Context, _ uuid.UUID, id string) error { return stored(id) }
func (memDeps) OriginAllowed(_ context.Context, origin string, _ *uuid.UUID) (bool, error) {
	return false, stored(origin)
}

// memPages knows one public booking page, slug "demo".
type memPages struct{}

var memPage = SchedulerPage{ApplicationID: uuid.MustParse("6f1c1a52-8d1e-4c43-9a55-0a5f2b8e9d01"),
	ConfigurationID: uuid.MustParse("0f8c5b1e-2a3d-4c5e-8f90-1a2b3c4d5e6f"), Slug: "demo"}

func (memPages) PageBySlug(_ context.Context, slug, clientID string) (SchedulerPage, error) {
	if err := stored(slug + clientID); err != nil {
		return SchedulerPage{}, err
	}
	if slug != "demo" {
		return SchedulerPage{}, apperr.NotFoundf("no booking page %q", slug)
	}
	return memPage, nil
}
func (memPages) PageByConfiguration(_ context.Context, id string) (SchedulerPage, error) {
	if err := stored(id); err != nil {
		return SchedulerPage{}, err
	}
	if id != memPage.ConfigurationID.String() {
		return SchedulerPage{}, apperr.NotFoundf("configuration not found")
	}
	return memPage, nil
}
func (memPages) PageByBookingRef(_ context.Context, ref string) (SchedulerPage, error) {
	if err := stored(ref); err != nil {
		return SchedulerPage{}, err
	}
	return SchedulerPage{}, apperr.NotFoundf("booking not found")
}

type memConnectors struct{}

func (memConnectors) Create(_ context.Context, _ uuid.UUID, in connectors.CreateInput) (connectors.Connector, error) {
	if err := stored(in); err != nil {
		return connectors.Connector{}, err
	}
	p, name, _, err := connectors.ValidateCreate(in)
	return connectors.Connector{Provider: p, Name: name, CreatedAt: time.Now()}, err
}
func (memConnectors) List(context.Context, uuid.UUID, int, int) ([]connectors.Connector, error) {
	return nil, nil
}
func (memConnectors) Get(_ context.Context, _ uuid.UUID, provider, level string) (connectors.Connector, error) {
	p, err := connectors.ParseProvider("provider", provider)
	if err == nil {
		_, err = connectors.ParseLevel("level", level)
	}
	return connectors.Connector{Provider: p}, err
}
func (memConnectors) Update(_ context.Context, _ uuid.UUID, provider, level string, in connectors.UpdateInput) (connectors.Connector, error) {
	if err := stored(in); err != nil {
		return connectors.Connector{}, err
	}
	p, _, _, err := connectors.ValidateUpdate(provider, in)
	if err == nil {
		_, err = connectors.ParseLevel("level", level)
	}
	return connectors.Connector{Provider: p}, err
}
func (memConnectors) Delete(_ context.Context, _ uuid.UUID, provider, level string) error {
	_, err := connectors.ParseProvider("provider", provider)
	if err == nil {
		_, err = connectors.ParseLevel("level", level)
	}
	return err
}

type memGrants struct{}

func (memGrants) StartAuth(_ context.Context, q grants.AuthRequest) (string, error) {
	return "https://zoom.example/oauth/authorize", stored(q)
}
func (memGrants) Callback(_ context.Context, q url.Values) (string, error) {
	return "https://app.example/cb?code=c", stored(q)
}
func (memGrants) ExchangeCode(_ context.Context, r grants.TokenRequest) (grants.TokenResponse, error) {
	if err := stored(r); err != nil {
		return grants.TokenResponse{}, err
	}
	return grants.TokenResponse{}, &apperr.OAuthError{Status: http.StatusBadRequest, Code: "invalid_grant", Description: "unknown code"}
}
func (memGrants) RevokeGrantToken(_ context.Context, token string) error { return stored(token) }
func (memGrants) AuthenticateGrantToken(_ context.Context, token string) (uuid.UUID, uuid.UUID, error) {
	return fuzzApp, fuzzGrant, stored(token)
}
func (memGrants) ConnectCustom(_ context.Context, _ uuid.UUID, in grants.CustomInput) (grants.Grant, error) {
	return grants.Grant{ID: fuzzGrant, Provider: in.Provider}, stored(in)
}
func (memGrants) HandleZoomWebhook(_ context.Context, timestamp, signature string, body []byte) (*grants.URLValidation, *grants.MeetingNotice, error) {
	if err := stored(timestamp, signature, json.RawMessage(body)); err != nil {
		return nil, nil, err
	}
	return nil, nil, apperr.Unauthorizedf("x-zm-signature does not verify")
}
func (memGrants) List(_ context.Context, _ uuid.UUID, f grants.ListFilter) ([]grants.Grant, error) {
	return nil, stored(f)
}
func (memGrants) Get(_ context.Context, _ uuid.UUID, id string) (grants.Grant, error) {
	return grants.Grant{ID: fuzzGrant}, stored(id)
}
func (memGrants) Update(_ context.Context, _ uuid.UUID, id string, in grants.UpdateInput) (grants.Grant, error) {
	return grants.Grant{ID: fuzzGrant}, stored(id, in)
}
func (memGrants) Delete(_ context.Context, _ uuid.UUID, id string) error { return stored(id) }

type memCalendars struct{}

func (memCalendars) CalendarGrant(_ context.Context, _ uuid.UUID, grantID string) (uuid.UUID, error) {
	return fuzzGrant, stored(grantID)
}
func (memCalendars) CreateCalendar(_ context.Context, _, _ uuid.UUID, in events.CalendarInput) (events.Calendar, error) {
	return events.Calendar{}, stored(in)
}
func (memCalendars) ListCalendars(context.Context, uuid.UUID, uuid.UUID) ([]events.Calendar, error) {
	return nil, nil
}
func (memCalendars) GetCalendar(_ context.Context, _, _ uuid.UUID, id string) (events.Calendar, error) {
	return events.Calendar{}, stored(id)
}
func (memCalendars) UpdateCalendar(_ context.Context, _, _ uuid.UUID, id string, in events.CalendarInput) (events.Calendar, error) {
	return events.Calendar{}, stored(id, in)
}
func (memCalendars) DeleteCalendar(_ context.Context, _, _ uuid.UUID, id string) (events.Calendar, error) {
	return events.Calendar{}, stored(id)
}
func (memCalendars) GetEvent(_ context.Context, _, _ uuid.UUID, id string) (events.Event, error) {
	return events.Event{}, stored(id)
}
func (memCalendars) ListEvents(_ context.Context, _, _ uuid.UUID, f events.ListFilter) ([]events.Event, string, error) {
	return nil, "", stored(f)
}
func (memCalendars) Orphans(_ context.Context, _ uuid.UUID, confGrantID string) ([]events.Orphan, error) {
	return nil, stored(confGrantID)
}

type memEvents struct{}

func (memEvents) CreateEvent(_ context.Context, _ uuid.UUID, grantID, calendarID string, in events.EventInput, idemKey string, _ []byte) (events.Event, error) {
	return events.Event{}, stored(grantID, calendarID, in, idemKey)
}
func (memEvents) UpdateEvent(_ context.Context, _ uuid.UUID, grantID, eventID string, in events.EventInput) (events.Event, error) {
	return events.Event{}, stored(grantID, eventID, in)
}
func (memEvents) DeleteEvent(_ context.Context, _ uuid.UUID, grantID, eventID string) error {
	return stored(grantID, eventID)
}
func (memEvents) FollowZoomMeeting(_ context.Context, n grants.MeetingNotice) error {
	return stored(n.Event, n.Object, n.OldObject)
}

// fuzzHeaders are the headers the fuzzer sets: those the service reads, and
// some it does not.
var fuzzHeaders = []string{"Authorization", "Idempotency-Key", "X-Zm-Signature", "X-Zm-Request-Timestamp", "Content-Type", "X-Request-Id", "User-Agent"}

// unstorableText is the fuzz test's own judgement of a request: whether a
// string the service reads holds text PostgreSQL cannot (path parameter,
// query name or value, read header, JSON body); then the answer must be 400.
// oauthForm says the route takes forms (the OAuth endpoints); every other
// route reads its body as JSON whatever the Content-Type.
func unstorableText(param string, hasParam, oauthForm bool, req *http.Request, body []byte) bool {
	bad := func(s string) bool { return strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) }
	if hasParam && param != "" && !strings.Contains(param, "/") && bad(param) {
		return true
	}
	for k, vs := range req.URL.Query() {
		if bad(k) || stored(vs) != nil {
			return true
		}
	}
	for _, h := range readHeaders {
		if stored(req.Header.Values(h)) != nil {
			return true
		}
	}
	if mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type")); oauthForm && mt == "application/x-www-form-urlencoded" {
		return false // a form: a malformed one is refused by the route, not judged here
	}
	var doc any
	return json.Unmarshal(body, &doc) == nil && (!utf8.Valid(body) || stored(doc) != nil)
}

// FuzzRequestDecoders sends arbitrary requests to every route: a path
// parameter, a query string, one header (read by the service or not), a body,
// with an API key, a grant token or no credentials. The answer must never be
// a panic or a 5xx; a 4xx carries an error body; text the database cannot
// hold, anywhere the service reads, is a 400 before it reaches a store.
func FuzzRequestDecoders(f *testing.F) {
	// The booking pages' files: a stand-in for the installed bundle.
	assets := f.TempDir()
	if err := os.MkdirAll(filepath.Join(assets, "nylas-scheduling"), 0o755); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(assets, "nylas-scheduling", "nylas-scheduling.es.js"), []byte("export function defineCustomElement() {}\n"), 0o644); err != nil {
		f.Fatal(err)
	}
	s := New(Deps{Log: slog.New(slog.DiscardHandler), Auth: memDeps{}, Applications: memDeps{}, Connectors: memConnectors{},
		Grants: memGrants{}, Calendars: memCalendars{}, Events: memEvents{}, DB: memDeps{}, SchedulerPages: memPages{},
		PublicURL: "http://127.0.0.1:8080", WebElementsDir: assets})
	h := s.Handler()
	routes := s.Routes()
	index := func(method, path string) uint8 {
		for i, r := range routes {
			if r.Method == method && r.Path == path {
				return uint8(i)
			}
		}
		f.Fatalf("no route %s %s", method, path)
		return 0
	}
	const (
		noAuth uint8 = iota
		apiKey
		grantToken
	)
	type seed struct {
		route        uint8
		param, query string
		header       uint8
		value        string
		body         string
	}
	var seeds []seed
	// Bodies, as before, on the routes that take them.
	for _, body := range []string{
		`{"provider":"zoom","settings":{"client_id":"a","client_secret":"b","secret_token":"c"}}`,
		`{"provider":"virtual-calendar","name":"x","settings":{}}`,
		`{"provider":"zoom","scope":[],"settings":null}`,
		`{"url":"https://example.com/cb","platform":"web"}`,
		`{"url":"http://localhost:1/x#y"}`,
		`{"name":"\u0000"}`, `[`, `null`, `"str"`, `{"settings":{"client_id":1e400}}`,
		`{"title":"t","when":{"start_time":1,"end_time":2},"conferencing":{"provider":"Zoom Meeting","autocreate":{"conf_grant_id":"g","conf_settings":{"topic":"a\u0000","agenda":"b"}}}}`,
		"{\"title\":\"caf\xe9\"}", `{"metadata":{"k\u0000":"v"}}`, "{\"\xff\":1}", `{"settings":{"email":"a\u0000"}}`,
	} {
		for _, r := range []uint8{index("POST", "/v3/connectors"), index("PATCH", "/v3/connectors/:provider"), index("PUT", "/v3/connectors/:provider"),
			index("POST", "/v3/applications/redirect-uris"), index("PATCH", "/v3/applications/redirect-uris/:id"),
			index("POST", "/v3/grants/:grant_id/events"), index("PUT", "/v3/grants/:grant_id/events/:event_id"),
			index("POST", "/v3/connect/custom"), index("POST", "/v3/connect/token"), index("POST", "/v3/connect/zoom/webhook")} {
			seeds = append(seeds, seed{route: r, param: "zoom", body: body})
		}
	}
	// NUL and invalid UTF-8 in every other position.
	for _, bad := range []struct{ raw, esc string }{{"\x00", "%00"}, {"\xff", "%FF"}} {
		seeds = append(seeds,
			seed{route: index("GET", "/v3/grants/:grant_id"), param: "g" + bad.raw},
			seed{route: index("DELETE", "/v3/grants/:grant_id/events/:event_id"), param: bad.raw},
			seed{route: index("GET", "/v3/connectors/:provider"), param: "zoom" + bad.raw},
			seed{route: index("GET", "/v3/connect/auth"), query: "client_id=c&redirect_uri=" + bad.esc},
			seed{route: index("GET", "/v3/connect/auth"), query: "redirect_uri=https://a.example/cb&state=s" + bad.esc},
			seed{route: index("GET", "/v3/connect/auth"), query: "state=" + bad.raw},
			seed{route: index("GET", "/v3/grants"), query: "email=a" + bad.esc + "@example.com"},
			seed{route: index("GET", "/v3/grants"), query: "x" + bad.esc + "=1"},
			seed{route: index("GET", "/v3/connect/callback"), query: "state=s" + bad.esc + "&code=c"},
			seed{route: index("POST", "/v3/connect/revoke"), query: "token=gt_" + bad.esc},
			seed{route: index("POST", "/v3/grants/:grant_id/events"), header: 1, value: "key" + bad.raw, body: `{"title":"t"}`},
			seed{route: index("GET", "/v3/applications"), header: 0, value: "Bearer ck_" + bad.raw},
			seed{route: index("POST", "/v3/connect/zoom/webhook"), header: 2, value: "v0=" + bad.raw, body: `{"event":"app_deauthorized"}`},
			seed{route: index("POST", "/v3/connect/zoom/webhook"), header: 3, value: "1" + bad.raw, body: `{}`},
			seed{route: index("POST", "/v3/connect/zoom/webhook"), header: 3, value: "1", body: `{"event":"app_deauthorized","payload":{"client_id":"c` + map[string]string{"\x00": `\u0000`, "\xff": "\xff"}[bad.raw] + `"}}`},
			seed{route: index("POST", "/v3/connect/token"), header: 4, value: "application/x-www-form-urlencoded", body: "grant_type=authorization_code&code=" + bad.esc},
			seed{route: index("GET", "/v3/connectors"), header: 5, value: bad.raw},
		)
	}
	for _, sd := range seeds {
		for _, auth := range []uint8{noAuth, apiKey, grantToken} {
			f.Add(sd.route, sd.param, sd.query, sd.header, sd.value, []byte(sd.body), auth)
		}
	}
	f.Fuzz(func(t *testing.T, route uint8, param, rawQuery string, header uint8, value string, body []byte, auth uint8) {
		rt := routes[int(route)%len(routes)]
		path, hasParam := rt.Path, strings.Contains(rt.Path, "/:")
		for _, seg := range strings.Split(rt.Path, "/") {
			if strings.HasPrefix(seg, ":") {
				path = strings.Replace(path, seg, param, 1)
			}
		}
		req := httptest.NewRequest(rt.Method, "/", bytes.NewReader(body))
		req.URL = &url.URL{Path: path, RawQuery: rawQuery} // the path as the server decodes it
		switch auth % 3 {
		case apiKey:
			req.Header.Set("Authorization", "Bearer ck_fuzz")
		case grantToken:
			req.Header.Set("Authorization", "Bearer gt_fuzz")
		}
		if value != "" { // an empty one would take the credentials away
			req.Header.Set(fuzzHeaders[int(header)%len(fuzzHeaders)], value)
		}
		what := fmt.Sprintf("%s %q ?%q %s=%q auth=%d with %q", rt.Method, path, rawQuery, fuzzHeaders[int(header)%len(fuzzHeaders)], value, auth%3, body)
		judged := strings.HasPrefix(rt.Path, "/v3/") && unstorableText(param, hasParam, oauthRoutes[rt.Path], req, body)

		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s: %d %s", what, rec.Code, rec.Body)
		}
		if rec.Header().Get("x-request-id") == "" {
			t.Fatalf("%s: no x-request-id", what)
		}
		var answer struct {
			Error any `json:"error"`
		}
		if strings.HasPrefix(rt.Path, "/scheduler/") {
			// Pages for people: a refusal is a page (or, for a file, a line) saying why.
			if ct := rec.Header().Get("Content-Type"); rec.Code >= 400 && (rec.Body.Len() == 0 ||
				!strings.HasPrefix(ct, "text/html") && !strings.HasPrefix(ct, "text/plain")) {
				t.Fatalf("%s: %d without a message (%s): %s", what, rec.Code, ct, rec.Body)
			}
		} else if rec.Code >= 400 && (json.Unmarshal(rec.Body.Bytes(), &answer) != nil || answer.Error == nil) {
			t.Fatalf("%s: %d without an error: %s", what, rec.Code, rec.Body)
		}
		if judged && (rec.Code != http.StatusBadRequest ||
			!bytes.Contains(rec.Body.Bytes(), []byte(`"invalid_request_error"`)) && !bytes.Contains(rec.Body.Bytes(), []byte(`"error":"invalid_request"`))) {
			t.Fatalf("%s: text the database cannot hold answered %d, want 400 invalid_request: %s", what, rec.Code, rec.Body)
		}
	})
}
