package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/confhub/confhub/events"
	"github.com/confhub/confhub/internal/applications"
	"github.com/confhub/confhub/internal/outbox"
)

// Time-range rows: the events last half an hour, one an hour in the big
// calendar.
const (
	rangeSpacing = time.Hour
	rangeLength  = 30 * time.Minute
	listWindow   = 7 * 24 * time.Hour
	busyWindow   = 30 * 24 * time.Hour
	rangeReps    = 300
)

// benchRanges measures time-range lookups on big calendars: GET /events
// with start and end through the API, and the scheduler's busy-time lookup
// (events.Store.BusyTimes) over three calendars, with windows near the
// beginning, in the middle and near the end of the calendars, each
// starting inside an event (so both halves of the overlap find something).
func benchRanges(ctx context.Context, pool *pgxpool.Pool, base string, n int, stdout, stderr io.Writer) error {
	app, key, err := applications.NewStore(pool).Create(ctx, "bench-ranges")
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: time.Minute}
	c := apiClient{base: base, key: key, http: hc}
	if _, status, err := c.do(http.MethodPost, "/v3/connectors", map[string]any{"provider": "virtual-calendar"}); err != nil && status != http.StatusConflict {
		return err
	}
	gid, err := c.connectCalendar("ranges-room@bench.invalid")
	if err != nil {
		return err
	}
	grant, err := uuid.Parse(gid)
	if err != nil {
		return fmt.Errorf("grant id %q: %w", gid, err)
	}
	var cals []uuid.UUID
	for i := range 3 {
		var cal map[string]any
		if i == 0 {
			cal, _, err = c.do(http.MethodGet, "/v3/grants/"+gid+"/calendars/primary", nil)
		} else {
			cal, err = c.post("/v3/grants/"+gid+"/calendars", map[string]any{"name": fmt.Sprint("Room ", i)})
		}
		if err != nil {
			return err
		}
		id, err := uuid.Parse(fmt.Sprint(cal["id"]))
		if err != nil {
			return fmt.Errorf("calendar id %v: %w", cal["id"], err)
		}
		cals = append(cals, id)
	}

	store := events.NewStore(pool, outbox.Writer{})
	start := time.Now().UTC().Truncate(time.Hour).Add(24 * time.Hour)
	// The first calendar has n events, one an hour; the others, over the
	// same years, one every five hours (n/5): seeding three calendars of n
	// would take longer than the rows it serves.
	fmt.Fprintf(stderr, "seeding %d events in the first calendar, %d in %d others...\n", n, n/5, len(cals)-1)
	t0 := time.Now()
	// One statement per calendar, side by side, on both cores: most of the
	// time goes to maintaining the indexes.
	errs := make([]error, len(cals))
	var wg sync.WaitGroup
	for i, cal := range cals {
		count, spacing := n, rangeSpacing
		if i > 0 {
			count, spacing = n/5, 5*rangeSpacing
		}
		wg.Go(func() { errs[i] = store.SeedBenchEvents(ctx, app.ID, grant, cal, count, start, spacing, rangeLength) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	seeded := time.Since(t0)

	type row struct {
		what, where string
		r           result
		rows        int
	}
	var out []row
	calHours := int(time.Duration(n) * rangeSpacing / time.Hour)
	for _, w := range []struct {
		where string
		hour  int
	}{{"start", 3}, {"middle", calHours / 2}, {"end", calHours - 24*40}} {
		from := start.Add(time.Duration(w.hour)*time.Hour + 10*time.Minute)
		path := fmt.Sprintf("/v3/grants/%s/events?calendar_id=%s&start=%d&end=%d", gid, cals[0], from.Unix(), from.Add(listWindow).Unix())
		var got int
		list := func(int) error {
			var err error
			got, err = getList(hc, base+path, key)
			return err
		}
		_ = measure(1, 20, list) // warm up
		out = append(out, row{"GET /events, 7-day window", w.where, measure(1, rangeReps, list), got})

		busy := func(int) error {
			b, err := store.BusyTimes(ctx, store.Pool(), app.ID, cals, from, from.Add(busyWindow))
			got = len(b)
			return err
		}
		_ = measure(1, 20, busy)
		out = append(out, row{"BusyTimes, 3 calendars x 30 days", w.where, measure(1, rangeReps, busy), got})
	}

	fmt.Fprintf(stdout, "\ntime-range lookups: %d events in the first calendar (one an hour), %d in %d others (one every 5 hours),\n"+
		"seeded in %.1f s; concurrency 1; the list on the first calendar, busy times on all three\n\n", n, n/5, len(cals)-1, seeded.Seconds())
	fmt.Fprintf(stdout, "%-34s %-7s %5s %9s %9s %6s %7s\n", "what", "window", "n", "p50", "p99", "rows", "errors")
	for _, r := range out {
		fmt.Fprintf(stdout, "%-34s %-7s %5d %8.2fms %8.2fms %6d %7d\n", r.what, r.where, r.r.n, ms(r.r.p50), ms(r.r.p99), r.rows, r.r.errors)
	}
	return nil
}

// getList GETs a list endpoint and returns how many items it answered.
func getList(hc *http.Client, url, key string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var body struct {
		Data []json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return len(body.Data), nil
}
