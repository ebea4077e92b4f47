package events

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/confhub/confhub/connectors/zoom"
	"github.com/confhub/confhub/internal/apperr"
)

func TestParseWhenForms(t *testing.T) {
	cases := map[string]struct {
		object     string
		start, end time.Time
	}{
		`{"start_time":1700000000,"end_time":1700003600,"start_timezone":"Europe/Berlin","end_timezone":"Europe/Berlin"}`: {"timespan", time.Unix(1700000000, 0), time.Unix(1700003600, 0)},
		`{"time":1700000000,"timezone":"America/New_York"}`:                                                               {"time", time.Unix(1700000000, 0), time.Unix(1700000000, 0)},
		`{"date":"2026-12-24"}`: {"date", time.Date(2026, 12, 24, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 25, 0, 0, 0, 0, time.UTC)},
		`{"start_date":"2026-12-24","end_date":"2026-12-26","object":"datespan"}`: {"datespan", time.Date(2026, 12, 24, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 27, 0, 0, 0, 0, time.UTC)},
	}
	for in, want := range cases {
		w, s, e, err := ParseWhen(json.RawMessage(in))
		if err != nil || w.Object != want.object || !s.Equal(want.start) || !e.Equal(want.end) {
			t.Errorf("%s: %+v %v %v %v", in, w, s, e, err)
		}
	}
	for in, field := range map[string]string{
		`{"start_time":1700000000}`:                                                   "when.end_time",
		`{"start_time":1700003600,"end_time":1700000000}`:                             "when.end_time",
		`{"start_time":1,"end_time":2,"start_timezone":"Europe/Berlin"}`:              "when.end_timezone",
		`{"start_time":1,"end_time":2,"start_timezone":"Mars","end_timezone":"Mars"}`: "when.start_timezone",
		`{"date":"24.12.2026"}`:                                                       "when.date",
		`{"start_date":"2026-12-26","end_date":"2026-12-24"}`:                         "when.end_date",
		`{}`:              "when.start_time",
		`{"time":"noon"}`: "when.time",
		`{"when":1}`:      "when.when",
	} {
		_, _, _, err := ParseWhen(json.RawMessage(in))
		if e, ok := apperr.As(err); !ok || e.Kind != apperr.Invalid || e.Field != field {
			t.Errorf("%s: %v, want a 400 naming %s", in, err, field)
		}
	}
}

func TestParseConferencing(t *testing.T) {
	kind, c, err := ParseConferencing(json.RawMessage(`{"provider":"Zoom Meeting","autocreate":{"conf_grant_id":"g1","conf_settings":{"password":"abc123","settings":{"waiting_room":true,"auto_recording":"cloud"}}}}`))
	if err != nil || kind != ConfSet || c.Autocreate.ConfGrantID != "g1" || *c.Autocreate.ConfSettings.Password != "abc123" {
		t.Fatalf("autocreate: %v %+v %v", kind, c, err)
	}
	for _, in := range []string{``, `  `} {
		if kind, _, _ := ParseConferencing(json.RawMessage(in)); kind != ConfKeep {
			t.Errorf("%q: %v, want keep", in, kind)
		}
	}
	for _, in := range []string{`{}`, `null`} {
		if kind, _, _ := ParseConferencing(json.RawMessage(in)); kind != ConfRemove {
			t.Errorf("%q: %v, want remove", in, kind)
		}
	}
	for in, field := range map[string]string{
		`{"provider":"Zoom Meeting","autocreate":{"conf_grant_id":"g"},"details":{"url":"https://x"}}`:                          "conferencing",
		`{"provider":"Teams","details":{"url":"https://x"}}`:                                                                    "conferencing.provider",
		`{"provider":"Zoom Meeting","autocreate":{}}`:                                                                           "conferencing.autocreate.conf_grant_id",
		`{"provider":"Zoom Meeting","autocreate":{"conf_grant_id":"g","conf_settings":{"password":"way-too-long-1"}}}`:          "conferencing.autocreate.conf_settings.password",
		`{"provider":"Zoom Meeting","autocreate":{"conf_grant_id":"g","conf_settings":{"password":"no spaces"}}}`:               "conferencing.autocreate.conf_settings.password",
		`{"provider":"Zoom Meeting","autocreate":{"conf_grant_id":"g","conf_settings":{"settings":{"auto_recording":"tape"}}}}`: "conferencing.autocreate.conf_settings.settings.auto_recording",
		`{"provider":"Zoom Meeting","autocreate":{"conf_grant_id":"g","conf_settings":{"colour":"red"}}}`:                       "conferencing.autocreate.conf_settings.colour",
		`{"provider":"Zoom Meeting","autocreate":{"conf_grant_id":"g","conf_settings":{"settings":{"waiting_room":"yes"}}}}`:    "conferencing.autocreate.conf_settings.settings.waiting_room",
		`{"provider":"Zoom Meeting","details":{"url":"ftp://x"}}`:                                                               "conferencing.details.url",
		`{"provider":"Zoom Meeting"}`: "conferencing",
	} {
		_, _, err := ParseConferencing(json.RawMessage(in))
		if e, ok := apperr.As(err); !ok || e.Kind != apperr.Invalid || e.Field != field {
			t.Errorf("%s: %v, want a 400 naming %s", in, err, field)
		}
	}
}

func TestJoinBlockNeverAppearsTwice(t *testing.T) {
	c := &Conferencing{Provider: ZoomProvider, Details: &Details{URL: "https://zoom.example/j/1", MeetingCode: "1", Password: "pw", Phone: []string{"+1 646 558 8656"}}}
	once := RenderDescription("Agenda:\n- roadmap", c)
	if strings.Count(once, "Join Zoom Meeting") != 1 || !strings.HasPrefix(once, "Agenda:\n- roadmap\n\n") || !strings.Contains(once, "Passcode: pw") {
		t.Fatalf("rendered: %q", once)
	}
	// A client echoes the rendered description back, edited: still one block.
	echoed := StripBlock(once + "\nand more")
	if strings.Contains(echoed, "Join Zoom Meeting") || !strings.Contains(echoed, "and more") || !strings.HasPrefix(echoed, "Agenda:") {
		t.Fatalf("stripped: %q", echoed)
	}
	if again := RenderDescription(StripBlock(once), c); again != once {
		t.Fatalf("render(strip(render(x))) != render(x):\n%q\n%q", again, once)
	}
	if RenderDescription("plain", nil) != "plain" {
		t.Fatal("no conference, no block")
	}
}

func TestMeetingRequestMapping(t *testing.T) {
	e := Event{Title: "Planning", Description: strings.Repeat("d", 3000),
		When:     When{Object: "timespan", StartTimezone: "Europe/Berlin", EndTimezone: "Europe/Berlin"},
		StartsAt: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), EndsAt: time.Date(2026, 12, 1, 9, 45, 30, 0, time.UTC)}
	pw := "s3cret"
	req := MeetingRequest(e, &ConfSettings{Password: &pw}, "m4rk3r")
	if req.Topic != "Planning" || req.StartTime != "2026-12-01T09:00:00Z" || req.Duration != 46 || req.Timezone != "Europe/Berlin" ||
		req.Password != "s3cret" || req.Type != zoom.MeetingScheduled {
		t.Fatalf("request %+v", req)
	}
	if len([]rune(req.Agenda)) > 2000 || !HasRef(req.Agenda, "m4rk3r") {
		t.Fatalf("agenda of %d runes, ref kept: %v", len([]rune(req.Agenda)), HasRef(req.Agenda, "m4rk3r"))
	}
	day := MeetingRequest(Event{When: When{Object: "date"}, StartsAt: time.Date(2026, 12, 24, 0, 0, 0, 0, time.UTC), EndsAt: time.Date(2026, 12, 25, 0, 0, 0, 0, time.UTC)}, nil, "")
	if day.Duration != 1440 || day.Topic != "Meeting" {
		t.Fatalf("all-day: %+v", day)
	}
}

func TestPatchKeepsOmittedFieldsAndReplacesNestedOnes(t *testing.T) {
	start := time.Unix(1700000000, 0).UTC()
	stored := Event{Title: "Planning", Description: "Agenda", Location: "Room 1", Busy: true, Status: "confirmed", Visibility: "default",
		Participants: []Participant{{Email: "a@example.com", Status: "yes"}}, Metadata: map[string]string{"k": "v"},
		When: When{Object: "timespan", StartTime: start.Unix(), EndTime: start.Add(time.Hour).Unix()}, StartsAt: start, EndsAt: start.Add(time.Hour)}
	parse := func(body string) Patch {
		t.Helper()
		var in EventInput
		if err := json.Unmarshal([]byte(body), &in); err != nil {
			t.Fatal(err)
		}
		p, err := ParsePatch(in)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	c := parse(`{"location":"Room 2","participants":[{"email":"b@example.com"}]}`).Apply(stored)
	if c.Event.Title != "Planning" || c.Event.Location != "Room 2" || len(c.Event.Participants) != 1 ||
		c.Event.Participants[0].Email != "b@example.com" || c.Event.Participants[0].Status != "noreply" || c.Event.Metadata["k"] != "v" {
		t.Fatalf("applied: %+v", c.Event)
	}
	if c.ZoomFieldsChanged || c.Conf != ConfKeep {
		t.Fatalf("a location change is not Zoom's: %+v", c)
	}
	if !parse(`{"title":"New"}`).Apply(stored).ZoomFieldsChanged || !parse(`{"when":{"start_time":1700003600,"end_time":1700007200}}`).Apply(stored).ZoomFieldsChanged {
		t.Fatal("title and time changes must sync to Zoom")
	}
	if parse(`{"title":"Planning"}`).Apply(stored).ZoomFieldsChanged {
		t.Fatal("the same title again is no change")
	}
	// The stored event is never modified in place (the workflow may replay).
	_ = parse(`{"metadata":{"x":"y"},"title":"Other"}`).Apply(stored)
	if stored.Title != "Planning" || stored.Metadata["x"] != "" {
		t.Fatalf("Apply changed its input: %+v", stored)
	}
	if c := parse(`{"conferencing":{}}`).Apply(stored); c.Conf != ConfRemove {
		t.Fatalf("conferencing {}: %v", c.Conf)
	}
}

func TestNewEventNeedsWhen(t *testing.T) {
	var in EventInput
	_ = json.Unmarshal([]byte(`{"title":"x"}`), &in)
	if _, err := NewEvent(uuid.New(), uuid.New(), uuid.New(), in); !apperr.IsKind(err, apperr.Invalid) {
		t.Fatalf("no when: %v", err)
	}
	_ = json.Unmarshal([]byte(`{"title":"x","when":{"time":1700000000},"conferencing":{}}`), &in)
	c, err := NewEvent(uuid.New(), uuid.New(), uuid.New(), in)
	if err != nil || c.Conf != ConfKeep || c.Event.Status != "confirmed" || !c.Event.Busy || c.Event.ID == uuid.Nil {
		t.Fatalf("new event: %+v %v", c, err)
	}
}
