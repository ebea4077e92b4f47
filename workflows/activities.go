package workflows

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"

	"github.com/confhub/confhub/connectors/zoom"
	"github.com/confhub/confhub/events"
	"github.com/confhub/confhub/grants"
	"github.com/confhub/confhub/internal/apperr"
	"github.com/confhub/confhub/internal/outbox"
	"github.com/confhub/confhub/internal/telemetry"
	"github.com/confhub/confhub/internal/webhooks"
)

// The activities reach storage only through the feature packages' stores,
// through the small interfaces below (events.Store and grants.Tokens
// implement them); they hold no SQL.

// EventStore writes and reads events (events.Store).
type EventStore interface {
	InsertEvent(ctx context.Context, e events.Event, opID string) (events.Event, error)
	LoadEvent(ctx context.Context, appID, grantID, id uuid.UUID) (events.Event, error)
	ReplaceEvent(ctx context.Context, e events.Event, opID, writeID string) (events.Event, error)
	FollowMeeting(ctx context.Context, appID, grantID, eventID uuid.UUID, n events.MeetingNotice) (events.Followed, error)
}

// MeetingLog records what becomes of the Zoom meetings we create (events.Store).
type MeetingLog interface {
	OpenAttempt(ctx context.Context, a events.Attempt) (events.AttemptLog, error)
	SettleAttempt(ctx context.Context, opID string) error
	RecordOrphan(ctx context.Context, o events.Orphan) error
	StaleAttempts(ctx context.Context, idle time.Duration, limit int) ([]events.OpenAttempt, error)
	CloseAttempt(ctx context.Context, at events.OpenAttempt, state string, meetingID *int64) (bool, error)
	CompensateAttempt(ctx context.Context, at events.OpenAttempt, meetingID int64) (bool, error)
	PostponeAttempt(ctx context.Context, opID string) error
	MeetingOnEvent(ctx context.Context, appID, confGrantID uuid.UUID, meetingID int64) (bool, error)
}

// Bookings releases Scheduler bookings whose event could not be made, and
// gives a moved booking its event's time (scheduler.Store).
type Bookings interface {
	Release(ctx context.Context, id uuid.UUID, reason string) error
	SetTimes(ctx context.Context, id uuid.UUID, start, end time.Time) error
}

// Outbox is the pending work recorded with the changes that caused it (outbox.Store).
type Outbox interface {
	Due(ctx context.Context, limit int) ([]outbox.Entry, error)
	Done(ctx context.Context, id int64) error
	Retry(ctx context.Context, id int64, reason string) error
}

// WorkflowClient is what the sweeper needs of Temporal: to start the work an
// outbox entry names, and to know whether an operation's workflow has ended.
type WorkflowClient interface {
	SignalStarter
	describer
	ExecuteWorkflow(ctx context.Context, options client.StartWorkflowOptions, workflow any, args ...any) (client.WorkflowRun, error)
}

// describer tells what runs under a workflow id.
type describer interface {
	DescribeWorkflowExecution(ctx context.Context, workflowID, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error)
}

// Webhooks delivers notifications to an application's destinations (webhooks.Store).
type Webhooks interface {
	DeliverBatch(ctx context.Context, webhookID uuid.UUID, log *slog.Logger, beat func()) (webhooks.BatchResult, error)
	Stalled(ctx context.Context, grace time.Duration, limit int) ([]uuid.UUID, error)
}

// TokenSource runs a Zoom call with a grant's token, refreshing once on 401/124 (grants.Tokens).
type TokenSource interface {
	Do(ctx context.Context, appID, grantID uuid.UUID, fn func(grants.AccessToken) error) error
}

// IdleGrants refreshes grants that have not been used for long (grants.Tokens).
type IdleGrants interface {
	RefreshIdle(ctx context.Context, cutoff time.Time, after *grants.IdleCursor, limit int) (grants.IdleBatch, error)
}

// ZoomMeetings is the part of the Zoom client the activities use.
type ZoomMeetings interface {
	CreateMeeting(ctx context.Context, token, userID string, req zoom.MeetingRequest) (zoom.Meeting, error)
	GetMeeting(ctx context.Context, token string, id int64) (zoom.Meeting, error)
	UpdateMeeting(ctx context.Context, token string, id int64, req zoom.MeetingRequest) error
	DeleteMeeting(ctx context.Context, token string, id int64, opts zoom.DeleteOptions) error
	ListMeetings(ctx context.Context, token, userID string, opts zoom.ListOptions) (zoom.MeetingList, error)
}

// Activities carries the activities' dependencies. Its exported methods are
// the activities (registered by NewWorker).
type Activities struct {
	Events   EventStore
	Meetings MeetingLog
	Tokens   TokenSource
	Grants   IdleGrants
	Zoom     ZoomMeetings
	Outbox   Outbox
	Bookings Bookings
	Webhooks Webhooks
	Temporal WorkflowClient
	// Handoff, when set, passes a created event to a handler waiting in this
	// process (see Handoff).
	Handoff *Handoff
	Now     func() time.Time
	Log     *slog.Logger
}

// The inputs of local activities. Unlike workflow inputs they are not
// recorded in histories (a local activity's result is), but they are
// this package's own all the same.

// CreateMeetingInput asks for the Zoom meeting of one operation.
type CreateMeetingInput struct {
	OpID      string // the workflow's id: one meeting per operation
	App       uuid.UUID
	ConfGrant uuid.UUID
	EventID   uuid.UUID
	Marker    string
	Request   zoom.MeetingRequest
}

// StoreEventInput is an event row to write, with the operation whose
// attempt log the write closes ("" for none) and the write's own id (an
// update's run id), by which a replayed write knows its row.
type StoreEventInput struct {
	Event   EventRecord
	OpID    string
	WriteID string
}

// LoadEventInput names an event.
type LoadEventInput struct {
	App, Grant, EventID uuid.UUID
}

// SyncMeetingInput changes an existing meeting.
type SyncMeetingInput struct {
	App       uuid.UUID
	ConfGrant uuid.UUID
	MeetingID int64
	Request   zoom.MeetingRequest
}

// RecordOrphanInput is a meeting we could not delete, and why.
type RecordOrphanInput struct {
	Meeting MeetingRef
	Reason  string
}

// RefreshIdleInput is one batch of the grant-health sweep.
type RefreshIdleInput struct {
	// Cutoff: grants not refreshed since are due. Zero on a run's first
	// batch: the activity takes now - IdleAfter and reports it back, so
	// every batch of a run uses the same cutoff.
	Cutoff    time.Time          `json:"cutoff"`
	IdleAfter time.Duration      `json:"idle_after"`
	After     *grants.IdleCursor `json:"after,omitempty"`
	Limit     int                `json:"limit"`
}

// RefreshIdleResult is what one batch did.
type RefreshIdleResult struct {
	Cutoff time.Time        `json:"cutoff"`
	Batch  grants.IdleBatch `json:"batch"`
}

// searchPages bounds the scan of the host's meetings for a lost create.
const searchPages = 10

// CreateMeeting creates the operation's meeting exactly once. Zoom has no
// idempotency key, so every attempt is logged before Zoom is called, and
// stays uncertain until an answer settles it; the meeting's agenda ends with
// the operation's reference. An attempt that follows an uncertain one (an
// answer lost after Zoom acted, a worker that died mid-call, a replayed
// workflow) first looks for a meeting with that reference among the host's
// meetings and adopts it.
func (a *Activities) CreateMeeting(ctx context.Context, in CreateMeetingInput) (MeetingInfo, error) {
	// The attempt is logged while the token is read (two round trips side by
	// side); Zoom is called only once the log is written.
	type opened struct {
		log events.AttemptLog
		err error
	}
	logged := make(chan opened, 1)
	go func() {
		l, err := a.Meetings.OpenAttempt(ctx, events.Attempt{OpID: in.OpID, ApplicationID: in.App, EventID: in.EventID,
			ConfGrantID: in.ConfGrant, Marker: in.Marker})
		logged <- opened{l, err}
	}()
	waitLog := sync.OnceValue(func() opened { return <-logged })
	var m zoom.Meeting
	settled := true // false when the create was sent and its outcome is unknown
	err := a.Tokens.Do(ctx, in.App, in.ConfGrant, func(tok grants.AccessToken) error {
		l := waitLog()
		if l.err != nil {
			return l.err
		}
		if l.log.Done && l.log.MeetingID != nil {
			// Replayed after its row was written: that meeting, whatever
			// has become of it since (its event may be gone, and with it
			// the meeting). Never a second one.
			got, err := a.Zoom.GetMeeting(ctx, tok.Token, *l.log.MeetingID)
			if err != nil {
				got = zoom.Meeting{ID: *l.log.MeetingID}
			}
			m = got
			return nil
		}
		if l.log.MeetingID != nil {
			got, err := a.Zoom.GetMeeting(ctx, tok.Token, *l.log.MeetingID)
			if err == nil {
				m = got
				return nil
			}
			if !zoom.IsNotFound(err) {
				return err
			}
		}
		if l.log.PrevUncertain {
			found, ok, err := a.findByMarker(ctx, tok, in.Marker)
			if err != nil {
				settled = false
				if zoom.ClassOf(err) == zoom.Terminal {
					return apperr.Wrapf(err, apperr.Forbidden, "a previous attempt may have created the meeting, and it cannot be looked for "+
						"(%v): add meeting:read:list_meetings (or classic meeting:read) to the Zoom app, or check the host's meetings", err)
				}
				return err
			}
			if ok {
				a.Log.InfoContext(ctx, "adopted a meeting whose create answer was lost", "op", in.OpID, "meeting_id", found.ID)
				m = found
				return nil
			}
		}
		created, err := a.Zoom.CreateMeeting(ctx, tok.Token, tok.UserRef(), in.Request)
		var ze *zoom.Error
		if errors.As(err, &ze) && ze.MaybeCommitted {
			settled = false
		}
		m = created
		return err
	})
	if l := waitLog(); l.err != nil {
		return MeetingInfo{}, storeError(l.err)
	}
	if err != nil {
		if settled {
			// Zoom answered: the next attempt may create without looking.
			// Should this write fail, the attempt merely stays uncertain
			// and the next one looks first: safe, so it is not the error
			// this activity reports.
			if serr := a.Meetings.SettleAttempt(ctx, in.OpID); serr != nil {
				a.Log.WarnContext(ctx, "could not mark a create attempt settled; the next attempt will look for the meeting first",
					"op", in.OpID, "err", serr)
			}
		}
		return MeetingInfo{}, zoomOutcome(err)
	}
	// The attempt stays uncertain until the event row that records the
	// meeting is written (the store closes it in the same statement): if
	// this worker dies before that, the replay finds the meeting by its
	// reference instead of making another.
	return infoOf(m), nil
}

func infoOf(m zoom.Meeting) MeetingInfo {
	if m.JoinURL == "" {
		return MeetingInfo{ID: m.ID}
	}
	return MeetingInfo{ID: m.ID, Details: *events.DetailsFromMeeting(m)}
}

// findByMarker looks for the meeting whose agenda carries our reference.
func (a *Activities) findByMarker(ctx context.Context, tok grants.AccessToken, marker string) (zoom.Meeting, bool, error) {
	token := tok.Token
	opts := zoom.ListOptions{Type: "scheduled", PageSize: 300}
	for range searchPages {
		page, err := a.Zoom.ListMeetings(ctx, token, tok.UserRef(), opts)
		if err != nil {
			return zoom.Meeting{}, false, err
		}
		for _, m := range page.Meetings {
			if events.HasRef(m.Agenda, marker) {
				full, err := a.Zoom.GetMeeting(ctx, token, m.ID)
				if err != nil {
					return m, true, nil // the list entry has the join URL at least
				}
				return full, true, nil
			}
		}
		if page.NextPageToken == "" {
			break
		}
		opts.NextPageToken = page.NextPageToken
	}
	return zoom.Meeting{}, false, nil
}

// InsertEvent stores a new event and closes its operation's attempt log.
// Once it has succeeded the create workflow's result is final, so the event
// is handed to a handler waiting in this process, if there is one.
func (a *Activities) InsertEvent(ctx context.Context, in StoreEventInput) (EventRecord, error) {
	ev := in.Event.Event()
	out, err := a.Events.InsertEvent(ctx, ev, in.OpID)
	if apperr.IsKind(err, apperr.Conflict) {
		// A replayed insert: the row is ours already.
		if got, gerr := a.Events.LoadEvent(ctx, ev.ApplicationID, ev.GrantID, ev.ID); gerr == nil {
			return RecordOf(got), nil
		}
	}
	if err != nil {
		return EventRecord{}, storeError(err)
	}
	a.Handoff.Deliver(activity.GetInfo(ctx).WorkflowExecution.ID, out)
	return RecordOf(out), nil
}

// ReleaseBookingInput names a booking to release and why.
type ReleaseBookingInput struct {
	ID     uuid.UUID
	Reason string
}

// ReleaseBooking frees a booking's time: its event could not be made.
func (a *Activities) ReleaseBooking(ctx context.Context, in ReleaseBookingInput) error {
	reason := in.Reason
	if len(reason) > 500 {
		reason = reason[:500]
	}
	return storeError(a.Bookings.Release(ctx, in.ID, "the booking's event could not be made: "+strings.ToValidUTF8(reason, "")))
}

// LoadEvent reads the event an update applies to.
func (a *Activities) LoadEvent(ctx context.Context, in LoadEventInput) (EventRecord, error) {
	ev, err := a.Events.LoadEvent(ctx, in.App, in.Grant, in.EventID)
	if err != nil {
		return EventRecord{}, storeError(err)
	}
	return RecordOf(ev), nil
}

// ReplaceEvent writes an updated event (optimistic on its version) and
// closes the attempt log of a meeting the update created.
func (a *Activities) ReplaceEvent(ctx context.Context, in StoreEventInput) (EventRecord, error) {
	out, err := a.Events.ReplaceEvent(ctx, in.Event.Event(), in.OpID, in.WriteID)
	if errors.Is(err, events.ErrVersion) {
		return EventRecord{}, toTemporal(apperr.Conflictf("event %s changed while it was being updated; try again", in.Event.ID))
	}
	if err != nil {
		return EventRecord{}, storeError(err)
	}
	return RecordOf(out), nil
}

// SyncMeeting PATCHes a meeting (Zoom answers 204) and GETs its new state.
func (a *Activities) SyncMeeting(ctx context.Context, in SyncMeetingInput) (MeetingInfo, error) {
	var m zoom.Meeting
	err := a.Tokens.Do(ctx, in.App, in.ConfGrant, func(tok grants.AccessToken) error {
		if err := a.Zoom.UpdateMeeting(ctx, tok.Token, in.MeetingID, in.Request); err != nil {
			return err
		}
		got, err := a.Zoom.GetMeeting(ctx, tok.Token, in.MeetingID)
		if err != nil {
			// The PATCH took effect; the event keeps the details it shows.
			a.Log.InfoContext(ctx, "meeting updated; reading it back failed", "meeting_id", in.MeetingID, "err", err)
			m = zoom.Meeting{ID: in.MeetingID}
			return nil
		}
		m = got
		return nil
	})
	if err != nil {
		return MeetingInfo{}, zoomOutcome(err)
	}
	return infoOf(m), nil
}

// RemoveMeeting deletes a meeting. Not found is success (it is gone). A
// meeting that cannot be deleted for good (grant invalid, meeting in
// progress, no permission) is recorded as an orphan and the call succeeds:
// retrying would not help.
func (a *Activities) RemoveMeeting(ctx context.Context, in MeetingRef) error {
	err := a.Tokens.Do(ctx, in.App, in.ConfGrant, func(tok grants.AccessToken) error {
		return a.Zoom.DeleteMeeting(ctx, tok.Token, in.MeetingID, zoom.DeleteOptions{CancelMeetingReminder: true})
	})
	if err == nil || zoom.IsNotFound(err) {
		telemetry.WorkflowOutcomes.WithLabelValues("remove_meeting", "deleted").Inc()
		return nil
	}
	if outcome := zoomOutcome(err); !isDomain(outcome) {
		return outcome // Zoom unavailable, or our database: retried
	}
	reason := err.Error()
	var ze *zoom.Error
	if errors.As(err, &ze) && ze.Code == zoom.CodeMeetingStarted {
		reason = "the meeting is in progress"
	}
	return a.RecordOrphan(ctx, RecordOrphanInput{Meeting: in, Reason: reason})
}

// RecordOrphan records a meeting we could not delete.
func (a *Activities) RecordOrphan(ctx context.Context, in RecordOrphanInput) error {
	o := events.Orphan{ApplicationID: in.Meeting.App, ConfGrantID: in.Meeting.ConfGrant, MeetingID: in.Meeting.MeetingID, Reason: in.Reason}
	if in.Meeting.EventID != uuid.Nil {
		id := in.Meeting.EventID
		o.EventID = &id
	}
	if err := a.Meetings.RecordOrphan(ctx, o); err != nil {
		return storeError(err)
	}
	countOrphan()
	a.Log.WarnContext(ctx, "zoom meeting orphaned", "meeting_id", in.Meeting.MeetingID, "conf_grant_id", in.Meeting.ConfGrant, "reason", in.Reason)
	return nil
}

// RefreshIdleGrants runs one batch of the grant-health sweep.
func (a *Activities) RefreshIdleGrants(ctx context.Context, in RefreshIdleInput) (RefreshIdleResult, error) {
	cutoff := in.Cutoff
	if cutoff.IsZero() {
		cutoff = a.Now().Add(-in.IdleAfter)
	}
	b, err := a.Grants.RefreshIdle(ctx, cutoff, in.After, in.Limit)
	if err != nil {
		return RefreshIdleResult{}, err
	}
	if b.Refreshed+b.Invalidated+b.Failed > 0 {
		a.Log.InfoContext(ctx, "idle grants refreshed", "refreshed", b.Refreshed, "invalidated", b.Invalidated, "failed", b.Failed)
	}
	return RefreshIdleResult{Cutoff: cutoff, Batch: b}, nil
}

// countOrphan counts a meeting recorded as an orphan, wherever it was recorded.
func countOrphan() {
	telemetry.OrphanedMeetings.Inc()
	telemetry.WorkflowOutcomes.WithLabelValues("remove_meeting", "orphaned").Inc()
}
