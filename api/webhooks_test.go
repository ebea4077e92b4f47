package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/confhub/confhub/connectors/zoom/zoomsim"
)

// webhookTap records what the simulated Zoom sends to our webhook endpoint,
// as someone on the path could, and passes it on.
type webhookTap struct {
	mu  sync.Mutex
	got []tappedNotice
}

type tappedNotice struct {
	header http.Header
	body   []byte
}

func (w *webhookTap) RoundTrip(r *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.got = append(w.got, tappedNotice{header: r.Header.Clone(), body: body})
	w.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(body))
	return http.DefaultTransport.RoundTrip(r)
}

// last returns the last notice of the event.
func (w *webhookTap) last(t *testing.T, event string) tappedNotice {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := len(w.got) - 1; i >= 0; i-- {
		var ev struct{ Event string }
		if json.Unmarshal(w.got[i].body, &ev) == nil && ev.Event == event {
			return w.got[i]
		}
	}
	t.Fatalf("no %s notice was sent", event)
	return tappedNotice{}
}

// tappedEnv is an env whose simulated Zoom is overheard.
func tappedEnv(t *testing.T) (*env, *webhookTap) {
	tap := &webhookTap{}
	e := newEnv(t, func(o *zoomsim.Options) { o.WebhookClient = &http.Client{Transport: tap, Timeout: 3 * time.Second} })
	return e, tap
}

// replay posts a notice again, with the headers it was sent with, or signed
// anew at timestamp ts when ts is not "" (as Zoom signs each retry).
func (e *env) replay(n tappedNotice, secretToken, ts string) int {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+"/v3/connect/zoom/webhook", bytes.NewReader(n.body))
	req.Header = n.header.Clone()
	if ts != "" {
		req.Header.Set("x-zm-request-timestamp", ts)
		req.Header.Set("x-zm-signature", zoomsim.Sign(secretToken, ts, n.body))
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return readResponse(e.t, resp).Status
}

func (e *env) deauthorize(z zoomApp) {
	e.t.Helper()
	resp, err := http.Post(e.simURL+"/_sim/users/"+z.user.ID+"/deauthorize", "application/json", strings.NewReader(`{"client_id":"`+z.clientID+`"}`))
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		e.t.Fatalf("deauthorize at the simulator: %d", resp.StatusCode)
	}
	e.sim.WaitWebhooks()
}

func (e *env) connectByToken(z zoomApp) uuid.UUID {
	e.t.Helper()
	r := e.do("POST", "/v3/connect/custom", z.key, map[string]any{"provider": "zoom", "settings": map[string]any{"refresh_token": e.simRefreshToken(z)}})
	e.expect(r, 201, "connect")
	return uuid.MustParse(r.data()["id"].(string))
}

// A captured, correctly signed deauthorization replayed after the user
// connected again changes nothing: neither the notice itself within its
// 5 minutes, nor Zoom's own later retry of it (signed anew); a deauthorization
// that happens after the reconnection still applies.
func TestReplayedDeauthorizationAfterReconnectChangesNothing(t *testing.T) {
	e, tap := tappedEnv(t)
	z := e.zoomApp(zoomScopes, true)
	id := e.connectByToken(z)
	e.deauthorize(z)
	if s, tokens := e.grantStatus(id); s != "invalid" || tokens {
		t.Fatalf("after deauthorization the grant is %s (tokens kept: %v)", s, tokens)
	}
	notice := tap.last(t, "app_deauthorized")

	e.clock.Advance(time.Second) // the user connects again a moment later
	if again := e.connectByToken(z); again != id {
		t.Fatalf("reconnecting made grant %s, not %s again", again, id)
	}
	if got := e.replay(notice, "", ""); got != http.StatusOK {
		t.Fatalf("replayed notice: %d, want 200 (acknowledged)", got)
	}
	if s, tokens := e.grantStatus(id); s != "valid" || !tokens {
		t.Fatalf("a replayed deauthorization disconnected the reconnected user: grant %s (tokens kept: %v)", s, tokens)
	}
	if _, err := e.grants.Tokens.Get(context.Background(), z.appID, id); err != nil {
		t.Fatalf("the reconnected grant's token: %v", err)
	}

	e.clock.Advance(20 * time.Minute) // Zoom's second retry of the same event
	if got := e.replay(notice, z.secretToken, fmt.Sprint(e.clock.Now().Unix())); got != http.StatusOK {
		t.Fatalf("Zoom's retry: %d, want 200", got)
	}
	if s, tokens := e.grantStatus(id); s != "valid" || !tokens {
		t.Fatalf("a retried old deauthorization disconnected the reconnected user: grant %s (tokens kept: %v)", s, tokens)
	}

	e.clock.Advance(time.Second)
	e.deauthorize(z)
	if s, tokens := e.grantStatus(id); s != "invalid" || tokens {
		t.Fatalf("a deauthorization after the reconnection did not apply: grant %s (tokens kept: %v)", s, tokens)
	}
}

// A notice replayed before any reconnection is acknowledged and has no
// second effect.
func TestReplayedDeauthorizationIsAppliedOnce(t *testing.T) {
	e, tap := tappedEnv(t)
	z := e.zoomApp(zoomScopes, true)
	id := e.connectByToken(z)
	e.deauthorize(z)
	notice := tap.last(t, "app_deauthorized")
	row := func() string {
		var s string
		if err := e.pool.QueryRow(context.Background(), `SELECT grant_status || ' ' || token_version || ' ' || updated_at::text
			FROM grants WHERE id = $1`, id).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := row()
	if !strings.HasPrefix(before, "invalid ") {
		t.Fatalf("after deauthorization: %s", before)
	}
	for range 2 {
		if got := e.replay(notice, "", ""); got != http.StatusOK {
			t.Fatalf("replayed notice: %d, want 200 (acknowledged)", got)
		}
	}
	if after := row(); after != before {
		t.Fatalf("a replayed notice was applied again: %s, then %s", before, after)
	}
}
