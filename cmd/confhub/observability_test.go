package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/confhub/confhub/connectors/zoom"
	"github.com/confhub/confhub/connectors/zoom/zoomsim"
	"github.com/confhub/confhub/internal/pgtest"
	"github.com/confhub/confhub/internal/telemetry"
)

var (
	spansOnce sync.Once
	spans     *tracetest.InMemoryExporter
)

// recordSpans installs, once per test binary, a tracer provider that keeps
// every span in memory.
func recordSpans(t *testing.T) *tracetest.InMemoryExporter {
	spansOnce.Do(func() {
		spans = tracetest.NewInMemoryExporter()
		if _, err := telemetry.Setup(context.Background(), envOf(nil), sdktrace.WithSyncer(spans)); err != nil {
			t.Fatal(err)
		}
	})
	return spans
}

// scrape reads /metrics into "name{labels}" -> value.
func scrape(t *testing.T, base string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad metrics line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// zoomStack is a served confhub with an application, a virtual calendar and
// a Zoom grant at the simulator.
type zoomStack struct {
	base, simURL, dbURL string
	sim                 *zoomsim.Sim
	api                 apiClient
	cal, zoom           string
	logs                *syncBuffer
}

func newZoomStack(t *testing.T, env map[string]string, simOpts zoomsim.Options) *zoomStack {
	t.Helper()
	sim := zoomsim.New(simOpts)
	simSrv := httptest.NewServer(sim)
	t.Cleanup(simSrv.Close)
	_, url := pgtest.New(t)
	e := map[string]string{"DATABASE_URL": url, "CONFHUB_ENCRYPTION_KEYS": keySpec("k1", 1),
		"ZOOM_OAUTH_URL": simSrv.URL, "ZOOM_API_URL": simSrv.URL + "/v2"}
	for k, v := range env {
		e[k] = v
	}
	stdout, _, err := runCmd(t, e, "apps", "create", "--name", "Observed")
	if err != nil {
		t.Fatal(err)
	}
	var app map[string]string
	_ = json.Unmarshal([]byte(stdout), &app)
	base, logs := startServeLogs(t, e)
	s := &zoomStack{base: base, simURL: simSrv.URL, dbURL: url, sim: sim, logs: logs, api: apiClient{base: base, key: app["api_key"], http: http.DefaultClient}}
	zapp, redirect := zoom.App{ClientID: "obs-client", ClientSecret: "obssecret"}, "https://app.example/cb"
	if err := simApp(sim, zapp, redirect); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.AddUser(zoomsim.UserSpec{Email: "host@obs.example", Plan: "pro"}); err != nil {
		t.Fatal(err)
	}
	if err := s.api.registerConnectors(zapp); err != nil {
		t.Fatal(err)
	}
	if s.cal, err = s.api.connectCalendar("room@obs.example"); err != nil {
		t.Fatal(err)
	}
	if s.zoom, err = s.api.connectZoom(context.Background(), simSrv.URL, zapp, redirect, "host@obs.example"); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *zoomStack) createEvent(t *testing.T, title string) map[string]any {
	t.Helper()
	start := time.Now().Add(48 * time.Hour).Unix()
	ev, err := s.api.post("/v3/grants/"+s.cal+"/events?calendar_id=primary", map[string]any{"title": title,
		"when":         map[string]any{"start_time": start, "end_time": start + 1800},
		"conferencing": map[string]any{"provider": "Zoom Meeting", "autocreate": map[string]any{"conf_grant_id": s.zoom}}})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// One event creation is one trace: the handler's span, the workflow's, the
// Zoom call's and the SQL's, under one trace id, in that parentage; the
// request's log line carries the trace id.
func TestEventCreationIsOneTrace(t *testing.T) {
	exp := recordSpans(t)
	s := newZoomStack(t, nil, zoomsim.Options{})
	exp.Reset()
	ev := s.createEvent(t, "Traced")

	var root sdktrace.ReadOnlySpan
	var trace []tracetest.SpanStub
	byID := map[string]tracetest.SpanStub{}
	names := func() []string {
		var n []string
		for _, sp := range trace {
			n = append(n, sp.Name)
		}
		return n
	}
	has := func(name string) bool {
		for _, sp := range trace {
			if sp.Name == name {
				return true
			}
		}
		return false
	}
	// The workflow's span ends after the API answered (the worker hands
	// the event over first): wait for it.
	complete := eventually(15*time.Second, func() bool {
		all := exp.GetSpans()
		for _, sp := range all {
			if sp.Name == "POST /v3/grants/:grant_id/events" {
				root = sp.Snapshot()
			}
		}
		if root == nil {
			return false
		}
		trace = trace[:0]
		for _, sp := range all {
			if sp.SpanContext.TraceID() == root.SpanContext().TraceID() {
				trace = append(trace, sp)
				byID[sp.SpanContext.SpanID().String()] = sp
			}
		}
		return has("RunWorkflow:CreateEvent")
	})
	if !complete {
		t.Fatalf("no complete trace of the creation; spans of the trace: %v", names())
	}
	ancestors := func(sp tracetest.SpanStub) []string {
		var up []string
		for sp.Parent.IsValid() {
			p, ok := byID[sp.Parent.SpanID().String()]
			if !ok {
				t.Fatalf("span %q has a parent outside the trace", sp.Name)
			}
			up = append(up, p.Name)
			sp = p
		}
		return up
	}
	contains := func(list []string, want ...string) bool {
		i := 0
		for _, n := range list {
			if i < len(want) && n == want[i] {
				i++
			}
		}
		return i == len(want)
	}
	var zoomCall, insert bool
	for _, sp := range trace {
		up := ancestors(sp)
		if len(up) > 0 && up[len(up)-1] != root.Name() {
			t.Errorf("span %q does not lead back to the handler: %v", sp.Name, up)
		}
		if sp.Name == "zoom POST /v2/users/me/meetings" {
			zoomCall = contains(up, "RunActivity:CreateMeeting", "RunWorkflow:CreateEvent", "StartWorkflow:CreateEvent", root.Name())
		}
		for _, a := range sp.Attributes {
			if strings.HasPrefix(string(a.Key), "db.") && strings.Contains(a.Value.Emit(), "INSERT INTO events") {
				insert = contains(up, "RunActivity:InsertEvent", "RunWorkflow:CreateEvent", root.Name())
			}
		}
	}
	if !zoomCall || !insert {
		t.Fatalf("want the Zoom create (%v) and the event's INSERT (%v) under the activity, the workflow and the handler; the trace: %v", zoomCall, insert, names())
	}
	var logged bool
	for _, line := range strings.Split(s.logs.String(), "\n") {
		if strings.Contains(line, `"route":"/v3/grants/:grant_id/events"`) && strings.Contains(line, `"method":"POST"`) {
			logged = strings.Contains(line, `"trace_id":"`+root.SpanContext().TraceID().String()+`"`)
		}
	}
	if !logged {
		t.Fatalf("the request's log line does not carry trace id %s", root.SpanContext().TraceID())
	}
	if ev["id"] == nil {
		t.Fatal("no event")
	}
}

// /metrics moves with the work: request latency by route and status, Zoom
// calls by endpoint and outcome, token refreshes, workflow outcomes and
// orphaned meetings.
func TestMetricsMoveWithTheWork(t *testing.T) {
	// Access tokens that expire at once: every use of the grant refreshes.
	s := newZoomStack(t, nil, zoomsim.Options{TokenTTL: time.Second})
	before := scrape(t, s.base)
	ev := s.createEvent(t, "Counted")
	// Zoom refuses to delete the meeting for good: it becomes an orphan.
	if err := s.sim.SetFaults(zoomsim.Faults{Ops: map[string]zoomsim.OpFault{"delete_meeting": {ErrorRate: 1, ErrorStatus: 400}}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.api.do(http.MethodDelete, fmt.Sprintf("/v3/grants/%s/events/%s", s.cal, ev["id"]), nil); err != nil {
		t.Fatal(err)
	}
	delta := func(m map[string]float64, key string) float64 { return m[key] - before[key] }
	var after map[string]float64
	waitUntil(t, "the orphan to be counted", func() bool {
		after = scrape(t, s.base)
		return delta(after, "confhub_orphaned_meetings_total") >= 1
	})
	for key, want := range map[string]float64{
		`confhub_http_request_duration_seconds_count{method="POST",route="/v3/grants/:grant_id/events",status="200"}`:             1,
		`confhub_http_request_duration_seconds_count{method="DELETE",route="/v3/grants/:grant_id/events/:event_id",status="200"}`: 1,
		`confhub_zoom_calls_total{endpoint="create_meeting",outcome="201"}`:                                                       1,
		`confhub_zoom_calls_total{endpoint="delete_meeting",outcome="400"}`:                                                       1,
		`confhub_workflow_outcomes_total{outcome="ok",workflow="create_event"}`:                                                   1,
		`confhub_workflow_outcomes_total{outcome="orphaned",workflow="remove_meeting"}`:                                           1,
		`confhub_orphaned_meetings_total`: 1,
	} {
		if got := delta(after, key); got != want {
			t.Errorf("%s moved by %v, want %v", key, got, want)
		}
	}
	if delta(after, `confhub_zoom_token_refreshes_total{result="ok"}`) < 1 || delta(after, `confhub_zoom_calls_total{endpoint="oauth_token",outcome="200"}`) < 1 {
		t.Errorf("token refreshes not counted: %v refreshes, %v token calls", delta(after, `confhub_zoom_token_refreshes_total{result="ok"}`),
			delta(after, `confhub_zoom_calls_total{endpoint="oauth_token",outcome="200"}`))
	}
}
