package api_test

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/client"

	"github.com/confhub/confhub/connectors/zoom/zoomsim"
	"github.com/confhub/confhub/events"
	"github.com/confhub/confhub/internal/await"
)

// The windows in which a process dying, or Zoom's answer getting lost, used
// to leave a meeting nobody tracked, or an event and its meeting showing
// different things (issue 11). Each test puts the system in that window and
// checks that it comes out whole.

// dyingStarts is the request path's Temporal client, in a process that dies
// as it starts the workflow the hook names: the calling goroutine ends there,
// as it would with kill -9, and nothing after the call runs.
type dyingStarts struct {
	client.Client
	dieAt atomic.Pointer[string] // a workflow id prefix; nil: live
	died  chan struct{}
}

func (d *dyingStarts) ExecuteWorkflow(ctx context.Context, o client.StartWorkflowOptions, wf any, args ...any) (client.WorkflowRun, error) {
	if p := d.dieAt.Load(); p != nil && strings.HasPrefix(o.ID, *p) && d.dieAt.CompareAndSwap(p, nil) {
		close(d.died)
		runtime.Goexit()
	}
	return d.Client.ExecuteWorkflow(ctx, o, wf, args...)
}

// createWithZoom creates an event with a Zoom meeting and returns its id.
func (e *env) createWithZoom(cs calendarSetup, title string, start time.Time) string {
	e.t.Helper()
	r := e.do("POST", "/v3/grants/"+cs.cal+"/events?calendar_id=primary", cs.key, cs.eventBody(title, start, nil))
	e.expect(r, 200, "create "+title)
	return r.data()["id"].(string)
}

// A DELETE whose process dies after the event row is deleted and before the
// meeting's deletion workflow starts: the meeting is deleted all the same.
func TestDeleteSurvivesDeathBeforeItsWorkflowStarts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cs := e.calendarSetup("pro")
	id := e.createWithZoom(cs, "Doomed", time.Now().Add(72*time.Hour))
	if len(e.meetings()) != 1 {
		t.Fatalf("meetings before the delete: %v", e.meetings())
	}

	dying := &dyingStarts{Client: e.st.Workflows.Temporal, died: make(chan struct{})}
	prefix := "delete-meeting-"
	dying.dieAt.Store(&prefix)
	e.st.Workflows.Temporal = dying
	req, _ := http.NewRequest("DELETE", e.srv.URL+"/v3/grants/"+cs.cal+"/events/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+cs.key)
	if resp, err := e.client.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("the request answered %d: the process was meant to die mid-request", resp.StatusCode)
	}
	<-dying.died

	e.expect(e.do("GET", "/v3/grants/"+cs.cal+"/events/"+id, cs.key, nil), 404, "the event is gone")
	if !await.Until(30*time.Second, func() bool { return len(e.meetings()) == 0 }) {
		t.Fatalf("the meeting of the deleted event is still at Zoom and on no orphan list: %v, orphans %s",
			e.meetings(), e.do("GET", "/v3/grants/"+cs.confGrant+"/conferencing/orphans", cs.key, nil).Raw)
	}
	if n := e.zoomCalls(zoomsim.OpDeleteMeeting); n != 1 {
		t.Errorf("the meeting was deleted with %d calls, want 1", n)
	}
}

// A create whose answer from Zoom was lost (the meeting exists) and whose
// workflow then failed: the meeting is found by its reference and deleted.
func TestCreateWithLostAnswerThenFailureIsSettled(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cs := e.calendarSetup("pro")
	// Every create takes effect and loses its answer; looking for the lost
	// meeting is refused, so the workflow cannot adopt it and fails.
	if err := e.sim.SetFaults(zoomsim.Faults{Ops: map[string]zoomsim.OpFault{
		zoomsim.OpCreateMeeting: {DropRate: 1},
		zoomsim.OpListMeetings:  {ErrorRate: 1, ErrorStatus: 400},
	}}); err != nil {
		t.Fatal(err)
	}
	r := e.do("POST", "/v3/grants/"+cs.cal+"/events?calendar_id=primary", cs.key, cs.eventBody("Lost", time.Now().Add(72*time.Hour), nil))
	if r.Status < 400 {
		t.Fatalf("the create succeeded (%d) though its meeting could not be confirmed: %s", r.Status, r.Raw)
	}
	if n := len(e.meetings()); n != 1 {
		t.Fatalf("Zoom has %d meetings, want the 1 whose answer was lost", n)
	}
	if err := e.sim.SetFaults(zoomsim.Faults{}); err != nil {
		t.Fatal(err)
	}
	listed := func() bool {
		o := e.do("GET", "/v3/grants/"+cs.confGrant+"/conferencing/orphans", cs.key, nil)
		return len(o.list()) > 0
	}
	if !await.Until(30*time.Second, func() bool { return len(e.meetings()) == 0 || listed() }) {
		t.Fatalf("the meeting of the failed create is still at Zoom and on no orphan list: %v", e.meetings())
	}
	if l := e.do("GET", "/v3/grants/"+cs.cal+"/events", cs.key, nil); len(l.list()) != 0 {
		t.Fatalf("the failed create left an event: %s", l.Raw)
	}
}

// An update whose PATCH reached Zoom but whose answers were all lost: once
// the request answers, event and meeting agree. Zoom readable: the meeting
// shows the update, so the update stands. Zoom unreadable: the meeting is
// put back, and the update fails.
func TestUpdateWithLostAnswerIsSettled(t *testing.T) {
	t.Parallel()
	for _, readable := range []bool{true, false} {
		t.Run(fmt.Sprintf("readable=%v", readable), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			cs := e.calendarSetup("pro")
			start := time.Now().Add(72 * time.Hour).Truncate(time.Second)
			id := e.createWithZoom(cs, "Before", start)
			faults := map[string]zoomsim.OpFault{zoomsim.OpUpdateMeeting: {DropRate: 1}}
			if !readable {
				faults[zoomsim.OpGetMeeting] = zoomsim.OpFault{ErrorRate: 1, ErrorStatus: 503}
			}
			if err := e.sim.SetFaults(zoomsim.Faults{Ops: faults}); err != nil {
				t.Fatal(err)
			}
			u := e.do("PUT", "/v3/grants/"+cs.cal+"/events/"+id, cs.key, map[string]any{"title": "After"})
			ev := e.do("GET", "/v3/grants/"+cs.cal+"/events/"+id, cs.key, nil).data()
			ms := e.meetings()
			if len(ms) != 1 {
				t.Fatalf("meetings: %v", ms)
			}
			if ev["title"] != ms[0]["topic"] {
				t.Fatalf("after the update answered %d, the event says %q and the meeting %q", u.Status, ev["title"], ms[0]["topic"])
			}
			want, status := "After", 200
			if !readable {
				want, status = "Before", u.Status
				if u.Status < 500 {
					t.Errorf("an update Zoom never confirmed answered %d", u.Status)
				}
			}
			if u.Status != status || ev["title"] != want {
				t.Fatalf("update answered %d (%s), event title %q; want %d and %q", u.Status, u.Raw, ev["title"], status, want)
			}
		})
	}
}

// An update replayed after its row was written (its worker died before
// Temporal recorded the write) finds its own row instead of reporting a
// concurrent change; another writer's stale version is still refused.
func TestReplayedUpdateWriteFindsItsRow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cs := e.calendarSetup("pro")
	app := cs.appID
	r := e.do("POST", "/v3/grants/"+cs.cal+"/events?calendar_id=primary", cs.key, map[string]any{"title": "Row",
		"when": map[string]any{"start_time": time.Now().Add(time.Hour).Unix(), "end_time": time.Now().Add(2 * time.Hour).Unix()}})
	e.expect(r, 200, "create")
	ctx := context.Background()
	ev, err := e.st.Events.LoadEvent(ctx, app, uuid.MustParse(cs.cal), uuid.MustParse(r.data()["id"].(string)))
	if err != nil {
		t.Fatal(err)
	}
	ev.Title = "Written once"
	first, err := e.st.Events.ReplaceEvent(ctx, ev, "", "run-1")
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.st.Events.ReplaceEvent(ctx, ev, "", "run-1")
	if err != nil || again.Version != first.Version || again.Title != "Written once" {
		t.Fatalf("the replayed write: %+v, %v; want the row it wrote (version %d)", again, err, first.Version)
	}
	if _, err := e.st.Events.ReplaceEvent(ctx, ev, "", "run-2"); err != events.ErrVersion {
		t.Fatalf("another write on the stale version: %v, want ErrVersion", err)
	}
}

// A create replayed after its event was deleted (its worker died before
// Temporal recorded the row write; another worker replays it) neither
// writes the row again nor makes a second meeting.
func TestReplayedCreateAfterDeleteChangesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cs := e.calendarSetup("pro")
	ctx := context.Background()
	id := uuid.MustParse(e.createWithZoom(cs, "Short-lived", time.Now().Add(72*time.Hour)))
	ev, err := e.st.Events.LoadEvent(ctx, cs.appID, uuid.MustParse(cs.cal), id)
	if err != nil {
		t.Fatal(err)
	}
	e.expect(e.do("DELETE", "/v3/grants/"+cs.cal+"/events/"+id.String(), cs.key, nil), 200, "delete")

	// What the replay does, step by step: open the attempt again, write the row.
	opID := "create-event-" + id.String()
	log, err := e.st.Events.OpenAttempt(ctx, events.Attempt{OpID: opID, ApplicationID: cs.appID, EventID: id,
		ConfGrantID: *ev.ConfGrantID, Marker: "replayed"})
	if err != nil || !log.Done || log.MeetingID == nil || *log.MeetingID != *ev.ConfMeetingID {
		t.Fatalf("the replayed attempt: %+v, %v; want it done, with the event's meeting %d", log, err, *ev.ConfMeetingID)
	}
	if _, err := e.st.Events.InsertEvent(ctx, ev, opID); err != events.ErrDeleted {
		t.Fatalf("the replayed row write: %v, want ErrDeleted", err)
	}
	e.expect(e.do("GET", "/v3/grants/"+cs.cal+"/events/"+id.String(), cs.key, nil), 404, "the event stays deleted")
}
