package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/confhub/confhub/internal/config"
)

// browserTools are what the browser test runs: node, playwright-core and
// chromium (`make browser`), and the component's bundle (`make web-elements`).
type browserTools struct {
	node, playwright, chromium, bundleDir string
}

// findBrowserTools fails (never skips) when something is missing, naming
// the make target that installs it.
func findBrowserTools(t *testing.T) browserTools {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	version := regexp.MustCompile(`(?m)^PLAYWRIGHT_VERSION := (\S+)$`).FindSubmatch(makefile)
	if version == nil {
		t.Fatal("the Makefile pins no PLAYWRIGHT_VERSION: this test cannot find playwright-core")
	}
	var tb browserTools
	if tb.node, err = exec.LookPath("node"); err != nil {
		t.Fatal("node is missing: run `make browser` (it needs npm, and installs playwright-core and chromium)")
	}
	tb.playwright = filepath.Join(root, ".tools", "playwright-core-"+string(version[1]), "node_modules", "playwright-core")
	if _, err := os.Stat(filepath.Join(tb.playwright, "index.mjs")); err != nil {
		t.Fatalf("playwright-core %s is not installed in %s: run `make browser`", version[1], tb.playwright)
	}
	tb.chromium = "/usr/bin/chromium"
	if _, err := os.Stat(tb.chromium); err != nil {
		t.Fatal("chromium is missing (/usr/bin/chromium): run `make browser` (as root it installs Debian's chromium)")
	}
	tb.bundleDir = filepath.Join(root, config.DefaultWebElementsDir)
	if _, err := os.Stat(filepath.Join(tb.bundleDir, "nylas-scheduling", "nylas-scheduling.es.js")); err != nil {
		t.Fatalf("the @nylas/web-elements bundle is not installed in %s: run `make web-elements`", tb.bundleDir)
	}
	return tb
}

// browserResult is what book.mjs reports.
type browserResult struct {
	Start     int64          `json:"start"`
	Label     string         `json:"label"`
	BookingID string         `json:"booking_id"`
	EventID   string         `json:"event_id"`
	Request   map[string]any `json:"request"`
	Path      string         `json:"path"`
	Status    int            `json:"status"`
}

// browse runs one step of book.mjs against pageURL.
func (tb browserTools) browse(t *testing.T, pageURL, step, avoid string) browserResult {
	t.Helper()
	cmd := exec.Command(tb.node, "testdata/browser/book.mjs")
	cmd.Env = append(os.Environ(), "PLAYWRIGHT_CORE="+tb.playwright, "CHROMIUM="+tb.chromium, "PAGE_URL="+pageURL, "STEP="+step, "AVOID_START="+avoid)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s at %s: %v\n%s%s", step, pageURL, err, out, stderr.String())
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "RESULT "); ok {
			var r browserResult
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("%s: %v: %s", step, err, line)
			}
			return r
		}
	}
	t.Fatalf("%s: book.mjs reported no result:\n%s%s", step, out, stderr.String())
	return browserResult{}
}

// readEnvFile reads demo.env (KEY='value' lines).
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, _ := strings.Cut(l, "=")
		out[k] = strings.ReplaceAll(strings.TrimSuffix(strings.TrimPrefix(v, "'"), "'"), `'\''`, "'")
	}
	return out
}

// apiGet calls the dev API with its key and decodes the answer.
func apiGet(t *testing.T, env map[string]string, path string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, env["CONFHUB_URL"]+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+env["CONFHUB_API_KEY"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("GET %s: %d, not JSON: %s", path, resp.StatusCode, raw)
	}
	return resp.StatusCode, body
}

func zoomTime(unix int64) string { return time.Unix(unix, 0).UTC().Format("2006-01-02T15:04:05Z") }

// The hosted booking page with the real <nylas-scheduling> component, in
// headless Chromium against `confhub dev` (as `make run` starts it): a guest
// books the first offered slot, and the simulator shows one Zoom meeting,
// the one on the booked event; the reschedule page moves it (same join URL,
// new time); the cancel page removes the event and then the meeting. The
// page may reach nothing off this machine (book.mjs blocks and reports it).
func TestBrowserBooking(t *testing.T) {
	tb := findBrowserTools(t)
	dir := t.TempDir()
	// The postgres user passes through to its cluster.
	_ = os.Chmod(filepath.Dir(dir), 0o755)
	_ = os.Chmod(dir, 0o755)
	// dev runs in this package's directory: the bundle is the repository's.
	t.Setenv("CONFHUB_WEB_ELEMENTS_DIR", tb.bundleDir)
	d := startDev(t, dir, freePorts(t, 5))
	defer d.shutdown(t)
	env := readEnvFile(t, filepath.Join(dir, ".confhub", "demo.env"))
	pageURL := env["BOOKING_PAGE_URL"]
	if pageURL == "" || !strings.Contains(d.out.String(), "booking page    "+pageURL+"\n") {
		t.Fatalf("dev printed no booking page (demo.env has %q):\n%s", pageURL, d.out.String())
	}
	events := "/v3/grants/" + env["CALENDAR_GRANT_ID"] + "/events"

	booked := tb.browse(t, pageURL, "book", "")
	if booked.BookingID == "" || booked.EventID == "" {
		t.Fatalf("the booking answered no booking_id or event_id: %+v", booked)
	}
	status, list := apiGet(t, env, events+"?calendar_id=primary")
	var ev map[string]any
	for _, x := range list["data"].([]any) {
		e := x.(map[string]any)
		if md, _ := e["metadata"].(map[string]any); md["booking_id"] == booked.BookingID {
			if ev != nil {
				t.Fatalf("two events carry booking %s: %v", booked.BookingID, list["data"])
			}
			ev = e
		}
	}
	if status != http.StatusOK || ev == nil || ev["id"] != booked.EventID {
		t.Fatalf("no event for booking %s (event %s) on the calendar: %d %v", booked.BookingID, booked.EventID, status, list)
	}
	when, _ := ev["when"].(map[string]any)
	if int64(when["start_time"].(float64)) != booked.Start {
		t.Fatalf("the event starts at %v, the guest picked %d", when["start_time"], booked.Start)
	}
	if !strings.Contains(fmt.Sprint(ev["participants"]), "grace@example.com") {
		t.Errorf("the guest is not a participant of the event: %v", ev["participants"])
	}
	conf, _ := ev["conferencing"].(map[string]any)
	details, _ := conf["details"].(map[string]any)
	joinURL, _ := details["url"].(string)
	ms := simMeetings(t, d.simURL)
	if len(ms) != 1 || joinURL == "" || ms[0].JoinURL != joinURL || ms[0].StartTime != zoomTime(booked.Start) {
		t.Fatalf("the simulator has %+v, want one meeting at %s joined by the event's %q", ms, zoomTime(booked.Start), joinURL)
	}
	md, _ := ev["metadata"].(map[string]any)
	ref, _ := md["booking_ref"].(string)
	if ref == "" {
		t.Fatalf("the event's metadata has no booking_ref: %v", md)
	}

	moved := tb.browse(t, env["CONFHUB_URL"]+"/scheduler/reschedule/"+ref, "reschedule", strconv.FormatInt(booked.Start, 10))
	if moved.Start == booked.Start {
		t.Fatalf("the reschedule kept the slot %d", moved.Start)
	}
	waitUntil(t, "the meeting to move with the booking", func() bool {
		ms := simMeetings(t, d.simURL)
		return len(ms) == 1 && ms[0].JoinURL == joinURL && ms[0].StartTime == zoomTime(moved.Start)
	})
	_, got := apiGet(t, env, events+"/"+booked.EventID)
	if w, _ := got["data"].(map[string]any)["when"].(map[string]any); w == nil || int64(w["start_time"].(float64)) != moved.Start {
		t.Fatalf("after the reschedule the event is %v, want it at %d", got, moved.Start)
	}

	cancelled := tb.browse(t, env["CONFHUB_URL"]+"/scheduler/cancel/"+ref, "cancel", "")
	if !strings.HasPrefix(cancelled.Path, "/v3/scheduling/bookings/"+booked.BookingID) {
		t.Fatalf("the cancel page cancelled %s, not booking %s", cancelled.Path, booked.BookingID)
	}
	waitUntil(t, "the event to be deleted", func() bool {
		status, _ := apiGet(t, env, events+"/"+booked.EventID)
		return status == http.StatusNotFound
	})
	waitUntil(t, "the meeting to be deleted", func() bool { return len(simMeetings(t, d.simURL)) == 0 })
}
