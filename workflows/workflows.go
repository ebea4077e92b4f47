package workflows

import (
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	enums "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/confhub/confhub/connectors/zoom"
	"github.com/confhub/confhub/events"
	"github.com/confhub/confhub/internal/apperr"
)

// noMarker: an update of a confirmed meeting needs no reference line (the
// reference only matters until the create is confirmed).
const noMarker = ""

// TaskQueue is where confhub's workers listen.
const TaskQueue = "confhub"

// Bounds that keep every API call within RequestTimeout: the Zoom step gives
// up (retries included) well before, leaving time to compensate.
const (
	RequestTimeout = 30 * time.Second
	zoomStepBudget = 20 * time.Second
	dbStepBudget   = 5 * time.Second
)

// zoomLA runs Zoom calls as local activities: retried with backoff (a
// per-second 429, a 5xx, a lost answer) within the step budget; final errors
// (validation, permission, scope, daily limit) are not retried.
func zoomLA(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: zoomStepBudget,
		StartToCloseTimeout:    12 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 200 * time.Millisecond, BackoffCoefficient: 2,
			MaximumInterval: 3 * time.Second, NonRetryableErrorTypes: []string{domainErrorType}},
	})
}

func dbLA(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: dbStepBudget,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 50 * time.Millisecond, BackoffCoefficient: 2,
			MaximumInterval: time.Second, NonRetryableErrorTypes: []string{domainErrorType}},
	})
}

// Marker is an operation's reference in its meeting's agenda.
func Marker(opID string) string {
	sum := sha256.Sum256([]byte(opID))
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:10]))
}

// CreateInput is a validated event to create, maybe with a meeting.
type CreateInput struct {
	Event        events.Event
	Conference   *events.Conferencing // autocreate, details, or nil
	ConfGrant    uuid.UUID            // for autocreate
	ConfSettings *events.ConfSettings
}

// CreateEvent makes the Zoom meeting first, then the event row; if the row
// cannot be written, the meeting is deleted again.
func CreateEvent(ctx workflow.Context, in CreateInput) (events.Event, error) {
	var a *Activities
	ev := in.Event
	ev.Conferencing = in.Conference
	opID := workflow.GetInfo(ctx).WorkflowExecution.ID
	if in.Conference == nil || in.Conference.Autocreate == nil {
		var out events.Event
		err := workflow.ExecuteLocalActivity(dbLA(ctx), a.InsertEvent, ev, "").Get(ctx, &out)
		return out, finalError(err, "storing the event")
	}
	marker := Marker(opID)
	var m zoom.Meeting
	err := workflow.ExecuteLocalActivity(zoomLA(ctx), a.CreateMeeting, CreateMeetingInput{
		OpID: opID, App: ev.ApplicationID, ConfGrant: in.ConfGrant, EventID: ev.ID, Marker: marker,
		Request: events.MeetingRequest(ev, in.ConfSettings, marker),
	}).Get(ctx, &m)
	if err != nil {
		return events.Event{}, finalError(err, "creating the Zoom meeting")
	}
	attach(&ev, in.ConfGrant, m)
	var out events.Event
	if err := workflow.ExecuteLocalActivity(dbLA(ctx), a.InsertEvent, ev, opID).Get(ctx, &out); err != nil {
		compensate(ctx, RemoveMeetingInput{App: ev.ApplicationID, ConfGrant: in.ConfGrant, MeetingID: m.ID, EventID: ev.ID})
		return events.Event{}, finalError(err, "storing the event")
	}
	return out, nil
}

// attach records a meeting on the event: who hosts it and what it shows.
func attach(ev *events.Event, grant uuid.UUID, m zoom.Meeting) {
	g, id := grant, m.ID
	ev.ConfGrantID, ev.ConfMeetingID = &g, &id
	auto := ev.Conferencing.Autocreate
	ev.Conferencing = &events.Conferencing{Provider: events.ZoomProvider, Details: events.DetailsFromMeeting(m), Autocreate: auto}
}

// compensate deletes a meeting in a disconnected context (it must run even
// if the workflow is being cancelled); a meeting it cannot delete is
// recorded as an orphan by the activity.
func compensate(ctx workflow.Context, in RemoveMeetingInput) {
	dctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	var a *Activities
	if err := workflow.ExecuteLocalActivity(zoomLA(dctx), a.RemoveMeeting, in).Get(dctx, nil); err != nil {
		// Retries are exhausted within the step: hand the deletion to the
		// durable workflow, which keeps trying for hours.
		_ = workflow.ExecuteChildWorkflow(workflow.WithChildOptions(dctx, workflow.ChildWorkflowOptions{
			WorkflowID:        DeleteMeetingID(in.ConfGrant, in.MeetingID),
			ParentClosePolicy: enums.PARENT_CLOSE_POLICY_ABANDON, // it outlives this workflow
		}), DeleteMeeting, in).GetChildWorkflowExecution().Get(dctx, nil)
	}
}

// UpdateInput is a PUT to apply to the stored event.
type UpdateInput struct {
	App, Grant, EventID uuid.UUID
	Input               events.EventInput
}

// UpdateEvent applies an update. Only one runs per event at a time (its
// workflow id is the event's), so concurrent updates never lose a write.
// Zoom changes first; if the row then cannot be written, Zoom is put back.
func UpdateEvent(ctx workflow.Context, in UpdateInput) (events.Event, error) {
	var a *Activities
	var stored events.Event
	if err := workflow.ExecuteLocalActivity(dbLA(ctx), a.LoadEvent, in.App, in.Grant, in.EventID).Get(ctx, &stored); err != nil {
		return events.Event{}, finalError(err, "reading the event")
	}
	change, err := events.ApplyUpdate(stored, in.Input)
	if err != nil {
		return events.Event{}, toTemporal(err)
	}
	ev := change.Event
	opID := workflow.GetInfo(ctx).WorkflowExecution.RunID
	var undo []func()
	var removeAfter *RemoveMeetingInput
	hasMeeting := stored.ConfMeetingID != nil && stored.ConfGrantID != nil

	switch {
	case change.Conf == events.ConfKeep && hasMeeting && change.ZoomFieldsChanged:
		var cs *events.ConfSettings
		if stored.Conferencing != nil && stored.Conferencing.Autocreate != nil {
			cs = stored.Conferencing.Autocreate.ConfSettings
		}
		var m zoom.Meeting
		if err := workflow.ExecuteLocalActivity(zoomLA(ctx), a.SyncMeeting, SyncMeetingInput{App: in.App, ConfGrant: *stored.ConfGrantID,
			MeetingID: *stored.ConfMeetingID, Request: events.MeetingRequest(ev, cs, noMarker)}).Get(ctx, &m); err != nil {
			return events.Event{}, finalError(err, "updating the Zoom meeting")
		}
		if m.JoinURL != "" {
			ev.Conferencing = &events.Conferencing{Provider: events.ZoomProvider, Details: events.DetailsFromMeeting(m), Autocreate: stored.Conferencing.Autocreate}
		}
		undo = append(undo, func() {
			dctx, cancel := workflow.NewDisconnectedContext(ctx)
			defer cancel()
			_ = workflow.ExecuteLocalActivity(zoomLA(dctx), a.SyncMeeting, SyncMeetingInput{App: in.App, ConfGrant: *stored.ConfGrantID,
				MeetingID: *stored.ConfMeetingID, Request: events.MeetingRequest(stored, cs, noMarker)}).Get(dctx, nil)
		})
	case change.Conf == events.ConfSet && change.Conference.Autocreate != nil:
		grant, err := uuid.Parse(change.Conference.Autocreate.ConfGrantID)
		if err != nil {
			return events.Event{}, toTemporal(apperr.InvalidField("conferencing.autocreate.conf_grant_id", "is not a grant id"))
		}
		if hasMeeting && *stored.ConfGrantID == grant {
			// Same host: the meeting stays; its settings and fields sync.
			var m zoom.Meeting
			if err := workflow.ExecuteLocalActivity(zoomLA(ctx), a.SyncMeeting, SyncMeetingInput{App: in.App, ConfGrant: grant,
				MeetingID: *stored.ConfMeetingID, Request: events.MeetingRequest(ev, change.Conference.Autocreate.ConfSettings, noMarker)}).Get(ctx, &m); err != nil {
				return events.Event{}, finalError(err, "updating the Zoom meeting")
			}
			ev.Conferencing = change.Conference
			if m.JoinURL != "" {
				ev.Conferencing = &events.Conferencing{Provider: events.ZoomProvider, Details: events.DetailsFromMeeting(m), Autocreate: change.Conference.Autocreate}
			}
			break
		}
		// A new host (or a first meeting): create the new meeting before deleting the old.
		marker := Marker(opID)
		ev.Conferencing = change.Conference
		var m zoom.Meeting
		if err := workflow.ExecuteLocalActivity(zoomLA(ctx), a.CreateMeeting, CreateMeetingInput{OpID: opID, App: in.App, ConfGrant: grant,
			EventID: ev.ID, Marker: marker, Request: events.MeetingRequest(ev, change.Conference.Autocreate.ConfSettings, marker)}).Get(ctx, &m); err != nil {
			return events.Event{}, finalError(err, "creating the Zoom meeting")
		}
		attach(&ev, grant, m)
		undo = append(undo, func() {
			compensate(ctx, RemoveMeetingInput{App: in.App, ConfGrant: grant, MeetingID: m.ID, EventID: ev.ID})
		})
		if hasMeeting {
			removeAfter = &RemoveMeetingInput{App: in.App, ConfGrant: *stored.ConfGrantID, MeetingID: *stored.ConfMeetingID, EventID: ev.ID}
		}
	case change.Conf == events.ConfSet: // manual details replace whatever was there
		ev.Conferencing = change.Conference
		ev.ConfGrantID, ev.ConfMeetingID = nil, nil
		if hasMeeting {
			removeAfter = &RemoveMeetingInput{App: in.App, ConfGrant: *stored.ConfGrantID, MeetingID: *stored.ConfMeetingID, EventID: ev.ID}
		}
	case change.Conf == events.ConfRemove:
		ev.Conferencing, ev.ConfGrantID, ev.ConfMeetingID = nil, nil, nil
		if hasMeeting {
			removeAfter = &RemoveMeetingInput{App: in.App, ConfGrant: *stored.ConfGrantID, MeetingID: *stored.ConfMeetingID, EventID: ev.ID}
		}
	}

	var out events.Event
	if err := workflow.ExecuteLocalActivity(dbLA(ctx), a.ReplaceEvent, ev, opID).Get(ctx, &out); err != nil {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
		return events.Event{}, finalError(err, "storing the event")
	}
	if removeAfter != nil {
		startDeletion(ctx, *removeAfter)
	}
	return out, nil
}

// startDeletion hands a meeting to the durable deletion workflow and does
// not wait for it.
func startDeletion(ctx workflow.Context, in RemoveMeetingInput) {
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:        DeleteMeetingID(in.ConfGrant, in.MeetingID),
		ParentClosePolicy: enums.PARENT_CLOSE_POLICY_ABANDON,
	})
	_ = workflow.ExecuteChildWorkflow(cctx, DeleteMeeting, in).GetChildWorkflowExecution().Get(ctx, nil)
}

// DeleteMeetingID is the deletion workflow's id: one per meeting.
func DeleteMeetingID(grant uuid.UUID, meeting int64) string {
	return "delete-meeting-" + grant.String() + "-" + strconv.FormatInt(meeting, 10)
}

// DeleteMeeting deletes a meeting whose event is gone, retrying for hours;
// a meeting that cannot be deleted is recorded as an orphan.
func DeleteMeeting(ctx workflow.Context, in RemoveMeetingInput) error {
	var a *Activities
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    30 * time.Second,
		ScheduleToCloseTimeout: 24 * time.Hour,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2,
			MaximumInterval: 30 * time.Minute, NonRetryableErrorTypes: []string{domainErrorType}},
	})
	err := workflow.ExecuteActivity(ctx, a.RemoveMeeting, in).Get(ctx, nil)
	if err != nil {
		// A day of retries did not do it: record it and stop.
		lctx := dbLA(ctx)
		return workflow.ExecuteLocalActivity(lctx, a.RecordOrphan, in, "deletion kept failing: "+err.Error()).Get(ctx, nil)
	}
	return nil
}

// finalError makes a workflow's failure a domain error the API can show.
func finalError(err error, step string) error {
	if err == nil {
		return nil
	}
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) && ae.Type() == domainErrorType {
		return err
	}
	kind := apperr.Provider
	msg := "Zoom did not succeed while " + step
	if strings.Contains(step, "storing") || strings.Contains(step, "reading") {
		kind = apperr.Kind(0)
	}
	var te *temporal.TimeoutError
	if errors.As(err, &te) || strings.Contains(err.Error(), "no response") || strings.Contains(err.Error(), "deadline") {
		if kind == apperr.Provider {
			kind = apperr.ProviderTimeout
			msg = "Zoom did not answer in time while " + step
		}
	}
	if kind == 0 {
		return err // an internal failure: the API answers 500 and logs it
	}
	return toTemporal(&apperr.Error{Kind: kind, Message: msg, ProviderError: map[string]any{"message": rootMessage(err)}})
}

func rootMessage(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		err = u
	}
}
