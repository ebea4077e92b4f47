package workflows

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/activity"

	"github.com/confhub/confhub/connectors/zoom"
	"github.com/confhub/confhub/events"
	"github.com/confhub/confhub/grants"
	"github.com/confhub/confhub/internal/apperr"
	"github.com/confhub/confhub/internal/telemetry"
)

// ZoomMeetings is the part of the Zoom client the activities use.
type ZoomMeetings interface {
	CreateMeeting(ctx context.Context, token, userID string, req zoom.MeetingRequest) (zoom.Meeting, error)
	GetMeeting(ctx context.Context, token string, id int64) (zoom.Meeting, error)
	UpdateMeeting(ctx context.Context, token string, id int64, req zoom.MeetingRequest) error
	DeleteMeeting(ctx context.Context, token string, id int64, opts zoom.DeleteOptions) error
	ListMeetings(ctx context.Context, token, userID string, opts zoom.ListOptions) (zoom.MeetingList, error)
}

// TokenSource runs a Zoom call with a grant's token, refreshing once on 401/124.
type TokenSource interface {
	Do(ctx context.Context, appID, grantID uuid.UUID, fn func(grants.AccessToken) error) error
}

// Activities carries the activities' dependencies.
type Activities struct {
	Pool    *pgxpool.Pool
	Events  *events.Store
	Tokens  TokenSource
	Zoom    ZoomMeetings
	Log     *slog.Logger
	Results *Results // optional: same-process handoff of created events
}

// CreateMeetingInput asks for the Zoom meeting of one operation.
type CreateMeetingInput struct {
	OpID      string // the workflow's id: one meeting per operation
	App       uuid.UUID
	ConfGrant uuid.UUID
	EventID   uuid.UUID
	Marker    string
	Request   zoom.MeetingRequest
}

// searchPages bounds the scan of the host's meetings for a lost create.
const searchPages = 10

// CreateMeeting creates the operation's meeting exactly once. Zoom has no
// idempotency key, so every attempt is logged in conference_attempts before
// Zoom is called, and marked uncertain until an answer settles it; the
// meeting's agenda ends with the operation's reference. An attempt that
// follows an uncertain one (an answer lost after Zoom acted, a worker that
// died mid-call, a replayed workflow) first looks for a meeting with that
// reference among the host's meetings and adopts it.
func (a *Activities) CreateMeeting(ctx context.Context, in CreateMeetingInput) (zoom.Meeting, error) {
	// The attempt is logged while the token is read (two round trips side by
	// side); Zoom is called only once the log is written.
	var prevUncertain bool
	var recorded *int64
	logDone := make(chan error, 1)
	go func() {
		logDone <- a.Pool.QueryRow(ctx, `WITH prev AS (SELECT uncertain FROM conference_attempts WHERE id = $1)
		INSERT INTO conference_attempts (id, application_id, event_id, conf_grant_id, marker, attempts, uncertain)
		VALUES ($1, $2, $3, $4, $5, 1, true) ON CONFLICT (id) DO UPDATE SET attempts = conference_attempts.attempts + 1,
		uncertain = true, updated_at = now()
		RETURNING COALESCE((SELECT uncertain FROM prev), false), meeting_id`,
			in.OpID, in.App, in.EventID, in.ConfGrant, in.Marker).Scan(&prevUncertain, &recorded)
	}()
	var logErr error
	logged := sync.OnceFunc(func() { logErr = <-logDone })
	defer logged()
	var m zoom.Meeting
	settled := true // false when the create was sent and its outcome is unknown
	err := a.Tokens.Do(ctx, in.App, in.ConfGrant, func(tok grants.AccessToken) error {
		if logged(); logErr != nil {
			return logErr
		}
		if recorded != nil {
			got, err := a.Zoom.GetMeeting(ctx, tok.Token, *recorded)
			if err == nil {
				m = got
				return nil
			}
			if !zoom.IsNotFound(err) {
				return err
			}
		}
		if prevUncertain {
			found, ok, err := a.findByMarker(ctx, tok.Token, in.Marker)
			if err != nil {
				if zoom.ClassOf(err) == zoom.Terminal {
					settled = false
					return apperr.Wrapf(err, apperr.Forbidden, "a previous attempt may have created the meeting, and it cannot be looked for "+
						"(%v): add meeting:read:list_meetings (or classic meeting:read) to the Zoom app, or check the host's meetings", err)
				}
				settled = false
				return err
			}
			if ok {
				a.Log.Info("adopted a meeting whose create answer was lost", "op", in.OpID, "meeting_id", found.ID)
				m = found
				return nil
			}
		}
		created, err := a.Zoom.CreateMeeting(ctx, tok.Token, "me", in.Request)
		var ze *zoom.Error
		if errors.As(err, &ze) && ze.MaybeCommitted {
			settled = false
		}
		m = created
		return err
	})
	if logged(); logErr != nil {
		return zoom.Meeting{}, logErr
	}
	if err != nil {
		if settled {
			_, _ = a.Pool.Exec(ctx, `UPDATE conference_attempts SET uncertain = false, updated_at = now() WHERE id = $1`, in.OpID)
		}
		return zoom.Meeting{}, classify(err)
	}
	// The attempt stays uncertain until the event row that records the
	// meeting is written (InsertEvent closes it in the same statement): if
	// this worker dies before that, the replay finds the meeting by its
	// reference instead of making another.
	return m, nil
}

// findByMarker looks for the meeting whose agenda carries our reference.
func (a *Activities) findByMarker(ctx context.Context, token, marker string) (zoom.Meeting, bool, error) {
	opts := zoom.ListOptions{Type: "scheduled", PageSize: 300}
	for range searchPages {
		page, err := a.Zoom.ListMeetings(ctx, token, "me", opts)
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
func (a *Activities) InsertEvent(ctx context.Context, ev events.Event, opID string) (events.Event, error) {
	out, err := a.Events.InsertEventClosing(ctx, ev, opID)
	if err == nil {
		// The create workflow ends with this row: its result is final.
		a.Results.publish(activity.GetInfo(ctx).WorkflowExecution.ID, out)
	}
	if err != nil {
		if apperr.IsKind(err, apperr.Conflict) {
			// A replayed insert: the row is ours already.
			if got, gerr := a.Events.GetEvent(ctx, ev.ApplicationID, ev.GrantID, ev.ID.String()); gerr == nil {
				return got, nil
			}
		}
		return events.Event{}, err
	}
	return out, nil
}

// ReplaceEvent writes an updated event (optimistic on its version).
func (a *Activities) ReplaceEvent(ctx context.Context, ev events.Event, opID string) (events.Event, error) {
	out, err := a.Events.ReplaceEvent(ctx, ev)
	if errors.Is(err, events.ErrVersion) {
		return events.Event{}, toTemporal(apperr.Conflictf("event %s changed while it was being updated; try again", ev.ID))
	}
	if err != nil {
		return events.Event{}, err
	}
	if opID != "" {
		_, _ = a.Pool.Exec(ctx, `UPDATE conference_attempts SET state = 'done', updated_at = now() WHERE id = $1`, opID)
	}
	return out, nil
}

// LoadEvent reads the event an update applies to.
func (a *Activities) LoadEvent(ctx context.Context, app, grant, id uuid.UUID) (events.Event, error) {
	ev, err := a.Events.GetEvent(ctx, app, grant, id.String())
	return ev, toTemporal(err)
}

// SyncMeetingInput changes an existing meeting.
type SyncMeetingInput struct {
	App       uuid.UUID
	ConfGrant uuid.UUID
	MeetingID int64
	Request   zoom.MeetingRequest
}

// SyncMeeting PATCHes a meeting (Zoom answers 204) and GETs its new state.
func (a *Activities) SyncMeeting(ctx context.Context, in SyncMeetingInput) (zoom.Meeting, error) {
	var m zoom.Meeting
	err := a.Tokens.Do(ctx, in.App, in.ConfGrant, func(tok grants.AccessToken) error {
		if err := a.Zoom.UpdateMeeting(ctx, tok.Token, in.MeetingID, in.Request); err != nil {
			return err
		}
		got, err := a.Zoom.GetMeeting(ctx, tok.Token, in.MeetingID)
		if err != nil {
			// The PATCH took effect; what we show can come from the request.
			m = zoom.Meeting{ID: in.MeetingID}
			return nil
		}
		m = got
		return nil
	})
	return m, classify(err)
}

// RemoveMeetingInput names a meeting to delete.
type RemoveMeetingInput struct {
	App       uuid.UUID
	ConfGrant uuid.UUID
	MeetingID int64
	EventID   uuid.UUID
}

// RemoveMeeting deletes a meeting. Not found is success (it is gone). A
// meeting that cannot be deleted for good (grant invalid, meeting in
// progress, no permission) is recorded as an orphan and the call succeeds:
// retrying would not help.
func (a *Activities) RemoveMeeting(ctx context.Context, in RemoveMeetingInput) error {
	err := a.Tokens.Do(ctx, in.App, in.ConfGrant, func(tok grants.AccessToken) error {
		return a.Zoom.DeleteMeeting(ctx, tok.Token, in.MeetingID, zoom.DeleteOptions{CancelMeetingReminder: true})
	})
	switch {
	case err == nil, zoom.IsNotFound(err):
		telemetry.WorkflowOutcomes.WithLabelValues("remove_meeting", "deleted").Inc()
		return nil
	case zoom.ClassOf(err) == zoom.Retryable:
		return err
	case isTransientDomain(err):
		return err
	}
	reason := err.Error()
	var ze *zoom.Error
	if errors.As(err, &ze) && ze.Code == zoom.CodeMeetingStarted {
		reason = "the meeting is in progress"
	}
	return a.recordOrphan(ctx, in, reason)
}

func isTransientDomain(err error) bool {
	e, ok := apperr.As(err)
	return ok && (e.Kind == apperr.Provider || e.Kind == apperr.ProviderTimeout)
}

// RecordOrphan records a meeting we could not delete.
func (a *Activities) RecordOrphan(ctx context.Context, in RemoveMeetingInput, reason string) error {
	return a.recordOrphan(ctx, in, reason)
}

func (a *Activities) recordOrphan(ctx context.Context, in RemoveMeetingInput, reason string) error {
	var event *uuid.UUID
	if in.EventID != uuid.Nil {
		event = &in.EventID
	}
	_, err := a.Pool.Exec(ctx, `INSERT INTO conference_orphans (id, application_id, conf_grant_id, meeting_id, event_id, reason)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (conf_grant_id, meeting_id) DO UPDATE SET reason = EXCLUDED.reason`,
		uuid.New(), in.App, in.ConfGrant, in.MeetingID, event, reason)
	if err == nil {
		telemetry.OrphanedMeetings.Inc()
		telemetry.WorkflowOutcomes.WithLabelValues("remove_meeting", "orphaned").Inc()
		a.Log.WarnContext(ctx, "zoom meeting orphaned", "meeting_id", in.MeetingID, "conf_grant_id", in.ConfGrant, "reason", reason)
	}
	return err
}

// classify turns an error of a Zoom call into what the workflow acts on:
// retryable ones are returned as they are (the retry policy retries them);
// final ones become non-retryable domain errors.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := apperr.As(err); ok {
		if isTransientDomain(err) {
			return err
		}
		return toTemporal(err)
	}
	switch zoom.ClassOf(err) {
	case zoom.Retryable:
		return err
	}
	var ze *zoom.Error
	if errors.As(err, &ze) {
		return toTemporal(grants.ProviderError(err))
	}
	return fmt.Errorf("%w", err)
}
