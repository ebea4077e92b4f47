package zoom_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/confhub/confhub/connectors/zoom"
	"github.com/confhub/confhub/connectors/zoom/zoomsim"
)

func TestAuthorizationCodeWithPKCE(t *testing.T) {
	f := newFixture(t, zoomsim.Options{}, allScopes, "pro")
	verifier := "verifier-0123456789-0123456789-0123456789-0123456789"
	authURL := f.client.AuthCodeURL(f.app, redirectURI, "xyz", verifier)
	q, _ := url.Parse(authURL)
	if q.Query().Get("code_challenge_method") != "S256" || q.Query().Get("code_challenge") == "" || q.Query().Get("scope") != "" {
		t.Fatalf("authorize URL %s: want S256 PKCE and no scope", authURL)
	}
	back := f.consent(authURL, f.user.Email, "allow")
	if back.Query().Get("state") != "xyz" || back.Query().Get("code") == "" || !strings.HasPrefix(back.String(), redirectURI) {
		t.Fatalf("redirect back: %s", back)
	}
	code := back.Query().Get("code")

	if _, err := f.client.Exchange(context.Background(), f.app, redirectURI, code, "wrong-verifier-0123456789-0123456789-0123456789"); err == nil {
		t.Fatal("a wrong PKCE verifier was accepted")
	}
	// The failed attempt burned the code, as a careful server does.
	if _, err := f.client.Exchange(context.Background(), f.app, redirectURI, code, verifier); err == nil {
		t.Fatal("the code survived a failed PKCE check")
	}

	tok := f.connect()
	if tok.AccessToken == "" || tok.RefreshToken == "" || !tok.HasScope("meeting:write:meeting") || tok.Expiry.Sub(f.clock.Now()) < 3590*time.Second {
		t.Fatalf("token %+v", tok)
	}
	me, err := f.client.Me(context.Background(), tok.AccessToken)
	if err != nil || me.ID != f.user.ID || me.Email != f.user.Email || me.AccountID != f.user.AccountID || me.Type != 2 {
		t.Fatalf("Me = %+v, %v", me, err)
	}
}

func TestAuthorizationCodeIsSingleUseAndExpires(t *testing.T) {
	f := newFixture(t, zoomsim.Options{}, allScopes, "pro")
	back := f.consent(f.client.AuthCodeURL(f.app, redirectURI, "s", ""), f.user.Email, "allow")
	code := back.Query().Get("code")
	if _, err := f.client.Exchange(context.Background(), f.app, redirectURI, code, ""); err != nil {
		t.Fatal(err)
	}
	_, err := f.client.Exchange(context.Background(), f.app, redirectURI, code, "")
	if ze := asZoomError(t, err); ze.HTTPStatus != 400 || ze.Class() != zoom.Terminal {
		t.Fatalf("reused code: %v", err)
	}

	back = f.consent(f.client.AuthCodeURL(f.app, redirectURI, "s", ""), f.user.Email, "allow")
	f.clock.Advance(5*time.Minute + time.Second)
	if _, err := f.client.Exchange(context.Background(), f.app, redirectURI, back.Query().Get("code"), ""); err == nil {
		t.Fatal("a code older than 5 minutes was accepted")
	}

	back = f.consent(f.client.AuthCodeURL(f.app, redirectURI, "s", ""), f.user.Email, "allow")
	if _, err := f.client.Exchange(context.Background(), f.app, "https://app.example.com/other", back.Query().Get("code"), ""); err == nil {
		t.Fatal("a code was exchanged with another redirect_uri")
	}
	bad := zoom.App{ClientID: f.app.ClientID, ClientSecret: "nope"}
	_, err = f.client.Exchange(context.Background(), bad, redirectURI, "x", "")
	if ze := asZoomError(t, err); ze.HTTPStatus != 401 || ze.OAuthError != "invalid_client" {
		t.Fatalf("wrong client secret: %v", err)
	}
}

func TestConsentPageRefusals(t *testing.T) {
	f := newFixture(t, zoomsim.Options{}, allScopes, "pro")
	for name, u := range map[string]string{
		"unknown client":           f.client.AuthCodeURL(zoom.App{ClientID: "who"}, redirectURI, "s", ""),
		"unregistered redirect":    f.client.AuthCodeURL(f.app, "https://evil.example.com/cb", "s", ""),
		"redirect with extra path": f.client.AuthCodeURL(f.app, redirectURI+"/x", "s", ""),
	} {
		resp, err := noRedirect.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(string(body), "unable to complete") {
			t.Errorf("%s: %d, Location %q: want an error page and no redirect", name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	back := f.consent(f.client.AuthCodeURL(f.app, redirectURI, "st", ""), f.user.Email, "deny")
	if back.Query().Get("error") != "access_denied" || back.Query().Get("state") != "st" || back.Query().Get("code") != "" {
		t.Fatalf("deny: %s", back)
	}
}

// Zoom's refresh tokens rotate and are single use: the second use of the
// same refresh token fails exactly as Zoom fails it.
func TestRefreshTokenUsedTwiceFailsTheSecondTime(t *testing.T) {
	f := newFixture(t, zoomsim.Options{}, allScopes, "pro")
	first := f.connect()
	ctx := context.Background()

	second, err := f.client.Refresh(ctx, f.app, first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
		t.Fatal("refresh did not rotate the tokens")
	}
	_, err = f.client.Refresh(ctx, f.app, first.RefreshToken)
	ze := asZoomError(t, err)
	if ze.HTTPStatus != 400 || ze.OAuthError != "invalid_grant" || ze.Message != "Invalid Token!" || !zoom.IsInvalidGrant(err) || ze.Class() != zoom.Terminal {
		t.Fatalf("reused refresh token: %+v", ze)
	}
	// The superseded access token is dead too (124), the new one works.
	_, err = f.client.Me(ctx, first.AccessToken)
	if ze := asZoomError(t, err); ze.HTTPStatus != 401 || ze.Code != 124 || ze.Class() != zoom.NeedsRefresh {
		t.Fatalf("superseded access token: %v", err)
	}
	if _, err := f.client.Me(ctx, second.AccessToken); err != nil {
		t.Fatalf("new access token: %v", err)
	}
	// Rotation goes on.
	third, err := f.client.Refresh(ctx, f.app, second.RefreshToken)
	if err != nil || third.RefreshToken == second.RefreshToken {
		t.Fatalf("second rotation: %v", err)
	}
	if got := f.sim.Stats().Refreshes[f.app.ClientID]; got != 3 {
		t.Fatalf("sim counted %d refreshes, want 3", got)
	}
}

func TestAccessTokenExpires(t *testing.T) {
	f := newFixture(t, zoomsim.Options{TokenTTL: 10 * time.Minute}, allScopes, "pro")
	tok := f.connect()
	if got := tok.Expiry.Sub(f.clock.Now()); got != 10*time.Minute {
		t.Fatalf("expires in %v, want the configured 10m", got)
	}
	f.clock.Advance(10*time.Minute + time.Second)
	_, err := f.client.Me(context.Background(), tok.AccessToken)
	if ze := asZoomError(t, err); ze.Code != 124 || ze.Class() != zoom.NeedsRefresh || !strings.Contains(ze.Message, "expired") {
		t.Fatalf("expired token: %v", err)
	}
	fresh, err := f.client.Refresh(context.Background(), f.app, tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.Me(context.Background(), fresh.AccessToken); err != nil {
		t.Fatal(err)
	}
}

func TestTokenOnlyInTheHeader(t *testing.T) {
	f := newFixture(t, zoomsim.Options{}, allScopes, "pro")
	tok := f.connect()
	resp, err := http.Get(f.srv.URL + "/v2/users/me?access_token=" + url.QueryEscape(tok.AccessToken))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(string(body), `"code":124`) {
		t.Fatalf("token in query: %d %s", resp.StatusCode, body)
	}
}

func TestAccountCredentials(t *testing.T) {
	f := newFixture(t, zoomsim.Options{}, []string{"meeting:write:meeting:admin", "user:read:user:admin", "meeting:read:meeting:admin"}, "business")
	// Only a server-to-server app of the account gets account tokens.
	if err := f.sim.AddApp(zoomsim.AppSpec{ClientID: f.app.ClientID, ClientSecret: f.app.ClientSecret,
		Scopes: []string{"meeting:write:meeting:admin", "user:read:user:admin", "meeting:read:meeting:admin"}, AccountID: f.user.AccountID}); err != nil {
		t.Fatal(err)
	}
	tok, err := f.client.AccountCredentials(context.Background(), f.app, f.user.AccountID)
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken != "" {
		t.Fatal("account credentials gave a refresh token")
	}
	_, err = f.client.CreateMeeting(context.Background(), tok.AccessToken, "me", zoom.MeetingRequest{Topic: "x"})
	if ze := asZoomError(t, err); ze.Code != 1001 {
		t.Fatalf(`account token with "me": %v`, err)
	}
	m, err := f.client.CreateMeeting(context.Background(), tok.AccessToken, f.user.Email, zoom.MeetingRequest{Topic: "by email"})
	if err != nil || m.HostID != f.user.ID {
		t.Fatalf("create for a named user: %+v %v", m, err)
	}
	if _, err := f.client.AccountCredentials(context.Background(), f.app, "no-such-account"); err == nil {
		t.Fatal("unknown account accepted")
	}
}

func TestRevokeKillsTokensAndNotifiesTheApp(t *testing.T) {
	rec := newWebhookReceiver(t, "whsec-123")
	f := newFixture(t, zoomsim.Options{}, allScopes, "pro")
	if err := f.sim.AddApp(zoomsim.AppSpec{ClientID: f.app.ClientID, ClientSecret: f.app.ClientSecret,
		RedirectURIs: []string{redirectURI}, Scopes: allScopes, WebhookURL: rec.url, SecretToken: "whsec-123"}); err != nil {
		t.Fatal(err)
	}
	f.sim.WaitWebhooks() // the URL validation that registering a webhook URL triggers
	tok := f.connect()
	if err := f.client.Revoke(context.Background(), f.app, tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.Me(context.Background(), tok.AccessToken); zoom.ClassOf(err) != zoom.NeedsRefresh {
		t.Fatalf("revoked access token still works: %v", err)
	}
	if _, err := f.client.Refresh(context.Background(), f.app, tok.RefreshToken); !zoom.IsInvalidGrant(err) {
		t.Fatalf("revoked refresh token: %v", err)
	}
	f.sim.WaitWebhooks()
	ev := rec.events()
	if len(ev) != 2 || ev[0]["event"] != "endpoint.url_validation" || ev[1]["event"] != "app_deauthorized" {
		t.Fatalf("webhook events: %v", ev)
	}
	p := ev[1]["payload"].(map[string]any)
	if p["user_id"] != f.user.ID || p["account_id"] != f.user.AccountID || p["client_id"] != f.app.ClientID || p["deauthorization_time"] == "" {
		t.Fatalf("app_deauthorized payload: %v", p)
	}
}
