package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/confhub/confhub/connectors/zoom"
)

// apiClient calls confhub's own API, as a client would: how bench and dev
// seed their data, so that seeding goes through the same validation.
type apiClient struct {
	base, key string
	http      *http.Client
}

// do sends a JSON body and returns the response's data object.
func (c apiClient) do(method, path string, body any) (map[string]any, int, error) {
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return nil, resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	var out struct {
		Data map[string]any `json:"data"`
	}
	_ = json.Unmarshal(raw, &out)
	return out.Data, resp.StatusCode, nil
}

func (c apiClient) post(path string, body any) (map[string]any, error) {
	d, _, err := c.do(http.MethodPost, path, body)
	return d, err
}

// simRefreshToken walks the simulator's consent page as the user and
// exchanges the code, as a user bringing their own Zoom token would have.
func simRefreshToken(ctx context.Context, simURL string, app zoom.App, redirect, email string) (string, error) {
	browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.PostForm(simURL+"/oauth/authorize?"+url.Values{"response_type": {"code"}, "client_id": {app.ClientID},
		"redirect_uri": {redirect}}.Encode(), url.Values{"email": {email}, "action": {"allow"}})
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		return "", fmt.Errorf("the simulator's consent gave no code (%d %s)", resp.StatusCode, resp.Header.Get("Location"))
	}
	zc := zoom.New(zoom.Config{OAuthURL: simURL, APIURL: simURL + "/v2"})
	tok, err := zc.Exchange(ctx, app, redirect, loc.Query().Get("code"), "")
	if err != nil {
		return "", err
	}
	return tok.RefreshToken, nil
}
