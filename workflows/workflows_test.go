package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/mock"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/confhub/confhub/events"
	"github.com/confhub/confhub/grants"
	"github.com/confhub/confhub/internal/apperr"
)

// These tests run the workflows in Temporal's test environment with every
// activity mocked: they pin down which steps each branch takes, in which
// order, with what, and what the workflow answers.

var a *Activities // method values name the activities for the mocks

func testEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	s.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(DeleteMeeting)
	return env
}

func timespan(start time.Time) events.When {
	return events.When{Object: "timespan", StartTime: start.Unix(), EndTime: start.Add(30 * time.Minute).Unix()}
}

func newRecord() EventRecord {
	start := time.Now().Add(time.Hour).Truncate(time.Second).UTC()
	return EventRecord{ID: uuid.New(), ApplicationID: uuid.New(), GrantID: uuid.New(), CalendarID: uuid.New(), Title: "t",
		Status: "confirmed", Visibility: "default", Busy: true, Participants: []events.Participant{},
		When: timespan(start), StartsAt: start, EndsAt: start.Add(30 * time.Minute), Version: 1}
}

func autocreateInput() CreateEventInput {
	ev := newRecord()
	grant := uuid.New()
	pw := "pw1"
	ev.Conferencing = &events.Conferencing{Provider: events.ZoomProvider,
		Autocreate: &events.Autocreate{ConfGrantID: grant.String(), ConfSettings: &events.ConfSettings{Password: &pw}}}
	return CreateEventInput{V: ContractVersion, Event: ev, ConfGrantID: grant}
}

func meeting(id int64) MeetingInfo {
	return MeetingInfo{ID: id, Details: events.Details{URL: "https://zoom.example/j/1", MeetingCode: "1", Password: "pw1"}}
}

// stored returns an event that has a meeting (id 111) hosted by its conf grant.
func stored() (EventRecord, uuid.UUID) {
	ev := newRecord()
	grant, id := uuid.New(), int64(111)
	old := "old"
	ev.Conferencing = &events.Conferencing{Provider: events.ZoomProvider, Details: &events.Details{URL: "https://zoom.example/j/111"},
		Autocreate: &events.Autocreate{ConfGrantID: grant.String(), ConfSettings: &events.ConfSettings{Password: &old}}}
	ev.ConfGrantID, ev.ConfMeetingID = &grant, &id
	return ev, grant
}

// patch validates a PUT body as the service does before the workflow starts.
func patch(t *testing.T, body string) EventPatch {
	t.Helper()
	var in events.EventInput
	if err := json.Unmarshal([]byte(body), &in); err != nil {
		t.Fatal(err)
	}
	p, err := events.ParsePatch(in)
	if err != nil {
		t.Fatal(err)
	}
	return PatchOf(p)
}

func updateInput(ev EventRecord, p EventPatch, confGrant uuid.UUID) UpdateEventInput {
	return UpdateEventInput{V: ContractVersion, App: ev.ApplicationID, Grant: ev.GrantID, EventID: ev.ID, Patch: p, ConfGrantID: confGrant}
}

// echoReplace makes ReplaceEvent store what it is given.
func echoReplace(env *testsuite.TestWorkflowEnvironment, got *StoreEventInput) {
	env.OnActivity(a.ReplaceEvent, mock.Anything, mock.Anything).Run(argOf(got)).Return(func(_ context.Context, in StoreEventInput) (EventRecord, error) { return in.Event, nil }).Once()
}

// argOf makes a mock record the input its activity or workflow was called with.
func argOf[T any](dst *T) func(mock.Arguments) {
	return func(args mock.Arguments) { *dst = args.Get(1).(T) }
}

// deletions records the meetings handed to the durable deletion workflow.
func deletions(env *testsuite.TestWorkflowEnvironment) *[]MeetingRef {
	var out []MeetingRef
	env.OnWorkflow(DeleteMeeting, mock.Anything, mock.Anything).Run(func(args mock.Arguments) {
		out = append(out, args.Get(1).(MeetingRef))
	}).Return(nil).Maybe()
	return &out
}

func result(t *testing.T, env *testsuite.TestWorkflowEnvironment) EventRecord {
	t.Helper()
	if !env.IsWorkflowCompleted() {
		t.Fatal("the workflow did not complete")
	}
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	var res EventResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.V != ContractVersion {
		t.Fatalf("result version %d", res.V)
	}
	return res.Event
}

func domainKind(t *testing.T, env *testsuite.TestWorkflowEnvironment) apperr.Kind {
	t.Helper()
	err := env.GetWorkflowError()
	if err == nil {
		t.Fatal("the workflow succeeded, want a failure")
	}
	e, ok := apperr.As(FromTemporal(err))
	if !ok {
		return apperr.Internal
	}
	return e.Kind
}

// --- CreateEvent ---------------------------------------------------------

func TestCreateEventMakesTheMeetingThenTheRow(t *testing.T) {
	env := testEnv(t)
	in := autocreateInput()
	var req CreateMeetingInput
	env.OnActivity(a.CreateMeeting, mock.Anything, mock.Anything).Run(argOf(&req)).Return(meeting(12345678901), nil).Once()
	var row StoreEventInput
	env.OnActivity(a.InsertEvent, mock.Anything, mock.Anything).Run(argOf(&row)).Return(func(_ context.Context, in StoreEventInput) (EventRecord, error) { return in.Event, nil }).Once()
	env.ExecuteWorkflow(CreateEvent, in)
	out := result(t, env)
	if req.ConfGrant != in.ConfGrantID || req.Marker == "" || req.OpID == "" || req.Request.Password != "pw1" || !events.HasRef(req.Request.Agenda, req.Marker) {
		t.Fatalf("create meeting request: %+v", req)
	}
	if row.OpID != req.OpID {
		t.Fatalf("the row must close the attempt log of op %q, closes %q", req.OpID, row.OpID)
	}
	if out.ConfMeetingID == nil || *out.ConfMeetingID != 12345678901 || *out.ConfGrantID != in.ConfGrantID ||
		out.Conferencing.Details.URL != "https://zoom.example/j/1" || out.Conferencing.Autocreate == nil {
		t.Fatalf("stored event: %+v", out)
	}
	env.AssertExpectations(t)
}

// rowRefused is the database's final refusal of an event row: no row.
var rowRefused = toTemporal(apperr.InvalidField("title", "a value cannot be stored"))

func TestCreateEventDeletesTheMeetingWhenTheRowIsRefused(t *testing.T) {
	env := testEnv(t)
	in := autocreateInput()
	env.OnActivity(a.CreateMeeting, mock.Anything, mock.Anything).Return(meeting(12345678901), nil).Once()
	env.OnActivity(a.InsertEvent, mock.Anything, mock.Anything).Return(EventRecord{}, rowRefused).Once()
	var removed MeetingRef
	env.OnActivity(a.RemoveMeeting, mock.Anything, mock.Anything).Run(argOf(&removed)).Return(nil).Once()
	env.ExecuteWorkflow(CreateEvent, in)
	if domainKind(t, env) != apperr.Invalid {
		t.Fatalf("the refusal is the answer: %v", env.GetWorkflowError())
	}
	if removed.MeetingID != 12345678901 || removed.ConfGrant != in.ConfGrantID || removed.EventID != in.Event.ID {
		t.Fatalf("compensation removed %+v, want the created meeting", removed)
	}
	env.AssertExpectations(t)
}

func TestCreateEventHandsAnUndeletableMeetingToTheDurableDeletion(t *testing.T) {
	env := testEnv(t)
	in := autocreateInput()
	env.OnActivity(a.CreateMeeting, mock.Anything, mock.Anything).Return(meeting(5), nil).Once()
	env.OnActivity(a.InsertEvent, mock.Anything, mock.Anything).Return(EventRecord{}, rowRefused).Once()
	env.OnActivity(a.RemoveMeeting, mock.Anything, mock.Anything).
		Return(unavailable(false, "zoom down")).Maybe()
	deleted := deletions(env)
	env.ExecuteWorkflow(CreateEvent, in)
	if env.GetWorkflowError() == nil {
		t.Fatal("the create should fail")
	}
	if len(*deleted) != 1 || (*deleted)[0].MeetingID != 5 {
		t.Fatalf("durable deletions: %+v, want meeting 5", *deleted)
	}
	env.AssertExpectations(t)
}

// The database unreachable while the row is written: the row may exist
// with its answer lost, so the meeting is not deleted; the attempt log stays
// open for the sweeper, and the caller is told to retry (503).
func TestCreateEventLeavesAnUnknownRowToTheSweeper(t *testing.T) {
	env := testEnv(t)
	in := autocreateInput()
	env.OnActivity(a.CreateMeeting, mock.Anything, mock.Anything).Return(meeting(7), nil).Once()
	env.OnActivity(a.InsertEvent, mock.Anything, mock.Anything).Return(EventRecord{}, storeError(errors.New("connection refused")))
	deleted := deletions(env)
	env.ExecuteWorkflow(CreateEvent, in)
	if domainKind(t, env) != apperr.Unavailable {
		t.Fatalf("the database down: %v, want Unavailable", env.GetWorkflowError())
	}
	if len(*deleted) != 0 {
		t.Fatalf("durable deletions: %+v, want none", *deleted)
	}
	env.AssertExpectations(t) // RemoveMeeting has no mock: calling it fails the run
}

func TestCreateEventWithoutZoomWritesOnlyTheRow(t *testing.T) {
	env := testEnv(t)
	in := CreateEventInput{V: ContractVersion, Event: newRecord()}
	env.OnActivity(a.InsertEvent, mock.Anything, StoreEventInput{Event: in.Event}).Return(in.Event, nil).Once()
	env.ExecuteWorkflow(CreateEvent, in)
	if out := result(t, env); out.ID != in.Event.ID {
		t.Fatalf("stored %v", out.ID)
	}
	env.AssertExpectations(t) // no Zoom activity was called (an unexpected call fails the mock)
}

func TestZoomRefusalIsTheUsersError(t *testing.T) {
	env := testEnv(t)
	env.OnActivity(a.CreateMeeting, mock.Anything, mock.Anything).
		Return(MeetingInfo{}, toTemporal(&apperr.Error{Kind: apperr.RateLimited, Message: "daily limit"})).Once()
	env.ExecuteWorkflow(CreateEvent, autocreateInput())
	if k := domainKind(t, env); k != apperr.RateLimited {
		t.Fatalf("kind %v, want the rate-limit domain error", k)
	}
	env.AssertExpectations(t) // no event row was written
}

func TestZoomUnavailableAfterRetriesIsAProviderError(t *testing.T) {
	for _, c := range []struct {
		noAnswer bool
		want     apperr.Kind
	}{{false, apperr.Provider}, {true, apperr.ProviderTimeout}} {
		env := testEnv(t)
		calls := 0
		env.OnActivity(a.CreateMeeting, mock.Anything, mock.Anything).Run(func(mock.Arguments) { calls++ }).
			Return(MeetingInfo{}, unavailable(c.noAnswer, "zoom create_meeting: HTTP 503"))
		env.ExecuteWorkflow(CreateEvent, autocreateInput())
		if k := domainKind(t, env); k != c.want {
			t.Errorf("no answer %v: kind %v, want %v", c.noAnswer, k, c.want)
		}
		if calls < 2 {
			t.Errorf("Zoom unavailable was not retried (%d calls)", calls)
		}
	}
}

// --- UpdateEvent ---------------------------------------------------------

func TestUpdateWithoutZoomFieldsCallsNoZoom(t *testing.T) {
	env := testEnv(t)
	ev, _ := stored()
	env.OnActivity(a.LoadEvent, mock.Anything, LoadEventInput{App: ev.ApplicationID, Grant: ev.GrantID, EventID: ev.ID}).Return(ev, nil).Once()
	var row StoreEventInput
	echoReplace(env, &row)
	deleted := deletions(env)
	env.ExecuteWorkflow(UpdateEvent, updateInput(ev, patch(t, `{"location":"Room 4","busy":false}`), uuid.Nil))
	out := result(t, env)
	if out.Location != "Room 4" || out.Busy || out.Title != "t" || *out.ConfMeetingID != 111 || row.OpID != "" || len(*deleted) != 0 {
		t.Fatalf("stored %+v (op %q, deletions %v)", out, row.OpID, *deleted)
	}
	env.AssertExpectations(t) // no Zoom activity
}

func TestUpdateOfTimeSyncsTheMeetingWithItsSettings(t *testing.T) {
	env := testEnv(t)
	ev, grant := stored()
	env.OnActivity(a.LoadEvent, mock.Anything, mock.Anything).Return(ev, nil).Once()
	var sync SyncMeetingInput
	env.OnActivity(a.SyncMeeting, mock.Anything, mock.Anything).Run(argOf(&sync)).Return(MeetingInfo{ID: 111, Details: events.Details{URL: "https://zoom.example/j/111?new"}}, nil).Once()
	var row StoreEventInput
	echoReplace(env, &row)
	later := ev.StartsAt.Add(2 * time.Hour)
	env.ExecuteWorkflow(UpdateEvent, updateInput(ev, patch(t, `{"title":"moved","when":{"start_time":`+itoa(later.Unix())+`,"end_time":`+itoa(later.Add(time.Hour).Unix())+`}}`), uuid.Nil))
	out := result(t, env)
	if sync.MeetingID != 111 || sync.ConfGrant != grant || sync.Request.Topic != "moved" || sync.Request.Duration != 60 ||
		sync.Request.Password != "old" || sync.Request.StartTime != later.UTC().Format("2006-01-02T15:04:05Z") {
		t.Fatalf("sync: %+v", sync)
	}
	if out.Conferencing.Details.URL != "https://zoom.example/j/111?new" || out.Conferencing.Autocreate == nil || !out.StartsAt.Equal(later) {
		t.Fatalf("stored %+v", out)
	}
	env.AssertExpectations(t)
}

func TestUpdateKeepsTheDetailsWhenZoomDoesNotSayThem(t *testing.T) {
	env := testEnv(t)
	ev, _ := stored()
	env.OnActivity(a.LoadEvent, mock.Anything, mock.Anything).Return(ev, nil).Once()
	env.OnActivity(a.SyncMeeting, mock.Anything, mock.Anything).Return(MeetingInfo{ID: 111}, nil).Once()
	var row StoreEventInput
	echoReplace(env, &row)
	env.ExecuteWorkflow(UpdateEvent, updateInput(ev, patch(t, `{"title":"renamed"}`), uuid.Nil))
	if out := result(t, env); out.Conferencing.Details.URL != "https://zoom.example/j/111" || out.Title != "renamed" {
		t.Fatalf("stored %+v", out.Conferencing)
	}
}

func TestUpdateRefusedByZoomChangesNothing(t *testing.T) {
	env := testEnv(t)
	ev, _ := stored()
	env.OnActivity(a.LoadEvent, mock.Anything, mock.Anything).Return(ev, nil).Once()
	env.OnActivity(a.SyncMeeting, mock.Anything, mock.Anything).
		Return(MeetingInfo{}, toTemporal(&apperr.Error{Kind: apperr.Forbidden, Message: "scope"})).Once()
	env.ExecuteWorkflow(UpdateEvent, updateInput(ev, patch(t, `{"title":"never"}`), uuid.Nil))
	if k := domainKind(t, env); k != apperr.Forbidden {
		t.Fatalf("kind %v", k)
	}
	env.AssertExpectations(t) // no row written
}

func TestUpdateWhoseRowFailsPutsTheMeetingBack(t *testing.T) {
	env := testEnv(t)
	ev, _ := stored()
	env.OnActivity(a.LoadEvent, mock.Anything, mock.Anything).Return(ev, nil).Once()
	var syncs []SyncMeetingInput
	env.OnActivity(a.SyncMeeting, mock.Anything, mock.Anything).Run(func(args mock.Arguments) {
		syncs = append(syncs, args.Get(1).(SyncMeetingInput))
	}).Return(MeetingInfo{ID: 111}, nil).Twice()
	env.OnActivity(a.ReplaceEvent, mock.Anything, mock.Anything).
		Return(EventRecord{}, temporal.NewNonRetryableApplicationError("refused by test", "db", nil)).Once()
	env.ExecuteWorkflow(UpdateEvent, updateInput(ev, patch(t, `{"title":"boom"}`), uuid.Nil))
	if domainKind(t, env) != apperr.Internal {
		t.Fatalf("a row failure is ours: %v", env.GetWorkflowError())
	}
	if len(syncs) != 2 || syncs[0].Request.Topic != "boom" || syncs[1].Request.Topic != "t" || syncs[1].Request.Password != "old" {
		t.Fatalf("syncs: %+v, want the update then the stored values back", syncs)
	}
	env.AssertExpectations(t)
}

func TestUpdateOnTheSameHostSyncsTheNewSettings(t *testing.T) {
	env := testEnv(t)
	ev, grant := stored()
	env.OnActivity(a.LoadEvent, mock.Anything, mock.Anything).Return(ev, nil).Once()
	var sync SyncMeetingInput
	env.OnActivity(a.SyncMeeting, mock.Anything, mock.Anything).Run(argOf(&sync)).Return(meeting(111), nil).Once()
	var row StoreEventInput
	echoReplace(env, &row)
	deleted := deletions(env)
	p := patch(t, `{"conferencing":{"provider":"Zoom Meeting","autocreate":{"conf_grant_id":"`+grant.String()+`","conf_settings":{"password":"new1"}}}}`)
	env.ExecuteWorkflow(UpdateEvent, updateInput(ev, p, grant))
	out := result(t, env)
	if sync.MeetingID != 111 || sync.Request.Password != "new1" || *out.ConfMeetingID != 111 ||
		*out.Conferencing.Autocreate.ConfSettings.Password != "new1" || len(*deleted) != 0 {
		t.Fatalf("sync %+v, stored %+v, deletions %v", sync, out.Conferencing, *deleted)
	}
	env.AssertExpectations(t)
}

func TestUpdateToAnotherHostCreatesBeforeItDeletes(t *testing.T) {
	env := testEnv(t)
	ev, oldGrant := stored()
	newGrant := uuid.New()
	env.OnActivity(a.LoadEvent, mock.Anything, mock.Anything).Return(ev, nil).Once()
	var create CreateMeetingInput
	env.OnActivity(a.CreateMeeting, mock.Anything, mock.Anything).Run(argOf(&create)).Return(meeting(222), nil).Once()
	var row StoreEventInput
	echoReplace(env, &row)
	deleted := deletions(env)
	p := patch(t, `{"conferencing":{"provider":"Zoom Meeting","autocreate":{"conf_grant_id":"`+newGrant.String()+`"}}}`)
	env.ExecuteWorkflow(UpdateEvent, updateInput(ev, p, newGrant))
	out := result(t, env)
	if create.ConfGrant != newGrant || row.OpID != create.OpID || *out.ConfMeetingID != 222 || *out.ConfGrantID != newGrant {
		t.Fatalf("create %+v, row op %q, stored %+v", create, row.OpID, out)
	}
	if len(*deleted) != 1 || (*deleted)[0].MeetingID != 111 || (*deleted)[0].ConfGrant != oldGrant {
		t.Fatalf("deletions %+v, want the old meeting after the row", *deleted)
	}
	env.AssertExpectations(t)
}

func TestUpdateAddsAFirstMeeting(t *testing.T) {
	env := testEnv(t)
	ev := newRecord()
	grant := uuid.New()
	env.OnActivity(a.LoadEvent, mock.Anything, mock.Anything).Return(ev, nil).Once()
	env.OnActivity(a.CreateMeeting, mock.Anything, mock.Anything).Return(meeting(333), nil).Once()
	var row StoreEventInput
	echoReplace(env, &row)
	deleted := deletions(env)
	p := patch(t, `{"conferencing":{"provider":"Zoom Meeting","autocreate":{"conf_grant_id":"`+grant.String()+`"}}}`)
	env.ExecuteWorkflow(UpdateEvent, updateInput(ev, p, grant))
	if out := result(t, env); *out.ConfMeetingID != 333 || len(*deleted) != 0 {
		t.Fatalf("stored %+v, deletions %v", out, *deleted)
	}
	env.AssertExpectations(t)
}

func TestUpdateToAnotherHostWhoseRowFailsRemovesTheNewMeeting(t *testing.T) {
	env := testEnv(t)
	ev, _ := stored()
	newGrant := uuid.New()
	env.OnActivity(a.LoadEvent, mock.Anything, mock.Anything).Return(ev, nil).Once()
	env.OnActivity(a.CreateMeeting, mock.Anything, mock.Anything).Return(meeting(222), nil).Once()
	env.OnActivity(a.ReplaceEvent, mock.Anything, mock.Anything).Return(EventRecord{}, toTemporal(apperr.Conflictf("changed"))).Once()
	var removed MeetingRef
	env.OnActivity(a.RemoveMeeting, mock.Anything, mock.Anything).Run(argOf(&removed)).Return(nil).Once()
	deleted := deletions(env)
	p := patch(t, `{"conferencing":{"provider":"Zoom Meeting","autocreate":{"conf_grant_id":"`+newGrant.String()+`"}}}`)
	env.ExecuteWorkflow(UpdateEvent, updateInput(ev, p, newGrant))
	if k := domainKind(t, env); k != apperr.Conflict {
		t.Fatalf("kind %v, want the version conflict", k)
	}
	if removed.MeetingID != 222 || removed.ConfGrant != newGrant || len(*deleted) != 0 {
		t.Fatalf("removed %+v (want the new meeting), deletions %v (want none: the old meeting stays)", removed, *deleted)
	}
	env.AssertExpectations(t)
}

func TestUpdateToManualDetailsDeletesTheMeeting(t *testing.T) {
	env := testEnv(t)
	ev, grant := stored()
	env.OnActivity(a.LoadEvent, mock.Anything, mock.Anything).Return(ev, nil).Once()
	var row StoreEventInput
	echoReplace(env, &row)
	deleted := deletions(env)
	env.ExecuteWorkflow(UpdateEvent, updateInput(ev, patch(t, `{"conferencing":{"provider":"Zoom Meeting","details":{"url":"https://zoom.example/j/9"}}}`), uuid.Nil))
	out := result(t, env)
	if out.ConfMeetingID != nil || out.ConfGrantID != nil || out.Conferencing.Details.URL != "https://zoom.example/j/9" || out.Conferencing.Autocreate != nil {
		t.Fatalf("stored %+v", out)
	}
	if len(*deleted) != 1 || (*deleted)[0].MeetingID != 111 || (*deleted)[0].ConfGrant != grant {
		t.Fatalf("deletions %+v", *deleted)
	}
	env.AssertExpectations(t)
}

func TestUpdateRemovingTheConferenceDeletesTheMeeting(t *testing.T) {
	for _, hasMeeting := range []bool{true, false} {
		env := testEnv(t)
		ev, _ := stored()
		if !hasMeeting {
			ev = newRecord()
		}
		env.OnActivity(a.LoadEvent, mock.Anything, mock.Anything).Return(ev, nil).Once()
		var row StoreEventInput
		echoReplace(env, &row)
		deleted := deletions(env)
		env.ExecuteWorkflow(UpdateEvent, updateInput(ev, patch(t, `{"conferencing":{}}`), uuid.Nil))
		out := result(t, env)
		if out.Conferencing != nil || out.ConfMeetingID != nil {
			t.Fatalf("stored %+v", out)
		}
		if want := map[bool]int{true: 1, false: 0}[hasMeeting]; len(*deleted) != want {
			t.Fatalf("with a meeting %v: %d deletions, want %d", hasMeeting, len(*deleted), want)
		}
	}
}

func TestUpdateOfAMissingEventIsNotFound(t *testing.T) {
	env := testEnv(t)
	ev := newRecord()
	env.OnActivity(a.LoadEvent, mock.Anything, mock.Anything).Return(EventRecord{}, toTemporal(apperr.NotFoundf("event not found"))).Once()
	env.ExecuteWorkflow(UpdateEvent, updateInput(ev, patch(t, `{"title":"x"}`), uuid.Nil))
	if k := domainKind(t, env); k != apperr.NotFound {
		t.Fatalf("kind %v", k)
	}
}

// --- DeleteMeeting and scheduling deletions -------------------------------

func TestDeleteMeetingRemovesTheMeeting(t *testing.T) {
	env := testEnv(t)
	m := MeetingRef{App: uuid.New(), ConfGrant: uuid.New(), MeetingID: 7, EventID: uuid.New()}
	env.OnActivity(a.RemoveMeeting, mock.Anything, m).Return(nil).Once()
	env.ExecuteWorkflow(DeleteMeeting, m)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	env.AssertExpectations(t) // and no orphan recorded
}

func TestDeleteMeetingRetriesThenRecordsAnOrphan(t *testing.T) {
	env := testEnv(t)
	m := MeetingRef{App: uuid.New(), ConfGrant: uuid.New(), MeetingID: 7, EventID: uuid.New()}
	calls := 0
	env.OnActivity(a.RemoveMeeting, mock.Anything, m).Run(func(mock.Arguments) { calls++ }).
		Return(unavailable(false, "zoom delete_meeting: HTTP 503"))
	var orphan RecordOrphanInput
	env.OnActivity(a.RecordOrphan, mock.Anything, mock.Anything).Run(argOf(&orphan)).Return(nil).Once()
	env.ExecuteWorkflow(DeleteMeeting, m)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if calls < 10 || orphan.Meeting != m || orphan.Reason == "" {
		t.Fatalf("%d attempts, orphan %+v: want many retries over the day, then the meeting recorded", calls, orphan)
	}
}

func TestDeleteMeetingStopsAtAFinalRefusal(t *testing.T) {
	env := testEnv(t)
	m := MeetingRef{App: uuid.New(), ConfGrant: uuid.New(), MeetingID: 7}
	calls := 0
	env.OnActivity(a.RemoveMeeting, mock.Anything, m).Run(func(mock.Arguments) { calls++ }).
		Return(toTemporal(&apperr.Error{Kind: apperr.Forbidden, Message: "no permission"}))
	env.OnActivity(a.RecordOrphan, mock.Anything, mock.Anything).Return(nil).Once()
	env.ExecuteWorkflow(DeleteMeeting, m)
	if err := env.GetWorkflowError(); err != nil || calls != 1 {
		t.Fatalf("%d attempts, %v: a final refusal is not retried", calls, err)
	}
	env.AssertExpectations(t)
}

// A deletion already running for the meeting is as good as a new one: no orphan.
func TestStartingADeletionTwiceIsFine(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := s.NewTestWorkflowEnvironment()
	env.SetDetachedChildWait(false)
	m := MeetingRef{App: uuid.New(), ConfGrant: uuid.New(), MeetingID: 7}
	starts := 0
	// A deletion that is still retrying when the second one is asked for.
	env.RegisterWorkflowWithOptions(func(ctx workflow.Context, m MeetingRef) error {
		starts++
		workflow.GetSignalChannel(ctx, "never").Receive(ctx, nil)
		return nil
	}, workflow.RegisterOptions{Name: "DeleteMeeting"})
	env.RegisterWorkflowWithOptions(func(ctx workflow.Context, m MeetingRef) error {
		startDeletion(ctx, m)
		startDeletion(ctx, m)
		return nil
	}, workflow.RegisterOptions{Name: "twice"})
	orphans := 0
	env.OnActivity(a.RecordOrphan, mock.Anything, mock.Anything).Run(func(mock.Arguments) { orphans++ }).Return(nil).Maybe()
	env.ExecuteWorkflow("twice", m)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if starts != 1 || orphans != 0 {
		t.Fatalf("%d deletions started and %d orphans recorded, want 1 and 0", starts, orphans)
	}
}

// A deletion that cannot be scheduled leaves the meeting on the orphan list.
func TestADeletionThatCannotStartIsRecorded(t *testing.T) {
	env := testEnv(t)
	m := MeetingRef{App: uuid.New(), ConfGrant: uuid.New(), MeetingID: 7}
	var orphan RecordOrphanInput
	env.OnActivity(a.RecordOrphan, mock.Anything, mock.Anything).Run(argOf(&orphan)).Return(nil).Once()
	env.RegisterWorkflowWithOptions(func(ctx workflow.Context, m MeetingRef) error {
		deletionNotStarted(ctx, m, errors.New("namespace not found"))
		return nil
	}, workflow.RegisterOptions{Name: "refused"})
	env.ExecuteWorkflow("refused", m)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if orphan.Meeting != m || orphan.Reason == "" {
		t.Fatalf("orphan %+v", orphan)
	}
}

// --- GrantHealth ---------------------------------------------------------

func TestGrantHealthWalksBatchesWithOneCutoff(t *testing.T) {
	env := testEnv(t)
	cutoff := time.Now().Add(-7 * 24 * time.Hour).UTC()
	var reqs []RefreshIdleInput
	env.OnActivity(a.RefreshIdleGrants, mock.Anything, mock.Anything).Run(func(args mock.Arguments) {
		reqs = append(reqs, args.Get(1).(RefreshIdleInput))
	}).Return(func(_ context.Context, in RefreshIdleInput) (RefreshIdleResult, error) {
		res := RefreshIdleResult{Cutoff: cutoff}
		res.Batch.Refreshed, res.Batch.Invalidated = 2, 1
		if len(reqs) < 3 {
			res.Batch.Next = &grantsCursor{At: cutoff.Add(-time.Hour), ID: uuid.New()}
		}
		return res, nil
	})
	env.ExecuteWorkflow(GrantHealth, GrantHealthInput{V: ContractVersion, IdleAfter: 7 * 24 * time.Hour, BatchSize: 3, MaxBatches: 10})
	var res GrantHealthResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Batches != 3 || res.Refreshed != 6 || res.Invalidated != 3 || res.More {
		t.Fatalf("result %+v", res)
	}
	if !reqs[0].Cutoff.IsZero() || reqs[0].After != nil || !reqs[1].Cutoff.Equal(cutoff) || !reqs[2].Cutoff.Equal(cutoff) ||
		reqs[1].After == nil || reqs[2].After == nil || reqs[0].Limit != 3 {
		t.Fatalf("batches asked %+v", reqs)
	}
}

func TestGrantHealthStopsAtItsBound(t *testing.T) {
	env := testEnv(t)
	calls := 0
	env.OnActivity(a.RefreshIdleGrants, mock.Anything, mock.Anything).Run(func(mock.Arguments) { calls++ }).
		Return(RefreshIdleResult{Cutoff: time.Now(), Batch: idleBatchWithMore()}, nil)
	env.ExecuteWorkflow(GrantHealth, GrantHealthInput{V: ContractVersion, IdleAfter: time.Hour, BatchSize: 1, MaxBatches: 4})
	var res GrantHealthResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if calls != 4 || !res.More {
		t.Fatalf("%d batches, result %+v: want 4 and more to do", calls, res)
	}
}

// --- errors --------------------------------------------------------------

func TestFinalErrorsAreClassifiedByType(t *testing.T) {
	if !apperr.IsKind(FromTemporal(finalError(unavailable(false, "HTTP 500"), stepCreateMeeting)), apperr.Provider) {
		t.Error("exhausted 5xx retries must be a provider error")
	}
	if !apperr.IsKind(FromTemporal(finalError(unavailable(true, "EOF"), stepCreateMeeting)), apperr.ProviderTimeout) {
		t.Error("no answer must be a provider timeout")
	}
	timeout := temporal.NewTimeoutError(0, nil)
	if !apperr.IsKind(FromTemporal(finalError(timeout, stepUpdateMeeting)), apperr.ProviderTimeout) {
		t.Error("a Zoom step out of time must be a provider timeout")
	}
	// The text of an error never decides: a database error that mentions
	// Zoom, or no response, is still ours.
	for _, s := range []step{stepStoreEvent, stepCreateMeeting} {
		if e, ok := apperr.As(FromTemporal(finalError(errors.New("zoom: no response: deadline exceeded"), s))); ok {
			t.Errorf("%s: an internal failure became the domain error %v", s.doing, e)
		}
	}
	if e, ok := apperr.As(FromTemporal(finalError(timeout, stepStoreEvent))); ok {
		t.Errorf("a database step out of time became the domain error %v", e)
	}
	domain := toTemporal(&apperr.Error{Kind: apperr.Invalid, Field: "x", Message: "bad"})
	if e, ok := apperr.As(FromTemporal(finalError(domain, stepStoreEvent))); !ok || e.Kind != apperr.Invalid || e.Field != "x" {
		t.Errorf("a domain error must pass unchanged: %v", e)
	}
}

func TestMarkerIsStablePerOperation(t *testing.T) {
	if Marker("op-1") != Marker("op-1") || Marker("op-1") == Marker("op-2") || len(Marker("x")) != 16 {
		t.Fatal("markers must be stable, distinct and short")
	}
}

type grantsCursor = grants.IdleCursor

func idleBatchWithMore() grants.IdleBatch {
	return grants.IdleBatch{Refreshed: 1, Next: &grants.IdleCursor{At: time.Now(), ID: uuid.New()}}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
