// Package outbox keeps work that must outlive the request that caused it:
// a Zoom meeting to delete once its event row is gone (and, later,
// notifications). An entry is written in the same transaction as its cause,
// so a committed change always has its follow-up recorded and a rolled-back
// one never does. The request that wrote an entry hands it to Temporal at
// once and removes it; whatever is left (the process died in between,
// Temporal was down) is handed over by the sweeper on the worker once due.
//
// This package owns the outbox table. It knows nothing of what entries mean:
// their kind and payload belong to the feature that writes them and to the
// Temporal layer that carries them out.
package outbox

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Entry is one piece of pending work.
type Entry struct {
	ID            int64
	ApplicationID uuid.UUID
	Kind          string
	Payload       json.RawMessage
	Attempts      int
	CreatedAt     time.Time
}

// Writer adds entries in the caller's transaction. Its zero value hands
// entries to the sweeper after DefaultGrace.
type Writer struct {
	// Grace is how long the writing request has to hand an entry over
	// itself before the sweeper takes it: long enough that the sweeper does
	// not race a live request, short enough that a crash is soon repaired.
	Grace time.Duration
}

// DefaultGrace is Writer's grace when none is set.
const DefaultGrace = 10 * time.Second

// Add records an entry in tx. The entry's due time is the database's clock
// plus the grace, so processes with skewed clocks agree on it.
func (w Writer) Add(ctx context.Context, tx pgx.Tx, appID uuid.UUID, kind string, payload any) (int64, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return 0, fmt.Errorf("outbox: %s payload: %w", kind, err)
	}
	var id int64
	err = tx.QueryRow(ctx, insertEntry, appID, kind, b, w.grace().Seconds()).Scan(&id)
	return id, err
}

// Queue is Add for a caller that sends its statements in one batch, inside
// the transaction the batch runs in: *id holds the entry's id once the
// batch has run.
func (w Writer) Queue(b *pgx.Batch, appID uuid.UUID, kind string, payload any, id *int64) error {
	raw, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("outbox: %s payload: %w", kind, err)
	}
	b.Queue(insertEntry, appID, kind, raw, w.grace().Seconds()).QueryRow(func(r pgx.Row) error { return r.Scan(id) })
	return nil
}

func (w Writer) grace() time.Duration {
	if w.Grace <= 0 {
		return DefaultGrace
	}
	return w.Grace
}

const insertEntry = `INSERT INTO outbox (application_id, kind, payload, due_at)
	VALUES ($1, $2, $3, now() + make_interval(secs => $4)) RETURNING id`

// Store reads and settles entries, for the request that wrote them and for
// the sweeper.
type Store struct {
	pool *pgxpool.Pool
}

// NewStore returns a Store.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Due returns up to limit entries whose time has come, oldest first.
func (s *Store) Due(ctx context.Context, limit int) ([]Entry, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, application_id, kind, payload, attempts, created_at FROM outbox
		WHERE due_at <= now() ORDER BY due_at, id LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Entry, error) {
		var e Entry
		return e, r.Scan(&e.ID, &e.ApplicationID, &e.Kind, &e.Payload, &e.Attempts, &e.CreatedAt)
	})
}

// Done removes an entry whose work has been handed over. Removing one that
// is gone already is not an error: two hands may have passed it on.
func (s *Store) Done(ctx context.Context, id int64) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM outbox WHERE id = $1`, id)
	return err
}

// Retry postpones an entry that could not be handed over, with backoff:
// 2^attempts seconds, at most maxBackoff.
func (s *Store) Retry(ctx context.Context, id int64, reason string) error {
	_, err := s.pool.Exec(ctx, `UPDATE outbox SET attempts = attempts + 1, last_error = $2,
		due_at = now() + make_interval(secs => LEAST(power(2, attempts + 1), $3)) WHERE id = $1`,
		id, reason, maxBackoff.Seconds())
	return err
}

const maxBackoff = 5 * time.Minute

// Pending counts the entries not yet handed over (for tests and metrics).
func (s *Store) Pending(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&n)
	return n, err
}
