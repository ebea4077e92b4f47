package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/confhub/confhub/events"
	"github.com/confhub/confhub/internal/applications"
	"github.com/confhub/confhub/internal/outbox"
)

// Scheduler rows: availability over a month of three busy calendars, and
// bookings with Zoom (each makes its event and meeting through the same
// workflow as an event create).
const (
	availWindow       = 30 * 24 * time.Hour
	availBusyEvents   = 2000
	availParticipants = 3
	availReps         = 300
	bookingDuration   = 30 * time.Minute
)

// schedulerBench is the seeded state of the scheduler rows.
type schedulerBench struct {
	b       *benchState
	avail   string   // the availability configuration
	configs []string // booking configurations, one per Zoom host
	from    time.Time
	busy    int          // busy events seeded
	next    atomic.Int64 // the next free slot, over all booking configurations
}

// seedScheduler makes the availability configuration (three participants
// in three time zones, each with a calendar of busy events) and one
// booking configuration per Zoom host, each on its own calendar.
func seedScheduler(ctx context.Context, pool *pgxpool.Pool, b *benchState, stderr io.Writer) (*schedulerBench, error) {
	c := apiClient{base: b.base, key: b.key, http: b.http}
	app, err := applications.NewStore(pool).Authenticate(ctx, b.key)
	if err != nil {
		return nil, err
	}
	grant, err := uuid.Parse(b.cal)
	if err != nil {
		return nil, err
	}
	s := &schedulerBench{b: b, from: time.Now().UTC().Truncate(time.Hour).Add(24 * time.Hour)}
	newCalendar := func(name string) (string, error) {
		cal, err := c.post("/v3/grants/"+b.cal+"/calendars", map[string]any{"name": name})
		if err != nil {
			return "", err
		}
		return fmt.Sprint(cal["id"]), nil
	}
	store := events.NewStore(pool, outbox.Writer{})
	zones := []string{"Europe/Berlin", "America/New_York", "Asia/Kolkata"}
	var participants []any
	per := (availBusyEvents + availParticipants - 1) / availParticipants
	s.busy = per * availParticipants
	fmt.Fprintf(stderr, "seeding %d busy events over %d calendars and %d booking configurations...\n", per*availParticipants, availParticipants, len(b.confGrants))
	for i := range availParticipants {
		cal, err := newCalendar(fmt.Sprint("Busy ", i))
		if err != nil {
			return nil, err
		}
		// Spread over the window, 20 minutes each, offset per calendar: the
		// three leave some common free time, as real calendars do.
		spacing := availWindow / time.Duration(per)
		if err := store.SeedBenchEvents(ctx, app, grant, uuid.MustParse(cal), per, s.from.Add(time.Duration(i)*3*time.Minute), spacing, 20*time.Minute); err != nil {
			return nil, err
		}
		participants = append(participants, map[string]any{"email": fmt.Sprintf("p%d@bench.invalid", i), "name": fmt.Sprint("P", i),
			"is_organizer": i == 0, "timezone": zones[i], "availability": map[string]any{"calendar_ids": []any{cal}, "open_hours": []any{
				map[string]any{"days": []any{1, 2, 3, 4, 5}, "start": "6:00", "end": "23:00", "timezone": zones[i]}}}})
	}
	cfg, err := c.post("/v3/grants/"+b.cal+"/scheduling/configurations", map[string]any{
		"participants":  participants,
		"availability":  map[string]any{"duration_minutes": 30, "interval_minutes": 15},
		"event_booking": map[string]any{"title": "Bench availability"},
		"scheduler":     map[string]any{"min_booking_notice": 0, "available_days_in_future": 60},
	})
	if err != nil {
		return nil, err
	}
	s.avail = fmt.Sprint(cfg["id"])
	for i, g := range b.confGrants {
		cal, err := newCalendar(fmt.Sprint("Bookings ", i))
		if err != nil {
			return nil, err
		}
		cfg, err := c.post("/v3/grants/"+b.cal+"/scheduling/configurations", map[string]any{
			"participants": []any{map[string]any{"email": fmt.Sprintf("host-%d@bench.invalid", i), "name": fmt.Sprint("Host ", i), "is_organizer": true,
				"availability": map[string]any{"calendar_ids": []any{cal}}, "booking": map[string]any{"calendar_id": cal}}},
			"availability": map[string]any{"duration_minutes": 30, "interval_minutes": 30, "availability_rules": map[string]any{
				"default_open_hours": []any{map[string]any{"days": []any{0, 1, 2, 3, 4, 5, 6}, "start": "0:00", "end": "24:00", "timezone": "UTC"}}}},
			"event_booking": map[string]any{"title": "Bench booking", "conferencing": map[string]any{"provider": "Zoom Meeting",
				"autocreate": map[string]any{"conf_grant_id": g}}},
			"scheduler": map[string]any{"min_booking_notice": 0, "available_days_in_future": 365},
		})
		if err != nil {
			return nil, err
		}
		s.configs = append(s.configs, fmt.Sprint(cfg["id"]))
	}
	return s, nil
}

// availability asks for the month's slots of the availability configuration.
func (s *schedulerBench) availability(int) error {
	url := fmt.Sprintf("%s/v3/scheduling/availability?configuration_id=%s&start_time=%d&end_time=%d", s.b.base, s.avail,
		s.from.Unix(), s.from.Add(availWindow).Unix())
	resp, err := s.b.http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out struct {
		Data struct {
			TimeSlots []json.RawMessage `json:"time_slots"`
		} `json:"data"`
	}
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("status %d: %s", resp.StatusCode, raw)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return err
	}
	if len(out.Data.TimeSlots) == 0 {
		return fmt.Errorf("no slots")
	}
	return nil
}

// book books the next free slot, as a public booking page does (no
// credentials); consecutive bookings go to the hosts in turn.
func (s *schedulerBench) book(int) error {
	j := s.next.Add(1) - 1
	cfg := s.configs[int(j)%len(s.configs)]
	slot := j / int64(len(s.configs))
	start := s.from.Add(time.Duration(slot) * bookingDuration)
	body, _ := json.Marshal(map[string]any{"start_time": start.Unix(), "end_time": start.Add(bookingDuration).Unix(),
		"guest": map[string]any{"name": "Guest", "email": fmt.Sprintf("guest-%d@bench.invalid", j)}})
	resp, err := s.b.http.Post(s.b.base+"/v3/scheduling/bookings?configuration_id="+cfg, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}
