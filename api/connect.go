package api

import (
	"io"
	"mime"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/confhub/confhub/grants"
	"github.com/confhub/confhub/internal/apperr"
)

func (s *Server) connectAuth(c echo.Context) error {
	q := c.Request().URL.Query()
	loc, err := s.deps.Grants.StartAuth(c.Request().Context(), grants.AuthRequest{
		ClientID: q.Get("client_id"), RedirectURI: q.Get("redirect_uri"), ResponseType: q.Get("response_type"),
		Provider: q.Get("provider"), AccessType: q.Get("access_type"), State: q.Get("state"), Scope: q.Get("scope"),
		LoginHint: q.Get("login_hint"), CodeChallenge: q.Get("code_challenge"), ChallengeMethod: q.Get("code_challenge_method"),
		Level: q.Get("level"),
	})
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusFound, loc)
}

func (s *Server) connectCallback(c echo.Context) error {
	loc, err := s.deps.Grants.Callback(c.Request().Context(), c.Request().URL.Query())
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusFound, loc)
}

// connectToken takes JSON or a form, as OAuth clients send either, and
// answers flat, not under "data".
func (s *Server) connectToken(c echo.Context) error {
	var req grants.TokenRequest
	if err := decodeJSONOrForm(c, &req); err != nil {
		return err
	}
	resp, err := s.deps.Grants.ExchangeCode(c.Request().Context(), req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, resp)
}

func (s *Server) connectRevoke(c echo.Context) error {
	token := c.QueryParam("token")
	if token == "" {
		var body struct {
			Token string `json:"token"`
		}
		if err := decodeJSONOrForm(c, &body); err != nil {
			return err
		}
		token = body.Token
	}
	if err := s.deps.Grants.RevokeGrantToken(c.Request().Context(), token); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{})
}

func decodeJSONOrForm(c echo.Context, v any) error {
	req := c.Request()
	mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if mt == "application/x-www-form-urlencoded" {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return &apperr.OAuthError{Status: 400, Code: "invalid_request", Description: "the body could not be read (at most 1 MiB)"}
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return &apperr.OAuthError{Status: 400, Code: "invalid_request", Description: "the form body is malformed"}
		}
		switch t := v.(type) {
		case *grants.TokenRequest:
			*t = grants.TokenRequest{GrantType: form.Get("grant_type"), ClientID: form.Get("client_id"), ClientSecret: form.Get("client_secret"),
				Code: form.Get("code"), RedirectURI: form.Get("redirect_uri"), CodeVerifier: form.Get("code_verifier")}
		case *struct {
			Token string `json:"token"`
		}:
			t.Token = form.Get("token")
		}
		return nil
	}
	if err := decodeBody(c, v); err != nil {
		if e, ok := apperr.As(err); ok {
			return &apperr.OAuthError{Status: 400, Code: "invalid_request", Description: e.Public()}
		}
		return err
	}
	return nil
}

func (s *Server) connectCustom(c echo.Context) error {
	var in grants.CustomInput
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	g, err := s.deps.Grants.ConnectCustom(c.Request().Context(), applicationID(c), in)
	if err != nil {
		return err
	}
	return ok(c, http.StatusCreated, toGrantJSON(g))
}

// zoomWebhook receives Zoom's notices. Give Zoom <public URL>/v3/connect/zoom/webhook
// as the app's event notification endpoint, subscribed to meeting.updated and
// meeting.deleted besides deauthorization. grants verifies every notice; a
// meeting event it passes on is applied by the events workflows.
func (s *Server) zoomWebhook(c echo.Context) error {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return apperr.Invalidf("request body is larger than %d bytes", MaxBodyBytes)
	}
	h := c.Request().Header
	ctx := c.Request().Context()
	v, meeting, err := s.deps.Grants.HandleZoomWebhook(ctx, h.Get("x-zm-request-timestamp"), h.Get("x-zm-signature"), body)
	if err != nil {
		return err
	}
	if v != nil {
		return c.JSON(http.StatusOK, v) // exactly {plainToken, encryptedToken}
	}
	if meeting != nil {
		if err := s.deps.Events.FollowZoomMeeting(ctx, *meeting); err != nil {
			return err
		}
	}
	return c.JSON(http.StatusOK, deleted{RequestID: requestIDOf(c)})
}
