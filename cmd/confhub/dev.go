package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/confhub/confhub/connectors/zoom"
	"github.com/confhub/confhub/connectors/zoom/zoomsim"
	"github.com/confhub/confhub/internal/applications"
	"github.com/confhub/confhub/internal/pgcluster"
	"github.com/confhub/confhub/internal/telemetry"
	"github.com/confhub/confhub/internal/temporalsrv"
	"github.com/confhub/confhub/internal/webhooks"
)

// The dev stack's simulated Zoom: one app and one Pro user, with fixed ids
// so that a restart (or a lost simulator file) finds the same grant.
const (
	devZoomClientID = "confhub-dev-zoom-app"
	devZoomUserID   = "devZoomUser0000000001"
	devZoomEmail    = "host@zoom.example"
	devCalendarUser = "demo-room@example.com"
)

// devStack is what `confhub dev` started, for the summary it prints.
type devStack struct {
	dir, api, temporal, namespace, ui, sim    string
	appID, key, calGrant, calendar, zoomGrant string
	demoConfig, webhooks                      string
	start                                     time.Time
}

// cmdDev runs the whole service on one machine with nothing installed but
// the PostgreSQL binaries: a private cluster, an embedded Temporal server
// (with its Web UI), the Zoom simulator, the API and the worker, and seeds a
// demo application with a calendar and a Zoom account.
func cmdDev(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("dev [flags]", "Runs confhub locally with everything embedded: a private PostgreSQL under the data directory\n"+
		"(as the postgres user when run as root), a Temporal server on a SQLite file there (with its Web UI),\n"+
		"the Zoom simulator (one app, one Pro user), the API and the worker. Seeds a demo application, a\n"+
		"Zoom connector, a virtual calendar and a Zoom grant, and prints curl commands to try.\n"+
		"The API listens on CONFHUB_HTTP_ADDR (default 127.0.0.1:8080). Ctrl-C stops everything;\n"+
		"running it again reuses the data.", stderr)
	dataDir := fs.String("data-dir", ".confhub", "where the database, Temporal's file, the simulator's data and the demo credentials live")
	reset := fs.Bool("reset", false, "delete the data directory first and start over")
	temporalAddr := fs.String("temporal-addr", "127.0.0.1:7233", "the embedded Temporal server's gRPC address")
	uiAddr := fs.String("temporal-ui-addr", "127.0.0.1:8233", "the Temporal Web UI's address (off: no UI)")
	simAddr := fs.String("zoomsim-addr", "127.0.0.1:9090", "the Zoom simulator's address")
	hookAddr := fs.String("webhook-receiver-addr", "127.0.0.1:8099", "where a local webhook receiver prints the demo application's notifications (off: none)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	dir, err := filepath.Abs(*dataDir)
	if err != nil {
		return err
	}
	if *reset {
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	// 0711: the postgres user must be able to pass through to its cluster directory.
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		return err
	}
	keys, err := devKeys(filepath.Join(dir, "encryption-keys"))
	if err != nil {
		return err
	}
	httpAddr := getenv("CONFHUB_HTTP_ADDR")
	if httpAddr == "" {
		httpAddr = "127.0.0.1:8080"
	}
	// Every port is checked before anything starts, so that a second `make
	// run` says which one is taken instead of half starting.
	for _, p := range []struct{ name, addr string }{{"CONFHUB_HTTP_ADDR", httpAddr}, {"--temporal-addr", *temporalAddr},
		{"--temporal-ui-addr", *uiAddr}, {"--zoomsim-addr", *simAddr}, {"--webhook-receiver-addr", *hookAddr}} {
		if p.addr == "off" && (p.name == "--temporal-ui-addr" || p.name == "--webhook-receiver-addr") {
			continue
		}
		if err := portFree(p.addr); err != nil {
			return fmt.Errorf("%s %s is not free (is another confhub dev running?): %w", p.name, p.addr, err)
		}
	}

	cluster, err := pgcluster.Launch(ctx, filepath.Join(dir, "pg"), pgcluster.Options{})
	if err != nil {
		return err
	}
	defer cluster.Stop()

	// Temporal's own logs are many and mostly about its internals: they go
	// to a file beside its database.
	tlogFile, err := os.OpenFile(filepath.Join(dir, "temporal.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer tlogFile.Close()
	ui := *uiAddr
	if ui == "off" {
		ui = ""
	}
	ts, err := temporalsrv.Start(ctx, temporalsrv.Options{
		SQLiteFile: filepath.Join(dir, "temporal", "temporal.db"), Frontend: *temporalAddr, UI: ui, Namespace: "default",
		Log: slog.New(slog.NewJSONHandler(tlogFile, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	defer ts.Stop()

	sim, simURL, stopSim, err := devSimulator(filepath.Join(dir, "zoomsim.json"), *simAddr)
	if err != nil {
		return err
	}
	defer stopSim()

	env := map[string]string{
		"DATABASE_URL":            cluster.URL("postgres"),
		"CONFHUB_ENCRYPTION_KEYS": keys,
		"CONFHUB_HTTP_ADDR":       httpAddr,
		"TEMPORAL_ADDRESS":        ts.Frontend(),
		"TEMPORAL_NAMESPACE":      "default",
		"ZOOM_OAUTH_URL":          simURL,
		"ZOOM_API_URL":            simURL + "/v2",
	}
	// The stack's own parts win over the environment; the rest (log level,
	// public URL) may be set as for serve.
	devenv := func(k string) string {
		if v, ok := env[k]; ok && k != "CONFHUB_HTTP_ADDR" {
			return v
		}
		if v := getenv(k); v != "" {
			return v
		}
		return env[k]
	}
	flush, err := telemetry.Setup(ctx, devenv)
	if err != nil {
		return err
	}
	defer flushTraces(flush)
	cfg, pool, log, err := setup(ctx, devenv, stderr)
	if err != nil {
		return err
	}
	defer pool.Close()
	// Hosted OAuth comes back to the public URL: the simulated app knows it.
	zapp, err := devZoomApp(dir)
	if err != nil {
		return err
	}
	if err := simApp(sim, zapp, cfg.PublicURL+"/v3/connect/callback"); err != nil {
		return err
	}

	appID, apiKey, err := devApplication(ctx, applications.NewStore(pool), filepath.Join(dir, "demo-api-key"))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var hooks *devReceiver
	if *hookAddr != "off" {
		if hooks, err = startDevReceiver(ctx, *hookAddr, stdout); err != nil {
			return err
		}
	}
	err = runService(ctx, cfg, pool, log, "all", func(addr string) {
		// The server answers once this returns: seed from another goroutine.
		go func() {
			st := &devStack{dir: dir, api: cfg.PublicURL, temporal: ts.Frontend(), namespace: "default", ui: ts.UIURL(), sim: simURL,
				appID: appID, key: apiKey, start: time.Now().UTC().Add(24 * time.Hour).Truncate(24 * time.Hour).Add(15 * time.Hour)}
			if err := devSeed(ctx, st, zapp, simURL, hooks); err != nil {
				cancel(fmt.Errorf("seeding the demo data: %w", err))
				return
			}
			if err := os.WriteFile(filepath.Join(dir, "demo.env"), []byte(st.envFile()), 0o600); err != nil {
				cancel(err)
				return
			}
			fmt.Fprint(stdout, st.summary())
		}()
	}, nil)
	if cause := context.Cause(ctx); err == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}

// devSimulator starts the Zoom simulator with the dev app and user, from its
// saved data when there is some; the returned stop saves it again.
func devSimulator(file, addr string) (*zoomsim.Sim, string, func(), error) {
	sim := zoomsim.New(zoomsim.Options{})
	if f, err := os.Open(file); err == nil {
		err = sim.Load(f)
		f.Close()
		if err != nil {
			return nil, "", nil, fmt.Errorf("%s: %w (delete it, or run with --reset)", file, err)
		}
	}
	// An error means the user is there already (loaded from the file).
	_, _ = sim.AddUser(zoomsim.UserSpec{ID: devZoomUserID, Email: devZoomEmail, Plan: "pro"})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", nil, fmt.Errorf("--zoomsim-addr %s: %w", addr, err)
	}
	hs := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	save := func() {
		tmp := file + ".tmp"
		f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
		if err != nil {
			return
		}
		if err := sim.Save(f); err == nil && f.Close() == nil {
			_ = os.Rename(tmp, file)
		}
	}
	// Saved every few seconds too, so a killed dev loses little.
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				save()
			}
		}
	}()
	stop := func() {
		close(done)
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
		save()
	}
	return sim, "http://" + ln.Addr().String(), stop, nil
}

// devZoomApp is the simulated Zoom app confhub's connector names; its
// secret is made once and kept under the data directory.
func devZoomApp(dir string) (zoom.App, error) {
	secret, err := devZoomSecret(filepath.Join(dir, "zoomsim.json.client-secret"))
	return zoom.App{ClientID: devZoomClientID, ClientSecret: secret}, err
}

// devSeed makes (or finds again: every step is idempotent) the Zoom
// connector, the virtual calendar, the Zoom grant and the demo booking
// configuration, through the API.
func devSeed(ctx context.Context, st *devStack, app zoom.App, simURL string, hooks *devReceiver) error {
	c := apiClient{base: st.api, key: st.key, http: &http.Client{Timeout: 30 * time.Second}}
	if err := c.registerConnectors(app); err != nil {
		return err
	}
	var err error
	if st.calGrant, err = c.connectCalendar(devCalendarUser); err != nil {
		return err
	}
	cal, _, err := c.do(http.MethodGet, "/v3/grants/"+st.calGrant+"/calendars/primary", nil)
	if err != nil {
		return err
	}
	st.calendar, _ = cal["id"].(string)
	if st.zoomGrant, err = c.connectZoom(ctx, simURL, app, st.api+"/v3/connect/callback", devZoomEmail); err != nil {
		return err
	}
	if st.demoConfig, err = c.demoConfiguration(st.calGrant, devCalendarUser, st.calendar, st.zoomGrant); err != nil {
		return err
	}
	if hooks == nil {
		return nil
	}
	secret, err := c.devWebhook(hooks.url, webhooks.Triggers)
	if err != nil {
		return err
	}
	hooks.setSecret(secret)
	st.webhooks = hooks.url
	return nil
}

// bookingPage is the hosted booking page of the demo configuration.
func (st *devStack) bookingPage() string {
	return st.api + "/scheduler/demo?client_id=" + url.QueryEscape(st.appID)
}

// Three curl commands, each one line, that run as printed: create an event
// with a Zoom meeting, move it (the meeting follows), delete it.
func (st *devStack) curls() []string {
	auth := "-H " + shellQuote("Authorization: Bearer "+st.key)
	events := st.api + "/v3/grants/" + st.calGrant + "/events"
	saved := shellQuote(filepath.Join(st.dir, "demo-event.json"))
	eventID := `$(grep -o '"id":"[^"]*"' ` + saved + ` | head -1 | cut -d'"' -f4)`
	s := st.start.Unix()
	create := fmt.Sprintf(`{"title":"Demo call","description":"Booked through confhub dev","when":{"start_time":%d,"end_time":%d},`+
		`"participants":[{"email":"guest@example.com"}],"conferencing":{"provider":"Zoom Meeting","autocreate":{"conf_grant_id":"%s"}}}`, s, s+1800, st.zoomGrant)
	update := fmt.Sprintf(`{"title":"Demo call (moved)","when":{"start_time":%d,"end_time":%d}}`, s+3600, s+5400)
	return []string{
		"curl -sS -X POST " + shellQuote(events+"?calendar_id=primary") + " " + auth + " -H 'Content-Type: application/json' -d " + shellQuote(create) + " | tee " + saved,
		"curl -sS -X PUT \"" + events + "/" + eventID + "\" " + auth + " -H 'Content-Type: application/json' -d " + shellQuote(update),
		"curl -sS -X DELETE \"" + events + "/" + eventID + "\" " + auth,
	}
}

func (st *devStack) summary() string {
	ui := st.ui
	if ui == "" {
		ui = "off (temporal workflow list --address " + st.temporal + " --namespace " + st.namespace + ")"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `
confhub dev is running (data in %s; Ctrl-C stops everything)
  API             %s
  Temporal        %s (namespace %s)
  Temporal UI     %s
  Zoom simulator  %s (app %s, Pro user %s)

  API key         %s
  calendar grant  %s (primary calendar %s)
  Zoom grant      %s (the conf_grant_id)
  booking page    %s
                  (configuration %s: 30-minute slots, each booking with its Zoom meeting)

Create an event with a Zoom meeting, move it, delete it:
`, st.dir, st.api, st.temporal, st.namespace, ui, st.sim, devZoomClientID, devZoomEmail, st.key, st.calGrant, st.calendar, st.zoomGrant,
		st.bookingPage(), st.demoConfig)
	for _, c := range st.curls() {
		b.WriteString(c + "\n")
	}
	if st.webhooks != "" {
		fmt.Fprintf(&b, "\nNotifications (every trigger) go to the local receiver at %s; it prints each below, as \"webhook  <type> ...\".\n", st.webhooks)
	}
	fmt.Fprintf(&b, "\nThe same values are in %s for scripts.\n\n", filepath.Join(st.dir, "demo.env"))
	return b.String()
}

// envFile is the summary as shell variables (what the README's walkthrough sources).
func (st *devStack) envFile() string {
	return fmt.Sprintf("CONFHUB_URL=%s\nCONFHUB_API_KEY=%s\nCALENDAR_GRANT_ID=%s\nZOOM_GRANT_ID=%s\nTEMPORAL_ADDRESS=%s\nZOOMSIM_URL=%s\nSCHEDULER_CONFIGURATION_ID=%s\nBOOKING_PAGE_URL=%s\n",
		shellQuote(st.api), shellQuote(st.key), shellQuote(st.calGrant), shellQuote(st.zoomGrant), shellQuote(st.temporal), shellQuote(st.sim),
		shellQuote(st.demoConfig), shellQuote(st.bookingPage()))
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func portFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return l.Close()
}

// devKeys returns the dev encryption key, generating it on first use.
func devKeys(path string) (string, error) {
	secret, err := devSecret(path)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(secret, "dev1:") { // written by an older dev
		return secret, nil
	}
	return "dev1:" + secret, nil
}

// devZoomSecret is the simulated Zoom app's client secret: letters and
// digits, as Zoom's are (OAuth clients form-encode other characters).
func devZoomSecret(path string) (string, error) {
	s, err := devSecret(path)
	return strings.NewReplacer("+", "", "/", "", "=", "").Replace(s), err
}

// devSecret returns 32 random bytes (base64) kept in a 0600 file, made on first use.
func devSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return "", err
	}
	s := base64.StdEncoding.EncodeToString(secret)
	return s, os.WriteFile(path, []byte(s+"\n"), 0o600)
}

// devApplication creates the demo application once and keeps its API key in
// a 0600 file under the data directory, so every run can print it. This is
// for a local development box only; production keys are shown once.
func devApplication(ctx context.Context, apps *applications.Store, keyPath string) (string, string, error) {
	if b, err := os.ReadFile(keyPath); err == nil {
		key := strings.TrimSpace(string(b))
		if id, err := apps.Authenticate(ctx, key); err == nil {
			return id.String(), key, nil
		}
	}
	app, key, err := apps.Create(ctx, "demo")
	if err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyPath, []byte(key+"\n"), 0o600); err != nil {
		return "", "", err
	}
	return app.ID.String(), key, nil
}
