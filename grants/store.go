package grants

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/confhub/confhub/connectors/zoom"
	"github.com/confhub/confhub/internal/apperr"
	"github.com/confhub/confhub/internal/database"
	"github.com/confhub/confhub/internal/vault"
	"github.com/confhub/confhub/internal/webhooks"
)

// Store keeps grants in PostgreSQL. Every query is scoped by application id.
type Store struct {
	pool      *pgxpool.Pool
	vault     *vault.Keyring
	calendars Calendars
}

// Calendars gives a new virtual-calendar grant its primary calendar, within
// the grant's own transaction. The events feature owns calendars.
type Calendars interface {
	EnsurePrimaryCalendar(ctx context.Context, tx pgx.Tx, appID, grantID uuid.UUID, name string) error
}

// NewStore returns a Store.
func NewStore(pool *pgxpool.Pool, kr *vault.Keyring, cals Calendars) *Store {
	return &Store{pool: pool, vault: kr, calendars: cals}
}

const grantColumns = `id, application_id, provider, grant_status, COALESCE(invalid_reason, ''), email, COALESCE(name, ''),
	provider_user_id, COALESCE(provider_account_id, ''), scope, created_at, updated_at, account_level`

func scanGrant(r pgx.CollectableRow) (Grant, error) {
	var g Grant
	err := r.Scan(&g.ID, &g.ApplicationID, &g.Provider, &g.Status, &g.InvalidReason, &g.Email, &g.Name,
		&g.ProviderUserID, &g.ProviderAccountID, &g.Scope, &g.CreatedAt, &g.UpdatedAt, &g.AccountLevel)
	return g, err
}

func errGrantNotFound() error { return apperr.NotFoundf("grant not found") }

// Get returns one grant of the application.
func (s *Store) Get(ctx context.Context, appID uuid.UUID, id string) (Grant, error) {
	gid, err := uuid.Parse(id)
	if err != nil {
		return Grant{}, errGrantNotFound()
	}
	return database.QueryOne(ctx, s.pool, scanGrant, errGrantNotFound(), `SELECT `+grantColumns+` FROM grants WHERE application_id = $1 AND id = $2`, appID, gid)
}

// GetMany returns the application's grants among ids (those that exist), in
// one query.
func (s *Store) GetMany(ctx context.Context, appID uuid.UUID, ids []uuid.UUID) ([]Grant, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+grantColumns+` FROM grants WHERE application_id = $1 AND id = ANY($2)`, appID, ids)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanGrant)
}

// List returns a page of the application's grants.
func (s *Store) List(ctx context.Context, appID uuid.UUID, f ListFilter) ([]Grant, error) {
	if f.Provider != "" && f.Provider != ProviderZoom && f.Provider != ProviderVirtualCalendar {
		return nil, apperr.InvalidField("provider", "unknown provider %q (supported: zoom, virtual-calendar)", f.Provider)
	}
	if f.Status != "" && f.Status != StatusValid && f.Status != StatusInvalid {
		return nil, apperr.InvalidField("grant_status", "must be valid or invalid")
	}
	if len(f.Email) > 320 || strings.IndexFunc(f.Email, unicode.IsControl) >= 0 {
		return nil, apperr.InvalidField("email", "must be at most 320 characters without control characters")
	}
	rows, err := s.pool.Query(ctx, `SELECT `+grantColumns+` FROM grants WHERE application_id = $1
		AND ($2 = '' OR provider = $2) AND ($3 = '' OR grant_status = $3) AND ($4 = '' OR lower(email) = lower($4))
		ORDER BY created_at, id LIMIT $5 OFFSET $6`, appID, f.Provider, f.Status, f.Email, f.Limit, f.Offset)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanGrant)
}

// Update changes a grant's display name.
func (s *Store) Update(ctx context.Context, appID uuid.UUID, id string, in UpdateInput) (Grant, error) {
	gid, err := uuid.Parse(id)
	if err != nil {
		return Grant{}, errGrantNotFound()
	}
	if in.Name != nil && (len(*in.Name) > 256 || strings.IndexFunc(*in.Name, unicode.IsControl) >= 0) {
		return Grant{}, apperr.InvalidField("name", "must be at most 256 characters without control characters")
	}
	var g Grant
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		g, err = database.QueryOne(ctx, tx, scanGrant, errGrantNotFound(), `UPDATE grants SET name = COALESCE($3, name), updated_at = now()
			WHERE application_id = $1 AND id = $2 RETURNING `+grantColumns, appID, gid, in.Name)
		if err != nil {
			return err
		}
		return tell(ctx, tx, webhooks.GrantUpdated, g)
	})
	return g, err
}

// heldToken is a deleted grant's refresh token, to revoke at Zoom with the
// app it was issued to.
type heldToken struct {
	refresh     string
	connectorID *uuid.UUID
}

// deleteGrant removes the grant (and with it its tokens) and returns the
// Zoom token it held so the caller can revoke it at Zoom.
func (s *Store) deleteGrant(ctx context.Context, appID uuid.UUID, id string) (Grant, heldToken, error) {
	gid, err := uuid.Parse(id)
	if err != nil {
		return Grant{}, heldToken{}, errGrantNotFound()
	}
	var g Grant
	var held heldToken
	var refreshEnc *string
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+grantColumns+` FROM grants WHERE application_id = $1 AND id = $2 FOR UPDATE`, appID, gid)
		if err != nil {
			return err
		}
		if g, err = pgx.CollectExactlyOneRow(rows, scanGrant); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return errGrantNotFound()
			}
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT refresh_token_enc, connector_id FROM grants WHERE id = $1`, gid).Scan(&refreshEnc, &held.connectorID); err != nil {
			return err
		}
		// An install's users cannot work without it: they go with it, each
		// with its grant.deleted (the foreign key would delete them silently).
		rows, err = tx.Query(ctx, `DELETE FROM grants WHERE application_id = $1 AND installation_grant_id = $2 RETURNING `+grantColumns, appID, gid)
		if err != nil {
			return err
		}
		under, err := pgx.CollectRows(rows, scanGrant)
		if err != nil {
			return err
		}
		if err := tellEach(ctx, tx, webhooks.GrantDeleted, under); err != nil {
			return err
		}
		if _, err = tx.Exec(ctx, `DELETE FROM grants WHERE application_id = $1 AND id = $2`, appID, gid); err != nil {
			return err
		}
		return tell(ctx, tx, webhooks.GrantDeleted, g)
	})
	if err != nil {
		return Grant{}, heldToken{}, err
	}
	if refreshEnc != nil {
		held.refresh, _ = s.vault.Open(*refreshEnc, tokenBinding(appID, gid, "refresh_token_enc"))
	}
	return g, held, nil
}

// keepInstall refuses to turn an admin's install that has users under it
// into the admin's own user-level grant (the admin connecting through the
// application's user-level connector): every user under it would lose
// their meetings' host token without a word.
func keepInstall(ctx context.Context, tx pgx.Tx, id uuid.UUID) error {
	var users int
	err := tx.QueryRow(ctx, `SELECT count(*) FROM grants WHERE installation_grant_id = $1`, id).Scan(&users)
	if err != nil || users == 0 {
		return err
	}
	return apperr.Conflictf("this Zoom user's grant %s is the company's install of the account-level Zoom connector, serving %d users: "+
		"it stays an install; their meetings are already made with it", id, users)
}

// upsertZoom stores a Zoom user's tokens in the application's grant for that
// user: a new grant, or the existing one re-authenticated (same id, valid
// again). The row id is settled before sealing, because ciphertexts are
// bound to it.
func (s *Store) upsertZoom(ctx context.Context, appID, connectorID uuid.UUID, installation bool, u zoom.User, tok *zoom.Token, now time.Time) (Grant, error) {
	name := strings.TrimSpace(u.FirstName + " " + u.LastName)
	var g Grant
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		id, created, err := lockOrInsert(ctx, tx, appID, connectorID, ProviderZoom, u.ID, u.Email)
		if err != nil {
			return err
		}
		if !installation && !created {
			if err := keepInstall(ctx, tx, id); err != nil {
				return err
			}
		}
		access, err := s.vault.Seal(tok.AccessToken, tokenBinding(appID, id, "access_token_enc"))
		if err != nil {
			return err
		}
		refresh, err := s.vault.Seal(tok.RefreshToken, tokenBinding(appID, id, "refresh_token_enc"))
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `UPDATE grants SET grant_status = 'valid', invalid_reason = NULL, connector_id = $3, account_level = false,
			email = $4, name = NULLIF($5, ''), provider_account_id = $6, scope = $7, access_token_enc = $8, refresh_token_enc = $9,
			access_expires_at = $10, token_version = token_version + 1, last_refreshed_at = $11, connected_at = $11, updated_at = now(),
			installation = $12, installation_grant_id = NULL
			WHERE application_id = $1 AND id = $2 RETURNING `+grantColumns,
			appID, id, connectorID, u.Email, name, u.AccountID, tok.Scopes, access, refresh, tok.Expiry, now, installation)
		if err != nil {
			return err
		}
		if g, err = pgx.CollectExactlyOneRow(rows, scanGrant); err != nil {
			return err
		}
		return tell(ctx, tx, createdOrUpdated(created), g)
	})
	return g, connectorDeleted(err)
}

// upsertVirtualCalendar returns the application's virtual-calendar grant for
// email, creating it and its primary calendar the first time.
func (s *Store) upsertVirtualCalendar(ctx context.Context, appID, connectorID uuid.UUID, email string) (Grant, error) {
	var g Grant
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		id, created, err := lockOrInsert(ctx, tx, appID, connectorID, ProviderVirtualCalendar, email, email)
		if err != nil {
			return err
		}
		if err := s.calendars.EnsurePrimaryCalendar(ctx, tx, appID, id, email); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `UPDATE grants SET grant_status = 'valid', invalid_reason = NULL, connector_id = $3, updated_at = now()
			WHERE application_id = $1 AND id = $2 RETURNING `+grantColumns, appID, id, connectorID)
		if err != nil {
			return err
		}
		if g, err = pgx.CollectExactlyOneRow(rows, scanGrant); err != nil {
			return err
		}
		if !created {
			return nil // connecting a virtual calendar again changes nothing to tell
		}
		return tell(ctx, tx, webhooks.GrantCreated, g)
	})
	return g, connectorDeleted(err)
}

// connectorDeleted names what a grant write's foreign-key failure on its
// connector means: the connector, read before the round trip to Zoom, was
// deleted before the write.
func connectorDeleted(err error) error {
	var pg *pgconn.PgError
	if errors.As(err, &pg) && pg.Code == "23503" && pg.ConstraintName == "grants_connector_id_fkey" {
		return apperr.Conflictf("the application's connector was deleted while the user was being connected: register it again, then connect again")
	}
	return err
}

// lockOrInsert returns the id of the grant for (application, provider, user),
// inserting it if needed (created), with the row locked for the rest of tx.
func lockOrInsert(ctx context.Context, tx pgx.Tx, appID, connectorID uuid.UUID, provider, providerUserID, email string) (uuid.UUID, bool, error) {
	var id uuid.UUID
	err := tx.QueryRow(ctx, `INSERT INTO grants (id, application_id, provider, connector_id, provider_user_id, email)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (application_id, provider, provider_user_id) DO NOTHING RETURNING id`,
		uuid.New(), appID, provider, connectorID, providerUserID, email).Scan(&id)
	if err == nil {
		return id, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, false, err
	}
	err = tx.QueryRow(ctx, `SELECT id FROM grants WHERE application_id = $1 AND provider = $2 AND provider_user_id = $3 FOR UPDATE`,
		appID, provider, providerUserID).Scan(&id)
	if err != nil {
		return uuid.Nil, false, fmt.Errorf("grant for %s: %w", provider, err)
	}
	return id, false, nil
}

// createdOrUpdated: a Zoom user connecting again is the same grant, updated.
func createdOrUpdated(created bool) string {
	if created {
		return webhooks.GrantCreated
	}
	return webhooks.GrantUpdated
}

// applyZoomDeauthorization applies a verified deauthorization once: it
// records the notice's receipt (the SHA-256 of its signature, kept until
// expires) and marks invalid, erasing their tokens, the Zoom grants of the
// user made with those connectors (the Zoom app the notice names, in each
// application that registered it) that were connected no later than at, when the
// user removed the app. A receipt already there means the notice was
// applied: first is false and nothing changes. A grant connected after at
// holds tokens Zoom issued after the removal, which the notice does not
// touch. Zoom's times have milliseconds: a connection in the notice's own
// millisecond counts as before it. Receipts past their expiry are pruned on
// the way.
func (s *Store) applyZoomDeauthorization(ctx context.Context, receipt []byte, expires, now time.Time, connectorIDs, appIDs []uuid.UUID,
	zoomUserID string, at time.Time, reason string) (first bool, invalidated int64, err error) {
	if err := s.pruneZoomReceipts(ctx, now); err != nil {
		return false, 0, err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if first, err = insertReceipt(ctx, tx, receipt, expires); err != nil || !first {
			return err
		}
		// A grant whose connector was deleted since may still hold the
		// user's tokens of this app (which app is no longer known): the
		// notice erases such tokens too.
		invalidated, err = expire(ctx, tx, reason, `(g.connector_id = ANY($2) OR (g.connector_id IS NULL AND g.refresh_token_enc IS NOT NULL AND g.application_id = ANY($5)))
			AND g.provider = 'zoom' AND g.provider_user_id = $3 AND date_trunc('milliseconds', g.connected_at) <= $4`,
			connectorIDs, zoomUserID, at, appIDs)
		return err
	})
	if err != nil {
		return false, 0, err
	}
	return first, invalidated, nil
}

// pruneZoomReceipts drops receipts past their expiry. It runs outside the
// transaction that claims one: notices arriving together do not wait on
// each other's row locks for it.
func (s *Store) pruneZoomReceipts(ctx context.Context, now time.Time) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM zoom_webhook_receipts WHERE expires_at < $1`, now)
	return err
}

// claimZoomReceipt records a notice's receipt (the SHA-256 of its
// signature, kept until expires); first is false when it was there already.
func (s *Store) claimZoomReceipt(ctx context.Context, receipt []byte, expires, now time.Time) (first bool, err error) {
	if err := s.pruneZoomReceipts(ctx, now); err != nil {
		return false, err
	}
	return insertReceipt(ctx, s.pool, receipt, expires)
}

// insertReceipt records a receipt; first is false when it was there already.
func insertReceipt(ctx context.Context, db interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}, receipt []byte, expires time.Time) (first bool, err error) {
	tag, err := db.Exec(ctx, `INSERT INTO zoom_webhook_receipts (signature_sha256, expires_at) VALUES ($1, $2)
		ON CONFLICT (signature_sha256) DO NOTHING`, receipt, expires)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// invalidate marks a grant invalid and erases its tokens, in tx (with its
// grant.expired, unless it was invalid already).
func invalidate(ctx context.Context, tx pgx.Tx, appID, grantID uuid.UUID, reason string) error {
	_, err := expire(ctx, tx, reason, `g.application_id = $2 AND g.id = $3`, appID, grantID)
	return err
}
