package workflows

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	enums "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/workflow"

	"github.com/confhub/confhub/connectors/zoom"
	"github.com/confhub/confhub/events"
	"github.com/confhub/confhub/grants"
	"github.com/confhub/confhub/internal/apperr"
)

// An update changes the meeting first, then the event row. When Zoom's
// answer to the change is lost and retries fail, or the row cannot be
// written and the meeting cannot be put back, event and meeting may
// disagree. The update settles what it can within the request (reading the
// meeting back, putting it back); what it cannot is left to RepairMeeting,
// which makes the meeting match the event row, durably.

// RepairInput names a meeting that may not show what its event says.
type RepairInput struct {
	V         int       `json:"v"`
	App       uuid.UUID `json:"app"`
	Grant     uuid.UUID `json:"grant"`
	EventID   uuid.UUID `json:"event_id"`
	ConfGrant uuid.UUID `json:"conf_grant"`
	MeetingID int64     `json:"meeting_id"`
}

// RepairMeetingID is the repair's workflow id: one at a time per meeting.
func RepairMeetingID(grant uuid.UUID, meeting int64) string {
	return "repair-meeting-" + DeleteMeetingID(grant, meeting)[len("delete-meeting-"):]
}

// RepairMeeting makes a meeting show what its event row says, retrying for
// up to a day.
func RepairMeeting(ctx workflow.Context, in RepairInput) error {
	var a *Activities
	ctx = dayOfRetries(ctx, 10*time.Minute)
	err := workflow.ExecuteActivity(ctx, a.MatchMeetingToEvent, in).Get(ctx, nil)
	if err != nil {
		workflow.GetLogger(ctx).Error("a meeting could not be made to match its event", "meeting_id", in.MeetingID,
			"event_id", in.EventID, "error", err)
	}
	return err
}

// startRepair hands a meeting to RepairMeeting without waiting for it.
func startRepair(ctx workflow.Context, in RepairInput) {
	in.V = ContractVersion
	err := startAbandoned(ctx, workflow.ChildWorkflowOptions{WorkflowID: RepairMeetingID(in.ConfGrant, in.MeetingID),
		WorkflowIDReusePolicy: enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE, WorkflowExecutionTimeout: 25 * time.Hour},
		RepairMeeting, in)
	if err != nil {
		workflow.GetLogger(ctx).Error("the repair of a meeting could not be started; it may not match its event",
			"meeting_id", in.MeetingID, "event_id", in.EventID, "error", err)
	}
}

// repairRounds bounds how often one attempt chases an event that keeps
// changing (each change is an update that syncs the meeting itself).
const repairRounds = 5

// MatchMeetingToEvent PATCHes the meeting to show the event row as it is,
// then checks that the row did not change meanwhile (an update running
// beside it); if it did, it goes again.
func (a *Activities) MatchMeetingToEvent(ctx context.Context, in RepairInput) error {
	for range repairRounds {
		ev, err := a.Events.LoadEvent(ctx, in.App, in.Grant, in.EventID)
		if apperr.IsKind(err, apperr.NotFound) {
			return nil // the event is gone: its deletion takes the meeting
		}
		if err != nil {
			return storeError(err)
		}
		if ev.ConfMeetingID == nil || *ev.ConfMeetingID != in.MeetingID {
			return nil // the event has another meeting now, or none
		}
		req := events.MeetingRequest(ev, storedSettings(ev), noMarker)
		err = a.Tokens.Do(ctx, in.App, in.ConfGrant, func(tok grants.AccessToken) error {
			return a.Zoom.UpdateMeeting(ctx, tok.Token, in.MeetingID, req)
		})
		if zoom.IsNotFound(err) {
			return nil // deleted in Zoom: nothing to match
		}
		if err != nil {
			return zoomOutcome(err)
		}
		again, err := a.Events.LoadEvent(ctx, in.App, in.Grant, in.EventID)
		switch {
		case apperr.IsKind(err, apperr.NotFound):
			return nil
		case err != nil:
			return storeError(err)
		case again.Version == ev.Version:
			return nil
		}
	}
	return errors.New("the event kept changing while its meeting was matched to it; trying again")
}

// CheckMeetingInput asks whether a meeting shows what a request asked.
type CheckMeetingInput struct {
	App       uuid.UUID
	ConfGrant uuid.UUID
	MeetingID int64
	Want      zoom.MeetingRequest
}

// MeetingCheck is what a meeting showed.
type MeetingCheck struct {
	Shows bool        `json:"shows"`
	Info  MeetingInfo `json:"info"`
}

// CheckMeeting reads a meeting back and compares it with a request.
func (a *Activities) CheckMeeting(ctx context.Context, in CheckMeetingInput) (MeetingCheck, error) {
	var m zoom.Meeting
	err := a.Tokens.Do(ctx, in.App, in.ConfGrant, func(tok grants.AccessToken) error {
		got, err := a.Zoom.GetMeeting(ctx, tok.Token, in.MeetingID)
		m = got
		return err
	})
	if err != nil {
		return MeetingCheck{}, zoomOutcome(err)
	}
	return MeetingCheck{Shows: events.MeetingShows(m, in.Want), Info: infoOf(m)}, nil
}
