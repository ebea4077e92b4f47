package applications

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/confhub/confhub/internal/apperr"
	"github.com/confhub/confhub/internal/database"
)

// Store is the applications feature: tenants, keys and redirect URIs, in
// PostgreSQL. Every query on tenant data filters by application id.
type Store struct {
	pool *pgxpool.Pool

	// Verified keys are remembered briefly, saving a query per request. Only
	// successes are cached, keyed by the key's SHA-256, never the key itself.
	mu   sync.Mutex
	keys map[[32]byte]cachedKey
}

type cachedKey struct {
	app     uuid.UUID
	expires time.Time
}

// keyCacheTTL bounds how long a deleted key keeps working in one process.
const keyCacheTTL = 30 * time.Second

// NewStore returns a Store on pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool, keys: map[[32]byte]cachedKey{}} }

// Create makes an application and its first API key. The key is returned
// here and never again.
func (s *Store) Create(ctx context.Context, name string) (Application, string, error) {
	if strings.TrimSpace(name) == "" || len(name) > 256 || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return Application{}, "", apperr.InvalidField("name", "must be 1 to 256 characters, without control characters")
	}
	app := Application{ID: uuid.New(), Name: name}
	id, secret, key := newAPIKey()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx,
			`INSERT INTO applications (id, name) VALUES ($1, $2) RETURNING created_at, updated_at`,
			app.ID, app.Name).Scan(&app.CreatedAt, &app.UpdatedAt); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO api_keys (id, application_id, secret_sha256) VALUES ($1, $2, $3)`,
			id, app.ID, hashSecret(secret))
		return err
	})
	if err != nil {
		return Application{}, "", fmt.Errorf("create application: %w", err)
	}
	return app, key, nil
}

// Authenticate returns the application an API key belongs to.
func (s *Store) Authenticate(ctx context.Context, key string) (uuid.UUID, error) {
	sum := sha256.Sum256([]byte(key))
	s.mu.Lock()
	c, hit := s.keys[sum]
	s.mu.Unlock()
	if hit && time.Now().Before(c.expires) {
		return c.app, nil
	}
	app, err := s.authenticate(ctx, key)
	if err == nil {
		s.mu.Lock()
		if len(s.keys) > 10000 {
			clear(s.keys)
		}
		s.keys[sum] = cachedKey{app: app, expires: time.Now().Add(keyCacheTTL)}
		s.mu.Unlock()
	}
	return app, err
}

func (s *Store) authenticate(ctx context.Context, key string) (uuid.UUID, error) {
	id, secret, ok := parseAPIKey(key)
	if !ok {
		return uuid.Nil, apperr.Unauthorizedf("invalid API key")
	}
	var appID uuid.UUID
	var stored []byte
	err := s.pool.QueryRow(ctx, `SELECT application_id, secret_sha256 FROM api_keys WHERE id = $1`, id).Scan(&appID, &stored)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, apperr.Unauthorizedf("invalid API key")
	}
	if err != nil {
		return uuid.Nil, fmt.Errorf("authenticate: %w", err)
	}
	if !secretMatches(secret, stored) {
		return uuid.Nil, apperr.Unauthorizedf("invalid API key")
	}
	return appID, nil
}

// Get returns an application.
func (s *Store) Get(ctx context.Context, appID uuid.UUID) (Application, error) {
	var a Application
	err := s.pool.QueryRow(ctx, `SELECT id, name, created_at, updated_at FROM applications WHERE id = $1`, appID).
		Scan(&a.ID, &a.Name, &a.CreatedAt, &a.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, apperr.NotFoundf("application not found")
	}
	return a, err
}

// List returns every application, oldest first (operator use: `make run` seeds one).
func (s *Store) List(ctx context.Context) ([]Application, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, name, created_at, updated_at FROM applications ORDER BY created_at`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Application, error) {
		var a Application
		return a, r.Scan(&a.ID, &a.Name, &a.CreatedAt, &a.UpdatedAt)
	})
}

// CreateRedirectURI registers a redirect URI.
func (s *Store) CreateRedirectURI(ctx context.Context, appID uuid.UUID, in RedirectURIInput) (RedirectURI, error) {
	r, err := ValidateNewRedirectURI(in)
	if err != nil {
		return r, err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Lock the application row so the count check and insert are one step.
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM redirect_uris WHERE application_id = (
			SELECT id FROM applications WHERE id = $1 FOR UPDATE)`, appID).Scan(&n); err != nil {
			return err
		}
		if n >= MaxRedirectURIs {
			return apperr.Conflictf("an application may register at most %d redirect URIs", MaxRedirectURIs)
		}
		return tx.QueryRow(ctx, `INSERT INTO redirect_uris (id, application_id, url, platform) VALUES ($1, $2, $3, $4)
			RETURNING created_at, updated_at`, r.ID, appID, r.URL, r.Platform).Scan(&r.CreatedAt, &r.UpdatedAt)
	})
	if err != nil {
		return RedirectURI{}, mapRedirectErr(err)
	}
	return r, nil
}

// ListRedirectURIs lists an application's redirect URIs, oldest first.
func (s *Store) ListRedirectURIs(ctx context.Context, appID uuid.UUID) ([]RedirectURI, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, url, platform, created_at, updated_at FROM redirect_uris
		WHERE application_id = $1 ORDER BY created_at, id`, appID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanRedirectURI)
}

// GetRedirectURI returns one redirect URI of the application.
func (s *Store) GetRedirectURI(ctx context.Context, appID uuid.UUID, id string) (RedirectURI, error) {
	uid, err := uuid.Parse(id)
	if err != nil {
		return RedirectURI{}, errRedirectNotFound
	}
	return database.QueryOne(ctx, s.pool, scanRedirectURI, errRedirectNotFound, `SELECT id, url, platform, created_at, updated_at FROM redirect_uris
		WHERE application_id = $1 AND id = $2`, appID, uid)
}

// UpdateRedirectURI changes the fields present in in.
func (s *Store) UpdateRedirectURI(ctx context.Context, appID uuid.UUID, id string, in RedirectURIInput) (RedirectURI, error) {
	uid, err := uuid.Parse(id)
	if err != nil {
		return RedirectURI{}, errRedirectNotFound
	}
	if err := ValidateRedirectURIChange(in); err != nil {
		return RedirectURI{}, err
	}
	rows, err := s.pool.Query(ctx, `UPDATE redirect_uris SET url = COALESCE($3, url), platform = COALESCE($4, platform),
		updated_at = now() WHERE application_id = $1 AND id = $2
		RETURNING id, url, platform, created_at, updated_at`, appID, uid, in.URL, in.Platform)
	if err != nil {
		return RedirectURI{}, mapRedirectErr(err)
	}
	r, err := pgx.CollectExactlyOneRow(rows, scanRedirectURI)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, errRedirectNotFound
	}
	if err != nil {
		return r, mapRedirectErr(err)
	}
	return r, nil
}

// DeleteRedirectURI removes one redirect URI of the application.
func (s *Store) DeleteRedirectURI(ctx context.Context, appID uuid.UUID, id string) error {
	uid, err := uuid.Parse(id)
	if err != nil {
		return errRedirectNotFound
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM redirect_uris WHERE application_id = $1 AND id = $2`, appID, uid)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return errRedirectNotFound
	}
	return nil
}

// HasRedirectURI reports whether url is registered, compared exactly.
func (s *Store) HasRedirectURI(ctx context.Context, appID uuid.UUID, url string) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM redirect_uris WHERE application_id = $1 AND url = $2)`,
		appID, url).Scan(&ok)
	return ok, err
}

var errRedirectNotFound = apperr.NotFoundf("redirect URI not found")

func scanRedirectURI(r pgx.CollectableRow) (RedirectURI, error) {
	var x RedirectURI
	return x, r.Scan(&x.ID, &x.URL, &x.Platform, &x.CreatedAt, &x.UpdatedAt)
}

func mapRedirectErr(err error) error {
	var pg *pgconn.PgError
	if errors.As(err, &pg) && pg.Code == "23505" {
		return apperr.Conflictf("this redirect URI is already registered")
	}
	return err
}
