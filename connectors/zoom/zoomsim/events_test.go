package zoomsim

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const testRedirect = "https://app.example/zoom/callback"

var testScopes = []string{"meeting:write:meeting", "meeting:update:meeting", "meeting:delete:meeting",
	"meeting:read:meeting", "user:read:user"}

// hookReceiver is an app's webhook endpoint: it answers Zoom's URL
// validation as an app must, and records every request it gets.
type hookReceiver struct {
	t      *testing.T
	url    string
	secret string
	mu     sync.Mutex
	got    []hookRequest
	// refuseValidation answers URL validation wrongly, as a misconfigured app would.
	refuseValidation bool
}

type hookRequest struct {
	header http.Header
	body   []byte
	event  map[string]any
}

func newHookReceiver(t *testing.T, secret string) *hookReceiver {
	rec := &hookReceiver{t: t, secret: secret}
	srv := httptest.NewServer(http.HandlerFunc(rec.serve))
	t.Cleanup(srv.Close)
	rec.url = srv.URL + "/zoom/events"
	return rec
}

func (rec *hookReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	ev := decodeJSON(rec.t, body)
	rec.mu.Lock()
	rec.got = append(rec.got, hookRequest{header: r.Header.Clone(), body: body, event: ev})
	rec.mu.Unlock()
	if ev["event"] == "endpoint.url_validation" {
		plain, _ := ev["payload"].(map[string]any)["plainToken"].(string)
		key := rec.secret
		if rec.refuseValidation {
			key = "not-" + key
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"plainToken": plain, "encryptedToken": hexHMAC(key, plain)})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// events returns what the app got besides URL validations.
func (rec *hookReceiver) events() []hookRequest {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []hookRequest
	for _, h := range rec.got {
		if h.event["event"] != "endpoint.url_validation" {
			out = append(out, h)
		}
	}
	return out
}

func (rec *hookReceiver) requests() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.got)
}

func hexHMAC(key, msg string) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(msg))
	return hex.EncodeToString(mac.Sum(nil))
}

// decodeJSON keeps numbers exact (meeting ids are 11 digits).
func decodeJSON(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var out map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		t.Errorf("not a JSON object: %q: %v", b, err)
	}
	return out
}

// asJSON is v as it reads back from JSON, to compare with decoded events.
func asJSON(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return decodeJSON(t, b)
}

// sentTo records every webhook request the simulator makes, wherever it goes.
type sentTo struct {
	mu   sync.Mutex
	urls []string
}

func (s *sentTo) RoundTrip(r *http.Request) (*http.Response, error) {
	s.mu.Lock()
	s.urls = append(s.urls, r.URL.String())
	s.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (s *sentTo) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.urls...)
}

type eventsFixture struct {
	t    *testing.T
	sim  *Sim
	srv  *httptest.Server
	now  time.Time
	sent *sentTo
	host User
}

// newEventsFixture starts a simulator whose clock stands still, so that
// timestamps can be compared exactly, with one pro user: the host.
func newEventsFixture(t *testing.T, opts Options) *eventsFixture {
	f := &eventsFixture{t: t, now: time.Now().UTC().Truncate(time.Second), sent: &sentTo{}}
	opts.Now = func() time.Time { return f.now }
	opts.WebhookClient = &http.Client{Transport: f.sent}
	f.sim = New(opts)
	f.srv = httptest.NewServer(f.sim)
	t.Cleanup(f.srv.Close)
	t.Cleanup(f.sim.WaitWebhooks)
	var err error
	if f.host, err = f.sim.AddUser(UserSpec{Email: "host@example.com", Plan: "pro"}); err != nil {
		t.Fatal(err)
	}
	return f
}

// addApp registers an app; an empty hook means no webhook URL.
func (f *eventsFixture) addApp(clientID string, hook *hookReceiver) {
	f.t.Helper()
	spec := AppSpec{ClientID: clientID, ClientSecret: clientID + "-secret", RedirectURIs: []string{testRedirect}, Scopes: testScopes}
	if hook != nil {
		spec.WebhookURL, spec.SecretToken = hook.url, hook.secret
	}
	if err := f.sim.AddApp(spec); err != nil {
		f.t.Fatal(err)
	}
	f.sim.WaitWebhooks() // the URL validation
}

// adminScopes are what a server-to-server app or an admin install holds.
var adminScopes = []string{"meeting:write:meeting:admin", "meeting:update:meeting:admin", "meeting:delete:meeting:admin",
	"meeting:read:meeting:admin", "user:read:user:admin"}

// addS2SApp registers a server-to-server app of the host's account.
func (f *eventsFixture) addS2SApp(clientID string, hook *hookReceiver) {
	f.t.Helper()
	spec := AppSpec{ClientID: clientID, ClientSecret: clientID + "-secret", Scopes: adminScopes, AccountID: f.host.AccountID}
	if hook != nil {
		spec.WebhookURL, spec.SecretToken = hook.url, hook.secret
	}
	if err := f.sim.AddApp(spec); err != nil {
		f.t.Fatal(err)
	}
	f.sim.WaitWebhooks() // the URL validation
}

// authorize walks Zoom's consent as the user and returns the app's access token.
func (f *eventsFixture) authorize(clientID, email string) string {
	f.t.Helper()
	return f.authorizeTokens(clientID, email)["access_token"].(string)
}

// accountToken is a server-to-server app's token for the host's account.
func (f *eventsFixture) accountToken(clientID string) string {
	f.t.Helper()
	return f.token(clientID, url.Values{"grant_type": {"account_credentials"}, "account_id": {f.host.AccountID}})
}

func (f *eventsFixture) token(clientID string, form url.Values) string {
	f.t.Helper()
	status, out := f.tokenCall(clientID, clientID+"-secret", form)
	if status != http.StatusOK || out["access_token"] == nil {
		f.t.Fatalf("token for %s: %d %v", clientID, status, out)
	}
	return out["access_token"].(string)
}

func (f *eventsFixture) do(req *http.Request) (int, map[string]any) {
	f.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if len(b) == 0 {
		return resp.StatusCode, nil
	}
	return resp.StatusCode, decodeJSON(f.t, b)
}

// call makes a REST call with a token, or a control call without one.
func (f *eventsFixture) call(method, path, token, body string) (int, map[string]any) {
	f.t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return f.do(req)
}

// createMeeting creates a meeting through the REST API and returns it as
// GET /v2/meetings/{id} renders it.
func (f *eventsFixture) createMeeting(token, userID, body string) map[string]any {
	f.t.Helper()
	status, m := f.call("POST", "/v2/users/"+userID+"/meetings", token, body)
	if status != http.StatusCreated {
		f.t.Fatalf("create meeting: %d %v", status, m)
	}
	status, m = f.call("GET", "/v2/meetings/"+m["id"].(json.Number).String(), token, "")
	if status != http.StatusOK {
		f.t.Fatalf("get meeting: %d %v", status, m)
	}
	return m
}

func (f *eventsFixture) zoomTime(d time.Duration) string { return f.now.Add(d).Format(zoomTime) }

// payloadOf checks the envelope every meeting event shares and returns the payload.
func (f *eventsFixture) payloadOf(h hookRequest, event string, operator User) map[string]any {
	f.t.Helper()
	ms := json.Number(strconv.FormatInt(f.now.UnixMilli(), 10))
	if h.event["event"] != event || h.event["event_ts"] != ms {
		f.t.Fatalf("event %v, want %s at %s", h.event, event, ms)
	}
	p, _ := h.event["payload"].(map[string]any)
	if p["account_id"] != f.host.AccountID || p["operator"] != operator.Email || p["operator_id"] != operator.ID {
		f.t.Fatalf("payload %v, want account %s operator %s (%s)", p, f.host.AccountID, operator.Email, operator.ID)
	}
	if event == "meeting.updated" && p["time_stamp"] != ms {
		f.t.Fatalf("time_stamp %v, want %s", p["time_stamp"], ms)
	}
	return p
}

func TestRESTDeleteSendsMeetingDeletedToTheAppsTheHostAuthorized(t *testing.T) {
	f := newEventsFixture(t, Options{})
	hooked, stranger := newHookReceiver(t, "hooked-token"), newHookReceiver(t, "stranger-token")
	f.addApp("hooked", hooked)
	f.addApp("stranger", stranger) // authorized by another user only
	f.addApp("quiet", nil)         // authorized by the host, but no webhook URL
	if _, err := f.sim.AddUser(UserSpec{Email: "other@example.com", Plan: "pro"}); err != nil {
		t.Fatal(err)
	}
	f.authorize("hooked", f.host.Email)
	f.authorize("stranger", "other@example.com")
	quiet := f.authorize("quiet", f.host.Email)
	validations := f.sent.all()

	m := f.createMeeting(quiet, "me", `{"topic":"Design review","type":2,"start_time":"`+f.zoomTime(26*time.Hour)+
		`","duration":45,"timezone":"Europe/Berlin","agenda":"Q3"}`)
	id := m["id"].(json.Number).String()
	if status, out := f.call("DELETE", "/v2/meetings/"+id, quiet, ""); status != http.StatusNoContent {
		t.Fatalf("delete: %d %v", status, out)
	}
	f.sim.WaitWebhooks()

	got := hooked.events()
	if len(got) != 1 {
		t.Fatalf("hooked app got %d events, want one meeting.deleted: %v", len(got), got)
	}
	p := f.payloadOf(got[0], "meeting.deleted", f.host)
	want := map[string]any{}
	for _, k := range []string{"uuid", "id", "host_id", "topic", "type", "start_time", "duration", "timezone"} {
		want[k] = m[k]
	}
	if !reflect.DeepEqual(p["object"], want) {
		t.Fatalf("object %v\nwant   %v", p["object"], want)
	}
	ts := got[0].header.Get("x-zm-request-timestamp")
	if ts != strconv.FormatInt(f.now.Unix(), 10) {
		t.Fatalf("x-zm-request-timestamp %q, want %d", ts, f.now.Unix())
	}
	if sig := got[0].header.Get("x-zm-signature"); sig != "v0="+hexHMAC("hooked-token", "v0:"+ts+":"+string(got[0].body)) {
		t.Fatalf("x-zm-signature %q does not verify with the app's secret token", sig)
	}
	if ev := stranger.events(); len(ev) != 0 {
		t.Fatalf("an app the host never authorized got %v", ev)
	}
	if sent := f.sent.all()[len(validations):]; len(sent) != 1 || sent[0] != hooked.url {
		t.Fatalf("after the delete the simulator posted to %v, want only %s", sent, hooked.url)
	}
}

func TestRESTPatchSendsOnlyTheChangedFields(t *testing.T) {
	f := newEventsFixture(t, Options{})
	hooked := newHookReceiver(t, "hooked-token")
	f.addApp("hooked", hooked)
	tok := f.authorize("hooked", f.host.Email)
	first, moved := f.zoomTime(24*time.Hour), f.zoomTime(50*time.Hour)
	m := f.createMeeting(tok, "me", `{"topic":"Standup","start_time":"`+first+`","duration":15}`)
	id := m["id"].(json.Number)

	patch := func(body string) {
		t.Helper()
		if status, out := f.call("PATCH", "/v2/meetings/"+id.String(), tok, body); status != http.StatusNoContent {
			t.Fatalf("PATCH %s: %d %v", body, status, out)
		}
		f.sim.WaitWebhooks()
	}
	patch(`{"topic":"Standup","start_time":"` + moved + `"}`)
	got := hooked.events()
	if len(got) != 1 {
		t.Fatalf("got %d events after moving the meeting, want 1: %v", len(got), got)
	}
	p := f.payloadOf(got[0], "meeting.updated", f.host)
	if want := asJSON(t, map[string]any{"id": id, "start_time": moved}); !reflect.DeepEqual(p["object"], want) {
		t.Fatalf("object %v, want %v", p["object"], want)
	}
	if want := asJSON(t, map[string]any{"id": id, "start_time": first}); !reflect.DeepEqual(p["old_object"], want) {
		t.Fatalf("old_object %v, want %v", p["old_object"], want)
	}

	patch(`{"topic":"Standup","start_time":"` + moved + `","duration":15,"settings":{"waiting_room":false}}`)
	if got := hooked.events(); len(got) != 1 {
		t.Fatalf("a PATCH that changed nothing sent %v", got[1:])
	}

	patch(`{"settings":{"waiting_room":true,"mute_upon_entry":false}}`)
	got = hooked.events()
	if len(got) != 2 {
		t.Fatalf("got %d events after a settings change, want 2", len(got))
	}
	p = f.payloadOf(got[1], "meeting.updated", f.host)
	if want := asJSON(t, map[string]any{"id": id, "settings": map[string]any{"waiting_room": true}}); !reflect.DeepEqual(p["object"], want) {
		t.Fatalf("object %v, want %v", p["object"], want)
	}
	if want := asJSON(t, map[string]any{"id": id, "settings": map[string]any{"waiting_room": false}}); !reflect.DeepEqual(p["old_object"], want) {
		t.Fatalf("old_object %v, want %v", p["old_object"], want)
	}
}

func TestAccountAppsGetEventsAndDeauthorizedAppsStopGettingThem(t *testing.T) {
	f := newEventsFixture(t, Options{})
	account, removed := newHookReceiver(t, "account-token"), newHookReceiver(t, "removed-token")
	f.addS2SApp("s2s", account)
	f.addApp("removed", removed)
	s2s := f.accountToken("s2s")
	f.authorize("removed", f.host.Email)
	m := f.createMeeting(s2s, f.host.Email, `{"topic":"Board","start_time":"`+f.zoomTime(24*time.Hour)+`","duration":60}`)

	if status, out := f.call("POST", "/_sim/users/"+f.host.ID+"/deauthorize", "", `{"client_id":"removed"}`); status != http.StatusAccepted {
		t.Fatalf("deauthorize: %d %v", status, out)
	}
	f.sim.WaitWebhooks()
	if status, out := f.call("DELETE", "/v2/meetings/"+m["id"].(json.Number).String(), s2s, ""); status != http.StatusNoContent {
		t.Fatalf("delete: %d %v", status, out)
	}
	f.sim.WaitWebhooks()

	got := account.events()
	if len(got) != 1 {
		t.Fatalf("the account's app got %d events, want one meeting.deleted: %v", len(got), got)
	}
	// An account token acts for no user: the host is named as the operator.
	if p := f.payloadOf(got[0], "meeting.deleted", f.host); p["object"].(map[string]any)["id"] != m["id"] {
		t.Fatalf("object %v, want meeting %v", p["object"], m["id"])
	}
	if got := removed.events(); len(got) != 1 || got[0].event["event"] != "app_deauthorized" {
		t.Fatalf("the removed app got %v, want only app_deauthorized", got)
	}
}

func TestAppWhoseURLFailsValidationGetsNoMeetingEvents(t *testing.T) {
	f := newEventsFixture(t, Options{})
	broken := newHookReceiver(t, "broken-token")
	broken.refuseValidation = true
	f.addApp("broken", broken)
	tok := f.authorize("broken", f.host.Email)
	m := f.createMeeting(tok, "me", `{"topic":"Sync","start_time":"`+f.zoomTime(24*time.Hour)+`","duration":30}`)
	if status, out := f.call("DELETE", "/v2/meetings/"+m["id"].(json.Number).String(), tok, ""); status != http.StatusNoContent {
		t.Fatalf("delete: %d %v", status, out)
	}
	f.sim.WaitWebhooks()
	if got := broken.events(); len(got) != 0 {
		t.Fatalf("a URL that failed validation got %v", got)
	}
	// Zoom tried to validate again before the event, and gave up on it.
	if n := broken.requests(); n != 2 {
		t.Fatalf("%d validation attempts, want 2 (at registration and before the event)", n)
	}
}
