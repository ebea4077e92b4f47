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

// Create registers a connector: one per provider per application, and for
// Zoom one of each level.
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
		if p == Zoom {
			l := settings.level()
			return Connector{}, apperr.Conflictf("a %s-level zoom connector already exists for this application; update it with "+
				"PATCH /v3/connectors/zoom?level=%s (an application has at most one user-level and one account-level Zoom connector)", l, l)
		}
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

// Get returns the application's connector for a provider: the only one, or
// with two Zoom connectors the one of the level asked for.
func (s *Store) Get(ctx context.Context, appID uuid.UUID, provider, level string) (Connector, error) {
	return s.resolve(ctx, s.pool, appID, provider, level, "")
}

// resolve finds the connector a path (and its ?level) names. With two Zoom
// connectors and no level it refuses to guess: acting on the wrong one
// could cut off a whole company, or every user who connected alone.
func (s *Store) resolve(ctx context.Context, q database.Querier, appID uuid.UUID, provider, level, lock string) (Connector, error) {
	p, err := ParseProvider("provider", provider)
	if err != nil {
		return Connector{}, err
	}
	l, err := ParseLevel("level", level)
	if err != nil {
		return Connector{}, err
	}
	rows, err := q.Query(ctx, `SELECT `+selectColumns+` FROM connectors WHERE application_id = $1 AND provider = $2
		AND ($3 = '' OR level = $3) ORDER BY level DESC `+lock, appID, string(p), string(l))
	if err != nil {
		return Connector{}, err
	}
	found, err := pgx.CollectRows(rows, scanConnector)
	switch {
	case err != nil:
		return Connector{}, err
	case len(found) == 0 && l != "":
		return Connector{}, apperr.NotFoundf("no %s-level %s connector for this application", l, p)
	case len(found) == 0:
		return Connector{}, notFound(p)
	case len(found) > 1:
		return Connector{}, apperr.InvalidField("level", "is required: this application has a user-level and an account-level %s "+
			"connector; add ?level=user or ?level=account", p)
	}
	return found[0], nil
}

// Update changes name and, when given, replaces the settings whole. The
// connector's kind (user-level, Server-to-Server or admin-managed) stays:
// its grants were made for that kind.
func (s *Store) Update(ctx context.Context, appID uuid.UUID, provider, level string, in UpdateInput) (Connector, error) {
	_, replace, settings, err := ValidateUpdate(provider, in)
	if err != nil {
		return Connector{}, err
	}
	var out Connector
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		cur, err := s.resolve(ctx, tx, appID, provider, level, "FOR UPDATE")
		if err != nil {
			return err
		}
		q := `UPDATE connectors SET name = COALESCE($3, name), updated_at = now() WHERE id = $1 AND application_id = $2 RETURNING ` + selectColumns
		args := []any{cur.ID, appID, in.Name}
		if replace {
			if err := sameKind(cur, settings); err != nil {
				return err
			}
			clientID, secretEnc, tokenEnc, err := s.seal(appID, cur.ID, settings)
			if err != nil {
				return err
			}
			q = `UPDATE connectors SET name = COALESCE($3, name), client_id = $4, client_secret_enc = $5, secret_token_enc = $6,
				account_id = $7, updated_at = now() WHERE id = $1 AND application_id = $2 RETURNING ` + selectColumns
			args = append(args, clientID, secretEnc, tokenEnc, settings.AccountID)
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

// sameKind refuses settings that would turn a Zoom connector into another
// kind: a user-level app's grants hold tokens of their own, a
// Server-to-Server app's use the account token, an admin-managed app's need
// an install. Changing credentials (even the account id) is fine.
func sameKind(cur Connector, z ZoomSettings) error {
	if cur.Provider != Zoom {
		return nil
	}
	switch {
	case cur.AccountID != "" && z.AccountID == nil:
		return apperr.InvalidField("settings.account_id", "is required: this connector is a Server-to-Server app and stays one "+
			"(settings replace the stored ones whole); for a user-level app create another Zoom connector")
	case cur.AccountID == "" && z.AccountID != nil:
		return apperr.InvalidField("settings.account_id", "cannot be added: a connector's kind is fixed at creation (its grants were made "+
			"for it); create an account-level Zoom connector instead (an application may have one of each level)")
	case cur.AccountLevel && !z.IsAccountLevel():
		return apperr.InvalidField("settings.account_level", "must stay true: this connector is an admin-managed app and stays one "+
			"(settings replace the stored ones whole)")
	case !cur.AccountLevel && z.IsAccountLevel():
		return apperr.InvalidField("settings.account_level", "cannot be set: a connector's kind is fixed at creation (its grants were "+
			"made for it); create an account-level Zoom connector instead (an application may have one of each level)")
	}
	return nil
}

// Delete removes the application's connector for a provider (and level).
func (s *Store) Delete(ctx context.Context, appID uuid.UUID, provider, level string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		cur, err := s.resolve(ctx, tx, appID, provider, level, "FOR UPDATE")
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM connectors WHERE application_id = $1 AND id = $2`, appID, cur.ID)
		return err
	})
}

// ZoomApps returns the credentials of the application's Zoom connectors
// (none, one, or one of each level), user-level first.
func (s *Store) ZoomApps(ctx context.Context, appID uuid.UUID) ([]ZoomCredentials, error) {
	return s.zoomCredentials(ctx, appID, nil)
}

// ZoomCredentials returns the decrypted credentials of one of the
// application's Zoom connectors: the one a grant was made with.
func (s *Store) ZoomCredentials(ctx context.Context, appID, connectorID uuid.UUID) (ZoomCredentials, error) {
	list, err := s.zoomCredentials(ctx, appID, &connectorID)
	if err != nil {
		return ZoomCredentials{}, err
	}
	if len(list) == 0 {
		return ZoomCredentials{}, apperr.NotFoundf("the zoom connector %s no longer exists", connectorID)
	}
	return list[0], nil
}

// zoomCredentials: the connector with connectorID, or all when it is nil.
func (s *Store) zoomCredentials(ctx context.Context, appID uuid.UUID, connectorID *uuid.UUID) ([]ZoomCredentials, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, client_id, client_secret_enc, secret_token_enc, COALESCE(account_id, ''), account_level
		FROM connectors WHERE application_id = $1 AND provider = 'zoom' AND ($2::uuid IS NULL OR id = $2)
		ORDER BY level DESC`, appID, connectorID)
	if err != nil {
		return nil, err
	}
	type row struct {
		c         ZoomCredentials
		secretEnc string
		tokenEnc  *string
	}
	found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		return x, r.Scan(&x.c.ConnectorID, &x.c.ClientID, &x.secretEnc, &x.tokenEnc, &x.c.AccountID, &x.c.AccountLevel)
	})
	if err != nil {
		return nil, err
	}
	out := make([]ZoomCredentials, 0, len(found))
	for _, x := range found {
		c := x.c
		if c.ClientSecret, err = s.vault.Open(x.secretEnc, binding(appID, c.ConnectorID, "client_secret_enc")); err != nil {
			return nil, fmt.Errorf("zoom connector client secret: %w", err)
		}
		if x.tokenEnc != nil {
			if c.SecretToken, err = s.vault.Open(*x.tokenEnc, binding(appID, c.ConnectorID, "secret_token_enc")); err != nil {
				return nil, fmt.Errorf("zoom connector secret token: %w", err)
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// ConnectorID returns the id of the application's user-level connector for
// provider (virtual-calendar connectors are all user-level).
func (s *Store) ConnectorID(ctx context.Context, appID uuid.UUID, provider string) (uuid.UUID, error) {
	var id uuid.UUID
	err := s.pool.QueryRow(ctx, `SELECT id FROM connectors WHERE application_id = $1 AND provider = $2 AND level = 'user'`, appID, provider).Scan(&id)
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
