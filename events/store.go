package events

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/confhub/confhub/internal/apperr"
	"github.com/confhub/confhub/internal/database"
	"github.com/confhub/confhub/internal/outbox"
	"github.com/confhub/confhub/internal/webhooks"
)

// Store keeps calendars, events and the records of their Zoom meetings
// (conference attempts, orphans, idempotency keys) in PostgreSQL, scoped by
// application. It is the only code that touches these tables.
type Store struct {
	pool   *pgxpool.Pool
	outbox outbox.Writer
}

// NewStore returns a Store. Deleting an event records its meeting's deletion
// through ob, in the same transaction.
func NewStore(pool *pgxpool.Pool, ob outbox.Writer) *Store { return &Store{pool: pool, outbox: ob} }

// ErrDeleted means the event was deleted: it is not written again.
var ErrDeleted = apperr.NotFoundf("the event was deleted while it was being created")

// ErrVersion means the event changed since it was read.
var ErrVersion = errors.New("events: the event changed concurrently")

func errNotFound(what string) error { return apperr.NotFoundf("%s not found", what) }

// FindCalendar resolves a calendar of the grant by id, or its primary one
// for "primary". The grant itself is checked by the caller (grants owns it).
func (s *Store) FindCalendar(ctx context.Context, appID, grantID uuid.UUID, calendarID string) (uuid.UUID, error) {
	var cid *uuid.UUID
	if calendarID != "primary" {
		c, err := uuid.Parse(calendarID)
		if err != nil {
			return uuid.Nil, errNotFound("calendar")
		}
		cid = &c
	}
	var id uuid.UUID
	err := s.pool.QueryRow(ctx, `SELECT id FROM calendars WHERE application_id = $1 AND grant_id = $2
		AND (($3::uuid IS NULL AND is_primary) OR id = $3)`, appID, grantID, cid).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, errNotFound("calendar")
	}
	return id, err
}

// EnsurePrimaryCalendar gives a grant its primary calendar, named name, if it
// has none yet. It runs in the caller's transaction, so a new
// virtual-calendar grant and its calendar are written together.
func (s *Store) EnsurePrimaryCalendar(ctx context.Context, tx pgx.Tx, appID, grantID uuid.UUID, name string) error {
	_, err := tx.Exec(ctx, `INSERT INTO calendars (id, application_id, grant_id, name, is_primary)
		SELECT $1, $2, $3, $4, true WHERE NOT EXISTS (SELECT 1 FROM calendars WHERE grant_id = $3 AND is_primary)`,
		uuid.New(), appID, grantID, name)
	return err
}

const calendarColumns = `id, grant_id, name, COALESCE(description, ''), COALESCE(timezone, ''), is_primary, read_only, created_at, updated_at`

func scanCalendar(r pgx.CollectableRow) (Calendar, error) {
	var c Calendar
	return c, r.Scan(&c.ID, &c.GrantID, &c.Name, &c.Description, &c.Timezone, &c.IsPrimary, &c.ReadOnly, &c.CreatedAt, &c.UpdatedAt)
}

func validCalendar(in CalendarInput, creating bool) error {
	if creating && (in.Name == nil || strings.TrimSpace(*in.Name) == "") {
		return apperr.InvalidField("name", "is required")
	}
	if in.Name != nil {
		if strings.TrimSpace(*in.Name) == "" {
			return apperr.InvalidField("name", "must not be empty")
		}
		if err := ValidText("name", *in.Name, 256); err != nil {
			return err
		}
	}
	if in.Description != nil {
		if err := ValidText("description", *in.Description, 4096); err != nil {
			return err
		}
	}
	if in.Timezone != nil && *in.Timezone != "" && !ValidTZ(*in.Timezone) {
		return apperr.InvalidField("timezone", "must be an IANA time zone such as Europe/Berlin")
	}
	return nil
}

// CreateCalendar adds a calendar; a grant's first calendar is its primary.
func (s *Store) CreateCalendar(ctx context.Context, appID, grantID uuid.UUID, in CalendarInput) (Calendar, error) {
	if err := validCalendar(in, true); err != nil {
		return Calendar{}, err
	}
	rows, err := s.pool.Query(ctx, `INSERT INTO calendars (id, application_id, grant_id, name, description, timezone, is_primary)
		VALUES ($1, $2, $3, $4, $5, $6, NOT EXISTS (SELECT 1 FROM calendars WHERE grant_id = $3 AND is_primary))
		RETURNING `+calendarColumns, uuid.New(), appID, grantID, *in.Name, in.Description, in.Timezone)
	if err != nil {
		return Calendar{}, err
	}
	return pgx.CollectExactlyOneRow(rows, scanCalendar)
}

// ListCalendars lists a grant's calendars, primary first.
func (s *Store) ListCalendars(ctx context.Context, appID, grantID uuid.UUID) ([]Calendar, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+calendarColumns+` FROM calendars WHERE application_id = $1 AND grant_id = $2
		ORDER BY is_primary DESC, created_at, id`, appID, grantID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanCalendar)
}

// GetCalendar returns a calendar by id, or the primary one for "primary".
func (s *Store) GetCalendar(ctx context.Context, appID, grantID uuid.UUID, id string) (Calendar, error) {
	var rows pgx.Rows
	var err error
	if id == "primary" {
		rows, err = s.pool.Query(ctx, `SELECT `+calendarColumns+` FROM calendars WHERE application_id = $1 AND grant_id = $2 AND is_primary`, appID, grantID)
	} else {
		cid, perr := uuid.Parse(id)
		if perr != nil {
			return Calendar{}, errNotFound("calendar")
		}
		rows, err = s.pool.Query(ctx, `SELECT `+calendarColumns+` FROM calendars WHERE application_id = $1 AND grant_id = $2 AND id = $3`, appID, grantID, cid)
	}
	if err != nil {
		return Calendar{}, err
	}
	c, err := pgx.CollectExactlyOneRow(rows, scanCalendar)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, errNotFound("calendar")
	}
	return c, err
}

// UpdateCalendar changes the fields present in in.
func (s *Store) UpdateCalendar(ctx context.Context, appID, grantID uuid.UUID, id string, in CalendarInput) (Calendar, error) {
	if err := validCalendar(in, false); err != nil {
		return Calendar{}, err
	}
	c, err := s.GetCalendar(ctx, appID, grantID, id)
	if err != nil {
		return Calendar{}, err
	}
	rows, err := s.pool.Query(ctx, `UPDATE calendars SET name = COALESCE($4, name), description = COALESCE($5, description),
		timezone = COALESCE($6, timezone), updated_at = now() WHERE application_id = $1 AND grant_id = $2 AND id = $3
		RETURNING `+calendarColumns, appID, grantID, c.ID, in.Name, in.Description, in.Timezone)
	if err != nil {
		return Calendar{}, err
	}
	return pgx.CollectExactlyOneRow(rows, scanCalendar)
}

// DeleteCalendar removes a calendar that is not the primary one, with its events.
func (s *Store) DeleteCalendar(ctx context.Context, appID, grantID uuid.UUID, id string) (Calendar, error) {
	c, err := s.GetCalendar(ctx, appID, grantID, id)
	if err != nil {
		return c, err
	}
	if c.IsPrimary {
		return c, apperr.Conflictf("the primary calendar cannot be deleted")
	}
	_, err = s.pool.Exec(ctx, `DELETE FROM calendars WHERE application_id = $1 AND grant_id = $2 AND id = $3`, appID, grantID, c.ID)
	return c, err
}

const eventColumns = `id, application_id, grant_id, calendar_id, title, description, location, busy, status, visibility,
	participants, when_json, starts_at, ends_at, metadata, conferencing, conf_grant_id, conf_meeting_id, version, created_at, updated_at`

func scanEvent(r pgx.CollectableRow) (Event, error) {
	var e Event
	var participants, when, metadata, conf []byte
	err := r.Scan(&e.ID, &e.ApplicationID, &e.GrantID, &e.CalendarID, &e.Title, &e.Description, &e.Location, &e.Busy, &e.Status,
		&e.Visibility, &participants, &when, &e.StartsAt, &e.EndsAt, &metadata, &conf, &e.ConfGrantID, &e.ConfMeetingID,
		&e.Version, &e.CreatedAt, &e.UpdatedAt)
	if err != nil {
		return e, err
	}
	_ = json.Unmarshal(participants, &e.Participants)
	_ = json.Unmarshal(when, &e.When)
	if metadata != nil {
		_ = json.Unmarshal(metadata, &e.Metadata)
	}
	if conf != nil {
		e.Conferencing = &Conferencing{}
		_ = json.Unmarshal(conf, e.Conferencing)
	}
	return e, nil
}

func eventArgs(e Event) []any {
	participants, _ := json.Marshal(e.Participants)
	when, _ := json.Marshal(e.When)
	var metadata, conf []byte
	if e.Metadata != nil {
		metadata, _ = json.Marshal(e.Metadata)
	}
	if e.Conferencing != nil {
		conf, _ = json.Marshal(e.Conferencing)
	}
	return []any{e.ID, e.ApplicationID, e.GrantID, e.CalendarID, e.Title, e.Description, e.Location, e.Busy, e.Status, e.Visibility,
		participants, when, e.StartsAt, e.EndsAt, metadata, conf, e.ConfGrantID, e.ConfMeetingID}
}

// InsertEvent stores a new event. With opID set (the operation that created
// its meeting) the same statement closes that operation's attempt log,
// recording the meeting: from then on the meeting is known by its event.
func (s *Store) InsertEvent(ctx context.Context, e Event, opID string) (Event, error) {
	// An event deleted already (a replayed create, after the delete) is not
	// written again.
	out, err := s.writeNotified(ctx, webhooks.EventCreated, `WITH closed AS (UPDATE conference_attempts SET state = 'done', uncertain = false,
		meeting_id = $18, updated_at = now() WHERE $19 <> '' AND id = $19) INSERT INTO events (id, application_id, grant_id, calendar_id, title, description, location,
		busy, status, visibility, participants, when_json, starts_at, ends_at, metadata, conferencing, conf_grant_id, conf_meeting_id)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18
		WHERE NOT EXISTS (SELECT 1 FROM event_tombstones WHERE id = $1) RETURNING `+eventColumns, append(eventArgs(e), opID)...)
	var pg *pgconn.PgError
	switch {
	case errors.As(err, &pg) && pg.Code == "23505":
		return Event{}, apperr.Conflictf("event %s exists already", e.ID)
	case errors.Is(err, pgx.ErrNoRows):
		return Event{}, ErrDeleted
	}
	return out, err
}

// writeNotified runs a statement that writes one event and returns its row,
// and records the notification of the change (typ) in the same
// transaction, in two round trips: the write opens the transaction, then,
// with the row known, the notification goes with the commit. No row is
// pgx.ErrNoRows (nothing written, nothing told).
func (s *Store) writeNotified(ctx context.Context, typ, sql string, args ...any) (Event, error) {
	var ev Event
	err := database.TwoTrips(ctx, s.pool, func(b *pgx.Batch) {
		b.Queue(sql, args...).Query(func(rows pgx.Rows) (err error) {
			ev, err = pgx.CollectExactlyOneRow(rows, scanEvent)
			return err
		})
	}, func(b *pgx.Batch) error {
		return webhooks.Queue(b, webhooks.Notification{ApplicationID: ev.ApplicationID, Type: typ, Object: Wire(ev)})
	})
	if err != nil {
		return Event{}, err
	}
	return ev, nil
}

// GetEvent returns one event of the grant.
func (s *Store) GetEvent(ctx context.Context, appID, grantID uuid.UUID, id string) (Event, error) {
	eid, err := uuid.Parse(id)
	if err != nil {
		return Event{}, errNotFound("event")
	}
	return s.LoadEvent(ctx, appID, grantID, eid)
}

// LoadEvent returns one event of the grant by its id.
func (s *Store) LoadEvent(ctx context.Context, appID, grantID, eid uuid.UUID) (Event, error) {
	return database.QueryOne(ctx, s.pool, scanEvent, errNotFound("event"), `SELECT `+eventColumns+` FROM events WHERE application_id = $1 AND grant_id = $2 AND id = $3`, appID, grantID, eid)
}

// ReplaceEvent writes e if its stored version is still e.Version, and, with
// opID set, closes that operation's attempt log in the same statement (the
// update made a new meeting, now recorded on the event). writeID names the
// write: run again after it succeeded (a workflow replayed from before the
// write was recorded), it returns the row it wrote instead of ErrVersion.
func (s *Store) ReplaceEvent(ctx context.Context, e Event, opID, writeID string) (Event, error) {
	args := append(eventArgs(e), e.Version, opID, writeID)
	out, err := s.writeNotified(ctx, webhooks.EventUpdated, `WITH closed AS (UPDATE conference_attempts SET state = 'done',
		uncertain = false, meeting_id = $18, updated_at = now() WHERE $20 <> '' AND id = $20)
		UPDATE events SET calendar_id = $4, title = $5, description = $6, location = $7, busy = $8,
		status = $9, visibility = $10, participants = $11, when_json = $12, starts_at = $13, ends_at = $14, metadata = $15,
		conferencing = $16, conf_grant_id = $17, conf_meeting_id = $18, version = version + 1, updated_at = now(),
		last_write = NULLIF($21, '')
		WHERE id = $1 AND application_id = $2 AND grant_id = $3 AND version = $19 RETURNING `+eventColumns, args...)
	if errors.Is(err, pgx.ErrNoRows) {
		err = ErrVersion
	}
	if errors.Is(err, ErrVersion) && writeID != "" {
		mine, merr := database.QueryOne(ctx, s.pool, scanEvent, ErrVersion, `SELECT `+eventColumns+` FROM events
			WHERE id = $1 AND application_id = $2 AND grant_id = $3 AND last_write = $4`, e.ID, e.ApplicationID, e.GrantID, writeID)
		if merr == nil {
			return mine, nil
		}
	}
	return out, err
}

// KindDeleteMeeting is the outbox entry of a Zoom meeting whose event is
// gone; its payload is a MeetingDeletion.
const KindDeleteMeeting = "meeting.delete"

// MeetingDeletion names a meeting to delete and the event it belonged to.
type MeetingDeletion struct {
	ApplicationID uuid.UUID `json:"application_id"`
	ConfGrantID   uuid.UUID `json:"conf_grant_id"`
	MeetingID     int64     `json:"meeting_id"`
	EventID       uuid.UUID `json:"event_id"`
}

// Removed is a deleted event and, when it had a Zoom meeting, the outbox
// entry (0 for none) that deletes the meeting.
type Removed struct {
	Event    Event
	Deletion int64
}

// DeleteEvent removes an event and, in the same transaction, records the
// deletion of its Zoom meeting in the outbox: whatever happens to this
// process next, the meeting is deleted or listed as an orphan.
func (s *Store) DeleteEvent(ctx context.Context, appID, grantID uuid.UUID, id string) (Removed, error) {
	eid, err := uuid.Parse(id)
	if err != nil {
		return Removed{}, errNotFound("event")
	}
	var r Removed
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		r, err = s.DeleteEventTx(ctx, tx, appID, grantID, eid)
		return err
	})
	return r, err
}

// DeleteEventTx is DeleteEvent in the caller's transaction: a cancelled
// booking and its event's removal are one change.
func (s *Store) DeleteEventTx(ctx context.Context, tx pgx.Tx, appID, grantID, eid uuid.UUID) (Removed, error) {
	var r Removed
	ev, err := database.QueryOne(ctx, tx, scanEvent, errNotFound("event"),
		`DELETE FROM events WHERE application_id = $1 AND grant_id = $2 AND id = $3 RETURNING `+eventColumns, appID, grantID, eid)
	if err != nil {
		return r, err
	}
	r.Event = ev
	if _, err := tx.Exec(ctx, `INSERT INTO event_tombstones (id, application_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
		ev.ID, appID); err != nil {
		return r, err
	}
	if err := webhooks.Record(ctx, tx, webhooks.Notification{ApplicationID: appID, Type: webhooks.EventDeleted,
		Object: DeletedJSON{ID: ev.ID.String(), GrantID: ev.GrantID.String(), CalendarID: ev.CalendarID.String(), Object: "event"}}); err != nil {
		return r, err
	}
	if ev.ConfMeetingID == nil || ev.ConfGrantID == nil {
		return r, nil
	}
	r.Deletion, err = s.outbox.Add(ctx, tx, appID, KindDeleteMeeting, MeetingDeletion{ApplicationID: appID,
		ConfGrantID: *ev.ConfGrantID, MeetingID: *ev.ConfMeetingID, EventID: ev.ID})
	return r, err
}

// ListFilter selects events for GET /events.
type ListFilter struct {
	CalendarID uuid.UUID
	Start, End *time.Time // overlapping [Start, End)
	Limit      int
	PageToken  string
}

type cursor struct {
	StartsAt time.Time `json:"s"`
	ID       uuid.UUID `json:"i"`
}

// during is an event's time as a range, [starts_at, ends_at): the expression
// of the GiST index events_calendar_during (migration 00007), so a query must
// spell it exactly so to use that index. A zero-length event's range is
// empty: it contains no instant, so only the starts_at branch finds it.
const during = `tstzrange(starts_at, ends_at)`

// listQuery builds the list's statement for the filters present (a
// statement per shape, so no "$n IS NULL OR" defeats an index). An event
// overlaps [Start, End) when it starts in the window, or when it started
// before Start and is still running at Start. The first set is a range of
// events_calendar_time, read in page order; the second is a point lookup
// in the GiST index, computed on its own (MATERIALIZED) so the planner
// cannot trade it for a walk through every earlier event in page order.
func listQuery(appID, grantID uuid.UUID, f ListFilter, after *cursor) (string, []any) {
	args := []any{appID, grantID, f.CalendarID}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	cond := `application_id = $1 AND grant_id = $2 AND calendar_id = $3`
	if after != nil {
		cond += fmt.Sprintf(` AND (starts_at, id) > (%s::timestamptz, %s::uuid)`, arg(after.StartsAt), arg(after.ID))
	}
	if f.End != nil {
		cond += ` AND starts_at < ` + arg(*f.End) + `::timestamptz`
	}
	limit := arg(f.Limit + 1)
	if f.Start == nil {
		return `SELECT ` + eventColumns + ` FROM events WHERE ` + cond + ` ORDER BY starts_at, id LIMIT ` + limit, args
	}
	start := arg(*f.Start) + `::timestamptz`
	return `WITH spanning AS MATERIALIZED (SELECT ` + eventColumns + ` FROM events WHERE ` + cond + `
			AND ` + during + ` @> ` + start + ` AND starts_at < ` + start + `)
		SELECT ` + eventColumns + ` FROM (
			(SELECT ` + eventColumns + ` FROM events WHERE ` + cond + ` AND starts_at >= ` + start + ` ORDER BY starts_at, id LIMIT ` + limit + `)
			UNION ALL SELECT ` + eventColumns + ` FROM spanning) e
		ORDER BY starts_at, id LIMIT ` + limit, args
}

// ListEvents returns a page ordered by start time and the next page's token.
func (s *Store) ListEvents(ctx context.Context, appID, grantID uuid.UUID, f ListFilter) ([]Event, string, error) {
	var after *cursor
	if f.PageToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(f.PageToken)
		var c cursor
		if err != nil || json.Unmarshal(b, &c) != nil || c.ID == uuid.Nil {
			return nil, "", apperr.InvalidField("page_token", "is not a token this API issued")
		}
		after = &c
	}
	sql, args := listQuery(appID, grantID, f, after)
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, "", err
	}
	list, err := pgx.CollectRows(rows, scanEvent)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(list) > f.Limit {
		list = list[:f.Limit]
		last := list[len(list)-1]
		b, _ := json.Marshal(cursor{StartsAt: last.StartsAt, ID: last.ID})
		next = base64.RawURLEncoding.EncodeToString(b)
	}
	return list, next, nil
}
