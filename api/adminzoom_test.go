package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/confhub/confhub/connectors/zoom/zoomsim"
)

// adminZoom is an application whose Zoom connector is an admin-managed
// (account-level) OAuth app, installed by the owner of one Zoom account, with
// licensed members of that account and a virtual calendar.
type adminZoom struct {
	z       zoomApp // z.user is the installing owner
	account string
	users   []zoomsim.User
	install string // the install's grant id
	cal     string
}

// adminApp is an application whose Zoom connector is an admin-managed app,
// with a redirect URI for hosted OAuth.
func (e *env) adminApp() zoomApp {
	e.t.Helper()
	key := e.newApp("company-admin")
	e.expect(e.do("POST", "/v3/applications/redirect-uris", key, map[string]any{"url": appRedirect}), 200, "redirect uri")
	return e.addAdminApp(key)
}

// addAdminApp registers an admin-managed app at the simulator (its webhook
// URL set, so deauthorizations reach us) and as a Zoom connector of the
// application with key.
func (e *env) addAdminApp(key string) zoomApp {
	e.t.Helper()
	z := zoomApp{key: key, appID: e.appID(key), clientID: "al" + randomHex(6), secret: "as" + randomHex(12), secretToken: "wt" + randomHex(12)}
	e.expect(e.do("POST", "/v3/connectors", z.key, map[string]any{"provider": "zoom", "settings": map[string]any{"client_id": z.clientID,
		"client_secret": z.secret, "secret_token": z.secretToken, "account_level": true}}), 201, "admin-managed connector")
	if err := e.sim.AddApp(zoomsim.AppSpec{ClientID: z.clientID, ClientSecret: z.secret, Scopes: adminScopes, SecretToken: z.secretToken,
		AccountLevel: true, RedirectURIs: []string{e.srv.URL + "/v3/connect/callback"}, WebhookURL: e.srv.URL + "/v3/connect/zoom/webhook"}); err != nil {
		e.t.Fatal(err)
	}
	e.sim.WaitWebhooks() // URL validation against our endpoint
	return z
}

// installBy runs hosted OAuth as the Zoom user with email (an owner or
// admin) and returns the grant id the application gets for the code.
func (e *env) installBy(z zoomApp, email string) string {
	e.t.Helper()
	return e.hostedGrant(z, authQuery(z, nil), email)
}

// hostedGrant runs hosted OAuth with query q as the Zoom user with email,
// who allows it, and returns the grant id the application gets for the code.
func (e *env) hostedGrant(z zoomApp, q url.Values, email string) string {
	e.t.Helper()
	back := e.hostedFlow(z, q, email, "allow")
	if back.Query().Get("code") == "" {
		e.t.Fatalf("hosted OAuth by %s came back with %s", email, back)
	}
	r := e.do("POST", "/v3/connect/token", "", map[string]any{"grant_type": "authorization_code", "client_id": z.appID.String(),
		"client_secret": z.key, "code": back.Query().Get("code"), "redirect_uri": appRedirect})
	e.expect(r, 200, "token exchange")
	return r.Body["grant_id"].(string)
}

// companyAccount makes a Zoom account: its owner first, then licensed members.
func (e *env) companyAccount(members int) (owner zoomsim.User, users []zoomsim.User, account string) {
	e.t.Helper()
	account = "acct" + randomHex(6)
	owner, err := e.sim.AddUser(zoomsim.UserSpec{Email: "owner-" + randomHex(3) + "@company.example", Plan: "pro", AccountID: account})
	if err != nil {
		e.t.Fatal(err)
	}
	for i := range members {
		u, err := e.sim.AddUser(zoomsim.UserSpec{Email: fmt.Sprintf("member%d-%s@company.example", i, randomHex(3)), Plan: "pro",
			AccountID: account, Role: "member"})
		if err != nil {
			e.t.Fatal(err)
		}
		users = append(users, u)
	}
	return owner, users, account
}

func (e *env) adminZoom(members int) adminZoom {
	e.t.Helper()
	a := adminZoom{z: e.adminApp()}
	a.z.user, a.users, a.account = e.companyAccount(members)
	a.install = e.installBy(a.z, a.z.user.Email)
	a.cal = e.calendar(a.z.key)
	return a
}

func (e *env) connectMember(key string, settings map[string]any) response {
	e.t.Helper()
	return e.do("POST", "/v3/connect/custom", key, map[string]any{"provider": "zoom", "settings": settings})
}

// An owner installs the admin-managed app once; two members are then
// connected by email with no consent of theirs, and each event's meeting is
// hosted by its own member. The install and the users it serves are
// told apart, and users Zoom would not let host are refused at intake.
func TestAdminInstallConnectsItsUsersByEmail(t *testing.T) {
	e := newEnv(t)
	a := e.adminZoom(2)
	if s := e.do("GET", "/v3/connectors/zoom", a.z.key, nil).data()["settings"].(map[string]any); s["account_level"] != true || s["account_id"] != nil {
		t.Fatalf("connector settings %v, want account_level true and no account_id", s)
	}
	if g := e.do("GET", "/v3/grants/"+a.install, a.z.key, nil).data(); g["email"] != a.z.user.Email || g["grant_status"] != "valid" {
		t.Fatalf("the install's grant: %v", g)
	}
	start := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	var grants []string
	for i, u := range a.users {
		r := e.connectMember(a.z.key, map[string]any{"email": u.Email})
		e.expect(r, 201, "grant of "+u.Email)
		g := r.data()["id"].(string)
		if g == a.install {
			t.Fatalf("member %s got the install's grant", u.Email)
		}
		grants = append(grants, g)
		e.expect(e.do("POST", "/v3/grants/"+a.cal+"/events?calendar_id=primary", a.z.key,
			companyEvent(fmt.Sprint("Member call ", i), start.Add(time.Duration(i)*time.Hour), g)), 200, "event for "+u.Email)
	}
	hosts := map[string]int{}
	for _, m := range e.meetings() {
		hosts[m["host_id"].(string)]++
	}
	if len(hosts) != 2 || hosts[a.users[0].ID] != 1 || hosts[a.users[1].ID] != 1 {
		t.Fatalf("meeting hosts %v, want one meeting for each of %s and %s", hosts, a.users[0].ID, a.users[1].ID)
	}
	// By user id: the same grant again. The owner by email: the install
	// itself, whose own token hosts the owner's meetings.
	if r := e.connectMember(a.z.key, map[string]any{"user_id": a.users[0].ID}); r.Status != 201 || r.data()["id"] != grants[0] {
		t.Fatalf("member by user id: %d %s, want grant %s", r.Status, r.Raw, grants[0])
	}
	if r := e.connectMember(a.z.key, map[string]any{"email": a.z.user.Email}); r.Status != 201 || r.data()["id"] != a.install {
		t.Fatalf("the owner by email: %d %s, want the install %s", r.Status, r.Raw, a.install)
	}

	basic, err := e.sim.AddUser(zoomsim.UserSpec{Email: "free-" + randomHex(3) + "@company.example", Plan: "basic", AccountID: a.account, Role: "member"})
	if err != nil {
		t.Fatal(err)
	}
	outsider, err := e.sim.AddUser(zoomsim.UserSpec{Email: "other-" + randomHex(3) + "@elsewhere.example", Plan: "pro"})
	if err != nil {
		t.Fatal(err)
	}
	before := len(e.do("GET", "/v3/grants?provider=zoom&limit=50", a.z.key, nil).list())
	for name, tc := range map[string]struct {
		settings    map[string]any
		field, says string
	}{
		"basic plan":        {map[string]any{"email": basic.Email}, "settings.email", "Basic"},
		"other account":     {map[string]any{"email": outsider.Email}, "settings.email", "no user"},
		"other account id":  {map[string]any{"user_id": outsider.ID}, "settings.user_id", "no user"},
		"refresh token":     {map[string]any{"email": basic.Email, "refresh_token": "x"}, "settings.refresh_token", "install"},
		"unknown install":   {map[string]any{"email": a.users[0].Email, "installation_id": a.cal}, "settings.installation_id", "no admin's install"},
		"install not uuid":  {map[string]any{"email": a.users[0].Email, "installation_id": "x"}, "settings.installation_id", "UUID"},
		"install of a user": {map[string]any{"email": a.users[0].Email, "installation_id": grants[1]}, "settings.installation_id", "no admin's install"},
	} {
		r := e.connectMember(a.z.key, tc.settings)
		if r.Status != 400 || !strings.Contains(r.errMessage(), tc.field) || !strings.Contains(r.errMessage(), tc.says) {
			t.Errorf("%s: %d %s, want 400 naming %s and saying %q", name, r.Status, r.Raw, tc.field, tc.says)
		}
	}
	if after := len(e.do("GET", "/v3/grants?provider=zoom&limit=50", a.z.key, nil).list()); after != before {
		t.Fatalf("%d zoom grants after refused intakes, %d before", after, before)
	}

	// An application whose app is not installed yet is told to install it.
	fresh := e.adminApp()
	r := e.connectMember(fresh.key, map[string]any{"email": a.users[0].Email})
	if r.Status != 400 || !strings.Contains(r.errMessage(), "settings") || !strings.Contains(r.errMessage(), "installed") {
		t.Fatalf("a member before any install: %d %s", r.Status, r.Raw)
	}
	// A Zoom app is Server-to-Server or admin-managed, not both.
	r = e.do("POST", "/v3/connectors", e.newApp("both"), map[string]any{"provider": "zoom", "settings": map[string]any{"client_id": "c" + randomHex(4),
		"client_secret": "s" + randomHex(4), "account_id": "acct1", "account_level": true}})
	if r.Status != 400 || !strings.Contains(r.errMessage(), "settings.account_level") {
		t.Fatalf("account_level with account_id: %d %s", r.Status, r.Raw)
	}
}

// Two companies install the same app: a member is connected under the
// install named by installation_id, and without it the request is refused
// rather than guessed.
func TestAdminInstallsOfSeveralCompanies(t *testing.T) {
	e := newEnv(t)
	a := e.adminZoom(1)
	owner2, users2, _ := e.companyAccount(1)
	install2 := e.installBy(a.z, owner2.Email)
	if install2 == a.install {
		t.Fatal("the second company's install is the first one's grant")
	}
	r := e.connectMember(a.z.key, map[string]any{"email": users2[0].Email})
	if r.Status != 400 || !strings.Contains(r.errMessage(), "settings.installation_id") || !strings.Contains(r.errMessage(), "2 Zoom accounts") {
		t.Fatalf("a member with two installs and none named: %d %s", r.Status, r.Raw)
	}
	// Under the other company's install the member is nobody.
	r = e.connectMember(a.z.key, map[string]any{"email": users2[0].Email, "installation_id": a.install})
	if r.Status != 400 || !strings.Contains(r.errMessage(), "settings.email") || !strings.Contains(r.errMessage(), "no user") {
		t.Fatalf("a member under another company's install: %d %s", r.Status, r.Raw)
	}
	r = e.connectMember(a.z.key, map[string]any{"email": users2[0].Email, "installation_id": install2})
	e.expect(r, 201, "member under their company's install")
	g := r.data()["id"].(string)
	e.expect(e.do("POST", "/v3/grants/"+a.cal+"/events?calendar_id=primary", a.z.key,
		companyEvent("Second company", time.Now().Add(48*time.Hour).Truncate(time.Second), g)), 200, "event for the second company's member")
	ms := e.meetings()
	if len(ms) != 1 || ms[0]["host_id"] != users2[0].ID {
		t.Fatalf("meetings %v, want one hosted by %s", ms, users2[0].ID)
	}
}

// The owner removes the app in Zoom: the install and every user under it
// turn invalid at once, with one grant.expired each, and the next create
// answers a 4xx naming the cause; nothing is made.
func TestAdminInstallRevokedInvalidatesItsUsers(t *testing.T) {
	e := newEnv(t)
	a := e.adminZoom(2)
	rcv := newReceiver(t)
	e.subscribe(a.z.key, rcv, "grant.expired")
	grants := e.connectUsers(a.z.key, a.users)
	start := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	e.expect(e.do("POST", "/v3/grants/"+a.cal+"/events?calendar_id=primary", a.z.key, companyEvent("Before", start, grants[0])), 200, "create before")

	e.deauthorize(a.z) // the owner, who installed the app
	all := append([]string{a.install}, grants...)
	for _, g := range all {
		if st := e.do("GET", "/v3/grants/"+g, a.z.key, nil).data()["grant_status"]; st != "invalid" {
			t.Fatalf("grant %s is %v after the install was removed", g, st)
		}
	}
	r := e.do("POST", "/v3/grants/"+a.cal+"/events?calendar_id=primary", a.z.key, companyEvent("After", start.Add(time.Hour), grants[1]))
	if r.Status < 400 || r.Status >= 500 || !strings.Contains(r.errMessage(), "company's Zoom connection is gone") ||
		!strings.Contains(r.errMessage(), "removed the app") {
		t.Fatalf("a create after the install was removed: %d %s", r.Status, r.Raw)
	}
	if n := len(e.meetings()); n != 1 {
		t.Fatalf("%d meetings; only the one made before the removal should exist", n)
	}
	e.onePerGrant(rcv, "grant.expired", all)
	// A member cannot be connected under the dead install.
	r = e.connectMember(a.z.key, map[string]any{"email": a.users[0].Email})
	if r.Status != 400 || !strings.Contains(r.errMessage(), "install the app again") {
		t.Fatalf("a member under a removed install: %d %s", r.Status, r.Raw)
	}
}

// Deleting the install deletes the users under it, each with its
// grant.deleted; a member who is not under it is untouched.
func TestDeletingAnAdminInstallDeletesItsUsers(t *testing.T) {
	e := newEnv(t)
	a := e.adminZoom(2)
	rcv := newReceiver(t)
	e.subscribe(a.z.key, rcv, "grant.deleted")
	grants := e.connectUsers(a.z.key, a.users)
	r := e.do("DELETE", "/v3/grants/"+a.install, a.z.key, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("delete the install: %d %s", r.Status, r.Raw)
	}
	for _, g := range append([]string{a.install}, grants...) {
		if st := e.do("GET", "/v3/grants/"+g, a.z.key, nil).Status; st != 404 {
			t.Fatalf("grant %s answers %d after its install was deleted", g, st)
		}
	}
	if st := e.do("GET", "/v3/grants/"+a.cal, a.z.key, nil).Status; st != 200 {
		t.Fatalf("the virtual calendar's grant answers %d", st)
	}
	e.onePerGrant(rcv, "grant.deleted", append([]string{a.install}, grants...))
}

// The users under an install use the install's rotating token: when it
// has expired, one refresh serves both users' creates; when Zoom refuses
// the install's refresh token, the install and its users turn invalid at
// once, one grant.expired each, and the create answers a 4xx naming why.
func TestAdminInstallTokenServesItsUsersAndDiesWithThem(t *testing.T) {
	e := newEnv(t)
	a := e.adminZoom(2)
	rcv := newReceiver(t)
	e.subscribe(a.z.key, rcv, "grant.expired")
	grants := e.connectUsers(a.z.key, a.users)
	install := uuid.MustParse(a.install)
	expireAccess := func() {
		if _, err := e.pool.Exec(context.Background(), `UPDATE grants SET access_expires_at = $2 WHERE id = $1`,
			install, e.clock.Now().Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	expireAccess()
	before := e.refreshes(a.z)
	start := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	for i, g := range grants {
		e.expect(e.do("POST", "/v3/grants/"+a.cal+"/events?calendar_id=primary", a.z.key,
			companyEvent(fmt.Sprint("Call ", i), start.Add(time.Duration(i)*time.Hour), g)), 200, "create on an expired install token")
	}
	if n := e.refreshes(a.z) - before; n != 1 {
		t.Fatalf("%d refreshes of the install for two users' creates, want 1", n)
	}
	hosts := map[string]bool{}
	for _, m := range e.meetings() {
		hosts[m["host_id"].(string)] = true
	}
	if len(hosts) != 2 || !hosts[a.users[0].ID] || !hosts[a.users[1].ID] {
		t.Fatalf("meeting hosts %v", hosts)
	}

	e.sealInto(a.z, install, "refresh_token_enc", "not-a-refresh-token")
	expireAccess()
	r := e.do("POST", "/v3/grants/"+a.cal+"/events?calendar_id=primary", a.z.key, companyEvent("After", start.Add(3*time.Hour), grants[0]))
	if r.Status < 400 || r.Status >= 500 || !strings.Contains(r.errMessage(), "company's Zoom connection is gone") {
		t.Fatalf("a create once the install's refresh token is refused: %d %s", r.Status, r.Raw)
	}
	all := append([]string{a.install}, grants...)
	for _, g := range all {
		if st := e.do("GET", "/v3/grants/"+g, a.z.key, nil).data()["grant_status"]; st != "invalid" {
			t.Fatalf("grant %s is %v after the install's refresh token was refused", g, st)
		}
	}
	if n := len(e.meetings()); n != 2 {
		t.Fatalf("%d meetings, want the 2 made before", n)
	}
	e.onePerGrant(rcv, "grant.expired", all)
}
