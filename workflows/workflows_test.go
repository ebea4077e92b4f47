package workflows

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/confhub/confhub/connectors/zoom"
	"github.com/confhub/confhub/events"
	"github.com/confhub/confhub/internal/apperr"
)

func autocreateInput() CreateInput {
	ev := events.Event{ID: uuid.New(), ApplicationID: uuid.New(), GrantID: uuid.New(), CalendarID: uuid.New(), Title: "t",
		When: events.When{Object: "timespan"}, StartsAt: time.Now().Add(time.Hour), EndsAt: time.Now().Add(2 * time.Hour)}
	grant := uuid.New()
	return CreateInput{Event: ev, ConfGrant: grant,
		Conference: &events.Conferencing{Provider: events.ZoomProvider, Autocreate: &events.Autocreate{ConfGrantID: grant.String()}}}
}

func TestCreateEventDeletesTheMeetingWhenTheRowFails(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	var a *Activities
	in := autocreateInput()
	env.OnActivity(a.CreateMeeting, mock.Anything, mock.Anything).Return(zoom.Meeting{ID: 12345678901, JoinURL: "https://z/j/1"}, nil).Once()
	env.OnActivity(a.InsertEvent, mock.Anything, mock.Anything, mock.Anything).
		Return(events.Event{}, temporal.NewNonRetryableApplicationError("disk full", "db", nil)).Once()
	var removed RemoveMeetingInput
	env.OnActivity(a.RemoveMeeting, mock.Anything, mock.Anything).Run(func(args mock.Arguments) {
		removed = args.Get(1).(RemoveMeetingInput)
	}).Return(nil).Once()
	env.ExecuteWorkflow(CreateEvent, in)
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() == nil {
		t.Fatal("the workflow should fail when the row cannot be written")
	}
	if removed.MeetingID != 12345678901 || removed.ConfGrant != in.ConfGrant {
		t.Fatalf("compensation removed %+v, want the created meeting", removed)
	}
	env.AssertExpectations(t)
}

func TestCreateEventWithoutZoomWritesOnlyTheRow(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	var a *Activities
	in := autocreateInput()
	in.Conference = nil
	env.OnActivity(a.InsertEvent, mock.Anything, mock.Anything, "").Return(in.Event, nil).Once()
	env.ExecuteWorkflow(CreateEvent, in)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	env.AssertExpectations(t) // no Zoom activity was called (an unexpected call fails the mock)
}

func TestZoomRefusalIsTheUsersError(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	var a *Activities
	env.OnActivity(a.CreateMeeting, mock.Anything, mock.Anything).
		Return(zoom.Meeting{}, toTemporal(&apperr.Error{Kind: apperr.RateLimited, Message: "daily limit"})).Once()
	env.ExecuteWorkflow(CreateEvent, autocreateInput())
	err := FromTemporal(env.GetWorkflowError())
	if !apperr.IsKind(err, apperr.RateLimited) {
		t.Fatalf("err = %v, want the rate-limit domain error", err)
	}
	env.AssertExpectations(t) // no event row was written
}

func TestFinalErrorMapsExhaustedZoomRetriesToProviderErrors(t *testing.T) {
	err := FromTemporal(finalError(errors.New("zoom create_meeting: HTTP 500"), "creating the Zoom meeting"))
	if !apperr.IsKind(err, apperr.Provider) {
		t.Fatalf("exhausted 5xx retries: %v", err)
	}
	err = FromTemporal(finalError(errors.New("zoom create_meeting: no response: EOF"), "creating the Zoom meeting"))
	if !apperr.IsKind(err, apperr.ProviderTimeout) {
		t.Fatalf("no answer: %v", err)
	}
	if e, ok := apperr.As(FromTemporal(finalError(errors.New("db down"), "storing the event"))); ok {
		t.Fatalf("an internal failure became a domain error: %v", e)
	}
}

func TestMarkerIsStablePerOperation(t *testing.T) {
	if Marker("op-1") != Marker("op-1") || Marker("op-1") == Marker("op-2") || len(Marker("x")) != 16 {
		t.Fatal("markers must be stable, distinct and short")
	}
}
