package zoom

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// App is a Zoom app's OAuth credentials.
type App struct {
	ClientID     string
	ClientSecret string
}

// Token is what Zoom's token endpoint grants.
type Token struct {
	AccessToken  string
	RefreshToken string // rotated on every refresh; the previous one is dead
	TokenType    string
	Expiry       time.Time
	Scopes       []string
	APIURL       string // sometimes present
}

// HasScope reports whether any of the given scopes was granted.
func (t *Token) HasScope(any ...string) bool {
	for _, want := range any {
		for _, s := range t.Scopes {
			if s == want {
				return true
			}
		}
	}
	return false
}

func (c *Client) oauthConfig(app App, redirectURL string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     app.ClientID,
		ClientSecret: app.ClientSecret,
		RedirectURL:  redirectURL,
		Endpoint: oauth2.Endpoint{
			AuthURL:  c.oauthURL + "/oauth/authorize",
			TokenURL: c.oauthURL + "/oauth/token",
			// Zoom authenticates the client with a Basic header.
			AuthStyle: oauth2.AuthStyleInHeader,
		},
	}
}

// AuthCodeURL is the consent page URL. Zoom takes no scope parameter (scopes
// live on the app); PKCE S256 is derived from verifier when it is not empty.
func (c *Client) AuthCodeURL(app App, redirectURL, state, verifier string) string {
	var opts []oauth2.AuthCodeOption
	if verifier != "" {
		opts = append(opts, oauth2.S256ChallengeOption(verifier))
	}
	return c.oauthConfig(app, redirectURL).AuthCodeURL(state, opts...)
}

// Exchange trades an authorization code for tokens.
func (c *Client) Exchange(ctx context.Context, app App, redirectURL, code, verifier string) (*Token, error) {
	var opts []oauth2.AuthCodeOption
	if verifier != "" {
		opts = append(opts, oauth2.VerifierOption(verifier))
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	t, err := c.oauthConfig(app, redirectURL).Exchange(c.oauthContext(ctx), code, opts...)
	if err != nil {
		return nil, c.oauthError("token", err)
	}
	return c.toToken(t), nil
}

// Refresh uses a refresh token once. Zoom rotates it: only the returned
// RefreshToken works from now on, and a lost answer cannot be recovered, so
// the caller must store the result before anything else can fail.
func (c *Client) Refresh(ctx context.Context, app App, refreshToken string) (*Token, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	src := c.oauthConfig(app, "").TokenSource(c.oauthContext(ctx), &oauth2.Token{RefreshToken: refreshToken})
	t, err := src.Token()
	if err != nil {
		return nil, c.oauthError("token", err)
	}
	return c.toToken(t), nil
}

// AccountCredentials gets a server-to-server app's account token (no refresh
// token; API calls then name a user id or email instead of "me").
func (c *Client) AccountCredentials(ctx context.Context, app App, accountID string) (*Token, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	cfg := clientcredentials.Config{
		ClientID:     app.ClientID,
		ClientSecret: app.ClientSecret,
		TokenURL:     c.oauthURL + "/oauth/token",
		AuthStyle:    oauth2.AuthStyleInHeader,
		EndpointParams: url.Values{
			"grant_type": {"account_credentials"},
			"account_id": {accountID},
		},
	}
	t, err := cfg.Token(c.oauthContext(ctx))
	if err != nil {
		return nil, c.oauthError("token", err)
	}
	return c.toToken(t), nil
}

// Revoke revokes a token (access or refresh). Zoom then sends the app its
// deauthorization notice.
func (c *Client) Revoke(ctx context.Context, app App, token string) error {
	req, err := http.NewRequest(http.MethodPost, c.oauthURL+"/oauth/revoke", strings.NewReader(url.Values{"token": {token}}.Encode()))
	if err != nil {
		return err
	}
	req.SetBasicAuth(url.QueryEscape(app.ClientID), url.QueryEscape(app.ClientSecret))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	_, body, err := c.send(ctx, "revoke", req)
	if err != nil {
		return err
	}
	var out struct {
		Status string `json:"status"`
	}
	if json.Unmarshal(body, &out) != nil || out.Status != "success" {
		return &Error{Op: "revoke", HTTPStatus: http.StatusOK, Message: "unexpected answer: " + snippet(body)}
	}
	return nil
}

// oauthContext makes x/oauth2 use our instrumented client.
func (c *Client) oauthContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, c.hc)
}

// oauthError converts x/oauth2's errors into *Error.
func (c *Client) oauthError(op string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		e := errorFromResponse(op, re.Response, re.Body, c.now())
		if e.OAuthError == "" {
			e.OAuthError = re.ErrorCode
		}
		return e
	}
	// No response: a transport failure. A token request that was sent may
	// have rotated the refresh token at Zoom.
	return &Error{Op: op, Err: err, MaybeCommitted: true}
}

func (c *Client) toToken(t *oauth2.Token) *Token {
	out := &Token{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, TokenType: t.TokenType, Expiry: t.Expiry}
	// x/oauth2 dates the expiry by the wall clock; use ours, so that tests
	// with a simulated clock and production agree.
	if secs := t.ExpiresIn; secs > 0 {
		out.Expiry = c.now().Add(time.Duration(secs) * time.Second)
	}
	if s, ok := t.Extra("scope").(string); ok {
		out.Scopes = strings.Fields(strings.ReplaceAll(s, ",", " "))
	}
	if s, ok := t.Extra("api_url").(string); ok {
		out.APIURL = s
	}
	return out
}
