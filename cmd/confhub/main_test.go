package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/server/temporaltest"

	"github.com/confhub/confhub/connectors"
	"github.com/confhub/confhub/internal/pgcluster"
	"github.com/confhub/confhub/internal/pgtest"
	"github.com/confhub/confhub/internal/vault"
	"github.com/confhub/confhub/internal/webhooks"
)

func TestMain(m *testing.M) {
	// Helper mode: the test binary is confhub itself (tests that need a
	// separate process, to send it Ctrl-C or to restart it, run this).
	if args := os.Getenv("CONFHUB_TEST_MAIN"); args != "" {
		os.Args = append([]string{"confhub"}, strings.Split(args, "\x1f")...)
		main()
		os.Exit(0)
	}
	// Helper mode: a Temporal server that a test can kill and start again
	// (harness_test.go).
	if addr := os.Getenv("CONFHUB_TEST_TEMPORAL"); addr != "" {
		os.Exit(runTemporalServer(addr, os.Getenv("CONFHUB_TEST_TEMPORAL_DB")))
	}
	os.Exit(pgtest.Run(m))
}

var (
	temporalOnce sync.Once
	temporalSrv  *temporaltest.TestServer
)

// withTemporal adds an in-process Temporal server's address to env.
func withTemporal(env map[string]string) map[string]string {
	temporalOnce.Do(func() { temporalSrv = temporaltest.NewServer() })
	env["TEMPORAL_ADDRESS"] = temporalSrv.GetFrontendHostPort()
	env["TEMPORAL_NAMESPACE"] = temporalSrv.GetDefaultNamespace()
	return env
}

func keySpec(id string, fill byte) string {
	return id + ":" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{fill}, 32))
}

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func runCmd(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = run(context.Background(), append([]string{"confhub"}, args...), envOf(env), &out, &errb)
	return out.String(), errb.String(), err
}

func TestEveryCommandHasHelp(t *testing.T) {
	for _, c := range commands() {
		args := append(strings.Fields(c.name), "--help")
		_, stderr, err := runCmd(t, nil, args...)
		if err != nil {
			t.Errorf("%s --help: %v", c.name, err)
		}
		if !strings.Contains(stderr, "Usage: confhub "+strings.Fields(c.name)[0]) {
			t.Errorf("%s --help printed %q", c.name, stderr)
		}
	}
	if _, stderr, err := runCmd(t, nil, "--help"); err != nil || !strings.Contains(stderr, "keys rotate") {
		t.Errorf("confhub --help: %v %q", err, stderr)
	}
	var ue usageError
	if _, _, err := runCmd(t, nil, "frobnicate"); !errors.As(err, &ue) {
		t.Errorf("unknown command: err = %v, want a usage error", err)
	}
	if _, _, err := runCmd(t, nil, "apps", "create"); !errors.As(err, &ue) {
		t.Errorf("apps create without --name: err = %v, want a usage error", err)
	}
}

func TestBadConfigStopsWithOneLineNamingIt(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, "DATABASE_URL"},
		{map[string]string{"DATABASE_URL": "postgres://x@127.0.0.1:1/db"}, "CONFHUB_ENCRYPTION_KEYS"},
		{map[string]string{"DATABASE_URL": "postgres://x@127.0.0.1:1/db", "CONFHUB_ENCRYPTION_KEYS": "k1:short"}, "CONFHUB_ENCRYPTION_KEYS"},
	} {
		for _, cmd := range [][]string{{"serve"}, {"migrate"}, {"keys", "rotate"}} {
			_, _, err := runCmd(t, tc.env, cmd...)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("%v with %v: err = %v, want one line naming %s", cmd, tc.env, err, tc.want)
			}
		}
	}
}

func TestAppsCreatePrintsIDAndKey(t *testing.T) {
	_, url := pgtest.New(t)
	env := map[string]string{"DATABASE_URL": url, "CONFHUB_ENCRYPTION_KEYS": keySpec("k1", 1)}
	stdout, _, err := runCmd(t, env, "apps", "create", "--name", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]string
	if err := json.Unmarshal([]byte(stdout), &out); err != nil || len(out) != 2 {
		t.Fatalf("stdout %q is not one JSON object with two fields: %v", stdout, err)
	}
	if _, err := uuid.Parse(out["application_id"]); err != nil || !strings.HasPrefix(out["api_key"], "ck_") {
		t.Fatalf("output %v", out)
	}
	// The key works against a running server.
	base := startServe(t, env)
	req, _ := http.NewRequest("GET", base+"/v3/applications", nil)
	req.Header.Set("Authorization", "Bearer "+out["api_key"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			ApplicationID string `json:"application_id"`
			Name          string `json:"name"`
		} `json:"data"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != 200 || body.Data.ApplicationID != out["application_id"] || body.Data.Name != "Acme" {
		t.Fatalf("GET /v3/applications with the new key: %d %+v", resp.StatusCode, body)
	}
}

// startServe runs `confhub serve` in-process on a free port until the test ends.
func startServe(t *testing.T, env map[string]string) string {
	t.Helper()
	base, _ := startServeLogs(t, env)
	return base
}

// startServeLogs is startServe that also hands back what serve logs.
func startServeLogs(t *testing.T, env map[string]string) (string, *syncBuffer) {
	t.Helper()
	port, err := pgcluster.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	e := withTemporal(map[string]string{"CONFHUB_HTTP_ADDR": fmt.Sprintf("127.0.0.1:%d", port)})
	for k, v := range env {
		e[k] = v
	}
	var args []string
	if role := e["TEST_ROLE"]; role != "" {
		args = append(args, "--role", role)
	}
	done, stderr := runServe(t, e, args...)
	base := "http://" + e["CONFHUB_HTTP_ADDR"]
	ready := eventually(20*time.Second, func() bool {
		select {
		case err := <-done:
			t.Fatalf("serve exited early: %v", err)
		default:
		}
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	if !ready {
		t.Fatal("serve did not become ready")
	}
	return base, stderr
}

// runServe runs `confhub serve` in-process with env until the test ends,
// then checks that it stops cleanly; done reports an early exit.
func runServe(t *testing.T, env map[string]string, args ...string) (done <-chan error, logs *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan error, 1)
	logs = &syncBuffer{}
	go func() {
		exited <- run(ctx, append([]string{"confhub", "serve"}, args...), envOf(env), &bytes.Buffer{}, logs)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("serve returned %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop within 30s of cancellation")
		}
	})
	return exited, logs
}

func TestServeShutsDownGracefully(t *testing.T) {
	_, url := pgtest.New(t)
	port, _ := pgcluster.FreePort()
	env := envOf(withTemporal(map[string]string{"DATABASE_URL": url, "CONFHUB_ENCRYPTION_KEYS": keySpec("k1", 1),
		"CONFHUB_HTTP_ADDR": fmt.Sprintf("127.0.0.1:%d", port)}))
	ctx, cancel := context.WithCancel(context.Background())
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"confhub", "serve"}, env, &bytes.Buffer{}, &stderr) }()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	answered := eventually(20*time.Second, func() bool {
		select {
		case err := <-done:
			t.Fatalf("serve exited early: %v", err)
		default:
		}
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	if !answered {
		t.Fatal("serve never answered")
	}
	cancel() // what SIGINT/SIGTERM do through signal.NotifyContext
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(25 * time.Second):
		t.Fatal("serve did not stop")
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("still serving after shutdown")
	}
	if !strings.Contains(stderr.String(), `"msg":"stopped"`) {
		t.Fatalf("no clean stop in the log: %s", stderr.String())
	}
}

// Replicas starting together must not trip over each other's migrations.
func TestConcurrentMigrationsAreSafe(t *testing.T) {
	url := pgtest.EmptyDB(t)
	env := map[string]string{"DATABASE_URL": url, "CONFHUB_ENCRYPTION_KEYS": keySpec("k1", 1)}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out, errb bytes.Buffer
			errs[i] = run(context.Background(), []string{"confhub", "migrate"}, envOf(env), &out, &errb)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("migrate #%d: %v", i, err)
		}
	}
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var applied, files int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM goose_db_version WHERE version_id > 0 AND is_applied`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir("../../migrations")
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".sql") {
			files++
		}
	}
	if applied != files {
		t.Fatalf("%d migrations recorded, %d files: each must apply exactly once", applied, files)
	}
}

func TestKeysRotateMovesEverySecretToTheActiveKey(t *testing.T) {
	pool, url := pgtest.New(t)
	ctx := context.Background()
	k1, k2 := keySpec("k1", 1), keySpec("k2", 2)
	env := map[string]string{"DATABASE_URL": url, "CONFHUB_ENCRYPTION_KEYS": k1}

	// Two applications with Zoom connectors sealed under k1.
	old, _ := vault.ParseKeys(k1)
	var appIDs []uuid.UUID
	for i, secret := range []string{"secret-one", "secret-two"} {
		stdout, _, err := runCmd(t, env, "apps", "create", "--name", fmt.Sprint("app", i))
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]string
		_ = json.Unmarshal([]byte(stdout), &out)
		id := uuid.MustParse(out["application_id"])
		appIDs = append(appIDs, id)
		tok := "tok"
		if _, err := connectors.NewStore(pool, old).Create(ctx, id, connectors.CreateInput{Provider: "zoom",
			Settings: []byte(fmt.Sprintf(`{"client_id":"c%d","client_secret":%q,"secret_token":%q}`, i, secret, tok))}); err != nil {
			t.Fatal(err)
		}
	}

	// And a webhook destination's signing secret.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.URL.Query().Get("challenge"))
	}))
	defer echo.Close()
	hookURL, triggers := echo.URL, []string{webhooks.EventCreated}
	hook, hookSecret, err := webhooks.NewStore(pool, old, nil, nil).Create(ctx, appIDs[0], webhooks.Input{TriggerTypes: &triggers, WebhookURL: &hookURL})
	if err != nil {
		t.Fatal(err)
	}

	env["CONFHUB_ENCRYPTION_KEYS"] = k2 + "," + k1
	stdout, _, err := runCmd(t, env, "keys", "rotate")
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(stdout), &res); err != nil || res["rotated"] != float64(5) || res["active_key"] != "k2" {
		t.Fatalf("rotate output %q (%v), want 5 rotated to k2", stdout, err)
	}
	var sealed string
	if err := pool.QueryRow(ctx, `SELECT secret_enc FROM webhooks WHERE id = $1`, hook.ID).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	onlyK2, _ := vault.ParseKeys(k2)
	if got, err := onlyK2.Open(sealed, vault.Binding{ApplicationID: appIDs[0].String(), Table: "webhooks", RowID: hook.ID.String(),
		Column: "secret_enc"}); err != nil || got != hookSecret {
		t.Fatalf("the webhook secret after rotation: %v", err)
	}
	var stale int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM connectors WHERE client_secret_enc NOT LIKE 'v1:k2:%' OR secret_token_enc NOT LIKE 'v1:k2:%'`).Scan(&stale); err != nil || stale != 0 {
		t.Fatalf("%d rows still under an old key (%v)", stale, err)
	}
	// Idempotent.
	stdout, _, _ = runCmd(t, env, "keys", "rotate")
	if !strings.Contains(stdout, `"rotated":0`) {
		t.Fatalf("second rotate: %s", stdout)
	}
	// The old key can now be removed: k2 alone opens everything; k1 alone opens nothing.
	onlyNew, _ := vault.ParseKeys(k2)
	for i, id := range appIDs {
		apps, err := connectors.NewStore(pool, onlyNew).ZoomApps(ctx, id)
		if err != nil || len(apps) != 1 {
			t.Fatalf("app %d with k2 only: %+v %v", i, apps, err)
		}
		creds := apps[0]
		if creds.ClientSecret != []string{"secret-one", "secret-two"}[i] || creds.SecretToken != "tok" {
			t.Fatalf("app %d with k2 only: %+v %v", i, creds, err)
		}
		if _, err := connectors.NewStore(pool, old).ZoomApps(ctx, id); err == nil {
			t.Fatalf("app %d: the retired key still opens the rotated secret", i)
		}
	}
}

func TestZoomsimCommandServesAndStops(t *testing.T) {
	port, _ := pgcluster.FreePort()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"confhub", "zoomsim", "--addr", addr, "--app-client-id", "cid", "--app-client-secret", "cs",
			"--app-redirect-uri", "http://localhost:3000/cb", "--user", "alice@example.com:business", "--token-ttl", "90s"}, envOf(nil), &stdout, &stderr)
	}()
	var resp *http.Response
	var err error
	if !eventually(20*time.Second, func() bool {
		resp, err = http.Get("http://" + addr + "/oauth/authorize?response_type=code&client_id=cid&redirect_uri=http://localhost:3000/cb")
		return err == nil
	}) {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("consent page of the preloaded app: %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if out := stdout.String(); !strings.Contains(out, "alice@example.com") || !strings.Contains(out, "ZOOM_API_URL=http://"+addr+"/v2") {
		t.Fatalf("startup output: %s", out)
	}
}

// Key rotation walks these columns by name: each must exist, with the id and
// application_id columns the binding uses.
func TestEncryptedColumnsExist(t *testing.T) {
	pool, _ := pgtest.New(t)
	for _, c := range encryptedColumns() {
		var n int
		err := pool.QueryRow(context.Background(), `SELECT count(*) FROM information_schema.columns
			WHERE table_schema = 'public' AND table_name = $1 AND column_name IN ($2, 'id', 'application_id')`, c.Table, c.Column).Scan(&n)
		if err != nil || n != 3 {
			t.Errorf("%s.%s: %d of the 3 columns rotation needs exist (%v)", c.Table, c.Column, n, err)
		}
	}
	if len(encryptedColumns()) < 5 {
		t.Fatalf("only %d encrypted columns registered", len(encryptedColumns()))
	}
}
