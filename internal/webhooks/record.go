package webhooks

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Channel is the PostgreSQL notification channel on which a committed
// delivery names its destination, so a waiting deliverer starts at once
// (Listen). A notification missed there is found by Stalled.
const Channel = "confhub_webhooks"

// Execer runs a statement: a transaction, in practice.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Record records n in the caller's transaction tx, so a change and the
// notification that describes it commit or roll back together. One
// statement queues a delivery for each of the application's destinations
// that asked for the notification's type (and are neither paused nor
// failed); with none, it writes nothing.
func Record(ctx context.Context, tx Execer, n Notification) error {
	args, err := recordArgs(n)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, recordSQL, args...)
	return err
}

// Queue is Record for a caller that sends its statements in one batch
// inside the transaction the batch runs in.
func Queue(b *pgx.Batch, n Notification) error {
	args, err := recordArgs(n)
	if err != nil {
		return err
	}
	b.Queue(recordSQL, args...)
	return nil
}

func recordArgs(n Notification) ([]any, error) {
	obj, err := json.Marshal(n.Object)
	if err != nil {
		return nil, fmt.Errorf("webhooks: %s object: %w", n.Type, err)
	}
	return []any{n.ApplicationID, uuid.New(), n.Type, string(obj)}, nil
}

// recordSQL fans a notification out to its destinations and, for each one
// that got a delivery, sends a NOTIFY that PostgreSQL delivers at commit
// (and drops on rollback). Several NOTIFYs of one destination in one
// transaction arrive as one.
const recordSQL = `WITH d AS (
	INSERT INTO webhook_deliveries (webhook_id, notification_id, type, object)
	SELECT id, $2, $3, $4::json FROM webhooks
	WHERE application_id = $1 AND status IN ('active', 'failing') AND $3 = ANY (trigger_types)
	RETURNING webhook_id)
SELECT pg_notify('` + Channel + `', w::text) FROM (SELECT DISTINCT webhook_id AS w FROM d) x`
