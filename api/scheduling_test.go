package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/confhub/confhub/connectors/zoom/zoomsim"
	"github.com/confhub/confhub/events/scheduler"
	"github.com/confhub/confhub/internal/await"
	"github.com/confhub/confhub/internal/stack"
)

// primaryCalendar returns the id of a calendar grant's primary calendar.
func (e *env) primaryCalendar(key, grant string) string {
	e.t.Helper()
	r := e.do("GET", "/v3/grants/"+grant+"/calendars", key, nil)
	e.expect(r, 200, "calendars")
	for _, c := range r.list() {
		if c.(map[string]any)["is_primary"] == true {
			return c.(map[string]any)["id"].(string)
		}
	}
	e.t.Fatal("no primary calendar")
	return ""
}

// configBody is a configuration of the setup's calendar grant: 30-minute
// slots all day (UTC), Zoom meetings hosted by the setup's Zoom user.
func (cs calendarSetup) configBody(calendar string, extra map[string]any) map[string]any {
	b := map[string]any{
		"participants": []any{map[string]any{"email": "organizer@example.com", "name": "Olga Organizer", "is_organizer": true,
			"availability": map[string]any{"calendar_ids": []any{calendar}}, "booking": map[string]any{"calendar_id": calendar}}},
		"availability": map[string]any{"duration_minutes": 30, "interval_minutes": 30, "availability_rules": map[string]any{
			"default_open_hours": []any{map[string]any{"days": []any{0, 1, 2, 3, 4, 5, 6}, "start": "00:00", "end": "23:59", "timezone": "UTC"}}}},
		"event_booking": map[string]any{"title": "Intro call", "description": "Let's talk",
			"conferencing": map[string]any{"provider": "Zoom Meeting", "autocreate": map[string]any{"conf_grant_id": cs.confGrant}}},
		"scheduler": map[string]any{"min_booking_notice": 0, "available_days_in_future": 14},
	}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

func (e *env) newConfiguration(cs calendarSetup, extra map[string]any) (id, calendar string) {
	e.t.Helper()
	calendar = e.primaryCalendar(cs.key, cs.cal)
	r := e.do("POST", "/v3/grants/"+cs.cal+"/scheduling/configurations", cs.key, cs.configBody(calendar, extra))
	e.expect(r, 200, "create configuration")
	return r.data()["id"].(string), calendar
}

// publicConfiguration is an all-day public configuration (configBody) of a
// new calendar setup, and the query that names it on page calls.
func (e *env) publicConfiguration() (calendarSetup, string) {
	e.t.Helper()
	cs := e.calendarSetup("pro")
	id, _ := e.newConfiguration(cs, nil)
	return cs, "?configuration_id=" + id
}

// slotStart is a slot start two days ahead on a whole hour: offered by an
// all-day configuration whatever the time of day the test runs.
func (e *env) slotStart() time.Time {
	return e.clock.Now().UTC().Truncate(time.Hour).Add(48 * time.Hour)
}

func bookingBody(start time.Time, guest string) map[string]any {
	return map[string]any{"start_time": start.Unix(), "end_time": start.Add(30 * time.Minute).Unix(),
		"guest": map[string]any{"name": "Gina Guest", "email": guest}, "timezone": "Europe/Berlin", "email_language": "en"}
}

func TestSchedulerConfigurationLifecycle(t *testing.T) {
	e := newEnv(t)
	cs := e.calendarSetup("pro")
	cal := e.primaryCalendar(cs.key, cs.cal)
	base := "/v3/grants/" + cs.cal + "/scheduling/configurations"

	r := e.do("POST", base, cs.key, cs.configBody("primary", map[string]any{"slug": "intro", "appearance": map[string]any{"color": "#fff"}}))
	e.expect(r, 200, "create")
	d := r.data()
	id := d["id"].(string)
	if d["slug"] != "intro" || d["requires_session_auth"] != false || d["name"] != "Olga Organizer" {
		t.Fatalf("created: %s", r.Raw)
	}
	// "primary" is stored as the calendar it names; defaults are filled.
	p := d["participants"].([]any)[0].(map[string]any)
	if p["availability"].(map[string]any)["calendar_ids"].([]any)[0] != cal {
		t.Fatalf("primary not resolved: %s", r.Raw)
	}
	av := d["availability"].(map[string]any)
	if av["round_to"] != float64(15) || av["availability_rules"].(map[string]any)["availability_method"] != "collective" ||
		d["event_booking"].(map[string]any)["booking_type"] != "booking" {
		t.Fatalf("defaults: %s", r.Raw)
	}

	g := e.do("GET", base+"/"+id, cs.key, nil)
	e.expect(g, 200, "get")
	if g.data()["slug"] != "intro" {
		t.Fatalf("get: %s", g.Raw)
	}
	// PUT replaces what it names, keeps the rest.
	u := e.do("PUT", base+"/"+id, cs.key, map[string]any{"event_booking": map[string]any{"title": "Renamed"}})
	e.expect(u, 200, "put")
	ud := u.data()
	if ud["event_booking"].(map[string]any)["title"] != "Renamed" || ud["event_booking"].(map[string]any)["conferencing"] != nil ||
		ud["slug"] != "intro" || len(ud["participants"].([]any)) != 1 {
		t.Fatalf("put: %s", u.Raw)
	}
	// The slug is unique per application, not across applications.
	dup := e.do("POST", base, cs.key, cs.configBody(cal, map[string]any{"slug": "intro"}))
	e.expect(dup, 409, "slug taken")
	if !strings.Contains(dup.errMessage(), "slug") {
		t.Fatalf("409 does not name the slug: %s", dup.Raw)
	}
	other := e.calendarSetup("pro")
	e.newConfiguration(other, map[string]any{"slug": "intro"})

	// Another application sees none of it.
	e.expect(e.do("GET", base+"/"+id, other.key, nil), 404, "other app get")
	e.expect(e.do("GET", "/v3/grants/"+other.cal+"/scheduling/configurations/"+id, other.key, nil), 404, "other app via own grant")

	second, _ := e.newConfiguration(cs, nil)
	l := e.do("GET", base+"?limit=1", cs.key, nil)
	e.expect(l, 200, "list")
	if len(l.list()) != 1 || l.Body["next_cursor"] == nil {
		t.Fatalf("list page 1: %s", l.Raw)
	}
	l2 := e.do("GET", base+"?limit=1&page_token="+l.Body["next_cursor"].(string), cs.key, nil)
	if len(l2.list()) != 1 || l2.list()[0].(map[string]any)["id"] != second || l2.Body["next_cursor"] != nil {
		t.Fatalf("list page 2: %s", l2.Raw)
	}

	e.expect(e.do("DELETE", base+"/"+id, cs.key, nil), 200, "delete")
	e.expect(e.do("GET", base+"/"+id, cs.key, nil), 404, "gone")
	e.expect(e.do("DELETE", base+"/"+id, cs.key, nil), 404, "delete twice")
}

func TestSchedulerConfigurationRefusesBadFields(t *testing.T) {
	e := newEnv(t)
	cs := e.calendarSetup("pro")
	other := e.calendarSetup("pro")
	cal := e.primaryCalendar(cs.key, cs.cal)
	otherCal := e.primaryCalendar(other.key, other.cal)
	base := "/v3/grants/" + cs.cal + "/scheduling/configurations"
	with := func(path string, v any) map[string]any {
		b := cs.configBody(cal, nil)
		parts := strings.Split(path, ".")
		m := b
		for _, k := range parts[:len(parts)-1] {
			switch x := m[k].(type) {
			case map[string]any:
				m = x
			case []any:
				m = x[0].(map[string]any)
			}
		}
		if v == nil {
			delete(m, parts[len(parts)-1])
		} else {
			m[parts[len(parts)-1]] = v
		}
		return b
	}
	cases := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"no participants", with("participants", nil), "participants"},
		{"no availability", with("availability", nil), "availability"},
		{"no title", with("event_booking.title", nil), "event_booking.title"},
		{"bad email", with("participants.email", "not-an-email"), "participants[0].email"},
		{"no organizer", with("participants.is_organizer", false), "participants"},
		{"odd duration", with("availability.duration_minutes", 7), "availability.duration_minutes"},
		{"long buffer", with("availability.availability_rules.buffer", map[string]any{"before": 125}), "availability.availability_rules.buffer.before"},
		{"bad method", with("availability.availability_rules.availability_method", "whoever"), "availability.availability_rules.availability_method"},
		{"bad open hours", with("availability.availability_rules.default_open_hours", []any{map[string]any{"days": []any{1}, "start": "9am", "end": "17:00"}}), "availability.availability_rules.default_open_hours[0].start"},
		{"bad timezone", with("participants.timezone", "Mars/Olympus"), "participants[0].timezone"},
		{"bad booking type", with("event_booking.booking_type", "maybe"), "event_booking.booking_type"},
		{"another app's calendar", with("participants.availability", map[string]any{"calendar_ids": []any{otherCal}}), "participants[0].availability.calendar_ids[0]"},
		{"unknown calendar", with("participants.booking", map[string]any{"calendar_id": uuid.NewString()}), "participants[0].booking.calendar_id"},
		{"conf grant of another app", with("event_booking.conferencing", map[string]any{"provider": "Zoom Meeting", "autocreate": map[string]any{"conf_grant_id": other.confGrant}}), "event_booking.conferencing.autocreate.conf_grant_id"},
		{"calendar grant as conf grant", with("event_booking.conferencing", map[string]any{"provider": "Zoom Meeting", "autocreate": map[string]any{"conf_grant_id": cs.cal}}), "event_booking.conferencing.autocreate.conf_grant_id"},
		{"conf settings over Zoom's limits", with("event_booking.conferencing", map[string]any{"provider": "Zoom Meeting", "autocreate": map[string]any{"conf_grant_id": cs.confGrant, "conf_settings": map[string]any{"password": "far-too-long-password"}}}), "event_booking.conferencing.autocreate.conf_settings.password"},
		{"bad slug", with("slug", "Not A Slug"), "slug"},
		{"days in future", with("scheduler.available_days_in_future", 0), "scheduler.available_days_in_future"},
		{"field type", with("scheduler.additional_fields", map[string]any{"company": map[string]any{"label": "Company", "type": "colour"}}), "scheduler.additional_fields.company.type"},
		{"unknown field", with("scheduler.coffee", true), "scheduler.coffee"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do("POST", base, cs.key, c.body)
			e.expect(r, 400, c.name)
			if !strings.Contains(r.errMessage(), c.field) {
				t.Fatalf("400 does not name %s: %s", c.field, r.Raw)
			}
		})
	}
	l := e.do("GET", base, cs.key, nil)
	if len(l.list()) != 0 {
		t.Fatalf("a refused configuration was stored: %s", l.Raw)
	}
	// A conf grant that turned invalid is refused when the configuration is saved.
	e.expect(e.do("DELETE", "/v3/grants/"+cs.confGrant, cs.key, nil), 200, "delete zoom grant")
	r := e.do("POST", base, cs.key, cs.configBody(cal, nil))
	e.expect(r, 400, "deleted conf grant")
}

func TestSchedulerSessionsGuardPrivateConfigurations(t *testing.T) {
	e := newEnv(t)
	cs := e.calendarSetup("pro")
	id, _ := e.newConfiguration(cs, map[string]any{"requires_session_auth": true, "slug": "private"})
	start := e.slotStart()
	avail := fmt.Sprintf("/v3/scheduling/availability?start_time=%d&end_time=%d", start.Unix(), start.Add(2*time.Hour).Unix())

	r := e.do("GET", avail+"&configuration_id="+id, "", nil)
	e.expect(r, 401, "private without session")
	if _, has := r.Body["data"]; has {
		t.Fatalf("an error carries data: %s", r.Raw)
	}
	e.expect(e.do("POST", "/v3/scheduling/sessions", cs.key, map[string]any{"configuration_id": id, "time_to_live": 31}), 400, "ttl over 30")
	e.expect(e.do("POST", "/v3/scheduling/sessions", cs.key, map[string]any{}), 400, "nothing named")
	other := e.calendarSetup("pro")
	e.expect(e.do("POST", "/v3/scheduling/sessions", other.key, map[string]any{"configuration_id": id}), 404, "another app's configuration")

	s := e.do("POST", "/v3/scheduling/sessions", cs.key, map[string]any{"slug": "private"})
	e.expect(s, 200, "session")
	sid := s.data()["session_id"].(string)
	a := e.do("GET", avail, sid, nil)
	e.expect(a, 200, "availability with session")
	if len(a.data()["time_slots"].([]any)) != 4 {
		t.Fatalf("two hours of 30-minute slots: %s", a.Raw)
	}
	// The API key reaches the application's private configurations too (the SDKs).
	e.expect(e.do("GET", avail+"&configuration_id="+id, cs.key, nil), 200, "availability with API key")
	e.expect(e.do("GET", avail+"&configuration_id="+id, other.key, nil), 404, "another app's API key")

	e.clock.Advance(6 * time.Minute) // past the default 5 minutes
	e.expect(e.do("GET", avail, sid, nil), 401, "expired session")

	s2 := e.do("POST", "/v3/scheduling/sessions", cs.key, map[string]any{"configuration_id": id, "time_to_live": 30})
	sid2 := s2.data()["session_id"].(string)
	e.expect(e.do("GET", "/v3/scheduling/ui-settings", sid2, nil), 200, "ui-settings with session")
	e.expect(e.do("DELETE", "/v3/scheduling/sessions/"+sid2, cs.key, nil), 200, "end session")
	e.expect(e.do("GET", "/v3/scheduling/ui-settings", sid2, nil), 401, "deleted session")
	e.expect(e.do("DELETE", "/v3/scheduling/sessions/"+sid2, cs.key, nil), 404, "end twice")
}

// TestBookingWithZoom books, reschedules and cancels a slot of a public
// configuration: one Zoom meeting is made with the event, moved with it
// (same join URL), and deleted after it.
func TestBookingWithZoom(t *testing.T) {
	e := newEnv(t)
	cs := e.calendarSetup("pro")
	id, cal := e.newConfiguration(cs, map[string]any{"scheduler": map[string]any{"min_booking_notice": 0, "available_days_in_future": 14,
		"min_cancellation_notice": 60, "additional_fields": map[string]any{"company": map[string]any{"label": "Company", "type": "text", "required": true}}}})
	start := e.slotStart()
	q := "?configuration_id=" + id
	rcv := newReceiver(t)
	_, secret := e.subscribe(cs.key, rcv, "booking.created", "booking.rescheduled", "booking.cancelled", "booking.pending")

	ui := e.do("GET", "/v3/scheduling/ui-settings"+q, "", nil)
	e.expect(ui, 200, "ui-settings")
	if ui.data()["booking_type"] != "booking" || ui.data()["app_client_id"] != cs.appID.String() ||
		ui.data()["scheduler"].(map[string]any)["available_days_in_future"] != float64(14) {
		t.Fatalf("ui-settings: %s", ui.Raw)
	}
	avail := fmt.Sprintf("/v3/scheduling/availability%s&start_time=%d&end_time=%d", q, start.Unix(), start.Add(time.Hour).Unix())
	a := e.do("GET", avail, "", nil)
	e.expect(a, 200, "availability")
	slotsBefore := a.data()["time_slots"].([]any)
	if len(slotsBefore) != 2 || slotsBefore[0].(map[string]any)["start_time"] != float64(start.Unix()) {
		t.Fatalf("availability: %s", a.Raw)
	}

	body := bookingBody(start, "gina@example.com")
	body["additional_guests"] = []any{map[string]any{"name": "al@example.com", "email": "al@example.com"}}
	e.expect(e.do("POST", "/v3/scheduling/bookings"+q, "", body), 400, "required field missing")
	body["additional_fields"] = map[string]any{"company": "Acme"}
	r := e.do("POST", "/v3/scheduling/bookings"+q, "", body)
	e.expect(r, 200, "book")
	bk := r.data()
	bookingID, eventID := bk["booking_id"].(string), bk["event_id"].(string)
	if bk["status"] != "booked" || bk["title"] != "Intro call" || bk["organizer"].(map[string]any)["email"] != "organizer@example.com" {
		t.Fatalf("booking: %s", r.Raw)
	}
	ev := e.do("GET", "/v3/grants/"+cs.cal+"/events/"+eventID, cs.key, nil)
	e.expect(ev, 200, "the booking's event")
	evd := ev.data()
	joinURL := evd["conferencing"].(map[string]any)["details"].(map[string]any)["url"].(string)
	meta := evd["metadata"].(map[string]any)
	if evd["calendar_id"] != cal || meta["booking_id"] != bookingID || meta["booking_ref"] != bk["booking_ref"] ||
		evd["when"].(map[string]any)["start_time"] != float64(start.Unix()) {
		t.Fatalf("event: %s", ev.Raw)
	}
	emails := ""
	for _, p := range evd["participants"].([]any) {
		emails += p.(map[string]any)["email"].(string) + " "
	}
	if !strings.Contains(emails, "gina@example.com") || !strings.Contains(emails, "al@example.com") || !strings.Contains(emails, "organizer@example.com") {
		t.Fatalf("participants: %s", emails)
	}
	ms := e.meetings()
	if len(ms) != 1 || ms[0]["join_url"] != joinURL || ms[0]["topic"] != "Intro call" {
		t.Fatalf("meetings: %v", ms)
	}
	// The slot is gone, and booking it again is the component's "slot taken".
	a2 := e.do("GET", avail, "", nil)
	if len(a2.data()["time_slots"].([]any)) != 1 {
		t.Fatalf("booked slot still offered: %s", a2.Raw)
	}
	again := e.do("POST", "/v3/scheduling/bookings"+q, "", body)
	e.expect(again, 409, "slot taken")
	if !strings.Contains(again.errMessage(), "The selected timeslot is unavailable") {
		t.Fatalf("slot taken message: %s", again.Raw)
	}
	if len(e.meetings()) != 1 {
		t.Fatal("a refused booking made a meeting")
	}
	g := e.do("GET", "/v3/scheduling/bookings/"+bookingID+q, "", nil)
	e.expect(g, 200, "get booking")
	if g.data()["event_id"] != eventID {
		t.Fatalf("get booking: %s", g.Raw)
	}
	// ui-settings with the booking prefills the reschedule form.
	ui2 := e.do("GET", "/v3/scheduling/ui-settings"+q+"&booking_id="+bookingID, "", nil)
	if ui2.data()["booking"].(map[string]any)["guest"].(map[string]any)["email"] != "gina@example.com" {
		t.Fatalf("ui-settings booking: %s", ui2.Raw)
	}

	// Reschedule an hour later, the way the component sends it (the whole form again).
	later := start.Add(3 * time.Hour)
	move := bookingBody(later, "gina@example.com")
	move["additional_fields"], move["event_id"] = map[string]any{"company": "Acme"}, eventID
	m := e.do("PATCH", "/v3/scheduling/bookings/"+bookingID+q, "", move)
	e.expect(m, 200, "reschedule")
	if m.data()["start_time"] != float64(later.Unix()) {
		t.Fatalf("rescheduled: %s", m.Raw)
	}
	ms = e.meetings()
	if len(ms) != 1 || ms[0]["join_url"] != joinURL || ms[0]["start_time"] != later.Format("2006-01-02T15:04:05Z") {
		t.Fatalf("meeting after reschedule: %v", ms)
	}
	// The old time is free again, the new one taken.
	a3 := e.do("GET", avail, "", nil)
	if len(a3.data()["time_slots"].([]any)) != 2 {
		t.Fatalf("old slot not freed: %s", a3.Raw)
	}
	e.expect(e.do("POST", "/v3/scheduling/bookings"+q, "", func() map[string]any {
		b := bookingBody(later, "x@example.com")
		b["additional_fields"] = map[string]any{"company": "X"}
		return b
	}()), 409, "new time taken")

	// Cancel: the event goes at once, the meeting after it.
	c := e.do("DELETE", "/v3/scheduling/bookings/"+bookingID+q, "", map[string]any{"action": "cancel", "cancellation_reason": "clash"})
	e.expect(c, 200, "cancel")
	e.expect(e.do("GET", "/v3/grants/"+cs.cal+"/events/"+eventID, cs.key, nil), 404, "event removed")
	waitFor(t, "the meeting deleted", func() bool { return len(e.meetings()) == 0 })
	g2 := e.do("GET", "/v3/scheduling/bookings/"+bookingID+q, "", nil)
	if g2.data()["status"] != "cancelled" || g2.data()["cancellation_reason"] != "clash" {
		t.Fatalf("cancelled booking: %s", g2.Raw)
	}
	e.expect(e.do("DELETE", "/v3/scheduling/bookings/"+bookingID+q, "", nil), 409, "cancel twice")
	e.expect(e.do("PATCH", "/v3/scheduling/bookings/"+bookingID+q, "", move), 409, "reschedule a cancelled booking")

	// The application heard of each change once (in no promised order); the
	// refused booking and the refused second cancel told nothing.
	waitFor(t, "booking.cancelled", func() bool { return len(rcv.of("booking.cancelled")) == 1 })
	var types []string
	for _, d := range rcv.all() {
		types = append(types, d.env.Type)
		info, _ := d.obj["booking_info"].(map[string]any)
		if !verify(d, secret) || d.obj["booking_id"] != bookingID || d.obj["booking_ref"] != bk["booking_ref"] ||
			d.obj["configuration_id"] != id || info["event_id"] != eventID || info["additional_fields"].(map[string]any)["company"] != "Acme" {
			t.Fatalf("%s: %s", d.env.Type, d.body)
		}
		want := start
		if d.env.Type != "booking.created" {
			want = later
		}
		if info["start_time"] != float64(want.Unix()) {
			t.Fatalf("%s at %v, want %d", d.env.Type, info["start_time"], want.Unix())
		}
	}
	slices.Sort(types)
	if strings.Join(types, " ") != "booking.cancelled booking.created booking.rescheduled" {
		t.Fatalf("booking notifications: %v", types)
	}
	if reason := rcv.of("booking.cancelled")[0].obj["booking_info"].(map[string]any)["cancellation_reason"]; reason != "clash" {
		t.Fatalf("booking.cancelled reason: %v", reason)
	}
}

func TestBookingRefusesBadInput(t *testing.T) {
	e := newEnv(t)
	cs := e.calendarSetup("pro")
	id, _ := e.newConfiguration(cs, map[string]any{"scheduler": map[string]any{"min_booking_notice": 0, "available_days_in_future": 14, "min_cancellation_notice": 60 * 24 * 3}})
	start := e.slotStart()
	q := "?configuration_id=" + id
	cases := []struct {
		name   string
		body   map[string]any
		status int
		says   string
	}{
		{"wrong length", map[string]any{"start_time": start.Unix(), "end_time": start.Add(time.Hour).Unix(), "guest": map[string]any{"name": "G", "email": "g@example.com"}}, 400, "end_time"},
		{"no guest", map[string]any{"start_time": start.Unix(), "end_time": start.Add(30 * time.Minute).Unix()}, 400, "guest"},
		{"bad guest email", bookingBody(start, "nope"), 400, "guest.email"},
		{"unknown field", func() map[string]any {
			b := bookingBody(start, "g@example.com")
			b["additional_fields"] = map[string]any{"x": "y"}
			return b
		}(), 400, "additional_fields.x"},
		{"bad language", func() map[string]any { b := bookingBody(start, "g@example.com"); b["email_language"] = "tlh"; return b }(), 400, "email_language"},
		{"off the grid", bookingBody(start.Add(7*time.Minute), "g@example.com"), 409, "The selected timeslot is unavailable"},
		{"too far ahead", bookingBody(start.Add(30*24*time.Hour), "g@example.com"), 409, "The selected timeslot is unavailable"},
		{"in the past", bookingBody(start.Add(-72*time.Hour), "g@example.com"), 409, "The selected timeslot is unavailable"},
	}
	for _, c := range cases {
		r := e.do("POST", "/v3/scheduling/bookings"+q, "", c.body)
		e.expect(r, c.status, c.name)
		if !strings.Contains(r.errMessage(), c.says) {
			t.Fatalf("%s: %s", c.name, r.Raw)
		}
	}
	e.expect(e.do("GET", fmt.Sprintf("/v3/scheduling/availability%s&start_time=%d", q, start.Unix()), "", nil), 400, "no end_time")
	e.expect(e.do("GET", fmt.Sprintf("/v3/scheduling/availability%s&start_time=%d&end_time=%d", q, start.Unix(), start.Add(100*24*time.Hour).Unix()), "", nil), 400, "window too long")
	e.expect(e.do("GET", fmt.Sprintf("/v3/scheduling/availability?start_time=%d&end_time=%d", start.Unix(), start.Add(time.Hour).Unix()), "", nil), 400, "no configuration")
	e.expect(e.do("GET", fmt.Sprintf("/v3/scheduling/availability?configuration_id=%s&start_time=%d&end_time=%d", uuid.NewString(), start.Unix(), start.Add(time.Hour).Unix()), "", nil), 404, "unknown configuration")
	if len(e.meetings()) != 0 {
		t.Fatal("refused bookings made meetings")
	}
	// Within the minimum cancellation notice (3 days; the slot is 2 days ahead), a cancel is refused.
	r := e.do("POST", "/v3/scheduling/bookings"+q, "", bookingBody(start, "g@example.com"))
	e.expect(r, 200, "book")
	bid := r.data()["booking_id"].(string)
	c := e.do("DELETE", "/v3/scheduling/bookings/"+bid+q, "", nil)
	e.expect(c, 400, "too late to cancel")
	if !strings.Contains(c.errMessage(), "at least 4320 minutes") {
		t.Fatalf("notice: %s", c.Raw)
	}
	// A booking is reached only through its own configuration.
	other, _ := e.newConfiguration(cs, nil)
	e.expect(e.do("GET", "/v3/scheduling/bookings/"+bid+"?configuration_id="+other, "", nil), 404, "other configuration")
}

// TestConcurrentBookingsOfOneSlot: of 20 concurrent bookings of one slot,
// split over two confhub stacks (two pools, two workers, one database),
// exactly one wins, and exactly one Zoom meeting is made.
func TestConcurrentBookingsOfOneSlot(t *testing.T) {
	e := newEnv(t)
	second := e.secondStack()
	cs := e.calendarSetup("pro")
	id, _ := e.newConfiguration(cs, nil)
	start := e.slotStart()
	var wg sync.WaitGroup
	statuses := make([]int, 20)
	bodies := make([]string, 20)
	for i := range 20 {
		wg.Go(func() {
			base := e.srv.URL
			if i%2 == 1 {
				base = second
			}
			statuses[i], bodies[i] = e.post(base+"/v3/scheduling/bookings?configuration_id="+id, bookingBody(start, fmt.Sprintf("g%d@example.com", i)))
		})
	}
	wg.Wait()
	booked, taken := 0, 0
	for i, s := range statuses {
		switch {
		case s == http.StatusOK:
			booked++
		case s == http.StatusConflict && strings.Contains(bodies[i], "The selected timeslot is unavailable"):
			taken++
		default:
			t.Errorf("booking %d: %d %s", i, s, bodies[i])
		}
	}
	if booked != 1 || taken != 19 {
		t.Fatalf("%d booked, %d refused as taken", booked, taken)
	}
	if n := len(e.meetings()); n != 1 {
		t.Fatalf("%d Zoom meetings", n)
	}
	if n := e.zoomCalls("create_meeting"); n != 1 {
		t.Fatalf("%d meeting creates at Zoom", n)
	}
	l := e.do("GET", "/v3/grants/"+cs.cal+"/events?calendar_id=primary", cs.key, nil)
	if len(l.list()) != 1 {
		t.Fatalf("events: %s", l.Raw)
	}
}

func TestOrganizerConfirmation(t *testing.T) {
	e := newEnv(t)
	cs := e.calendarSetup("pro")
	id, _ := e.newConfiguration(cs, map[string]any{"event_booking": map[string]any{"title": "Needs OK", "booking_type": "organizer-confirmation",
		"conferencing": map[string]any{"provider": "Zoom Meeting", "autocreate": map[string]any{"conf_grant_id": cs.confGrant}}}})
	start := e.slotStart()
	q := "?configuration_id=" + id
	rcv := newReceiver(t)
	e.subscribe(cs.key, rcv, "booking.created", "booking.pending", "booking.cancelled")
	r := e.do("POST", "/v3/scheduling/bookings"+q, "", bookingBody(start, "g@example.com"))
	e.expect(r, 200, "book")
	waitFor(t, "booking.pending", func() bool { return len(rcv.of("booking.pending")) == 1 })
	if len(rcv.of("booking.created")) != 0 {
		t.Fatal("a pending booking was told as created")
	}
	if r.data()["status"] != "pending" || len(e.meetings()) != 0 {
		t.Fatalf("pending booking: %s, %d meetings", r.Raw, len(e.meetings()))
	}
	// A pending booking holds its slot.
	e.expect(e.do("POST", "/v3/scheduling/bookings"+q, "", bookingBody(start, "h@example.com")), 409, "pending slot")
	bid := r.data()["booking_id"].(string)
	_, _, salt, ok := scheduler.DecodeRef(r.data()["booking_ref"].(string))
	if !ok {
		t.Fatalf("booking ref: %s", r.Raw)
	}
	e.expect(e.do("PUT", "/v3/scheduling/bookings/"+bid+q, "", map[string]any{"status": "confirmed", "salt": "wrong"}), 400, "wrong salt")
	c := e.do("PUT", "/v3/scheduling/bookings/"+bid+q, "", map[string]any{"status": "confirmed", "salt": scheduler.SaltText(salt)})
	e.expect(c, 200, "confirm")
	if c.data()["status"] != "booked" || len(e.meetings()) != 1 {
		t.Fatalf("confirmed: %s, %d meetings", c.Raw, len(e.meetings()))
	}
	e.expect(e.do("GET", "/v3/grants/"+cs.cal+"/events/"+c.data()["event_id"].(string), cs.key, nil), 200, "event made")
	waitFor(t, "booking.created on confirmation", func() bool { return len(rcv.of("booking.created")) == 1 })
	e.expect(e.do("PUT", "/v3/scheduling/bookings/"+bid+q, "", map[string]any{"status": "confirmed", "salt": scheduler.SaltText(salt)}), 409, "confirm twice")

	// Rejected: the slot is free again and nothing was made.
	later := start.Add(2 * time.Hour)
	r2 := e.do("POST", "/v3/scheduling/bookings"+q, "", bookingBody(later, "g@example.com"))
	_, _, salt2, _ := scheduler.DecodeRef(r2.data()["booking_ref"].(string))
	rej := e.do("PUT", "/v3/scheduling/bookings/"+r2.data()["booking_id"].(string)+q, "", map[string]any{"status": "cancelled", "salt": scheduler.SaltText(salt2), "cancellation_reason": "busy"})
	e.expect(rej, 200, "reject")
	if rej.data()["status"] != "cancelled" || len(e.meetings()) != 1 {
		t.Fatalf("rejected: %s", rej.Raw)
	}
	waitFor(t, "booking.cancelled on rejection", func() bool { return len(rcv.of("booking.cancelled")) == 1 })
	if d := rcv.of("booking.cancelled")[0]; d.obj["booking_id"] != r2.data()["booking_id"] ||
		d.obj["booking_info"].(map[string]any)["cancellation_reason"] != "busy" {
		t.Fatalf("booking.cancelled: %s", d.body)
	}
	e.expect(e.do("POST", "/v3/scheduling/bookings"+q, "", bookingBody(later, "h@example.com")), 200, "rejected slot free again")

	// A pending booking of a deleted configuration holds nothing more.
	even := start.Add(4 * time.Hour)
	e.expect(e.do("POST", "/v3/scheduling/bookings"+q, "", bookingBody(even, "p@example.com")), 200, "pending booking")
	e.expect(e.do("DELETE", "/v3/grants/"+cs.cal+"/scheduling/configurations/"+id, cs.key, nil), 200, "delete the configuration")
	other, _ := e.newConfiguration(cs, nil)
	e.expect(e.do("POST", "/v3/scheduling/bookings?configuration_id="+other, "", bookingBody(even, "q@example.com")), 200, "the slot is free")
}

func TestRoundRobinBooking(t *testing.T) {
	e := newEnv(t)
	cs := e.calendarSetup("pro")
	cal := e.primaryCalendar(cs.key, cs.cal)
	r := e.do("POST", "/v3/connect/custom", cs.key, map[string]any{"provider": "virtual-calendar", "settings": map[string]any{"email": "cal-" + randomHex(3)}})
	e.expect(r, 201, "second calendar grant")
	cal2 := e.primaryCalendar(cs.key, r.data()["id"].(string))
	body := cs.configBody(cal, map[string]any{"participants": []any{
		map[string]any{"email": "ann@example.com", "name": "Ann", "availability": map[string]any{"calendar_ids": []any{cal}}, "booking": map[string]any{"calendar_id": cal}},
		map[string]any{"email": "bob@example.com", "name": "Bob", "availability": map[string]any{"calendar_ids": []any{cal2}}, "booking": map[string]any{"calendar_id": cal2}},
	}})
	body["availability"].(map[string]any)["availability_rules"].(map[string]any)["availability_method"] = "max-fairness"
	c := e.do("POST", "/v3/grants/"+cs.cal+"/scheduling/configurations", cs.key, body)
	e.expect(c, 200, "round-robin configuration")
	q := "?configuration_id=" + c.data()["id"].(string)
	start := e.slotStart()
	avail := fmt.Sprintf("/v3/scheduling/availability%s&start_time=%d&end_time=%d", q, start.Unix(), start.Add(30*time.Minute).Unix())
	a := e.do("GET", avail, "", nil)
	e.expect(a, 200, "availability")
	if fmt.Sprint(a.data()["order"]) != "[ann@example.com bob@example.com]" || len(a.data()["time_slots"].([]any)[0].(map[string]any)["emails"].([]any)) != 2 {
		t.Fatalf("round-robin availability: %s", a.Raw)
	}
	b1 := e.do("POST", "/v3/scheduling/bookings"+q, "", bookingBody(start, "g1@example.com"))
	e.expect(b1, 200, "first booking")
	if b1.data()["organizer"].(map[string]any)["email"] != "ann@example.com" {
		t.Fatalf("first booking host: %s", b1.Raw)
	}
	// Ann is busy now: the same slot goes to Bob, who is now first in line.
	a2 := e.do("GET", avail, "", nil)
	if fmt.Sprint(a2.data()["order"]) != "[bob@example.com ann@example.com]" || fmt.Sprint(a2.data()["time_slots"].([]any)[0].(map[string]any)["emails"]) != "[bob@example.com]" {
		t.Fatalf("after one booking: %s", a2.Raw)
	}
	// The component asks for a participant; one who is busy is refused as taken.
	busy := bookingBody(start, "g2@example.com")
	busy["participants"] = []any{map[string]any{"email": "ann@example.com"}}
	e.expect(e.do("POST", "/v3/scheduling/bookings"+q, "", busy), 409, "busy participant")
	b2 := e.do("POST", "/v3/scheduling/bookings"+q, "", bookingBody(start, "g2@example.com"))
	e.expect(b2, 200, "second booking")
	ev := e.do("GET", "/v3/grants/"+r.data()["id"].(string)+"/events/"+b2.data()["event_id"].(string), cs.key, nil)
	e.expect(ev, 200, "Bob's event, on Bob's calendar")
	e.expect(e.do("POST", "/v3/scheduling/bookings"+q, "", bookingBody(start, "g3@example.com")), 409, "everyone busy")
}

// secondStack runs a second confhub beside the env's, as another process
// would: its own database pool, worker and HTTP server, on the same
// database and task queue. It returns its base URL.
func (e *env) secondStack() string {
	e.t.Helper()
	pool, err := pgxpool.New(context.Background(), e.dbURL)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(pool.Close)
	opts := e.opts
	opts.Pool = pool
	st, err := stack.New(context.Background(), opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(st.Close)
	w, err := st.StartWorker(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(w.Stop)
	srv := httptest.NewServer(checkContract(e.t, st.API.Handler()))
	e.t.Cleanup(srv.Close)
	// Returned once ready, as a load balancer routes: a new process is
	// still reaching Temporal for a moment, and answers 503 till then.
	waitFor(e.t, "the second process to be ready", func() bool {
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return srv.URL
}

// post sends a public (no credentials) JSON POST to a full URL.
func (e *env) post(url string, body any) (int, string) {
	j, _ := json.Marshal(body)
	resp, err := e.client.Post(url, "application/json", bytes.NewReader(j))
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// dieDuring sends a public request to a process that dies as it starts the
// workflow whose id begins with prefix (see dyingStarts), and returns once
// it has died; the process's Temporal client is whole again after.
func (e *env) dieDuring(prefix, method, path string, body any) {
	e.t.Helper()
	dying := &dyingStarts{Client: e.st.Workflows.Temporal, died: make(chan struct{})}
	dying.dieAt.Store(&prefix)
	e.st.Workflows.Temporal = dying
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	if resp, err := e.client.Do(req); err == nil {
		resp.Body.Close()
		e.t.Fatalf("%s %s answered %d: the process was meant to die mid-request", method, path, resp.StatusCode)
	}
	<-dying.died
	e.st.Workflows.Temporal = dying.Client
}

// A booking whose process dies after its slot is claimed and before its
// event's workflow starts: the sweeper starts it, so the booking gets its
// event and its Zoom meeting all the same, and the slot stays taken.
func TestBookingSurvivesDeathBeforeItsWorkflowStarts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cs, q := e.publicConfiguration()
	start := e.slotStart()

	e.dieDuring("create-event-", "POST", "/v3/scheduling/bookings"+q, bookingBody(start, "g@example.com"))

	var event map[string]any
	if !await.Until(30*time.Second, func() bool {
		l := e.do("GET", "/v3/grants/"+cs.cal+"/events?calendar_id=primary", cs.key, nil)
		if len(l.list()) == 1 {
			event = l.list()[0].(map[string]any)
		}
		return event != nil && event["conferencing"] != nil
	}) {
		t.Fatalf("the claimed booking never got its event")
	}
	if n := len(e.meetings()); n != 1 {
		t.Fatalf("%d meetings for one booking", n)
	}
	bid := event["metadata"].(map[string]any)["booking_id"].(string)
	g := e.do("GET", "/v3/scheduling/bookings/"+bid+q, "", nil)
	if g.data()["status"] != "booked" || g.data()["event_id"] != event["id"] {
		t.Fatalf("booking: %s", g.Raw)
	}
	e.expect(e.do("POST", "/v3/scheduling/bookings"+q, "", bookingBody(start, "h@example.com")), 409, "the slot stays taken")
}

// A booking whose Zoom meeting cannot be made: the booking fails with
// Zoom's reason, nothing is left behind, and the slot is free again.
func TestBookingWhoseMeetingFailsIsReleased(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cs, q := e.publicConfiguration()
	start := e.slotStart()
	rcv := newReceiver(t)
	e.subscribe(cs.key, rcv, "booking.created", "booking.cancelled", "event.created")
	if err := e.sim.SetFaults(zoomsim.Faults{Ops: map[string]zoomsim.OpFault{zoomsim.OpCreateMeeting: {ErrorRate: 1, ErrorStatus: 400}}}); err != nil {
		t.Fatal(err)
	}
	r := e.do("POST", "/v3/scheduling/bookings"+q, "", bookingBody(start, "g@example.com"))
	if r.Status < 400 || r.Status >= 500 && r.Status != http.StatusBadGateway {
		t.Fatalf("a booking whose meeting Zoom refused answered %d: %s", r.Status, r.Raw)
	}
	if _, has := r.Body["data"]; has {
		t.Fatalf("an error carries data: %s", r.Raw)
	}
	if err := e.sim.SetFaults(zoomsim.Faults{}); err != nil {
		t.Fatal(err)
	}
	if n := len(e.meetings()); n != 0 {
		t.Fatalf("%d meetings after a failed booking", n)
	}
	if l := e.do("GET", "/v3/grants/"+cs.cal+"/events?calendar_id=primary", cs.key, nil); len(l.list()) != 0 {
		t.Fatalf("a failed booking left an event: %s", l.Raw)
	}
	// The application heard of the booking, then of its release; of no event.
	waitFor(t, "booking.cancelled of the released booking", func() bool { return len(rcv.of("booking.cancelled")) == 1 })
	if got := rcv.all(); len(got) != 2 || len(rcv.of("booking.created")) != 1 ||
		rcv.of("booking.cancelled")[0].obj["booking_info"].(map[string]any)["cancellation_reason"] == "" {
		t.Fatalf("notifications of a released booking: %d, last %s", len(got), got[len(got)-1].body)
	}
	e.expect(e.do("POST", "/v3/scheduling/bookings"+q, "", bookingBody(start, "g@example.com")), 200, "the slot is free again")
}

// A cancel whose process dies after the booking and its event are removed
// and before the meeting's deletion starts: the meeting is deleted anyway.
func TestCancelSurvivesDeathBeforeTheMeetingsDeletion(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cs, q := e.publicConfiguration()
	r := e.do("POST", "/v3/scheduling/bookings"+q, "", bookingBody(e.slotStart(), "g@example.com"))
	e.expect(r, 200, "book")
	e.dieDuring("delete-meeting-", "DELETE", "/v3/scheduling/bookings/"+r.data()["booking_id"].(string)+q, nil)
	e.expect(e.do("GET", "/v3/grants/"+cs.cal+"/events/"+r.data()["event_id"].(string), cs.key, nil), 404, "the event is gone")
	if !await.Until(30*time.Second, func() bool { return len(e.meetings()) == 0 }) {
		t.Fatalf("the cancelled booking's meeting is still at Zoom: %v", e.meetings())
	}
}

// A reschedule whose process dies after the new time is claimed and before
// the event's move starts: the booking does not keep holding a time its
// event never moved to; once the sweeper settles it, it has its event's
// time again and the new time is free.
func TestRescheduleSettlesAfterDeathBeforeTheEventMoves(t *testing.T) {
	t.Parallel()
	e := newEnvStack(t, func(o *stack.Options) { o.BookingSettleAfter = 2 * time.Second })
	cs, q := e.publicConfiguration()
	start := e.slotStart()
	r := e.do("POST", "/v3/scheduling/bookings"+q, "", bookingBody(start, "g@example.com"))
	e.expect(r, 200, "book")
	bid := r.data()["booking_id"].(string)

	later := start.Add(4 * time.Hour)
	e.dieDuring("update-event-", "PATCH", "/v3/scheduling/bookings/"+bid+q,
		map[string]any{"start_time": later.Unix(), "end_time": later.Add(30 * time.Minute).Unix()})

	if !await.Until(30*time.Second, func() bool {
		g := e.do("GET", "/v3/scheduling/bookings/"+bid+q, "", nil)
		return g.data()["start_time"] == float64(start.Unix())
	}) {
		t.Fatalf("the booking still holds the time its event never moved to: %s", e.do("GET", "/v3/scheduling/bookings/"+bid+q, "", nil).Raw)
	}
	ev := e.do("GET", "/v3/grants/"+cs.cal+"/events/"+r.data()["event_id"].(string), cs.key, nil)
	if ev.data()["when"].(map[string]any)["start_time"] != float64(start.Unix()) {
		t.Fatalf("event: %s", ev.Raw)
	}
	e.expect(e.do("POST", "/v3/scheduling/bookings"+q, "", bookingBody(later, "h@example.com")), 200, "the new time is free again")
}

// A reschedule whose event cannot move (Zoom refuses the meeting's update)
// gives the booking its old time back; the application, told of the move,
// is told of the return too.
func TestRescheduleThatCannotMoveIsToldBack(t *testing.T) {
	e := newEnv(t)
	cs := e.calendarSetup("pro")
	id, _ := e.newConfiguration(cs, map[string]any{"scheduler": map[string]any{"min_booking_notice": 0, "available_days_in_future": 14}})
	q := "?configuration_id=" + id
	rcv := newReceiver(t)
	e.subscribe(cs.key, rcv, "booking.rescheduled")
	start := e.slotStart()
	r := e.do("POST", "/v3/scheduling/bookings"+q, "", bookingBody(start, "gina@example.com"))
	e.expect(r, 200, "book")
	bookingID, eventID := r.data()["booking_id"].(string), r.data()["event_id"].(string)

	if err := e.sim.SetFaults(zoomsimFaults("update_meeting", 400)); err != nil {
		t.Fatal(err)
	}
	later := start.Add(3 * time.Hour)
	move := bookingBody(later, "gina@example.com")
	move["event_id"] = eventID
	if m := e.do("PATCH", "/v3/scheduling/bookings/"+bookingID+q, "", move); m.Status < 400 || m.Status >= 500 {
		t.Fatalf("a reschedule Zoom refuses: %d %s", m.Status, m.Raw)
	}
	if err := e.sim.SetFaults(zoomsimFaults("", 0)); err != nil {
		t.Fatal(err)
	}
	if g := e.do("GET", "/v3/scheduling/bookings/"+bookingID+q, "", nil); g.data()["start_time"] != float64(start.Unix()) {
		t.Fatalf("the booking after a refused move: %s", g.Raw)
	}
	e.awaitDrained()
	told := map[float64]int{}
	for _, d := range rcv.of("booking.rescheduled") {
		told[d.obj["booking_info"].(map[string]any)["start_time"].(float64)]++
	}
	if len(told) != 2 || told[float64(later.Unix())] != 1 || told[float64(start.Unix())] != 1 {
		t.Fatalf("booking.rescheduled start times %v, want one at the new time (%d) and one back at the old (%d)", told, later.Unix(), start.Unix())
	}
}
