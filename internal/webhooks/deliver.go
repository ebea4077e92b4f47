package webhooks

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// DeliveryTimeout is how long a destination has to answer a delivery.
const DeliveryTimeout = 10 * time.Second

const (
	batchSize   = 50
	concurrency = 8
	// The budget of one DeliverBatch: it returns More once spent, so that
	// the workflow records progress now and then.
	batchBudget = 30 * time.Second
)

// BatchResult says what a destination's deliverer should do next.
type BatchResult struct {
	// Stop: the destination is gone, paused or failed: nothing to do until
	// it changes (its owner wakes it).
	Stop bool `json:"stop"`
	// More: deliveries are waiting now.
	More bool `json:"more"`
	// RetryAt: deliveries wait for the destination's backoff to pass.
	RetryAt time.Time `json:"retry_at"`
	// Delivered and Failed count this call's attempts.
	Delivered int `json:"delivered"`
	Failed    int `json:"failed"`
}

type destination struct {
	appID  uuid.UUID
	url    string
	secret string
	health health
}

type delivery struct {
	id             int64
	notificationID uuid.UUID
	typ            string
	object         json.RawMessage
	occurredAt     time.Time
	attempts       int
}

// DeliverBatch sends a destination's waiting notifications, oldest first,
// up to 8 at a time, and records what became of them. beat is called as
// work progresses (the activity's heartbeat). A failed delivery pauses the
// whole destination (backoff): its other notifications would fail the same
// way, and a dead receiver should get one knock, not a flood.
func (s *Store) DeliverBatch(ctx context.Context, webhookID uuid.UUID, log *slog.Logger, beat func()) (BatchResult, error) {
	start := s.now()
	var res BatchResult
	for {
		d, ok, err := s.destination(ctx, webhookID)
		if err != nil {
			return res, err
		}
		if !ok || (d.health.Status != StatusActive && d.health.Status != StatusFailing) {
			res.Stop = true
			return res, nil
		}
		now := s.now()
		if d.health.RetryAt != nil && d.health.RetryAt.After(now) {
			res.RetryAt = *d.health.RetryAt
			return res, nil
		}
		batch, err := s.waiting(ctx, webhookID, now)
		if err != nil {
			return res, err
		}
		if len(batch) == 0 {
			return res, nil
		}
		ok2, failed := s.send(ctx, d, batch, log, beat)
		h, err := s.record(ctx, webhookID, ok2, failed)
		if err != nil {
			return res, err
		}
		res.Delivered += len(ok2)
		res.Failed += len(failed)
		if h.Status == "" {
			return res, nil // deleted meanwhile: nothing left to send to
		}
		if h.Status != d.health.Status {
			logStatus(ctx, log, webhookID, d.health.Status, h)
		}
		if len(failed) > 0 {
			if h.RetryAt != nil {
				res.RetryAt = *h.RetryAt
			}
			res.Stop = h.Status == StatusFailed
			return res, nil
		}
		if len(batch) < batchSize {
			return res, nil
		}
		if s.now().Sub(start) > batchBudget {
			res.More = true
			return res, nil
		}
	}
}

func logStatus(ctx context.Context, log *slog.Logger, id uuid.UUID, from string, h health) {
	switch h.Status {
	case StatusFailing:
		// confhub sends no email: the notification addresses are shown with
		// the destination, and this line is what an operator alerts on.
		log.WarnContext(ctx, "webhook destination is failing: most deliveries have failed for 15 minutes; still sending",
			"webhook_id", id, "bad_since", h.BadSince)
	case StatusFailed:
		log.ErrorContext(ctx, "webhook destination failed: deliveries failed for 72 hours; stopped, its queue dropped",
			"webhook_id", id, "bad_since", h.BadSince)
	default:
		log.InfoContext(ctx, "webhook destination recovered", "webhook_id", id, "from", from, "status", h.Status)
	}
}

func (s *Store) destination(ctx context.Context, id uuid.UUID) (destination, bool, error) {
	var d destination
	var enc string
	err := s.pool.QueryRow(ctx, `SELECT application_id, webhook_url, secret_enc, status, bad_since, bad_count, good_count,
		retry_at, backoff_step FROM webhooks WHERE id = $1`, id).Scan(&d.appID, &d.url, &enc, &d.health.Status,
		&d.health.BadSince, &d.health.Bad, &d.health.Good, &d.health.RetryAt, &d.health.Step)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, false, nil
	}
	if err != nil {
		return d, false, err
	}
	d.secret, err = s.vault.Open(enc, binding(d.appID, id))
	return d, err == nil, err
}

// waiting returns the destination's oldest deliveries, leaving out those
// that have waited past Expiry (the sweeper's Stalled drops them).
func (s *Store) waiting(ctx context.Context, id uuid.UUID, now time.Time) ([]delivery, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, notification_id, type, object, occurred_at, attempts FROM webhook_deliveries
		WHERE webhook_id = $1 AND occurred_at >= $3 ORDER BY id LIMIT $2`, id, batchSize, now.Add(-Expiry))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (delivery, error) {
		var d delivery
		var obj string
		err := r.Scan(&d.id, &d.notificationID, &d.typ, &obj, &d.occurredAt, &d.attempts)
		d.object = json.RawMessage(obj)
		return d, err
	})
}

type failure struct {
	id     int64
	reason string
}

// send delivers a batch: the oldest alone, then, if it went through, the
// rest 8 at a time; after a failure it starts no more (the destination's
// backoff begins). A dead receiver gets one knock, not a batch.
func (s *Store) send(ctx context.Context, d destination, batch []delivery, log *slog.Logger, beat func()) ([]int64, []failure) {
	var (
		mu     sync.Mutex
		ok     []int64
		failed []failure
		wg     sync.WaitGroup
		slots  = make(chan struct{}, concurrency)
	)
	for i, dl := range batch {
		if i == 1 {
			wg.Wait() // the first one answers before the rest go
		}
		mu.Lock()
		stop := len(failed) > 0
		mu.Unlock()
		if stop || ctx.Err() != nil {
			break
		}
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			err := s.post(ctx, d, dl)
			beat()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed = append(failed, failure{dl.id, err.Error()})
				log.InfoContext(ctx, "webhook delivery failed", "notification_id", dl.notificationID, "type", dl.typ,
					"attempt", dl.attempts+1, "err", err)
				return
			}
			ok = append(ok, dl.id)
		}()
	}
	wg.Wait()
	return ok, failed
}

// Sign is the x-nylas-signature of a body: hex HMAC-SHA256 keyed by the
// destination's secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Body is the exact bytes a delivery sends.
func body(appID uuid.UUID, dl delivery) ([]byte, error) {
	var e Envelope
	e.SpecVersion = "1.0"
	e.Type = dl.typ
	e.Source = "/confhub/" + strings.SplitN(dl.typ, ".", 2)[0]
	e.ID = dl.notificationID.String()
	e.Time = dl.occurredAt.Unix()
	e.WebhookDeliveryAttempt = dl.attempts + 1
	e.Data.ApplicationID = appID.String()
	e.Data.Object = dl.object
	return json.Marshal(e)
}

func (s *Store) post(ctx context.Context, d destination, dl delivery) error {
	b, err := body(d.appID, dl)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, DeliveryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("x-nylas-signature", Sign(d.secret, b))
	resp, err := s.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("no answer within %s", DeliveryTimeout)
		}
		return errors.New(reachError(err))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("answered HTTP %d", resp.StatusCode)
	}
	return nil
}

// record settles a batch in one transaction: delivered notifications go,
// failed ones count an attempt, and the destination's health follows.
func (s *Store) record(ctx context.Context, id uuid.UUID, ok []int64, failed []failure) (health, error) {
	var h health
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// NO KEY: a change recording a delivery for this destination (its
		// foreign key takes a key-share lock) does not wait for this.
		err := tx.QueryRow(ctx, `SELECT status, bad_since, bad_count, good_count, retry_at, backoff_step FROM webhooks
			WHERE id = $1 FOR NO KEY UPDATE`, id).Scan(&h.Status, &h.BadSince, &h.Bad, &h.Good, &h.RetryAt, &h.Step)
		if errors.Is(err, pgx.ErrNoRows) {
			h.Status = ""
			return nil // deleted meanwhile; its deliveries went with it
		}
		if err != nil {
			return err
		}
		if len(ok) > 0 {
			if _, err := tx.Exec(ctx, `DELETE FROM webhook_deliveries WHERE id = ANY ($1)`, ok); err != nil {
				return err
			}
		}
		ids, reasons := make([]int64, len(failed)), make([]string, len(failed))
		for i, f := range failed {
			ids[i], reasons[i] = f.id, f.reason
		}
		if len(ids) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE webhook_deliveries d SET attempts = attempts + 1, last_error = f.reason
				FROM unnest($1::bigint[], $2::text[]) AS f (id, reason) WHERE d.id = f.id`, ids, reasons); err != nil {
				return err
			}
		}
		prev := h.Status
		h = h.after(len(ok), len(failed), s.now())
		if h.Status == StatusFailed && prev != StatusFailed {
			if _, err := tx.Exec(ctx, `DELETE FROM webhook_deliveries WHERE webhook_id = $1`, id); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `UPDATE webhooks SET status = $2,
			status_updated_at = CASE WHEN status <> $2 THEN now() ELSE status_updated_at END,
			bad_since = $3, bad_count = $4, good_count = $5, retry_at = $6, backoff_step = $7 WHERE id = $1`,
			id, h.Status, h.BadSince, h.Bad, h.Good, h.RetryAt, h.Step)
		return err
	})
	return h, err
}

// Stalled returns destinations whose oldest delivery has waited longer than
// grace without their backoff explaining it: their deliverer never heard
// of it (the notification of its commit was missed) or died. The sweeper
// wakes them. Deliveries past Expiry are dropped on the way.
func (s *Store) Stalled(ctx context.Context, grace time.Duration, limit int) ([]uuid.UUID, error) {
	now := s.now()
	if _, err := s.pool.Exec(ctx, `DELETE FROM webhook_deliveries WHERE occurred_at < $1`, now.Add(-Expiry)); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT w.id FROM webhooks w
		WHERE w.status IN ('active', 'failing') AND (w.retry_at IS NULL OR w.retry_at < $1)
		AND EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.occurred_at < $1)
		LIMIT $2`, now.Add(-grace), limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
}
