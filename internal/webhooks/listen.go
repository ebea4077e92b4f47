package webhooks

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Listen calls wake with the destination of every delivery committed from
// now on, until ctx ends. It holds one connection of its own (LISTEN needs a
// session) and reconnects after a failure; what it misses meanwhile, Stalled
// finds. wake must not block.
func (s *Store) Listen(ctx context.Context, log *slog.Logger, wake func(uuid.UUID)) {
	pause := time.Second
	for ctx.Err() == nil {
		err := s.listen(ctx, wake, func() { pause = time.Second })
		if ctx.Err() != nil {
			return
		}
		log.WarnContext(ctx, "webhook listener lost its connection; reconnecting (stalled deliveries are swept meanwhile)", "err", err, "retry_in", pause)
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, 30*time.Second)
	}
}

func (s *Store) listen(ctx context.Context, wake func(uuid.UUID), connected func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return err
	}
	connected()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if id, err := uuid.Parse(n.Payload); err == nil {
			wake(id)
		}
	}
}
