package workflows

import (
	"context"
	"errors"
	"time"

	enums "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
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
// meeting is gone whatever the update does. A notice arriving while
// another is applied waits for it (Zoom sends concurrently: both may be
// the host's). An update asked for while a notice is being applied waits
// for it, as it waits for another update.
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
// its answer. A wait for the event's running workflow ends noticeMargin
// earlier, leaving time to start the notice's own.
const (
	noticeBudget = 2500 * time.Millisecond
	noticeMargin = 500 * time.Millisecond
)

// errEventBusy answers a meeting event that has waited for the event's
// running workflow (one of our updates, or another notice) past
// noticeBudget: Zoom sends a notice it got no 2xx for again later, and by
// then the workflow has ended.
var errEventBusy = &apperr.Error{Kind: apperr.Conflict,
	Message: "the meeting's event is being updated; send the notice again later (Zoom does)"}

// updateEventType is UpdateEvent's registered name.
const updateEventType = "UpdateEvent"

// runningType is the type of the workflow run (the latest, for runID "")
// running under id, or "" when it has ended; one Temporal no longer knows
// ended long ago.
func runningType(ctx context.Context, c describer, id, runID string) (string, error) {
	d, err := c.DescribeWorkflowExecution(ctx, id, runID)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	info := d.GetWorkflowExecutionInfo()
	if info.GetStatus() != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return "", nil
	}
	return info.GetType().GetName(), nil
}

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
	deadline := time.Now().Add(noticeBudget)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	id := UpdateEventID(ev.ID)
	// busyOr is a Temporal call's failure: once the notice has waited and
	// the budget is spent, the event is still busy (409, Zoom sends it
	// again); otherwise Temporal failed.
	waited := false
	busyOr := func(doing string, err error) error {
		if waited && ctx.Err() != nil {
			log.WarnContext(ctx, "zoom meeting event deferred: the event stays busy; Zoom sends it again")
			return errEventBusy
		}
		return temporalError(ctx, doing, err)
	}
	input := MeetingNoticeInput{V: ContractVersion, App: ev.ApplicationID, Grant: ev.GrantID, EventID: ev.ID, Notice: NoticeRecordOf(notice)}
	for {
		run, err := s.start(ctx, s.eventLane(id, time.Minute), FollowMeeting, input)
		var busy *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &busy) {
			running, err := runningType(ctx, s.Temporal, id, "")
			if err != nil {
				return busyOr("looking at the event's running workflow", err)
			}
			if running == updateEventType && !notice.Deleted {
				log.InfoContext(ctx, "zoom meeting change ignored: one of our updates of the event is running (the change is its echo, or loses to it)")
				return nil
			}
			// A deletion waits for our update (the meeting is gone whatever
			// the update does); any notice waits for another notice.
			log.InfoContext(ctx, "zoom meeting event waits for the event's running workflow to end", "running", running)
			wctx, wcancel := context.WithDeadline(ctx, deadline.Add(-noticeMargin))
			_ = s.Temporal.GetWorkflow(wctx, id, "").Get(wctx, nil)
			spent := wctx.Err() != nil
			wcancel()
			waited = true
			if spent {
				log.WarnContext(ctx, "zoom meeting event deferred: the event stays busy; Zoom sends it again", "running", running)
				return errEventBusy
			}
			continue
		}
		if err != nil {
			return busyOr("starting the meeting-notice workflow", err)
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
