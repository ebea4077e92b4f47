package events

import (
	"context"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/confhub/confhub/internal/database"
)

// BusyTime is an interval in which a calendar is taken.
type BusyTime struct {
	Start, End time.Time
	Tentative  bool
	EventID    uuid.UUID
	CalendarID uuid.UUID
}

// busyQuery is ListEvents' overlap, per calendar: the events starting in
// [from, to) (a range of events_calendar_time) and those that started
// before from and still run at from (a point lookup in the GiST index
// events_calendar_during). The lateral join makes each calendar its own
// pair of index scans, so one statement serves any number of calendars.
const busyQuery = `SELECT b.id, b.calendar_id, b.starts_at, b.ends_at, b.status = 'tentative'
	FROM unnest($2::uuid[]) AS c(id) CROSS JOIN LATERAL (
		SELECT id, calendar_id, starts_at, ends_at, status FROM events
		WHERE application_id = $1 AND calendar_id = c.id AND busy AND status <> 'cancelled'
			AND starts_at >= $3 AND starts_at < $4
		UNION ALL
		SELECT id, calendar_id, starts_at, ends_at, status FROM events
		WHERE application_id = $1 AND calendar_id = c.id AND busy AND status <> 'cancelled'
			AND ` + during + ` @> $3::timestamptz AND starts_at < $3
	) b ORDER BY b.starts_at, b.id`

// BusyTimes lists the busy time on the given calendars of the application
// overlapping [from, to), ordered by start: events with busy set and not
// cancelled (tentative ones marked so); all-day and date-span events by
// their stored starts_at/ends_at. Overlap is the list's (GET /events): a
// point-in-time event (Start == End) is listed when its instant lies in
// [from, to), though it takes no time. A calendar id of another
// application matches nothing. q is the pool (see Pool) or a transaction,
// so a booking can check again inside the transaction that claims a slot.
func (s *Store) BusyTimes(ctx context.Context, q database.Querier, appID uuid.UUID, calendars []uuid.UUID, from, to time.Time) ([]BusyTime, error) {
	cals, ok := busyArgs(calendars, from, to)
	if !ok {
		return nil, nil
	}
	rows, err := q.Query(ctx, busyQuery, appID, cals, from, to)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanBusy)
}

// QueueBusyTimes queues BusyTimes' query in b, for a caller that sends
// several statements in one round trip (a booking's claim): *out holds the
// busy time once the batch has run.
func (s *Store) QueueBusyTimes(b *pgx.Batch, appID uuid.UUID, calendars []uuid.UUID, from, to time.Time, out *[]BusyTime) {
	*out = nil
	cals, ok := busyArgs(calendars, from, to)
	if !ok {
		return
	}
	b.Queue(busyQuery, appID, cals, from, to).Query(func(rows pgx.Rows) error {
		var err error
		*out, err = pgx.CollectRows(rows, scanBusy)
		return err
	})
}

// busyArgs are the calendars to look up, each once (a calendar named twice
// would list its events twice); false: nothing to look up.
func busyArgs(calendars []uuid.UUID, from, to time.Time) ([]uuid.UUID, bool) {
	if len(calendars) == 0 || !from.Before(to) {
		return nil, false
	}
	cals := slices.Clone(calendars)
	slices.SortFunc(cals, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
	return slices.Compact(cals), true
}

func scanBusy(r pgx.CollectableRow) (BusyTime, error) {
	var b BusyTime
	return b, r.Scan(&b.EventID, &b.CalendarID, &b.Start, &b.End, &b.Tentative)
}

// Pool is the store's pool, the Querier of BusyTimes outside a transaction.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// SeedBenchEvents is a benchmark aid (confhub bench), not an API: it writes
// n plain events into a calendar of the grant in one statement, the i-th
// from start+i*spacing lasting length, without the validation and
// conferencing of the create path, so that hundreds of thousands of rows
// take seconds. Their ids share a random prefix and count up, which keeps
// the primary key's inserts at its right edge. It analyzes the table after,
// as autovacuum would soon do, so that what is measured is the steady state
// and not the minute before.
func (s *Store) SeedBenchEvents(ctx context.Context, appID, grantID, calID uuid.UUID, n int, start time.Time, spacing, length time.Duration) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO events (id, application_id, grant_id, calendar_id, title, when_json, starts_at, ends_at)
		SELECT overlay($8::text PLACING lpad(to_hex(i), 12, '0') FROM 25)::uuid, $1, $2, $3, 'Bench ' || i,
			jsonb_build_object('object', 'timespan', 'start_time', extract(epoch FROM t)::bigint,
				'end_time', extract(epoch FROM t + $7::interval)::bigint), t, t + $7::interval
		FROM generate_series(0, $4::int - 1) AS i, LATERAL (SELECT $5::timestamptz + i * $6::interval AS t) AS x`,
		appID, grantID, calID, n, start, spacing, length, uuid.New().String())
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `ANALYZE events`)
	return err
}
