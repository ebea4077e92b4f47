package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/client"

	"github.com/confhub/confhub/connectors/zoom/zoomsim"
	"github.com/confhub/confhub/internal/await"
)

// calendarSetup is an application with a virtual-calendar grant and a Zoom
// grant whose user is simulated.
type calendarSetup struct {
	zoomApp
	cal       string // the virtual-calendar grant id
	confGrant string
}

func (e *env) calendarSetup(plan string) calendarSetup {
	e.t.Helper()
	return e.calendarSetupScopes(plan, zoomScopes)
}

func (e *env) calendarSetupScopes(plan string, scopes []string) calendarSetup {
	e.t.Helper()
	z := e.zoomApp(scopes, false)
	if plan != "pro" {
		u, err := e.sim.AddUser(zoomsim.UserSpec{Email: "p-" + randomHex(4) + "@example.com", Plan: plan})
		if err != nil {
			e.t.Fatal(err)
		}
		z.user = u
	}
	return e.calendarOn(z)
}

// calendarOn gives z's application a virtual-calendar grant and a Zoom
// grant of z's user.
func (e *env) calendarOn(z zoomApp) calendarSetup {
	e.t.Helper()
	cs := calendarSetup{zoomApp: z, cal: e.calendar(z.key)}
	cs.confGrant = e.zoomGrant(z).String()
	return cs
}

// calendar gives the application a virtual calendar and returns its grant id.
func (e *env) calendar(key string) string {
	e.t.Helper()
	e.expect(e.do("POST", "/v3/connectors", key, map[string]any{"provider": "virtual-calendar"}), 201, "vc connector")
	r := e.do("POST", "/v3/connect/custom", key, map[string]any{"provider": "virtual-calendar", "settings": map[string]any{"email": "room-" + randomHex(3)}})
	e.expect(r, 201, "vc grant")
	return r.data()["id"].(string)
}

func (cs calendarSetup) eventBody(title string, start time.Time, extra map[string]any) map[string]any {
	b := map[string]any{"title": title, "description": "Agenda: roadmap",
		"when":         map[string]any{"start_time": start.Unix(), "end_time": start.Add(30 * time.Minute).Unix()},
		"conferencing": map[string]any{"provider": "Zoom Meeting", "autocreate": map[string]any{"conf_grant_id": cs.confGrant}}}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

func (e *env) meetings() []map[string]any {
	e.t.Helper()
	resp, err := e.client.Get(e.simURL + "/_sim/meetings")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Meetings []map[string]any `json:"meetings"`
	}
	_ = jsonDecode(resp, &out)
	return out.Meetings
}

func (e *env) zoomCalls(op string) int {
	n := 0
	for _, v := range e.sim.Stats().Calls[op] {
		n += v
	}
	return n
}

func TestEventWithZoomAutocreate(t *testing.T) {
	e := newEnv(t)
	cs := e.calendarSetup("pro")
	start := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	body := cs.eventBody("Planning", start, map[string]any{"participants": []map[string]any{{"email": "bob@example.com", "name": "Bob"}},
		"metadata": map[string]any{"booking": "42"}})
	body["conferencing"].(map[string]any)["autocreate"].(map[string]any)["conf_settings"] = map[string]any{
		"password": "pass-1", "settings": map[string]any{"waiting_room": true, "auto_recording": "cloud"}}
	r := e.do("POST", "/v3/grants/"+cs.cal+"/events?calendar_id=primary&notify_participants=true", cs.key, body)
	e.expect(r, 200, "create event")
	d := r.data()
	conf, _ := d["conferencing"].(map[string]any)
	details, _ := conf["details"].(map[string]any)
	if conf["provider"] != "Zoom Meeting" || !strings.HasPrefix(details["url"].(string), e.simURL+"/j/") || details["password"] != "pass-1" ||
		details["meeting_code"] == "" || len(details["phone"].([]any)) == 0 {
		t.Fatalf("event conferencing: %s", r.Raw)
	}
	desc := d["description"].(string)
	if !strings.HasPrefix(desc, "Agenda: roadmap") || strings.Count(desc, "Join Zoom Meeting") != 1 || !strings.Contains(desc, details["url"].(string)) {
		t.Fatalf("description: %q", desc)
	}
	ms := e.meetings()
	if len(ms) != 1 || ms[0]["topic"] != "Planning" || ms[0]["start_time"] != start.UTC().Format("2006-01-02T15:04:05Z") ||
		ms[0]["duration"] != float64(30) || ms[0]["password"] != "pass-1" || !strings.Contains(ms[0]["agenda"].(string), "Agenda: roadmap") ||
		!strings.Contains(ms[0]["agenda"].(string), "confhub-ref: ") || ms[0]["host_id"] != cs.user.ID {
		t.Fatalf("Zoom meeting: %v", ms)
	}
	if ms[0]["settings"].(map[string]any)["auto_recording"] != "cloud" {
		t.Fatalf("conf_settings did not reach Zoom: %v", ms[0]["settings"])
	}
	id := d["id"].(string)
	g := e.do("GET", "/v3/grants/"+cs.cal+"/events/"+id, cs.key, nil)
	e.expect(g, 200, "get")
	if g.data()["description"] != desc || g.data()["metadata"].(map[string]any)["booking"] != "42" {
		t.Fatalf("get: %s", g.Raw)
	}
	l := e.do("GET", "/v3/grants/"+cs.cal+"/events?calendar_id=primary", cs.key, nil)
	if len(l.list()) != 1 || l.Body["next_cursor"] != nil {
		t.Fatalf("list: %s", l.Raw)
	}
	if e.zoomCalls("create_meeting") != 1 {
		t.Fatalf("%d create calls for one event", e.zoomCalls("create_meeting"))
	}
}

func TestEventUpdatesSyncOnlyWhatZoomHas(t *testing.T) {
	e := newEnv(t)
	cs := e.calendarSetup("pro")
	start := time.Now().Add(24 * time.Hour).Truncate(time.Second)
	r := e.do("POST", "/v3/grants/"+cs.cal+"/events?calendar_id=primary", cs.key, cs.eventBody("Sync me", start, nil))
	e.expect(r, 200, "create")
	id := r.data()["id"].(string)
	path := "/v3/grants/" + cs.cal + "/events/" + id

	patches, gets := e.zoomCalls("update_meeting"), e.zoomCalls("get_meeting")
	r = e.do("PUT", path, cs.key, map[string]any{"location": "Room 4"})
	e.expect(r, 200, "location only")
	if e.zoomCalls("update_meeting") != patches || e.zoomCalls("get_meeting") != gets || r.data()["location"] != "Room 4" {
		t.Fatalf("a location change called Zoom (%d PATCH, %d GET)", e.zoomCalls("update_meeting")-patches, e.zoomCalls("get_meeting")-gets)
	}
	later := start.Add(2 * time.Hour)
	// The client echoes the rendered description back: the block must not double.
	r = e.do("PUT", path, cs.key, map[string]any{"when": map[string]any{"start_time": later.Unix(), "end_time": later.Add(time.Hour).Unix()},
		"description": r.data()["description"]})
	e.expect(r, 200, "time change")
	if e.zoomCalls("update_meeting") != patches+1 {
		t.Fatal("a time change did not PATCH the meeting")
	}
	m := e.meetings()[0]
	if m["start_time"] != later.UTC().Format("2006-01-02T15:04:05Z") || m["duration"] != float64(60) {
		t.Fatalf("meeting after the time change: %v", m)
	}
	if strings.Count(r.data()["description"].(string), "Join Zoom Meeting") != 1 || r.data()["location"] != "Room 4" {
		t.Fatalf("after update: %s", r.Raw)
	}

	// Zoom failing leaves the event unchanged.
	_ = e.sim.SetFaults(zoomsimFaults("update_meeting", 400))
	r = e.do("PUT", path, cs.key, map[string]any{"title": "Never"})
	if r.Status < 400 {
		t.Fatalf("update with Zoom failing: %s", r.Raw)
	}
	_ = e.sim.SetFaults(zoomsimFaults("", 0))
	if g := e.do("GET", path, cs.key, nil); g.data()["title"] != "Sync me" {
		t.Fatalf("a failed update changed the event: %s", g.Raw)
	}

	// conferencing {} removes the meeting.
	r = e.do("PUT", path, cs.key, map[string]any{"conferencing": map[string]any{}})
	e.expect(r, 200, "remove conference")
	if r.data()["conferencing"] != nil || strings.Contains(r.data()["description"].(string), "Join Zoom Meeting") {
		t.Fatalf("conference not removed: %s", r.Raw)
	}
	waitFor(t, "the meeting to be deleted", func() bool { return len(e.meetings()) == 0 })
}

func TestDeleteEventRemovesItsMeeting(t *testing.T) {
	e := newEnv(t)
	cs := e.calendarSetup("pro")
	r := e.do("POST", "/v3/grants/"+cs.cal+"/events?calendar_id=primary", cs.key, cs.eventBody("Bye", time.Now().Add(time.Hour), nil))
	e.expect(r, 200, "create")
	path := "/v3/grants/" + cs.cal + "/events/" + r.data()["id"].(string)
	e.expect(e.do("DELETE", path, cs.key, nil), 200, "delete")
	e.expect(e.do("GET", path, cs.key, nil), 404, "deleted event")
	waitFor(t, "the meeting to be deleted", func() bool { return len(e.meetings()) == 0 })

	// A meeting that cannot be deleted (its grant was deauthorized) is
	// recorded, and the application told once.
	rcv := newReceiver(t)
	e.subscribe(cs.key, rcv, "conferencing.orphaned")
	r = e.do("POST", "/v3/grants/"+cs.cal+"/events?calendar_id=primary", cs.key, cs.eventBody("Stuck", time.Now().Add(time.Hour), nil))
	e.expect(r, 200, "create")
	meetingID := r.data()["conferencing"].(map[string]any)["details"].(map[string]any)["meeting_code"]
	if _, err := e.pool.Exec(context.Background(), `UPDATE grants SET grant_status = 'invalid', invalid_reason = 'test' WHERE id = $1`, cs.confGrant); err != nil {
		t.Fatal(err)
	}
	e.expect(e.do("DELETE", "/v3/grants/"+cs.cal+"/events/"+r.data()["id"].(string), cs.key, nil), 200, "delete")
	waitFor(t, "the orphan to be recorded", func() bool {
		o := e.do("GET", "/v3/grants/"+cs.confGrant+"/conferencing/orphans", cs.key, nil)
		return len(o.list()) == 1 && o.list()[0].(map[string]any)["meeting_id"] == meetingID &&
			strings.Contains(o.list()[0].(map[string]any)["reason"].(string), "invalid")
	})
	waitFor(t, "conferencing.orphaned", func() bool { return len(rcv.of("conferencing.orphaned")) == 1 })
	if o := rcv.of("conferencing.orphaned")[0].obj; o["meeting_id"] != meetingID || o["conf_grant_id"] != cs.confGrant ||
		o["event_id"] != r.data()["id"] || !strings.Contains(fmt.Sprint(o["reason"]), "invalid") {
		t.Fatalf("conferencing.orphaned: %v", o)
	}
}

func TestZoomFailuresLeaveNothingBehind(t *testing.T) {
	e := newEnv(t)
	cs := e.calendarSetup("pro")
	create := func(title string, conf map[string]any) response {
		b := cs.eventBody(title, time.Now().Add(time.Hour), nil)
		if conf != nil {
			b["conferencing"] = conf
		}
		return e.do("POST", "/v3/grants/"+cs.cal+"/events?calendar_id=primary", cs.key, b)
	}
	expectErr := func(r response, status int, typ, want string) {
		t.Helper()
		if r.Status != status || r.errType() != typ || !strings.Contains(r.errMessage(), want) {
			t.Errorf("got %d %s, want %d %s mentioning %q", r.Status, r.Raw, status, typ, want)
		}
	}

	_ = e.sim.SetFaults(zoomsimFaults("create_meeting", 500))
	r := create("storm", nil)
	expectErr(r, 502, "provider_error", "Zoom")
	_ = e.sim.SetFaults(zoomsimFaults("", 0))

	basic := e.calendarSetup("basic")
	r = e.do("POST", "/v3/grants/"+basic.cal+"/events?calendar_id=primary", basic.key, basic.eventBody("free", time.Now().Add(time.Hour), nil))
	expectErr(r, 403, "forbidden", "Basic")

	// A grant that may create but not update meetings: Zoom's 4711 on the sync.
	narrow := e.calendarSetupScopes("pro", []string{"meeting:write:meeting", "user:read:user"})
	r = e.do("POST", "/v3/grants/"+narrow.cal+"/events?calendar_id=primary", narrow.key, narrow.eventBody("narrow", time.Now().Add(time.Hour), nil))
	e.expect(r, 200, "create with a narrow grant")
	narrowPath := "/v3/grants/" + narrow.cal + "/events/" + r.data()["id"].(string)
	expectErr(e.do("PUT", narrowPath, narrow.key, map[string]any{"title": "renamed"}), 403, "forbidden", "scope")
	if g := e.do("GET", narrowPath, narrow.key, nil); g.data()["title"] != "narrow" {
		t.Fatalf("a refused sync changed the event: %s", g.Raw)
	}
	e.expect(e.do("DELETE", narrowPath, narrow.key, nil), 200, "delete narrow")

	// A bad conf_settings value is ours to refuse, before any Zoom call.
	before := e.zoomCalls("create_meeting")
	r = create("bad pw", map[string]any{"provider": "Zoom Meeting", "autocreate": map[string]any{"conf_grant_id": cs.confGrant,
		"conf_settings": map[string]any{"password": "this is too long"}}})
	expectErr(r, 400, "invalid_request_error", "conferencing.autocreate.conf_settings.password")
	r = create("no grant", map[string]any{"provider": "Zoom Meeting", "autocreate": map[string]any{"conf_grant_id": uuid.NewString()}})
	expectErr(r, 404, "not_found_error", "conferencing.autocreate.conf_grant_id")
	r = create("vc grant", map[string]any{"provider": "Zoom Meeting", "autocreate": map[string]any{"conf_grant_id": cs.cal}})
	expectErr(r, 400, "invalid_request_error", "not a Zoom grant")
	r = create("both", map[string]any{"provider": "Zoom Meeting", "autocreate": map[string]any{"conf_grant_id": cs.confGrant}, "details": map[string]any{"url": "https://x.example"}})
	expectErr(r, 400, "invalid_request_error", "not both")
	if e.zoomCalls("create_meeting") != before {
		t.Fatal("refused requests reached Zoom")
	}

	// The daily limit: a 429 with the reset time, not retried.
	daily := newEnv(t, func(o *zoomsim.Options) { o.DailyLimit = 1 })
	dcs := daily.calendarSetup("pro")
	daily.expect(daily.do("POST", "/v3/grants/"+dcs.cal+"/events?calendar_id=primary", dcs.key, dcs.eventBody("one", time.Now().Add(time.Hour), nil)), 200, "first")
	r = daily.do("POST", "/v3/grants/"+dcs.cal+"/events?calendar_id=primary", dcs.key, dcs.eventBody("two", time.Now().Add(time.Hour), nil))
	if r.Status != 429 || r.errType() != "rate_limit_error" || !strings.Contains(r.errMessage(), "resets at") {
		t.Fatalf("daily limit: %s", r.Raw)
	}
	if daily.zoomCalls("create_meeting") != 2 {
		t.Fatalf("the daily-limit 429 was retried: %d create calls", daily.zoomCalls("create_meeting"))
	}

	var n int
	_ = e.pool.QueryRow(context.Background(), `SELECT count(*) FROM events`).Scan(&n)
	// The narrow grant's meeting cannot be deleted either (no delete scope): it is recorded.
	waitFor(t, "the undeletable meeting to be recorded", func() bool {
		return len(e.do("GET", "/v3/grants/"+narrow.confGrant+"/conferencing/orphans", narrow.key, nil).list()) == 1
	})
	if n != 0 || len(e.meetings()) != 1 {
		t.Fatalf("failures left %d events and %d meetings (want 0 and the narrow grant's orphan)", n, len(e.meetings()))
	}
	if len(daily.meetings()) != 1 {
		t.Fatalf("daily: %d meetings, want 1", len(daily.meetings()))
	}
}

// With Zoom losing 30% of create answers after creating the meeting, 200
// events give exactly 200 meetings, one per event.
func TestNoDuplicateMeetingsWhenAnswersAreLost(t *testing.T) {
	e := newEnv(t, func(o *zoomsim.Options) { o.DailyLimit = 10000; o.Seed = 42 })
	cs := e.calendarSetup("business")
	if err := e.sim.SetFaults(zoomsim.Faults{Ops: map[string]zoomsim.OpFault{"create_meeting": {DropRate: 0.3}}}); err != nil {
		t.Fatal(err)
	}
	restart := make(chan struct{})
	var done atomic.Int32
	sixty := make(chan struct{})       // closed when the 60th event is answered
	allAnswered := make(chan struct{}) // closed when every request has returned
	var restartedAfter int32
	go func() {
		defer close(restart)
		// Stop the worker mid-run and start a new one, as a deploy would.
		select {
		case <-sixty:
		case <-allAnswered:
			select {
			case <-sixty:
			default:
				t.Errorf("only %d events were answered: the worker was never restarted", done.Load())
				return
			}
		}
		restartedAfter = done.Load()
		e.worker.Stop()
		// The deploy's gap, not a wait for anything: for half a second no
		// worker polls, and the creations under way wait for the new one.
		time.Sleep(500 * time.Millisecond)
		// A deploy starts a new process: a new worker on its own connection.
		w := e.st.NewWorker(temporalSrv.NewClientWithOptions(client.Options{}))
		if err := w.Start(); err != nil {
			t.Error(err)
		}
		e.worker = w
	}()
	ids := make([]string, 200)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	start := time.Now().Add(72 * time.Hour)
	for i := range 200 {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r := e.do("POST", "/v3/grants/"+cs.cal+"/events?calendar_id=primary", cs.key, cs.eventBody(fmt.Sprintf("Booking %d", i), start, nil))
			if r.Status != 200 {
				t.Errorf("event %d: %d %s", i, r.Status, r.Raw)
				return
			}
			ids[i] = r.data()["conferencing"].(map[string]any)["details"].(map[string]any)["meeting_code"].(string)
			if done.Add(1) == 60 {
				close(sixty)
			}
		}()
	}
	wg.Wait()
	close(allAnswered)
	<-restart
	ms := e.meetings()
	byID := map[string]int{}
	for _, m := range ms {
		byID[fmt.Sprint(int64(m["id"].(float64)))]++
	}
	seen := map[string]bool{}
	for i, id := range ids {
		if id == "" {
			continue
		}
		if seen[id] {
			t.Errorf("event %d shares meeting %s with another event", i, id)
		}
		seen[id] = true
		if byID[id] != 1 {
			t.Errorf("event %d's meeting %s is not at Zoom", i, id)
		}
	}
	dropped := e.sim.Stats().Calls["create_meeting"]["dropped"]
	if len(ms) != 200 || len(seen) != 200 {
		t.Fatalf("%d meetings at Zoom and %d distinct on events for 200 events (%d answers dropped)", len(ms), len(seen), dropped)
	}
	if dropped < 30 {
		t.Fatalf("only %d create answers were dropped: the fault did not bite", dropped)
	}
	t.Logf("200 events, 200 meetings, %d create answers lost and recovered, the worker restarted after %d events", dropped, restartedAfter)
}

func TestIdempotencyKey(t *testing.T) {
	e := newEnv(t)
	cs := e.calendarSetup("pro")
	body := cs.eventBody("Once", time.Now().Add(time.Hour), nil)
	post := func(b map[string]any, key string) response {
		req := mustJSON(t, b)
		httpReq, _ := http.NewRequest("POST", e.srv.URL+"/v3/grants/"+cs.cal+"/events?calendar_id=primary", strings.NewReader(req))
		httpReq.Header.Set("Authorization", "Bearer "+cs.key)
		httpReq.Header.Set("Content-Type", "application/json")
		httpReq.Header.Set("Idempotency-Key", key)
		resp, err := e.client.Do(httpReq)
		if err != nil {
			t.Fatal(err)
		}
		return readResponse(t, resp)
	}
	a := post(body, "key-1")
	b := post(body, "key-1")
	if a.Status != 200 || b.Status != 200 || a.data()["id"] != b.data()["id"] {
		t.Fatalf("same key twice: %s / %s", a.Raw, b.Raw)
	}
	body["title"] = "Other"
	if c := post(body, "key-1"); c.Status != 409 {
		t.Fatalf("same key, other body: %s", c.Raw)
	}
	if len(e.meetings()) != 1 {
		t.Fatalf("%d meetings for one idempotent event", len(e.meetings()))
	}
}

func TestConcurrentUpdatesLoseNoWrite(t *testing.T) {
	e := newEnv(t)
	cs := e.calendarSetup("pro")
	r := e.do("POST", "/v3/grants/"+cs.cal+"/events?calendar_id=primary", cs.key, cs.eventBody("Busy", time.Now().Add(time.Hour), nil))
	path := "/v3/grants/" + cs.cal + "/events/" + r.data()["id"].(string)
	updates := []map[string]any{{"title": "T2"}, {"location": "L2"}, {"busy": false}, {"visibility": "private"},
		{"status": "tentative"}, {"description": "D2"}, {"participants": []map[string]any{{"email": "x@example.com"}}}, {"metadata": map[string]any{"k": "v"}}}
	var wg sync.WaitGroup
	for _, u := range updates {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := e.do("PUT", path, cs.key, u); r.Status != 200 {
				t.Errorf("PUT %v: %s", u, r.Raw)
			}
		}()
	}
	wg.Wait()
	d := e.do("GET", path, cs.key, nil).data()
	if d["title"] != "T2" || d["location"] != "L2" || d["busy"] != false || d["visibility"] != "private" || d["status"] != "tentative" ||
		!strings.HasPrefix(d["description"].(string), "D2") || len(d["participants"].([]any)) != 1 || d["metadata"] == nil {
		t.Fatalf("a write was lost: %v", d)
	}
	if m := e.meetings()[0]; m["topic"] != "T2" || !strings.HasPrefix(m["agenda"].(string), "D2") {
		t.Fatalf("Zoom lost a synced write: %v", m)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !await.Until(15*time.Second, cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

// A row that cannot be written after Zoom acted: the meeting is removed on
// create, and put back on update.
func TestRowFailuresAreCompensatedAtZoom(t *testing.T) {
	e := newEnv(t)
	cs := e.calendarSetup("pro")
	ctx := context.Background()
	e.internalFailures = true
	if _, err := e.pool.Exec(ctx, `CREATE FUNCTION refuse_boom() RETURNS trigger AS $$
		BEGIN IF NEW.title = 'boom' THEN RAISE EXCEPTION 'refused by test'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql;
		CREATE TRIGGER refuse_boom BEFORE INSERT OR UPDATE ON events FOR EACH ROW EXECUTE FUNCTION refuse_boom();`); err != nil {
		t.Fatal(err)
	}
	r := e.do("POST", "/v3/grants/"+cs.cal+"/events?calendar_id=primary", cs.key, cs.eventBody("boom", time.Now().Add(time.Hour), nil))
	if r.Status != 500 || r.errType() != "internal_error" {
		t.Fatalf("create whose row fails: %s", r.Raw)
	}
	if e.zoomCalls("create_meeting") != 1 || len(e.meetings()) != 0 {
		t.Fatalf("the meeting made for a failed create is still at Zoom (%d meetings)", len(e.meetings()))
	}

	r = e.do("POST", "/v3/grants/"+cs.cal+"/events?calendar_id=primary", cs.key, cs.eventBody("fine", time.Now().Add(time.Hour), nil))
	e.expect(r, 200, "create")
	path := "/v3/grants/" + cs.cal + "/events/" + r.data()["id"].(string)
	r = e.do("PUT", path, cs.key, map[string]any{"title": "boom"})
	if r.Status != 500 {
		t.Fatalf("update whose row fails: %s", r.Raw)
	}
	if m := e.meetings()[0]; m["topic"] != "fine" {
		t.Fatalf("Zoom kept the topic of a failed update: %v", m["topic"])
	}
	if g := e.do("GET", path, cs.key, nil); g.data()["title"] != "fine" {
		t.Fatalf("event after a failed update: %s", g.Raw)
	}
}

// Changing the conf grant makes the new meeting before deleting the old one.
func TestMovingTheMeetingToAnotherHost(t *testing.T) {
	e := newEnv(t)
	cs := e.calendarSetup("pro")
	other := e.zoomGrant(cs.zoomApp) // the same user again: same grant; make a second user
	u2, _ := e.sim.AddUser(zoomsim.UserSpec{Email: "second-" + randomHex(3) + "@example.com", Plan: "pro"})
	z2 := cs.zoomApp
	z2.user = u2
	second := e.zoomGrant(z2).String()
	if second == other.String() {
		t.Fatal("expected a second grant for the second user")
	}
	r := e.do("POST", "/v3/grants/"+cs.cal+"/events?calendar_id=primary", cs.key, cs.eventBody("Move me", time.Now().Add(time.Hour), nil))
	e.expect(r, 200, "create")
	oldCode := r.data()["conferencing"].(map[string]any)["details"].(map[string]any)["meeting_code"]
	path := "/v3/grants/" + cs.cal + "/events/" + r.data()["id"].(string)
	r = e.do("PUT", path, cs.key, map[string]any{"conferencing": map[string]any{"provider": "Zoom Meeting", "autocreate": map[string]any{"conf_grant_id": second}}})
	e.expect(r, 200, "move")
	newCode := r.data()["conferencing"].(map[string]any)["details"].(map[string]any)["meeting_code"]
	if newCode == oldCode {
		t.Fatal("the meeting did not move")
	}
	waitFor(t, "the old meeting to be deleted", func() bool {
		ms := e.meetings()
		return len(ms) == 1 && fmt.Sprint(int64(ms[0]["id"].(float64))) == newCode && ms[0]["host_id"] == u2.ID
	})
}

func TestManualDetailsAndListPaging(t *testing.T) {
	e := newEnv(t)
	cs := e.calendarSetup("pro")
	base := time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 5 {
		st := base.Add(time.Duration(i) * 24 * time.Hour)
		r := e.do("POST", "/v3/grants/"+cs.cal+"/events?calendar_id=primary", cs.key, map[string]any{"title": fmt.Sprint("E", i),
			"when":         map[string]any{"start_time": st.Unix(), "end_time": st.Add(time.Hour).Unix()},
			"conferencing": map[string]any{"provider": "Zoom Meeting", "details": map[string]any{"url": "https://zoom.example/j/99", "meeting_code": "99", "password": "pw"}}})
		e.expect(r, 200, "create with details")
		ids = append(ids, r.data()["id"].(string))
		if d := r.data()["conferencing"].(map[string]any)["details"].(map[string]any); d["url"] != "https://zoom.example/j/99" ||
			!strings.Contains(r.data()["description"].(string), "https://zoom.example/j/99") {
			t.Fatalf("manual details: %s", r.Raw)
		}
	}
	if e.zoomCalls("create_meeting") != 0 {
		t.Fatal("manual details called Zoom")
	}
	var got []string
	token := ""
	for pages := 0; ; pages++ {
		q := "/v3/grants/" + cs.cal + "/events?calendar_id=primary&limit=2"
		if token != "" {
			q += "&page_token=" + token
		}
		r := e.do("GET", q, cs.key, nil)
		e.expect(r, 200, "page")
		for _, x := range r.list() {
			got = append(got, x.(map[string]any)["id"].(string))
		}
		if r.Body["next_cursor"] == nil {
			break
		}
		token = r.Body["next_cursor"].(string)
		if pages > 5 {
			t.Fatal("paging does not end")
		}
	}
	if strings.Join(got, ",") != strings.Join(ids, ",") {
		t.Fatalf("paged %v, want %v in start order", got, ids)
	}
	r := e.do("GET", fmt.Sprintf("/v3/grants/%s/events?calendar_id=primary&start=%d&end=%d", cs.cal,
		base.Add(24*time.Hour+30*time.Minute).Unix(), base.Add(72*time.Hour).Unix()), cs.key, nil)
	if len(r.list()) != 2 {
		t.Fatalf("start/end window: %d events, want days 2 and 3: %s", len(r.list()), r.Raw)
	}
	for _, q := range []string{"?limit=2", "?calendar_id=primary&limit=0", "?calendar_id=primary&page_token=garbage", "?calendar_id=primary&start=x"} {
		if r := e.do("GET", "/v3/grants/"+cs.cal+"/events"+q, cs.key, nil); r.Status != 400 {
			t.Errorf("GET events%s: %d, want 400", q, r.Status)
		}
	}
	// Events live on virtual-calendar grants only, and only of this application.
	e.expect(e.do("GET", "/v3/grants/"+cs.confGrant+"/events?calendar_id=primary", cs.key, nil), 400, "events on a zoom grant")
	other := e.newApp("other")
	e.expect(e.do("GET", "/v3/grants/"+cs.cal+"/events/"+ids[0], other, nil), 404, "another application's event")
	e.expect(e.do("DELETE", "/v3/grants/"+cs.cal+"/events/"+ids[0], other, nil), 404, "another application's delete")
}

// Calendars of a virtual-calendar grant: create, list (primary first), get,
// update, delete; the primary one cannot be deleted, and a calendar's events
// go with it.
func TestCalendarLifecycle(t *testing.T) {
	e := newEnv(t)
	cs := e.calendarSetup("pro")
	base := "/v3/grants/" + cs.cal + "/calendars"
	r := e.do("POST", base, cs.key, map[string]any{"name": "Team", "description": "shared", "timezone": "Europe/Berlin"})
	e.expect(r, 200, "create calendar")
	id := r.data()["id"].(string)
	if r.data()["is_primary"] != false || r.data()["timezone"] != "Europe/Berlin" || r.data()["object"] != "calendar" {
		t.Fatalf("created: %s", r.Raw)
	}
	l := e.do("GET", base, cs.key, nil)
	if len(l.list()) != 2 || l.list()[0].(map[string]any)["is_primary"] != true || l.list()[1].(map[string]any)["id"] != id {
		t.Fatalf("list: %s", l.Raw)
	}
	r = e.do("PUT", base+"/"+id, cs.key, map[string]any{"name": "Team (renamed)"})
	if r.Status != 200 || r.data()["name"] != "Team (renamed)" || r.data()["description"] != "shared" {
		t.Fatalf("update: %s", r.Raw)
	}
	for _, bad := range []map[string]any{{"name": ""}, {"timezone": "Mars/Base"}} {
		if r := e.do("PUT", base+"/"+id, cs.key, bad); r.Status != 400 {
			t.Errorf("PUT %v: %d, want 400", bad, r.Status)
		}
	}
	ev := e.do("POST", "/v3/grants/"+cs.cal+"/events?calendar_id="+id, cs.key, map[string]any{"title": "In Team",
		"when": map[string]any{"start_time": time.Now().Add(time.Hour).Unix(), "end_time": time.Now().Add(2 * time.Hour).Unix()}})
	e.expect(ev, 200, "event in the calendar")
	if ev.data()["calendar_id"] != id {
		t.Fatalf("event calendar: %s", ev.Raw)
	}
	e.expect(e.do("GET", base+"/primary", cs.key, nil), 200, "get primary")
	e.expect(e.do("DELETE", base+"/primary", cs.key, nil), 409, "delete the primary calendar")
	e.expect(e.do("DELETE", base+"/"+id, cs.key, nil), 200, "delete calendar")
	e.expect(e.do("GET", base+"/"+id, cs.key, nil), 404, "deleted calendar")
	e.expect(e.do("GET", "/v3/grants/"+cs.cal+"/events/"+ev.data()["id"].(string), cs.key, nil), 404, "its event")
	// Calendars live on virtual-calendar grants, of the caller's application only.
	e.expect(e.do("GET", "/v3/grants/"+cs.confGrant+"/calendars", cs.key, nil), 400, "calendars of a zoom grant")
	e.expect(e.do("GET", base, e.newApp("other"), nil), 404, "another application's calendars")
}
