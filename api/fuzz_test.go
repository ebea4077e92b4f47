package api

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/confhub/confhub/connectors"
	"github.com/confhub/confhub/internal/applications"
)

// memDeps stands in for the stores in the fuzz test only: it runs the real
// validation and keeps nothing, so the fuzzer exercises decoding, validation
// and error mapping at full speed. The real stores are covered by the other
// tests in this package against PostgreSQL.
type memDeps struct{}

var fuzzApp = uuid.MustParse("00000000-0000-4000-8000-000000000001")

func (memDeps) Authenticate(context.Context, string) (uuid.UUID, error) { return fuzzApp, nil }
func (memDeps) Ping(context.Context) error                              { return nil }
func (memDeps) Get(context.Context, uuid.UUID) (applications.Application, error) {
	return applications.Application{ID: fuzzApp, Name: "fuzz"}, nil
}
func (memDeps) ListRedirectURIs(context.Context, uuid.UUID) ([]applications.RedirectURI, error) {
	return nil, nil
}
func (memDeps) CreateRedirectURI(_ context.Context, _ uuid.UUID, in applications.RedirectURIInput) (applications.RedirectURI, error) {
	return applications.ValidateNewRedirectURI(in)
}
func (memDeps) GetRedirectURI(context.Context, uuid.UUID, string) (applications.RedirectURI, error) {
	return applications.RedirectURI{}, nil
}
func (memDeps) UpdateRedirectURI(_ context.Context, _ uuid.UUID, _ string, in applications.RedirectURIInput) (applications.RedirectURI, error) {
	return applications.RedirectURI{}, applications.ValidateRedirectURIChange(in)
}
func (memDeps) DeleteRedirectURI(context.Context, uuid.UUID, string) error { return nil }

type memConnectors struct{}

func (memConnectors) Create(_ context.Context, _ uuid.UUID, in connectors.CreateInput) (connectors.Connector, error) {
	p, name, _, err := connectors.ValidateCreate(in)
	return connectors.Connector{Provider: p, Name: name, CreatedAt: time.Now()}, err
}
func (memConnectors) List(context.Context, uuid.UUID, int, int) ([]connectors.Connector, error) {
	return nil, nil
}
func (memConnectors) Get(_ context.Context, _ uuid.UUID, provider string) (connectors.Connector, error) {
	p, err := connectors.ParseProvider("provider", provider)
	return connectors.Connector{Provider: p}, err
}
func (memConnectors) Update(_ context.Context, _ uuid.UUID, provider string, in connectors.UpdateInput) (connectors.Connector, error) {
	p, _, _, err := connectors.ValidateUpdate(provider, in)
	return connectors.Connector{Provider: p}, err
}
func (memConnectors) Delete(context.Context, uuid.UUID, string) error { return nil }

// FuzzRequestDecoders sends arbitrary bodies to every route that takes one:
// the answer must be a 2xx or a 4xx with the error envelope, never a panic or
// a 5xx.
func FuzzRequestDecoders(f *testing.F) {
	for _, seed := range []string{
		`{"provider":"zoom","settings":{"client_id":"a","client_secret":"b","secret_token":"c"}}`,
		`{"provider":"virtual-calendar","name":"x","settings":{}}`,
		`{"provider":"zoom","scope":[],"settings":null}`,
		`{"url":"https://example.com/cb","platform":"web"}`,
		`{"url":"http://localhost:1/x#y"}`,
		`{"name":"\u0000"}`, `[`, `null`, `"str"`, `{"settings":{"client_id":1e400}}`,
	} {
		for route := range 5 {
			f.Add(uint8(route), []byte(seed))
		}
	}
	s := New(Deps{Log: slog.New(slog.DiscardHandler), Auth: memDeps{}, Applications: memDeps{}, Connectors: memConnectors{}, DB: memDeps{}})
	h := s.Handler()
	routes := []struct{ method, path string }{
		{"POST", "/v3/connectors"},
		{"PATCH", "/v3/connectors/zoom"},
		{"PUT", "/v3/connectors/virtual-calendar"},
		{"POST", "/v3/applications/redirect-uris"},
		{"PATCH", "/v3/applications/redirect-uris/" + uuid.NewString()},
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		rt := routes[int(route)%len(routes)]
		req := httptest.NewRequest(rt.method, rt.path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer fuzz")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s with %q: %d %s", rt.method, rt.path, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 && !bytes.Contains(rec.Body.Bytes(), []byte(`"invalid_request_error"`)) {
			t.Fatalf("%s %s with %q: %d without invalid_request_error: %s", rt.method, rt.path, body, rec.Code, rec.Body)
		}
		if rec.Header().Get("x-request-id") == "" {
			t.Fatal("no x-request-id")
		}
	})
}
