package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/client"

	"github.com/confhub/confhub/connectors/zoom/zoomsim"
	"github.com/confhub/confhub/internal/await"
	"github.com/confhub/confhub/internal/stack"
	"github.com/confhub/confhub/internal/webhooks"
	"github.com/confhub/confhub/workflows"
)

// Zoom's meeting events (meeting.updated, meeting.deleted) reach
// /v3/connect/zoom/webhook and are applied to the events carrying the
// meetings; our own changes, echoed by Zoom, are not applied again.

// noticeSetup is a calendar setup whose Zoom app sends meeting events to
// our webhook endpoint, its connector holding the app's secret token.
func (e *env) noticeSetup() calendarSetup {
	e.t.Helper()
	return e.calendarOn(e.zoomApp(zoomScopes, true))
}

// notices is a destination of an application for event.updated.
type notices struct {
	rcv    *receiver
	secret string
}

func (e *env) notifications(key string) notices {
	e.t.Helper()
	rcv := newReceiver(e.t)
	_, secret := e.subscribe(key, rcv, webhooks.EventUpdated)
	return notices{rcv, secret}
}

// allUpdates waits for every notification to be delivered, then returns
// the event.updated objects of the event, each delivery's signature checked.
func (e *env) allUpdates(n notices, eventID string) []map[string]any {
	e.t.Helper()
	e.awaitDrained()
	var out []map[string]any
	for _, d := range n.rcv.of(webhooks.EventUpdated) {
		if !verify(d, n.secret) {
			e.t.Errorf("a notification's x-nylas-signature %q is not hex HMAC-SHA256(body, secret)", d.sig)
		}
		if d.obj["id"] == eventID {
			out = append(out, d.obj)
		}
	}
	return out
}

// meetingOf is the Zoom meeting id of an event answer.
func meetingOf(t *testing.T, r response) int64 {
	t.Helper()
	conf, _ := r.data()["conferencing"].(map[string]any)
	details, _ := conf["details"].(map[string]any)
	code, _ := details["meeting_code"].(string)
	id, err := strconv.ParseInt(code, 10, 64)
	if err != nil {
		t.Fatalf("no meeting on the event: %s", r.Raw)
	}
	return id
}

// eventRow is an event's stored version and last write time.
func (e *env) eventRow(id string) (int64, time.Time) {
	e.t.Helper()
	var v int64
	var at time.Time
	if err := e.pool.QueryRow(context.Background(), `SELECT version, updated_at FROM events WHERE id = $1`, id).Scan(&v, &at); err != nil {
		e.t.Fatal(err)
	}
	return v, at
}

// awaitEvent waits until the event, as GET shows it, satisfies cond.
func (e *env) awaitEvent(cs calendarSetup, id, what string, cond func(map[string]any) bool) map[string]any {
	e.t.Helper()
	var last response
	if !await.Until(10*time.Second, func() bool {
		last = e.do("GET", "/v3/grants/"+cs.cal+"/events/"+id, cs.key, nil)
		return last.Status == 200 && cond(last.data())
	}) {
		var seen []string
		for line := range strings.SplitSeq(e.logs.String(), "\n") {
			if strings.Contains(line, "zoom meeting") {
				seen = append(seen, line)
			}
		}
		e.t.Fatalf("%s: the event is %s\nmeeting events handled:\n%s", what, last.Raw, strings.Join(seen, "\n"))
	}
	return last.data()
}

// logged reports whether one log line holds every part.
func (e *env) logged(parts ...string) bool {
	for line := range strings.SplitSeq(e.logs.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}

func (e *env) orphanCount(cs calendarSetup) int {
	e.t.Helper()
	r := e.do("GET", "/v3/grants/"+cs.confGrant+"/conferencing/orphans", cs.key, nil)
	e.expect(r, 200, "orphans")
	return len(r.list())
}

func TestZoomMeetingDeletedInZoomDropsTheEventsConference(t *testing.T) {
	e := newEnv(t)
	cs := e.noticeSetup()
	told := e.notifications(cs.key)
	start := time.Now().Add(24 * time.Hour).Truncate(time.Second)
	r := e.do("POST", "/v3/grants/"+cs.cal+"/events?calendar_id=primary", cs.key, cs.eventBody("Standup", start, nil))
	e.expect(r, 200, "create")
	id, meeting := r.data()["id"].(string), meetingOf(t, r)
	if !strings.Contains(r.data()["description"].(string), "Join Zoom Meeting") {
		t.Fatalf("the new event has no join block: %s", r.Raw)
	}
	created, _ := e.eventRow(id)

	if err := e.sim.DeleteMeetingAsHost(meeting); err != nil {
		t.Fatal(err)
	}
	got := e.awaitEvent(cs, id, "after the host deleted the meeting", func(d map[string]any) bool { return d["conferencing"] == nil })
	if got["description"] != "Agenda: roadmap" || got["title"] != "Standup" ||
		got["when"].(map[string]any)["start_time"] != float64(start.Unix()) {
		t.Fatalf("the event changed beyond its conference: %v", got)
	}
	if v, _ := e.eventRow(id); v != created+1 {
		t.Fatalf("version %d after the deletion, want one write (%d)", v, created+1)
	}
	var confMeeting *int64
	if err := e.pool.QueryRow(context.Background(), `SELECT conf_meeting_id FROM events WHERE id = $1`, id).Scan(&confMeeting); err != nil || confMeeting != nil {
		t.Fatalf("conf_meeting_id %v (%v), want none", confMeeting, err)
	}
	e.sim.WaitWebhooks()
	// Zoom has deleted it: nothing goes back, nothing is left to delete.
	if n := e.zoomCalls("delete_meeting"); n != 0 {
		t.Fatalf("%d delete calls for a meeting Zoom deleted itself", n)
	}
	if n := e.orphanCount(cs); n != 0 {
		t.Fatalf("%d orphans after the host deleted the meeting", n)
	}
	if n := e.count("outbox"); n != 0 {
		t.Fatalf("%d outbox entries after the host deleted the meeting", n)
	}
	ups := e.allUpdates(told, id)
	if len(ups) != 1 || ups[0]["conferencing"] != nil || ups[0]["description"] != "Agenda: roadmap" {
		t.Fatalf("event.updated notifications %v, want one, without the conference", ups)
	}
}

func TestZoomMeetingMovedInZoomMovesTheEvent(t *testing.T) {
	e := newEnv(t)
	cs := e.noticeSetup()
	told := e.notifications(cs.key)
	start := time.Now().Add(24 * time.Hour).Truncate(time.Second)
	body := cs.eventBody("Planning", start, nil)
	body["when"] = map[string]any{"start_time": start.Unix(), "end_time": start.Add(30 * time.Minute).Unix(),
		"start_timezone": "Europe/Berlin", "end_timezone": "Europe/Berlin"}
	r := e.do("POST", "/v3/grants/"+cs.cal+"/events?calendar_id=primary", cs.key, body)
	e.expect(r, 200, "create")
	id, meeting := r.data()["id"].(string), meetingOf(t, r)
	patches := e.zoomCalls("update_meeting")

	moved, topic, minutes := start.Add(26*time.Hour), "Planning (moved)", 45
	if err := e.sim.UpdateMeetingAsHost(meeting, zoomsim.HostPatch{Topic: &topic, StartTime: &moved, Duration: &minutes}); err != nil {
		t.Fatal(err)
	}
	got := e.awaitEvent(cs, id, "after the host moved the meeting", func(d map[string]any) bool { return d["title"] == topic })
	w := got["when"].(map[string]any)
	if w["object"] != "timespan" || w["start_time"] != float64(moved.Unix()) || w["end_time"] != float64(moved.Add(45*time.Minute).Unix()) ||
		w["start_timezone"] != "Europe/Berlin" || w["end_timezone"] != "Europe/Berlin" {
		t.Fatalf("when after the move: %v", w)
	}
	if got["conferencing"] == nil || strings.Count(got["description"].(string), "Join Zoom Meeting") != 1 {
		t.Fatalf("the move lost the conference: %v", got)
	}
	e.sim.WaitWebhooks()
	if n := e.zoomCalls("update_meeting"); n != patches {
		t.Fatalf("%d PATCHes to Zoom after the host's change, want none", n-patches)
	}
	if m := e.meetings()[0]; m["topic"] != topic || m["start_time"] != moved.UTC().Format("2006-01-02T15:04:05Z") || m["duration"] != float64(45) {
		t.Fatalf("the meeting is no longer as the host left it: %v", m)
	}
	ups := e.allUpdates(told, id)
	if len(ups) != 1 || ups[0]["title"] != topic {
		t.Fatalf("event.updated notifications %v, want one with the new title", ups)
	}

	// The agenda is ours (the description and our reference): a change
	// of it in Zoom is not taken back.
	version, at := e.eventRow(id)
	agenda := "Edited in Zoom"
	if err := e.sim.UpdateMeetingAsHost(meeting, zoomsim.HostPatch{Agenda: &agenda}); err != nil {
		t.Fatal(err)
	}
	e.sim.WaitWebhooks()
	if v, u := e.eventRow(id); v != version || !u.Equal(at) {
		t.Fatalf("an agenda change wrote the event (version %d -> %d)", version, v)
	}
	if !strings.Contains(e.logs.String(), `"outcome":"unchanged"`) {
		t.Fatal("the agenda change was not received (no unchanged outcome logged)")
	}
}

// zoomGate puts Zoom's meeting events where a test wants them relative to
// our updates. It is the simulator's webhook transport (it sees, keeps or
// holds back what Zoom sends us) and a proxy in front of the simulator's
// REST API (it runs a test's step between a PATCH reaching Zoom and its
// answer reaching our update, which is then in flight).
type zoomGate struct {
	t       *testing.T
	mu      sync.Mutex
	onPatch func()         // run after a PATCH reached the simulator, before it is answered
	swallow bool           // meeting.updated is kept, not delivered
	kept    []tappedNotice // what was swallowed
	answers chan answer    // each meeting event delivered, with our answer
}

// answer is a meeting event (its name and meeting) and our answer to it.
type answer struct {
	event   string
	meeting int64
	status  int
}

func newZoomGate(t *testing.T) *zoomGate {
	return &zoomGate{t: t, answers: make(chan answer, 256)}
}

// meetingEvent is the name and meeting of a meeting event's body ("" for others).
func meetingEvent(body []byte) (string, int64) {
	var ev struct {
		Event   string
		Payload struct{ Object struct{ ID int64 } }
	}
	if json.Unmarshal(body, &ev) != nil || !strings.HasPrefix(ev.Event, "meeting.") {
		return "", 0
	}
	return ev.Event, ev.Payload.Object.ID
}

func (g *zoomGate) note(a answer) {
	select {
	case g.answers <- a:
	default:
		g.t.Error("zoomGate: too many meeting events")
	}
}

// RoundTrip is the simulated Zoom's webhook transport.
func (g *zoomGate) RoundTrip(r *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	event, meeting := meetingEvent(body)
	if event == "" {
		return http.DefaultTransport.RoundTrip(r)
	}
	n := tappedNotice{header: r.Header.Clone(), body: body}
	g.mu.Lock()
	swallow := g.swallow && event == "meeting.updated"
	if swallow {
		g.kept = append(g.kept, n)
	}
	g.mu.Unlock()
	if swallow {
		return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader(`{}`)), Header: http.Header{}, Request: r}, nil
	}
	resp, err := http.DefaultTransport.RoundTrip(r)
	status := 0
	if err == nil {
		status = resp.StatusCode
	}
	g.note(answer{event, meeting, status})
	return resp, err
}

// awaitAnswer waits for our answer to a meeting event.
func (g *zoomGate) awaitAnswer(event string, meeting int64) int {
	for {
		select {
		case a := <-g.answers:
			if a.event == event && a.meeting == meeting {
				return a.status
			}
		case <-time.After(10 * time.Second):
			g.t.Errorf("no %s was answered", event)
			return 0
		}
	}
}

func (g *zoomGate) set(f func(*zoomGate)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f(g)
}

// proxy puts the gate in front of the simulator's REST API.
func (g *zoomGate) proxy(o *stack.Options) {
	target, err := url.Parse(strings.TrimSuffix(o.Config.ZoomAPIURL, "/v2"))
	if err != nil {
		g.t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		step := g.onPatch
		g.mu.Unlock()
		if step == nil || r.Method != http.MethodPatch {
			rp.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r)
		step()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	g.t.Cleanup(srv.Close)
	o.Config.ZoomAPIURL = srv.URL + "/v2"
}

// gatedEnv is an env whose simulated Zoom goes through a zoomGate.
func gatedEnv(t *testing.T) (*env, *zoomGate) {
	g := newZoomGate(t)
	e := newEnvStack(t, g.proxy, func(o *zoomsim.Options) { o.WebhookClient = &http.Client{Transport: g, Timeout: 3 * time.Second} })
	return e, g
}

// Our own changes come back from Zoom as meeting.updated: received while
// the update runs, or after it ended, they write nothing, call Zoom for
// nothing, and the update succeeds. Deleting the event through the API,
// whose meeting.deleted comes back too, changes nothing more either.
func TestZoomMeetingEchoesOfOurChangesChangeNothing(t *testing.T) {
	e, g := gatedEnv(t)
	cs := e.noticeSetup()
	told := e.notifications(cs.key)
	start := time.Now().Add(24 * time.Hour).Truncate(time.Second)
	r := e.do("POST", "/v3/grants/"+cs.cal+"/events?calendar_id=primary", cs.key, cs.eventBody("Review", start, nil))
	e.expect(r, 200, "create")
	id := r.data()["id"].(string)
	path := "/v3/grants/" + cs.cal + "/events/" + id
	meeting := meetingOf(t, r)
	put := func(at time.Time, title string) {
		t.Helper()
		r := e.do("PUT", path, cs.key, map[string]any{"title": title,
			"when": map[string]any{"start_time": at.Unix(), "end_time": at.Add(time.Hour).Unix()}})
		e.expect(r, 200, "update "+title)
		if r.data()["title"] != title || r.data()["when"].(map[string]any)["start_time"] != float64(at.Unix()) {
			t.Fatalf("update %s: %s", title, r.Raw)
		}
	}

	// The echo arrives while our update runs (between its PATCH and its
	// row write).
	before, _ := e.eventRow(id)
	patches := e.zoomCalls("update_meeting")
	g.set(func(g *zoomGate) {
		g.onPatch = func() {
			if status := g.awaitAnswer("meeting.updated", meeting); status != http.StatusOK {
				t.Errorf("the echo received while our update ran was answered %d, want 200", status)
			}
		}
	})
	put(start.Add(2*time.Hour), "Review, moved")
	g.set(func(g *zoomGate) { g.onPatch = nil })
	e.sim.WaitWebhooks()
	if v, _ := e.eventRow(id); v != before+1 {
		t.Fatalf("version %d after one update, want %d: the echo was written too", v, before+1)
	}
	if n := e.zoomCalls("update_meeting"); n != patches+1 {
		t.Fatalf("%d PATCHes for one update", n-patches)
	}
	if !strings.Contains(e.logs.String(), "one of our updates of the event is running") {
		t.Fatal("the echo was not recognised as arriving during our update")
	}

	// The echo arrives after our update ended.
	g.set(func(g *zoomGate) { g.swallow = true })
	put(start.Add(4*time.Hour), "Review, moved again")
	e.sim.WaitWebhooks()
	var kept []tappedNotice
	g.set(func(g *zoomGate) { g.swallow, kept = false, g.kept })
	if len(kept) != 1 {
		t.Fatalf("%d echoes of one update", len(kept))
	}
	version, at := e.eventRow(id)
	if got := e.replay(kept[0], "", ""); got != http.StatusOK {
		t.Fatalf("the late echo: %d, want 200", got)
	}
	if v, u := e.eventRow(id); v != version || !u.Equal(at) {
		t.Fatalf("the late echo wrote the event: version %d -> %d", version, v)
	}
	if n := e.zoomCalls("update_meeting"); n != patches+2 {
		t.Fatalf("%d PATCHes for two updates", n-patches)
	}
	if !strings.Contains(e.logs.String(), `"outcome":"unchanged"`) {
		t.Fatal("the late echo was not applied as unchanged")
	}
	if ups := e.allUpdates(told, id); len(ups) != 2 {
		t.Fatalf("%d event.updated notifications for two updates: %v", len(ups), ups)
	}

	// Deleting the event: its meeting's deletion comes back and changes nothing.
	e.expect(e.do("DELETE", path, cs.key, nil), 200, "delete")
	waitFor(t, "the meeting to be deleted", func() bool { return len(e.meetings()) == 0 })
	e.sim.WaitWebhooks()
	if !e.logged("no event carries the meeting", fmt.Sprintf(`"meeting_id":%d`, meeting)) {
		t.Fatal("the meeting's deletion was not received back")
	}
	if n := e.orphanCount(cs); n != 0 {
		t.Fatalf("%d orphans after an ordinary delete", n)
	}
	if n := e.zoomCalls("delete_meeting"); n != 1 {
		t.Fatalf("%d delete calls for one event", n)
	}
	if ups := e.allUpdates(told, id); len(ups) != 2 {
		t.Fatalf("the deletion's echo notified an update: %v", ups)
	}
	if strings.Contains(e.logs.String(), "webhook delivery failed") {
		t.Fatal("a meeting event was not acknowledged")
	}
}

// The host deletes the meeting while one of our updates of its event runs
// (between the update's PATCH and its row write). The update succeeds; the
// deletion waits for it, then drops the conference.
func TestZoomMeetingDeletedWhileWeUpdateTheEvent(t *testing.T) {
	e, g := gatedEnv(t)
	cs := e.noticeSetup()
	r := e.do("POST", "/v3/grants/"+cs.cal+"/events?calendar_id=primary", cs.key, cs.eventBody("Sync", time.Now().Add(24*time.Hour), nil))
	e.expect(r, 200, "create")
	id, meeting := r.data()["id"].(string), meetingOf(t, r)
	path := "/v3/grants/" + cs.cal + "/events/" + id
	g.set(func(g *zoomGate) {
		g.onPatch = func() {
			if err := e.sim.DeleteMeetingAsHost(meeting); err != nil {
				t.Error(err)
			}
			// Our update is answered once the deletion waits for it.
			if !await.Until(10*time.Second, func() bool {
				return e.logged("waits for the event's running workflow", `"running":"UpdateEvent"`, fmt.Sprintf(`"meeting_id":%d`, meeting))
			}) {
				t.Error("the deletion did not wait for our update")
			}
		}
	})
	r = e.do("PUT", path, cs.key, map[string]any{"title": "Sync, renamed"})
	g.set(func(g *zoomGate) { g.onPatch = nil })
	e.expect(r, 200, "the update")
	got := e.awaitEvent(cs, id, "after the update and the deletion", func(d map[string]any) bool { return d["conferencing"] == nil })
	if got["title"] != "Sync, renamed" || strings.Contains(got["description"].(string), "Join Zoom Meeting") {
		t.Fatalf("after the update and the deletion: %v", got)
	}
	e.sim.WaitWebhooks()
	if n := e.orphanCount(cs); n != 0 || e.zoomCalls("delete_meeting") != 0 {
		t.Fatalf("%d orphans, %d delete calls for a meeting Zoom deleted itself", n, e.zoomCalls("delete_meeting"))
	}
}

// A meeting event that finds the event's workflow id taken: by one of our
// updates, a meeting.updated is dropped (its echo) and a meeting.deleted
// waits; by another notice, any notice waits (both may be the host's). One
// still waiting when Zoom's 3 s run out is answered 409, and Zoom's retry
// applies it. The workflows here hold the id and never run (no worker polls
// their queue), until the test ends them.
func TestZoomMeetingEventsWaitForTheEventsRunningWorkflow(t *testing.T) {
	e := newEnv(t)
	cs := e.noticeSetup()
	r := e.do("POST", "/v3/grants/"+cs.cal+"/events?calendar_id=primary", cs.key, cs.eventBody("Busy", time.Now().Add(24*time.Hour), nil))
	e.expect(r, 200, "create")
	id, meeting := r.data()["id"].(string), meetingOf(t, r)
	ctx := context.Background()
	hold := func(typ string) (release func()) {
		run, err := e.st.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.UpdateEventID(uuid.MustParse(id)),
			TaskQueue: "nobody-polls-" + uuid.NewString(), WorkflowExecutionTimeout: time.Minute}, typ)
		if err != nil {
			t.Fatal(err)
		}
		return func() {
			if err := e.st.Temporal.TerminateWorkflow(ctx, run.GetID(), run.GetRunID(), "test: released"); err != nil {
				t.Fatal(err)
			}
		}
	}
	get := func() map[string]any { return e.do("GET", "/v3/grants/"+cs.cal+"/events/"+id, cs.key, nil).data() }
	notice := func(name, object string) string {
		return fmt.Sprintf(`{"event":%q,"event_ts":%d,"payload":{"account_id":%q,"object":%s}}`, name, e.clock.Now().UnixMilli(), cs.user.AccountID, object)
	}
	retry := func(n tappedNotice) int { return e.replay(n, cs.secretToken, fmt.Sprint(e.clock.Now().Unix())) }

	release := hold("FollowMeeting")
	r, renamed := e.postNotice(cs.secretToken, notice("meeting.updated", fmt.Sprintf(`{"id":%d,"topic":"Renamed"}`, meeting)))
	if r.Status != http.StatusConflict || get()["title"] != "Busy" {
		t.Fatalf("a rename behind another notice: %d %s, title %v; want 409 and no change", r.Status, r.Raw, get()["title"])
	}
	release()
	if got := retry(renamed); got != http.StatusOK || get()["title"] != "Renamed" {
		t.Fatalf("Zoom's retry of the rename: %d, title %v", got, get()["title"])
	}

	release = hold("UpdateEvent")
	if r, _ := e.postNotice(cs.secretToken, notice("meeting.updated", fmt.Sprintf(`{"id":%d,"topic":"Echo"}`, meeting))); r.Status != http.StatusOK || get()["title"] != "Renamed" {
		t.Fatalf("a rename during our update: %d %s, title %v; want 200 and no change", r.Status, r.Raw, get()["title"])
	}
	r, deleted := e.postNotice(cs.secretToken, notice("meeting.deleted", fmt.Sprintf(`{"id":%d}`, meeting)))
	if r.Status != http.StatusConflict || get()["conferencing"] == nil {
		t.Fatalf("a deletion during our update: %d %s; want 409 and no change yet", r.Status, r.Raw)
	}
	release()
	if got := retry(deleted); got != http.StatusOK || get()["conferencing"] != nil {
		t.Fatalf("Zoom's retry of the deletion: %d, conferencing %v", got, get()["conferencing"])
	}
}

// postNotice sends a Zoom event signed with secretToken; the notice is
// returned too, for replays.
func (e *env) postNotice(secretToken, body string) (response, tappedNotice) {
	e.t.Helper()
	ts := fmt.Sprint(e.clock.Now().Unix())
	req, _ := http.NewRequest("POST", e.srv.URL+"/v3/connect/zoom/webhook", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("x-zm-request-timestamp", ts)
	req.Header.Set("x-zm-signature", zoomsim.Sign(secretToken, ts, []byte(body)))
	n := tappedNotice{header: req.Header.Clone(), body: []byte(body)}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return readResponse(e.t, resp), n
}

// Unknown meetings are acknowledged, malformed events refused naming the
// field, unsigned ones refused; none changes an event, none is a 5xx. A
// meeting event naming another host than the event's is not applied.
func TestZoomMeetingEventsThatChangeNothing(t *testing.T) {
	e := newEnv(t)
	cs := e.noticeSetup()
	r := e.do("POST", "/v3/grants/"+cs.cal+"/events?calendar_id=primary", cs.key, cs.eventBody("Kept", time.Now().Add(24*time.Hour), nil))
	e.expect(r, 200, "create")
	id, meeting := r.data()["id"].(string), meetingOf(t, r)
	version, _ := e.eventRow(id)
	event := func(name string, object string) string {
		return fmt.Sprintf(`{"event":%q,"event_ts":%d,"payload":{"account_id":%q,"operator":"x@example.com","object":%s}}`,
			name, e.clock.Now().UnixMilli(), cs.user.AccountID, object)
	}

	for _, body := range []string{
		event("meeting.deleted", fmt.Sprintf(`{"id":%d,"host_id":%q,"topic":"Gone"}`, meeting+1000, cs.user.ID)),
		event("meeting.updated", fmt.Sprintf(`{"id":%d,"topic":"Elsewhere"}`, meeting+1000)),
		event("meeting.deleted", fmt.Sprintf(`{"id":%d,"host_id":"someone-else","topic":"Kept"}`, meeting)),
		event("meeting.created", fmt.Sprintf(`{"id":%d}`, meeting)),
	} {
		r, _ := e.postNotice(cs.secretToken, body)
		if r.Status != 200 || r.Body["request_id"] == nil || r.Body["request_id"] != r.Header.Get("x-request-id") {
			t.Errorf("%s: %d %s, want 200 {request_id}", body, r.Status, r.Raw)
		}
	}
	for field, object := range map[string]string{
		"payload.object":            `"no meeting"`,
		"payload.object.id":         `{"topic":"x"}`,
		"payload.object.start_time": fmt.Sprintf(`{"id":%d,"start_time":"tomorrow"}`, meeting),
		"payload.object.duration":   fmt.Sprintf(`{"id":%d,"duration":-30}`, meeting),
		"payload.object.timezone":   fmt.Sprintf(`{"id":%d,"timezone":"Mars/Olympus_Mons"}`, meeting),
	} {
		r, _ := e.postNotice(cs.secretToken, event("meeting.updated", object))
		if r.Status != 400 || !strings.Contains(r.errMessage(), field) {
			t.Errorf("%s: %d %s, want 400 naming %s", object, r.Status, r.Raw, field)
		}
	}
	deletion := event("meeting.deleted", fmt.Sprintf(`{"id":%d}`, meeting))
	if r, _ := e.postNotice("not-the-secret", deletion); r.Status != 401 {
		t.Errorf("a meeting event signed with another secret: %d %s, want 401", r.Status, r.Raw)
	}
	if v, _ := e.eventRow(id); v != version {
		t.Fatalf("refused or foreign meeting events wrote the event (version %d -> %d)", version, v)
	}
	g := e.do("GET", "/v3/grants/"+cs.cal+"/events/"+id, cs.key, nil)
	if g.data()["conferencing"] == nil || g.data()["title"] != "Kept" {
		t.Fatalf("the event changed: %s", g.Raw)
	}

	// A rightly signed meeting event is applied once: sent again within
	// its 5 minutes, after a later change, it does not put itself back.
	title := func() any { return e.do("GET", "/v3/grants/"+cs.cal+"/events/"+id, cs.key, nil).data()["title"] }
	r, first := e.postNotice(cs.secretToken, event("meeting.updated", fmt.Sprintf(`{"id":%d,"topic":"First"}`, meeting)))
	if r.Status != 200 || title() != "First" {
		t.Fatalf("a rename: %d %s, title %v", r.Status, r.Raw, title())
	}
	if r, _ := e.postNotice(cs.secretToken, event("meeting.updated", fmt.Sprintf(`{"id":%d,"topic":"Second"}`, meeting))); r.Status != 200 || title() != "Second" {
		t.Fatalf("a second rename: %d %s, title %v", r.Status, r.Raw, title())
	}
	if got := e.replay(first, "", ""); got != 200 || title() != "Second" {
		t.Fatalf("the first rename replayed: %d, title %v, want 200 and Second", got, title())
	}
	// No host named: the event's meeting is deleted all the same.
	if r, _ := e.postNotice(cs.secretToken, deletion); r.Status != 200 {
		t.Fatalf("a meeting.deleted of the event's meeting: %d %s", r.Status, r.Raw)
	}
	if g := e.do("GET", "/v3/grants/"+cs.cal+"/events/"+id, cs.key, nil); g.data()["conferencing"] != nil {
		t.Fatalf("a verified deletion did not apply: %s", g.Raw)
	}
}
