package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	enums "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/temporaltest"

	"github.com/confhub/confhub/connectors/zoom/zoomsim"
)

// startWorker runs `confhub serve --role worker` as its own process (this
// test binary running main) and waits for its readiness probe.
func startWorker(t *testing.T, env map[string]string) (addr string, logs *syncBuffer) {
	t.Helper()
	addr = freePorts(t, 1)[0]
	logs = &syncBuffer{}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "CONFHUB_TEST_MAIN=serve\x1f--role\x1fworker", "CONFHUB_HTTP_ADDR="+addr)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("worker at %s exited with %v: %s", addr, err, logs.String())
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("worker at %s did not stop within 30s of Ctrl-C", addr)
		}
	})
	waitUntil(t, "the worker's readiness probe", func() bool {
		select {
		case err := <-done:
			t.Fatalf("worker exited: %v: %s", err, logs.String())
		default:
		}
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return addr, logs
}

// Two worker processes against one Temporal and one PostgreSQL, behind an
// API-only server: the event workflows spread over both, and every event
// gets exactly one meeting.
func TestTwoWorkersShareTheWork(t *testing.T) {
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	env := map[string]string{"TEMPORAL_ADDRESS": ts.GetFrontendHostPort(), "TEMPORAL_NAMESPACE": ts.GetDefaultNamespace(), "TEST_ROLE": "api"}
	s := newZoomStack(t, env, zoomsim.Options{})
	workerEnv := map[string]string{"TEMPORAL_ADDRESS": env["TEMPORAL_ADDRESS"], "TEMPORAL_NAMESPACE": env["TEMPORAL_NAMESPACE"],
		"DATABASE_URL": s.dbURL, "CONFHUB_ENCRYPTION_KEYS": keySpec("k1", 1), "ZOOM_OAUTH_URL": s.simURL, "ZOOM_API_URL": s.simURL + "/v2"}
	w1, _ := startWorker(t, workerEnv)
	w2, _ := startWorker(t, workerEnv)

	const n = 40
	ids := make([]string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ev := s.createEvent(t, fmt.Sprintf("Shared %d", i))
			ids[i], _ = ev["id"].(string)
		}()
	}
	wg.Wait()

	// Who ran each creation: the identity on its workflow task completions.
	tc, err := client.Dial(client.Options{HostPort: env["TEMPORAL_ADDRESS"], Namespace: env["TEMPORAL_NAMESPACE"]})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	ranBy := map[string]int{}
	for _, id := range ids {
		it := tc.GetWorkflowHistory(context.Background(), "create-event-"+id, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			if a := e.GetWorkflowTaskCompletedEventAttributes(); a != nil {
				ranBy[a.GetIdentity()]++
			}
		}
	}
	if len(ranBy) != 2 {
		t.Fatalf("the %d creations ran on %d worker identities, want both workers: %v", n, len(ranBy), ranBy)
	}
	for who, count := range ranBy {
		if count == 0 || strings.Contains(who, fmt.Sprint(os.Getpid())+"@") {
			t.Fatalf("work not from the two worker processes: %v", ranBy)
		}
	}

	t.Logf("workflow tasks completed per worker: %v", ranBy)

	// Nothing duplicated: one create call and one meeting per event.
	meetings := simMeetings(t, s.simURL)
	seen := map[int64]bool{}
	for _, m := range meetings {
		seen[m.ID] = true
	}
	if len(meetings) != n || len(seen) != n || s.sim.Stats().Calls["create_meeting"]["201"] != n {
		t.Fatalf("%d events gave %d meetings (%d distinct) from %d create calls", n, len(meetings), len(seen), s.sim.Stats().Calls["create_meeting"]["201"])
	}
	// The workers serve their probes and metrics like the API does.
	for _, w := range []string{w1, w2} {
		m := scrape(t, "http://"+w)
		if m[`confhub_zoom_calls_total{endpoint="create_meeting",outcome="201"}`] < 1 {
			t.Errorf("worker %s counted no Zoom creates: it did no work", w)
		}
	}
}
