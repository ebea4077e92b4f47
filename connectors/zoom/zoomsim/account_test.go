package zoomsim

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

// tokenCall posts a token request with the given client credentials and
// returns the answer, whatever it is.
func (f *eventsFixture) tokenCall(clientID, secret string, form url.Values) (int, map[string]any) {
	f.t.Helper()
	req, _ := http.NewRequest("POST", f.srv.URL+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, secret)
	return f.do(req)
}

// consent submits Zoom's consent page as the user and returns the raw answer.
func (f *eventsFixture) consent(clientID, email string) (status int, location, body string) {
	f.t.Helper()
	q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {testRedirect}}
	browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.PostForm(f.srv.URL+"/oauth/authorize?"+q.Encode(), url.Values{"email": {email}, "action": {"allow"}})
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

// authorizeTokens walks the consent and returns the whole token answer.
func (f *eventsFixture) authorizeTokens(clientID, email string) map[string]any {
	f.t.Helper()
	status, loc, body := f.consent(clientID, email)
	back, err := url.Parse(loc)
	if status != http.StatusFound || err != nil || back.Query().Get("code") == "" {
		f.t.Fatalf("consent of %s to %s: %d %q %s", email, clientID, status, loc, body)
	}
	status, out := f.tokenCall(clientID, clientID+"-secret", url.Values{"grant_type": {"authorization_code"},
		"code": {back.Query().Get("code")}, "redirect_uri": {testRedirect}})
	if status != http.StatusOK {
		f.t.Fatalf("code exchange for %s: %d %v", clientID, status, out)
	}
	return out
}

func (f *eventsFixture) addUser(spec UserSpec) User {
	f.t.Helper()
	u, err := f.sim.AddUser(spec)
	if err != nil {
		f.t.Fatal(err)
	}
	return u
}

// expectZoomErr checks a REST answer's status and Zoom code.
func expectZoomErr(t *testing.T, what string, status int, out map[string]any, wantStatus int, wantCode string) {
	t.Helper()
	if status != wantStatus || out["code"] != json.Number(wantCode) {
		t.Fatalf("%s: %d %v, want %d code %s", what, status, out, wantStatus, wantCode)
	}
}

func TestServerToServerTokens(t *testing.T) {
	f := newEventsFixture(t, Options{})
	f.addS2SApp("s2s", nil)
	account := url.Values{"grant_type": {"account_credentials"}, "account_id": {f.host.AccountID}}

	var tokens []string
	for range 2 {
		status, out := f.tokenCall("s2s", "s2s-secret", account)
		if status != http.StatusOK {
			t.Fatalf("account token: %d %v", status, out)
		}
		if _, has := out["refresh_token"]; has {
			t.Fatalf("a server-to-server token came with a refresh token: %v", out)
		}
		if out["token_type"] != "bearer" || out["expires_in"] != json.Number("3600") || out["scope"] != strings.Join(adminScopes, " ") ||
			out["api_url"] != f.srv.URL || out["access_token"] == "" {
			t.Fatalf("account token answer %v", out)
		}
		tokens = append(tokens, out["access_token"].(string))
	}
	if tokens[0] == tokens[1] {
		t.Fatal("two token requests gave the same token")
	}
	// The second token did not supersede the first, unlike a user grant's.
	for i, tok := range tokens {
		if status, out := f.call("GET", "/v2/users/"+f.host.ID, tok, ""); status != http.StatusOK || out["id"] != f.host.ID {
			t.Fatalf("token %d after both were issued: %d %v", i, status, out)
		}
	}
	if got := f.sim.Stats().AccountTokens; !reflect.DeepEqual(got, map[string]int{"s2s": 2}) {
		t.Fatalf("Stats().AccountTokens %v, want s2s: 2", got)
	}
	if _, out := f.call("GET", "/_sim/stats", "", ""); !reflect.DeepEqual(out["account_tokens"], map[string]any{"s2s": json.Number("2")}) {
		t.Fatalf("/_sim/stats account_tokens %v", out["account_tokens"])
	}

	// A server-to-server token has no user: "me" is nobody, not some user.
	status, out := f.call("GET", "/v2/users/me", tokens[0], "")
	expectZoomErr(t, "GET /users/me with an account token", status, out, http.StatusNotFound, "1001")
	status, out = f.call("POST", "/v2/users/me/meetings", tokens[0], `{"topic":"x"}`)
	expectZoomErr(t, "create for me with an account token", status, out, http.StatusNotFound, "1001")

	// The token expires after its hour.
	f.now = f.now.Add(3601 * time.Second)
	status, out = f.call("GET", "/v2/users/"+f.host.ID, tokens[1], "")
	expectZoomErr(t, "expired account token", status, out, http.StatusUnauthorized, "124")
}

func TestServerToServerRefusals(t *testing.T) {
	f := newEventsFixture(t, Options{})
	f.addS2SApp("s2s", nil)
	f.addApp("oauth", nil)
	other := f.addUser(UserSpec{Email: "other@example.com"})
	form := func(grant string, kv ...string) url.Values {
		v := url.Values{"grant_type": {grant}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	mine := form("account_credentials", "account_id", f.host.AccountID)
	for _, c := range []struct {
		name, client, secret string
		form                 url.Values
		status               int
		reason, err          string
	}{
		{"wrong secret", "s2s", "nope", mine, 400, "Invalid client_id or client_secret", "invalid_client"},
		{"unknown client", "ghost", "ghost-secret", mine, 400, "Invalid client_id or client_secret", "invalid_client"},
		{"another account", "s2s", "s2s-secret", form("account_credentials", "account_id", other.AccountID), 400, "Invalid account_id", "invalid_request"},
		{"made-up account", "s2s", "s2s-secret", form("account_credentials", "account_id", "no-such-account"), 400, "Invalid account_id", "invalid_request"},
		{"no account", "s2s", "s2s-secret", form("account_credentials"), 400, "Invalid account_id", "invalid_request"},
		{"user-managed app", "oauth", "oauth-secret", mine, 400, "Unsupported grant type", "unsupported_grant_type"},
		{"s2s app refreshing", "s2s", "s2s-secret", form("refresh_token", "refresh_token", "x"), 400, "Unsupported grant type", "unsupported_grant_type"},
		{"s2s app with a code", "s2s", "s2s-secret", form("authorization_code", "code", "x", "redirect_uri", testRedirect), 400, "Unsupported grant type", "unsupported_grant_type"},
	} {
		status, out := f.tokenCall(c.client, c.secret, c.form)
		if status != c.status || out["reason"] != c.reason || out["error"] != c.err || out["access_token"] != nil {
			t.Errorf("%s: %d %v, want %d {reason %q, error %q}", c.name, status, out, c.status, c.reason, c.err)
		}
	}
	// Refused requests with the right credentials count; the others are not the app's.
	if got := f.sim.Stats().AccountTokens; !reflect.DeepEqual(got, map[string]int{"s2s": 3, "oauth": 1}) {
		t.Fatalf("account token requests %v, want s2s: 3 and oauth: 1", got)
	}
	// Nobody consents to a server-to-server app.
	resp, err := http.Get(f.srv.URL + "/oauth/authorize?" + url.Values{"response_type": {"code"}, "client_id": {"s2s"}, "redirect_uri": {testRedirect}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || strings.Contains(string(page), "<form") {
		t.Fatalf("consent page of a server-to-server app: %d %s", resp.StatusCode, page)
	}

	// Apps Zoom does not let anyone build.
	for body, want := range map[string]string{
		`{"client_id":"a","client_secret":"s","scopes":["meeting:write:meeting:admin"],"account_id":"no-such-account"}`:                                    "account_id",
		`{"client_id":"a","client_secret":"s","scopes":["meeting:write:meeting"],"account_id":"` + f.host.AccountID + `"}`:                                 "meeting:write:meeting",
		`{"client_id":"a","client_secret":"s","scopes":[],"account_id":"` + f.host.AccountID + `"}`:                                                        "scopes",
		`{"client_id":"a","client_secret":"s","scopes":["user:read:user:admin"],"redirect_uris":["https://a/cb"],"account_id":"` + f.host.AccountID + `"}`: "redirect_uris",
		`{"client_id":"a","client_secret":"s","scopes":["user:read:user:admin"],"account_level":true,"account_id":"` + f.host.AccountID + `"}`:             "account_level",
	} {
		status, out := f.call("POST", "/_sim/apps", "", body)
		if msg, _ := out["error"].(string); status != http.StatusBadRequest || !strings.Contains(msg, want) {
			t.Errorf("POST /_sim/apps %s: %d %v, want 400 naming %s", body, status, out, want)
		}
	}
	if status, _ := f.tokenCall("a", "s", mine); status == http.StatusOK {
		t.Fatal("a refused app spec was registered anyway")
	}
}

func TestAccountTokenActsForTheUsersOfItsAccount(t *testing.T) {
	f := newEventsFixture(t, Options{DailyLimit: 3})
	f.addS2SApp("s2s", nil)
	f.addApp("oauth", nil)
	colleague := f.addUser(UserSpec{Email: "colleague@example.com", AccountID: f.host.AccountID})
	free := f.addUser(UserSpec{Email: "free@example.com", Plan: "basic", AccountID: f.host.AccountID})
	stranger := f.addUser(UserSpec{Email: "stranger@example.com"})
	tok := f.accountToken("s2s")
	start := f.zoomTime(24 * time.Hour)

	status, u := f.call("GET", "/v2/users/"+url.PathEscape("Colleague@Example.com"), tok, "")
	if status != http.StatusOK || u["id"] != colleague.ID || u["account_id"] != f.host.AccountID || u["email"] != colleague.Email ||
		u["type"] != json.Number("2") || u["role_name"] != "Member" || u["first_name"] == nil || u["last_name"] == nil {
		t.Fatalf("GET a colleague by email: %d %v", status, u)
	}
	if status, u := f.call("GET", "/v2/users/"+free.ID, tok, ""); status != http.StatusOK || u["type"] != json.Number("1") {
		t.Fatalf("GET a Basic colleague: %d %v", status, u)
	}

	byID := f.createMeeting(tok, colleague.ID, `{"topic":"By id","start_time":"`+start+`","duration":30}`)
	byEmail := f.createMeeting(tok, "COLLEAGUE@example.com", `{"topic":"By email","start_time":"`+start+`","duration":30}`)
	for _, m := range []map[string]any{byID, byEmail} {
		if m["host_id"] != colleague.ID || m["host_email"] != colleague.Email {
			t.Fatalf("meeting %v: want it hosted by the colleague %s", m, colleague.ID)
		}
	}
	id := byID["id"].(json.Number).String()
	if status, out := f.call("PATCH", "/v2/meetings/"+id, tok, `{"topic":"Renamed"}`); status != http.StatusNoContent {
		t.Fatalf("PATCH a colleague's meeting: %d %v", status, out)
	}
	if status, m := f.call("GET", "/v2/meetings/"+id, tok, ""); status != http.StatusOK || m["topic"] != "Renamed" {
		t.Fatalf("GET a colleague's meeting: %d %v", status, m)
	}
	if status, out := f.call("DELETE", "/v2/meetings/"+id, tok, ""); status != http.StatusNoContent {
		t.Fatalf("DELETE a colleague's meeting: %d %v", status, out)
	}
	// Two creates and an update spent the colleague's daily allowance (3); not the host's.
	status, out := f.call("POST", "/v2/users/"+colleague.ID+"/meetings", tok, `{"topic":"Fourth"}`)
	if msg, _ := out["message"].(string); status != http.StatusTooManyRequests || !strings.Contains(msg, "daily") {
		t.Fatalf("fourth create or update for the colleague: %d %v, want the daily 429", status, out)
	}
	f.createMeeting(tok, f.host.Email, `{"topic":"Host's","start_time":"`+start+`","duration":30}`)
	status, out = f.call("POST", "/v2/users/"+free.Email+"/meetings", tok, `{"topic":"Free"}`)
	expectZoomErr(t, "create for a Basic colleague", status, out, http.StatusBadRequest, "200")

	for _, who := range []string{stranger.ID, stranger.Email, "nobody@example.com"} {
		status, out := f.call("POST", "/v2/users/"+who+"/meetings", tok, `{"topic":"Not ours"}`)
		expectZoomErr(t, "create for "+who, status, out, http.StatusNotFound, "1001")
		if out["message"] != "User does not exist: "+who+"." {
			t.Fatalf("message %v", out["message"])
		}
		status, out = f.call("GET", "/v2/users/"+who, tok, "")
		expectZoomErr(t, "GET "+who, status, out, http.StatusNotFound, "1001")
	}

	// Another account's meeting is invisible to the account token.
	strangerTok := f.authorize("oauth", stranger.Email)
	theirs := f.createMeeting(strangerTok, "me", `{"topic":"Theirs","start_time":"`+start+`","duration":30}`)["id"].(json.Number).String()
	for _, method := range []string{"GET", "PATCH", "DELETE"} {
		status, out := f.call(method, "/v2/meetings/"+theirs, tok, `{"topic":"Mine now"}`)
		expectZoomErr(t, method+" another account's meeting", status, out, http.StatusNotFound, "3001")
	}
}

func TestAdminInstallActsForColleagues(t *testing.T) {
	f := newEventsFixture(t, Options{})
	hook := newHookReceiver(t, "install-token")
	if err := f.sim.AddApp(AppSpec{ClientID: "install", ClientSecret: "install-secret", RedirectURIs: []string{testRedirect},
		Scopes: adminScopes, AccountLevel: true, WebhookURL: hook.url, SecretToken: hook.secret}); err != nil {
		t.Fatal(err)
	}
	f.sim.WaitWebhooks()
	colleague := f.addUser(UserSpec{Email: "colleague@example.com", AccountID: f.host.AccountID})
	stranger := f.addUser(UserSpec{Email: "stranger@example.com"})
	start := f.zoomTime(24 * time.Hour)

	first := f.authorizeTokens("install", f.host.Email) // the host owns the account
	tok, refresh := first["access_token"].(string), first["refresh_token"].(string)
	if refresh == "" {
		t.Fatalf("an admin install came without a refresh token: %v", first)
	}
	if status, me := f.call("GET", "/v2/users/me", tok, ""); status != http.StatusOK || me["id"] != f.host.ID || me["role_name"] != "Owner" {
		t.Fatalf("me for an admin install: %d %v, want the installing admin", status, me)
	}
	m := f.createMeeting(tok, colleague.Email, `{"topic":"For a colleague","start_time":"`+start+`","duration":30}`)
	if m["host_id"] != colleague.ID {
		t.Fatalf("meeting %v, want it hosted by the colleague", m)
	}
	status, out := f.call("POST", "/v2/users/"+stranger.ID+"/meetings", tok, `{"topic":"x"}`)
	expectZoomErr(t, "create for another account's user", status, out, http.StatusNotFound, "1001")

	// The install's refresh tokens rotate as a user grant's do, and keep acting for the account.
	status, next := f.tokenCall("install", "install-secret", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	if status != http.StatusOK || next["refresh_token"] == refresh {
		t.Fatalf("refresh: %d %v", status, next)
	}
	status, out = f.call("GET", "/v2/users/"+colleague.ID, tok, "")
	expectZoomErr(t, "the access token before the refresh", status, out, http.StatusUnauthorized, "124")
	tok = next["access_token"].(string)
	if status, out := f.call("DELETE", "/v2/meetings/"+m["id"].(json.Number).String(), tok, ""); status != http.StatusNoContent {
		t.Fatalf("delete the colleague's meeting after the refresh: %d %v", status, out)
	}
	f.sim.WaitWebhooks()
	// The install gets the events of the whole account.
	if got := hook.events(); len(got) != 1 || got[0].event["event"] != "meeting.deleted" {
		t.Fatalf("the admin install got %v, want meeting.deleted of the colleague's meeting", got)
	}

	if status, out := f.call("POST", "/_sim/users/"+f.host.ID+"/deauthorize", "", `{"client_id":"install"}`); status != http.StatusAccepted {
		t.Fatalf("deauthorize the install: %d %v", status, out)
	}
	f.sim.WaitWebhooks()
	status, out = f.call("GET", "/v2/users/"+colleague.ID, tok, "")
	expectZoomErr(t, "the install's token after the uninstall", status, out, http.StatusUnauthorized, "124")
	if status, out := f.tokenCall("install", "install-secret", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next["refresh_token"].(string)}}); status != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Fatalf("the install's refresh token after the uninstall: %d %v", status, out)
	}
	got := hook.events()
	if len(got) != 2 || got[1].event["event"] != "app_deauthorized" {
		t.Fatalf("events after the uninstall %v, want app_deauthorized", got)
	}
	if p, _ := got[1].event["payload"].(map[string]any); p["user_id"] != f.host.ID || p["account_id"] != f.host.AccountID {
		t.Fatalf("app_deauthorized payload %v", p)
	}
}

func TestAdminInstallNeedsAdminScopesForColleagues(t *testing.T) {
	f := newEventsFixture(t, Options{})
	if err := f.sim.AddApp(AppSpec{ClientID: "narrow", ClientSecret: "narrow-secret", RedirectURIs: []string{testRedirect},
		Scopes: testScopes, AccountLevel: true}); err != nil {
		t.Fatal(err)
	}
	colleague := f.addUser(UserSpec{Email: "colleague@example.com", AccountID: f.host.AccountID})
	tok := f.authorize("narrow", f.host.Email)
	mine := f.createMeeting(tok, "me", `{"topic":"Mine","start_time":"`+f.zoomTime(time.Hour)+`","duration":30}`)
	if mine["host_id"] != f.host.ID {
		t.Fatalf("own meeting %v", mine)
	}
	status, out := f.call("POST", "/v2/users/"+colleague.ID+"/meetings", tok, `{"topic":"x"}`)
	expectZoomErr(t, "create for a colleague with user-level scopes", status, out, http.StatusBadRequest, "4711")
	if msg, _ := out["message"].(string); !strings.Contains(msg, "meeting:write:meeting:admin") || strings.Contains(msg, "meeting:write:meeting,") {
		t.Fatalf("4711 message %q, want the admin scopes only", msg)
	}
}

func TestOnlyAdminsInstallAccountLevelApps(t *testing.T) {
	f := newEventsFixture(t, Options{})
	if err := f.sim.AddApp(AppSpec{ClientID: "install", ClientSecret: "install-secret", RedirectURIs: []string{testRedirect},
		Scopes: adminScopes, AccountLevel: true}); err != nil {
		t.Fatal(err)
	}
	f.addApp("oauth", nil)
	member := f.addUser(UserSpec{Email: "member@example.com", AccountID: f.host.AccountID})
	admin := f.addUser(UserSpec{Email: "admin@example.com", AccountID: f.host.AccountID, Role: RoleAdmin})
	if member.Role != RoleMember || admin.Role != RoleAdmin || f.host.Role != RoleOwner {
		t.Fatalf("roles: host %s, member %s, admin %s", f.host.Role, member.Role, admin.Role)
	}

	status, loc, body := f.consent("install", member.Email)
	if status != http.StatusForbidden || loc != "" || !strings.Contains(body, "admin") {
		t.Fatalf("a member's consent to an account-level app: %d Location %q %s", status, loc, body)
	}
	f.sim.mu.Lock()
	codes := len(f.sim.st.codes)
	f.sim.mu.Unlock()
	if codes != 0 {
		t.Fatalf("a refused consent left %d authorization codes", codes)
	}
	// An admin who is not the owner may install it; a member may still use user-managed apps.
	tok := f.authorize("install", admin.Email)
	if status, u := f.call("GET", "/v2/users/"+member.Email, tok, ""); status != http.StatusOK || u["id"] != member.ID {
		t.Fatalf("the admin's install reading a member: %d %v", status, u)
	}
	own := f.authorize("oauth", member.Email)
	status, out := f.call("GET", "/v2/users/"+admin.ID, own, "")
	expectZoomErr(t, "a member's user-level token reading a colleague", status, out, http.StatusNotFound, "1001")
}

func TestDeactivatedApps(t *testing.T) {
	f := newEventsFixture(t, Options{})
	hook := newHookReceiver(t, "s2s-token")
	f.addS2SApp("s2s", hook)
	f.addApp("oauth", nil)
	f.addApp("other", nil)
	s2s := f.accountToken("s2s")
	user := f.authorizeTokens("oauth", f.host.Email)
	other := f.authorize("other", f.host.Email)

	if status, out := f.call("POST", "/_sim/apps/s2s/deactivate", "", ""); status != http.StatusOK || out["status"] != "deactivated" {
		t.Fatalf("deactivate: %d %v", status, out)
	}
	if status, _ := f.call("POST", "/_sim/apps/ghost/deactivate", "", ""); status != http.StatusNotFound {
		t.Fatalf("deactivate an unknown app: %d, want 404", status)
	}
	if err := f.sim.DeactivateApp("ghost"); !errors.Is(err, ErrAppNotFound) {
		t.Fatalf("DeactivateApp(ghost): %v", err)
	}
	if err := f.sim.DeactivateApp("oauth"); err != nil {
		t.Fatal(err)
	}

	status, out := f.call("GET", "/v2/users/"+f.host.ID, s2s, "")
	expectZoomErr(t, "a deactivated app's live account token", status, out, http.StatusUnauthorized, "124")
	status, out = f.call("GET", "/v2/users/me", user["access_token"].(string), "")
	expectZoomErr(t, "a deactivated app's live user token", status, out, http.StatusUnauthorized, "124")
	for name, c := range map[string]struct {
		client string
		form   url.Values
	}{
		"account token": {"s2s", url.Values{"grant_type": {"account_credentials"}, "account_id": {f.host.AccountID}}},
		"refresh":       {"oauth", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {user["refresh_token"].(string)}}},
	} {
		status, out := f.tokenCall(c.client, c.client+"-secret", c.form)
		if status != http.StatusBadRequest || out["error"] != "invalid_client" || out["reason"] != "The app has been disabled" {
			t.Errorf("%s for a deactivated app: %d %v", name, status, out)
		}
	}
	if got := f.sim.Stats().AccountTokens["s2s"]; got != 2 {
		t.Fatalf("account token requests %d, want 2 (one before, one refused after the deactivation)", got)
	}
	if status, _, body := f.consent("oauth", f.host.Email); status != http.StatusBadRequest || !strings.Contains(body, "disabled") {
		t.Fatalf("consent to a deactivated app: %d %s", status, body)
	}

	// A deactivated app hears nothing of the account's meetings any more.
	m := f.createMeeting(other, "me", `{"topic":"Quiet","start_time":"`+f.zoomTime(time.Hour)+`","duration":30}`)
	if status, out := f.call("DELETE", "/v2/meetings/"+m["id"].(json.Number).String(), other, ""); status != http.StatusNoContent {
		t.Fatalf("delete: %d %v", status, out)
	}
	f.sim.WaitWebhooks()
	if got := hook.events(); len(got) != 0 {
		t.Fatalf("a deactivated app got %v", got)
	}

	// Registered again, the app works anew; its old tokens stay dead.
	f.addS2SApp("s2s", nil)
	status, out = f.call("GET", "/v2/users/"+f.host.ID, s2s, "")
	expectZoomErr(t, "a token from before the deactivation", status, out, http.StatusUnauthorized, "124")
	if status, u := f.call("GET", "/v2/users/"+f.host.ID, f.accountToken("s2s"), ""); status != http.StatusOK || u["id"] != f.host.ID {
		t.Fatalf("a new token after registering again: %d %v", status, u)
	}
}

func TestUsersOfOneAccountShareItsLimits(t *testing.T) {
	f := newEventsFixture(t, Options{}) // the clock stands still: every call falls in one second
	f.addApp("oauth", nil)
	var owner, member, admin map[string]any
	for _, c := range []struct {
		body string
		out  *map[string]any
		role string
	}{
		{`{"email":"owner@free.example","plan":"basic","account_id":"acct-free"}`, &owner, "owner"},
		{`{"email":"member@free.example","plan":"business","account_id":"acct-free"}`, &member, "member"},
		{`{"email":"admin@free.example","account_id":"acct-free","role":"admin"}`, &admin, "admin"},
	} {
		status, out := f.call("POST", "/_sim/users", "", c.body)
		if status != http.StatusCreated || out["account_id"] != "acct-free" || out["role"] != c.role {
			t.Fatalf("POST /_sim/users %s: %d %v", c.body, status, out)
		}
		*c.out = out
	}
	for body, want := range map[string]string{
		`{"email":"first@new.example","account_id":"acct-new","role":"member"}`: "owner",
		`{"email":"x@free.example","account_id":"acct-free","role":"boss"}`:     "role",
	} {
		if status, out := f.call("POST", "/_sim/users", "", body); status != http.StatusBadRequest || !strings.Contains(out["error"].(string), want) {
			t.Errorf("POST /_sim/users %s: %d %v, want 400 naming %s", body, status, out, want)
		}
	}
	f.addUser(UserSpec{Email: "alone@example.com", Plan: "basic"})
	if err := f.sim.AddApp(AppSpec{ClientID: "s2s", ClientSecret: "s2s-secret", Scopes: adminScopes, AccountID: "acct-free"}); err != nil {
		t.Fatal(err)
	}
	ownerTok, memberTok := f.authorize("oauth", owner["email"].(string)), f.authorize("oauth", member["email"].(string))
	aloneTok := f.authorize("oauth", "alone@example.com")
	s2s := f.token("s2s", url.Values{"grant_type": {"account_credentials"}, "account_id": {"acct-free"}})

	// The account's plan is its owner's, Free: 4 Light calls a second, whoever makes them.
	for i, c := range []struct{ tok, path string }{
		{ownerTok, "/v2/users/me"}, {memberTok, "/v2/users/me"}, {ownerTok, "/v2/users/me"},
		{s2s, "/v2/users/" + admin["id"].(string)},
	} {
		if status, out := f.call("GET", c.path, c.tok, ""); status != http.StatusOK {
			t.Fatalf("call %d within the limit: %d %v", i, status, out)
		}
	}
	req, _ := http.NewRequest("GET", f.srv.URL+"/v2/users/me", nil)
	req.Header.Set("Authorization", "Bearer "+memberTok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("X-RateLimit-Type") != "QPS" || resp.Header.Get("X-RateLimit-Limit") != "4" {
		t.Fatalf("fifth call of the account in the second: %d %v, want the account's QPS 429 (limit 4)", resp.StatusCode, resp.Header)
	}
	// Another Free account has its own allowance.
	if status, out := f.call("GET", "/v2/users/me", aloneTok, ""); status != http.StatusOK {
		t.Fatalf("another account's call: %d %v", status, out)
	}
	f.now = f.now.Add(time.Second)
	if status, out := f.call("GET", "/v2/users/me", memberTok, ""); status != http.StatusOK {
		t.Fatalf("next second: %d %v", status, out)
	}
}

func TestSnapshotKeepsAccountsAppsAndTokens(t *testing.T) {
	f := newEventsFixture(t, Options{})
	f.addS2SApp("s2s", nil)
	f.addS2SApp("gone", nil)
	if err := f.sim.AddApp(AppSpec{ClientID: "install", ClientSecret: "install-secret", RedirectURIs: []string{testRedirect},
		Scopes: adminScopes, AccountLevel: true}); err != nil {
		t.Fatal(err)
	}
	colleague := f.addUser(UserSpec{Email: "colleague@example.com", AccountID: f.host.AccountID, Role: RoleAdmin})
	s2s, install := f.accountToken("s2s"), f.authorize("install", colleague.Email)
	if err := f.sim.DeactivateApp("gone"); err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	if err := f.sim.Save(&buf); err != nil {
		t.Fatal(err)
	}
	f.sim.Reset()
	if err := f.sim.Load(strings.NewReader(buf.String())); err != nil {
		t.Fatal(err)
	}

	for name, tok := range map[string]string{"s2s token": s2s, "admin install": install} {
		if status, u := f.call("GET", "/v2/users/"+f.host.Email, tok, ""); status != http.StatusOK || u["id"] != f.host.ID || u["role_name"] != "Owner" {
			t.Fatalf("%s after a reload, reading the owner: %d %v", name, status, u)
		}
	}
	if status, u := f.call("GET", "/v2/users/me", install, ""); status != http.StatusOK || u["id"] != colleague.ID || u["role_name"] != "Admin" {
		t.Fatalf("the install's me after a reload: %d %v", status, u)
	}
	status, out := f.tokenCall("gone", "gone-secret", url.Values{"grant_type": {"account_credentials"}, "account_id": {f.host.AccountID}})
	if status != http.StatusBadRequest || out["reason"] != "The app has been disabled" {
		t.Fatalf("a deactivated app after a reload: %d %v", status, out)
	}
	if status, out := f.tokenCall("s2s", "s2s-secret", url.Values{"grant_type": {"account_credentials"}, "account_id": {f.host.AccountID}}); status != http.StatusOK {
		t.Fatalf("the S2S app after a reload: %d %v", status, out)
	}
}
