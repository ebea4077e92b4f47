package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/confhub/confhub/internal/await"
	"github.com/confhub/confhub/internal/webhooks"
)

// receiver is an application's webhook endpoint: it answers the challenge,
// and records every delivery, verifying nothing itself (the tests do).
type receiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []delivery
	// down makes it answer 503 to deliveries (the challenge still works).
	down bool
	// challenge, when set, answers the challenge instead of echoing it.
	challenge func(w http.ResponseWriter, value string)
}

type delivery struct {
	body []byte
	sig  string
	env  webhooks.Envelope
	obj  map[string]any
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodGet {
			r.mu.Lock()
			f := r.challenge
			r.mu.Unlock()
			if f != nil {
				f(w, req.URL.Query().Get("challenge"))
				return
			}
			_, _ = io.WriteString(w, req.URL.Query().Get("challenge"))
			return
		}
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.down {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		d := delivery{body: body, sig: req.Header.Get("x-nylas-signature")}
		if err := json.Unmarshal(body, &d.env); err != nil {
			t.Errorf("a delivery is not JSON: %s", body)
		}
		_ = json.Unmarshal(d.env.Data.Object, &d.obj)
		r.got = append(r.got, d)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) setChallenge(f func(w http.ResponseWriter, value string)) {
	r.mu.Lock()
	r.challenge = f
	r.mu.Unlock()
}

func (r *receiver) setDown(down bool) {
	r.mu.Lock()
	r.down = down
	r.mu.Unlock()
}

// of returns the deliveries of a type, in arrival order.
func (r *receiver) of(typ string) []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []delivery
	for _, d := range r.got {
		if d.env.Type == typ {
			out = append(out, d)
		}
	}
	return out
}

func (r *receiver) all() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

// subscribe creates a destination at the receiver; it returns its id and secret.
func (e *env) subscribe(key string, r *receiver, triggers ...string) (string, string) {
	e.t.Helper()
	res := e.do("POST", "/v3/webhooks", key, map[string]any{"trigger_types": triggers, "webhook_url": r.srv.URL + "/hook",
		"description": "test receiver"})
	e.expect(res, 200, "create webhook")
	return res.data()["id"].(string), res.data()["webhook_secret"].(string)
}

func TestWebhookDestinations(t *testing.T) {
	e := newEnv(t)
	key, other := e.newApp("notified"), e.newApp("other")
	rcv := newReceiver(t)
	url := rcv.srv.URL + "/hook?team=a"

	// Refused, naming the field, and nothing is made.
	for name, c := range map[string]struct {
		body  any
		field string
	}{
		"no triggers":      {map[string]any{"webhook_url": url}, "trigger_types"},
		"empty triggers":   {map[string]any{"trigger_types": []string{}, "webhook_url": url}, "trigger_types"},
		"unknown trigger":  {map[string]any{"trigger_types": []string{"message.created"}, "webhook_url": url}, "trigger_types"},
		"no url":           {map[string]any{"trigger_types": []string{"event.created"}}, "webhook_url"},
		"plain http":       {map[string]any{"trigger_types": []string{"event.created"}, "webhook_url": "http://hooks.example.com/x"}, "webhook_url"},
		"not a url":        {map[string]any{"trigger_types": []string{"event.created"}, "webhook_url": "hooks"}, "webhook_url"},
		"status on create": {map[string]any{"trigger_types": []string{"event.created"}, "webhook_url": url, "status": "pause"}, "status"},
		"bad email":        {map[string]any{"trigger_types": []string{"event.created"}, "webhook_url": url, "notification_email_addresses": []string{"nobody"}}, "notification_email_addresses"},
		"wrong type":       {map[string]any{"trigger_types": "event.created", "webhook_url": url}, "trigger_types"},
	} {
		r := e.do("POST", "/v3/webhooks", key, c.body)
		if r.Status != 400 || !strings.Contains(r.errMessage(), c.field) {
			t.Errorf("%s: %d %s, want 400 naming %s", name, r.Status, r.Raw, c.field)
		}
	}
	// The challenge must be echoed exactly, with 200.
	rcv.setChallenge(func(w http.ResponseWriter, v string) { _, _ = io.WriteString(w, v+"x") })
	r := e.do("POST", "/v3/webhooks", key, map[string]any{"trigger_types": []string{"event.created"}, "webhook_url": url})
	if r.Status != 400 || !strings.Contains(r.errMessage(), "webhook_url") || !strings.Contains(r.errMessage(), "challenge") {
		t.Errorf("a wrong challenge answer: %d %s", r.Status, r.Raw)
	}
	rcv.setChallenge(func(w http.ResponseWriter, v string) { w.WriteHeader(404) })
	r = e.do("POST", "/v3/webhooks", key, map[string]any{"trigger_types": []string{"event.created"}, "webhook_url": url})
	if r.Status != 400 || !strings.Contains(r.errMessage(), "404") {
		t.Errorf("a 404 to the challenge: %d %s", r.Status, r.Raw)
	}
	rcv.setChallenge(nil)
	if l := e.do("GET", "/v3/webhooks", key, nil); len(l.list()) != 0 {
		t.Fatalf("refused creates left destinations: %s", l.Raw)
	}

	r = e.do("POST", "/v3/webhooks", key, map[string]any{"trigger_types": []string{"event.created", "event.updated", "event.created"},
		"webhook_url": url, "description": "calendar sync", "notification_email_addresses": []string{"ops@example.com"}})
	e.expect(r, 200, "create")
	d := r.data()
	id, secret := d["id"].(string), d["webhook_secret"].(string)
	if len(secret) != 64 || d["status"] != "active" || len(d["trigger_types"].([]any)) != 2 || d["webhook_url"] != url ||
		d["description"] != "calendar sync" || d["notification_email_addresses"].([]any)[0] != "ops@example.com" {
		t.Fatalf("created: %s", r.Raw)
	}
	// The secret is shown once, stored sealed, never listed.
	for _, path := range []string{"/v3/webhooks", "/v3/webhooks/" + id} {
		if g := e.do("GET", path, key, nil); g.Status != 200 || strings.Contains(g.Raw, secret) || strings.Contains(g.Raw, "webhook_secret") {
			t.Errorf("GET %s: %d %s", path, g.Status, g.Raw)
		}
	}
	var plain int
	_ = e.pool.QueryRow(context.Background(), `SELECT count(*) FROM webhooks WHERE secret_enc LIKE '%' || $1 || '%'`, secret).Scan(&plain)
	if plain != 0 {
		t.Fatal("the secret is stored in plaintext")
	}
	// Another application sees and touches nothing of it.
	for _, c := range [][2]string{{"GET", "/v3/webhooks/" + id}, {"PUT", "/v3/webhooks/" + id}, {"DELETE", "/v3/webhooks/" + id},
		{"POST", "/v3/webhooks/rotate-secret/" + id}, {"PUT", "/v3/webhooks/" + id + "/rotate-secret"}} {
		var body any
		if c[0] == "PUT" {
			body = map[string]any{"description": "mine"}
		}
		if r := e.do(c[0], c[1], other, body); r.Status != 404 {
			t.Errorf("%s %s with another application's key: %d", c[0], c[1], r.Status)
		}
	}
	if l := e.do("GET", "/v3/webhooks", other, nil); len(l.list()) != 0 {
		t.Fatal("another application lists the destination")
	}

	// PUT is partial; status may be active or pause only.
	u := e.do("PUT", "/v3/webhooks/"+id, key, map[string]any{"description": "renamed", "status": "pause"})
	e.expect(u, 200, "update")
	if u.data()["description"] != "renamed" || u.data()["status"] != "pause" || u.data()["webhook_url"] != url ||
		len(u.data()["trigger_types"].([]any)) != 2 {
		t.Fatalf("updated: %s", u.Raw)
	}
	for _, s := range []string{"failing", "failed", "on"} {
		if r := e.do("PUT", "/v3/webhooks/"+id, key, map[string]any{"status": s}); r.Status != 400 || !strings.Contains(r.errMessage(), "status") {
			t.Errorf("status %q: %d %s", s, r.Status, r.Raw)
		}
	}
	rcv.setChallenge(func(w http.ResponseWriter, v string) { w.WriteHeader(500) })
	if r := e.do("PUT", "/v3/webhooks/"+id, key, map[string]any{"webhook_url": rcv.srv.URL + "/moved"}); r.Status != 400 {
		t.Errorf("a new URL that fails its challenge: %d", r.Status)
	}
	rcv.setChallenge(nil)
	if g := e.do("GET", "/v3/webhooks/"+id, key, nil); g.data()["webhook_url"] != url {
		t.Fatal("a refused URL change was stored")
	}

	// Both rotate forms give a new secret.
	r1 := e.do("POST", "/v3/webhooks/rotate-secret/"+id, key, nil)
	e.expect(r1, 200, "rotate (Node form)")
	r2 := e.do("PUT", "/v3/webhooks/"+id+"/rotate-secret", key, nil)
	e.expect(r2, 200, "rotate (Python form)")
	s1, s2 := r1.data()["webhook_secret"], r2.data()["webhook_secret"]
	if s1 == secret || s2 == s1 || len(s2.(string)) != 64 {
		t.Fatalf("rotated secrets: %v %v (was %s)", s1, s2, secret)
	}

	del := e.do("DELETE", "/v3/webhooks/"+id, key, nil)
	e.expect(del, 200, "delete")
	if del.data()["status"] != "success" {
		t.Fatalf("delete: %s", del.Raw)
	}
	if g := e.do("GET", "/v3/webhooks/"+id, key, nil); g.Status != 404 {
		t.Fatalf("after delete: %d", g.Status)
	}
	if g := e.do("GET", "/v3/webhooks/not-a-uuid", key, nil); g.Status != 404 {
		t.Fatalf("a malformed id: %d", g.Status)
	}
}

// verify checks a delivery's signature with secret.
func verify(d delivery, secret string) bool { return d.sig == webhooks.Sign(secret, d.body) }

func TestEventNotificationsAreSignedAndDistinct(t *testing.T) {
	e := newEnv(t)
	cs := e.calendarSetup("pro")
	rcv := newReceiver(t)
	hook, secret := e.subscribe(cs.key, rcv, "event.created", "event.updated", "event.deleted")
	// A grant.updated the destination did not ask for.
	e.expect(e.do("PATCH", "/v3/grants/"+cs.confGrant, cs.key, map[string]any{"name": "Renamed"}), 200, "rename the grant")

	start := time.Now().Add(72 * time.Hour).Truncate(time.Second)
	r := e.do("POST", "/v3/grants/"+cs.cal+"/events?calendar_id=primary", cs.key, cs.eventBody("Review", start, nil))
	e.expect(r, 200, "create")
	id := r.data()["id"].(string)
	waitFor(t, "event.created", func() bool { return len(rcv.of("event.created")) == 1 })
	created := rcv.of("event.created")[0]
	if !verify(created, secret) || created.env.SpecVersion != "1.0" || created.env.WebhookDeliveryAttempt != 1 ||
		created.env.Data.ApplicationID != cs.appID.String() || created.obj["id"] != id || created.obj["title"] != "Review" ||
		created.obj["conferencing"].(map[string]any)["provider"] != "Zoom Meeting" || created.env.Time == 0 {
		t.Fatalf("event.created: %s", created.body)
	}

	// Rotated: the next notification is signed with the new secret only.
	rot := e.do("POST", "/v3/webhooks/rotate-secret/"+hook, cs.key, nil)
	newSecret := rot.data()["webhook_secret"].(string)
	moved := start.Add(time.Hour)
	e.expect(e.do("PUT", "/v3/grants/"+cs.cal+"/events/"+id, cs.key, map[string]any{
		"when": map[string]any{"start_time": moved.Unix(), "end_time": moved.Add(time.Hour).Unix()}}), 200, "move")
	waitFor(t, "event.updated", func() bool { return len(rcv.of("event.updated")) >= 1 })
	upd := rcv.of("event.updated")[0]
	if !verify(upd, newSecret) || verify(upd, secret) || upd.obj["when"].(map[string]any)["start_time"] != float64(moved.Unix()) {
		t.Fatalf("event.updated (new secret %v, old %v): %s", verify(upd, newSecret), verify(upd, secret), upd.body)
	}

	e.expect(e.do("DELETE", "/v3/grants/"+cs.cal+"/events/"+id, cs.key, nil), 200, "delete")
	waitFor(t, "event.deleted", func() bool { return len(rcv.of("event.deleted")) == 1 })
	del := rcv.of("event.deleted")[0]
	if !verify(del, newSecret) || del.obj["id"] != id || del.obj["grant_id"] != cs.cal || del.obj["object"] != "event" || del.obj["calendar_id"] == "" {
		t.Fatalf("event.deleted: %s", del.body)
	}
	seen := map[string]bool{}
	for _, d := range rcv.all() {
		if seen[d.env.ID] {
			t.Fatalf("two notifications share the id %s", d.env.ID)
		}
		seen[d.env.ID] = true
	}
	// Only what was asked for: not the grant.updated of the rename. A
	// delivery leaves the queue once its answer is back, so after the
	// drain nothing more is coming.
	e.awaitDrained()
	for _, d := range rcv.all() {
		if !strings.HasPrefix(d.env.Type, "event.") {
			t.Fatalf("a notification of a type not subscribed: %s", d.env.Type)
		}
	}
}

// A paused destination is sent nothing, and is not sent later what
// happened while it was paused.
func TestPausedDestinationGetsNothing(t *testing.T) {
	e := newEnv(t)
	cs := e.calendarSetup("pro")
	rcv := newReceiver(t)
	hook, _ := e.subscribe(cs.key, rcv, "event.created")
	e.expect(e.do("PUT", "/v3/webhooks/"+hook, cs.key, map[string]any{"status": "pause"}), 200, "pause")
	start := time.Now().Add(24 * time.Hour).Truncate(time.Second)
	body := cs.eventBody("While paused", start, nil)
	delete(body, "conferencing")
	e.expect(e.do("POST", "/v3/grants/"+cs.cal+"/events?calendar_id=primary", cs.key, body), 200, "create while paused")
	e.expect(e.do("PUT", "/v3/webhooks/"+hook, cs.key, map[string]any{"status": "active"}), 200, "resume")
	body["title"] = "After"
	e.expect(e.do("POST", "/v3/grants/"+cs.cal+"/events?calendar_id=primary", cs.key, body), 200, "create after")
	waitFor(t, "the notification after resuming", func() bool { return len(rcv.of("event.created")) >= 1 })
	e.awaitDrained()
	got := rcv.of("event.created")
	if len(got) != 1 || got[0].obj["title"] != "After" {
		t.Fatalf("deliveries: %d, first %s", len(got), got[0].body)
	}
}

// grant.expired fires once per grant turning invalid: a deauthorization
// notice (even replayed), and a refused refresh (even retried).
func TestGrantExpiredOncePerCause(t *testing.T) {
	e := newEnv(t)
	rcv := newReceiver(t)
	// Deauthorization: Zoom tells us.
	z := e.zoomApp(zoomScopes, true)
	e.subscribe(z.key, rcv, "grant.expired", "grant.created", "grant.deleted")
	g := e.zoomGrant(z)
	waitFor(t, "grant.created", func() bool { return len(rcv.of("grant.created")) == 1 })
	e.deauthorize(z)
	waitFor(t, "grant.expired after deauthorization", func() bool { return len(rcv.of("grant.expired")) == 1 })
	exp := rcv.of("grant.expired")[0]
	if exp.obj["grant_id"] != g.String() || exp.obj["provider"] != "zoom" || exp.obj["grant_status"] != "invalid" ||
		exp.obj["grant_updated_at"] == nil {
		t.Fatalf("grant.expired: %s", exp.body)
	}
	// Refused refresh: the user revoked the app while we were not listening.
	z2 := e.zoomApp(zoomScopes, false)
	rcv2 := newReceiver(t)
	e.subscribe(z2.key, rcv2, "grant.expired")
	g2 := e.zoomGrant(z2)
	e.deauthorize(z2)
	// Its access token runs out: the next use refreshes, and Zoom refuses.
	if _, err := e.pool.Exec(context.Background(), `UPDATE grants SET access_expires_at = now() - interval '1 hour' WHERE id = $1`, g2); err != nil {
		t.Fatal(err)
	}
	for range 3 { // every use after the refusal fails, without a second grant.expired
		if _, err := e.grants.Tokens.Get(context.Background(), z2.appID, g2); err == nil {
			t.Fatal("a revoked grant gave a token")
		}
	}
	waitFor(t, "grant.expired after the refused refresh", func() bool { return len(rcv2.of("grant.expired")) == 1 })
	// Let any duplicate arrive: the queue drains to nothing.
	e.awaitDrained()
	if n1, n2 := len(rcv.of("grant.expired")), len(rcv2.of("grant.expired")); n1 != 1 || n2 != 1 {
		t.Fatalf("grant.expired: %d after deauthorization, %d after the refused refresh; want exactly one each", n1, n2)
	}
	if e2 := rcv2.of("grant.expired")[0]; e2.obj["grant_id"] != g2.String() || !strings.Contains(fmt.Sprint(e2.obj["reason"]), "refresh") {
		t.Fatalf("grant.expired of the refused refresh: %s", e2.body)
	}
}

// flakyReceiver is a receiver whose server really goes away (connections
// refused) and comes back on the same address.
type flakyReceiver struct {
	*receiver
	addr    string
	handler http.Handler
	srv     *http.Server
}

func newFlakyReceiver(t *testing.T) *flakyReceiver {
	r := newReceiver(t)
	f := &flakyReceiver{receiver: r, addr: r.srv.Listener.Addr().String(), handler: r.srv.Config.Handler}
	r.srv.Close() // the flaky one serves on this address instead
	f.up(t)
	t.Cleanup(func() { f.down() })
	return f
}

func (f *flakyReceiver) down() {
	if f.srv != nil {
		_ = f.srv.Close()
		f.srv = nil
	}
}

func (f *flakyReceiver) up(t *testing.T) {
	t.Helper()
	var l net.Listener
	if !await.Until(10*time.Second, func() bool {
		var err error
		l, err = net.Listen("tcp", f.addr)
		return err == nil
	}) {
		t.Fatalf("the receiver's address %s could not be listened on again", f.addr)
	}
	f.srv = &http.Server{Handler: f.handler}
	go func() { _ = f.srv.Serve(l) }()
}

// The receiver is down (connections refused) for two minutes while 50
// events are created; once it is back, all 50 event.created arrive, and the
// destination never went failing: two minutes is under the 15-minute
// threshold.
func TestReceiverDownTwoMinutesLosesNothing(t *testing.T) {
	t.Parallel()
	const outage, n = 2 * time.Minute, 50
	e := newEnv(t)
	cs := e.calendarSetup("pro")
	rcv := newFlakyReceiver(t)
	hook, secret := e.subscribe(cs.key, rcv.receiver, "event.created")

	rcv.down()
	wentDown := time.Now()
	start := time.Now().Add(24 * time.Hour).Truncate(time.Second)
	ids := map[string]bool{}
	for i := range n {
		body := cs.eventBody(fmt.Sprintf("Offline %d", i), start.Add(time.Duration(i)*time.Hour), nil)
		delete(body, "conferencing")
		r := e.do("POST", "/v3/grants/"+cs.cal+"/events?calendar_id=primary", cs.key, body)
		e.expect(r, 200, "create")
		ids[r.data()["id"].(string)] = true
	}
	statuses := map[string]bool{}
	for time.Since(wentDown) < outage {
		statuses[e.do("GET", "/v3/webhooks/"+hook, cs.key, nil).data()["status"].(string)] = true
		select {
		case <-time.After(min(5*time.Second, outage-time.Since(wentDown))):
		case <-t.Context().Done():
			return
		}
	}
	if len(rcv.all()) != 0 {
		t.Fatal("deliveries arrived while the receiver was down")
	}
	var attempted int
	_ = e.pool.QueryRow(context.Background(), `SELECT count(*) FROM webhook_deliveries WHERE attempts > 0`).Scan(&attempted)
	if attempted == 0 {
		t.Fatal("no delivery was attempted during the outage")
	}
	rcv.up(t)
	if !await.Until(3*time.Minute, func() bool { return len(rcv.of("event.created")) >= n }) {
		t.Fatalf("%d of %d event.created arrived within 3 minutes of the receiver's return", len(rcv.of("event.created")), n)
	}
	got := map[string]bool{}
	retried := 0
	for _, d := range rcv.of("event.created") {
		if !verify(d, secret) {
			t.Fatalf("a delivery does not verify: %s", d.body)
		}
		got[d.obj["id"].(string)] = true
		if d.env.WebhookDeliveryAttempt > 1 {
			retried++
		}
	}
	for id := range ids {
		if !got[id] {
			t.Fatalf("event %s's event.created never arrived", id)
		}
	}
	if retried == 0 {
		t.Error("no delivery says it was a retry (webhook_delivery_attempt > 1)")
	}
	statuses[e.do("GET", "/v3/webhooks/"+hook, cs.key, nil).data()["status"].(string)] = true
	if len(statuses) != 1 || !statuses["active"] {
		t.Fatalf("statuses seen: %v; a two-minute outage is under the failing threshold (15 minutes)", statuses)
	}
	t.Logf("%d notifications, %d of them retried, all arrived %v after the receiver's return", n, retried, time.Since(wentDown)-outage)
}

// The README's few lines that verify a signature, run as written (node)
// on a real delivery: they accept it, and refuse it altered or under
// another secret.
func TestReadmeSignatureCheck(t *testing.T) {
	_, node := nodeSDK(t)
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)x-nylas-signature.*?```js\n(.*?)```").FindSubmatch(readme)
	if block == nil {
		t.Fatal("the README shows no JavaScript signature check after x-nylas-signature")
	}
	e := newEnv(t)
	cs := e.calendarSetup("pro")
	rcv := newReceiver(t)
	_, secret := e.subscribe(cs.key, rcv, "event.created")
	body := cs.eventBody("Verified", time.Now().Add(24*time.Hour).Truncate(time.Second), nil)
	delete(body, "conferencing")
	e.expect(e.do("POST", "/v3/grants/"+cs.cal+"/events?calendar_id=primary", cs.key, body), 200, "create")
	waitFor(t, "event.created", func() bool { return len(rcv.of("event.created")) == 1 })
	d := rcv.of("event.created")[0]
	script := string(block[1]) + fmt.Sprintf(`
const body = Buffer.from(%q, 'base64');
const altered = Buffer.from(body.toString().replace('Verified', 'Verifiee'));
console.log([verified(body, %q, %q), verified(altered, %q, %q), verified(body, %q, 'another-secret')].join(' '));
`, base64.StdEncoding.EncodeToString(d.body), d.sig, secret, d.sig, secret, d.sig)
	f := filepath.Join(t.TempDir(), "check.js")
	if err := os.WriteFile(f, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(node, f).CombinedOutput()
	if err != nil {
		t.Fatalf("the README's check does not run: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "true false false" {
		t.Fatalf("the README's check says %q for (the delivery, altered, another secret), want \"true false false\"", got)
	}
}

// grant.created, grant.updated (a rename, a reconnection of the same Zoom
// user) and grant.deleted, each once.
func TestGrantNotifications(t *testing.T) {
	e := newEnv(t)
	z := e.zoomApp(zoomScopes, false)
	rcv := newReceiver(t)
	_, secret := e.subscribe(z.key, rcv, "grant.created", "grant.updated", "grant.deleted")
	g := e.connectByToken(z)
	waitFor(t, "grant.created", func() bool { return len(rcv.of("grant.created")) == 1 })
	if c := rcv.of("grant.created")[0]; !verify(c, secret) || c.obj["grant_id"] != g.String() || c.obj["provider"] != "zoom" ||
		c.obj["email"] != z.user.Email || c.obj["grant_status"] != "valid" {
		t.Fatalf("grant.created: %s", c.body)
	}
	e.expect(e.do("PATCH", "/v3/grants/"+g.String(), z.key, map[string]any{"name": "Renamed"}), 200, "rename")
	if again := e.connectByToken(z); again != g {
		t.Fatalf("reconnecting made another grant %s", again)
	}
	waitFor(t, "two grant.updated", func() bool { return len(rcv.of("grant.updated")) == 2 })
	e.expect(e.do("DELETE", "/v3/grants/"+g.String(), z.key, nil), 200, "delete")
	waitFor(t, "grant.deleted", func() bool { return len(rcv.of("grant.deleted")) == 1 })
	if d := rcv.of("grant.deleted")[0]; d.obj["grant_id"] != g.String() {
		t.Fatalf("grant.deleted: %s", d.body)
	}
	if n := len(rcv.of("grant.created")); n != 1 {
		t.Fatalf("%d grant.created for one grant", n)
	}
}

// A URL that does not answer its challenge within 10 seconds is refused,
// and nothing is made.
func TestWebhookChallengeMustAnswerInTime(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	key := e.newApp("slow")
	rcv := newReceiver(t)
	release := make(chan struct{})
	defer close(release)
	rcv.setChallenge(func(w http.ResponseWriter, v string) {
		<-release // answers only once the test is over
		_, _ = io.WriteString(w, v)
	})
	r := e.do("POST", "/v3/webhooks", key, map[string]any{"trigger_types": []string{"event.created"}, "webhook_url": rcv.srv.URL})
	if r.Status != 400 || !strings.Contains(r.errMessage(), "webhook_url") || !strings.Contains(r.errMessage(), "within 10 seconds") {
		t.Fatalf("a challenge left unanswered: %d %s", r.Status, r.Raw)
	}
	if l := e.do("GET", "/v3/webhooks", key, nil); len(l.list()) != 0 {
		t.Fatalf("a destination was made: %s", l.Raw)
	}
}

// awaitDrained waits until every recorded notification has been delivered:
// after it, nothing more is on its way.
func (e *env) awaitDrained() {
	e.t.Helper()
	if !await.Until(30*time.Second, func() bool {
		var n int
		if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM webhook_deliveries`).Scan(&n); err != nil {
			e.t.Fatal(err)
		}
		return n == 0
	}) {
		e.t.Fatal("timed out waiting for the delivery queue to drain")
	}
}

// onePerGrant waits until every grant has had its notification of typ and
// nothing more is on its way, then requires exactly one each.
func (e *env) onePerGrant(rcv *receiver, typ string, grants []string) {
	e.t.Helper()
	waitFor(e.t, "a "+typ+" per grant", func() bool { return len(rcv.of(typ)) >= len(grants) })
	e.awaitDrained()
	seen := map[string]int{}
	for _, d := range rcv.of(typ) {
		seen[d.obj["grant_id"].(string)]++
	}
	for _, g := range grants {
		if seen[g] != 1 {
			e.t.Fatalf("%s per grant %v, want exactly one for each of %v", typ, seen, grants)
		}
	}
}
