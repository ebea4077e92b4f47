package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// notificationsSurviveKill: events are created through serve-a, and the
// moment the last create is acknowledged both serve processes are killed
// with SIGKILL, while the receiver is slow enough that deliveries are in
// flight. Once they are back, every acknowledged create's event.created
// arrives (at least once), signed. It runs as a step of TestOutages, on
// that test's harness (a harness start is the cost).
func (h *harness) notificationsSurviveKill(t *testing.T) {
	const n = 30
	var (
		mu     sync.Mutex
		got    = map[string]int{} // event id -> deliveries
		bodies [][2]string        // body, signature
	)
	killed := make(chan struct{})
	var killOnce sync.Once
	var held atomic.Int32 // deliveries that reached the receiver before the kill
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			_, _ = io.WriteString(w, r.URL.Query().Get("challenge"))
			return
		}
		body, _ := io.ReadAll(r.Body)
		// Held until the processes are dead: a delivery is in flight, the
		// rest are queued behind it, when the kill lands.
		held.Add(1)
		<-killed
		var env struct {
			Type string `json:"type"`
			Data struct {
				Object struct {
					ID string `json:"id"`
				} `json:"object"`
			} `json:"data"`
		}
		_ = json.Unmarshal(body, &env)
		mu.Lock()
		if env.Type == "event.created" {
			got[env.Data.Object.ID]++
		}
		bodies = append(bodies, [2]string{string(body), r.Header.Get("x-nylas-signature")})
		mu.Unlock()
	}))
	defer func() { killOnce.Do(func() { close(killed) }); rcv.Close() }()

	a := h.serves[0]
	hook, _ := json.Marshal(map[string]any{"trigger_types": []string{"event.created"}, "webhook_url": rcv.URL + "/hooks"})
	res := h.send(a, http.MethodPost, "/v3/webhooks", hook, "")
	var dest struct {
		ID     string `json:"id"`
		Secret string `json:"webhook_secret"`
	}
	if res.err != nil || res.status != http.StatusOK || json.Unmarshal(res.data, &dest) != nil || dest.Secret == "" {
		t.Fatalf("create the destination: %s %s", res.class(), res.excerpt())
	}

	start := time.Now().UTC().Truncate(time.Hour).Add(72 * time.Hour)
	acked := map[string]bool{}
	for i := range n {
		body, _ := json.Marshal(map[string]any{"title": fmt.Sprintf("Told %d", i),
			"when": map[string]any{"start_time": start.Add(time.Duration(i) * time.Hour).Unix(), "end_time": start.Add(time.Duration(i)*time.Hour + 30*time.Minute).Unix()}})
		r := h.send(a, http.MethodPost, "/v3/grants/"+h.cal+"/events?calendar_id=primary", body, "")
		var ev struct{ ID string }
		if r.err != nil || r.status != http.StatusOK || json.Unmarshal(r.data, &ev) != nil {
			t.Fatalf("create %d: %s %s", i, r.class(), r.excerpt())
		}
		acked[ev.ID] = true
	}
	if !eventually(30*time.Second, func() bool { return held.Load() > 0 }) {
		t.Fatal("no delivery reached the receiver: the kill would land on none in flight")
	}
	for _, c := range h.serves {
		c.kill(2 * time.Second)
	}
	killOnce.Do(func() { close(killed) })

	complete := func() bool {
		mu.Lock()
		defer mu.Unlock()
		for id := range acked {
			if got[id] == 0 {
				return false
			}
		}
		return true
	}
	if !eventually(3*time.Minute, complete) {
		mu.Lock()
		t.Fatalf("%d of %d acknowledged creates' event.created arrived after the kill", len(got), n)
	}
	mu.Lock()
	defer mu.Unlock()
	twice := 0
	for _, k := range got {
		if k > 1 {
			twice++
		}
	}
	for _, b := range bodies {
		m := hmac.New(sha256.New, []byte(dest.Secret))
		m.Write([]byte(b[0]))
		if hex.EncodeToString(m.Sum(nil)) != b[1] {
			t.Fatalf("a delivery does not verify: %s", b[0])
		}
	}
	t.Logf("%d creates acknowledged, both processes killed with none of their notifications answered; all %d arrived after (%d more than once)",
		n, n, twice)
}
