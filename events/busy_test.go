package events

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/confhub/confhub/internal/outbox"
	"github.com/confhub/confhub/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// tenant is an application with a virtual-calendar grant and calendars.
type tenant struct {
	app, grant uuid.UUID
	cals       []uuid.UUID
}

func newTenant(t *testing.T, s *Store, pool *pgxpool.Pool, calendars int) tenant {
	t.Helper()
	ctx := context.Background()
	tn := tenant{app: uuid.New(), grant: uuid.New()}
	if _, err := pool.Exec(ctx, `INSERT INTO applications (id, name) VALUES ($1, 'test')`, tn.app); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO grants (id, application_id, provider, email, provider_user_id)
		VALUES ($1, $2, 'virtual-calendar', 'room@example.com', $3)`, tn.grant, tn.app, tn.grant.String()); err != nil {
		t.Fatal(err)
	}
	for i := range calendars {
		name := fmt.Sprint("cal", i)
		c, err := s.CreateCalendar(ctx, tn.app, tn.grant, CalendarInput{Name: &name})
		if err != nil {
			t.Fatal(err)
		}
		tn.cals = append(tn.cals, c.ID)
	}
	return tn
}

// event is a stored event of the tenant's calendar: busy, confirmed.
func (tn tenant) event(cal uuid.UUID, start, end time.Time, mod ...func(*Event)) Event {
	e := Event{ID: uuid.New(), ApplicationID: tn.app, GrantID: tn.grant, CalendarID: cal, Busy: true, Status: "confirmed",
		Visibility: "default", When: When{Object: "timespan", StartTime: start.Unix(), EndTime: end.Unix()}, StartsAt: start, EndsAt: end}
	for _, m := range mod {
		m(&e)
	}
	return e
}

func insert(t *testing.T, s *Store, events ...Event) {
	t.Helper()
	for _, e := range events {
		if _, err := s.InsertEvent(context.Background(), e, ""); err != nil {
			t.Fatal(err)
		}
	}
}

// Busy times are the list's overlap with [from, to), of busy events that
// are not cancelled, for the application's own calendars only.
func TestBusyTimesOverlapStatusAndTenants(t *testing.T) {
	pool, _ := pgtest.New(t)
	s := NewStore(pool, outbox.Writer{})
	ctx := context.Background()
	tn := newTenant(t, s, pool, 2)
	a, b := tn.cals[0], tn.cals[1]
	from := time.Now().UTC().Truncate(time.Hour).Add(48 * time.Hour)
	to := from.Add(2 * time.Hour)
	at := func(d time.Duration) time.Time { return from.Add(d) }
	status := func(st string) func(*Event) { return func(e *Event) { e.Status = st } }

	want := map[string]Event{
		"running at from":    tn.event(a, at(-time.Hour), at(30*time.Minute)),
		"starting at from":   tn.event(a, at(0), at(30*time.Minute)),
		"running past to":    tn.event(a, at(90*time.Minute), at(3*time.Hour)),
		"covering the whole": tn.event(a, at(-24*time.Hour), at(48*time.Hour)),
		"instant at from":    tn.event(a, at(0), at(0)),
		"ending before to":   tn.event(a, at(time.Hour), to.Add(-time.Second)),
		"tentative":          tn.event(a, at(10*time.Minute), at(20*time.Minute), status("tentative")),
		"all day": tn.event(a, at(-12*time.Hour), at(12*time.Hour), func(e *Event) {
			e.When = When{Object: "date", Date: from.Format(time.DateOnly)}
		}),
		"other calendar": tn.event(b, at(0), at(time.Hour)),
	}
	notWanted := []Event{
		tn.event(a, at(-time.Hour), at(0)),              // ends at from
		tn.event(a, to, to.Add(time.Hour)),              // starts at to
		tn.event(a, at(-time.Minute), at(-time.Minute)), // an instant before from
		tn.event(a, at(10*time.Minute), at(20*time.Minute), status("cancelled")),
		tn.event(a, at(10*time.Minute), at(20*time.Minute), func(e *Event) { e.Busy = false }),
	}
	for _, e := range want {
		insert(t, s, e)
	}
	insert(t, s, notWanted...)
	other := newTenant(t, s, pool, 1)
	insert(t, s, other.event(other.cals[0], at(0), at(time.Hour)))

	got, err := s.BusyTimes(ctx, s.Pool(), tn.app, []uuid.UUID{a, b, a, other.cals[0]}, from, to)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[uuid.UUID]BusyTime{}
	for _, bt := range got {
		if _, twice := byID[bt.EventID]; twice {
			t.Errorf("event %s listed twice", bt.EventID)
		}
		byID[bt.EventID] = bt
	}
	for name, e := range want {
		bt, ok := byID[e.ID]
		if !ok {
			t.Errorf("%s: missing", name)
			continue
		}
		if !bt.Start.Equal(e.StartsAt) || !bt.End.Equal(e.EndsAt) || bt.CalendarID != e.CalendarID || bt.Tentative != (e.Status == "tentative") {
			t.Errorf("%s: got %+v, want %v-%v on %s tentative=%v", name, bt, e.StartsAt, e.EndsAt, e.CalendarID, e.Status == "tentative")
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d busy times, want %d: %+v", len(got), len(want), got)
	}
	if !slices.IsSortedFunc(got, func(x, y BusyTime) int { return x.Start.Compare(y.Start) }) {
		t.Errorf("not ordered by start: %+v", got)
	}

	// Another application's calendar gives nothing, and so does ours to it.
	if got, err := s.BusyTimes(ctx, s.Pool(), tn.app, []uuid.UUID{other.cals[0]}, from, to); err != nil || len(got) != 0 {
		t.Errorf("another application's calendar: %+v %v", got, err)
	}
	if got, err := s.BusyTimes(ctx, s.Pool(), other.app, []uuid.UUID{a, b}, from, to); err != nil || len(got) != 0 {
		t.Errorf("our calendars asked by another application: %+v %v", got, err)
	}
	// An empty window overlaps nothing.
	if got, err := s.BusyTimes(ctx, s.Pool(), tn.app, []uuid.UUID{a}, to, from); err != nil || len(got) != 0 {
		t.Errorf("reversed window: %+v %v", got, err)
	}

	// Inside a transaction the lookup sees that transaction's writes.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	claim := uuid.New()
	if _, err := tx.Exec(ctx, `INSERT INTO events (id, application_id, grant_id, calendar_id, when_json, starts_at, ends_at)
		VALUES ($1, $2, $3, $4, '{}', $5, $6)`, claim, tn.app, tn.grant, b, at(time.Hour), at(90*time.Minute)); err != nil {
		t.Fatal(err)
	}
	inTx, err := s.BusyTimes(ctx, tx, tn.app, []uuid.UUID{b}, from, to)
	if err != nil || len(inTx) != 2 || !slices.ContainsFunc(inTx, func(bt BusyTime) bool { return bt.EventID == claim }) {
		t.Errorf("in the transaction: %+v %v, want the other-calendar event and the claimed one", inTx, err)
	}
	if outside, _ := s.BusyTimes(ctx, s.Pool(), tn.app, []uuid.UUID{b}, from, to); len(outside) != 1 {
		t.Errorf("outside the transaction: %+v, want only the committed event", outside)
	}
}

// The list's window and paging, against a plain reading of its definition
// (overlapping [start, end): starts before end, and ends after start or is
// an instant at or after start; ordered by start then id), on events of
// random lengths (instants and long ones included) for random windows.
func TestListEventsWindowsMatchTheirDefinition(t *testing.T) {
	pool, _ := pgtest.New(t)
	s := NewStore(pool, outbox.Writer{})
	ctx := context.Background()
	tn := newTenant(t, s, pool, 2)
	cal := tn.cals[0]
	base := time.Now().UTC().Truncate(time.Hour).Add(24 * time.Hour)
	rng := rand.New(rand.NewPCG(12, 12))
	var all []Event
	for i := range 150 {
		start := base.Add(time.Duration(rng.IntN(200)) * 30 * time.Minute)
		var length time.Duration
		switch i % 5 {
		case 0: // an instant
		case 1:
			length = time.Duration(1+rng.IntN(20)) * 24 * time.Hour
		default:
			length = time.Duration(1+rng.IntN(4)) * 30 * time.Minute
		}
		e := tn.event(cal, start, start.Add(length))
		all = append(all, e)
		insert(t, s, e)
	}
	// Same times on another calendar: never listed.
	for _, e := range all[:20] {
		insert(t, s, tn.event(tn.cals[1], e.StartsAt, e.EndsAt))
	}
	slices.SortFunc(all, func(x, y Event) int {
		if c := x.StartsAt.Compare(y.StartsAt); c != 0 {
			return c
		}
		return strings.Compare(x.ID.String(), y.ID.String())
	})
	point := func() *time.Time {
		if rng.IntN(5) == 0 {
			return nil
		}
		p := base.Add(time.Duration(rng.IntN(240)-20) * 30 * time.Minute)
		return &p
	}
	for range 60 {
		f := ListFilter{CalendarID: cal, Start: point(), End: point(), Limit: 1 + rng.IntN(12)}
		var want []uuid.UUID
		for _, e := range all {
			if (f.End == nil || e.StartsAt.Before(*f.End)) &&
				(f.Start == nil || e.EndsAt.After(*f.Start) || (e.EndsAt.Equal(e.StartsAt) && !e.StartsAt.Before(*f.Start))) {
				want = append(want, e.ID)
			}
		}
		var got []uuid.UUID
		for pages := 0; ; pages++ {
			page, next, err := s.ListEvents(ctx, tn.app, tn.grant, f)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > f.Limit {
				t.Fatalf("a page of %d, limit %d", len(page), f.Limit)
			}
			for _, e := range page {
				got = append(got, e.ID)
			}
			if next == "" {
				break
			}
			if pages > len(all) {
				t.Fatal("paging does not end")
			}
			f.PageToken = next
		}
		if !slices.Equal(got, want) {
			t.Fatalf("window %v..%v limit %d: got %d events %v, want %d %v", f.Start, f.End, f.Limit, len(got), got, len(want), want)
		}
	}
}

// Range lookups far into a big calendar read about as many pages as near
// its beginning: neither the list nor the busy times walk the events
// before the window. Counted in buffers, not timed, so a loaded machine
// cannot fail it; a scan of the calendar reads thousands.
func TestRangeLookupsDoNotScanEarlierEvents(t *testing.T) {
	pool, _ := pgtest.New(t)
	s := NewStore(pool, outbox.Writer{})
	ctx := context.Background()
	tn := newTenant(t, s, pool, 2)
	base := time.Now().UTC().Truncate(time.Hour).Add(24 * time.Hour)
	const n = 50_000
	for _, cal := range tn.cals {
		if err := s.SeedBenchEvents(ctx, tn.app, tn.grant, cal, n, base, time.Hour, 30*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	// One long event, running through every window below.
	insert(t, s, tn.event(tn.cals[0], base.Add(-time.Hour), base.Add(n*time.Hour)))
	buffers := func(sql string, args ...any) int {
		t.Helper()
		var plan []struct {
			Plan struct {
				Hit  int `json:"Shared Hit Blocks"`
				Read int `json:"Shared Read Blocks"`
			}
		}
		var raw []byte
		if err := pool.QueryRow(ctx, `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) `+sql, args...).Scan(&raw); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &plan); err != nil || len(plan) != 1 {
			t.Fatalf("plan %s: %v", raw, err)
		}
		return plan[0].Plan.Hit + plan[0].Plan.Read
	}
	for _, hours := range []int{3, n / 2, n - 800} {
		// A window starting inside an event, so both halves of the overlap find one.
		start := base.Add(time.Duration(hours)*time.Hour + 10*time.Minute)
		end := start.Add(7 * 24 * time.Hour)
		f := ListFilter{CalendarID: tn.cals[0], Start: &start, End: &end, Limit: 50}
		list, _, err := s.ListEvents(ctx, tn.app, tn.grant, f)
		if err != nil || len(list) != 50 || !list[0].EndsAt.After(start) || !list[1].StartsAt.Equal(base.Add(time.Duration(hours)*time.Hour)) {
			t.Fatalf("window at hour %d: %d events, %v", hours, len(list), err)
		}
		sql, args := listQuery(tn.app, tn.grant, f, nil)
		b := buffers(sql, args...)
		t.Logf("list at hour %d: %d buffers", hours, b)
		if b > 300 {
			t.Errorf("list, window at hour %d: %d buffers", hours, b)
		}
		busyEnd := start.Add(30 * 24 * time.Hour)
		busy, err := s.BusyTimes(ctx, s.Pool(), tn.app, tn.cals, start, busyEnd)
		if err != nil || len(busy) < 2*30*24 {
			t.Fatalf("busy times at hour %d: %d, %v", hours, len(busy), err)
		}
		b = buffers(busyQuery, tn.app, tn.cals, start, busyEnd)
		t.Logf("busy at hour %d: %d buffers", hours, b)
		if b > 400 {
			t.Errorf("busy times, window at hour %d: %d buffers", hours, b)
		}
	}
}
