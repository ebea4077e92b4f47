package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// nodeSDKDir is where `make node-sdk` installs the official Nylas Node SDK,
// relative to the repository root.
const nodeSDKDir = ".tools/nylas-8.4.0/node_modules/nylas"

// nodeSDK returns the absolute path of the installed SDK. A missing SDK
// fails the test: the promise is that the SDK works, and a test that skips
// when it is absent would keep that promise silently.
func nodeSDK(t *testing.T) (sdk, node string) {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", nodeSDKDir))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "package.json")); err != nil {
		t.Fatalf("the Nylas Node SDK is not installed at %s: run `make node-sdk` (%v)", nodeSDKDir, err)
	}
	node, err = exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not on PATH; the Node SDK test needs Node.js >= 18 (then `make node-sdk`): %v", err)
	}
	return dir, node
}

// sdkExchange is one request the SDK sent, as it reached confhub.
type sdkExchange struct {
	method, uri, auth, contentType, body string
	status                               int
}

// sdkRecorder stands between the SDK and confhub and keeps what the SDK
// sent, so a failure shows the exact request and answer. The contract
// check still sits at confhub's own server behind it.
type sdkRecorder struct {
	apiKey string
	mu     sync.Mutex
	log    []sdkExchange
}

func (e *env) sdkProxy(apiKey string) (*sdkRecorder, string) {
	e.t.Helper()
	target, err := url.Parse(e.srv.URL)
	if err != nil {
		e.t.Fatal(err)
	}
	rec := &sdkRecorder{apiKey: apiKey}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		proxy.ServeHTTP(sw, r)
		rec.add(sdkExchange{method: r.Method, uri: r.URL.RequestURI(), auth: rec.redact(r.Header.Get("Authorization")),
			contentType: r.Header.Get("Content-Type"), body: string(body), status: sw.status})
	}))
	e.t.Cleanup(srv.Close)
	return rec, srv.URL
}

func (r *sdkRecorder) add(x sdkExchange) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, x)
}

// redact keeps the API key out of the test log.
func (r *sdkRecorder) redact(h string) string {
	switch {
	case h == "":
		return "none"
	case h == "Bearer "+r.apiKey:
		return "Bearer <API key>"
	case strings.HasPrefix(h, "Bearer "):
		return "Bearer <session id>"
	}
	return "<other scheme>"
}

func (r *sdkRecorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, x := range r.log {
		fmt.Fprintf(&b, "  %s %s [Authorization: %s; Content-Type: %q] %s -> %d\n", x.method, x.uri, x.auth, x.contentType, x.body, x.status)
	}
	return b.String()
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

// sdkRun is what api/testdata/sdk/scheduler.mjs prints.
type sdkRun struct {
	SDKVersion string `json:"sdkVersion"`
	Steps      []struct {
		Name       string `json:"name"`
		OK         bool   `json:"ok"`
		Error      string `json:"error"`
		ErrorClass string `json:"errorClass"`
		StatusCode int    `json:"statusCode"`
		Type       string `json:"type"`
	} `json:"steps"`
	ConfigurationID        string `json:"configurationId"`
	ConfirmConfigurationID string `json:"confirmConfigurationId"`
	PrivateConfigurationID string `json:"privateConfigurationId"`
	Created                struct {
		Slug                *string  `json:"slug"`
		RequiresSessionAuth *bool    `json:"requiresSessionAuth"`
		DurationMinutes     int      `json:"durationMinutes"`
		ConfGrantID         string   `json:"confGrantId"`
		CalendarIDs         []string `json:"calendarIds"`
	} `json:"created"`
	ListedIDs        []string       `json:"listedIds"`
	FoundSlug        string         `json:"foundSlug"`
	UpdatedTitle     string         `json:"updatedTitle"`
	SessionID        string         `json:"sessionId"`
	SessionSlots     []sdkSlot      `json:"sessionSlots"`
	EndedSessionErr  *sdkError      `json:"endedSessionError"`
	SlotsBefore      []sdkSlot      `json:"slotsBefore"`
	SlotsAfterBook   []sdkSlot      `json:"slotsAfterBooking"`
	SlotsAfterMoves  []sdkSlot      `json:"slotsAfterMoves"`
	Booking          sdkBooking     `json:"-"`
	BookingRaw       map[string]any `json:"booking"`
	JoinURLBooked    string         `json:"joinUrlBooked"`
	Taken            *sdkError      `json:"taken"`
	FoundBooking     sdkBooking     `json:"foundBooking"`
	CancelledBooking sdkBooking     `json:"cancelledBooking"`
	CancelledStatus  string         `json:"cancelledStatus"`
	RescheduledTo    int64          `json:"rescheduledTo"`
	Rescheduled      sdkBooking     `json:"rescheduled"`
	JoinURLMoved     string         `json:"joinUrlRescheduled"`
	EventStartMoved  int64          `json:"eventStartRescheduled"`
	Pending          sdkBooking     `json:"pending"`
	Confirmed        sdkBooking     `json:"confirmed"`
}

type sdkSlot struct {
	StartTime int64    `json:"startTime"`
	EndTime   int64    `json:"endTime"`
	Emails    []string `json:"emails"`
}

type sdkError struct {
	ErrorClass string `json:"errorClass"`
	StatusCode int    `json:"statusCode"`
	Type       string `json:"type"`
	Message    string `json:"message"`
}

type sdkBooking struct {
	BookingID  string `json:"bookingId"`
	EventID    string `json:"eventId"`
	Status     string `json:"status"`
	Title      string `json:"title"`
	BookingRef string `json:"bookingRef"`
	Organizer  struct {
		Email string `json:"email"`
	} `json:"organizer"`
}

func slotStarts(s []sdkSlot) []int64 {
	out := make([]int64, len(s))
	for i, x := range s {
		out[i] = x.StartTime
	}
	return out
}

// TestNodeSDKScheduler runs the official Nylas Node SDK (8.4.0, from npm)
// against confhub: configurations, sessions, availability and bookings
// through nylas.scheduler, unchanged, and checks at the Zoom simulator
// that bookings made, moved and removed their meetings.
func TestNodeSDKScheduler(t *testing.T) {
	sdk, node := nodeSDK(t)
	e := newEnv(t)
	cs := e.calendarSetup("pro")
	cal := e.primaryCalendar(cs.key, cs.cal)
	start := e.slotStart()
	rec, apiURI := e.sdkProxy(cs.key)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "sdk", "scheduler.mjs"))
	cmd.Env = append(os.Environ(), "NYLAS_SDK_DIR="+sdk, "API_URI="+apiURI, "API_KEY="+cs.key, "CAL_GRANT="+cs.cal,
		"CALENDAR_ID="+cal, "CONF_GRANT="+cs.confGrant, fmt.Sprintf("SLOT_START=%d", start.Unix()))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node scheduler.mjs: %v\nstderr: %s\nrequests the SDK sent:\n%s", err, stderr.String(), rec)
	}
	var out sdkRun
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("scheduler.mjs printed no JSON summary: %v\n%s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	if b, err := json.Marshal(out.BookingRaw); err == nil {
		_ = json.Unmarshal(b, &out.Booking)
	}
	bad := false
	fail := func(format string, args ...any) {
		t.Helper()
		bad = true
		t.Errorf(format, args...)
	}
	for _, s := range out.Steps {
		if !s.OK {
			fail("SDK call %s failed: %s (%s, status %d, type %q)", s.Name, s.Error, s.ErrorClass, s.StatusCode, s.Type)
		}
	}
	defer func() {
		if t.Failed() {
			t.Logf("SDK summary: %s\nrequests the SDK sent:\n%s", stdout.String(), rec)
		}
	}()
	if out.SDKVersion != "8.4.0" {
		fail("SDK version %q, want 8.4.0", out.SDKVersion)
	}

	// Configurations: created as sent (camelCase in, camelCase out), listed,
	// found, updated; the destroyed one is gone.
	if out.Created.ConfGrantID != cs.confGrant || !slices.Equal(out.Created.CalendarIDs, []string{cal}) ||
		out.Created.DurationMinutes != 30 || out.Created.RequiresSessionAuth == nil || *out.Created.RequiresSessionAuth {
		fail("configuration as the SDK read it back: %+v", out.Created)
	}
	listed := slices.Sorted(slices.Values(out.ListedIDs))
	want := slices.Sorted(slices.Values([]string{out.ConfigurationID, out.ConfirmConfigurationID, out.PrivateConfigurationID}))
	if !slices.Equal(listed, want) {
		fail("configurations.list: %v, want %v", listed, want)
	}
	if out.FoundSlug != "sdk-private" || out.UpdatedTitle != "Private, renamed" {
		fail("find/update: slug %q, title %q", out.FoundSlug, out.UpdatedTitle)
	}
	if out.PrivateConfigurationID != "" {
		e.expect(e.do("GET", "/v3/grants/"+cs.cal+"/scheduling/configurations/"+out.PrivateConfigurationID, cs.key, nil), 404, "destroyed configuration")
	}

	// Sessions: the private configuration answered to its session until it ended.
	slot := start.Unix()
	const half = int64(30 * 60)
	if got := slotStarts(out.SessionSlots); !slices.Equal(got, []int64{slot, slot + half}) {
		fail("availability with the session: %v", got)
	}
	if x := out.EndedSessionErr; x == nil || x.ErrorClass != "NylasApiError" || x.StatusCode != 401 {
		fail("an ended session must be refused with 401 the SDK understands: %+v", x)
	}

	// Availability follows the bookings.
	if got := slotStarts(out.SlotsBefore); !slices.Equal(got, []int64{slot, slot + half}) {
		fail("availability before booking: %v", got)
	}
	if got := slotStarts(out.SlotsAfterBook); !slices.Equal(got, []int64{slot + half}) {
		fail("availability after booking: %v", got)
	}
	if got := slotStarts(out.SlotsAfterMoves); !slices.Equal(got, []int64{slot, slot + half}) {
		fail("availability after cancel and reschedule: %v", got)
	}

	// Bookings.
	b := out.Booking
	if b.Status != "booked" || b.Title != "SDK call" || b.Organizer.Email != "organizer@example.com" || b.BookingID == "" || b.EventID == "" {
		fail("bookings.create: %+v", out.BookingRaw)
	}
	if x := out.Taken; x == nil || x.ErrorClass != "NylasApiError" || x.StatusCode != 409 || !strings.Contains(x.Message, "The selected timeslot is unavailable") {
		fail("a taken slot must be a 409 the SDK understands: %+v", x)
	}
	if out.FoundBooking.BookingID != b.BookingID || out.FoundBooking.EventID != b.EventID || out.FoundBooking.Status != "booked" {
		fail("bookings.find: %+v", out.FoundBooking)
	}
	if out.CancelledStatus != "cancelled" {
		fail("cancelled booking's status: %q", out.CancelledStatus)
	}
	if out.Rescheduled.Status != "booked" || out.Rescheduled.EventID != b.EventID {
		fail("bookings.reschedule: %+v", out.Rescheduled)
	}
	if out.JoinURLBooked == "" || out.JoinURLMoved != out.JoinURLBooked || out.EventStartMoved != out.RescheduledTo {
		fail("the event after reschedule: join URL %q (was %q), start %d (want %d)", out.JoinURLMoved, out.JoinURLBooked, out.EventStartMoved, out.RescheduledTo)
	}
	if out.Pending.Status != "pending" || out.Confirmed.Status != "booked" || out.Confirmed.EventID == "" {
		fail("organizer confirmation: pending %+v, confirmed %+v", out.Pending, out.Confirmed)
	}
	// Contract differences are reported at the server and do not stop the
	// checks below; a wrong SDK answer does (the ids they need are missing).
	if bad {
		t.FailNow()
	}

	// At confhub and Zoom: the rescheduled booking's event and meeting moved
	// (same join URL), the cancelled one's are gone, the confirmed one's made.
	ev := e.do("GET", "/v3/grants/"+cs.cal+"/events/"+b.EventID, cs.key, nil)
	e.expect(ev, 200, "the rescheduled booking's event")
	if when, _ := ev.data()["when"].(map[string]any); when["start_time"] != float64(out.RescheduledTo) {
		t.Errorf("event not moved: %s", ev.Raw)
	}
	e.expect(e.do("GET", "/v3/grants/"+cs.cal+"/events/"+out.CancelledBooking.EventID, cs.key, nil), 404, "the cancelled booking's event")
	e.expect(e.do("GET", "/v3/grants/"+cs.cal+"/events/"+out.Confirmed.EventID, cs.key, nil), 200, "the confirmed booking's event")
	waitFor(t, "the cancelled booking's meeting deleted", func() bool { return len(e.meetings()) == 2 })
	var moved map[string]any
	for _, m := range e.meetings() {
		if m["join_url"] == out.JoinURLBooked {
			moved = m
		}
	}
	if moved == nil || moved["start_time"] != time.Unix(out.RescheduledTo, 0).UTC().Format("2006-01-02T15:04:05Z") || moved["topic"] != "SDK call" {
		t.Errorf("the rescheduled booking's meeting: %v (all: %v)", moved, e.meetings())
	}
	if n := e.zoomCalls("create_meeting"); n != 3 {
		t.Errorf("%d meeting creates at Zoom, want 3 (two bookings and the confirmed one)", n)
	}
}
