package connectors

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/confhub/confhub/internal/apperr"
	"github.com/confhub/confhub/internal/database"
	"github.com/confhub/confhub/internal/vault"
)

// Store keeps connectors in PostgreSQL, secrets sealed by the vault. Every
// query is scoped by application id.
type Store struct {
	pool  *pgxpool.Pool
	vault *vault.Keyring
}

// NewStore returns a Store.
func NewStore(pool *pgxpool.Pool, kr *vault.Keyring) *Store {
	return &Store{pool: pool, vault: kr}
}

const selectColumns = `id, provider, name, COALESCE(client_id, ''), COALESCE(account_id, ''), account_level, client_secret_enc IS NOT NULL,
	secret_token_enc IS NOT NULL, created_at, updated_at`

func scanConnector(r pgx.CollectableRow) (Connector, error) {
	var c Connector
	var p string
	err := r.Scan(&c.ID, &p, &c.Name, &c.ClientID, &c.AccountID, &c.AccountLevel, &c.HasSecret, &c.HasSecretToken, &c.CreatedAt, &c.UpdatedAt)
	c.Provider = Provider(p)
	return c, err
}

// Create registers a connector; one per provider per application.
func (s *Store) Create(ctx context.Context, appID uuid.UUID, in CreateInput) (Connector, error) {
	p, name, settings, err := ValidateCreate(in)
	if err != nil {
		return Connector{}, err
	}
	id := uuid.New()
	clientID, secretEnc, tokenEnc, err := s.seal(appID, id, settings)
	if err != nil {
		return Connector{}, err
	}
	rows, err := s.pool.Query(ctx, `INSERT INTO connectors (id, application_id, provider, name, client_id, client_secret_enc, secret_token_enc, account_id,
		account_level) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING `+selectColumns,
		id, appID, string(p), name, clientID, secretEnc, tokenEnc, settings.AccountID, settings.IsAccountLevel())
	if err != nil {
		return Connector{}, err
	}
	c, err := pgx.CollectExactlyOneRow(rows, scanConnector)
	var pg *pgconn.PgError
	if errors.As(err, &pg) && pg.Code == "23505" {
		return Connector{}, apperr.Conflictf("a %s connector already exists for this application; update it with PATCH /v3/connectors/%s", p, p)
	}
	return c, err
}

// List returns a page of the application's connectors.
func (s *Store) List(ctx context.Context, appID uuid.UUID, limit, offset int) ([]Connector, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+selectColumns+` FROM connectors WHERE application_id = $1
		ORDER BY created_at, id LIMIT $2 OFFSET $3`, appID, limit, offset)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanConnector)
}

// Get returns the application's connector for a provider.
func (s *Store) Get(ctx context.Context, appID uuid.UUID, provider string) (Connector, error) {
	p, err := ParseProvider("provider", provider)
	if err != nil {
		return Connector{}, err
	}
	return database.QueryOne(ctx, s.pool, scanConnector, notFound(p), `SELECT `+selectColumns+` FROM connectors WHERE application_id = $1 AND provider = $2`, appID, string(p))
}

// Update changes name and, when given, replaces the settings whole.
func (s *Store) Update(ctx context.Context, appID uuid.UUID, provider string, in UpdateInput) (Connector, error) {
	p, replace, settings, err := ValidateUpdate(provider, in)
	if err != nil {
		return Connector{}, err
	}
	var out Connector
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var id uuid.UUID
		err := tx.QueryRow(ctx, `SELECT id FROM connectors WHERE application_id = $1 AND provider = $2 FOR UPDATE`,
			appID, string(p)).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound(p)
		}
		if err != nil {
			return err
		}
		q := `UPDATE connectors SET name = COALESCE($3, name), updated_at = now() WHERE id = $1 AND application_id = $2 RETURNING ` + selectColumns
		args := []any{id, appID, in.Name}
		if replace {
			clientID, secretEnc, tokenEnc, err := s.seal(appID, id, settings)
			if err != nil {
				return err
			}
			q = `UPDATE connectors SET name = COALESCE($3, name), client_id = $4, client_secret_enc = $5, secret_token_enc = $6,
				account_id = $7, account_level = $8, updated_at = now() WHERE id = $1 AND application_id = $2 RETURNING ` + selectColumns
			args = append(args, clientID, secretEnc, tokenEnc, settings.AccountID, settings.IsAccountLevel())
		}
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectExactlyOneRow(rows, scanConnector)
		return err
	})
	return out, err
}

// Delete removes the application's connector for a provider.
func (s *Store) Delete(ctx context.Context, appID uuid.UUID, provider string) error {
	p, err := ParseProvider("provider", provider)
	if err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM connectors WHERE application_id = $1 AND provider = $2`, appID, string(p))
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return notFound(p)
	}
	return nil
}

// ZoomCredentials returns the application's decrypted Zoom app credentials.
func (s *Store) ZoomCredentials(ctx context.Context, appID uuid.UUID) (ZoomCredentials, error) {
	var c ZoomCredentials
	var secretEnc string
	var tokenEnc *string
	err := s.pool.QueryRow(ctx, `SELECT id, client_id, client_secret_enc, secret_token_enc, COALESCE(account_id, ''), account_level
		FROM connectors WHERE application_id = $1 AND provider = 'zoom'`, appID).Scan(&c.ConnectorID, &c.ClientID, &secretEnc, &tokenEnc,
		&c.AccountID, &c.AccountLevel)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, notFound(Zoom)
	}
	if err != nil {
		return c, err
	}
	if c.ClientSecret, err = s.vault.Open(secretEnc, binding(appID, c.ConnectorID, "client_secret_enc")); err != nil {
		return ZoomCredentials{}, fmt.Errorf("zoom connector client secret: %w", err)
	}
	if tokenEnc != nil {
		if c.SecretToken, err = s.vault.Open(*tokenEnc, binding(appID, c.ConnectorID, "secret_token_enc")); err != nil {
			return ZoomCredentials{}, fmt.Errorf("zoom connector secret token: %w", err)
		}
	}
	return c, nil
}

// ConnectorID returns the id of the application's connector for provider.
func (s *Store) ConnectorID(ctx context.Context, appID uuid.UUID, provider string) (uuid.UUID, error) {
	var id uuid.UUID
	err := s.pool.QueryRow(ctx, `SELECT id FROM connectors WHERE application_id = $1 AND provider = $2`, appID, provider).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return id, notFound(Provider(provider))
	}
	return id, err
}

// ZoomWebhookSecrets returns the secret tokens of the Zoom connectors with
// this client id (several applications may register the same Zoom app), or
// of every Zoom connector when clientID is empty (Zoom's URL validation
// names no client id).
func (s *Store) ZoomWebhookSecrets(ctx context.Context, clientID string) ([]WebhookSecret, error) {
	rows, err := s.pool.Query(ctx, `SELECT application_id, id, secret_token_enc FROM connectors
		WHERE provider = 'zoom' AND secret_token_enc IS NOT NULL AND ($1 = '' OR client_id = $1)`, clientID)
	if err != nil {
		return nil, err
	}
	type row struct {
		app, id uuid.UUID
		enc     string
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		return x, r.Scan(&x.app, &x.id, &x.enc)
	})
	if err != nil {
		return nil, err
	}
	out := make([]WebhookSecret, 0, len(list))
	for _, x := range list {
		tok, err := s.vault.Open(x.enc, binding(x.app, x.id, "secret_token_enc"))
		if err != nil {
			return nil, fmt.Errorf("zoom connector secret token: %w", err)
		}
		out = append(out, WebhookSecret{ApplicationID: x.app, ConnectorID: x.id, SecretToken: tok})
	}
	return out, nil
}

func (s *Store) seal(appID, id uuid.UUID, z ZoomSettings) (clientID, secretEnc, tokenEnc *string, err error) {
	clientID = z.ClientID
	if z.ClientSecret != nil {
		v, err := s.vault.Seal(*z.ClientSecret, binding(appID, id, "client_secret_enc"))
		if err != nil {
			return nil, nil, nil, err
		}
		secretEnc = &v
	}
	if z.SecretToken != nil {
		v, err := s.vault.Seal(*z.SecretToken, binding(appID, id, "secret_token_enc"))
		if err != nil {
			return nil, nil, nil, err
		}
		tokenEnc = &v
	}
	return clientID, secretEnc, tokenEnc, nil
}

func binding(appID, id uuid.UUID, column string) vault.Binding {
	return vault.Binding{ApplicationID: appID.String(), Table: "connectors", RowID: id.String(), Column: column}
}

func notFound(p Provider) error {
	return apperr.NotFoundf("no %s connector for this application", p)
}
