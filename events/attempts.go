package events

import (
	"context"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/confhub/confhub/internal/webhooks"
)

// Attempt is one operation's (one workflow's) intent to create a Zoom meeting
// for an event. It is logged before Zoom is called, so a meeting can never
// exist without us knowing (docs/decisions.md, "No duplicate meetings").
type Attempt struct {
	OpID          string
	ApplicationID uuid.UUID
	EventID       uuid.UUID
	ConfGrantID   uuid.UUID
	Marker        string // the reference written into the meeting's agenda
}

// AttemptLog is what the log said when an attempt was opened.
type AttemptLog struct {
	// PrevUncertain: an earlier attempt of the same operation was sent and
	// never answered (or its worker died): the meeting may exist already.
	PrevUncertain bool
	// MeetingID: a meeting an earlier attempt recorded, if any.
	MeetingID *int64
	// Done: the operation's event row recorded MeetingID already; the
	// attempt was not reopened.
	Done bool
}

// OpenAttempt logs an attempt as uncertain (until SettleAttempt or the
// event row closes it) and reports what earlier attempts left.
func (s *Store) OpenAttempt(ctx context.Context, a Attempt) (AttemptLog, error) {
	var l AttemptLog
	// An operation run again after the sweeper handed its meeting to
	// deletion (a create retried with its Idempotency-Key after a failure)
	// starts afresh: that meeting is not to be adopted.
	// An operation whose event row recorded its meeting (done) is not
	// reopened: it is being replayed, and its meeting is that one.
	err := s.pool.QueryRow(ctx, `WITH prev AS (SELECT uncertain, state, meeting_id FROM conference_attempts WHERE id = $1),
		opened AS (INSERT INTO conference_attempts (id, application_id, event_id, conf_grant_id, marker, attempts, uncertain)
		VALUES ($1, $2, $3, $4, $5, 1, true) ON CONFLICT (id) DO UPDATE SET attempts = conference_attempts.attempts + 1,
		uncertain = true, updated_at = now(), state = 'pending',
		meeting_id = CASE WHEN conference_attempts.state = 'compensated' THEN NULL ELSE conference_attempts.meeting_id END
		WHERE conference_attempts.state <> 'done' RETURNING meeting_id)
		SELECT COALESCE((SELECT uncertain FROM prev), false), COALESCE((SELECT state = 'done' FROM prev), false),
		CASE WHEN EXISTS (SELECT 1 FROM opened) THEN (SELECT meeting_id FROM opened) ELSE (SELECT meeting_id FROM prev) END`,
		a.OpID, a.ApplicationID, a.EventID, a.ConfGrantID, a.Marker).Scan(&l.PrevUncertain, &l.Done, &l.MeetingID)
	return l, err
}

// SettleAttempt records that an attempt's outcome is known (Zoom answered,
// with a failure): the next attempt may create without looking first.
func (s *Store) SettleAttempt(ctx context.Context, opID string) error {
	_, err := s.pool.Exec(ctx, `UPDATE conference_attempts SET uncertain = false, updated_at = now() WHERE id = $1`, opID)
	return err
}

// Orphan is a Zoom meeting we could not delete: its event is gone (or never
// was written) and Zoom refused or kept failing the deletion.
type Orphan struct {
	ApplicationID uuid.UUID
	ConfGrantID   uuid.UUID
	MeetingID     int64
	EventID       *uuid.UUID
	Reason        string
	CreatedAt     time.Time
}

// RecordOrphan records (or re-records, with the newest reason) a meeting we
// could not delete.
// The first time, conferencing.orphaned tells the application, in the same
// transaction.
func (s *Store) RecordOrphan(ctx context.Context, o Orphan) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var first bool
		var at time.Time
		err := tx.QueryRow(ctx, `INSERT INTO conference_orphans (id, application_id, conf_grant_id, meeting_id, event_id, reason)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (conf_grant_id, meeting_id) DO UPDATE SET reason = EXCLUDED.reason
			RETURNING xmax = 0, created_at`,
			uuid.New(), o.ApplicationID, o.ConfGrantID, o.MeetingID, o.EventID, o.Reason).Scan(&first, &at)
		if err != nil || !first {
			return err
		}
		obj := OrphanJSON{Object: "conferencing_orphan", ConfGrantID: o.ConfGrantID.String(), Provider: "Zoom Meeting",
			MeetingID: strconv.FormatInt(o.MeetingID, 10), Reason: o.Reason, CreatedAt: at.Unix()}
		if o.EventID != nil {
			obj.EventID = o.EventID.String()
		}
		return webhooks.Record(ctx, tx, webhooks.Notification{ApplicationID: o.ApplicationID,
			Type: webhooks.ConferencingOrphaned, Object: obj})
	})
}

// OrphanJSON is the object of conferencing.orphaned.
type OrphanJSON struct {
	Object      string `json:"object"`
	ConfGrantID string `json:"conf_grant_id"`
	Provider    string `json:"provider"`
	MeetingID   string `json:"meeting_id"`
	EventID     string `json:"event_id,omitempty"`
	Reason      string `json:"reason"`
	CreatedAt   int64  `json:"created_at"`
}

// ListOrphans lists the meetings of a conf grant we could not delete, oldest first.
func (s *Store) ListOrphans(ctx context.Context, appID, confGrantID uuid.UUID) ([]Orphan, error) {
	rows, err := s.pool.Query(ctx, `SELECT application_id, conf_grant_id, meeting_id, event_id, reason, created_at FROM conference_orphans
		WHERE application_id = $1 AND conf_grant_id = $2 ORDER BY created_at, meeting_id`, appID, confGrantID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Orphan, error) {
		var o Orphan
		return o, r.Scan(&o.ApplicationID, &o.ConfGrantID, &o.MeetingID, &o.EventID, &o.Reason, &o.CreatedAt)
	})
}

// OpenAttempt is a create attempt that no event row has closed and no answer
// has settled: its meeting may exist.
type OpenAttempt struct {
	Attempt
	UpdatedAt time.Time
}

// StaleAttempts returns up to limit open attempts untouched for at least
// idle (by the database's clock), oldest first.
func (s *Store) StaleAttempts(ctx context.Context, idle time.Duration, limit int) ([]OpenAttempt, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, application_id, event_id, conf_grant_id, marker, updated_at FROM conference_attempts
		WHERE state = 'pending' AND uncertain AND updated_at <= now() - make_interval(secs => $1)
		ORDER BY updated_at, id LIMIT $2`, idle.Seconds(), limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (OpenAttempt, error) {
		var a OpenAttempt
		return a, r.Scan(&a.OpID, &a.ApplicationID, &a.EventID, &a.ConfGrantID, &a.Marker, &a.UpdatedAt)
	})
}

// How an open attempt was settled after its workflow ended.
const (
	AttemptOnEvent     = "done"        // its meeting is on an event after all
	AttemptCompensated = "compensated" // its meeting was handed to deletion
	AttemptNoMeeting   = "settled"     // Zoom has no meeting with its reference
	AttemptUnresolved  = "unresolved"  // the grant no longer lets us look
)

// CloseAttempt records how an open attempt was settled; meetingID is the
// meeting found, if any. It reports false, changing nothing, if the attempt
// was touched since it was read (its operation runs again: a retried create).
func (s *Store) CloseAttempt(ctx context.Context, at OpenAttempt, state string, meetingID *int64) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE conference_attempts SET state = $2, uncertain = false, meeting_id = COALESCE($3, meeting_id),
		updated_at = now() WHERE id = $1 AND state = 'pending' AND updated_at = $4`, at.OpID, state, meetingID, at.UpdatedAt)
	return tag.RowsAffected() == 1, err
}

// CompensateAttempt closes an open attempt whose meeting is on no event and,
// in the same transaction, records the meeting's deletion in the outbox. It
// reports false, changing nothing, if the attempt was touched since it was
// read.
func (s *Store) CompensateAttempt(ctx context.Context, at OpenAttempt, meetingID int64) (bool, error) {
	closed := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE conference_attempts SET state = 'compensated', uncertain = false, meeting_id = $2,
			updated_at = now() WHERE id = $1 AND state = 'pending' AND updated_at = $3`, at.OpID, meetingID, at.UpdatedAt)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		closed = true
		_, err = s.outbox.Add(ctx, tx, at.ApplicationID, KindDeleteMeeting, MeetingDeletion{ApplicationID: at.ApplicationID,
			ConfGrantID: at.ConfGrantID, MeetingID: meetingID, EventID: at.EventID})
		return err
	})
	return closed && err == nil, err
}

// PostponeAttempt leaves an open attempt for a later sweep (Zoom could not
// be asked now, or its workflow still runs).
func (s *Store) PostponeAttempt(ctx context.Context, opID string) error {
	_, err := s.pool.Exec(ctx, `UPDATE conference_attempts SET updated_at = now() WHERE id = $1 AND state = 'pending'`, opID)
	return err
}

// MeetingOnEvent reports whether an event of the application carries the meeting.
func (s *Store) MeetingOnEvent(ctx context.Context, appID, confGrantID uuid.UUID, meetingID int64) (bool, error) {
	var on bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM events WHERE application_id = $1 AND conf_grant_id = $2
		AND conf_meeting_id = $3)`, appID, confGrantID, meetingID).Scan(&on)
	return on, err
}
