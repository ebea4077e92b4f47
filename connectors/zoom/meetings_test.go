package zoom_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/confhub/confhub/connectors/zoom"
	"github.com/confhub/confhub/connectors/zoom/zoomsim"
)

func boolp(b bool) *bool { return &b }

func TestMeetingLifecycle(t *testing.T) {
	f := newFixture(t, zoomsim.Options{}, allScopes, "pro")
	tok := f.connect().AccessToken
	ctx := context.Background()
	start := f.clock.Now().Add(48 * time.Hour)
	m, err := f.client.CreateMeeting(ctx, tok, "me", zoom.MeetingRequest{
		Topic: "Planning", Type: zoom.MeetingScheduled, StartTime: start.Format("2006-01-02T15:04:05Z"), Duration: 45,
		Timezone: "Europe/Berlin", Agenda: "Roadmap", Password: "abc-12*",
		Settings: &zoom.MeetingSettings{WaitingRoom: boolp(true), AutoRecording: "cloud"},
		Extra:    map[string]json.RawMessage{"tracking_fields": json.RawMessage(`[{"field":"team","value":"core"}]`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.ID < 10_000_000_000 || m.ID > 99_999_999_999 {
		t.Errorf("meeting id %d is not 11 digits", m.ID)
	}
	if !strings.HasPrefix(m.JoinURL, f.srv.URL+"/j/"+strconv.FormatInt(m.ID, 10)) || m.StartURL == "" {
		t.Errorf("join url %q does not point at the simulator", m.JoinURL)
	}
	if m.Topic != "Planning" || m.Duration != 45 || m.Timezone != "Europe/Berlin" || m.Password != "abc-12*" || m.HostID != f.user.ID ||
		m.StartTime != start.Format("2006-01-02T15:04:05Z") || m.Settings.WaitingRoom == nil || !*m.Settings.WaitingRoom ||
		m.Settings.AutoRecording != "cloud" || len(m.Settings.GlobalDialInNumbers) == 0 || m.H323Password == "" {
		t.Errorf("created meeting %+v", m)
	}

	// PATCH answers 204 without a body; GET shows the new state.
	if err := f.client.UpdateMeeting(ctx, tok, m.ID, zoom.MeetingRequest{Topic: "Planning v2", Duration: 60}); err != nil {
		t.Fatal(err)
	}
	got, err := f.client.GetMeeting(ctx, tok, m.ID)
	if err != nil || got.Topic != "Planning v2" || got.Duration != 60 || got.Agenda != "Roadmap" || got.Settings.AutoRecording != "cloud" {
		t.Fatalf("after update: %+v %v", got, err)
	}
	var raw map[string]json.RawMessage
	simMeetings(t, f, &raw)

	list, err := f.client.ListMeetings(ctx, tok, "me", zoom.ListOptions{Type: "scheduled", PageSize: 10})
	if err != nil || list.TotalRecords != 1 || len(list.Meetings) != 1 || list.Meetings[0].ID != m.ID {
		t.Fatalf("list: %+v %v", list, err)
	}

	if err := f.client.DeleteMeeting(ctx, tok, m.ID, zoom.DeleteOptions{CancelMeetingReminder: true}); err != nil {
		t.Fatal(err)
	}
	_, err = f.client.GetMeeting(ctx, tok, m.ID)
	if !zoom.IsNotFound(err) || asZoomError(t, err).HTTPStatus != 404 || asZoomError(t, err).Code != 3001 {
		t.Fatalf("get after delete: %v", err)
	}
	// A repeated delete is a 3001 too: a compensation treats it as success.
	if err := f.client.DeleteMeeting(ctx, tok, m.ID, zoom.DeleteOptions{}); !zoom.IsNotFound(err) {
		t.Fatalf("second delete: %v", err)
	}
}

// simMeetings reads GET /_sim/meetings and checks tracking_fields came through.
func simMeetings(t *testing.T, f *fixture, _ *map[string]json.RawMessage) []map[string]any {
	t.Helper()
	resp, err := http.Get(f.srv.URL + "/_sim/meetings")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Meetings []map[string]any `json:"meetings"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Meetings
}

func TestListMeetingsPages(t *testing.T) {
	f := newFixture(t, zoomsim.Options{}, allScopes, "business")
	tok := f.connect().AccessToken
	for i := range 5 {
		if _, err := f.client.CreateMeeting(context.Background(), tok, "me", zoom.MeetingRequest{Topic: "m" + strconv.Itoa(i),
			StartTime: f.clock.Now().Add(time.Duration(i+1) * time.Hour).Format("2006-01-02T15:04:05Z")}); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	opts := zoom.ListOptions{PageSize: 2}
	for {
		page, err := f.client.ListMeetings(context.Background(), tok, "me", opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page.Meetings {
			seen = append(seen, m.Topic)
		}
		if page.NextPageToken == "" {
			break
		}
		opts.NextPageToken = page.NextPageToken
	}
	if strings.Join(seen, ",") != "m0,m1,m2,m3,m4" {
		t.Fatalf("pages gave %v", seen)
	}
	_, err := f.client.ListMeetings(context.Background(), tok, "me", zoom.ListOptions{Type: "bogus"})
	if ze := asZoomError(t, err); ze.Code != 300 {
		t.Fatalf("bad type: %v", err)
	}
}

func TestValidationErrorsAreTerminalAndNameTheField(t *testing.T) {
	f := newFixture(t, zoomsim.Options{}, allScopes, "pro")
	tok := f.connect().AccessToken
	cases := map[string]zoom.MeetingRequest{
		"topic":                   {Topic: strings.Repeat("t", 201)},
		"agenda":                  {Agenda: strings.Repeat("a", 2001)},
		"password":                {Password: "has space"},
		"start_time":              {StartTime: "2026-12-01 10:00"},
		"timezone":                {Timezone: "Mars/Olympus"},
		"type":                    {Type: 5},
		"settings.auto_recording": {Settings: &zoom.MeetingSettings{AutoRecording: "tape"}},
		"duration":                {Extra: map[string]json.RawMessage{"duration": json.RawMessage(`-5`)}},
	}
	for field, req := range cases {
		_, err := f.client.CreateMeeting(context.Background(), tok, "me", req)
		ze := asZoomError(t, err)
		named := false
		for _, fe := range ze.Fields {
			named = named || fe.Field == field
		}
		if ze.HTTPStatus != 400 || ze.Code != 300 || !named || ze.Class() != zoom.Terminal {
			t.Errorf("%s: %+v", field, ze)
		}
	}
	if _, err := f.client.CreateMeeting(context.Background(), tok, "me", zoom.MeetingRequest{Topic: strings.Repeat("t", 200), Password: "0123456789"}); err != nil {
		t.Errorf("at the limits: %v", err)
	}
	if n := len(simMeetings(t, f, nil)); n != 1 {
		t.Errorf("refused creates left %d meetings, want 1", n)
	}
}

func TestPastAndLocalStartTimes(t *testing.T) {
	f := newFixture(t, zoomsim.Options{}, allScopes, "pro")
	tok := f.connect().AccessToken
	past := f.clock.Now().Add(-72 * time.Hour).Format("2006-01-02T15:04:05Z")
	m, err := f.client.CreateMeeting(context.Background(), tok, "me", zoom.MeetingRequest{Topic: "late", StartTime: past})
	if err != nil || m.StartTime != f.clock.Now().Format("2006-01-02T15:04:05Z") {
		t.Fatalf("past start: %q %v, want it moved to now", m.StartTime, err)
	}
	m, err = f.client.CreateMeeting(context.Background(), tok, "me", zoom.MeetingRequest{Topic: "local", StartTime: "2026-12-01T10:00:00", Timezone: "America/New_York"})
	if err != nil || m.StartTime != "2026-12-01T15:00:00Z" {
		t.Fatalf("local start: %q %v", m.StartTime, err)
	}
}

func TestBasicUserAndMissingScope(t *testing.T) {
	f := newFixture(t, zoomsim.Options{}, allScopes, "basic")
	tok := f.connect().AccessToken
	_, err := f.client.CreateMeeting(context.Background(), tok, "me", zoom.MeetingRequest{Topic: "x"})
	if ze := asZoomError(t, err); ze.Code != zoom.CodeNoPermission || ze.HTTPStatus != 400 || ze.Class() != zoom.Terminal {
		t.Fatalf("basic user: %+v", ze)
	}

	g := newFixture(t, zoomsim.Options{}, []string{"user:read:user"}, "pro")
	tok = g.connect().AccessToken
	_, err = g.client.CreateMeeting(context.Background(), tok, "me", zoom.MeetingRequest{Topic: "x"})
	ze := asZoomError(t, err)
	if ze.Code != zoom.CodeMissingScope || ze.HTTPStatus != 400 || ze.Class() != zoom.Terminal || !strings.Contains(ze.Message, "meeting:write:meeting") {
		t.Fatalf("missing scope: %+v", ze)
	}
	// Classic meeting:write covers create, update and delete, but not reading.
	h := newFixture(t, zoomsim.Options{}, []string{"meeting:write", "user:read"}, "pro")
	tok = h.connect().AccessToken
	m, err := h.client.CreateMeeting(context.Background(), tok, "me", zoom.MeetingRequest{Topic: "classic"})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.client.UpdateMeeting(context.Background(), tok, m.ID, zoom.MeetingRequest{Topic: "c2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.GetMeeting(context.Background(), tok, m.ID); asZoomError(t, err).Code != zoom.CodeMissingScope {
		t.Fatalf("GET with only meeting:write: %v", err)
	}
}

func TestPerSecondRateLimitIsRetryable(t *testing.T) {
	f := newFixture(t, zoomsim.Options{}, allScopes, "pro")
	tok := f.connect().AccessToken
	ctx := context.Background()
	// The clock stands still: every call falls in the same second. Pro: Medium = 20/s.
	for i := range 20 {
		if _, err := f.client.CreateMeeting(ctx, tok, "me", zoom.MeetingRequest{Topic: "q"}); err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
	}
	_, err := f.client.CreateMeeting(ctx, tok, "me", zoom.MeetingRequest{Topic: "q"})
	ze := asZoomError(t, err)
	if ze.HTTPStatus != 429 || ze.RateLimit == nil || ze.RateLimit.Kind != zoom.RateLimitQPS || ze.Class() != zoom.Retryable ||
		ze.RateLimit.Category != "Medium" || ze.RateLimit.Limit != "20" || ze.RateLimit.ResumeAt.IsZero() {
		t.Fatalf("21st create in one second: %+v %+v", ze, ze.RateLimit)
	}
	// Light ops have their own budget (30/s on Pro).
	if _, err := f.client.Me(ctx, tok); err != nil {
		t.Fatalf("a Light call in the same second: %v", err)
	}
	f.clock.Advance(time.Second)
	if _, err := f.client.CreateMeeting(ctx, tok, "me", zoom.MeetingRequest{Topic: "q"}); err != nil {
		t.Fatalf("next second: %v", err)
	}
}

func TestDailyLimitIsTerminalUntilMidnight(t *testing.T) {
	f := newFixture(t, zoomsim.Options{}, allScopes, "pro")
	tok := f.connect().AccessToken
	ctx := context.Background()
	var first int64
	for i := range 100 {
		f.clock.Advance(time.Second) // stay under the per-second limit
		m, err := f.client.CreateMeeting(ctx, tok, "me", zoom.MeetingRequest{Topic: "d"})
		if err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
		first = m.ID
	}
	f.clock.Advance(time.Second)
	// Updates count against the same budget.
	err := f.client.UpdateMeeting(ctx, tok, first, zoom.MeetingRequest{Topic: "d2"})
	ze := asZoomError(t, err)
	midnight := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	if ze.HTTPStatus != 429 || ze.RateLimit == nil || ze.RateLimit.Kind != zoom.RateLimitDaily || ze.Class() != zoom.Terminal ||
		!ze.RateLimit.ResumeAt.Equal(midnight) || ze.RateLimit.Type != "" {
		t.Fatalf("101st create/update of the day: %+v %+v", ze, ze.RateLimit)
	}
	f.clock.Advance(midnight.Sub(f.clock.Now()))
	fresh, err := f.client.Refresh(ctx, f.app, f.refreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.CreateMeeting(ctx, fresh.AccessToken, "me", zoom.MeetingRequest{Topic: "new day"}); err != nil {
		t.Fatalf("after midnight UTC: %v", err)
	}
}

// The fault that makes naive retries create duplicates: the create takes
// effect, then the connection closes without an answer.
func TestCommitThenDropMakesANaiveRetryDuplicate(t *testing.T) {
	f := newFixture(t, zoomsim.Options{}, allScopes, "pro")
	tok := f.connect().AccessToken
	ctx := context.Background()
	if err := f.sim.SetFaults(zoomsim.Faults{Ops: map[string]zoomsim.OpFault{"create_meeting": {DropRate: 1}}}); err != nil {
		t.Fatal(err)
	}
	req := zoom.MeetingRequest{Topic: "Booking #42"}
	_, err := f.client.CreateMeeting(ctx, tok, "me", req)
	ze := asZoomError(t, err)
	if ze.HTTPStatus != 0 || !ze.MaybeCommitted || ze.Class() != zoom.Retryable {
		t.Fatalf("dropped create: %+v", ze)
	}
	_ = f.sim.SetFaults(zoomsim.Faults{})
	// The naive retry.
	if _, err := f.client.CreateMeeting(ctx, tok, "me", req); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range simMeetings(t, f, nil) {
		if m["topic"] == "Booking #42" {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d meetings named Booking #42 after a dropped create and a retry, want 2 (the duplicate)", n)
	}
	if got := f.sim.Stats().Calls["create_meeting"]; got["dropped"] != 1 || got["201"] != 1 {
		t.Fatalf("stats %v", got)
	}
}

func TestInjectedErrorsHaveNoEffect(t *testing.T) {
	f := newFixture(t, zoomsim.Options{}, allScopes, "pro")
	tok := f.connect().AccessToken
	_ = f.sim.SetFaults(zoomsim.Faults{Ops: map[string]zoomsim.OpFault{"create_meeting": {ErrorRate: 1, ErrorStatus: 503}}})
	_, err := f.client.CreateMeeting(context.Background(), tok, "me", zoom.MeetingRequest{Topic: "x"})
	if ze := asZoomError(t, err); ze.HTTPStatus != 503 || ze.Class() != zoom.Retryable || ze.MaybeCommitted {
		t.Fatalf("injected 503: %+v", ze)
	}
	if n := len(simMeetings(t, f, nil)); n != 0 {
		t.Fatalf("an injected error created %d meetings", n)
	}
	if err := f.sim.SetFaults(zoomsim.Faults{Ops: map[string]zoomsim.OpFault{"teleport": {}}}); err == nil {
		t.Fatal("unknown op accepted")
	}
}

func TestLatencyAndTimeouts(t *testing.T) {
	f := newFixture(t, zoomsim.Options{}, allScopes, "pro")
	tok := f.connect().AccessToken
	_ = f.sim.SetFaults(zoomsim.Faults{LatencyMS: 300})
	slow := zoom.New(zoom.Config{OAuthURL: f.srv.URL, APIURL: f.srv.URL + "/v2", Timeout: 50 * time.Millisecond})
	_, err := slow.Me(context.Background(), tok)
	if ze := asZoomError(t, err); ze.HTTPStatus != 0 || ze.Class() != zoom.Retryable {
		t.Fatalf("timed-out call: %+v", ze)
	}
}

func TestConcurrentUse(t *testing.T) {
	f := newFixture(t, zoomsim.Options{}, allScopes, "business")
	tok := f.connect().AccessToken
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := f.client.CreateMeeting(context.Background(), tok, "me", zoom.MeetingRequest{Topic: "c" + strconv.Itoa(i)})
			if err != nil {
				errs <- err
				return
			}
			if _, err := f.client.GetMeeting(context.Background(), tok, m.ID); err != nil {
				errs <- err
			}
			_ = f.sim.Stats()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(simMeetings(t, f, nil)); n != 32 {
		t.Fatalf("%d meetings, want 32", n)
	}
}
