package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// An application with a user-level Zoom app (people connect themselves) and
// the company's Server-to-Server app (the company connects its staff) side
// by side: each route reaches its own connector, both make meetings under
// the right host, and removing one leaves the other working.
func TestUserAndCompanyZoomConnectorsSideBySide(t *testing.T) {
	e := newEnv(t)
	z := e.zoomApp(zoomScopes, true)
	_, members, account := e.companyAccount(2)
	s2s := e.addS2S(z.key, account)
	cal := e.calendar(z.key)

	// One connector of each level, and the path says which.
	r := e.do("POST", "/v3/connectors", z.key, map[string]any{"provider": "zoom", "settings": map[string]any{"client_id": "c" + randomHex(4), "client_secret": "s"}})
	if r.Status != http.StatusConflict || !strings.Contains(r.errMessage(), "user-level") {
		t.Fatalf("a second user-level Zoom connector: %d %s", r.Status, r.Raw)
	}
	for _, path := range []string{"/v3/connectors/zoom", "/v3/connectors/zoom?level=company"} {
		if r := e.do("GET", path, z.key, nil); r.Status != 400 || !strings.Contains(r.errMessage(), "level") {
			t.Fatalf("GET %s with two Zoom connectors: %d %s, want a 400 naming level", path, r.Status, r.Raw)
		}
	}
	if s := e.do("GET", "/v3/connectors/zoom?level=account", z.key, nil).data()["settings"].(map[string]any); s["client_id"] != s2s || s["account_id"] != account {
		t.Fatalf("the account-level connector: %v", s)
	}
	if s := e.do("GET", "/v3/connectors/zoom?level=user", z.key, nil).data()["settings"].(map[string]any); s["client_id"] != z.clientID {
		t.Fatalf("the user-level connector: %v", s)
	}

	// A member connects through hosted OAuth (the user-level app); the
	// company connects the other by email (its Server-to-Server app).
	mine := e.hostedGrant(z, authQuery(z, nil), members[0].Email)
	theirs := e.connectUser(z.key, members[1].Email)
	if g := e.do("GET", "/v3/grants/"+mine, z.key, nil).data(); g["email"] != members[0].Email {
		t.Fatalf("the hosted grant: %v", g)
	}
	start := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	e.expect(e.do("POST", "/v3/grants/"+cal+"/events?calendar_id=primary", z.key, companyEvent("Own Zoom", start, mine)), 200, "event of the user-level grant")
	e.expect(e.do("POST", "/v3/grants/"+cal+"/events?calendar_id=primary", z.key, companyEvent("Company Zoom", start.Add(time.Hour), theirs)), 200, "event of the company grant")
	hosts := map[string]int{}
	for _, m := range e.meetings() {
		hosts[m["host_id"].(string)]++
	}
	if len(hosts) != 2 || hosts[members[0].ID] != 1 || hosts[members[1].ID] != 1 {
		t.Fatalf("meeting hosts %v, want one meeting for each member", hosts)
	}
	if n := e.accountTokens(s2s); n != 1 {
		t.Fatalf("%d account token requests, want 1 (only the company grant uses it)", n)
	}

	// The company takes the first member over: the same grant, now served
	// by the company's app. The token of the member's own consent is not
	// kept, so it is revoked, and Zoom's deauthorization that follows a
	// revoke no longer touches the grant.
	revokes := e.zoomCalls("revoke")
	if g := e.connectUser(z.key, members[0].Email); g != mine {
		t.Fatalf("the company connecting member 0 made grant %s, want their grant %s", g, mine)
	}
	if n := e.zoomCalls("revoke") - revokes; n != 1 {
		t.Fatalf("%d revokes of the token the takeover dropped, want 1", n)
	}
	e.sim.WaitWebhooks() // the app_deauthorized Zoom sends after the revoke
	if st := e.do("GET", "/v3/grants/"+mine, z.key, nil).data()["grant_status"]; st != "valid" {
		t.Fatalf("a company grant is %v after its user's own token of the user-level app was revoked", st)
	}
	e.expect(e.do("POST", "/v3/grants/"+cal+"/events?calendar_id=primary", z.key, companyEvent("Taken over", start.Add(2*time.Hour), mine)), 200,
		"event of the grant the company took over")

	// A connector's kind stays what it was created as.
	for _, tc := range []struct {
		method, path string
		settings     map[string]any
		field        string
	}{
		{"PUT", "/v3/connectors/zoom?level=account", map[string]any{"client_id": s2s, "client_secret": "x"}, "settings.account_id"},
		{"PATCH", "/v3/connectors/zoom?level=user", map[string]any{"client_id": z.clientID, "client_secret": "x", "account_level": true}, "settings.account_level"},
		{"PATCH", "/v3/connectors/zoom?level=user", map[string]any{"client_id": z.clientID, "client_secret": "x", "account_id": account}, "settings.account_id"},
	} {
		if r := e.do(tc.method, tc.path, z.key, map[string]any{"settings": tc.settings}); r.Status != 400 || !strings.Contains(r.errMessage(), tc.field) {
			t.Fatalf("%s %s changing the kind: %d %s, want a 400 naming %s", tc.method, tc.path, r.Status, r.Raw, tc.field)
		}
	}
	if s := e.do("GET", "/v3/connectors/zoom?level=user", z.key, nil).data()["settings"].(map[string]any); s["client_id"] != z.clientID || s["account_id"] != nil {
		t.Fatalf("a refused update changed the connector: %v", s)
	}

	// Deleting the company's connector stops the company grants, and
	// leaves one Zoom connector, addressed without a level again.
	other := e.hostedGrant(z, authQuery(z, nil), z.user.Email)
	e.expect(e.do("DELETE", "/v3/connectors/zoom?level=account", z.key, nil), 200, "delete the account-level connector")
	if s := e.do("GET", "/v3/connectors/zoom", z.key, nil).data()["settings"].(map[string]any); s["client_id"] != z.clientID {
		t.Fatalf("the remaining connector: %v", s)
	}
	if r := e.do("POST", "/v3/grants/"+cal+"/events?calendar_id=primary", z.key, companyEvent("Gone", start.Add(3*time.Hour), theirs)); r.Status != 401 ||
		!strings.Contains(r.errMessage(), "company's Zoom connector") {
		t.Fatalf("a company grant after its connector was deleted: %d %s", r.Status, r.Raw)
	}
	e.expect(e.do("POST", "/v3/grants/"+cal+"/events?calendar_id=primary", z.key, companyEvent("Still mine", start.Add(4*time.Hour), other)), 200,
		"event of a user-level grant after the company's connector went")
}

// An admin-managed app beside a user-level one: hosted OAuth reaches the
// user-level app unless level=account asks for the company's install, and
// an install serving users stays one when its admin also connects alone.
func TestAdminInstallBesideUserLevelConnector(t *testing.T) {
	e := newEnv(t)
	z := e.zoomApp(zoomScopes, true)
	owner, members, _ := e.companyAccount(1)
	admin := e.addAdminApp(z.key)
	admin.user = owner
	cal := e.calendar(z.key)

	// Before the install no member can be connected by email.
	if r := e.connectMember(z.key, map[string]any{"email": members[0].Email}); r.Status != 400 || !strings.Contains(r.errMessage(), "installed") {
		t.Fatalf("a member before any install: %d %s", r.Status, r.Raw)
	}
	if r := e.connectMember(z.key, map[string]any{"refresh_token": "x", "level": "company"}); r.Status != 400 || !strings.Contains(r.errMessage(), "settings.level") {
		t.Fatalf("an unknown settings.level: %d %s", r.Status, r.Raw)
	}
	resp, err := browser.Get(e.srv.URL + "/v3/connect/auth?" + authQuery(z, map[string]string{"level": "team"}).Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("hosted OAuth with level=team: %d", resp.StatusCode)
	}

	// The owner installs with level=account; the member is then connected
	// by email under the install.
	install := e.hostedGrant(admin, authQuery(admin, map[string]string{"level": "account"}), owner.Email)
	r := e.connectMember(z.key, map[string]any{"email": members[0].Email})
	e.expect(r, 201, "member under the install")
	member := r.data()["id"].(string)
	start := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	e.expect(e.do("POST", "/v3/grants/"+cal+"/events?calendar_id=primary", z.key, companyEvent("Member", start, member)), 200, "member's event")

	// The owner connecting through the user-level app would turn the
	// install into their own grant and cut the member off: refused, and
	// the install still serves the member.
	revokes := e.zoomCalls("revoke")
	back := e.hostedFlow(z, authQuery(z, nil), owner.Email, "allow")
	if back.Query().Get("error") != "access_denied" || !strings.Contains(back.Query().Get("error_description"), "install") {
		t.Fatalf("the installing owner through the user-level app came back with %s", back)
	}
	if n := e.zoomCalls("revoke") - revokes; n != 1 {
		t.Fatalf("%d revokes of the token of the refused consent, want 1", n)
	}
	e.expect(e.do("POST", "/v3/grants/"+cal+"/events?calendar_id=primary", z.key, companyEvent("Member again", start.Add(time.Hour), member)), 200,
		"member's event after the refused takeover")
	if ms := e.meetings(); len(ms) != 2 || ms[0]["host_id"] != members[0].ID || ms[1]["host_id"] != members[0].ID {
		t.Fatalf("meetings %v, want two hosted by the member %s", ms, members[0].ID)
	}
	if g := e.do("GET", "/v3/grants/"+install, z.key, nil).data(); g["grant_status"] != "valid" {
		t.Fatalf("the install after the refused takeover: %v", g)
	}

	// Another user connects alone, by default through the user-level app.
	mine := e.hostedGrant(z, authQuery(z, nil), z.user.Email)
	e.expect(e.do("POST", "/v3/grants/"+cal+"/events?calendar_id=primary", z.key, companyEvent("Alone", start.Add(2*time.Hour), mine)), 200, "user-level event")
}

// The application deletes its Zoom connector and registers the same Zoom app
// again; a grant made under the deleted one still holds the user's tokens
// of that app, and the user's removal of the app in Zoom erases them.
func TestDeauthorizationReachesGrantsOfADeletedConnector(t *testing.T) {
	e := newEnv(t)
	z := e.zoomApp(zoomScopes, true)
	g := e.hostedGrant(z, authQuery(z, nil), z.user.Email)
	e.expect(e.do("DELETE", "/v3/connectors/zoom", z.key, nil), 200, "delete the connector")
	e.expect(e.do("POST", "/v3/connectors", z.key, map[string]any{"provider": "zoom",
		"settings": map[string]any{"client_id": z.clientID, "client_secret": z.secret, "secret_token": z.secretToken}}), 201, "the same app again")
	e.deauthorize(z)
	if st := e.do("GET", "/v3/grants/"+g, z.key, nil).data()["grant_status"]; st != "invalid" {
		t.Fatalf("the grant of a deleted connector is %v after its user removed the app", st)
	}
	var held bool
	if err := e.pool.QueryRow(context.Background(), `SELECT refresh_token_enc IS NOT NULL FROM grants WHERE id = $1`, g).Scan(&held); err != nil || held {
		t.Fatalf("the grant still holds a refresh token (%v, %v)", held, err)
	}
}
