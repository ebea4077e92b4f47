package events

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// CalendarsByID returns those of the calendars that belong to the
// application (any of its grants), for features that name calendars
// across grants (the scheduler's participants).
func (s *Store) CalendarsByID(ctx context.Context, appID uuid.UUID, ids []uuid.UUID) ([]Calendar, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+calendarColumns+` FROM calendars WHERE application_id = $1 AND id = ANY($2)`, appID, ids)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanCalendar)
}
