package api_test

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/confhub/confhub/connectors/zoom"
	"github.com/confhub/confhub/connectors/zoom/zoomsim"
	"github.com/confhub/confhub/grants"
)

const appRedirect = "https://app.example.com/oauth/callback"

var zoomScopes = []string{"meeting:write:meeting", "meeting:update:meeting", "meeting:delete:meeting", "meeting:read:meeting", "meeting:read:list_meetings", "user:read:user"}

// zoomApp is one application with a Zoom connector whose Zoom app exists at
// the simulator, and a Zoom user.
type zoomApp struct {
	key, clientID, secret, secretToken string
	appID                              uuid.UUID
	user                               zoomsim.User
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (e *env) zoomApp(scopes []string, webhook bool) zoomApp {
	e.t.Helper()
	z := zoomApp{key: e.newApp("zoom-app"), clientID: "zc" + randomHex(6), secret: "zs" + randomHex(12), secretToken: "wt" + randomHex(12)}
	z.appID = e.appID(z.key)
	e.expect(e.do("POST", "/v3/connectors", z.key, map[string]any{"provider": "zoom",
		"settings": map[string]any{"client_id": z.clientID, "client_secret": z.secret, "secret_token": z.secretToken}}), 201, "zoom connector")
	e.expect(e.do("POST", "/v3/applications/redirect-uris", z.key, map[string]any{"url": appRedirect}), 200, "redirect uri")
	spec := zoomsim.AppSpec{ClientID: z.clientID, ClientSecret: z.secret, Scopes: scopes, SecretToken: z.secretToken,
		RedirectURIs: []string{e.srv.URL + "/v3/connect/callback", "https://byo.example.com/cb"}}
	if webhook {
		spec.WebhookURL = e.srv.URL + "/v3/connect/zoom/webhook"
	}
	if err := e.sim.AddApp(spec); err != nil {
		e.t.Fatal(err)
	}
	e.sim.WaitWebhooks() // URL validation against our endpoint
	u, err := e.sim.AddUser(zoomsim.UserSpec{Email: "user-" + randomHex(4) + "@example.com", Plan: "pro"})
	if err != nil {
		e.t.Fatal(err)
	}
	z.user = u
	return z
}

// browser follows nothing by itself, so each hop can be checked.
var browser = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

var formAction = regexp.MustCompile(`<form method="POST" action="([^"]+)"`)

// hostedFlow plays the browser: our /connect/auth, Zoom's consent page and
// its form, our callback, and the final redirect to the application.
func (e *env) hostedFlow(z zoomApp, q url.Values, email, action string) *url.URL {
	e.t.Helper()
	resp, err := browser.Get(e.srv.URL + "/v3/connect/auth?" + q.Encode())
	if err != nil {
		e.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		e.t.Fatalf("/v3/connect/auth: %d %s", resp.StatusCode, body)
	}
	zoomURL := resp.Header.Get("Location")
	if !strings.HasPrefix(zoomURL, e.simURL+"/oauth/authorize?") {
		e.t.Fatalf("auth redirected to %s, not Zoom's authorize page", zoomURL)
	}
	resp, err = browser.Get(zoomURL)
	if err != nil {
		e.t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := formAction.FindSubmatch(page)
	if resp.StatusCode != 200 || m == nil {
		e.t.Fatalf("consent page: %d %s", resp.StatusCode, page)
	}
	resp, err = browser.PostForm(e.simURL+html.UnescapeString(string(m[1])), url.Values{"email": {email}, "action": {action}})
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	callback := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(callback, e.srv.URL+"/v3/connect/callback?") {
		e.t.Fatalf("consent submit: %d to %q", resp.StatusCode, callback)
	}
	resp, err = browser.Get(callback)
	if err != nil {
		e.t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		e.t.Fatalf("callback: %d %s", resp.StatusCode, body)
	}
	back, _ := url.Parse(resp.Header.Get("Location"))
	if !strings.HasPrefix(back.String(), appRedirect+"?") {
		e.t.Fatalf("callback redirected to %s, not the application", back)
	}
	return back
}

func authQuery(z zoomApp, extra map[string]string) url.Values {
	q := url.Values{"client_id": {z.appID.String()}, "redirect_uri": {appRedirect}, "response_type": {"code"},
		"provider": {"zoom"}, "access_type": {"offline"}, "state": {"client-state-42"}}
	for k, v := range extra {
		q.Set(k, v)
	}
	return q
}

func (e *env) count(table string) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func TestHostedOAuthEndToEnd(t *testing.T) {
	e := newEnv(t)
	z := e.zoomApp(zoomScopes, false)

	back := e.hostedFlow(z, authQuery(z, nil), z.user.Email, "allow")
	if back.Query().Get("state") != "client-state-42" || back.Query().Get("code") == "" {
		t.Fatalf("back at the app with %s", back)
	}
	r := e.do("POST", "/v3/connect/token", "", map[string]any{"grant_type": "authorization_code", "client_id": z.appID.String(),
		"client_secret": z.key, "code": back.Query().Get("code"), "redirect_uri": appRedirect})
	e.expect(r, 200, "token exchange")
	if r.Body["request_id"] != nil || r.Body["data"] != nil {
		t.Fatalf("token response is not flat: %s", r.Raw)
	}
	grantID, _ := r.Body["grant_id"].(string)
	access, _ := r.Body["access_token"].(string)
	if grantID == "" || r.Body["provider"] != "zoom" || r.Body["email"] != z.user.Email || r.Body["token_type"] != "Bearer" ||
		!strings.HasPrefix(access, "gt_") || r.Body["expires_in"] != float64(3600) || !strings.Contains(r.Body["scope"].(string), "meeting:write:meeting") {
		t.Fatalf("token response %s", r.Raw)
	}

	g := e.do("GET", "/v3/grants/"+grantID, z.key, nil)
	e.expect(g, 200, "grant")
	if d := g.data(); d["grant_status"] != "valid" || d["provider_user_id"] != z.user.ID || d["email"] != z.user.Email {
		t.Fatalf("grant %s", g.Raw)
	}
	// The grant works: a Zoom token for it reaches the simulated user.
	tok, err := e.grants.Tokens.Get(context.Background(), z.appID, uuid.MustParse(grantID))
	if err != nil {
		t.Fatal(err)
	}
	zc := zoom.New(zoom.Config{OAuthURL: e.simURL, APIURL: e.simURL + "/v2"})
	if me, err := zc.Me(context.Background(), tok.Token); err != nil || me.ID != z.user.ID {
		t.Fatalf("Zoom token of the grant: %+v %v", me, err)
	}

	// The grant-scoped access token reaches its own grant and nothing else.
	e.expect(e.do("GET", "/v3/grants/"+grantID, access, nil), 200, "own grant with its access token")
	e.expect(e.do("GET", "/v3/grants/"+uuid.NewString(), access, nil), 404, "another grant with the access token")
	e.expect(e.do("GET", "/v3/connectors", access, nil), 401, "admin route with the access token")
	e.expect(e.do("POST", "/v3/connect/revoke?token="+url.QueryEscape(access), "", nil), 200, "revoke")
	e.expect(e.do("GET", "/v3/grants/"+grantID, access, nil), 401, "revoked access token")

	// Connecting again re-authenticates the same grant.
	back = e.hostedFlow(z, authQuery(z, nil), z.user.Email, "allow")
	// This time as a form, as many OAuth clients send it.
	r = e.form("/v3/connect/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {z.appID.String()},
		"client_secret": {z.key}, "code": {back.Query().Get("code")}, "redirect_uri": {appRedirect}})
	e.expect(r, 200, "second connection")
	if r.Body["grant_id"] != grantID {
		t.Fatalf("reconnecting made grant %v, want the same %s", r.Body["grant_id"], grantID)
	}
	if n := e.count("grants"); n != 1 {
		t.Fatalf("%d grants after connecting twice", n)
	}
	if logs := e.logs.String(); strings.Contains(logs, tok.Token) || strings.Contains(logs, access) {
		t.Fatal("a token reached the log")
	}
}

// form posts an x-www-form-urlencoded body.
func (e *env) form(path string, v url.Values) response {
	e.t.Helper()
	resp, err := e.client.Post(e.srv.URL+path, "application/x-www-form-urlencoded", strings.NewReader(v.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := response{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	_ = json.Unmarshal(raw, &out.Body)
	return out
}

// The Nylas Node SDK's urlForOAuth2PKCE sends code_challenge_method=s256 and a
// challenge that is base64 (no padding) of the SHA-256 hex digest;
// exchangeCodeForToken sends code_verifier, and (8.4.0) the API key as
// client_secret when none is given.
func TestNylasSDKPKCEShapes(t *testing.T) {
	if !grants.VerifyPKCE("ZTk2YmY2Njg2YTNjMzUxMGU5ZTkyN2RiNzA2OWNiMWNiYTliOTliMDIyZjQ5NDgzYTZjZTMyNzA4MDllNjhhMg", "nylas") {
		t.Fatal("the contract's Nylas-encoded challenge for verifier 'nylas' does not verify")
	}
	e := newEnv(t)
	z := e.zoomApp(zoomScopes, false)

	// Exactly what urlForOAuth2PKCE builds: access_type online by default,
	// login_hint with include_grant_scopes, prompt, and a UUID as the secret.
	secret := uuid.NewString()
	sum := sha256.Sum256([]byte(secret))
	secretHash := strings.TrimRight(base64.StdEncoding.EncodeToString([]byte(hex.EncodeToString(sum[:]))), "=")
	sdkQuery := url.Values{"client_id": {z.appID.String()}, "redirect_uri": {appRedirect}, "access_type": {"online"},
		"response_type": {"code"}, "provider": {"zoom"}, "login_hint": {z.user.Email}, "include_grant_scopes": {"true"},
		"prompt": {"select_provider"}, "state": {"sdk-state"}, "code_challenge_method": {"s256"}, "code_challenge": {secretHash}}
	back := e.hostedFlow(z, sdkQuery, z.user.Email, "allow")
	// exchangeCodeForToken: snake_case JSON, the API key as client_secret when none is given.
	r := e.do("POST", "/v3/connect/token", "", map[string]any{"code": back.Query().Get("code"), "redirect_uri": appRedirect,
		"client_id": z.appID.String(), "client_secret": z.key, "code_verifier": secret, "grant_type": "authorization_code"})
	if r.Status != 200 || r.Body["grant_id"] == nil || back.Query().Get("state") != "sdk-state" {
		t.Fatalf("the SDK's exact flow: %d %s", r.Status, r.Raw)
	}

	for _, tc := range []struct {
		name, verifier, challenge, method, secret string
	}{
		{"nylas encoding, no secret", "nylas", "ZTk2YmY2Njg2YTNjMzUxMGU5ZTkyN2RiNzA2OWNiMWNiYTliOTliMDIyZjQ5NDgzYTZjZTMyNzA4MDllNjhhMg", "s256", ""},
		{"nylas encoding, SDK 8.4.0 sends the API key", "nylas", "ZTk2YmY2Njg2YTNjMzUxMGU5ZTkyN2RiNzA2OWNiMWNiYTliOTliMDIyZjQ5NDgzYTZjZTMyNzA4MDllNjhhMg", "s256", z.key},
		// RFC 7636 appendix B's example.
		{"RFC 7636 encoding", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "S256", ""},
	} {
		back := e.hostedFlow(z, authQuery(z, map[string]string{"code_challenge": tc.challenge, "code_challenge_method": tc.method}), z.user.Email, "allow")
		body := map[string]any{"grant_type": "authorization_code", "client_id": z.appID.String(), "code": back.Query().Get("code"),
			"redirect_uri": appRedirect, "code_verifier": tc.verifier}
		if tc.secret != "" {
			body["client_secret"] = tc.secret
		}
		r := e.do("POST", "/v3/connect/token", "", body)
		if r.Status != 200 || r.Body["grant_id"] == nil {
			t.Errorf("%s: %d %s", tc.name, r.Status, r.Raw)
		}
	}
}

func TestHostedOAuthRefusals(t *testing.T) {
	e := newEnv(t)
	z := e.zoomApp(zoomScopes, false)
	other := e.zoomApp(zoomScopes, false)
	ctx := context.Background()

	// Bad requests to /connect/auth never reach Zoom.
	for name, extra := range map[string]map[string]string{
		"unregistered redirect_uri": {"redirect_uri": "https://evil.example.com/cb"},
		"altered redirect_uri":      {"redirect_uri": appRedirect + "/"},
		"unknown application":       {"client_id": uuid.NewString()},
		"not an application id":     {"client_id": "abc"},
		"wrong provider":            {"provider": "google"},
		"wrong response_type":       {"response_type": "token"},
		"plain PKCE":                {"code_challenge": "abcdefghijklmnopqrstuvwxyz", "code_challenge_method": "plain"},
	} {
		resp, err := browser.Get(e.srv.URL + "/v3/connect/auth?" + authQuery(z, extra).Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
			t.Errorf("%s: %d Location %q, want 400 and no redirect", name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}

	// Tampered, replayed and expired state.
	callbackWith := func(state string) int {
		resp, err := browser.Get(e.srv.URL + "/v3/connect/callback?code=whatever&state=" + url.QueryEscape(state))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	stateFromAuth := func() string {
		resp, err := browser.Get(e.srv.URL + "/v3/connect/auth?" + authQuery(z, nil).Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		u, _ := url.Parse(resp.Header.Get("Location"))
		return u.Query().Get("state")
	}
	st := stateFromAuth()
	tampered := st[:len(st)-2] + "xx"
	if code := callbackWith(tampered); code != 400 {
		t.Errorf("tampered state: %d", code)
	}
	if code := callbackWith("nonsense"); code != 400 {
		t.Errorf("garbage state: %d", code)
	}
	st = stateFromAuth()
	e.clock.Advance(11 * time.Minute)
	if code := callbackWith(st); code != 400 {
		t.Errorf("expired state: %d", code)
	}
	e.clock.Advance(-11 * time.Minute)
	if n := e.count("grants"); n != 0 {
		t.Fatalf("refused callbacks created %d grants", n)
	}
	// A state is single use: replaying a successful callback fails.
	resp, _ := browser.Get(e.srv.URL + "/v3/connect/auth?" + authQuery(z, nil).Encode())
	resp.Body.Close()
	zoomURL := resp.Header.Get("Location")
	resp, _ = browser.Get(zoomURL)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	action := html.UnescapeString(string(formAction.FindSubmatch(page)[1]))
	resp, _ = browser.PostForm(e.simURL+action, url.Values{"email": {z.user.Email}, "action": {"allow"}})
	resp.Body.Close()
	callback := resp.Header.Get("Location")
	resp, _ = browser.Get(callback)
	resp.Body.Close()
	if resp.StatusCode != 302 {
		t.Fatalf("first callback: %d", resp.StatusCode)
	}
	resp, _ = browser.Get(callback)
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("replayed callback: %d", resp.StatusCode)
	}

	// The user declines: back to the app with error and state, no grant.
	grantsBefore := e.count("grants")
	back := e.hostedFlow(z, authQuery(z, nil), z.user.Email, "deny")
	if back.Query().Get("error") != "access_denied" || back.Query().Get("state") != "client-state-42" || back.Query().Get("code") != "" {
		t.Errorf("declined: %s", back)
	}
	if e.count("grants") != grantsBefore {
		t.Error("a declined consent created a grant")
	}

	// Code exchange refusals; none of them issues a token.
	tokensBefore := e.count("grant_access_tokens")
	exchange := func(code string, mod map[string]any) response {
		body := map[string]any{"grant_type": "authorization_code", "client_id": z.appID.String(), "client_secret": z.key,
			"code": code, "redirect_uri": appRedirect}
		for k, v := range mod {
			if v == nil {
				delete(body, k)
			} else {
				body[k] = v
			}
		}
		return e.do("POST", "/v3/connect/token", "", body)
	}
	expectOAuth := func(r response, status int, code, what string) {
		t.Helper()
		if r.Status != status || r.Body["error"] != code || r.Body["error_description"] == "" || r.Body["error_code"] == nil || r.Body["error_uri"] == "" {
			t.Errorf("%s: %d %s, want %d %s in the OAuth shape", what, r.Status, r.Raw, status, code)
		}
	}
	code := e.hostedFlow(z, authQuery(z, nil), z.user.Email, "allow").Query().Get("code")
	expectOAuth(exchange(code, map[string]any{"client_id": other.appID.String(), "client_secret": other.key}), 400, "invalid_grant", "another application's code")
	expectOAuth(exchange(code, map[string]any{"client_secret": other.key}), 401, "invalid_client", "another application's key")
	expectOAuth(exchange(code, map[string]any{"client_secret": nil}), 401, "invalid_client", "no secret and no PKCE")
	expectOAuth(exchange(code, map[string]any{"grant_type": "refresh_token"}), 400, "unsupported_grant_type", "grant type")
	expectOAuth(exchange(code, map[string]any{"code": nil}), 400, "invalid_request", "missing code")
	expectOAuth(exchange(code, map[string]any{"redirect_uri": "https://app.example.com/other"}), 400, "invalid_grant", "other redirect_uri")
	// That mismatch consumed the code: even the right request fails now.
	expectOAuth(exchange(code, nil), 400, "invalid_grant", "code burned by a failed exchange")

	code = e.hostedFlow(z, authQuery(z, nil), z.user.Email, "allow").Query().Get("code")
	e.expect(exchange(code, nil), 200, "good exchange")
	expectOAuth(exchange(code, nil), 400, "invalid_grant", "reused code")

	pkceCode := e.hostedFlow(z, authQuery(z, map[string]string{"code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256"}), z.user.Email, "allow").Query().Get("code")
	expectOAuth(exchange(pkceCode, map[string]any{"client_secret": nil, "code_verifier": "wrong-verifier-wrong-verifier-wrong-verifier"}), 400, "invalid_grant", "wrong PKCE verifier")
	expectOAuth(exchange(pkceCode, map[string]any{"client_secret": nil, "code_verifier": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"}), 400, "invalid_grant", "right verifier after a wrong one")
	expired := e.hostedFlow(z, authQuery(z, nil), z.user.Email, "allow").Query().Get("code")
	e.clock.Advance(11 * time.Minute)
	expectOAuth(exchange(expired, nil), 400, "invalid_grant", "expired code")
	e.clock.Advance(-11 * time.Minute)
	expectOAuth(e.do("POST", "/v3/connect/token", "", `{"grant_type":`), 400, "invalid_request", "malformed body")
	if got := e.count("grant_access_tokens"); got != tokensBefore+1 {
		t.Errorf("refused exchanges issued tokens: %d, want %d", got, tokensBefore+1)
	}

	// Another application's grant is invisible.
	var gid string
	_ = e.pool.QueryRow(ctx, `SELECT id::text FROM grants WHERE application_id = $1`, z.appID).Scan(&gid)
	for _, m := range []string{"GET", "PATCH", "DELETE"} {
		var body any
		if m == "PATCH" {
			body = map[string]any{"name": "x"}
		}
		e.expect(e.do(m, "/v3/grants/"+gid, other.key, body), 404, m+" another application's grant")
	}
	if r := e.do("GET", "/v3/grants", other.key, nil); len(r.list()) != 0 {
		t.Errorf("another application lists %s", r.Raw)
	}
}

func TestGrantWithoutMeetingScopeIsRefused(t *testing.T) {
	e := newEnv(t)
	z := e.zoomApp([]string{"user:read:user", "meeting:read:meeting"}, false)
	back := e.hostedFlow(z, authQuery(z, nil), z.user.Email, "allow")
	if back.Query().Get("error") != "invalid_scope" || !strings.Contains(back.Query().Get("error_description"), "meeting:write:meeting") {
		t.Fatalf("scope-less grant: %s", back)
	}
	if e.count("grants") != 0 {
		t.Fatal("a grant without meeting:write was stored")
	}
	if got := e.sim.Stats().Calls["revoke"]["200"]; got != 1 {
		t.Fatalf("the refused Zoom token was not revoked (revokes: %d)", got)
	}
}

// simRefreshToken gets a refresh token from the simulator the way an
// application holding its own Zoom integration would.
func (e *env) simRefreshToken(z zoomApp) string {
	e.t.Helper()
	zc := zoom.New(zoom.Config{OAuthURL: e.simURL, APIURL: e.simURL + "/v2"})
	app := zoom.App{ClientID: z.clientID, ClientSecret: z.secret}
	resp, err := browser.PostForm(e.simURL+"/oauth/authorize?"+url.Values{"response_type": {"code"}, "client_id": {z.clientID},
		"redirect_uri": {"https://byo.example.com/cb"}}.Encode(), url.Values{"email": {z.user.Email}, "action": {"allow"}})
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	tok, err := zc.Exchange(context.Background(), app, "https://byo.example.com/cb", loc.Query().Get("code"), "")
	if err != nil {
		e.t.Fatal(err)
	}
	return tok.RefreshToken
}

func TestBringYourOwnToken(t *testing.T) {
	e := newEnv(t)
	z := e.zoomApp(zoomScopes, false)
	rt := e.simRefreshToken(z)
	r := e.do("POST", "/v3/connect/custom", z.key, map[string]any{"provider": "zoom", "settings": map[string]any{"refresh_token": rt}})
	e.expect(r, 201, "custom zoom")
	id := r.data()["id"].(string)
	if r.data()["provider_user_id"] != z.user.ID || r.data()["grant_status"] != "valid" || strings.Contains(r.Raw, rt) {
		t.Fatalf("custom grant %s", r.Raw)
	}
	// We refreshed to prove it, so the token the caller sent is now used up.
	zc := zoom.New(zoom.Config{OAuthURL: e.simURL, APIURL: e.simURL + "/v2"})
	if _, err := zc.Refresh(context.Background(), zoom.App{ClientID: z.clientID, ClientSecret: z.secret}, rt); !zoom.IsInvalidGrant(err) {
		t.Fatalf("the sent refresh token still works: %v", err)
	}
	// The same Zoom user again: the same grant.
	r = e.do("POST", "/v3/connect/custom", z.key, map[string]any{"provider": "zoom", "settings": map[string]any{"refresh_token": e.simRefreshToken(z)}})
	e.expect(r, 201, "custom again")
	if r.data()["id"] != id {
		t.Fatalf("second custom connection made grant %v, want %s", r.data()["id"], id)
	}
	r = e.do("POST", "/v3/connect/custom", z.key, map[string]any{"provider": "zoom", "settings": map[string]any{"refresh_token": rt}})
	if r.Status != 400 || !strings.Contains(r.errMessage(), "settings.refresh_token") {
		t.Fatalf("used refresh token: %s", r.Raw)
	}
	for body, want := range map[string]string{
		`{"provider":"zoom","settings":{}}`:                          "settings.refresh_token",
		`{"provider":"zoom","settings":{"refresh_token":5}}`:         "settings.refresh_token: must be a string",
		`{"provider":"zoom","settings":{"token":"x"}}`:               "settings.token: unknown field",
		`{"provider":"teams","settings":{}}`:                         "provider: unknown provider",
		`{"provider":"virtual-calendar","settings":{"email":""}}`:    "settings.email",
		`{"provider":"virtual-calendar","settings":{"email":"a@b"}}`: "provider: this application has no virtual-calendar connector",
	} {
		r := e.do("POST", "/v3/connect/custom", z.key, body)
		if r.Status != 400 || !strings.Contains(r.errMessage(), want) {
			t.Errorf("%s: %d %s, want 400 mentioning %q", body, r.Status, r.Raw, want)
		}
	}

	// Virtual calendars: the same email is the same grant, with one primary calendar.
	e.expect(e.do("POST", "/v3/connectors", z.key, map[string]any{"provider": "virtual-calendar"}), 201, "vc connector")
	r = e.do("POST", "/v3/connect/custom", z.key, map[string]any{"provider": "virtual-calendar", "settings": map[string]any{"email": "room-101"}})
	e.expect(r, 201, "virtual calendar")
	vc := r.data()["id"].(string)
	r = e.do("POST", "/v3/connect/custom", z.key, map[string]any{"provider": "virtual-calendar", "settings": map[string]any{"email": "room-101"}})
	if r.data()["id"] != vc {
		t.Fatal("the same virtual-calendar email made a second grant")
	}
	var primaries int
	_ = e.pool.QueryRow(context.Background(), `SELECT count(*) FROM calendars WHERE grant_id = $1 AND is_primary`, vc).Scan(&primaries)
	if primaries != 1 {
		t.Fatalf("%d primary calendars", primaries)
	}

	// List filters.
	for q, n := range map[string]int{"": 2, "?provider=zoom": 1, "?provider=virtual-calendar": 1, "?grant_status=invalid": 0,
		"?email=" + url.QueryEscape(strings.ToUpper(z.user.Email)): 1, "?limit=1": 1, "?offset=1": 1} {
		if r := e.do("GET", "/v3/grants"+q, z.key, nil); r.Status != 200 || len(r.list()) != n {
			t.Errorf("GET /v3/grants%s: %d grants, want %d", q, len(r.list()), n)
		}
	}
	e.expect(e.do("GET", "/v3/grants?grant_status=expired", z.key, nil), 400, "bad status filter")
	r = e.do("PATCH", "/v3/grants/"+id, z.key, map[string]any{"name": "Alice's Zoom"})
	if r.Status != 200 || r.data()["name"] != "Alice's Zoom" {
		t.Fatalf("patch: %s", r.Raw)
	}
	e.expect(e.do("PATCH", "/v3/grants/"+id, z.key, map[string]any{"grant_status": "valid"}), 400, "patch status")

	// Delete revokes at Zoom and erases the tokens.
	revokes := e.sim.Stats().Calls["revoke"]["200"]
	e.expect(e.do("DELETE", "/v3/grants/"+id, z.key, nil), 200, "delete")
	if e.sim.Stats().Calls["revoke"]["200"] != revokes+1 {
		t.Fatal("deleting the grant did not revoke its Zoom token")
	}
	e.expect(e.do("GET", "/v3/grants/"+id, z.key, nil), 404, "deleted grant")
}

func TestDeauthorizationInvalidatesWithinASecond(t *testing.T) {
	e := newEnv(t)
	z := e.zoomApp(zoomScopes, true)
	r := e.do("POST", "/v3/connect/custom", z.key, map[string]any{"provider": "zoom", "settings": map[string]any{"refresh_token": e.simRefreshToken(z)}})
	e.expect(r, 201, "grant")
	id := r.data()["id"].(string)

	start := time.Now()
	resp, err := http.Post(e.simURL+"/_sim/users/"+z.user.ID+"/deauthorize", "application/json", strings.NewReader(`{"client_id":"`+z.clientID+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	e.sim.WaitWebhooks()
	elapsed := time.Since(start)
	r = e.do("GET", "/v3/grants/"+id, z.key, nil)
	if r.data()["grant_status"] != "invalid" {
		t.Fatalf("after deauthorization the grant is %v", r.data()["grant_status"])
	}
	if elapsed > time.Second {
		t.Errorf("the notice took %v to apply, want under a second", elapsed)
	}
	var tokens int
	_ = e.pool.QueryRow(context.Background(), `SELECT count(*) FROM grants WHERE id = $1 AND (access_token_enc IS NOT NULL OR refresh_token_enc IS NOT NULL)`, id).Scan(&tokens)
	if tokens != 0 {
		t.Fatal("tokens are still in the database")
	}
	_, err = e.grants.Tokens.Get(context.Background(), z.appID, uuid.MustParse(id))
	if err == nil || !strings.Contains(err.Error(), id) || !strings.Contains(err.Error(), "connect") {
		t.Fatalf("using the deauthorized grant: %v, want an error naming it and asking to reconnect", err)
	}
}

func TestZoomWebhookVerification(t *testing.T) {
	e := newEnv(t)
	z := e.zoomApp(zoomScopes, false)
	r := e.do("POST", "/v3/connect/custom", z.key, map[string]any{"provider": "zoom", "settings": map[string]any{"refresh_token": e.simRefreshToken(z)}})
	id := r.data()["id"].(string)
	post := func(body, ts, sig string) int {
		req, _ := http.NewRequest("POST", e.srv.URL+"/v3/connect/zoom/webhook", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json; charset=utf-8") // as Zoom sends it
		req.Header.Set("x-zm-request-timestamp", ts)
		req.Header.Set("x-zm-signature", sig)
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// event_ts is when the user removed the app (milliseconds), as Zoom sends it.
	body := fmt.Sprintf(`{"event":"app_deauthorized","event_ts":%d,"payload":{"account_id":%q,"user_id":%q,"client_id":%q}}`,
		e.clock.Now().UnixMilli(), z.user.AccountID, z.user.ID, z.clientID)
	now := fmt.Sprint(e.clock.Now().Unix())
	stale := fmt.Sprint(e.clock.Now().Add(-6 * time.Minute).Unix())
	for name, c := range map[string][3]string{
		"wrong secret":    {body, now, zoomsim.Sign("not-the-secret", now, []byte(body))},
		"no signature":    {body, now, ""},
		"stale":           {body, stale, zoomsim.Sign(z.secretToken, stale, []byte(body))},
		"altered body":    {strings.Replace(body, z.user.ID, "someone", 1), now, zoomsim.Sign(z.secretToken, now, []byte(body))},
		"other timestamp": {body, fmt.Sprint(e.clock.Now().Unix() - 1), zoomsim.Sign(z.secretToken, now, []byte(body))},
	} {
		if got := post(c[0], c[1], c[2]); got != 401 {
			t.Errorf("%s: %d, want 401", name, got)
		}
	}
	if r := e.do("GET", "/v3/grants/"+id, z.key, nil); r.data()["grant_status"] != "valid" {
		t.Fatal("a notice that did not verify changed the grant")
	}
	// URL validation, with Zoom's expected answer.
	v := `{"event":"endpoint.url_validation","payload":{"plainToken":"abc123"}}`
	r = response{}
	req, _ := http.NewRequest("POST", e.srv.URL+"/v3/connect/zoom/webhook", strings.NewReader(v))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("x-zm-request-timestamp", now)
	req.Header.Set("x-zm-signature", zoomsim.Sign(z.secretToken, now, []byte(v)))
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := fmt.Sprintf(`{"plainToken":"abc123","encryptedToken":"%s"}`, hmacHex(z.secretToken, "abc123"))
	if resp.StatusCode != 200 || strings.TrimSpace(string(raw)) != want {
		t.Fatalf("url validation: %d %s, want %s", resp.StatusCode, raw, want)
	}
	if got := post(body, now, zoomsim.Sign(z.secretToken, now, []byte(body))); got != 200 {
		t.Fatalf("a good notice: %d", got)
	}
	if r := e.do("GET", "/v3/grants/"+id, z.key, nil); r.data()["grant_status"] != "invalid" {
		t.Fatal("a verified deauthorization did not invalidate the grant")
	}
}

func hmacHex(key, msg string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

func zoomsimFaults(op string, status int) zoomsim.Faults {
	if op == "" {
		return zoomsim.Faults{}
	}
	return zoomsim.Faults{Ops: map[string]zoomsim.OpFault{op: {ErrorRate: 1, ErrorStatus: status}}}
}

func zoomsimDrop(op string) zoomsim.Faults {
	return zoomsim.Faults{Ops: map[string]zoomsim.OpFault{op: {DropRate: 1}}}
}
