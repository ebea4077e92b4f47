package grants

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/singleflight"

	"github.com/confhub/confhub/connectors"
	"github.com/confhub/confhub/connectors/zoom"
	"github.com/confhub/confhub/internal/apperr"
	"github.com/confhub/confhub/internal/vault"
)

// AccountAuth is the part of the Zoom client an account token needs.
type AccountAuth interface {
	AccountCredentials(ctx context.Context, app zoom.App, accountID string) (*zoom.Token, error)
}

// AccountToken is an account-level connector's token: it acts for every
// user of the connector's Zoom account.
type AccountToken struct {
	ConnectorID uuid.UUID
	Token       string
	Version     int64 // the stored token's fetch count
	ExpiresAt   time.Time
}

// AccountTokens hands out the tokens of account-level (Server-to-Server
// OAuth) Zoom connectors: one per connector, stored sealed and shared by
// every process and every grant under the connector. A token is fetched
// again once it has less than MinTokenLife left, or when Zoom refused it
// (Refetch). A fetch is single-flight within a process (singleflight) and
// across processes (the row's lock, the stored token re-read after taking
// it): however many requests find the token expired at once, Zoom is asked
// once. Zoom allows several valid account tokens at a time, so a process
// still holding the previous one does not break.
type AccountTokens struct {
	pool  *pgxpool.Pool
	vault *vault.Keyring
	zoom  AccountAuth
	creds Credentials
	now   func() time.Time
	log   *slog.Logger

	flight singleflight.Group
	mu     sync.Mutex
	cache  map[uuid.UUID]AccountToken
}

// NewAccountTokens returns an account-token manager.
func NewAccountTokens(pool *pgxpool.Pool, kr *vault.Keyring, z AccountAuth, creds Credentials, now func() time.Time, log *slog.Logger) *AccountTokens {
	if now == nil {
		now = time.Now
	}
	return &AccountTokens{pool: pool, vault: kr, zoom: z, creds: creds, now: now, log: log, cache: map[uuid.UUID]AccountToken{}}
}

func accountBinding(appID, connectorID uuid.UUID) vault.Binding {
	return vault.Binding{ApplicationID: appID.String(), Table: "zoom_account_tokens", RowID: connectorID.String(), Column: "access_token_enc"}
}

type accountRow struct {
	enc     *string
	expires *time.Time
	version int64
}

func (r accountRow) freshFor(now time.Time) bool {
	return r.enc != nil && r.expires != nil && r.expires.Sub(now) >= MinTokenLife
}

// ErrNotAccountLevel: the application's Zoom connector is a user-level app.
var errNotAccountLevel = apperr.InvalidField("provider", "the application's Zoom connector is a user-level app: it has no account token (set settings.account_id for a Server-to-Server OAuth app)")

// Get returns the application's account token, valid for MinTokenLife at least.
func (t *AccountTokens) Get(ctx context.Context, appID uuid.UUID) (AccountToken, error) {
	creds, err := t.creds.ZoomCredentials(ctx, appID)
	if err != nil {
		return AccountToken{}, err
	}
	if creds.AccountID == "" {
		return AccountToken{}, errNotAccountLevel
	}
	var r accountRow
	err = t.pool.QueryRow(ctx, `SELECT access_token_enc, expires_at, version FROM zoom_account_tokens WHERE id = $1`,
		creds.ConnectorID).Scan(&r.enc, &r.expires, &r.version)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return AccountToken{}, err
	}
	if r.freshFor(t.now()) {
		return t.open(appID, creds.ConnectorID, r)
	}
	return t.fetch(ctx, appID, r.version, false)
}

// Refetch is for a token Zoom refused (401/124): it fetches a new one unless
// the stored token changed since failedVersion (another caller fetched it).
func (t *AccountTokens) Refetch(ctx context.Context, appID uuid.UUID, failedVersion int64) (AccountToken, error) {
	return t.fetch(ctx, appID, failedVersion, true)
}

func (t *AccountTokens) open(appID, connectorID uuid.UUID, r accountRow) (AccountToken, error) {
	t.mu.Lock()
	c, ok := t.cache[connectorID]
	t.mu.Unlock()
	if ok && c.Version == r.version {
		return c, nil
	}
	plain, err := t.vault.Open(*r.enc, accountBinding(appID, connectorID))
	if err != nil {
		return AccountToken{}, fmt.Errorf("zoom account token of connector %s: %w", connectorID, err)
	}
	tok := AccountToken{ConnectorID: connectorID, Token: plain, Version: r.version, ExpiresAt: *r.expires}
	t.mu.Lock()
	t.cache[connectorID] = tok
	t.mu.Unlock()
	return tok, nil
}

func (t *AccountTokens) fetch(ctx context.Context, appID uuid.UUID, seenVersion int64, force bool) (AccountToken, error) {
	key := fmt.Sprintf("%s/%d/%t", appID, seenVersion, force)
	ch := t.flight.DoChan(key, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
		defer cancel()
		return t.fetchLocked(fctx, appID, seenVersion, force)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return AccountToken{}, res.Err
		}
		return res.Val.(AccountToken), nil
	case <-ctx.Done():
		return AccountToken{}, ctx.Err()
	}
}

// fetchLocked runs under the connector's token row lock.
func (t *AccountTokens) fetchLocked(ctx context.Context, appID uuid.UUID, seenVersion int64, force bool) (AccountToken, error) {
	creds, err := t.creds.ZoomCredentials(ctx, appID)
	if err != nil {
		return AccountToken{}, err
	}
	if creds.AccountID == "" {
		return AccountToken{}, errNotAccountLevel
	}
	tx, err := t.pool.Begin(ctx)
	if err != nil {
		return AccountToken{}, err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `INSERT INTO zoom_account_tokens (id, application_id) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`,
		creds.ConnectorID, appID); err != nil {
		return AccountToken{}, err
	}
	var r accountRow
	if err := tx.QueryRow(ctx, `SELECT access_token_enc, expires_at, version FROM zoom_account_tokens WHERE id = $1 FOR UPDATE`,
		creds.ConnectorID).Scan(&r.enc, &r.expires, &r.version); err != nil {
		return AccountToken{}, err
	}
	// Another caller fetched while we waited for the lock, or (not forced)
	// the stored token is still good: use it.
	if r.freshFor(t.now()) && (!force || r.version != seenVersion) {
		if err := tx.Commit(ctx); err != nil {
			return AccountToken{}, err
		}
		return t.open(appID, creds.ConnectorID, r)
	}
	tok, err := t.zoom.AccountCredentials(ctx, zoom.App{ClientID: creds.ClientID, ClientSecret: creds.ClientSecret}, creds.AccountID)
	countRefresh(err)
	if err != nil {
		return AccountToken{}, t.refused(ctx, tx, appID, creds.ConnectorID, err)
	}
	enc, err := t.vault.Seal(tok.AccessToken, accountBinding(appID, creds.ConnectorID))
	if err != nil {
		return AccountToken{}, err
	}
	if err := tx.QueryRow(ctx, `UPDATE zoom_account_tokens SET access_token_enc = $2, expires_at = $3, version = version + 1,
		fetched_at = $4 WHERE id = $1 RETURNING version`, creds.ConnectorID, enc, tok.Expiry, t.now()).Scan(&r.version); err != nil {
		return AccountToken{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return AccountToken{}, err
	}
	t.log.InfoContext(ctx, "zoom account token fetched", "connector_id", creds.ConnectorID, "version", r.version)
	out := AccountToken{ConnectorID: creds.ConnectorID, Token: tok.AccessToken, Version: r.version, ExpiresAt: tok.Expiry}
	t.mu.Lock()
	t.cache[creds.ConnectorID] = out
	t.mu.Unlock()
	return out, nil
}

// refused handles a token request Zoom answered with an error. A refusal of
// the app itself (its credentials, its account, the app deactivated) means
// the company's Zoom connection is gone: every grant under the connector
// turns invalid at once, each with its grant.expired, in this transaction.
// Anything else is transient and changes nothing.
func (t *AccountTokens) refused(ctx context.Context, tx pgx.Tx, appID, connectorID uuid.UUID, err error) error {
	var ze *zoom.Error
	if !errors.As(err, &ze) || ze.HTTPStatus < 400 || ze.HTTPStatus >= 500 || ze.HTTPStatus == 429 {
		return ProviderError(err)
	}
	reason := "Zoom refused the company's Server-to-Server app (" + ze.OAuthError + "): it was deactivated, or its credentials or account id changed"
	n, ierr := expire(ctx, tx, reason, `g.application_id = $2 AND g.connector_id = $3 AND g.account_level`, appID, connectorID)
	if ierr != nil {
		return ierr
	}
	if _, ierr := tx.Exec(ctx, `UPDATE zoom_account_tokens SET access_token_enc = NULL, expires_at = NULL, version = version + 1
		WHERE id = $1`, connectorID); ierr != nil {
		return ierr
	}
	if cerr := tx.Commit(ctx); cerr != nil {
		return cerr
	}
	t.log.WarnContext(ctx, "zoom refused the account-level app: its grants are invalid", "connector_id", connectorID, "grants", n, "err", err)
	return &apperr.Error{Kind: apperr.Unauthorized, Err: err, Message: "the company's Zoom connection is gone: Zoom refused the " +
		"Server-to-Server app (deactivated, or its credentials or account id changed); an admin must fix the Zoom connector"}
}

// connectAccountUser makes (or makes valid again) the grant of a user of the
// company's Zoom account, under its account-level connector: no consent of
// the user's, only the account token. The user must exist in the account
// and be licensed (Zoom lets only licensed users host meetings made
// through the API).
func (s *Service) connectAccountUser(ctx context.Context, appID uuid.UUID, creds connectors.ZoomCredentials, st zoomCustomSettings) (Grant, error) {
	if creds.AccountID == "" {
		return Grant{}, apperr.InvalidField("settings", "email and user_id connect a user of a company's Zoom account, which needs an "+
			"account-level Zoom connector (settings.account_id); this application's connector is user-level: send a refresh_token")
	}
	if st.RefreshToken != nil {
		return Grant{}, apperr.InvalidField("settings.refresh_token", "is not taken by an account-level Zoom connector: name the user with settings.email or settings.user_id")
	}
	field, ref := "settings.email", ""
	switch {
	case st.Email != nil && st.UserID != nil:
		return Grant{}, apperr.InvalidField("settings", "takes settings.email or settings.user_id, not both")
	case st.Email != nil:
		if err := validEmail(*st.Email); err != nil {
			return Grant{}, apperr.InvalidField("settings.email", "must be the Zoom user's email address")
		}
		ref = *st.Email
	case st.UserID != nil:
		field, ref = "settings.user_id", *st.UserID
		if !zoomUserID.MatchString(ref) {
			return Grant{}, apperr.InvalidField("settings.user_id", "must be a Zoom user id (1 to 64 letters, digits, - or _)")
		}
	default:
		return Grant{}, apperr.InvalidField("settings.email", "is required: the Zoom user (of the company's account) to connect, or settings.user_id")
	}
	var u zoom.User
	err := s.accountDo(ctx, appID, func(token string) error {
		var err error
		u, err = s.zoom.User(ctx, token, ref)
		return err
	})
	var ze *zoom.Error
	switch {
	case errors.As(err, &ze) && (ze.Code == 1001 || ze.HTTPStatus == 404):
		return Grant{}, apperr.InvalidField(field, "names no user of the company's Zoom account (%s)", creds.AccountID)
	case apperr.IsKind(err, apperr.Unauthorized):
		return Grant{}, err
	case err != nil:
		return Grant{}, ProviderError(err)
	case u.AccountID != "" && u.AccountID != creds.AccountID:
		return Grant{}, apperr.InvalidField(field, "names a user of another Zoom account")
	case u.Type < 2:
		return Grant{}, apperr.InvalidField(field, "names a user on Zoom's Basic (free) plan: only licensed (Pro or better) users can host "+
			"meetings made through the API; license the user in Zoom first")
	}
	return s.upsertAccountUser(ctx, appID, creds.ConnectorID, u)
}

// zoomUserID is the shape of Zoom's user ids.
var zoomUserID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func validEmail(s string) error {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || len(s) > 320 {
		return errors.New("not an email address")
	}
	return nil
}

// accountDo calls fn with the account token, and once more with a new one
// if Zoom refused it (401/124).
func (s *Service) accountDo(ctx context.Context, appID uuid.UUID, fn func(token string) error) error {
	tok, err := s.Accounts.Get(ctx, appID)
	if err != nil {
		return err
	}
	err = fn(tok.Token)
	if zoom.ClassOf(err) != zoom.NeedsRefresh {
		return err
	}
	if tok, err = s.Accounts.Refetch(ctx, appID, tok.Version); err != nil {
		return err
	}
	return fn(tok.Token)
}

// upsertAccountUser stores the grant of a user under an account-level
// connector: no tokens of its own (it uses the account token).
func (s *Store) upsertAccountUser(ctx context.Context, appID, connectorID uuid.UUID, u zoom.User) (Grant, error) {
	name := strings.TrimSpace(u.FirstName + " " + u.LastName)
	var g Grant
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		id, created, err := lockOrInsert(ctx, tx, appID, connectorID, ProviderZoom, u.ID, u.Email)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `UPDATE grants SET grant_status = 'valid', invalid_reason = NULL, connector_id = $3, account_level = true,
			email = $4, name = NULLIF($5, ''), provider_account_id = $6, access_token_enc = NULL, refresh_token_enc = NULL,
			access_expires_at = NULL, token_version = token_version + 1, connected_at = now(), updated_at = now()
			WHERE application_id = $1 AND id = $2 RETURNING `+grantColumns,
			appID, id, connectorID, u.Email, name, u.AccountID)
		if err != nil {
			return err
		}
		if g, err = pgx.CollectExactlyOneRow(rows, scanGrant); err != nil {
			return err
		}
		return tell(ctx, tx, createdOrUpdated(created), g)
	})
	return g, err
}
