package main

// The chaos harness: a deployment in miniature that the test builds itself.
// Its own PostgreSQL cluster, a Temporal server and two `confhub serve`
// processes run as children of the test (this binary in one of TestMain's
// helper modes), so they can be killed and started again; the Zoom
// simulator runs in the test process. chaosload_test.go drives it.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/confhub/confhub/connectors/zoom"
	"github.com/confhub/confhub/connectors/zoom/zoomsim"
	"github.com/confhub/confhub/internal/pgcluster"
	"github.com/confhub/confhub/internal/temporalsrv"
)

// temporalReady is what the Temporal helper prints once its frontend answers.
const temporalReady = "temporal helper: ready"

// runTemporalServer is TestMain's Temporal helper mode: a Temporal server on
// addr, stored in the SQLite file db, until SIGINT or SIGTERM. Started again
// on the same address and file, it finds its workflows again.
func runTemporalServer(addr, db string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := temporalsrv.Start(ctx, temporalsrv.Options{SQLiteFile: db, Frontend: addr, Namespace: "default",
		Log: slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		fmt.Fprintln(os.Stderr, "temporal helper:", err)
		return 1
	}
	fmt.Println(temporalReady)
	<-ctx.Done()
	srv.Stop()
	return 0
}

// child is a process of this test binary in a helper mode. A supervisor
// starts it again whenever it ends (after a hold the killer may set), as an
// orchestrator restarts a crashed container; an end the test did not cause
// is counted.
type child struct {
	name, addr string
	env        []string
	ready      func(*childRun) bool

	cur       atomic.Pointer[childRun]
	up        atomic.Bool
	holdUntil atomic.Int64 // unix ns: no restart before
	unplanned atomic.Int32 // exits the test did not cause
	crashLog  atomic.Pointer[string]
	raceLog   atomic.Pointer[string]

	// What the load has sent it and not had answered: the killer's aim.
	inflight, inflightDeletes atomic.Int32
	sends                     chan string // each request's method as it goes out
}

type childRun struct {
	cmd     *exec.Cmd
	logs    *syncBuffer
	exited  chan struct{}
	planned atomic.Bool
}

func newChild(name, addr string, env []string, ready func(*childRun) bool) *child {
	return &child{name: name, addr: addr, env: env, ready: ready, sends: make(chan string, 64)}
}

// launch starts the process and waits until it is ready.
func (c *child) launch(ctx context.Context, within time.Duration) error {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), c.env...)
	// A test binary that dies (a panic, a timeout) takes its children along.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	r := &childRun{cmd: cmd, logs: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = r.logs, r.logs
	if err := cmd.Start(); err != nil {
		return err
	}
	c.cur.Store(r)
	go func() {
		_ = cmd.Wait()
		c.up.Store(false)
		logs := r.logs.String()
		if !r.planned.Load() {
			c.unplanned.Add(1)
			tail := tailOf(logs, 1500)
			c.crashLog.CompareAndSwap(nil, &tail)
		}
		if i := strings.Index(logs, "WARNING: DATA RACE"); i >= 0 {
			race := logs[i:min(len(logs), i+3000)]
			c.raceLog.CompareAndSwap(nil, &race)
		}
		close(r.exited)
	}()
	ready := eventually(within, func() bool {
		select {
		case <-r.exited:
			return true
		case <-ctx.Done():
			return true
		default:
		}
		return c.ready(r)
	})
	select {
	case <-r.exited:
		return fmt.Errorf("%s exited while starting:\n%s", c.name, tailOf(r.logs.String(), 1500))
	default:
	}
	if !ready || ctx.Err() != nil {
		c.end(r, syscall.SIGKILL)
		return fmt.Errorf("%s was not ready within %v:\n%s", c.name, within, tailOf(r.logs.String(), 1500))
	}
	c.up.Store(true)
	return nil
}

// supervise starts the process again each time it ends, until ctx ends.
func (c *child) supervise(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.cur.Load().exited:
		}
		if hold := time.Until(time.Unix(0, c.holdUntil.Load())); hold > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(hold):
			}
		}
		for c.launch(ctx, 90*time.Second) != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second): // a start that failed: try again, as a restart policy does
			}
		}
	}
}

// kill ends the process with SIGKILL, as a crash would; the supervisor
// starts it again once hold has passed.
func (c *child) kill(hold time.Duration) {
	c.holdUntil.Store(time.Now().Add(hold).UnixNano())
	c.end(c.cur.Load(), syscall.SIGKILL)
}

// end stops one run with sig (SIGKILL after 30 s) and waits for it.
func (c *child) end(r *childRun, sig syscall.Signal) {
	r.planned.Store(true)
	c.up.Store(false)
	_ = r.cmd.Process.Signal(sig)
	select {
	case <-r.exited:
	case <-time.After(30 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.exited
	}
}

// run launches the child, keeps it supervised for the rest of the test,
// and stops it (Ctrl-C) when the test ends.
func (c *child) run(t *testing.T) error {
	ctx, cancel := context.WithCancel(context.Background())
	if err := c.launch(ctx, 2*time.Minute); err != nil {
		cancel()
		return err
	}
	supervised := make(chan struct{})
	go func() { defer close(supervised); c.supervise(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-supervised
		if r := c.cur.Load(); r != nil {
			c.end(r, syscall.SIGINT)
		}
		if race := c.raceLog.Load(); race != nil {
			t.Errorf("%s reported a data race:\n%s", c.name, *race)
		}
	})
	return nil
}

func tailOf(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// harness is the deployment: PostgreSQL, Temporal, two serve processes,
// the simulator, and an application with a calendar and Zoom grants.
type harness struct {
	t        *testing.T
	pg       *pgcluster.Cluster
	temporal *child
	serves   []*child
	sim      *zoomsim.Sim
	simURL   string
	tc       client.Client // the checks' view of Temporal

	key        string   // the application's API key
	cal        string   // the virtual-calendar grant
	zoomGrants []string // one per simulated Zoom user
	http       *http.Client
	env        map[string]string // the serve processes' environment (for CLI commands)
}

func newHarness(t *testing.T, zoomUsers int) *harness {
	t.Helper()
	h := &harness{t: t, http: &http.Client{Timeout: answerBound + time.Second,
		// A fresh connection per request: one to a killed process is never reused.
		Transport: &http.Transport{DisableKeepAlives: true}}}
	dir := t.TempDir()
	// The postgres user (PostgreSQL runs as it when we are root) passes through to its cluster.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	// A cluster of its own: stopping it disturbs no other test.
	var err error
	if h.pg, err = pgcluster.Launch(context.Background(), filepath.Join(dir, "pg"), pgcluster.Options{Fast: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.pg.Stop() })

	h.sim = zoomsim.New(zoomsim.Options{})
	simSrv := httptest.NewServer(h.sim)
	t.Cleanup(simSrv.Close)
	h.simURL = simSrv.URL

	taddr := freePorts(t, 1)[0]
	h.temporal = newChild("temporal", taddr, []string{"CONFHUB_TEST_TEMPORAL=" + taddr,
		"CONFHUB_TEST_TEMPORAL_DB=" + filepath.Join(dir, "temporal.db")},
		func(r *childRun) bool { return strings.Contains(r.logs.String(), temporalReady) })
	if err := h.temporal.run(t); err != nil {
		t.Fatal(err)
	}
	if h.tc, err = client.Dial(client.Options{HostPort: taddr, Namespace: "default",
		Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.tc.Close)

	env := map[string]string{"DATABASE_URL": h.pg.URL("postgres"), "CONFHUB_ENCRYPTION_KEYS": keySpec("k1", 1),
		"TEMPORAL_ADDRESS": taddr, "TEMPORAL_NAMESPACE": "default",
		"ZOOM_OAUTH_URL": h.simURL, "ZOOM_API_URL": h.simURL + "/v2", "CONFHUB_LOG_LEVEL": "warn"}
	// Both start at once on an empty database: each applies the migrations
	// as a replica of a deployment would.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, addr := range freePorts(t, 2) {
		e := []string{"CONFHUB_TEST_MAIN=serve", "CONFHUB_HTTP_ADDR=" + addr}
		for k, v := range env {
			e = append(e, k+"="+v)
		}
		// Up means serving HTTP: a process that answers 503 while a
		// dependency is missing is up, and the load is sent to it.
		c := newChild("serve-"+string(rune('a'+i)), addr, e, func(*childRun) bool { return probe(addr, "/healthz") })
		h.serves = append(h.serves, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = c.run(t); errs[i] == nil && !eventually(time.Minute, func() bool { return probe(addr, "/readyz") }) {
				errs[i] = fmt.Errorf("%s is not ready", c.name)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	h.env = env
	h.tenant(env, zoomUsers)
	return h
}

// probe reports whether the serve process at addr answers path with 200.
func probe(addr, path string) bool {
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// tenant sets up, through the API as a customer would, an application, its
// connectors, a virtual calendar and one Zoom grant per simulated user.
// Several users keep each under Zoom's daily limit of meeting writes.
func (h *harness) tenant(env map[string]string, zoomUsers int) {
	t := h.t
	stdout, _, err := runCmd(t, env, "apps", "create", "--name", "Chaos")
	if err != nil {
		t.Fatal(err)
	}
	var app map[string]string
	if err := json.Unmarshal([]byte(stdout), &app); err != nil {
		t.Fatal(err)
	}
	h.key = app["api_key"]
	api := apiClient{base: "http://" + h.serves[0].addr, key: h.key, http: &http.Client{Timeout: 30 * time.Second}}
	zapp, redirect := zoom.App{ClientID: "chaos-client", ClientSecret: "chaossecret"}, "https://app.example/cb"
	if err := simApp(h.sim, zapp, redirect); err != nil {
		t.Fatal(err)
	}
	if err := api.registerConnectors(zapp); err != nil {
		t.Fatal(err)
	}
	if h.cal, err = api.connectCalendar("room@chaos.example"); err != nil {
		t.Fatal(err)
	}
	for i := range zoomUsers {
		email := fmt.Sprintf("host%d@chaos.example", i)
		if _, err := h.sim.AddUser(zoomsim.UserSpec{Email: email, Plan: "pro"}); err != nil {
			t.Fatal(err)
		}
		g, err := api.connectZoom(context.Background(), h.simURL, zapp, redirect, email)
		if err != nil {
			t.Fatal(err)
		}
		h.zoomGrants = append(h.zoomGrants, g)
	}
}

// pick chooses a serve process that is up, other than not when it can.
func (h *harness) pick(not *child) *child {
	var up []*child
	for _, c := range h.serves {
		if c.up.Load() && c != not {
			up = append(up, c)
		}
	}
	switch {
	case len(up) > 0:
		return up[rand.IntN(len(up))]
	case not != nil && not.up.Load():
		return not
	}
	return nil
}

// awaitReady waits until every serve process is ready (/readyz), as a load
// balancer routes: after a restart or an outage a process may be up
// (serving 503s) and still reaching Temporal again.
func (h *harness) awaitReady(t *testing.T) {
	t.Helper()
	if !eventually(time.Minute, func() bool {
		for _, c := range h.serves {
			if !probe(c.addr, "/readyz") {
				return false
			}
		}
		return true
	}) {
		t.Fatal("the serve processes are not all ready within a minute")
	}
}

// bothUp reports whether every serve process is up.
func (h *harness) bothUp() bool {
	for _, c := range h.serves {
		if !c.up.Load() {
			return false
		}
	}
	return true
}

// unplannedExits sums the exits of every child that the test did not cause,
// with the first one's last log lines.
func (h *harness) unplannedExits() (int, string) {
	n, log := 0, ""
	for _, c := range append([]*child{h.temporal}, h.serves...) {
		n += int(c.unplanned.Load())
		if l := c.crashLog.Load(); l != nil && log == "" {
			log = c.name + ": " + *l
		}
	}
	return n, log
}
