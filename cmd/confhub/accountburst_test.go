package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/confhub/confhub/internal/await"
)

// accountTokenOnce: a company's Server-to-Server Zoom app serves 8 users of
// its account; right after the account token expired, 64 creates go out
// at once, half through each `confhub serve` process. Zoom is asked for
// exactly one new token: the fetch is single-flight across the processes
// (issue 14). A step of TestOutages, on its harness.
func (h *harness) accountTokenOnce(t *testing.T) {
	stdout, _, err := runCmd(t, h.env, "apps", "create", "--name", "Company")
	if err != nil {
		t.Fatal(err)
	}
	var app map[string]string
	if err := json.Unmarshal([]byte(stdout), &app); err != nil {
		t.Fatal(err)
	}
	key := app["api_key"]
	call := func(c *child, method, path string, body any, idem string) (int, []byte) {
		b, _ := json.Marshal(body)
		req, err := http.NewRequest(method, "http://"+c.addr+path, bytes.NewReader(b))
		if err != nil {
			return 0, []byte(err.Error())
		}
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		if idem != "" {
			req.Header.Set("Idempotency-Key", idem)
		}
		resp, err := h.http.Do(req)
		if err != nil {
			return 0, []byte(err.Error())
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, raw
	}
	co, err := seedCompany(apiClient{base: "http://" + h.serves[0].addr, key: key, http: h.http}, h.sim, "company")
	if err != nil {
		t.Fatal(err)
	}
	cal, grants, clientID := co.cal, co.grants, co.clientID
	h.awaitReady(t)
	pool, err := pgxpool.New(context.Background(), h.pg.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(context.Background(), `UPDATE zoom_account_tokens SET expires_at = now() - interval '1 minute'`); err != nil {
		t.Fatal(err)
	}
	before, meetingsBefore := h.sim.Stats().AccountTokens[clientID], len(simMeetings(t, h.simURL))
	start := time.Now().UTC().Truncate(time.Hour).Add(96 * time.Hour)
	statuses, bodies := make([]int, 64), make([]string, 64)
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			body := map[string]any{"title": fmt.Sprint("Company call ", i),
				"when":         map[string]any{"start_time": start.Add(time.Duration(i) * time.Hour).Unix(), "end_time": start.Add(time.Duration(i)*time.Hour + 30*time.Minute).Unix()},
				"conferencing": map[string]any{"provider": "Zoom Meeting", "autocreate": map[string]any{"conf_grant_id": grants[i%len(grants)]}}}
			idem := fmt.Sprintf("company-burst-%d", i)
			// A client retries a 503 (with Retry-After) under its key.
			await.Until(time.Minute, func() bool {
				s, raw := call(h.serves[i%2], http.MethodPost, "/v3/grants/"+cal+"/events?calendar_id=primary", body, idem)
				statuses[i], bodies[i] = s, string(raw)
				return s != http.StatusServiceUnavailable && s != 0
			})
		})
	}
	wg.Wait()
	for i, s := range statuses {
		if s != http.StatusOK {
			t.Fatalf("create %d via %s: %d %s", i, h.serves[i%2].name, s, bodies[i])
		}
	}
	if n := h.sim.Stats().AccountTokens[clientID] - before; n != 1 {
		t.Errorf("%d account token requests for 64 creates over two processes on an expired token, want 1", n)
	}
	if n := len(simMeetings(t, h.simURL)) - meetingsBefore; n != 64 {
		t.Errorf("%d meetings made for 64 creates, want 64", n)
	}
}
