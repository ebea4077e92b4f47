package workflows

import (
	"context"
	"errors"
	"time"

	enums "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"

	"github.com/confhub/confhub/events"
	"github.com/confhub/confhub/grants"
	"github.com/confhub/confhub/internal/apperr"
)

// Zoom's meeting events (meeting.updated, meeting.deleted) are applied to
// the event carrying the meeting by FollowMeeting, a workflow run under the
// event's update id (UpdateEventID). Temporal runs one workflow per id at a
// time, so a notice is never applied beside one of our updates of the
// event: an update PATCHes Zoom before it writes the row, and Zoom's echo
// of that PATCH, applied in between, would make the update's row write
// fail on its version. While our update runs, a meeting.updated is its echo
// (or a change of the host's that our update overrides at Zoom anyway) and
// is dropped; a meeting.deleted waits for the update to end, since the
// meeting is gone whatever the update does. An update asked for while a
// notice is being applied waits for it, as it waits for another update.
// Echoes arriving after our update ended find the event showing their
// values already and write nothing (events.MeetingNotice.Follow).

// FollowMeeting applies a meeting event to its event: one write, with its
// event.updated, when the event changes.
func FollowMeeting(ctx workflow.Context, in MeetingNoticeInput) (FollowMeetingResult, error) {
	var a *Activities
	var res FollowMeetingResult
	err := workflow.ExecuteLocalActivity(dbLA(ctx), a.FollowMeeting, in).Get(ctx, &res)
	return res, finalError(err, stepStoreEvent)
}

// FollowMeeting applies a meeting event to the event carrying the meeting.
func (a *Activities) FollowMeeting(ctx context.Context, in MeetingNoticeInput) (FollowMeetingResult, error) {
	f, err := a.Events.FollowMeeting(ctx, in.App, in.Grant, in.EventID, in.Notice.Notice())
	if err != nil {
		return FollowMeetingResult{}, storeError(err)
	}
	return FollowMeetingResult{Outcome: f.Outcome, Conflicts: f.Conflicts, Version: f.Event.Version}, nil
}

// noticeBudget bounds the handling of a meeting event: Zoom waits 3 s for
// its answer.
const noticeBudget = 2500 * time.Millisecond

// errEventBusy answers a meeting deletion whose event stays busy with one
// of our updates past noticeBudget: Zoom sends a notice it got no 2xx for
// again later, and by then the update has ended.
var errEventBusy = &apperr.Error{Kind: apperr.Conflict,
	Message: "the meeting's event is being updated; send the notice again later (Zoom does)"}

// FollowZoomMeeting applies a verified meeting event from Zoom to the event
// carrying the meeting, if any (a meeting no event carries, or one whose
// host is not the event's conf grant's user, is acknowledged and ignored).
// Nothing is sent to Zoom: Zoom made the change.
func (s *Service) FollowZoomMeeting(ctx context.Context, n grants.MeetingNotice) error {
	notice, err := events.ParseMeetingNotice(n.Event, n.Object, n.OldObject)
	if err != nil {
		return err
	}
	log := s.Log.With("zoom_event", n.Event, "meeting_id", notice.MeetingID)
	ev, found, err := s.Events.NoticeEvent(ctx, n.ApplicationIDs, notice)
	if err != nil {
		return err
	}
	if !found {
		log.InfoContext(ctx, "zoom meeting event ignored: no event carries the meeting (or its host is another user)")
		return nil
	}
	log = log.With("event_id", ev.ID)
	if !s.connected() {
		return errNotConnected
	}
	ctx, cancel := context.WithTimeout(ctx, noticeBudget)
	defer cancel()
	id := UpdateEventID(ev.ID)
	input := MeetingNoticeInput{V: ContractVersion, App: ev.ApplicationID, Grant: ev.GrantID, EventID: ev.ID, Notice: NoticeRecordOf(notice)}
	for {
		run, err := s.start(ctx, client.StartWorkflowOptions{
			ID: id, TaskQueue: s.TaskQueue, EnableEagerStart: true, WorkflowExecutionTimeout: time.Minute,
			WorkflowTaskTimeout:                      workflowTaskTimeout,
			WorkflowIDReusePolicy:                    enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
			WorkflowIDConflictPolicy:                 enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
			WorkflowExecutionErrorWhenAlreadyStarted: true,
		}, FollowMeeting, input)
		var busy *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &busy) {
			if !notice.Deleted {
				log.InfoContext(ctx, "zoom meeting change ignored: one of our updates of the event is running (the change is its echo, or loses to it)")
				return nil
			}
			log.InfoContext(ctx, "zoom meeting deletion waits for our update of the event to end")
			_ = s.Temporal.GetWorkflow(ctx, id, "").Get(ctx, nil)
			if ctx.Err() != nil {
				log.WarnContext(ctx, "zoom meeting deletion deferred: the event stays busy with an update; Zoom sends it again")
				return errEventBusy
			}
			continue
		}
		if err != nil {
			return temporalError(ctx, "starting the meeting-notice workflow", err)
		}
		var res FollowMeetingResult
		err = run.Get(ctx, &res)
		switch {
		case err != nil && ctx.Err() != nil:
			// Started is as good as done: the workflow finishes on its own.
			log.InfoContext(ctx, "zoom meeting event accepted; still being applied", "workflow_id", id)
			return nil
		case err != nil:
			return FromTemporal(err)
		}
		log.InfoContext(ctx, "zoom meeting event applied", "outcome", res.Outcome, "version", res.Version, "conflicts", res.Conflicts)
		return nil
	}
}
