package webhooks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/confhub/confhub/internal/apperr"
	"github.com/confhub/confhub/internal/database"
	"github.com/confhub/confhub/internal/vault"
)

// ChallengeTimeout is how long a new webhook_url has to answer its challenge.
const ChallengeTimeout = 10 * time.Second

// Store keeps destinations and their deliveries. Every query on a
// destination is scoped by application id.
type Store struct {
	pool   *pgxpool.Pool
	vault  *vault.Keyring
	client *http.Client // challenges and deliveries; never follows redirects
	now    func() time.Time
}

// NewStore returns a Store. client may be nil (a plain client is used);
// now is the clock of delivery health (nil: time.Now).
func NewStore(pool *pgxpool.Pool, kr *vault.Keyring, client *http.Client, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	if client == nil {
		client = &http.Client{}
	}
	c := *client
	// A destination answers where it is asked: a redirect is not followed,
	// so it cannot point our signed requests somewhere else.
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Store{pool: pool, vault: kr, client: &c, now: now}
}

func binding(appID, id uuid.UUID) vault.Binding {
	return vault.Binding{ApplicationID: appID.String(), Table: "webhooks", RowID: id.String(), Column: "secret_enc"}
}

const columns = `id, application_id, description, trigger_types, webhook_url, notification_email_addresses, status,
	status_updated_at, created_at, updated_at`

func scan(r pgx.CollectableRow) (Webhook, error) {
	var w Webhook
	err := r.Scan(&w.ID, &w.ApplicationID, &w.Description, &w.TriggerTypes, &w.WebhookURL, &w.NotificationEmailAddresses,
		&w.Status, &w.StatusUpdatedAt, &w.CreatedAt, &w.UpdatedAt)
	return w, err
}

func errNotFound() error { return apperr.NotFoundf("webhook not found") }

// newSecret is a destination's signing secret: 256 random bits, in hex.
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Create adds a destination once its URL has answered the challenge. The
// secret is returned here and by RotateSecret, never again.
func (s *Store) Create(ctx context.Context, appID uuid.UUID, in Input) (Webhook, string, error) {
	v, err := validate(in, nil)
	if err != nil {
		return Webhook{}, "", err
	}
	if err := s.challenge(ctx, v.url); err != nil {
		return Webhook{}, "", err
	}
	id, secret := uuid.New(), newSecret()
	enc, err := s.vault.Seal(secret, binding(appID, id))
	if err != nil {
		return Webhook{}, "", err
	}
	w, err := database.QueryOne(ctx, s.pool, scan, errNotFound(), `INSERT INTO webhooks (id, application_id, description,
		trigger_types, webhook_url, notification_email_addresses, secret_enc, status)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 'active') RETURNING `+columns,
		id, appID, v.description, v.triggers, v.url, v.emails, enc)
	return w, secret, err
}

// List returns the application's destinations, oldest first.
func (s *Store) List(ctx context.Context, appID uuid.UUID) ([]Webhook, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+columns+` FROM webhooks WHERE application_id = $1 ORDER BY created_at, id`, appID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scan)
}

// Get returns one destination of the application.
func (s *Store) Get(ctx context.Context, appID uuid.UUID, id string) (Webhook, error) {
	wid, err := uuid.Parse(id)
	if err != nil {
		return Webhook{}, errNotFound()
	}
	return database.QueryOne(ctx, s.pool, scan, errNotFound(), `SELECT `+columns+` FROM webhooks
		WHERE application_id = $1 AND id = $2`, appID, wid)
}

// Update changes the fields present. A new URL must answer the challenge
// first. Setting the status (active or pause) starts the destination's
// health afresh: a destination made active again is tried at once.
func (s *Store) Update(ctx context.Context, appID uuid.UUID, id string, in Input) (Webhook, error) {
	cur, err := s.Get(ctx, appID, id)
	if err != nil {
		return Webhook{}, err
	}
	v, err := validate(in, &cur)
	if err != nil {
		return Webhook{}, err
	}
	if v.url != cur.WebhookURL {
		if err := s.challenge(ctx, v.url); err != nil {
			return Webhook{}, err
		}
	}
	fresh := in.Status != nil || v.url != cur.WebhookURL
	// The status is written only when the owner sets it: the deliverer may
	// have turned the destination failing or failed since it was read.
	var status *string
	if in.Status != nil {
		status = &v.status
	}
	w, err := database.QueryOne(ctx, s.pool, scan, errNotFound(), `UPDATE webhooks SET description = $3, trigger_types = $4,
		webhook_url = $5, notification_email_addresses = $6,
		status_updated_at = CASE WHEN $7::text IS NOT NULL AND status <> $7 THEN now() ELSE status_updated_at END,
		status = COALESCE($7, status),
		bad_since = CASE WHEN $8 THEN NULL ELSE bad_since END, bad_count = CASE WHEN $8 THEN 0 ELSE bad_count END,
		good_count = CASE WHEN $8 THEN 0 ELSE good_count END, retry_at = CASE WHEN $8 THEN NULL ELSE retry_at END,
		backoff_step = CASE WHEN $8 THEN 0 ELSE backoff_step END, updated_at = now()
		WHERE application_id = $1 AND id = $2 RETURNING `+columns,
		appID, cur.ID, v.description, v.triggers, v.url, v.emails, status, fresh)
	if err == nil && fresh && w.Status == StatusActive {
		// Whatever waits is tried at once: the deliverer hears of it as it
		// hears of a new delivery.
		_, err = s.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, Channel, w.ID.String())
	}
	return w, err
}

// Delete removes a destination and whatever was still to deliver to it.
func (s *Store) Delete(ctx context.Context, appID uuid.UUID, id string) error {
	wid, err := uuid.Parse(id)
	if err != nil {
		return errNotFound()
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM webhooks WHERE application_id = $1 AND id = $2`, appID, wid)
	if err == nil && tag.RowsAffected() == 0 {
		return errNotFound()
	}
	return err
}

// RotateSecret gives a destination a new secret; the old one stops at once
// (deliveries are signed with the secret current when they are sent).
func (s *Store) RotateSecret(ctx context.Context, appID uuid.UUID, id string) (Webhook, string, error) {
	cur, err := s.Get(ctx, appID, id)
	if err != nil {
		return Webhook{}, "", err
	}
	secret := newSecret()
	enc, err := s.vault.Seal(secret, binding(appID, cur.ID))
	if err != nil {
		return Webhook{}, "", err
	}
	w, err := database.QueryOne(ctx, s.pool, scan, errNotFound(), `UPDATE webhooks SET secret_enc = $3, updated_at = now()
		WHERE application_id = $1 AND id = $2 RETURNING `+columns, appID, cur.ID, enc)
	return w, secret, err
}

// challenge asks a URL to echo a random value, as Nylas does before using
// it: GET <url>?challenge=<value>, answered 200 with exactly the value.
func (s *Store) challenge(ctx context.Context, raw string) error {
	value := newSecret()[:32]
	u, err := url.Parse(raw)
	if err != nil {
		return apperr.InvalidField("webhook_url", "is not a valid URL")
	}
	q := u.Query()
	q.Set("challenge", value)
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(ctx, ChallengeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return apperr.InvalidField("webhook_url", "is not a valid URL")
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := s.client.Do(req)
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return apperr.InvalidField("webhook_url", "did not answer the challenge within %d seconds", int(ChallengeTimeout/time.Second))
	case err != nil:
		return apperr.InvalidField("webhook_url", "could not be reached for the challenge: %s", reachError(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch {
	case err != nil:
		return apperr.InvalidField("webhook_url", "broke off its answer to the challenge")
	case resp.StatusCode != http.StatusOK:
		return apperr.InvalidField("webhook_url", "answered the challenge with HTTP %d; it must answer 200 with the challenge value as the body", resp.StatusCode)
	case string(body) != value:
		return apperr.InvalidField("webhook_url", "answered the challenge with a body other than the challenge value; it must echo the challenge query parameter exactly")
	}
	return nil
}

// reachError says why a URL could not be reached without echoing anything
// the URL's server said.
func reachError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Sprintf("%.200s", err.Error())
}

const userAgent = "confhub-webhooks/1.0"
