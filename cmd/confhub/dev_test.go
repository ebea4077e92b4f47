package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/confhub/confhub/internal/await"
	"github.com/confhub/confhub/internal/pgcluster"
)

// syncBuffer is a bytes.Buffer safe to read while dev writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type devRun struct {
	out, errs *syncBuffer
	cmd       *exec.Cmd
	done      chan error
	simURL    string
}

// startDev runs `confhub dev` as `make run` does, as its own process (this
// test binary running main: see TestMain), in dir, on free ports, and waits
// for its summary.
func startDev(t *testing.T, dir string, ports []string, extra ...string) *devRun {
	t.Helper()
	d := &devRun{out: &syncBuffer{}, errs: &syncBuffer{}, done: make(chan error, 1), simURL: "http://" + ports[3]}
	args := append([]string{"dev", "--data-dir", filepath.Join(dir, ".confhub"), "--temporal-addr", ports[1],
		"--temporal-ui-addr", ports[2], "--zoomsim-addr", ports[3], "--webhook-receiver-addr", ports[4]}, extra...)
	d.cmd = exec.Command(os.Args[0], "-test.run=^$")
	d.cmd.Env = append(os.Environ(), "CONFHUB_TEST_MAIN="+strings.Join(args, "\x1f"), "CONFHUB_HTTP_ADDR="+ports[0], "CONFHUB_LOG_LEVEL=warn")
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.errs
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() { _ = d.cmd.Process.Kill() })
	ready := eventually(2*time.Minute, func() bool {
		select {
		case err := <-d.done:
			t.Fatalf("dev stopped before it was ready: %v\n%s", err, d.errs.String())
		default:
		}
		return strings.Contains(d.out.String(), "Create an event")
	})
	if !ready {
		t.Fatalf("dev did not print its summary in time\nstdout: %s\nstderr: %s", d.out.String(), d.errs.String())
	}
	return d
}

// shutdown is Ctrl-C: everything stops, and dev exits 0.
func (d *devRun) shutdown(t *testing.T) {
	t.Helper()
	_ = d.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-d.done:
		if err != nil {
			t.Fatalf("dev stopped with %v\n%s", err, d.errs.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("dev did not stop within a minute of Ctrl-C")
	}
}

func freePorts(t *testing.T, n int) []string {
	var ps []string
	for range n {
		p, err := pgcluster.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, fmt.Sprintf("127.0.0.1:%d", p))
	}
	return ps
}

// bash runs a command line in dir as a user would paste it.
func bash(t *testing.T, dir, line string) string {
	t.Helper()
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", line)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s\n%v: %s", line, err, out)
	}
	return string(out)
}

type simMeeting struct {
	ID        int64  `json:"id"`
	Topic     string `json:"topic"`
	StartTime string `json:"start_time"`
	Duration  int    `json:"duration"`
	JoinURL   string `json:"join_url"`
}

func simMeetings(t *testing.T, simURL string) []simMeeting {
	t.Helper()
	resp, err := http.Get(simURL + "/_sim/meetings")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Meetings []simMeeting }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Meetings
}

func eventOf(t *testing.T, raw string) map[string]any {
	t.Helper()
	var env struct{ Data map[string]any }
	if err := json.Unmarshal([]byte(strings.TrimSpace(raw)), &env); err != nil || env.Data == nil {
		t.Fatalf("not an event response: %v: %s", err, raw)
	}
	return env.Data
}

// eventually reports whether cond holds within timeout (internal/await).
func eventually(timeout time.Duration, cond func() bool) bool { return await.Until(timeout, cond) }

// waitUntil fails the test unless cond holds within 30 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !eventually(30*time.Second, cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

// The README's promise: `make run`, then the three printed curl commands
// create an event with a Zoom meeting at the simulator, move it (the
// meeting follows) and delete it (the meeting goes too). Then the README's
// own walkthrough, run as written. Then Ctrl-C, a restart that keeps
// everything, and --reset.
func TestDevQuickstart(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	makefile, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	first := regexp.MustCompile("(?s)```sh\n(.*?)```").FindSubmatch(readme)
	if first == nil || !strings.HasPrefix(string(first[1]), "make run") || !strings.Contains(string(first[1]), "\nmake test") {
		t.Fatalf("the README does not start with make run and make test: %q", first)
	}
	if !regexp.MustCompile(`(?m)^run:.*\n(\t.*\n)*\t\./bin/confhub dev\n`).Match(makefile) {
		t.Fatal("make run no longer runs ./bin/confhub dev: this test drives the wrong thing")
	}

	dir := t.TempDir()
	// The postgres user passes through to its cluster.
	_ = os.Chmod(filepath.Dir(dir), 0o755)
	_ = os.Chmod(dir, 0o755)
	ports := freePorts(t, 5)
	d := startDev(t, dir, ports)

	var curls []string
	for _, l := range strings.Split(d.out.String(), "\n") {
		if strings.HasPrefix(l, "curl") {
			curls = append(curls, l)
		}
	}
	if len(curls) != 3 {
		t.Fatalf("dev printed %d curl commands, want 3:\n%s", len(curls), d.out.String())
	}
	created := eventOf(t, bash(t, dir, curls[0]))
	details := created["conferencing"].(map[string]any)["details"].(map[string]any)
	url, _ := details["url"].(string)
	if !strings.HasPrefix(url, d.simURL+"/j/") {
		t.Fatalf("conferencing.details.url %q is not a join URL at the simulator %s", url, d.simURL)
	}
	ms := simMeetings(t, d.simURL)
	if len(ms) != 1 || ms[0].JoinURL != url {
		t.Fatalf("the simulator has %+v, want the event's meeting", ms)
	}
	moved := eventOf(t, bash(t, dir, curls[1]))
	if moved["id"] != created["id"] || moved["title"] != "Demo call (moved)" {
		t.Fatalf("the update answered %v", moved)
	}
	start := time.Unix(int64(moved["when"].(map[string]any)["start_time"].(float64)), 0).UTC().Format("2006-01-02T15:04:05Z")
	if ms := simMeetings(t, d.simURL); len(ms) != 1 || ms[0].StartTime != start || ms[0].Topic != "Demo call (moved)" {
		t.Fatalf("the meeting did not follow the event to %s: %+v", start, ms)
	}
	bash(t, dir, curls[2])
	waitUntil(t, "the meeting to be deleted with its event", func() bool { return len(simMeetings(t, d.simURL)) == 0 })
	// The local receiver printed the three notifications, each verified.
	for _, typ := range []string{"event.created", "event.updated", "event.deleted"} {
		waitUntil(t, "the receiver to print "+typ, func() bool {
			return regexp.MustCompile(`(?m)^webhook  ` + regexp.QuoteMeta(typ) + ` +id=` + regexp.QuoteMeta(created["id"].(string)) + `.*signature verified\)$`).MatchString(d.out.String())
		})
	}
	if strings.Contains(d.out.String(), "DID NOT VERIFY") {
		t.Fatalf("a notification did not verify:\n%s", d.out.String())
	}

	// The README's walkthrough, exactly as written.
	walk := regexp.MustCompile("(?s)<!-- walkthrough -->\\s*```sh\n(.*?)```").FindSubmatch(readme)
	if walk == nil {
		t.Fatal("the README has no walkthrough block (<!-- walkthrough --> then ```sh)")
	}
	out := bash(t, dir, string(walk[1]))
	// It computes its times when it runs: the create's answer (the first
	// thing it prints) says which; the update moves the meeting an hour on.
	var walked struct {
		Data struct {
			When struct {
				StartTime int64 `json:"start_time"`
			} `json:"when"`
		} `json:"data"`
	}
	if err := json.NewDecoder(strings.NewReader(out)).Decode(&walked); err != nil || walked.Data.When.StartTime == 0 {
		t.Fatalf("the walkthrough's first answer is not the created event (%v):\n%s", err, out)
	}
	movedTo := time.Unix(walked.Data.When.StartTime, 0).Add(time.Hour).UTC().Format("2006-01-02T15:04:05Z")
	if !strings.Contains(out, `"url":"`+d.simURL+`/j/`) || !strings.HasSuffix(movedTo, "T10:00:00Z") || !strings.Contains(out, `"start_time":"`+movedTo+`"`) {
		t.Fatalf("the walkthrough did not create a meeting and move it to 10:00 UTC (%s):\n%s", movedTo, out)
	}
	waitUntil(t, "the walkthrough's meeting to be deleted", func() bool { return len(simMeetings(t, d.simURL)) == 0 })

	// An event made before Ctrl-C is still there, and still synced, after a restart.
	kept := eventOf(t, bash(t, dir, curls[0]))
	summary := d.out.String()
	d.shutdown(t)
	d = startDev(t, dir, ports)
	// The curls' times are computed at each start (tomorrow 15:00 UTC): a
	// restart on another UTC day prints other times, never other credentials.
	times := regexp.MustCompile(`"(start|end)_time":\d+`)
	received := regexp.MustCompile(`(?m)^webhook  .*\n`)
	timeless := func(s string) string {
		return received.ReplaceAllString(times.ReplaceAllString(s, `"${1}_time":N`), "")
	}
	if timeless(d.out.String()) != timeless(summary[strings.Index(summary, "\nconfhub dev is running"):]) {
		t.Fatalf("a restart printed other credentials:\nbefore: %s\nafter: %s", summary, d.out.String())
	}
	again := eventOf(t, bash(t, dir, curls[1]))
	if again["id"] != kept["id"] || again["title"] != "Demo call (moved)" {
		t.Fatalf("after a restart the update answered %v", again)
	}
	bash(t, dir, curls[2])
	waitUntil(t, "the meeting to be deleted after a restart", func() bool { return len(simMeetings(t, d.simURL)) == 0 })
	d.shutdown(t)

	d = startDev(t, dir, ports, "--reset")
	defer d.shutdown(t)
	if strings.Contains(d.out.String(), strings.Fields(summary[strings.Index(summary, "API key"):])[2]) {
		t.Fatal("--reset kept the old API key")
	}
}
