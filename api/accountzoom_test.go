package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/confhub/confhub/connectors/zoom/zoomsim"
	"github.com/confhub/confhub/internal/await"
)

// companyZoom is an application whose Zoom connector is a Server-to-Server
// app of one Zoom account, with a virtual calendar.
type companyZoom struct {
	key, clientID, account, cal string
	users                       []zoomsim.User // licensed users of the account
}

func (e *env) companyZoom(users int, plan string) companyZoom {
	e.t.Helper()
	c := companyZoom{key: e.newApp("company"), account: "acct" + randomHex(6)}
	for i := range users {
		u, err := e.sim.AddUser(zoomsim.UserSpec{Email: fmt.Sprintf("staff%d-%s@company.example", i, randomHex(3)), Plan: plan, AccountID: c.account})
		if err != nil {
			e.t.Fatal(err)
		}
		c.users = append(c.users, u)
	}
	c.clientID = e.addS2S(c.key, c.account)
	c.cal = e.calendar(c.key)
	return c
}

// addS2S registers a Server-to-Server app of account at the simulator and
// as a Zoom connector of the application with key; it returns the client id.
func (e *env) addS2S(key, account string) string {
	e.t.Helper()
	clientID, secret := "s2s"+randomHex(6), "s2ssecret"+randomHex(8)
	if err := e.sim.AddApp(zoomsim.AppSpec{ClientID: clientID, ClientSecret: secret, AccountID: account, Scopes: adminScopes}); err != nil {
		e.t.Fatal(err)
	}
	e.expect(e.do("POST", "/v3/connectors", key, map[string]any{"provider": "zoom",
		"settings": map[string]any{"client_id": clientID, "client_secret": secret, "account_id": account}}), 201, "S2S connector")
	return clientID
}

// connectUser makes the grant of a user of the company's account by email,
// under the application's account-level connector (either kind).
func (e *env) connectUser(key, email string) string {
	e.t.Helper()
	r := e.do("POST", "/v3/connect/custom", key, map[string]any{"provider": "zoom", "settings": map[string]any{"email": email}})
	e.expect(r, 201, "grant of "+email)
	return r.data()["id"].(string)
}

// connectUsers is connectUser for each of users, in order.
func (e *env) connectUsers(key string, users []zoomsim.User) []string {
	e.t.Helper()
	var grants []string
	for _, u := range users {
		grants = append(grants, e.connectUser(key, u.Email))
	}
	return grants
}

// adminScopes are what an account-level app is given in Zoom's Marketplace.
var adminScopes = []string{"meeting:write:meeting:admin", "meeting:update:meeting:admin", "meeting:delete:meeting:admin",
	"meeting:read:meeting:admin", "meeting:read:list_meetings:admin", "user:read:user:admin"}

func (e *env) accountTokens(clientID string) int { return e.sim.Stats().AccountTokens[clientID] }

func companyEvent(title string, start time.Time, grant string) map[string]any {
	return map[string]any{"title": title, "when": map[string]any{"start_time": start.Unix(), "end_time": start.Add(30 * time.Minute).Unix()},
		"conferencing": map[string]any{"provider": "Zoom Meeting", "autocreate": map[string]any{"conf_grant_id": grant}}}
}

// Three users of the company connected by email, with no consent of theirs:
// each event's meeting is hosted by its own user, and one account token
// served them all.
func TestCompanyZoomConnectsItsUsersByEmail(t *testing.T) {
	e := newEnv(t)
	c := e.companyZoom(3, "pro")
	start := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	for i, u := range c.users {
		g := e.connectUser(c.key, u.Email)
		r := e.do("POST", "/v3/grants/"+c.cal+"/events?calendar_id=primary", c.key, companyEvent(fmt.Sprint("Staff call ", i), start.Add(time.Duration(i)*time.Hour), g))
		e.expect(r, 200, "event for "+u.Email)
	}
	ms := e.meetings()
	if len(ms) != 3 {
		t.Fatalf("%d meetings, want 3", len(ms))
	}
	hosts := map[string]bool{}
	for _, m := range ms {
		hosts[m["host_id"].(string)] = true
	}
	for _, u := range c.users {
		if !hosts[u.ID] {
			t.Fatalf("no meeting hosted by %s: %v", u.Email, ms)
		}
	}
	if n := e.accountTokens(c.clientID); n != 1 {
		t.Fatalf("%d account token requests for three users' meetings, want 1", n)
	}
	// By id too, the same grant again.
	r := e.do("POST", "/v3/connect/custom", c.key, map[string]any{"provider": "zoom", "settings": map[string]any{"user_id": c.users[0].ID}})
	e.expect(r, 201, "grant by user id")
}

// Refused at intake, each with a 400 naming the field and the cause.
func TestCompanyZoomRefusesUsersItCannotServe(t *testing.T) {
	e := newEnv(t)
	c := e.companyZoom(1, "pro")
	basic, err := e.sim.AddUser(zoomsim.UserSpec{Email: "free-" + randomHex(3) + "@company.example", Plan: "basic", AccountID: c.account})
	if err != nil {
		t.Fatal(err)
	}
	outsider, err := e.sim.AddUser(zoomsim.UserSpec{Email: "other-" + randomHex(3) + "@elsewhere.example", Plan: "pro"})
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		settings    map[string]any
		field, says string
	}{
		"basic plan":    {map[string]any{"email": basic.Email}, "settings.email", "Basic"},
		"other account": {map[string]any{"email": outsider.Email}, "settings.email", "no user"},
		"unknown":       {map[string]any{"email": "nobody@company.example"}, "settings.email", "no user"},
		"not an email":  {map[string]any{"email": "nobody"}, "settings.email", "email"},
		"both":          {map[string]any{"email": basic.Email, "user_id": basic.ID}, "settings", "not both"},
		"refresh token": {map[string]any{"refresh_token": "x"}, "settings.refresh_token", "account-level"},
		"nothing":       {map[string]any{}, "settings.email", "required"},
		"bad user id":   {map[string]any{"user_id": "a b"}, "settings.user_id", "Zoom user id"},
	} {
		r := e.do("POST", "/v3/connect/custom", c.key, map[string]any{"provider": "zoom", "settings": tc.settings})
		if r.Status != 400 || !strings.Contains(r.errMessage(), tc.field) || !strings.Contains(r.errMessage(), tc.says) {
			t.Errorf("%s: %d %s, want 400 naming %s and saying %q", name, r.Status, r.Raw, tc.field, tc.says)
		}
	}
	if l := e.do("GET", "/v3/grants?provider=zoom", c.key, nil); len(l.list()) != 0 {
		t.Fatalf("a refused user left a grant: %s", l.Raw)
	}
	// A user-level connector cannot connect users by email.
	z := e.zoomApp(zoomScopes, false)
	r := e.do("POST", "/v3/connect/custom", z.key, map[string]any{"provider": "zoom", "settings": map[string]any{"email": z.user.Email}})
	if r.Status != 400 || !strings.Contains(r.errMessage(), "account_id") {
		t.Fatalf("email under a user-level connector: %d %s", r.Status, r.Raw)
	}
}

// 64 creates over two processes right after the account token expired:
// Zoom is asked for exactly one new token.
func TestAccountTokenFetchedOnceAcrossProcesses(t *testing.T) {
	e := newEnv(t)
	// Business: the account's per-second limit (shared by its users) is
	// not what this test is about.
	c := e.companyZoom(8, "business")
	grants := e.connectUsers(c.key, c.users)
	other := e.secondStack()
	if _, err := e.pool.Exec(context.Background(), `UPDATE zoom_account_tokens SET expires_at = now() - interval '1 minute'`); err != nil {
		t.Fatal(err)
	}
	before := e.accountTokens(c.clientID)
	start := time.Now().Add(72 * time.Hour).Truncate(time.Hour)
	var wg sync.WaitGroup
	statuses, bodies := make([]int, 64), make([]string, 64)
	for i := range 64 {
		wg.Go(func() {
			base := e.srv.URL
			if i%2 == 1 {
				base = other
			}
			body := mustJSON(t, companyEvent(fmt.Sprint("Burst ", i), start.Add(time.Duration(i)*time.Hour), grants[i%len(grants)]))
			// A client's retry of a 503 (a loaded machine may answer one),
			// under its Idempotency-Key: never a second event or meeting.
			key := fmt.Sprintf("burst-%d-%s", i, randomHex(4))
			await.Until(time.Minute, func() bool {
				req, _ := http.NewRequest("POST", base+"/v3/grants/"+c.cal+"/events?calendar_id=primary", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+c.key)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Idempotency-Key", key)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					bodies[i] = err.Error()
					return false
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				statuses[i], bodies[i] = resp.StatusCode, string(b)
				return resp.StatusCode != http.StatusServiceUnavailable
			})
		})
	}
	wg.Wait()
	for i, s := range statuses {
		if s != 200 {
			t.Fatalf("create %d: %d %s", i, s, bodies[i])
		}
	}
	if n := e.accountTokens(c.clientID) - before; n != 1 {
		t.Fatalf("%d account token requests for 64 creates over two processes on an expired token, want 1", n)
	}
	if n := len(e.meetings()); n != 64 {
		t.Fatalf("%d meetings, want 64", n)
	}
}

// The company deactivates its Server-to-Server app: its users' grants turn
// invalid (each with one grant.expired), the next create answers a 4xx
// that says the company's Zoom connection is gone, and nothing is made.
func TestDeactivatedCompanyAppInvalidatesItsGrants(t *testing.T) {
	e := newEnv(t)
	c := e.companyZoom(2, "pro")
	rcv := newReceiver(t)
	e.subscribe(c.key, rcv, "grant.expired")
	g0, g1 := e.connectUser(c.key, c.users[0].Email), e.connectUser(c.key, c.users[1].Email)
	start := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	e.expect(e.do("POST", "/v3/grants/"+c.cal+"/events?calendar_id=primary", c.key, companyEvent("Before", start, g0)), 200, "create before")

	if err := e.sim.DeactivateApp(c.clientID); err != nil {
		t.Fatal(err)
	}
	r := e.do("POST", "/v3/grants/"+c.cal+"/events?calendar_id=primary", c.key, companyEvent("After", start.Add(time.Hour), g1))
	if r.Status < 400 || r.Status >= 500 || !strings.Contains(r.errMessage(), "company's Zoom connection is gone") {
		t.Fatalf("a create after the deactivation: %d %s", r.Status, r.Raw)
	}
	for _, g := range []string{g0, g1} {
		if st := e.do("GET", "/v3/grants/"+g, c.key, nil).data()["grant_status"]; st != "invalid" {
			t.Fatalf("grant %s is %v after the deactivation", g, st)
		}
	}
	if n := len(e.meetings()); n != 1 {
		t.Fatalf("%d meetings; only the one made before the deactivation should exist", n)
	}
	if l := e.do("GET", "/v3/grants/"+c.cal+"/events?calendar_id=primary", c.key, nil); len(l.list()) != 1 {
		t.Fatalf("events after a refused create: %s", l.Raw)
	}
	e.onePerGrant(rcv, "grant.expired", []string{g0, g1})
	// From then on the grant itself says what to do: not the user's to fix.
	again := e.do("POST", "/v3/grants/"+c.cal+"/events?calendar_id=primary", c.key, companyEvent("Later", start.Add(2*time.Hour), g0))
	if again.Status != 400 || !strings.Contains(again.errMessage(), "Zoom admin of the company") {
		t.Fatalf("a create on an invalid company grant: %d %s", again.Status, again.Raw)
	}
}

// The company points its connector at a new Server-to-Server app of another
// Zoom account: the very next call uses a token of the new app, not the
// stored token of the old account, which is still unexpired; the grants of
// the old account's users turn invalid on their next use, saying why.
func TestChangedCompanyCredentialsTakeEffectAtOnce(t *testing.T) {
	e := newEnv(t)
	c := e.companyZoom(1, "pro")
	old := e.connectUser(c.key, c.users[0].Email)
	_, members, account := e.companyAccount(1)
	clientID, secret := "s2s"+randomHex(6), "s2ssecret"+randomHex(8)
	if err := e.sim.AddApp(zoomsim.AppSpec{ClientID: clientID, ClientSecret: secret, AccountID: account, Scopes: adminScopes}); err != nil {
		t.Fatal(err)
	}
	e.expect(e.do("PUT", "/v3/connectors/zoom", c.key, map[string]any{"settings": map[string]any{"client_id": clientID, "client_secret": secret,
		"account_id": account}}), 200, "new S2S app")
	g := e.connectUser(c.key, members[0].Email)
	if n := e.accountTokens(clientID); n != 1 {
		t.Fatalf("%d token requests of the new app, want 1", n)
	}
	start := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	e.expect(e.do("POST", "/v3/grants/"+c.cal+"/events?calendar_id=primary", c.key, companyEvent("New account", start, g)), 200, "event of the new account's user")
	r := e.do("POST", "/v3/grants/"+c.cal+"/events?calendar_id=primary", c.key, companyEvent("Old account", start.Add(time.Hour), old))
	if r.Status != 401 || !strings.Contains(r.errMessage(), "moved from Zoom account") {
		t.Fatalf("an event of the old account's user: %d %s", r.Status, r.Raw)
	}
	if st := e.do("GET", "/v3/grants/"+old, c.key, nil).data()["grant_status"]; st != "invalid" {
		t.Fatalf("the old account's user's grant is %v", st)
	}
	if ms := e.meetings(); len(ms) != 1 || ms[0]["host_id"] != members[0].ID {
		t.Fatalf("meetings %v, want only the new account user's", ms)
	}
}

// A company grant keeps every guarantee of a user's own grant: a lost
// create answer is adopted, not repeated; updates and deletes reach the
// meeting; Zoom's daily limit is its host's, not the account token's.
func TestCompanyGrantsKeepTheGuarantees(t *testing.T) {
	e := newEnv(t, func(o *zoomsim.Options) { o.DailyLimit = 2 })
	c := e.companyZoom(2, "pro")
	g := e.connectUsers(c.key, c.users)
	start := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	events := "/v3/grants/" + c.cal + "/events"

	// The create's answer is lost: the meeting is found in the host's list
	// by its reference and adopted.
	if err := e.sim.SetFaults(zoomsim.Faults{Ops: map[string]zoomsim.OpFault{zoomsim.OpCreateMeeting: {DropRate: 1}}}); err != nil {
		t.Fatal(err)
	}
	r := e.do("POST", events+"?calendar_id=primary", c.key, companyEvent("Lost answer", start, g[0]))
	e.expect(r, 200, "create with a lost answer")
	if err := e.sim.SetFaults(zoomsim.Faults{}); err != nil {
		t.Fatal(err)
	}
	if ms := e.meetings(); len(ms) != 1 || ms[0]["host_id"] != c.users[0].ID || e.zoomCalls("create_meeting") != 1 {
		t.Fatalf("after a lost answer: %d create calls, meetings %v; want one, hosted by %s", e.zoomCalls("create_meeting"), ms, c.users[0].ID)
	}
	path := events + "/" + r.data()["id"].(string) + "?calendar_id=primary"
	later := start.Add(3 * time.Hour)
	e.expect(e.do("PUT", path, c.key, map[string]any{"title": "Moved", "when": map[string]any{"start_time": later.Unix(),
		"end_time": later.Add(time.Hour).Unix()}}), 200, "update")
	if m := e.meetings()[0]; m["topic"] != "Moved" || m["start_time"] != later.UTC().Format("2006-01-02T15:04:05Z") || m["duration"] != float64(60) {
		t.Fatalf("the meeting after the update: %v", m)
	}

	// The first user has spent the day's two creates and updates; the
	// second, under the same account token, has not.
	r = e.do("POST", events+"?calendar_id=primary", c.key, companyEvent("Over the limit", start.Add(time.Hour), g[0]))
	if r.Status != 429 || !strings.Contains(r.errMessage(), "resets at") {
		t.Fatalf("a third create or update of the day for one host: %d %s", r.Status, r.Raw)
	}
	e.expect(e.do("POST", events+"?calendar_id=primary", c.key, companyEvent("Other host", start.Add(time.Hour), g[1])), 200, "the other host's create")

	e.expect(e.do("DELETE", path, c.key, nil), 200, "delete")
	waitFor(t, "the deleted event's meeting to go", func() bool {
		for _, m := range e.meetings() {
			if m["host_id"] == c.users[0].ID {
				return false
			}
		}
		return true
	})
	if ms := e.meetings(); len(ms) != 1 || ms[0]["host_id"] != c.users[1].ID {
		t.Fatalf("meetings after the delete: %v, want only the other host's", ms)
	}
}
