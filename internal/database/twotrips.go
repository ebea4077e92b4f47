package database

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TwoTrips runs one transaction in two round trips on one connection: BEGIN
// with what first queues (reads, or a write whose row the rest needs), then
// what second queues with the COMMIT. second runs after first's results
// have been read (their Query callbacks have run) and may refuse to go on.
// On any failure the transaction is rolled back; a connection that could
// not even do that is still inside it and is discarded on release.
func TwoTrips(ctx context.Context, pool *pgxpool.Pool, first func(*pgx.Batch), second func(*pgx.Batch) error) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	fail := func(err error) error {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		return err
	}
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	first(b)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return fail(err)
	}
	b = &pgx.Batch{}
	if err := second(b); err != nil {
		return fail(err)
	}
	b.Queue("COMMIT")
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return fail(err)
	}
	if conn.Conn().PgConn().TxStatus() != 'I' {
		return fail(errors.New("database: the transaction did not commit"))
	}
	return nil
}
