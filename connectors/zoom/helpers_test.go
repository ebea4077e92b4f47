package zoom_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/confhub/confhub/connectors/zoom"
	"github.com/confhub/confhub/connectors/zoom/zoomsim"
)

const redirectURI = "https://app.example.com/zoom/callback"

var allScopes = []string{"meeting:write:meeting", "meeting:update:meeting", "meeting:delete:meeting",
	"meeting:read:meeting", "meeting:read:list_meetings", "user:read:user"}

// clock is a settable time source shared by the simulator and the client.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	t      *testing.T
	sim    *zoomsim.Sim
	srv    *httptest.Server
	client *zoom.Client
	app    zoom.App
	user   zoomsim.User
	clock  *clock
	// refreshToken is the latest refresh token connect obtained.
	refreshToken string
}

func newFixture(t *testing.T, opts zoomsim.Options, scopes []string, plan string) *fixture {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)}
	if opts.Now == nil {
		opts.Now = clk.Now
	}
	sim := zoomsim.New(opts)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	app := zoom.App{ClientID: "client-abc", ClientSecret: "secret-xyz"}
	if err := sim.AddApp(zoomsim.AppSpec{ClientID: app.ClientID, ClientSecret: app.ClientSecret,
		RedirectURIs: []string{redirectURI}, Scopes: scopes}); err != nil {
		t.Fatal(err)
	}
	u, err := sim.AddUser(zoomsim.UserSpec{Email: "host@example.com", Plan: plan})
	if err != nil {
		t.Fatal(err)
	}
	c := zoom.New(zoom.Config{OAuthURL: srv.URL, APIURL: srv.URL + "/v2", Now: opts.Now})
	return &fixture{t: t, sim: sim, srv: srv, client: c, app: app, user: u, clock: clk}
}

// noRedirect is a browser that stops at redirects so the test can read them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// consent walks the consent page as a browser would and returns the redirect
// back to the app.
func (f *fixture) consent(authURL, email, action string) *url.URL {
	f.t.Helper()
	resp, err := noRedirect.Get(authURL)
	if err != nil {
		f.t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), `name="email"`) || !strings.Contains(string(page), "Authorize") {
		f.t.Fatalf("consent page: %d %s", resp.StatusCode, page)
	}
	u, _ := url.Parse(authURL)
	form := url.Values{"email": {email}, "action": {action}}
	resp, err = noRedirect.PostForm(f.srv.URL+"/oauth/authorize?"+u.RawQuery, form)
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		f.t.Fatalf("consent submit: %d", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		f.t.Fatal(err)
	}
	return loc
}

// connect runs the whole OAuth dance with PKCE and returns the tokens.
func (f *fixture) connect() *zoom.Token {
	f.t.Helper()
	verifier := "a-verifier-that-is-long-enough-0123456789-abcdefghijklmnop"
	back := f.consent(f.client.AuthCodeURL(f.app, redirectURI, "st4te", verifier), f.user.Email, "allow")
	tok, err := f.client.Exchange(context.Background(), f.app, redirectURI, back.Query().Get("code"), verifier)
	if err != nil {
		f.t.Fatal(err)
	}
	f.refreshToken = tok.RefreshToken
	return tok
}

func asZoomError(t *testing.T, err error) *zoom.Error {
	t.Helper()
	ze, ok := err.(*zoom.Error)
	if !ok {
		t.Fatalf("error %v (%T) is not a *zoom.Error", err, err)
	}
	return ze
}
