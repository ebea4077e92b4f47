package scheduler

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/confhub/confhub/events"
	"github.com/confhub/confhub/internal/apperr"
	"github.com/confhub/confhub/internal/database"
	"github.com/confhub/confhub/internal/outbox"
	"github.com/confhub/confhub/internal/webhooks"
)

// Store keeps configurations, sessions and bookings.
type Store struct {
	pool   *pgxpool.Pool
	outbox outbox.Writer
	// settle writes the entries that reconcile a moved booking with its
	// event: due only once the moving request is certainly over.
	settle outbox.Writer
}

// NewStore returns the scheduler's store. settleAfter is when a
// reschedule's reconciliation falls to the sweeper: longer than any
// request lives (0: DefaultSettleAfter).
func NewStore(pool *pgxpool.Pool, ob outbox.Writer, settleAfter time.Duration) *Store {
	if settleAfter <= 0 {
		settleAfter = DefaultSettleAfter
	}
	return &Store{pool: pool, outbox: ob, settle: outbox.Writer{Grace: settleAfter}}
}

// DefaultSettleAfter outlasts a reschedule request: its workflow start (10 s)
// and its wait (30 s).
const DefaultSettleAfter = time.Minute

func notFound(what string) error { return apperr.NotFoundf("%s not found", what) }

var errSlugTaken = &apperr.Error{Kind: apperr.Conflict, Field: "slug", Message: "is used by another configuration of this application"}

const configColumns = `id, application_id, grant_id, slug, requires_session_auth, body, calendar_grants, created_at, updated_at`

func scanConfig(r pgx.CollectableRow) (Configuration, error) {
	var c Configuration
	var body, grants []byte
	if err := r.Scan(&c.ID, &c.ApplicationID, &c.GrantID, &c.Slug, &c.RequiresSessionAuth, &body, &grants, &c.CreatedAt, &c.UpdatedAt); err != nil {
		return c, err
	}
	if err := json.Unmarshal(grants, &c.CalendarGrants); err != nil {
		return c, err
	}
	return c, json.Unmarshal(body, &c.Body)
}

func slugConflict(err error) error {
	var pg *pgconn.PgError
	if errors.As(err, &pg) && pg.Code == "23505" {
		return errSlugTaken
	}
	return err
}

// CreateConfiguration stores a new configuration.
func (s *Store) CreateConfiguration(ctx context.Context, c Configuration) (Configuration, error) {
	body, _ := json.Marshal(c.Body)
	grants, _ := json.Marshal(c.CalendarGrants)
	out, err := database.QueryOne(ctx, s.pool, scanConfig, nil, `INSERT INTO scheduling_configurations
		(id, application_id, grant_id, slug, requires_session_auth, body, calendar_grants) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING `+configColumns,
		c.ID, c.ApplicationID, c.GrantID, c.Slug, c.RequiresSessionAuth, body, grants)
	return out, slugConflict(err)
}

// UpdateConfiguration replaces a stored configuration.
func (s *Store) UpdateConfiguration(ctx context.Context, c Configuration) (Configuration, error) {
	body, _ := json.Marshal(c.Body)
	grants, _ := json.Marshal(c.CalendarGrants)
	out, err := database.QueryOne(ctx, s.pool, scanConfig, notFound("configuration"), `UPDATE scheduling_configurations
		SET slug = $4, requires_session_auth = $5, body = $6, calendar_grants = $7, updated_at = now()
		WHERE id = $1 AND application_id = $2 AND grant_id = $3 RETURNING `+configColumns,
		c.ID, c.ApplicationID, c.GrantID, c.Slug, c.RequiresSessionAuth, body, grants)
	return out, slugConflict(err)
}

// GetConfiguration returns a configuration of the grant.
func (s *Store) GetConfiguration(ctx context.Context, appID, grantID uuid.UUID, id string) (Configuration, error) {
	cid, err := uuid.Parse(id)
	if err != nil {
		return Configuration{}, notFound("configuration")
	}
	return database.QueryOne(ctx, s.pool, scanConfig, notFound("configuration"), `SELECT `+configColumns+`
		FROM scheduling_configurations WHERE id = $1 AND application_id = $2 AND grant_id = $3`, cid, appID, grantID)
}

// DeleteConfiguration removes a configuration and its sessions. Its
// bookings stay (their events are the organizer's).
func (s *Store) DeleteConfiguration(ctx context.Context, appID, grantID uuid.UUID, id string) error {
	cid, err := uuid.Parse(id)
	if err != nil {
		return notFound("configuration")
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM scheduling_configurations WHERE id = $1 AND application_id = $2 AND grant_id = $3`, cid, appID, grantID)
	if err == nil && tag.RowsAffected() == 0 {
		return notFound("configuration")
	}
	return err
}

type configCursor struct {
	At time.Time `json:"t"`
	ID uuid.UUID `json:"i"`
}

// ListConfigurations returns a page of the grant's configurations, oldest
// first, and the next page's token.
func (s *Store) ListConfigurations(ctx context.Context, appID, grantID uuid.UUID, limit int, pageToken string) ([]Configuration, string, error) {
	var after *configCursor
	if pageToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(pageToken)
		var c configCursor
		if err != nil || json.Unmarshal(b, &c) != nil || c.ID == uuid.Nil {
			return nil, "", apperr.InvalidField("page_token", "is not a token this API issued")
		}
		after = &c
	}
	var at *time.Time
	var aid *uuid.UUID
	if after != nil {
		at, aid = &after.At, &after.ID
	}
	rows, err := s.pool.Query(ctx, `SELECT `+configColumns+` FROM scheduling_configurations
		WHERE application_id = $1 AND grant_id = $2 AND ($3::timestamptz IS NULL OR (created_at, id) > ($3, $4::uuid))
		ORDER BY created_at, id LIMIT $5`, appID, grantID, at, aid, limit+1)
	if err != nil {
		return nil, "", err
	}
	list, err := pgx.CollectRows(rows, scanConfig)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(list) > limit {
		list = list[:limit]
		last := list[len(list)-1]
		b, _ := json.Marshal(configCursor{At: last.CreatedAt, ID: last.ID})
		next = base64.RawURLEncoding.EncodeToString(b)
	}
	return list, next, nil
}

// ConfigurationByID returns a configuration of any application: public
// pages name it by id alone.
func (s *Store) ConfigurationByID(ctx context.Context, id uuid.UUID) (Configuration, error) {
	return database.QueryOne(ctx, s.pool, scanConfig, notFound("configuration"), `SELECT `+configColumns+`
		FROM scheduling_configurations WHERE id = $1`, id)
}

// ConfigurationsBySlug returns the configurations with this slug: one per
// application at most, and only the given application's when appID is set.
func (s *Store) ConfigurationsBySlug(ctx context.Context, slug string, appID *uuid.UUID) ([]Configuration, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+configColumns+` FROM scheduling_configurations
		WHERE slug = $1 AND ($2::uuid IS NULL OR application_id = $2) LIMIT 2`, slug, appID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanConfig)
}

func sessionHash(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return h[:]
}

// CreateSession stores a session (only its id's hash), and clears the
// application's sessions that expired a day ago or more (now is the
// service's clock), so the table keeps only what can still answer.
func (s *Store) CreateSession(ctx context.Context, ss Session, now time.Time) error {
	_, err := s.pool.Exec(ctx, `WITH gone AS (DELETE FROM scheduling_sessions WHERE application_id = $2 AND expires_at < $5)
		INSERT INTO scheduling_sessions (id_sha256, application_id, configuration_id, expires_at)
		VALUES ($1, $2, $3, $4)`, sessionHash(ss.ID), ss.ApplicationID, ss.ConfigurationID, ss.ExpiresAt, now.Add(-24*time.Hour))
	return err
}

// SessionConfiguration returns the configuration of a live session, and
// false when the session is unknown or expired.
// now is the service's clock, which also set the session's expiry.
func (s *Store) SessionConfiguration(ctx context.Context, id string, now time.Time) (Configuration, bool, error) {
	c, err := database.QueryOne(ctx, s.pool, scanConfig, notFound("session"), `SELECT c.id, c.application_id, c.grant_id, c.slug, c.requires_session_auth, c.body, c.calendar_grants, c.created_at, c.updated_at
		FROM scheduling_sessions s JOIN scheduling_configurations c ON c.id = s.configuration_id
		WHERE s.id_sha256 = $1 AND s.expires_at > $2`, sessionHash(id), now)
	if apperr.IsKind(err, apperr.NotFound) {
		return Configuration{}, false, nil
	}
	return c, err == nil, err
}

// DeleteSession ends a session of the application.
func (s *Store) DeleteSession(ctx context.Context, appID uuid.UUID, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM scheduling_sessions WHERE application_id = $1 AND id_sha256 = $2`, appID, sessionHash(id))
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return notFound("session")
	}
	return nil
}

const bookingColumns = `id, application_id, configuration_id, event_id, event_grant_id, calendar_id, salt, status, starts_at, ends_at,
	held_calendars, organizer_email, details, created_at, updated_at`

func scanBooking(r pgx.CollectableRow) (Booking, error) {
	var b Booking
	var details []byte
	if err := r.Scan(&b.ID, &b.ApplicationID, &b.ConfigurationID, &b.EventID, &b.EventGrantID, &b.CalendarID, &b.Salt, &b.Status,
		&b.Start, &b.End, &b.HeldCalendars, &b.OrganizerEmail, &details, &b.CreatedAt, &b.UpdatedAt); err != nil {
		return b, err
	}
	return b, json.Unmarshal(details, &b.Details)
}

// GetBooking returns a booking by id (any application: the caller checks
// access against its configuration).
func (s *Store) GetBooking(ctx context.Context, id uuid.UUID) (Booking, error) {
	return database.QueryOne(ctx, s.pool, scanBooking, notFound("booking"), `SELECT `+bookingColumns+` FROM scheduling_bookings WHERE id = $1`, id)
}

// Hold is time a booking holds on calendars.
type Hold struct {
	BookingID  uuid.UUID
	Start, End time.Time
	Calendars  []uuid.UUID
}

// holdsQuery: a booking whose configuration was deleted holds nothing
// more; its event (if any) stays busy time of its calendar like any other.
const holdsQuery = `SELECT b.id, b.starts_at, b.ends_at, b.held_calendars FROM scheduling_bookings b
	WHERE b.application_id = $1 AND b.status IN ('booked', 'pending') AND b.held_calendars && $2
	AND b.starts_at < $4 AND b.ends_at > $3
	AND EXISTS (SELECT 1 FROM scheduling_configurations c WHERE c.id = b.configuration_id)`

func scanHold(r pgx.CollectableRow) (Hold, error) {
	var h Hold
	return h, r.Scan(&h.BookingID, &h.Start, &h.End, &h.Calendars)
}

// holds lists the live bookings' time on any of the calendars overlapping [from, to).
func (s *Store) holds(ctx context.Context, q database.Querier, appID uuid.UUID, calendars []uuid.UUID, from, to time.Time) ([]Hold, error) {
	rows, err := q.Query(ctx, holdsQuery, appID, calendars, from, to)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanHold)
}

const lockQuery = `SELECT pg_advisory_xact_lock(hashtextextended('scheduler:' || k, 0)) FROM unnest($1::text[]) AS k ORDER BY k`

// lockKeys are the calendars' lock keys, each once, in one order for all
// (two claims never wait on each other crosswise).
func lockKeys(calendars []uuid.UUID) []string {
	keys := make([]string, 0, len(calendars))
	for _, c := range calendars {
		keys = append(keys, c.String())
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// lockCalendars serialises claims on the calendars, across processes, for
// the rest of tx: the check that follows sees every earlier claim.
func lockCalendars(ctx context.Context, tx pgx.Tx, calendars []uuid.UUID) error {
	_, err := tx.Exec(ctx, lockQuery, lockKeys(calendars))
	return err
}

// SlotCheck re-checks, inside the claiming transaction, that a slot is
// still free; it reads busy time through q (the transaction).
type SlotCheck func(ctx context.Context, q database.Querier) error

// BusyQueue queues the read of calendars' busy time in a batch
// (events.Store.QueueBusyTimes).
type BusyQueue func(b *pgx.Batch, appID uuid.UUID, calendars []uuid.UUID, from, to time.Time, out *[]events.BusyTime)

// Claim is a booking to record if its slot is still free.
type Claim struct {
	Booking Booking
	// Calendars, From and To are the busy time the check needs.
	Calendars []uuid.UUID
	From, To  time.Time
	Busy      BusyQueue
	// Check decides from the busy time and holds read under the locks;
	// it must not use the pool (the claim holds one of its connections).
	Check func(busy []events.BusyTime, holds []Hold) error
	// Kind and Payload are the outbox entry that makes the booking's
	// event ("" for none).
	Kind    string
	Payload any
}

// Claim records a new booking if its check still finds the slot free,
// with its outbox entry, in one transaction under the calendars' locks; it
// returns the outbox entry's id (0 for none). The transaction takes two
// round trips: the locks and the reads go in one batch (each statement
// still sees what was committed before it began, so the reads see every
// claim that held the locks before), the writes and the commit in another.
func (s *Store) Claim(ctx context.Context, cl Claim) (int64, error) {
	b := cl.Booking
	details, _ := json.Marshal(b.Details)
	var busy []events.BusyTime
	var holds []Hold
	var entry int64
	err := database.TwoTrips(ctx, s.pool, func(reads *pgx.Batch) {
		reads.Queue(lockQuery, lockKeys(b.HeldCalendars))
		cl.Busy(reads, b.ApplicationID, cl.Calendars, cl.From, cl.To, &busy)
		reads.Queue(holdsQuery, b.ApplicationID, cl.Calendars, cl.From, cl.To).Query(func(rows pgx.Rows) (err error) {
			holds, err = pgx.CollectRows(rows, scanHold)
			return err
		})
	}, func(writes *pgx.Batch) error {
		if err := cl.Check(busy, holds); err != nil {
			return err
		}
		writes.Queue(`INSERT INTO scheduling_bookings (id, application_id, configuration_id, event_id, event_grant_id,
			calendar_id, salt, status, starts_at, ends_at, held_calendars, organizer_email, details)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			b.ID, b.ApplicationID, b.ConfigurationID, b.EventID, b.EventGrantID, b.CalendarID, b.Salt, b.Status,
			b.Start, b.End, b.HeldCalendars, b.OrganizerEmail, details)
		if cl.Kind != "" {
			if err := s.outbox.Queue(writes, b.ApplicationID, cl.Kind, cl.Payload, &entry); err != nil {
				return err
			}
		}
		return webhooks.Queue(writes, createdOrPending(b))
	})
	if err != nil {
		return 0, err
	}
	return entry, nil
}

// Move gives a booking a new time if check finds it free, under the
// calendars' locks, with the outbox entry (a BookingSettle) that
// reconciles the booking with its event should the request not see the
// move through; it returns the booking as it was before and the entry.
func (s *Store) Move(ctx context.Context, b Booking, start, end time.Time, check SlotCheck) (Booking, int64, error) {
	var before Booking
	var entry int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockCalendars(ctx, tx, b.HeldCalendars); err != nil {
			return err
		}
		var err error
		before, err = database.QueryOne(ctx, tx, scanBooking, notFound("booking"), `SELECT `+bookingColumns+`
			FROM scheduling_bookings WHERE id = $1 FOR UPDATE`, b.ID)
		if err != nil {
			return err
		}
		if before.Status == StatusCancelled {
			return apperr.Conflictf("the booking is cancelled")
		}
		if err := check(ctx, tx); err != nil {
			return err
		}
		if _, err = tx.Exec(ctx, `UPDATE scheduling_bookings SET starts_at = $2, ends_at = $3, updated_at = now() WHERE id = $1`, b.ID, start, end); err != nil {
			return err
		}
		moved := before
		moved.Start, moved.End = start, end
		if err := webhooks.Record(ctx, tx, notice(webhooks.BookingRescheduled, moved)); err != nil {
			return err
		}
		if before.Status != StatusBooked {
			return nil // no event to follow
		}
		entry, err = s.settle.Add(ctx, tx, b.ApplicationID, KindSettleBooking, BookingSettle{BookingID: b.ID,
			ApplicationID: b.ApplicationID, EventGrantID: before.EventGrantID, EventID: before.EventID})
		return err
	})
	return before, entry, err
}

// SetTimes gives a booking the times of its event: its old time back when
// the event could not move, or the event's when the sweeper settles a move.
// A change is told with a booking.rescheduled in the same transaction: the
// application heard of the move, and must hear that it did not happen.
func (s *Store) SetTimes(ctx context.Context, id uuid.UUID, start, end time.Time) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b, err := database.QueryOne(ctx, tx, scanBooking, nil, `UPDATE scheduling_bookings SET starts_at = $2, ends_at = $3, updated_at = now()
			WHERE id = $1 AND (starts_at, ends_at) IS DISTINCT FROM ($2, $3) RETURNING `+bookingColumns, id, start, end)
		if err != nil || b.ID == uuid.Nil {
			return err
		}
		return webhooks.Record(ctx, tx, notice(webhooks.BookingRescheduled, b))
	})
}

// Confirm turns a pending booking booked, with the outbox entry that makes
// its event, in one transaction.
func (s *Store) Confirm(ctx context.Context, id uuid.UUID, kind string, payload func(Booking) any) (Booking, int64, error) {
	var b Booking
	var entry int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		b, err = database.QueryOne(ctx, tx, scanBooking, notFound("booking"), `UPDATE scheduling_bookings SET status = 'booked', updated_at = now()
			WHERE id = $1 AND status = 'pending' RETURNING `+bookingColumns, id)
		if apperr.IsKind(err, apperr.NotFound) {
			return apperr.Conflictf("the booking is not pending")
		}
		if err != nil {
			return err
		}
		if err := webhooks.Record(ctx, tx, notice(webhooks.BookingCreated, b)); err != nil {
			return err
		}
		entry, err = s.outbox.Add(ctx, tx, b.ApplicationID, kind, payload(b))
		return err
	})
	return b, entry, err
}

// Cancel marks a booking cancelled, releasing its time, and runs remove (the
// removal of its event, with its meeting's deletion) in the same
// transaction; it returns the booking as it was.
func (s *Store) Cancel(ctx context.Context, id uuid.UUID, reason string, remove func(ctx context.Context, tx pgx.Tx, b Booking) error) (Booking, error) {
	var b Booking
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		b, err = database.QueryOne(ctx, tx, scanBooking, notFound("booking"), `SELECT `+bookingColumns+`
			FROM scheduling_bookings WHERE id = $1 FOR UPDATE`, id)
		if err != nil {
			return err
		}
		if b.Status == StatusCancelled {
			return apperr.Conflictf("the booking is cancelled already")
		}
		if _, err := tx.Exec(ctx, `UPDATE scheduling_bookings SET status = 'cancelled', updated_at = now(),
			details = jsonb_set(details, '{cancellation_reason}', to_jsonb($2::text)) WHERE id = $1`, id, reason); err != nil {
			return err
		}
		gone := b
		gone.Details.CancellationReason = reason
		if err := webhooks.Record(ctx, tx, notice(webhooks.BookingCancelled, gone)); err != nil {
			return err
		}
		if remove == nil {
			return nil
		}
		return remove(ctx, tx, b)
	})
	return b, err
}

// Release gives up a booking whose event could not be made: its time is
// free again. Releasing twice is harmless.
// The application hears of it as of a cancellation, with the reason.
func (s *Store) Release(ctx context.Context, id uuid.UUID, reason string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b, err := database.QueryOne(ctx, tx, scanBooking, pgx.ErrNoRows, `UPDATE scheduling_bookings SET status = 'cancelled', updated_at = now(),
			details = jsonb_set(details, '{cancellation_reason}', to_jsonb($2::text)) WHERE id = $1 AND status <> 'cancelled'
			RETURNING `+bookingColumns, id, reason)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		return webhooks.Record(ctx, tx, notice(webhooks.BookingCancelled, b))
	})
}

// LastBooked returns, per organizer email, when a configuration's latest
// live booking was made: the max-fairness order.
func (s *Store) LastBooked(ctx context.Context, configID uuid.UUID) (map[string]time.Time, error) {
	return s.lastBooked(ctx, s.pool, configID)
}

// lastBooked is LastBooked through q (inside a transaction, its connection).
func (s *Store) lastBooked(ctx context.Context, q database.Querier, configID uuid.UUID) (map[string]time.Time, error) {
	rows, err := q.Query(ctx, `SELECT organizer_email, max(created_at) FROM scheduling_bookings
		WHERE configuration_id = $1 AND status IN ('booked', 'pending') GROUP BY organizer_email`, configID)
	if err != nil {
		return nil, err
	}
	out := map[string]time.Time{}
	defer rows.Close()
	for rows.Next() {
		var e string
		var t time.Time
		if err := rows.Scan(&e, &t); err != nil {
			return nil, err
		}
		out[e] = t
	}
	return out, rows.Err()
}

// NoticeJSON is the object of the booking.* notifications.
type NoticeJSON struct {
	BookingID       string      `json:"booking_id"`
	BookingRef      string      `json:"booking_ref"`
	ConfigurationID string      `json:"configuration_id"`
	Object          string      `json:"object"`
	BookingInfo     BookingInfo `json:"booking_info"`
}

// BookingInfo is what a booking notification says of the booking.
type BookingInfo struct {
	EventID            string            `json:"event_id"`
	Title              string            `json:"title"`
	StartTime          int64             `json:"start_time"`
	EndTime            int64             `json:"end_time"`
	Participants       []Person          `json:"participants"`
	AdditionalFields   map[string]string `json:"additional_fields"`
	CancellationReason string            `json:"cancellation_reason,omitempty"`
}

// notice is the notification of typ for b.
func notice(typ string, b Booking) webhooks.Notification {
	people := append([]Person{b.Details.Guest}, b.Details.AdditionalGuests...)
	fields := b.Details.AdditionalFields
	if fields == nil {
		fields = map[string]string{}
	}
	return webhooks.Notification{ApplicationID: b.ApplicationID, Type: typ, Object: NoticeJSON{BookingID: b.ID.String(),
		BookingRef: b.Ref(), ConfigurationID: b.ConfigurationID.String(), Object: "booking",
		BookingInfo: BookingInfo{EventID: b.EventID.String(), Title: b.Details.Title, StartTime: b.Start.Unix(), EndTime: b.End.Unix(),
			Participants: people, AdditionalFields: fields, CancellationReason: b.Details.CancellationReason}}}
}

// createdOrPending is the notification of a new or confirmed booking.
func createdOrPending(b Booking) webhooks.Notification {
	if b.Status == StatusPending {
		return notice(webhooks.BookingPending, b)
	}
	return notice(webhooks.BookingCreated, b)
}
