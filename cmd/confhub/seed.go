package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/confhub/confhub/connectors/zoom"
	"github.com/confhub/confhub/connectors/zoom/zoomsim"
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

// registerConnectors makes the application's Zoom connector (for app) and
// its virtual-calendar connector; one that exists already (409) is kept.
func (c apiClient) registerConnectors(app zoom.App) error {
	for _, body := range []map[string]any{
		{"provider": "zoom", "settings": map[string]any{"client_id": app.ClientID, "client_secret": app.ClientSecret}},
		{"provider": "virtual-calendar"},
	} {
		if _, status, err := c.do(http.MethodPost, "/v3/connectors", body); err != nil && status != http.StatusConflict {
			return err
		}
	}
	return nil
}

// connectCalendar connects a virtual calendar (again: the same email keeps
// its grant) and returns the grant id.
func (c apiClient) connectCalendar(email string) (string, error) {
	g, err := c.post("/v3/connect/custom", map[string]any{"provider": "virtual-calendar", "settings": map[string]any{"email": email}})
	id, _ := g["id"].(string)
	return id, err
}

// connectZoom connects the simulated Zoom user with email, bringing their
// own refresh token, and returns the grant id (the same user keeps theirs).
func (c apiClient) connectZoom(ctx context.Context, simURL string, app zoom.App, redirect, email string) (string, error) {
	refresh, err := simRefreshToken(ctx, simURL, app, redirect, email)
	if err != nil {
		return "", err
	}
	g, err := c.post("/v3/connect/custom", map[string]any{"provider": "zoom", "settings": map[string]any{"refresh_token": refresh}})
	id, _ := g["id"].(string)
	return id, err
}

// simApp registers app at the simulator with every scope confhub uses.
func simApp(sim *zoomsim.Sim, app zoom.App, redirect string) error {
	return sim.AddApp(zoomsim.AppSpec{ClientID: app.ClientID, ClientSecret: app.ClientSecret,
		RedirectURIs: []string{redirect}, Scopes: strings.Split(defaultSimScopes, ",")})
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

// demoConfiguration makes the public demo booking configuration (slug
// "demo": 30-minute slots on the calendar, each booking with its own Zoom
// meeting hosted by zoomGrant's user) and returns its id. After a restart
// the slug is taken (409): the configuration made then is found by it.
func (c apiClient) demoConfiguration(calGrant, email, calendar, zoomGrant string) (string, error) {
	path := "/v3/grants/" + calGrant + "/scheduling/configurations"
	body := map[string]any{
		"name": "Demo", "slug": "demo", "requires_session_auth": false,
		"participants": []any{map[string]any{"email": email, "name": "Demo Organizer", "is_organizer": true, "timezone": "UTC",
			"availability": map[string]any{"calendar_ids": []string{calendar}}, "booking": map[string]any{"calendar_id": calendar}}},
		"availability": map[string]any{"duration_minutes": 30, "interval_minutes": 30, "availability_rules": map[string]any{
			"default_open_hours": []any{map[string]any{"days": []int{0, 1, 2, 3, 4, 5, 6}, "start": "00:00", "end": "23:59", "timezone": "UTC"}}}},
		"event_booking": map[string]any{"title": "Demo meeting",
			"conferencing": map[string]any{"provider": "Zoom Meeting", "autocreate": map[string]any{"conf_grant_id": zoomGrant}}},
		"scheduler": map[string]any{"min_booking_notice": 0, "available_days_in_future": 14},
	}
	d, status, err := c.do(http.MethodPost, path, body)
	if err == nil {
		id, _ := d["id"].(string)
		return id, nil
	}
	if status != http.StatusConflict {
		return "", err
	}
	for token := ""; ; {
		q := url.Values{"limit": {"50"}}
		if token != "" {
			q.Set("page_token", token)
		}
		var page struct {
			Data []struct {
				ID   string `json:"id"`
				Slug string `json:"slug"`
			} `json:"data"`
			NextCursor string `json:"next_cursor"`
		}
		if err := c.getJSON(path+"?"+q.Encode(), &page); err != nil {
			return "", err
		}
		for _, cfg := range page.Data {
			if cfg.Slug == "demo" {
				return cfg.ID, nil
			}
		}
		if page.NextCursor == "" || page.NextCursor == token {
			return "", fmt.Errorf("the slug demo is taken, but no configuration of the demo calendar has it")
		}
		token = page.NextCursor
	}
}

// getJSON decodes a GET's whole answer into out.
func (c apiClient) getJSON(path string, out any) error {
	req, err := http.NewRequest(http.MethodGet, c.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, raw)
	}
	return json.Unmarshal(raw, out)
}

// company is an application seeded with a company's Server-to-Server Zoom
// app: a virtual calendar and the grants of the account's users.
type company struct {
	clientID, cal string
	grants        []string
}

// seedCompany registers, for the application c speaks for, a
// Server-to-Server app of a new Business account of 8 users (tag tells the
// accounts of one run apart) and connects them by email.
func seedCompany(c apiClient, sim *zoomsim.Sim, tag string) (company, error) {
	co := company{clientID: "s2s-" + tag}
	account, secret := "acct-"+tag, "s2s-secret-"+tag
	// Zoom's accounts exist before their apps: the users first.
	var staff []string
	for i := range 8 {
		u, err := sim.AddUser(zoomsim.UserSpec{Email: fmt.Sprintf("staff-%d@%s.invalid", i, tag), Plan: "business", AccountID: account})
		if err != nil {
			return co, err
		}
		staff = append(staff, u.Email)
	}
	if err := sim.AddApp(zoomsim.AppSpec{ClientID: co.clientID, ClientSecret: secret, AccountID: account,
		Scopes: strings.Split(defaultSimAdminScopes, ",")}); err != nil {
		return co, err
	}
	for _, body := range []map[string]any{
		{"provider": "zoom", "settings": map[string]any{"client_id": co.clientID, "client_secret": secret, "account_id": account}},
		{"provider": "virtual-calendar"},
	} {
		if _, err := c.post("/v3/connectors", body); err != nil {
			return co, err
		}
	}
	var err error
	if co.cal, err = c.connectCalendar(tag + "-room"); err != nil {
		return co, err
	}
	for _, email := range staff {
		g, err := c.post("/v3/connect/custom", map[string]any{"provider": "zoom", "settings": map[string]any{"email": email}})
		if err != nil {
			return co, err
		}
		id, _ := g["id"].(string)
		co.grants = append(co.grants, id)
	}
	return co, nil
}
