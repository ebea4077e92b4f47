package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/confhub/confhub/internal/pgcluster"
	"github.com/confhub/confhub/internal/temporalsrv"
)

// readiness is /readyz's answer: its status and what it says is missing.
func readiness(base string) (int, []string) {
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Missing []string `json:"missing"`
		} `json:"data"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Data.Missing
}

// serve, started while neither PostgreSQL nor Temporal answers, stays up:
// /readyz names what is missing, API requests answer 503 with Retry-After
// at once; as each dependency comes up the service migrates, joins
// Temporal, and serves, with nothing restarted.
func TestServeStartsWithDependenciesDown(t *testing.T) {
	ports := freePorts(t, 3)
	pgPort, err := pgcluster.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The postgres user (PostgreSQL runs as it under root) must be able to enter it.
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{
		"CONFHUB_HTTP_ADDR": ports[0], "TEMPORAL_ADDRESS": ports[1], "TEMPORAL_NAMESPACE": "default",
		"DATABASE_URL":            fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", pgPort),
		"CONFHUB_ENCRYPTION_KEYS": keySpec("k1", 1),
	}
	done, logs := runServe(t, env)
	ctx := context.Background()
	base := "http://" + ports[0]
	missing := func(want ...string) func() bool {
		return func() bool {
			select {
			case err := <-done:
				t.Fatalf("serve exited: %v\n%s", err, logs.String())
			default:
			}
			status, got := readiness(base)
			if len(want) == 0 {
				return status == 200
			}
			return status == 503 && slices.Equal(got, want)
		}
	}
	waitUntil(t, "/readyz to name the database and Temporal as missing", missing("database", "temporal"))

	// An API request answers 503 with Retry-After, quickly.
	began := time.Now()
	resp, err := http.Get(base + "/v3/grants")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || time.Since(began) > 10*time.Second {
		t.Fatalf("GET /v3/grants with the database down: %d, Retry-After %q, after %v", resp.StatusCode, resp.Header.Get("Retry-After"), time.Since(began))
	}

	// PostgreSQL comes up: serve migrates on its own.
	pg, err := pgcluster.New(filepath.Join(dir, "pg"), pgPort, pgcluster.Options{Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := pg.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := pg.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg.Stop() })
	waitUntil(t, "serve to migrate once PostgreSQL is up, leaving only Temporal missing", missing("temporal"))
	stdout, _, err := runCmd(t, env, "apps", "create", "--name", "Late")
	if err != nil {
		t.Fatal(err)
	}
	var app map[string]string
	_ = json.Unmarshal([]byte(stdout), &app)
	api := apiClient{base: base, key: app["api_key"], http: http.DefaultClient}
	if _, err := api.post("/v3/connectors", map[string]any{"provider": "virtual-calendar"}); err != nil {
		t.Fatal(err)
	}
	cal, err := api.connectCalendar("late@example.com")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(24 * time.Hour).Unix()
	event := map[string]any{"title": "Waiting for Temporal", "when": map[string]any{"start_time": start, "end_time": start + 1800}}
	// Temporal is still down: a create answers 503, bounded.
	status, hdr, raw := api.raw("POST", "/v3/grants/"+cal+"/events?calendar_id=primary", event)
	if status != 503 || hdr.Get("Retry-After") == "" || !strings.Contains(raw, "service_unavailable") {
		t.Fatalf("a create with Temporal down: %d %s (Retry-After %q)", status, raw, hdr.Get("Retry-After"))
	}

	// Temporal comes up: the worker joins it, and the create goes through.
	ts, err := temporalsrv.Start(ctx, temporalsrv.Options{SQLiteFile: filepath.Join(dir, "temporal.db"), Frontend: ports[1], Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ts.Stop)
	waitUntil(t, "/readyz to answer ready once Temporal is up", missing())
	if _, err := api.post("/v3/grants/"+cal+"/events?calendar_id=primary", event); err != nil {
		t.Fatalf("a create once everything is up: %v", err)
	}
}

// raw sends a request and returns the answer as it is, whatever its status.
func (a apiClient) raw(method, path string, body any) (int, http.Header, string) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, a.base+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+a.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.http.Do(req)
	if err != nil {
		return 0, nil, err.Error()
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(out)
}
