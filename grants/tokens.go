package grants

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/singleflight"

	"github.com/confhub/confhub/connectors"
	"github.com/confhub/confhub/connectors/zoom"
	"github.com/confhub/confhub/internal/apperr"
	"github.com/confhub/confhub/internal/telemetry"
	"github.com/confhub/confhub/internal/vault"
)

// ZoomAuth is the part of the Zoom client the token lifecycle needs.
type ZoomAuth interface {
	Refresh(ctx context.Context, app zoom.App, refreshToken string) (*zoom.Token, error)
}

// Credentials gives the credentials of the Zoom connector a grant was made with.
type Credentials interface {
	ZoomCredentials(ctx context.Context, appID, connectorID uuid.UUID) (connectors.ZoomCredentials, error)
}

// AccessToken is a Zoom access token for a grant, valid for MinTokenLife at least.
type AccessToken struct {
	GrantID    uuid.UUID
	Token      string
	Version    int64 // the grant's token_version it came from
	ExpiresAt  time.Time
	ZoomUserID string
	// AccountLevel: an account token, acting for ZoomUserID among the
	// account's users (calls name the user; "me" is nobody).
	AccountLevel bool
}

// UserRef is how Zoom calls name the grant's user: "me" with the user's own
// token, the user's id with an account token.
func (a AccessToken) UserRef() string {
	if a.AccountLevel {
		return a.ZoomUserID
	}
	return "me"
}

// Tokens hands out Zoom access tokens for grants.
//
// Every call reads the grant's row (a primary-key lookup), so a grant marked
// invalid — by a deauthorization notice, a failed refresh or a deleted
// connector — stops working at once in every process. The decrypted token is
// cached per process by (grant, version). A refresh is single-flight per
// grant within a process (singleflight) and across processes (SELECT ... FOR
// UPDATE on the row, re-read after acquiring, skipped if another process
// already refreshed), and the rotated refresh token is stored in the same
// transaction as the new access token.
type Tokens struct {
	pool  *pgxpool.Pool
	vault *vault.Keyring
	zoom  ZoomAuth
	creds Credentials
	now   func() time.Time
	log   *slog.Logger

	flight singleflight.Group
	opened openedTokens[AccessToken]
	// account gives the tokens of grants under a Server-to-Server connector.
	account *AccountTokens
}

// TokenAuth is the part of the Zoom client grant and account tokens need.
type TokenAuth interface {
	ZoomAuth
	AccountAuth
}

// NewTokens returns a token lifecycle manager, with the account tokens of
// the grants under Server-to-Server connectors.
func NewTokens(pool *pgxpool.Pool, kr *vault.Keyring, z TokenAuth, creds Credentials, now func() time.Time, log *slog.Logger) *Tokens {
	if now == nil {
		now = time.Now
	}
	return &Tokens{pool: pool, vault: kr, zoom: z, creds: creds, now: now, log: log,
		account: NewAccountTokens(pool, kr, z, creds, now, log)}
}

type tokenRow struct {
	status, reason, provider, userID string
	accountID                        string // the Zoom account the user was in when connected
	accountLevel                     bool
	connectorID                      *uuid.UUID
	// installGrant: the admin's install whose token the grant uses.
	installGrant *uuid.UUID
	version      int64
	accessEnc    *string
	expires      *time.Time
}

const tokenRowSelect = `SELECT grant_status, COALESCE(invalid_reason, ''), provider, provider_user_id, connector_id,
	token_version, access_token_enc, access_expires_at, account_level, installation_grant_id, COALESCE(provider_account_id, '') FROM grants
	WHERE application_id = $1 AND id = $2`

func scanTokenRow(row pgx.Row) (tokenRow, error) {
	var r tokenRow
	err := row.Scan(&r.status, &r.reason, &r.provider, &r.userID, &r.connectorID, &r.version, &r.accessEnc, &r.expires, &r.accountLevel, &r.installGrant, &r.accountID)
	return r, err
}

// usable says why a grant cannot give tokens, or nil.
func (r tokenRow) usable(grantID uuid.UUID) error {
	switch {
	case r.provider != ProviderZoom:
		return apperr.InvalidField("conf_grant_id", "grant %s is a %s grant, not a Zoom grant", grantID, r.provider)
	case r.status != StatusValid && r.accountLevel:
		return &apperr.Error{Kind: apperr.Unauthorized, Message: fmt.Sprintf(
			"grant %s is invalid (%s): the company's Zoom connection is gone; once it is restored, connect the user again", grantID, r.reason)}
	case r.status != StatusValid:
		return &apperr.Error{Kind: apperr.Unauthorized, Message: fmt.Sprintf(
			"grant %s is invalid (%s): the user must connect their Zoom account again", grantID, r.reason)}
	case r.connectorID == nil && r.accountLevel:
		return &apperr.Error{Kind: apperr.Unauthorized, Message: fmt.Sprintf("grant %s was made with the company's Zoom connector, "+
			"which has been deleted: once an account-level Zoom connector is registered again, connect the user again", grantID)}
	case r.connectorID == nil:
		return &apperr.Error{Kind: apperr.Unauthorized, Message: fmt.Sprintf(
			"grant %s was made with a Zoom connector that has been deleted: the user must connect again", grantID)}
	}
	return nil
}

func (r tokenRow) freshFor(now time.Time) bool {
	return r.accessEnc != nil && r.expires != nil && r.expires.Sub(now) >= MinTokenLife
}

// Get returns an access token valid for at least MinTokenLife.
func (t *Tokens) Get(ctx context.Context, appID, grantID uuid.UUID) (AccessToken, error) {
	r, err := scanTokenRow(t.pool.QueryRow(ctx, tokenRowSelect, appID, grantID))
	if errors.Is(err, pgx.ErrNoRows) {
		return AccessToken{}, errGrantNotFound()
	}
	if err != nil {
		return AccessToken{}, err
	}
	if err := r.usable(grantID); err != nil {
		return AccessToken{}, err
	}
	if r.installGrant != nil {
		return t.installToken(*r.installGrant, grantID, r.userID)(t.Get(ctx, appID, *r.installGrant))
	}
	if r.accountLevel {
		a, err := t.account.Get(ctx, appID, *r.connectorID)
		return t.accountToken(ctx, appID, r, a, err)(grantID, r.userID)
	}
	if r.freshFor(t.now()) {
		return t.decrypt(appID, grantID, r)
	}
	return t.refresh(ctx, appID, grantID, r.version, false)
}

// accountToken is an account token as the token of a grant under the
// account: its version is the account token's, and calls name the user. A
// connector moved to another Zoom account (its account id changed) no
// longer serves the users of the old one: their grants turn invalid.
func (t *Tokens) accountToken(ctx context.Context, appID uuid.UUID, r tokenRow, a AccountToken, err error) func(grantID uuid.UUID, userID string) (AccessToken, error) {
	return func(grantID uuid.UUID, userID string) (AccessToken, error) {
		if err != nil {
			return AccessToken{}, err
		}
		if r.accountID != "" && a.AccountID != r.accountID {
			return AccessToken{}, t.movedAccount(ctx, appID, grantID, r.accountID, a.AccountID)
		}
		return AccessToken{GrantID: grantID, Token: a.Token, Version: a.Version, ExpiresAt: a.ExpiresAt, ZoomUserID: userID,
			AccountLevel: true}, nil
	}
}

// movedAccount invalidates the grant of a user of the company's previous
// Zoom account (with its grant.expired) and says so.
func (t *Tokens) movedAccount(ctx context.Context, appID, grantID uuid.UUID, was, now string) error {
	reason := fmt.Sprintf("the company's Zoom connector moved from Zoom account %s to %s, which this user is not in", was, now)
	err := pgx.BeginFunc(ctx, t.pool, func(tx pgx.Tx) error { return invalidate(ctx, tx, appID, grantID, reason) })
	if err != nil {
		return err
	}
	t.log.WarnContext(ctx, "grant invalid: its company's Zoom connector serves another account now", "grant_id", grantID)
	return &apperr.Error{Kind: apperr.Unauthorized, Message: fmt.Sprintf("grant %s is invalid: %s; connect the user again if they "+
		"belong to the new account", grantID, reason)}
}

// installToken is an admin install's token as the token of a grant under
// the install: its version is the install's (so a refusal refreshes the
// install once), and calls name the user. An install that cannot give
// tokens any more means the company's connection is gone.
func (t *Tokens) installToken(installID, grantID uuid.UUID, userID string) func(AccessToken, error) (AccessToken, error) {
	return func(a AccessToken, err error) (AccessToken, error) {
		if err != nil {
			return AccessToken{}, installGone(installID, err)
		}
		return AccessToken{GrantID: grantID, Token: a.Token, Version: a.Version, ExpiresAt: a.ExpiresAt, ZoomUserID: userID, AccountLevel: true}, nil
	}
}

// ForceRefresh is for a token Zoom refused (401/124): it refreshes unless the
// stored token changed since failedVersion, in which case another caller has
// already rotated it and the stored one is returned.
func (t *Tokens) ForceRefresh(ctx context.Context, appID, grantID uuid.UUID, failedVersion int64) (AccessToken, error) {
	r, err := scanTokenRow(t.pool.QueryRow(ctx, tokenRowSelect, appID, grantID))
	if err == nil && r.accountLevel {
		if err := r.usable(grantID); err != nil {
			return AccessToken{}, err
		}
		if r.installGrant != nil {
			// An install is a grant of its own (never account-level).
			return t.installToken(*r.installGrant, grantID, r.userID)(t.refresh(ctx, appID, *r.installGrant, failedVersion, true))
		}
		a, err := t.account.Refetch(ctx, appID, *r.connectorID, failedVersion)
		return t.accountToken(ctx, appID, r, a, err)(grantID, r.userID)
	}
	return t.refresh(ctx, appID, grantID, failedVersion, true)
}

// Do calls fn with a token; if Zoom refuses the token (401/124) it forces one
// refresh and calls fn once more.
func (t *Tokens) Do(ctx context.Context, appID, grantID uuid.UUID, fn func(AccessToken) error) error {
	tok, err := t.Get(ctx, appID, grantID)
	if err != nil {
		return err
	}
	err = fn(tok)
	if zoom.ClassOf(err) != zoom.NeedsRefresh {
		return err
	}
	t.log.Info("zoom refused an access token; refreshing once", "grant_id", grantID, "version", tok.Version)
	// The token says which kind of grant it came from: a grant's own needs
	// no second look at the row before its refresh.
	var rerr error
	if tok.AccountLevel {
		tok, rerr = t.ForceRefresh(ctx, appID, grantID, tok.Version)
	} else {
		tok, rerr = t.refresh(ctx, appID, grantID, tok.Version, true)
	}
	if rerr != nil {
		return rerr
	}
	return fn(tok)
}

func (t *Tokens) decrypt(appID, grantID uuid.UUID, r tokenRow) (AccessToken, error) {
	return t.opened.get(grantID, r.version, func() (AccessToken, error) {
		plain, err := t.vault.Open(*r.accessEnc, tokenBinding(appID, grantID, "access_token_enc"))
		if err != nil {
			return AccessToken{}, fmt.Errorf("grant %s access token: %w", grantID, err)
		}
		return AccessToken{GrantID: grantID, Token: plain, Version: r.version, ExpiresAt: *r.expires, ZoomUserID: r.userID}, nil
	})
}

func (t *Tokens) refresh(ctx context.Context, appID, grantID uuid.UUID, seenVersion int64, force bool) (AccessToken, error) {
	return sharedFetch(ctx, &t.flight, grantID, seenVersion, force, func(ctx context.Context) (AccessToken, error) {
		return t.refreshLocked(ctx, appID, grantID, seenVersion, force)
	})
}

// refreshLocked runs under the grant's row lock.
func (t *Tokens) refreshLocked(ctx context.Context, appID, grantID uuid.UUID, seenVersion int64, force bool) (AccessToken, error) {
	tx, err := t.pool.Begin(ctx)
	if err != nil {
		return AccessToken{}, err
	}
	defer tx.Rollback(ctx)
	r, err := scanTokenRow(tx.QueryRow(ctx, tokenRowSelect+` FOR UPDATE`, appID, grantID))
	if errors.Is(err, pgx.ErrNoRows) {
		return AccessToken{}, errGrantNotFound()
	}
	if err != nil {
		return AccessToken{}, err
	}
	if err := r.usable(grantID); err != nil {
		return AccessToken{}, err
	}
	now := t.now()
	// Someone refreshed while we waited for the lock, or (not forced) the
	// stored token is still good: use it.
	if r.freshFor(now) && (!force || r.version != seenVersion) {
		if err := tx.Commit(ctx); err != nil {
			return AccessToken{}, err
		}
		return t.decrypt(appID, grantID, r)
	}
	var refreshEnc *string
	if err := tx.QueryRow(ctx, `SELECT refresh_token_enc FROM grants WHERE id = $1`, grantID).Scan(&refreshEnc); err != nil {
		return AccessToken{}, err
	}
	if refreshEnc == nil {
		return AccessToken{}, &apperr.Error{Kind: apperr.Unauthorized, Message: fmt.Sprintf("grant %s holds no refresh token: the user must connect again", grantID)}
	}
	refreshToken, err := t.vault.Open(*refreshEnc, tokenBinding(appID, grantID, "refresh_token_enc"))
	if err != nil {
		return AccessToken{}, fmt.Errorf("grant %s refresh token: %w", grantID, err)
	}
	// usable checked the grant still has its connector.
	creds, err := t.creds.ZoomCredentials(ctx, appID, *r.connectorID)
	if err != nil {
		return AccessToken{}, err
	}
	tok, err := t.zoom.Refresh(ctx, zoom.App{ClientID: creds.ClientID, ClientSecret: creds.ClientSecret}, refreshToken)
	countRefresh(err)
	if zoom.IsInvalidGrant(err) {
		// The refresh token is dead for good: only the user can fix it.
		if ierr := invalidate(ctx, tx, appID, grantID, "Zoom refused the refresh token (invalid_grant)"); ierr != nil {
			return AccessToken{}, ierr
		}
		if cerr := tx.Commit(ctx); cerr != nil {
			return AccessToken{}, cerr
		}
		t.log.WarnContext(ctx, "grant invalid: zoom refused its refresh token", "grant_id", grantID)
		return AccessToken{}, &apperr.Error{Kind: apperr.Unauthorized, Err: err, Message: fmt.Sprintf(
			"grant %s is invalid (Zoom refused the refresh token): the user must connect their Zoom account again", grantID)}
	}
	if err != nil {
		// Transient (outage, timeout, 5xx): the grant stays valid.
		return AccessToken{}, ProviderError(err)
	}
	access, err := t.vault.Seal(tok.AccessToken, tokenBinding(appID, grantID, "access_token_enc"))
	if err != nil {
		return AccessToken{}, err
	}
	refresh, err := t.vault.Seal(tok.RefreshToken, tokenBinding(appID, grantID, "refresh_token_enc"))
	if err != nil {
		return AccessToken{}, err
	}
	var version int64
	if err := tx.QueryRow(ctx, `UPDATE grants SET access_token_enc = $3, refresh_token_enc = $4, access_expires_at = $5,
		token_version = token_version + 1, last_refreshed_at = $6, scope = CASE WHEN cardinality($7::text[]) > 0 THEN $7 ELSE scope END,
		updated_at = now() WHERE application_id = $1 AND id = $2 RETURNING token_version`,
		appID, grantID, access, refresh, tok.Expiry, now, tok.Scopes).Scan(&version); err != nil {
		t.log.Error("zoom rotated a refresh token that could not be stored: the grant will need reconnecting", "grant_id", grantID, "err", err)
		return AccessToken{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		t.log.Error("zoom rotated a refresh token that could not be stored: the grant will need reconnecting", "grant_id", grantID, "err", err)
		return AccessToken{}, err
	}
	t.log.InfoContext(ctx, "zoom token refreshed", "grant_id", grantID, "version", version)
	out := AccessToken{GrantID: grantID, Token: tok.AccessToken, Version: version, ExpiresAt: tok.Expiry, ZoomUserID: r.userID}
	t.opened.put(grantID, out.Version, out)
	return out, nil
}

// IdleCursor is where a sweep of idle grants stopped: the last grant seen,
// by (last refresh, id).
type IdleCursor struct {
	At time.Time `json:"at"`
	ID uuid.UUID `json:"id"`
}

// IdleBatch is what one batch of RefreshIdle did.
type IdleBatch struct {
	Refreshed   int `json:"refreshed"`
	Invalidated int `json:"invalidated"` // Zoom refused the refresh token: the user must connect again
	Failed      int `json:"failed"`      // transient failures: the grant stays valid and is retried next sweep
	// Next is where the next batch starts; nil when this batch was the last.
	Next *IdleCursor `json:"next,omitempty"`
}

// RefreshIdle refreshes up to limit valid Zoom grants not refreshed since
// before cutoff, after the cursor, oldest first, so their refresh tokens
// never age out; grants whose refresh token Zoom no longer accepts (revoked,
// expired) turn invalid. The query walks the grants_idle index, so a batch
// costs the same however many grants there are.
func (t *Tokens) RefreshIdle(ctx context.Context, cutoff time.Time, after *IdleCursor, limit int) (IdleBatch, error) {
	var afterAt *time.Time
	var afterID *uuid.UUID
	if after != nil {
		afterAt, afterID = &after.At, &after.ID
	}
	rows, err := t.pool.Query(ctx, idleGrantsQuery, cutoff, afterAt, afterID, limit)
	if err != nil {
		return IdleBatch{}, err
	}
	type due struct {
		app, id uuid.UUID
		version int64
		at      time.Time
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (due, error) {
		var d due
		return d, r.Scan(&d.app, &d.id, &d.version, &d.at)
	})
	if err != nil {
		return IdleBatch{}, err
	}
	var b IdleBatch
	for _, d := range list {
		// Idle grants hold their own tokens: never account-level.
		_, err := t.refresh(ctx, d.app, d.id, d.version, true)
		switch {
		case err == nil:
			b.Refreshed++
		case apperr.IsKind(err, apperr.Unauthorized):
			b.Invalidated++
		default:
			b.Failed++
			t.log.WarnContext(ctx, "idle grant refresh failed; will retry", "grant_id", d.id, "err", err)
		}
	}
	if len(list) == limit && limit > 0 {
		last := list[len(list)-1]
		b.Next = &IdleCursor{At: last.at, ID: last.id}
	}
	return b, nil
}

// idleGrantsQuery matches the grants_idle index (expression, order and
// predicate), so PostgreSQL reads just the batch.
const idleGrantsQuery = `SELECT application_id, id, token_version, COALESCE(last_refreshed_at, created_at) FROM grants
	WHERE provider = 'zoom' AND grant_status = 'valid' AND connector_id IS NOT NULL
	AND NOT account_level -- no refresh token: the account token is fetched when used
	AND COALESCE(last_refreshed_at, created_at) < $1
	AND ($2::timestamptz IS NULL OR (COALESCE(last_refreshed_at, created_at), id) > ($2, $3::uuid))
	ORDER BY COALESCE(last_refreshed_at, created_at), id LIMIT $4`

// ProviderError turns a Zoom failure into a domain error: the user's fault
// (validation, permission, scope, daily limit) as a 4xx, Zoom's as 502/504.
func ProviderError(err error) error {
	var ze *zoom.Error
	if !errors.As(err, &ze) {
		return err
	}
	details := map[string]any{"code": ze.Code, "message": ze.Message}
	if ze.HTTPStatus == 0 {
		return &apperr.Error{Kind: apperr.ProviderTimeout, Message: "Zoom did not answer", Err: err, ProviderError: map[string]any{"message": ze.Err.Error()}}
	}
	e := &apperr.Error{Kind: apperr.Provider, Message: "Zoom refused the request: " + ze.Message, Err: err, ProviderError: details}
	switch {
	case ze.RateLimit != nil && ze.RateLimit.Kind == zoom.RateLimitDaily:
		e.Kind = apperr.RateLimited
		e.Message = "Zoom's daily limit for this user is reached; it resets at " + ze.RateLimit.ResumeAt.UTC().Format(time.RFC3339)
		details["resume_at"] = ze.RateLimit.ResumeAt.Unix()
	case ze.HTTPStatus == 429:
		e.Kind = apperr.RateLimited
		e.Message = "Zoom's per-second rate limit was hit: try again shortly"
	case ze.Code == zoom.CodeValidation:
		e.Kind = apperr.Invalid
		e.Message = "Zoom rejected the meeting: " + ze.Message
		if len(ze.Fields) > 0 {
			details["errors"] = ze.Fields
		}
	case ze.Code == zoom.CodeNoPermission:
		e.Kind = apperr.Forbidden
		e.Message = "Zoom says the user may not do this (code 200, e.g. a Basic account creating meetings through the API): " + ze.Message
	case ze.Code == zoom.CodeMissingScope:
		e.Kind = apperr.Forbidden
		e.Message = "the Zoom app lacks a scope for this (code 4711): " + ze.Message
	case ze.HTTPStatus == 404:
		e.Kind = apperr.NotFound
	case ze.HTTPStatus >= 500:
		e.Kind = apperr.Provider
	case ze.HTTPStatus == 401:
		e.Kind = apperr.Unauthorized
		e.Message = "Zoom refused the grant's token: the user may need to connect again"
	case ze.HTTPStatus >= 400:
		e.Kind = apperr.Invalid
	}
	return e
}

// countRefresh counts a refresh at Zoom by its result: ok, invalid (the
// refresh token is dead) or error (transient).
func countRefresh(err error) {
	switch {
	case zoom.IsInvalidGrant(err):
		telemetry.TokenRefreshes.WithLabelValues("invalid").Inc()
	case err != nil:
		telemetry.TokenRefreshes.WithLabelValues("error").Inc()
	default:
		telemetry.TokenRefreshes.WithLabelValues("ok").Inc()
	}
}
