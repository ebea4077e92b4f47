package grants

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/singleflight"

	"github.com/confhub/confhub/connectors"
	"github.com/confhub/confhub/connectors/zoom"
	"github.com/confhub/confhub/internal/apperr"
	"github.com/confhub/confhub/internal/strictjson"
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
	AccountID   string // the Zoom account it acts in: the connector's now
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
	opened openedTokens[AccountToken]
}

// NewAccountTokens returns an account-token manager.
func NewAccountTokens(pool *pgxpool.Pool, kr *vault.Keyring, z AccountAuth, creds Credentials, now func() time.Time, log *slog.Logger) *AccountTokens {
	if now == nil {
		now = time.Now
	}
	return &AccountTokens{pool: pool, vault: kr, zoom: z, creds: creds, now: now, log: log}
}

func accountBinding(appID, connectorID uuid.UUID) vault.Binding {
	return vault.Binding{ApplicationID: appID.String(), Table: "zoom_account_tokens", RowID: connectorID.String(), Column: "access_token_enc"}
}

type accountRow struct {
	enc     *string
	expires *time.Time
	version int64
	// fetchedFor: a MAC of the credentials the token was fetched with.
	fetchedFor *string
}

// credentialsOf is what fetched_for's MAC covers: the stored MAC tells the
// credentials apart without holding them.
func credentialsOf(c connectors.ZoomCredentials) []byte {
	return []byte(c.ClientID + "\x00" + c.ClientSecret + "\x00" + c.AccountID)
}

// freshFor: the stored token has MinTokenLife left and was fetched with the
// connector's current credentials (after a change of account id or app,
// the old token acts in the old account, or for a retired app).
func (t *AccountTokens) freshFor(r accountRow, creds connectors.ZoomCredentials) bool {
	return r.enc != nil && r.expires != nil && r.expires.Sub(t.now()) >= MinTokenLife &&
		r.fetchedFor != nil && t.vault.VerifyMAC(accountCredentialsPurpose, credentialsOf(creds), *r.fetchedFor)
}

const accountCredentialsPurpose = "zoom-account-token-credentials"

const accountRowSelect = `SELECT access_token_enc, expires_at, version, fetched_for FROM zoom_account_tokens WHERE id = $1`

// errNotAccountLevel: the grant's Zoom connector is not a Server-to-Server app.
var errNotAccountLevel = apperr.InvalidField("provider", "the Zoom connector is not a Server-to-Server app: it has no account token (an application's account-level connector carries settings.account_id)")

// s2s returns the connector's credentials if it is a Server-to-Server app.
func (t *AccountTokens) s2s(ctx context.Context, appID, connectorID uuid.UUID) (connectors.ZoomCredentials, error) {
	creds, err := t.creds.ZoomCredentials(ctx, appID, connectorID)
	if err != nil {
		return creds, err
	}
	if creds.AccountID == "" {
		return creds, errNotAccountLevel
	}
	return creds, nil
}

// Get returns the connector's account token, valid for MinTokenLife at least.
func (t *AccountTokens) Get(ctx context.Context, appID, connectorID uuid.UUID) (AccountToken, error) {
	creds, err := t.s2s(ctx, appID, connectorID)
	if err != nil {
		return AccountToken{}, err
	}
	var r accountRow
	err = t.pool.QueryRow(ctx, accountRowSelect, connectorID).Scan(&r.enc, &r.expires, &r.version, &r.fetchedFor)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return AccountToken{}, err
	}
	if t.freshFor(r, creds) {
		return inAccount(t.open(appID, connectorID, r))(creds.AccountID)
	}
	return t.fetch(ctx, appID, connectorID, r.version, false)
}

// inAccount labels a token with the account its credentials name (the
// token itself is checked against them by fetched_for).
func inAccount(tok AccountToken, err error) func(accountID string) (AccountToken, error) {
	return func(accountID string) (AccountToken, error) {
		tok.AccountID = accountID
		return tok, err
	}
}

// Refetch is for a token Zoom refused (401/124): it fetches a new one unless
// the stored token changed since failedVersion (another caller fetched it).
func (t *AccountTokens) Refetch(ctx context.Context, appID, connectorID uuid.UUID, failedVersion int64) (AccountToken, error) {
	return t.fetch(ctx, appID, connectorID, failedVersion, true)
}

func (t *AccountTokens) open(appID, connectorID uuid.UUID, r accountRow) (AccountToken, error) {
	return t.opened.get(connectorID, r.version, func() (AccountToken, error) {
		plain, err := t.vault.Open(*r.enc, accountBinding(appID, connectorID))
		if err != nil {
			return AccountToken{}, fmt.Errorf("zoom account token of connector %s: %w", connectorID, err)
		}
		return AccountToken{ConnectorID: connectorID, Token: plain, Version: r.version, ExpiresAt: *r.expires}, nil
	})
}

func (t *AccountTokens) fetch(ctx context.Context, appID, connectorID uuid.UUID, seenVersion int64, force bool) (AccountToken, error) {
	return sharedFetch(ctx, &t.flight, connectorID, seenVersion, force, func(ctx context.Context) (AccountToken, error) {
		return t.fetchLocked(ctx, appID, connectorID, seenVersion, force)
	})
}

// fetchLocked runs under the connector's token row lock.
func (t *AccountTokens) fetchLocked(ctx context.Context, appID, connectorID uuid.UUID, seenVersion int64, force bool) (AccountToken, error) {
	tx, err := t.pool.Begin(ctx)
	if err != nil {
		return AccountToken{}, err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `INSERT INTO zoom_account_tokens (id, application_id) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`,
		connectorID, appID); err != nil {
		return AccountToken{}, err
	}
	var r accountRow
	if err := tx.QueryRow(ctx, accountRowSelect+` FOR UPDATE`, connectorID).Scan(&r.enc, &r.expires, &r.version, &r.fetchedFor); err != nil {
		return AccountToken{}, err
	}
	// Read under the lock: a caller that waited here through another's
	// fetch must not ask Zoom with credentials changed meanwhile, and have
	// a refusal of the old ones invalidate every grant.
	creds, err := t.s2s(ctx, appID, connectorID)
	if err != nil {
		return AccountToken{}, err
	}
	// Another caller fetched while we waited for the lock, or (not forced)
	// the stored token is still good: use it.
	if t.freshFor(r, creds) && (!force || r.version != seenVersion) {
		if err := tx.Commit(ctx); err != nil {
			return AccountToken{}, err
		}
		return inAccount(t.open(appID, connectorID, r))(creds.AccountID)
	}
	tok, err := t.zoom.AccountCredentials(ctx, zoom.App{ClientID: creds.ClientID, ClientSecret: creds.ClientSecret}, creds.AccountID)
	countRefresh(err)
	if err != nil {
		return AccountToken{}, t.refused(ctx, tx, appID, connectorID, err)
	}
	enc, err := t.vault.Seal(tok.AccessToken, accountBinding(appID, connectorID))
	if err != nil {
		return AccountToken{}, err
	}
	if err := tx.QueryRow(ctx, `UPDATE zoom_account_tokens SET access_token_enc = $2, expires_at = $3, version = version + 1,
		fetched_at = $4, fetched_for = $5 WHERE id = $1 RETURNING version`, connectorID, enc, tok.Expiry, t.now(),
		t.vault.MAC(accountCredentialsPurpose, credentialsOf(creds))).Scan(&r.version); err != nil {
		return AccountToken{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return AccountToken{}, err
	}
	t.log.InfoContext(ctx, "zoom account token fetched", "connector_id", connectorID, "version", r.version)
	out := AccountToken{ConnectorID: connectorID, Token: tok.AccessToken, Version: r.version, ExpiresAt: tok.Expiry, AccountID: creds.AccountID}
	t.opened.put(connectorID, out.Version, out)
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
// the user's, only the account's token — the Server-to-Server app's, or the
// admin's install of an admin-managed app. The user must exist in the
// account and be licensed (Zoom lets only licensed users host meetings made
// through the API).
func (s *Service) connectAccountUser(ctx context.Context, appID uuid.UUID, creds connectors.ZoomCredentials, st zoomCustomSettings) (Grant, error) {
	if creds.AccountID == "" && !creds.AccountLevel {
		return Grant{}, apperr.InvalidField("settings", "email and user_id connect a user of a company's Zoom account, which needs an "+
			"account-level Zoom connector (settings.account_id or settings.account_level); this application's connector is user-level: send a refresh_token")
	}
	if st.RefreshToken != nil {
		if creds.AccountLevel {
			return Grant{}, apperr.InvalidField("settings.refresh_token", "goes alone: a refresh token of an admin-managed app is an admin's install; "+
				"name a user of the account with settings.email or settings.user_id instead")
		}
		return Grant{}, apperr.InvalidField("settings.refresh_token", "is not taken by an account-level Zoom connector: name the user with settings.email or settings.user_id")
	}
	if st.InstallationID != nil && !creds.AccountLevel {
		return Grant{}, apperr.InvalidField("settings.installation_id", "names an admin's install of an admin-managed Zoom app; this application's "+
			"connector is a Server-to-Server app (settings.account_id), which has none")
	}
	field, ref := "settings.email", ""
	switch {
	case st.Email != nil && st.UserID != nil:
		return Grant{}, apperr.InvalidField("settings", "takes settings.email or settings.user_id, not both")
	case st.Email != nil:
		if !strictjson.IsEmail(*st.Email) {
			return Grant{}, apperr.InvalidField("settings.email", "must be the Zoom user's email address")
		}
		ref = *st.Email
	case st.UserID != nil:
		field, ref = "settings.user_id", *st.UserID
		if !zoom.ValidID(ref) {
			return Grant{}, apperr.InvalidField("settings.user_id", "must be a Zoom user id (1 to 64 letters, digits, - or _)")
		}
	default:
		return Grant{}, apperr.InvalidField("settings.email", "is required: the Zoom user (of the company's account) to connect, or settings.user_id")
	}
	var u zoom.User
	read := func(token string) (err error) {
		u, err = s.zoom.User(ctx, token, ref)
		return err
	}
	// The company's token reads the user: the Server-to-Server app's
	// account token, or the admin's install's own.
	var install *installRef
	account := creds.AccountID
	var err error
	if creds.AccountLevel {
		in, perr := s.pickInstall(ctx, appID, creds.ConnectorID, st.InstallationID)
		if perr != nil {
			return Grant{}, perr
		}
		install, account = &in, in.accountID
		err = installGone(in.id, s.Tokens.Do(ctx, appID, in.id, func(t AccessToken) error { return read(t.Token) }))
	} else {
		err = s.Accounts.Do(ctx, appID, creds.ConnectorID, func(t AccountToken) error { return read(t.Token) })
	}
	var ze *zoom.Error
	switch {
	case errors.As(err, &ze) && (ze.Code == 1001 || ze.HTTPStatus == 404):
		return Grant{}, apperr.InvalidField(field, "names no user of the company's Zoom account (%s)", account)
	case apperr.IsKind(err, apperr.Unauthorized):
		return Grant{}, err
	case err != nil:
		return Grant{}, ProviderError(err)
	case u.AccountID != "" && account != "" && u.AccountID != account:
		return Grant{}, apperr.InvalidField(field, "names a user of another Zoom account")
	case u.Type < 2:
		return Grant{}, apperr.InvalidField(field, "names a user on Zoom's Basic (free) plan: only licensed (Pro or better) users can host "+
			"meetings made through the API; license the user in Zoom first")
	}
	if install != nil && u.ID == install.userID {
		// The installing admin already has a grant: the install itself,
		// whose own token hosts their meetings.
		return s.Store.Get(ctx, appID, install.id.String())
	}
	g, held, err := s.upsertAccountUser(ctx, appID, creds.ConnectorID, u, install)
	if err != nil {
		return Grant{}, err
	}
	// The company took over a user who had connected alone: the token of
	// their own consent is not kept, so it is revoked.
	s.revoke(ctx, appID, g.ID, held)
	return g, nil
}

// installRef is an admin's install: its grant, its admin and their account.
type installRef struct {
	id                uuid.UUID
	userID, accountID string
}

// pickInstall finds the install a user is connected under: the one named,
// else the connector's only valid one. Several companies may install the
// same admin-managed app; with several, guessing could put a user under
// the wrong company's install, so the caller must name it.
func (s *Service) pickInstall(ctx context.Context, appID, connectorID uuid.UUID, named *string) (installRef, error) {
	type row struct {
		ref            installRef
		status, reason string
	}
	var id *uuid.UUID
	if named != nil {
		v, err := uuid.Parse(*named)
		if err != nil {
			return installRef{}, apperr.InvalidField("settings.installation_id", "must be the grant id of an admin's install (a UUID)")
		}
		id = &v
	}
	rows, err := s.pool.Query(ctx, `SELECT id, provider_user_id, COALESCE(provider_account_id, ''), grant_status, COALESCE(invalid_reason, '')
		FROM grants WHERE application_id = $1 AND connector_id = $2 AND installation AND ($3::uuid IS NULL OR id = $3)
		ORDER BY created_at, id`, appID, connectorID, id)
	if err != nil {
		return installRef{}, err
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		return x, r.Scan(&x.ref.id, &x.ref.userID, &x.ref.accountID, &x.status, &x.reason)
	})
	if err != nil {
		return installRef{}, err
	}
	var valid []row
	for _, x := range all {
		if x.status == StatusValid {
			valid = append(valid, x)
		}
	}
	switch {
	case named != nil && len(all) == 0:
		return installRef{}, apperr.InvalidField("settings.installation_id", "names no admin's install of this application's Zoom connector")
	case named != nil && len(valid) == 0:
		return installRef{}, apperr.InvalidField("settings.installation_id", "names an install that is invalid (%s): an owner or admin of the "+
			"Zoom account must install the app again through hosted authentication", all[0].reason)
	case len(valid) == 1:
		return valid[0].ref, nil
	case len(valid) > 1:
		return installRef{}, apperr.InvalidField("settings.installation_id", "is required: this application's Zoom app is installed in %d Zoom "+
			"accounts; name the install (its grant id) of the user's account", len(valid))
	case len(all) > 0:
		return installRef{}, apperr.InvalidField("settings", "the company's Zoom install is invalid (%s): an owner or admin of the Zoom account "+
			"must install the app again through hosted authentication (/v3/connect/auth)", all[0].reason)
	default:
		return installRef{}, apperr.InvalidField("settings", "no Zoom admin has installed this application's admin-managed Zoom app yet: an owner "+
			"or admin of the company's Zoom account installs it through hosted authentication (/v3/connect/auth) first")
	}
}

// installGone says what an install that can no longer give tokens means
// to the users under it: the company's Zoom connection is gone.
func installGone(installID uuid.UUID, err error) error {
	if !apperr.IsKind(err, apperr.Unauthorized) {
		return err
	}
	return &apperr.Error{Kind: apperr.Unauthorized, Err: err, Message: fmt.Sprintf("the company's Zoom connection is gone: "+
		"the Zoom admin's install (grant %s) no longer works; an owner or admin of the Zoom account must install the app again", installID)}
}

// Do calls fn with the connector's account token, and once more with a new
// one if Zoom refused it (401/124), as Tokens.Do does for a grant.
func (t *AccountTokens) Do(ctx context.Context, appID, connectorID uuid.UUID, fn func(AccountToken) error) error {
	tok, err := t.Get(ctx, appID, connectorID)
	if err != nil {
		return err
	}
	err = fn(tok)
	if zoom.ClassOf(err) != zoom.NeedsRefresh {
		return err
	}
	if tok, err = t.Refetch(ctx, appID, connectorID, tok.Version); err != nil {
		return err
	}
	return fn(tok)
}

// upsertAccountUser stores the grant of a user under an account-level
// connector: no tokens of its own (it uses the account token, or its
// install's). Under an install, the install's row is locked first (the
// order expire takes them in) and must still be valid: a user is never
// made valid under an install that a concurrent deauthorization expired.
//
// A user who had connected alone held a refresh token of the user-level
// app; it is returned so the caller can revoke it once the grant no longer
// holds it.
func (s *Store) upsertAccountUser(ctx context.Context, appID, connectorID uuid.UUID, u zoom.User, install *installRef) (Grant, heldToken, error) {
	name := strings.TrimSpace(u.FirstName + " " + u.LastName)
	var installID *uuid.UUID
	if install != nil {
		installID = &install.id
	}
	var g Grant
	var held heldToken
	var refreshEnc *string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if installID != nil {
			var status string
			err := tx.QueryRow(ctx, `SELECT grant_status FROM grants WHERE application_id = $1 AND id = $2 AND installation FOR SHARE`,
				appID, *installID).Scan(&status)
			if errors.Is(err, pgx.ErrNoRows) || (err == nil && status != StatusValid) {
				return &apperr.Error{Kind: apperr.Unauthorized, Message: fmt.Sprintf("the company's Zoom connection is gone: the Zoom admin's "+
					"install (grant %s) was removed or turned invalid meanwhile; an owner or admin must install the app again", *installID)}
			}
			if err != nil {
				return err
			}
		}
		id, created, err := lockOrInsert(ctx, tx, appID, connectorID, ProviderZoom, u.ID, u.Email)
		if err != nil {
			return err
		}
		var isInstall bool
		if err := tx.QueryRow(ctx, `SELECT installation, refresh_token_enc, connector_id FROM grants WHERE id = $1`, id).Scan(&isInstall,
			&refreshEnc, &held.connectorID); err != nil {
			return err
		}
		if installID != nil {
			if isInstall {
				// Turning another install into a user grant would silently
				// cut off every user under it.
				return apperr.InvalidField("settings", "names the admin who made another install of this Zoom app (grant %s): "+
					"that install's grant already hosts their meetings", id)
			}
		}
		rows, err := tx.Query(ctx, `UPDATE grants SET grant_status = 'valid', invalid_reason = NULL, connector_id = $3, account_level = true,
			email = $4, name = NULLIF($5, ''), provider_account_id = $6, access_token_enc = NULL, refresh_token_enc = NULL,
			access_expires_at = NULL, token_version = token_version + 1, connected_at = now(), updated_at = now(),
			installation = false, installation_grant_id = $7
			WHERE application_id = $1 AND id = $2 RETURNING `+grantColumns,
			appID, id, connectorID, u.Email, name, u.AccountID, installID)
		if err != nil {
			return err
		}
		if g, err = pgx.CollectExactlyOneRow(rows, scanGrant); err != nil {
			return err
		}
		return tell(ctx, tx, createdOrUpdated(created), g)
	})
	if err != nil {
		return Grant{}, heldToken{}, connectorDeleted(err)
	}
	if refreshEnc != nil {
		held.refresh, _ = s.vault.Open(*refreshEnc, tokenBinding(appID, g.ID, "refresh_token_enc"))
	}
	return g, held, nil
}
