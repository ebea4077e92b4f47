package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.temporal.io/server/temporaltest"

	"github.com/confhub/confhub/connectors/zoom"
	"github.com/confhub/confhub/connectors/zoom/zoomsim"
	"github.com/confhub/confhub/internal/applications"
	"github.com/confhub/confhub/internal/await"
	"github.com/confhub/confhub/internal/pgcluster"
	"github.com/confhub/confhub/internal/temporalsrv"
	"github.com/confhub/confhub/internal/webhooks"
)

// cmdBench measures event creation with Zoom autocreate against the
// bare-Temporal floor, on this machine, in one process.
func cmdBench(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("bench [flags]", "Starts the whole stack in-process (a private PostgreSQL, an in-process Temporal server, the\n"+
		"Zoom simulator at a fixed latency), creates events with Zoom autocreate at concurrency 1 and 32,\n"+
		"and prints throughput and latency beside the bare-Temporal floor: a workflow of the same shape\n"+
		"(two local activities, eager start, one of them waiting the Zoom latency) on the same server;\n"+
		"then time-range lookups (GET /events with start/end, busy times) on calendars of --events events.", stderr)
	latency := fs.Duration("zoom-latency", 20*time.Millisecond, "the simulator's fixed latency per Zoom call")
	serial := fs.Int("n1", 200, "events at concurrency 1")
	parallel := fs.Int("n32", 2000, "events at concurrency 32")
	store := fs.String("temporal-store", "memory", "the in-process Temporal server's store: memory (temporaltest's in-memory SQLite),\n"+
		"postgres (databases in the bench's PostgreSQL, as a production cluster would use) or sqlite (a file, as confhub dev uses)")
	hosts := fs.Int("hosts", 64, "Zoom users (each its own account) the events spread over, so Zoom's per-account limits are not the bottleneck")
	rangeEvents := fs.Int("events", 500_000, "events in each calendar of the time-range rows")
	only := fs.String("only", "", "run only these rows: create (event creation) or ranges (time-range lookups)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *only != "" && *only != "create" && *only != "ranges" {
		return usageError{fmt.Errorf("--only: %q is not create or ranges", *only)}
	}
	if *rangeEvents < 24*90 {
		return usageError{fmt.Errorf("--events: %d is fewer than the 90 days of hourly events the windows need", *rangeEvents)}
	}
	log := slog.New(slog.DiscardHandler)

	dir, err := os.MkdirTemp("", "confhub-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	_ = os.Chmod(dir, 0o755)
	pg, err := pgcluster.Launch(ctx, filepath.Join(dir, "pg"), pgcluster.Options{Fast: true})
	if err != nil {
		return err
	}
	defer pg.Stop()
	frontend, namespace, stopTemporal, err := benchTemporal(ctx, *store, pg, dir, log)
	if err != nil {
		return err
	}
	defer stopTemporal()

	sim := zoomsim.New(zoomsim.Options{DailyLimit: 1 << 30})
	simSrv := httptest.NewServer(sim)
	defer simSrv.Close()
	apiPort, _ := pgcluster.FreePort()
	base := fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	env := map[string]string{
		"DATABASE_URL": pg.URL("postgres"), "CONFHUB_ENCRYPTION_KEYS": "bench:" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"CONFHUB_HTTP_ADDR": fmt.Sprintf("127.0.0.1:%d", apiPort), "ZOOM_OAUTH_URL": simSrv.URL, "ZOOM_API_URL": simSrv.URL + "/v2",
		"TEMPORAL_ADDRESS": frontend, "TEMPORAL_NAMESPACE": namespace,
	}
	cfg, pool, _, err := setup(ctx, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		return err
	}
	defer pool.Close()
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	ready := make(chan struct{})
	go func() { _ = runService(sctx, cfg, pool, log, "all", func(string) { close(ready) }, nil) }()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		return errors.New("the service did not start")
	}

	if *only == "ranges" {
		return benchRanges(ctx, pool, base, *rangeEvents, stdout, stderr)
	}
	fmt.Fprintf(stderr, "seeding %d Zoom hosts...\n", *hosts)
	seed, err := benchSeed(ctx, pool, sim, simSrv.URL, base, *hosts, "")
	if err != nil {
		return err
	}
	_ = sim.SetFaults(zoomsim.Faults{LatencyMS: int(*latency / time.Millisecond)})

	floorC, err := client.Dial(client.Options{HostPort: frontend, Namespace: namespace, Logger: tlog.NewStructuredLogger(log)})
	if err != nil {
		return err
	}
	defer floorC.Close()
	fw := worker.New(floorC, "bench-floor", worker.Options{})
	fw.RegisterWorkflow(floorWorkflow)
	fw.RegisterActivity(floorActivity)
	if err := fw.Start(); err != nil {
		return err
	}
	defer fw.Stop()

	type row struct {
		name string
		c    int
		r    result
	}
	var rows []row
	for _, c := range []int{1, 32} {
		n := *serial
		if c > 1 {
			n = *parallel
		}
		_ = measure(c, min(n, 50), func(i int) error { return seed.createEvent(i) }) // warm up
		before := sim.Stats().Calls["create_meeting"]["201"]
		r := measure(c, n, func(i int) error { return seed.createEvent(i) })
		r.zoomCreates = float64(sim.Stats().Calls["create_meeting"]["201"]-before) / float64(n)
		rows = append(rows, row{"confhub", c, r})
		_ = measure(c, min(n, 50), func(int) error { return floor(ctx, floorC, *latency) })
		rows = append(rows, row{"floor", c, measure(c, n, func(int) error { return floor(ctx, floorC, *latency) })})
	}

	sched, err := seedScheduler(ctx, pool, seed, stderr)
	if err != nil {
		return err
	}
	if err := sched.availability(0); err != nil {
		return fmt.Errorf("availability: %w", err)
	}
	_ = measure(1, 20, sched.availability) // warm up
	avail := measure(1, availReps, sched.availability)
	for _, c := range []int{1, 32} {
		n := *serial
		if c > 1 {
			n = *parallel
		}
		_ = measure(c, min(n, 50), sched.book) // warm up
		before := sim.Stats().Calls["create_meeting"]["201"]
		r := measure(c, n, sched.book)
		r.zoomCreates = float64(sim.Stats().Calls["create_meeting"]["201"]-before) / float64(n)
		rows = append(rows, row{"booking", c, r})
	}
	// The comparison the Scheduler's target is about: bookings and event
	// creates taking turns at concurrency 1, so that neither meets a fuller
	// database or Temporal store than the other.
	pairedBook, pairedCreate := measurePair(*serial, sched.book, func(i int) error { return seed.createEvent(i + 1_000_000) })

	// Notifications: event creates of an application with a webhook
	// destination (every trigger, a live receiver) and of one without,
	// taking turns, and how long the last notification took to arrive.
	hooked, rcv, err := benchNotified(ctx, pool, sim, simSrv.URL, base)
	if err != nil {
		return fmt.Errorf("notifications: %w", err)
	}
	defer rcv.Close()
	_ = measure(1, 20, hooked.createEvent) // warm up
	delivered0 := waitCount(&rcv.count, 20, time.Minute)
	pairedHooked, pairedPlain := measurePair(*serial, hooked.createEvent, func(i int) error { return seed.createEvent(i + 2_000_000) })
	lastCreate := time.Now()
	arrived := waitCount(&rcv.count, delivered0+int64(*serial), time.Minute)
	lag := time.Since(lastCreate) // includes the wait's own polling step

	// Account-level Zoom (issue 14): event creates on grants of a
	// company's Server-to-Server app and on users' own grants, taking
	// turns, and how many account tokens the company's run needed.
	company, companyApp, err := benchCompany(ctx, pool, sim, base)
	if err != nil {
		return fmt.Errorf("company zoom: %w", err)
	}
	_ = measure(1, 20, company.createEvent) // warm up
	tokens0 := sim.Stats().AccountTokens[companyApp]
	pairedCompany, pairedOwn := measurePair(*serial, company.createEvent, func(i int) error { return seed.createEvent(i + 3_000_000) })
	companyTokens := sim.Stats().AccountTokens[companyApp] - tokens0

	fmt.Fprintf(stdout, "\nconfhub bench: Zoom latency %v, %d hosts, GOMAXPROCS=%d, Temporal store %s\n\n", *latency, *hosts, runtimeProcs(), *store)
	fmt.Fprintf(stdout, "%-8s %4s %6s %9s %9s %9s %15s %13s %7s\n", "what", "conc", "n", "req/s", "p50", "p99", "p50-zoom", "creates/event", "errors")
	var ours, fl, booked map[int]result = map[int]result{}, map[int]result{}, map[int]result{}
	for _, r := range rows {
		extra, creates := "", "-"
		if r.name == "booking" {
			booked[r.c] = r.r
			extra = fmt.Sprintf("%.1fms", ms(r.r.p50-*latency))
			creates = fmt.Sprintf("%.2f", r.r.zoomCreates)
		} else if r.name == "confhub" {
			ours[r.c] = r.r
			extra = fmt.Sprintf("%.1fms", ms(r.r.p50-*latency))
			creates = fmt.Sprintf("%.2f", r.r.zoomCreates)
		} else {
			fl[r.c] = r.r
			extra = fmt.Sprintf("%.1fms", ms(r.r.p50-*latency))
		}
		fmt.Fprintf(stdout, "%-8s %4d %6d %9.1f %8.1fms %8.1fms %15s %13s %7d\n", r.name, r.c, r.r.n, r.r.rps, ms(r.r.p50), ms(r.r.p99), extra, creates, r.r.errors)
	}
	fmt.Fprintf(stdout, "\noverhead at concurrency 1 (our p50 - Zoom latency): %.1f ms (target <= 10 ms)\n", ms(ours[1].p50-*latency))
	fmt.Fprintf(stdout, "throughput at concurrency 32, ours / floor: %.2f (target >= 0.8)\n", ours[32].rps/fl[32].rps)
	fmt.Fprintf(stdout, "Zoom create calls per event: %.2f (target 1)\n", ours[32].zoomCreates)
	fmt.Fprintf(stdout, "\nbooking vs event creation, taking turns at concurrency 1 (n=%d each, %d+%d errors): p50 %.1f ms vs %.1f ms, "+
		"overhead %.1f ms vs %.1f ms: %+.1f ms (target within 2 ms)\n", pairedBook.n, pairedBook.errors, pairedCreate.errors,
		ms(pairedBook.p50), ms(pairedCreate.p50), ms(pairedBook.p50-*latency), ms(pairedCreate.p50-*latency), ms(pairedBook.p50-pairedCreate.p50))
	fmt.Fprintf(stdout, "booking throughput at concurrency 32, bookings / floor: %.2f; bookings / event creates: %.2f\n",
		booked[32].rps/fl[32].rps, booked[32].rps/ours[32].rps)
	fmt.Fprintf(stdout, "event creation with a webhook destination vs without, taking turns at concurrency 1 (n=%d each, %d+%d errors): "+
		"p50 %.1f ms vs %.1f ms: %+.1f ms; %d of %d event.created delivered, all within %.1f ms of the last create's answer\n",
		pairedHooked.n, pairedHooked.errors, pairedPlain.errors, ms(pairedHooked.p50), ms(pairedPlain.p50), ms(pairedHooked.p50-pairedPlain.p50),
		arrived-delivered0, *serial, ms(lag))
	fmt.Fprintf(stdout, "event creation on company grants (Server-to-Server app) vs users' own grants, taking turns at concurrency 1 "+
		"(n=%d each, %d+%d errors): p50 %.1f ms vs %.1f ms: %+.1f ms; %d account token requests\n",
		pairedCompany.n, pairedCompany.errors, pairedOwn.errors, ms(pairedCompany.p50), ms(pairedOwn.p50), ms(pairedCompany.p50-pairedOwn.p50), companyTokens)
	fmt.Fprintf(stdout, "availability, 30 days, %d participants, %d busy events (n=%d, %d errors): p50 %.2f ms, p99 %.2f ms (target p50 <= 20 ms)\n",
		availParticipants, sched.busy, avail.n, avail.errors, ms(avail.p50), ms(avail.p99))
	if *only == "create" {
		return nil
	}
	return benchRanges(ctx, pool, base, *rangeEvents, stdout, stderr)
}

// benchTemporal starts the Temporal server the bench measures against.
func benchTemporal(ctx context.Context, store string, pg *pgcluster.Cluster, dir string, log *slog.Logger) (frontend, namespace string, stop func(), err error) {
	if store == "memory" {
		ts := temporaltest.NewServer()
		return ts.GetFrontendHostPort(), ts.GetDefaultNamespace(), ts.Stop, nil
	}
	port, err := pgcluster.FreePort()
	if err != nil {
		return "", "", nil, err
	}
	o := temporalsrv.Options{Frontend: fmt.Sprintf("127.0.0.1:%d", port), Namespace: "default", Log: log}
	switch store {
	case "postgres":
		o.PostgresURL = pg.URL("")
	case "sqlite":
		o.SQLiteFile = filepath.Join(dir, "temporal.db")
	default:
		return "", "", nil, usageError{fmt.Errorf("--temporal-store: %q is not memory, postgres or sqlite", store)}
	}
	ts, err := temporalsrv.Start(ctx, o)
	if err != nil {
		return "", "", nil, err
	}
	return ts.Frontend(), o.Namespace, ts.Stop, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

type result struct {
	n, errors   int
	rps         float64
	p50, p99    time.Duration
	zoomCreates float64
}

func measure(concurrency, n int, op func(i int) error) result {
	lat := make([]time.Duration, n)
	var next, errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t := time.Now()
				if err := op(i); err != nil {
					errs.Add(1)
				}
				lat[i] = time.Since(t)
			}
		}()
	}
	wg.Wait()
	total := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return result{n: n, errors: int(errs.Load()), rps: float64(n) / total.Seconds(), p50: lat[n/2], p99: lat[n*99/100]}
}

// measurePair runs a and b n times each at concurrency 1, taking turns,
// and returns each one's figures.
func measurePair(n int, a, b func(i int) error) (ra, rb result) {
	var la, lb []time.Duration
	var ea, eb int
	start := time.Now()
	for i := range n {
		for k, op := range []func(int) error{a, b} {
			t := time.Now()
			err := op(i)
			d := time.Since(t)
			if k == 0 {
				la = append(la, d)
				if err != nil {
					ea++
				}
			} else {
				lb = append(lb, d)
				if err != nil {
					eb++
				}
			}
		}
	}
	total := time.Since(start)
	figures := func(lat []time.Duration, errs int) result {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		return result{n: n, errors: errs, rps: float64(2*n) / total.Seconds(), p50: lat[n/2], p99: lat[n*99/100]}
	}
	return figures(la, ea), figures(lb, eb)
}

// floorWorkflow has our create workflow's shape without its work: two local
// activities, the first waiting as long as a Zoom call.
func floorWorkflow(ctx workflow.Context, latency time.Duration) error {
	ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{ScheduleToCloseTimeout: 10 * time.Second})
	if err := workflow.ExecuteLocalActivity(ctx, floorActivity, latency).Get(ctx, nil); err != nil {
		return err
	}
	return workflow.ExecuteLocalActivity(ctx, floorActivity, time.Duration(0)).Get(ctx, nil)
}

func floorActivity(ctx context.Context, d time.Duration) error {
	time.Sleep(d)
	return nil
}

func floor(ctx context.Context, c client.Client, latency time.Duration) error {
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: "bench-floor", EnableEagerStart: true}, floorWorkflow, latency)
	if err != nil {
		return err
	}
	return run.Get(ctx, nil)
}

type benchState struct {
	base, key, cal string
	confGrants     []string
	http           *http.Client
	start          time.Time
}

func (b *benchState) createEvent(i int) error {
	st := b.start.Add(time.Duration(i%500) * time.Hour)
	body, _ := json.Marshal(map[string]any{"title": fmt.Sprintf("Bench %d", i),
		"when":         map[string]any{"start_time": st.Unix(), "end_time": st.Add(30 * time.Minute).Unix()},
		"conferencing": map[string]any{"provider": "Zoom Meeting", "autocreate": map[string]any{"conf_grant_id": b.confGrants[i%len(b.confGrants)]}}})
	req, _ := http.NewRequest("POST", b.base+"/v3/grants/"+b.cal+"/events?calendar_id=primary", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+b.key)
	resp, err := b.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// benchSeed makes an application with a Zoom connector, a virtual-calendar
// grant and one Zoom grant per simulated host (each host its own account).
// tag tells the applications of one run apart.
func benchSeed(ctx context.Context, pool *pgxpool.Pool, sim *zoomsim.Sim, simURL, base string, hosts int, tag string) (*benchState, error) {
	_, key, err := applications.NewStore(pool).Create(ctx, "bench"+tag)
	if err != nil {
		return nil, err
	}
	b := &benchState{base: base, key: key, start: time.Now().Add(24 * time.Hour).Truncate(time.Hour),
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}, Timeout: time.Minute}}
	c := apiClient{base: base, key: key, http: b.http}
	app, redirect := zoom.App{ClientID: "bench-client" + tag, ClientSecret: "bench-secret"}, "https://bench.invalid/cb"
	if err := c.registerConnectors(app); err != nil {
		return nil, err
	}
	if b.cal, err = c.connectCalendar("bench-room" + tag); err != nil {
		return nil, err
	}
	if err := simApp(sim, app, redirect); err != nil {
		return nil, err
	}
	for i := range hosts {
		u, err := sim.AddUser(zoomsim.UserSpec{Email: fmt.Sprintf("host-%d%s@bench.invalid", i, tag), Plan: "business"})
		if err != nil {
			return nil, err
		}
		g, err := c.connectZoom(ctx, simURL, app, redirect, u.Email)
		if err != nil {
			return nil, err
		}
		b.confGrants = append(b.confGrants, g)
	}
	return b, nil
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }

// benchReceiver is an application's webhook endpoint that answers at once
// and counts what it gets.
type benchReceiver struct {
	*httptest.Server
	count atomic.Int64
}

// benchNotified seeds a second application whose destination (every
// trigger) is a local receiver.
func benchNotified(ctx context.Context, pool *pgxpool.Pool, sim *zoomsim.Sim, simURL, base string) (*benchState, *benchReceiver, error) {
	st, err := benchSeed(ctx, pool, sim, simURL, base, 8, "-notified")
	if err != nil {
		return nil, nil, err
	}
	r := &benchReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodGet {
			_, _ = io.WriteString(w, req.URL.Query().Get("challenge"))
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		r.count.Add(1)
	}))
	c := apiClient{base: base, key: st.key, http: st.http}
	if _, err := c.post("/v3/webhooks", map[string]any{"trigger_types": webhooks.Triggers, "webhook_url": r.URL + "/hook"}); err != nil {
		r.Close()
		return nil, nil, err
	}
	return st, r, nil
}

// benchCompany seeds an application whose Zoom connector is a
// Server-to-Server app of one Business account, with 8 of its users
// connected by email. It returns the app's client id.
func benchCompany(ctx context.Context, pool *pgxpool.Pool, sim *zoomsim.Sim, base string) (*benchState, string, error) {
	_, key, err := applications.NewStore(pool).Create(ctx, "bench-company")
	if err != nil {
		return nil, "", err
	}
	b := &benchState{base: base, key: key, start: time.Now().Add(24 * time.Hour).Truncate(time.Hour),
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}, Timeout: time.Minute}}
	co, err := seedCompany(apiClient{base: base, key: key, http: b.http}, sim, "bench-company")
	if err != nil {
		return nil, "", err
	}
	b.cal, b.confGrants = co.cal, co.grants
	return b, co.clientID, nil
}

// waitCount waits until n reaches want (or within passes) and returns it.
func waitCount(n *atomic.Int64, want int64, within time.Duration) int64 {
	await.Until(within, func() bool { return n.Load() >= want })
	return n.Load()
}
