package grants

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/confhub/confhub/connectors/zoom"
	"github.com/confhub/confhub/internal/apperr"
	"github.com/confhub/confhub/internal/strictjson"
	"github.com/confhub/confhub/internal/vault"
)

const (
	stateTTL       = 10 * time.Minute
	codeTTL        = 10 * time.Minute
	grantTokenTTL  = time.Hour
	grantTokenPfx  = "gt_"
	maxStateLength = 2048
)

var challengePattern = regexp.MustCompile(`^[A-Za-z0-9\-._~+/=]{16,256}$`)

// meetingCreateScopes: a grant is useless for autocreate without one of them.
var meetingCreateScopes = []string{"meeting:write:meeting", "meeting:write", "meeting:write:meeting:admin", "meeting:write:admin"}

// AuthRequest is GET /v3/connect/auth's query.
type AuthRequest struct {
	ClientID, RedirectURI, ResponseType, Provider, AccessType string
	State, Scope, LoginHint, CodeChallenge, ChallengeMethod   string
	// Level picks the connector when the application has a user-level and
	// an account-level (admin-managed) one: account makes an admin's install.
	Level string
}

// StartAuth validates a hosted-auth request and returns Zoom's consent URL.
// Errors here are answered directly: the redirect URI is not trusted yet.
func (s *Service) StartAuth(ctx context.Context, q AuthRequest) (string, error) {
	appID, err := uuid.Parse(q.ClientID)
	if err != nil {
		return "", apperr.InvalidField("client_id", "must be your application id")
	}
	if q.RedirectURI == "" {
		return "", apperr.InvalidField("redirect_uri", "is required")
	}
	ok, err := s.apps.HasRedirectURI(ctx, appID, q.RedirectURI)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", apperr.InvalidField("redirect_uri", "is not registered for this application (POST /v3/applications/redirect-uris; compared exactly)")
	}
	if q.ResponseType != "code" {
		return "", apperr.InvalidField("response_type", "must be code")
	}
	if q.Provider != ProviderZoom {
		return "", apperr.InvalidField("provider", "must be zoom (hosted authentication is for Zoom; use /v3/connect/custom for virtual-calendar)")
	}
	if q.AccessType != "" && q.AccessType != "offline" && q.AccessType != "online" {
		return "", apperr.InvalidField("access_type", "must be offline or online")
	}
	if len(q.State) > maxStateLength || strings.IndexFunc(q.State, unicode.IsControl) >= 0 {
		return "", apperr.InvalidField("state", "must be at most %d characters without control characters", maxStateLength)
	}
	method := ""
	if q.CodeChallenge != "" {
		if !challengePattern.MatchString(q.CodeChallenge) {
			return "", apperr.InvalidField("code_challenge", "must be 16 to 256 characters of base64 or base64url")
		}
		if !strings.EqualFold(q.ChallengeMethod, "S256") {
			return "", apperr.InvalidField("code_challenge_method", "must be S256")
		}
		method = "S256"
	} else if q.ChallengeMethod != "" {
		return "", apperr.InvalidField("code_challenge", "is required with code_challenge_method")
	}
	creds, err := s.zoomConnector(ctx, appID, "level", q.Level, false)
	if err != nil {
		return "", err
	}
	if creds.AccountID != "" {
		field := "provider"
		if q.Level != "" {
			field = "level"
		}
		return "", apperr.InvalidField(field, "this application's account-level Zoom connector is a Server-to-Server app, which has no "+
			"hosted authentication: connect the company's users with POST /v3/connect/custom (settings.email or settings.user_id)")
	}

	id := randomToken(24)
	verifier := randomToken(48) // our PKCE towards Zoom
	sealed, err := s.vault.Seal(verifier, vault.Binding{ApplicationID: appID.String(), Table: "oauth_states", RowID: id, Column: "zoom_verifier_enc"})
	if err != nil {
		return "", err
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO oauth_states (id, application_id, redirect_uri, client_state, code_challenge,
		code_challenge_method, zoom_verifier_enc, expires_at, connector_id) VALUES ($1, $2, $3, $4, NULLIF($5, ''), NULLIF($6, ''), $7, $8, $9)`,
		id, appID, q.RedirectURI, q.State, q.CodeChallenge, method, sealed, s.now().Add(stateTTL), creds.ConnectorID); err != nil {
		return "", err
	}
	state := id + "." + s.vault.MAC("oauth-state", []byte(id))
	return s.zoom.AuthCodeURL(zoom.App{ClientID: creds.ClientID}, s.callbackURL, state, verifier), nil
}

type oauthState struct {
	id, redirectURI, clientState, challenge, method, verifierEnc string
	appID                                                        uuid.UUID
	connectorID                                                  *uuid.UUID // nil: deleted since
}

// Callback finishes hosted auth: it returns where to send the browser (the
// application's redirect URI with our code, or with an error). It returns an
// error only when it cannot trust any redirect URI (bad, expired or replayed state).
func (s *Service) Callback(ctx context.Context, q url.Values) (string, error) {
	id, tag, ok := strings.Cut(q.Get("state"), ".")
	if !ok || !s.vault.VerifyMAC("oauth-state", []byte(id), tag) {
		return "", apperr.InvalidField("state", "is not one we issued")
	}
	var st oauthState
	var clientState, challenge, method *string
	// Single use: the first callback consumes the state.
	err := s.pool.QueryRow(ctx, `UPDATE oauth_states SET used_at = now() WHERE id = $1 AND used_at IS NULL AND expires_at > $2
		RETURNING id, application_id, redirect_uri, client_state, code_challenge, code_challenge_method, zoom_verifier_enc, connector_id`,
		id, s.now()).Scan(&st.id, &st.appID, &st.redirectURI, &clientState, &challenge, &method, &st.verifierEnc, &st.connectorID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", apperr.InvalidField("state", "has expired or was already used: start the connection again")
	}
	if err != nil {
		return "", err
	}
	st.clientState, st.challenge, st.method = deref(clientState), deref(challenge), deref(method)

	back := func(params url.Values) string {
		u, _ := url.Parse(st.redirectURI)
		merged := u.Query()
		for k, v := range params {
			merged[k] = v
		}
		if st.clientState != "" {
			merged.Set("state", st.clientState)
		}
		u.RawQuery = merged.Encode()
		return u.String()
	}
	fail := func(code, desc string) (string, error) {
		s.log.Info("hosted auth failed", "application_id", st.appID, "error", code, "description", desc)
		return back(url.Values{"error": {code}, "error_description": {desc}}), nil
	}

	if e := q.Get("error"); e != "" {
		if e == "access_denied" {
			return fail("access_denied", "the user declined to connect their Zoom account")
		}
		return fail("access_denied", "Zoom answered "+e)
	}
	if q.Get("code") == "" {
		return fail("invalid_request", "Zoom sent no authorization code")
	}
	verifier, err := s.vault.Open(st.verifierEnc, vault.Binding{ApplicationID: st.appID.String(), Table: "oauth_states", RowID: st.id, Column: "zoom_verifier_enc"})
	if err != nil {
		return "", err
	}
	if st.connectorID == nil {
		return fail("server_error", "this application's Zoom connector was deleted during the connection")
	}
	creds, err := s.connectors.ZoomCredentials(ctx, st.appID, *st.connectorID)
	if err != nil {
		return fail("server_error", "this application's Zoom connector is gone")
	}
	app := zoom.App{ClientID: creds.ClientID, ClientSecret: creds.ClientSecret}
	tok, err := s.zoom.Exchange(ctx, app, s.callbackURL, q.Get("code"), verifier)
	if err != nil {
		return fail("server_error", "Zoom refused the authorization code: "+err.Error())
	}
	g, err := s.connectZoom(ctx, st.appID, creds.ConnectorID, creds.AccountLevel, app, tok)
	if err != nil {
		var ae *apperr.Error
		if errors.As(err, &ae) && ae.Kind == apperr.Invalid {
			return fail("invalid_scope", ae.Message)
		}
		if errors.As(err, &ae) && ae.Kind == apperr.Conflict {
			return fail("access_denied", ae.Message)
		}
		if errors.As(err, &ae) && ae.Message != "" {
			return fail("server_error", ae.Message)
		}
		// Not ours to show (a database error): the log has it.
		s.log.Error("hosted auth: the grant could not be stored", "application_id", st.appID, "err", err)
		return fail("server_error", "the connection could not be stored: start it again")
	}
	code := randomToken(32)
	if _, err := s.pool.Exec(ctx, `INSERT INTO oauth_codes (code_sha256, application_id, grant_id, redirect_uri, code_challenge,
		code_challenge_method, expires_at) VALUES ($1, $2, $3, $4, NULLIF($5, ''), NULLIF($6, ''), $7)`,
		sha(code), st.appID, g.ID, st.redirectURI, st.challenge, st.method, s.now().Add(codeTTL)); err != nil {
		return "", err
	}
	return back(url.Values{"code": {code}}), nil
}

// connectZoom checks a fresh token's scope, learns who the user is and
// stores the grant. A token we will not keep is revoked. With an
// admin-managed connector (installation) the token is an admin's install:
// Zoom gives such a token only to an owner or admin of the account, so the
// user who consented is the installing admin.
func (s *Service) connectZoom(ctx context.Context, appID, connectorID uuid.UUID, installation bool, app zoom.App, tok *zoom.Token) (Grant, error) {
	if !tok.HasScope(meetingCreateScopes...) {
		_ = s.zoom.Revoke(ctx, app, tok.AccessToken)
		return Grant{}, apperr.InvalidField("scope", "the Zoom app granted %q, which cannot create meetings: add meeting:write:meeting (or classic meeting:write) to the Zoom app's scopes",
			strings.Join(tok.Scopes, " "))
	}
	var u zoom.User
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if u, err = s.zoom.Me(ctx, tok.AccessToken); err == nil || zoom.ClassOf(err) != zoom.Retryable {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
	}
	if err != nil {
		return Grant{}, ProviderError(err)
	}
	g, err := s.upsertZoom(ctx, appID, connectorID, installation, u, tok, s.now())
	if apperr.IsKind(err, apperr.Conflict) {
		_ = s.zoom.Revoke(ctx, app, tok.AccessToken)
	}
	return g, err
}

// TokenRequest is POST /v3/connect/token's body (JSON or form).
type TokenRequest struct {
	GrantType    string `json:"grant_type"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	Code         string `json:"code"`
	RedirectURI  string `json:"redirect_uri"`
	CodeVerifier string `json:"code_verifier"`
}

// TokenResponse is the flat answer of /v3/connect/token.
type TokenResponse struct {
	GrantID     string `json:"grant_id"`
	Provider    string `json:"provider"`
	Email       string `json:"email"`
	Scope       string `json:"scope"`
	TokenType   string `json:"token_type"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
}

func oauthErr(status int, code, desc string) error {
	return &apperr.OAuthError{Status: status, Code: code, Description: desc}
}

// ExchangeCode trades our code for the grant: with the API key as
// client_secret, or with the PKCE code_verifier (either encoding).
func (s *Service) ExchangeCode(ctx context.Context, r TokenRequest) (TokenResponse, error) {
	if r.GrantType != "authorization_code" {
		return TokenResponse{}, oauthErr(400, "unsupported_grant_type", "grant_type must be authorization_code")
	}
	for _, f := range []struct{ name, v string }{{"client_id", r.ClientID}, {"code", r.Code}, {"redirect_uri", r.RedirectURI}} {
		if f.v == "" {
			return TokenResponse{}, oauthErr(400, "invalid_request", f.name+" is required")
		}
	}
	appID, err := uuid.Parse(r.ClientID)
	if err != nil {
		return TokenResponse{}, oauthErr(401, "invalid_client", "client_id must be your application id")
	}
	if r.ClientSecret != "" {
		if got, err := s.apps.Authenticate(ctx, r.ClientSecret); err != nil || got != appID {
			return TokenResponse{}, oauthErr(401, "invalid_client", "client_secret is not an API key of this application")
		}
	}
	var grantID uuid.UUID
	var redirect string
	var challenge, method *string
	// Consumed before it is checked, so a wrong verifier burns the code. Only
	// the code's own application can consume it.
	err = s.pool.QueryRow(ctx, `UPDATE oauth_codes SET used_at = now() WHERE code_sha256 = $1 AND application_id = $2
		AND used_at IS NULL AND expires_at > $3 RETURNING grant_id, redirect_uri, code_challenge, code_challenge_method`,
		sha(r.Code), appID, s.now()).Scan(&grantID, &redirect, &challenge, &method)
	if errors.Is(err, pgx.ErrNoRows) {
		return TokenResponse{}, oauthErr(400, "invalid_grant", "the code is unknown, expired or already used")
	}
	if err != nil {
		return TokenResponse{}, err
	}
	if redirect != r.RedirectURI {
		return TokenResponse{}, oauthErr(400, "invalid_grant", "redirect_uri does not match the one the code was issued for")
	}
	switch {
	case challenge != nil:
		if r.CodeVerifier == "" {
			return TokenResponse{}, oauthErr(400, "invalid_grant", "code_verifier is required: the authorization used PKCE")
		}
		if !VerifyPKCE(*challenge, r.CodeVerifier) {
			return TokenResponse{}, oauthErr(400, "invalid_grant", "code_verifier does not match the code_challenge")
		}
	case r.ClientSecret == "":
		return TokenResponse{}, oauthErr(401, "invalid_client", "client_secret (your API key) is required without PKCE")
	}
	g, err := s.Store.Get(ctx, appID, grantID.String())
	if err != nil {
		return TokenResponse{}, oauthErr(400, "invalid_grant", "the grant no longer exists")
	}
	token := grantTokenPfx + randomToken(32)
	if _, err := s.pool.Exec(ctx, `INSERT INTO grant_access_tokens (token_sha256, application_id, grant_id, expires_at) VALUES ($1, $2, $3, $4)`,
		sha(token), appID, g.ID, s.now().Add(grantTokenTTL)); err != nil {
		return TokenResponse{}, err
	}
	return TokenResponse{GrantID: g.ID.String(), Provider: g.Provider, Email: g.Email, Scope: strings.Join(g.Scope, " "),
		TokenType: "Bearer", AccessToken: token, ExpiresIn: int(grantTokenTTL / time.Second)}, nil
}

// VerifyPKCE accepts S256 in both encodings: RFC 7636 (base64url of the
// SHA-256 digest) and the Nylas SDKs' (base64 without padding of the digest's
// lowercase hex).
func VerifyPKCE(challenge, verifier string) bool {
	sum := sha256.Sum256([]byte(verifier))
	rfc := base64.RawURLEncoding.EncodeToString(sum[:])
	nylas := base64.RawStdEncoding.EncodeToString([]byte(hex.EncodeToString(sum[:])))
	c := strings.TrimRight(challenge, "=")
	return subtle.ConstantTimeCompare([]byte(c), []byte(rfc)) == 1 || subtle.ConstantTimeCompare([]byte(c), []byte(nylas)) == 1
}

// AuthenticateGrantToken resolves a token from /v3/connect/token.
func (s *Service) AuthenticateGrantToken(ctx context.Context, token string) (appID, grantID uuid.UUID, err error) {
	if !strings.HasPrefix(token, grantTokenPfx) {
		return uuid.Nil, uuid.Nil, apperr.Unauthorizedf("invalid access token")
	}
	err = s.pool.QueryRow(ctx, `SELECT application_id, grant_id FROM grant_access_tokens WHERE token_sha256 = $1 AND expires_at > $2`,
		sha(token), s.now()).Scan(&appID, &grantID)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, uuid.Nil, apperr.Unauthorizedf("invalid or expired access token")
	}
	return appID, grantID, err
}

// RevokeGrantToken revokes a token from /v3/connect/token. Unknown tokens
// succeed too (RFC 7009): revocation says nothing about existence.
func (s *Service) RevokeGrantToken(ctx context.Context, token string) error {
	if token == "" {
		return oauthErr(400, "invalid_request", "token is required")
	}
	_, err := s.pool.Exec(ctx, `DELETE FROM grant_access_tokens WHERE token_sha256 = $1`, sha(token))
	return err
}

// CustomInput is POST /v3/connect/custom's body.
type CustomInput struct {
	Provider string          `json:"provider"`
	Settings json.RawMessage `json:"settings"`
}

type zoomCustomSettings struct {
	RefreshToken *string `json:"refresh_token"`
	// Under an account-level connector: the Zoom user, by email or id.
	Email  *string `json:"email"`
	UserID *string `json:"user_id"`
	// Under an admin-managed connector with several installs: the grant id
	// of the install whose account the user is in.
	InstallationID *string `json:"installation_id"`
	// Level picks the connector when the application has one of each:
	// "account" takes a refresh token as an admin's install.
	Level *string `json:"level"`
}

type virtualCustomSettings struct {
	Email *string `json:"email"`
}

// ConnectCustom makes (or re-authenticates) a grant from credentials the
// caller already holds: a Zoom refresh token, or a virtual-calendar id.
func (s *Service) ConnectCustom(ctx context.Context, appID uuid.UUID, in CustomInput) (Grant, error) {
	switch in.Provider {
	case ProviderZoom:
		var st zoomCustomSettings
		if err := strictjson.Decode(in.Settings, &st, "settings"); err != nil {
			return Grant{}, err
		}
		byCompany := st.Email != nil || st.UserID != nil || st.InstallationID != nil
		creds, err := s.zoomConnector(ctx, appID, "settings.level", deref(st.Level), byCompany)
		if err != nil {
			return Grant{}, err
		}
		if creds.AccountID != "" || byCompany {
			return s.connectAccountUser(ctx, appID, creds, st)
		}
		if st.RefreshToken == nil || *st.RefreshToken == "" || len(*st.RefreshToken) > 4096 {
			return Grant{}, apperr.InvalidField("settings.refresh_token", "is required (a Zoom refresh token, at most 4096 characters)")
		}
		app := zoom.App{ClientID: creds.ClientID, ClientSecret: creds.ClientSecret}
		// Proving the token rotates it: from here on only the new one works.
		tok, err := s.zoom.Refresh(ctx, app, *st.RefreshToken)
		countRefresh(err)
		if zoom.IsInvalidGrant(err) {
			return Grant{}, apperr.InvalidField("settings.refresh_token", "Zoom refused it (invalid_grant): it is used, revoked, expired or belongs to another Zoom app")
		}
		if err != nil {
			return Grant{}, ProviderError(err)
		}
		// Under an admin-managed connector a refresh token is an admin's
		// install, as hosted OAuth would have made it.
		return s.connectZoom(ctx, appID, creds.ConnectorID, creds.AccountLevel, app, tok)
	case ProviderVirtualCalendar:
		var st virtualCustomSettings
		if err := strictjson.Decode(in.Settings, &st, "settings"); err != nil {
			return Grant{}, err
		}
		if st.Email == nil || strings.TrimSpace(*st.Email) == "" || len(*st.Email) > 320 || strings.IndexFunc(*st.Email, unicode.IsControl) >= 0 {
			return Grant{}, apperr.InvalidField("settings.email", "is required (any identifier, at most 320 characters)")
		}
		connID, err := s.connectors.ConnectorID(ctx, appID, ProviderVirtualCalendar)
		if apperr.IsKind(err, apperr.NotFound) {
			return Grant{}, apperr.InvalidField("provider", "this application has no virtual-calendar connector (POST /v3/connectors)")
		}
		if err != nil {
			return Grant{}, err
		}
		return s.upsertVirtualCalendar(ctx, appID, connID, *st.Email)
	case "":
		return Grant{}, apperr.InvalidField("provider", "is required (zoom or virtual-calendar)")
	default:
		return Grant{}, apperr.InvalidField("provider", "unknown provider %q (supported: zoom, virtual-calendar)", truncate(in.Provider, 64))
	}
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func sha(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
