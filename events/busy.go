package events

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/confhub/confhub/internal/database"
)

// BusyTime is time an event makes its calendar busy.
type BusyTime struct {
	Start, End time.Time
	Tentative  bool
	EventID    uuid.UUID
	CalendarID uuid.UUID
}

// BusyTimes lists the busy time on the calendars overlapping [from, to).
// (Placeholder until the index-backed version lands.)
func (s *Store) BusyTimes(ctx context.Context, q database.Querier, appID uuid.UUID, calendars []uuid.UUID, from, to time.Time) ([]BusyTime, error) {
	rows, err := q.Query(ctx, `SELECT starts_at, ends_at, status = 'tentative', id, calendar_id FROM events
		WHERE application_id = $1 AND calendar_id = ANY($2) AND busy AND status <> 'cancelled' AND starts_at < $4 AND ends_at > $3`,
		appID, calendars, from, to)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (BusyTime, error) {
		var b BusyTime
		return b, r.Scan(&b.Start, &b.End, &b.Tentative, &b.EventID, &b.CalendarID)
	})
}
