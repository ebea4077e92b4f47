package events

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/confhub/confhub/internal/apperr"
)

func TestParseMeetingNoticeNamesTheBadField(t *testing.T) {
	start := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	good := fmt.Sprintf(`{"id":81234567890,"host_id":"h1","topic":"Planning","start_time":%q,"duration":45,"timezone":"Europe/Berlin","agenda":"x","settings":{"waiting_room":true}}`,
		start.Format(time.RFC3339))
	n, err := ParseMeetingNotice(MeetingUpdated, json.RawMessage(good), json.RawMessage(`{"id":81234567890,"topic":"Old","duration":null}`))
	if err != nil {
		t.Fatal(err)
	}
	if n.Deleted || n.MeetingID != 81234567890 || n.HostID != "h1" || *n.New.Topic != "Planning" || !n.New.StartTime.Equal(start) ||
		*n.New.Duration != 45 || *n.New.Timezone != "Europe/Berlin" || *n.Old.Topic != "Old" || n.Old.Duration != nil || n.Old.StartTime != nil {
		t.Fatalf("parsed %+v", n)
	}
	d, err := ParseMeetingNotice(MeetingDeleted, json.RawMessage(good), nil)
	if err != nil || !d.Deleted || d.MeetingID != 81234567890 || d.New.Topic != nil {
		t.Fatalf("deleted: %+v %v", d, err)
	}

	for _, c := range []struct{ event, object, old, field string }{
		{"meeting.created", `{"id":1}`, ``, "event"},
		{MeetingDeleted, `{"topic":"x"}`, ``, "payload.object.id"},
		{MeetingDeleted, `{"id":"81234567890"}`, ``, "payload.object.id"},
		{MeetingDeleted, `{"id":-4}`, ``, "payload.object.id"},
		{MeetingDeleted, `{"id":1.5}`, ``, "payload.object.id"},
		{MeetingDeleted, `{"id":99999999999999999999}`, ``, "payload.object.id"},
		{MeetingDeleted, `{"id":1,"host_id":7}`, ``, "payload.object.host_id"},
		{MeetingUpdated, `[1]`, ``, "payload.object"},
		{MeetingUpdated, `{"id":1,"topic":12}`, ``, "payload.object.topic"},
		{MeetingUpdated, `{"id":1,"topic":"` + strings.Repeat("x", 201) + `"}`, ``, "payload.object.topic"},
		{MeetingUpdated, `{"id":1,"start_time":"tomorrow"}`, ``, "payload.object.start_time"},
		{MeetingUpdated, `{"id":1,"start_time":"0001-01-01T00:00:00Z"}`, ``, "payload.object.start_time"},
		{MeetingUpdated, `{"id":1,"duration":-5}`, ``, "payload.object.duration"},
		{MeetingUpdated, `{"id":1,"duration":"long"}`, ``, "payload.object.duration"},
		{MeetingUpdated, `{"id":1,"duration":1e12}`, ``, "payload.object.duration"},
		{MeetingUpdated, `{"id":1,"timezone":"Mars/Olympus_Mons"}`, ``, "payload.object.timezone"},
		{MeetingUpdated, `{"id":1}`, `{"id":2}`, "payload.old_object.id"},
		{MeetingUpdated, `{"id":1}`, `{"start_time":5}`, "payload.old_object.start_time"},
		{MeetingUpdated, `{"id":1}`, `"old"`, "payload.old_object"},
	} {
		_, err := ParseMeetingNotice(c.event, json.RawMessage(c.object), json.RawMessage(c.old))
		e, ok := apperr.As(err)
		if !ok || e.Kind != apperr.Invalid || e.Field != c.field {
			t.Errorf("%s %s %s: %v, want Invalid naming %s", c.event, c.object, c.old, err, c.field)
		}
	}
}

// noticeEvent is an event of the given when, carrying meeting 4242.
func noticeEvent(t *testing.T, when string) Event {
	t.Helper()
	w, s, e, err := ParseWhen(json.RawMessage(when))
	if err != nil {
		t.Fatal(err)
	}
	g, m := uuid.New(), int64(4242)
	return Event{ID: uuid.New(), Title: "Planning", Description: "Agenda", When: w, StartsAt: s, EndsAt: e, ConfGrantID: &g, ConfMeetingID: &m,
		Conferencing: &Conferencing{Provider: ZoomProvider, Details: &Details{URL: "https://zoom.example/j/4242", MeetingCode: "4242"},
			Autocreate: &Autocreate{ConfGrantID: g.String()}}}
}

func ptr[T any](v T) *T { return &v }

// A meeting moved in Zoom moves its event in the event's own form.
func TestFollowKeepsTheFormOfWhen(t *testing.T) {
	base := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Hour)
	day := base.Truncate(24 * time.Hour)
	moved := base.Add(26 * time.Hour) // the next day, two hours later
	movedDay := moved.Truncate(24 * time.Hour).Format(time.DateOnly)
	for _, c := range []struct {
		name, when string
		notice     MeetingFields
		check      func(When, time.Time, time.Time) error
	}{
		{"timespan: start, length and zone", fmt.Sprintf(`{"start_time":%d,"end_time":%d,"start_timezone":"Europe/Berlin","end_timezone":"Europe/Berlin"}`,
			base.Unix(), base.Add(30*time.Minute).Unix()),
			MeetingFields{StartTime: &moved, Duration: ptr(90), Timezone: ptr("America/New_York")},
			func(w When, s, e time.Time) error {
				if w.Object != "timespan" || w.StartTime != moved.Unix() || w.EndTime != moved.Add(90*time.Minute).Unix() ||
					w.StartTimezone != "America/New_York" || w.EndTimezone != "America/New_York" || !s.Equal(moved) || !e.Equal(moved.Add(90*time.Minute)) {
					return fmt.Errorf("got %+v %v %v", w, s, e)
				}
				return nil
			}},
		{"timespan: start only keeps its exact length and zone", fmt.Sprintf(`{"start_time":%d,"end_time":%d,"start_timezone":"Europe/Berlin","end_timezone":"Europe/Berlin"}`,
			base.Unix(), base.Add(30*time.Minute+10*time.Second).Unix()),
			MeetingFields{StartTime: &moved},
			func(w When, s, e time.Time) error {
				if w.StartTime != moved.Unix() || w.EndTime != moved.Add(30*time.Minute+10*time.Second).Unix() || w.StartTimezone != "Europe/Berlin" {
					return fmt.Errorf("got %+v", w)
				}
				return nil
			}},
		{"point in time: no length", fmt.Sprintf(`{"time":%d,"timezone":"Europe/Berlin"}`, base.Unix()),
			MeetingFields{StartTime: &moved, Duration: ptr(90)},
			func(w When, s, e time.Time) error {
				if w.Object != "time" || w.Time != moved.Unix() || w.Timezone != "Europe/Berlin" || !s.Equal(e) {
					return fmt.Errorf("got %+v %v %v", w, s, e)
				}
				return nil
			}},
		{"date: the day of the new start", fmt.Sprintf(`{"date":%q}`, day.Format(time.DateOnly)),
			MeetingFields{StartTime: &moved},
			func(w When, s, e time.Time) error {
				if w.Object != "date" || w.Date != movedDay || w.Time != 0 {
					return fmt.Errorf("got %+v", w)
				}
				return nil
			}},
		{"datespan: days from the duration", fmt.Sprintf(`{"start_date":%q,"end_date":%q}`, day.Format(time.DateOnly), day.AddDate(0, 0, 1).Format(time.DateOnly)),
			MeetingFields{StartTime: &moved, Duration: ptr(3 * 24 * 60)},
			func(w When, s, e time.Time) error {
				if w.Object != "datespan" || w.StartDate != movedDay || w.EndDate != moved.Truncate(24*time.Hour).AddDate(0, 0, 2).Format(time.DateOnly) {
					return fmt.Errorf("got %+v", w)
				}
				return nil
			}},
	} {
		ev := noticeEvent(t, c.when)
		out, changed, conflicts := MeetingNotice{MeetingID: 4242, New: c.notice}.Follow(ev)
		if !changed || len(conflicts) != 0 {
			t.Errorf("%s: changed %v, conflicts %v", c.name, changed, conflicts)
			continue
		}
		if err := c.check(out.When, out.StartsAt, out.EndsAt); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if out.Conferencing == nil || out.Title != "Planning" {
			t.Errorf("%s: the move changed more than the time: %+v", c.name, out)
		}
	}
}

func TestFollowTitleOrConfSettingsTopic(t *testing.T) {
	ev := noticeEvent(t, fmt.Sprintf(`{"start_time":%d,"end_time":%d}`, time.Now().Unix()+3600, time.Now().Unix()+5400))
	out, changed, _ := MeetingNotice{MeetingID: 4242, New: MeetingFields{Topic: ptr("Renamed")}, Old: MeetingFields{Topic: ptr("Planning")}}.Follow(ev)
	if !changed || out.Title != "Renamed" {
		t.Fatalf("title: %q (changed %v)", out.Title, changed)
	}
	// With a topic of its own in conf_settings the meeting's topic is not
	// the title: the setting follows, in a copy.
	ev.Conferencing.Autocreate.ConfSettings = &ConfSettings{Topic: ptr("Own topic"), Password: ptr("pw1")}
	out, changed, _ = MeetingNotice{MeetingID: 4242, New: MeetingFields{Topic: ptr("Renamed")}}.Follow(ev)
	if !changed || out.Title != "Planning" || *out.Conferencing.Autocreate.ConfSettings.Topic != "Renamed" ||
		*out.Conferencing.Autocreate.ConfSettings.Password != "pw1" {
		t.Fatalf("conf_settings topic: %+v", out.Conferencing.Autocreate.ConfSettings)
	}
	if *ev.Conferencing.Autocreate.ConfSettings.Topic != "Own topic" {
		t.Fatal("the stored event was changed in place")
	}
}

// An event that shows the notice's values already (our own change, echoed)
// does not change; one that shows neither the new nor the previous value
// (it moved on since) keeps its own, and says which fields.
func TestFollowEchoesAndStaleNotices(t *testing.T) {
	start := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Minute)
	ev := noticeEvent(t, fmt.Sprintf(`{"start_time":%d,"end_time":%d}`, start.Unix(), start.Add(time.Hour).Unix()))
	req := MeetingRequest(ev, nil, "")
	shown, _ := time.Parse(time.RFC3339, req.StartTime)
	echo := MeetingNotice{MeetingID: 4242, New: MeetingFields{Topic: &req.Topic, StartTime: &shown, Duration: &req.Duration, Timezone: &req.Timezone}}
	if _, changed, conflicts := echo.Follow(ev); changed || len(conflicts) != 0 {
		t.Fatalf("an echo of what the event shows changed it (conflicts %v)", conflicts)
	}
	earlier, older := start.Add(-time.Hour), start.Add(-2*time.Hour)
	stale := MeetingNotice{MeetingID: 4242, New: MeetingFields{StartTime: &earlier, Topic: ptr("First name")},
		Old: MeetingFields{StartTime: &older, Topic: ptr("Zeroth name")}}
	out, changed, conflicts := stale.Follow(ev)
	if changed || out.StartsAt != ev.StartsAt || strings.Join(conflicts, ",") != "topic,start_time" {
		t.Fatalf("a notice the event moved past: changed %v, conflicts %v", changed, conflicts)
	}
	if _, changed, _ := (MeetingNotice{MeetingID: 77, New: MeetingFields{Topic: ptr("x")}}).Follow(ev); changed {
		t.Fatal("a notice about another meeting changed the event")
	}
}

func TestFollowDeletionDropsTheConference(t *testing.T) {
	ev := noticeEvent(t, fmt.Sprintf(`{"start_time":%d,"end_time":%d}`, time.Now().Unix()+3600, time.Now().Unix()+5400))
	if !strings.Contains(Wire(ev).Description, "Join Zoom Meeting") {
		t.Fatal("the fixture has no join block")
	}
	out, changed, _ := MeetingNotice{Deleted: true, MeetingID: 4242}.Follow(ev)
	if !changed || out.Conferencing != nil || out.ConfGrantID != nil || out.ConfMeetingID != nil || Wire(out).Description != "Agenda" ||
		out.When != ev.When || out.Title != ev.Title {
		t.Fatalf("after the deletion: %+v", out)
	}
	if _, changed, _ := (MeetingNotice{Deleted: true, MeetingID: 77}).Follow(ev); changed {
		t.Fatal("the deletion of another meeting changed the event")
	}
}

// FuzzMeetingNotice feeds arbitrary meeting objects to the parser and what
// it accepts to Follow: never a panic, refusals are 400s, and an accepted
// notice leaves an event that can be stored (a when ParseWhen takes).
func FuzzMeetingNotice(f *testing.F) {
	at := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	start, day := at.Format(time.RFC3339), at.Format(time.DateOnly)
	whens := []string{fmt.Sprintf(`{"start_time":%d,"end_time":%d}`, at.Unix(), at.Unix()+1800), fmt.Sprintf(`{"time":%d}`, at.Unix()),
		fmt.Sprintf(`{"date":%q}`, day), fmt.Sprintf(`{"start_date":%q,"end_date":%q}`, day, at.AddDate(0, 0, 2).Format(time.DateOnly))}
	for _, o := range []string{
		`{"id":4242,"topic":"x","start_time":"` + start + `","duration":0,"timezone":""}`,
		`{"id":4242,"duration":1000000}`, `{"id":4242,"start_time":"9999-12-31T23:59:59Z","duration":600}`,
		`{"id":"4242"}`, `{"id":4242,"topic":null}`, `[]`, `{`, `{"id":4242,"timezone":"Local"}`,
	} {
		f.Add(o, `{"id":4242,"topic":"Planning"}`, true)
		f.Add(o, ``, false)
	}
	f.Fuzz(func(t *testing.T, object, old string, updated bool) {
		event := MeetingDeleted
		if updated {
			event = MeetingUpdated
		}
		n, err := ParseMeetingNotice(event, json.RawMessage(object), json.RawMessage(old))
		if err != nil {
			if !apperr.IsKind(err, apperr.Invalid) {
				t.Fatalf("%s %s: %v, want a 400", object, old, err)
			}
			return
		}
		for _, when := range whens {
			ev := noticeEvent(t, when)
			out, changed, _ := n.Follow(ev)
			if !changed {
				continue
			}
			raw, _ := json.Marshal(out.When)
			if _, s, e, err := ParseWhen(raw); err != nil || !s.Equal(out.StartsAt) || !e.Equal(out.EndsAt) {
				t.Fatalf("%s on %s: when %s (%v) does not hold %v..%v", object, when, raw, err, out.StartsAt, out.EndsAt)
			}
		}
	})
}
