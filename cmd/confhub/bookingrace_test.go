package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/confhub/confhub/connectors/zoom/zoomsim"
)

// bookingRace: 20 guests book one slot of a public booking page at the
// same moment, 10 through each of the two `confhub serve` processes (one
// database, one Temporal server). Exactly one is booked, the other 19 are
// told the slot is taken, and Zoom is asked for exactly one meeting. api's
// TestConcurrentBookingsOfOneSlot races two stacks inside one process; this
// is the deployment's shape. It runs as a step of TestOutages, on the
// harness that test has already started (a harness start is the cost), once
// its load has settled; it counts only what it adds to the simulator.
func (h *harness) bookingRace(t *testing.T) {
	// A fresh make test once saw half the guests sent to a process still
	// reaching Temporal after the outages.
	h.awaitReady(t)
	meetingsBefore, createsBefore := len(simMeetings(t, h.simURL)), simCalls(h.sim, zoomsim.OpCreateMeeting)
	config := map[string]any{
		"participants": []any{map[string]any{"email": "organizer@chaos.example", "name": "Olga Organizer", "is_organizer": true,
			"availability": map[string]any{"calendar_ids": []any{"primary"}}, "booking": map[string]any{"calendar_id": "primary"}}},
		"availability": map[string]any{"duration_minutes": 30, "interval_minutes": 30, "availability_rules": map[string]any{
			"default_open_hours": []any{map[string]any{"days": []any{0, 1, 2, 3, 4, 5, 6}, "start": "00:00", "end": "23:59", "timezone": "UTC"}}}},
		"event_booking": map[string]any{"title": "Race call",
			"conferencing": map[string]any{"provider": "Zoom Meeting", "autocreate": map[string]any{"conf_grant_id": h.zoomGrants[0]}}},
		"scheduler": map[string]any{"min_booking_notice": 0, "available_days_in_future": 14},
	}
	body, _ := json.Marshal(config)
	a := h.send(h.serves[0], http.MethodPost, "/v3/grants/"+h.cal+"/scheduling/configurations", body, "")
	var cfg struct{ ID string }
	if a.err != nil || a.status != http.StatusOK || json.Unmarshal(a.data, &cfg) != nil || cfg.ID == "" {
		t.Fatalf("create configuration: %s %s", a.class(), a.excerpt())
	}

	// A whole hour two days ahead: offered by an all-day configuration
	// whenever the test runs.
	start := time.Now().UTC().Truncate(time.Hour).Add(48 * time.Hour)
	const n = 20
	statuses, bodies := make([]int, n), make([]string, n)
	release := make(chan struct{})
	var ready, done sync.WaitGroup
	for i := range n {
		ready.Add(1)
		done.Go(func() {
			b, _ := json.Marshal(map[string]any{"start_time": start.Unix(), "end_time": start.Add(30 * time.Minute).Unix(),
				"guest": map[string]any{"name": "Gina Guest", "email": fmt.Sprintf("guest%d@example.com", i)}, "timezone": "UTC"})
			// A public booking page: no Authorization header.
			req, err := http.NewRequest(http.MethodPost, "http://"+h.serves[i%2].addr+"/v3/scheduling/bookings?configuration_id="+cfg.ID, bytes.NewReader(b))
			if err != nil {
				ready.Done()
				bodies[i] = err.Error()
				return
			}
			req.Header.Set("Content-Type", "application/json")
			ready.Done()
			<-release
			resp, err := h.http.Do(req)
			if err != nil {
				bodies[i] = err.Error()
				return
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			statuses[i], bodies[i] = resp.StatusCode, string(raw)
		})
	}
	ready.Wait()
	close(release)
	done.Wait()

	booked, taken := 0, 0
	for i, s := range statuses {
		switch {
		case s == http.StatusOK:
			booked++
		case s == http.StatusConflict && strings.Contains(bodies[i], "The selected timeslot is unavailable"):
			taken++
		default:
			t.Errorf("booking %d via %s: %d %s", i, h.serves[i%2].name, s, bodies[i])
		}
	}
	if booked != 1 || taken != n-1 {
		t.Errorf("%d booked, %d refused as taken: want 1 and %d", booked, taken, n-1)
	}
	if got := len(simMeetings(t, h.simURL)) - meetingsBefore; got != 1 {
		t.Errorf("%d Zoom meetings made, want 1", got)
	}
	if got := simCalls(h.sim, zoomsim.OpCreateMeeting) - createsBefore; got != 1 {
		t.Errorf("%d meeting creates at Zoom, want 1", got)
	}
	var evs []apiEvent
	if _, err := h.getData(fmt.Sprintf("/v3/grants/%s/events?calendar_id=primary&start=%d&end=%d", h.cal, start.Unix(), start.Add(30*time.Minute).Unix()), &evs); err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Title != "Race call" || evs[0].meetingCode() == "" {
		t.Errorf("events in the slot: %+v, want one \"Race call\" with its meeting", evs)
	}
}

// simCalls counts the simulator's calls of op, whatever they answered.
func simCalls(sim *zoomsim.Sim, op string) int {
	n := 0
	for _, v := range sim.Stats().Calls[op] {
		n += v
	}
	return n
}
