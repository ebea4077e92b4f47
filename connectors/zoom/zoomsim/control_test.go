package zoomsim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func call(t *testing.T, srv *httptest.Server, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

func TestControlAPIShapes(t *testing.T) {
	sim := New(Options{})
	srv := httptest.NewServer(sim)
	defer srv.Close()

	status, out := call(t, srv, "POST", "/_sim/apps", `{"client_id":"c1","client_secret":"s1","redirect_uris":["https://a.example/cb"],"scopes":["meeting:write:meeting"],"webhook_url":"","secret_token":""}`)
	if status != 201 || out["client_id"] != "c1" {
		t.Fatalf("POST /_sim/apps: %d %v", status, out)
	}
	if status, _ := call(t, srv, "POST", "/_sim/apps", `{"client_id":"c2"}`); status != 400 {
		t.Fatalf("app without secret: %d", status)
	}
	status, out = call(t, srv, "POST", "/_sim/users", `{"email":"Bob@Example.com","plan":"business"}`)
	if status != 201 || len(out) != 4 || out["id"] == "" || out["email"] != "bob@example.com" || out["account_id"] == "" || out["role"] != "owner" {
		t.Fatalf("POST /_sim/users: %d %v", status, out)
	}
	for _, bad := range []string{`{"email":"x@y.z","plan":"gold"}`, `{"email":"nope"}`, `{"email":"bob@example.com"}`, `{"email":"a@b.c","colour":1}`} {
		if status, _ := call(t, srv, "POST", "/_sim/users", bad); status != 400 {
			t.Errorf("POST /_sim/users %s: %d, want 400", bad, status)
		}
	}
	status, out = call(t, srv, "GET", "/_sim/meetings", "")
	if status != 200 || out["meetings"] == nil {
		t.Fatalf("GET /_sim/meetings: %d %v", status, out)
	}
	status, out = call(t, srv, "GET", "/_sim/stats", "")
	if status != 200 || out["calls"] == nil || out["refreshes"] == nil || out["account_tokens"] == nil {
		t.Fatalf("GET /_sim/stats: %d %v", status, out)
	}
	for _, bad := range []string{`{"ops":{"create_meeting":{"error_rate":2}}}`, `{"ops":{"nope":{}}}`, `{"latency_ms":-1}`,
		`{"ops":{"token":{"error_rate":1,"error_status":200}}}`} {
		if status, _ := call(t, srv, "PUT", "/_sim/faults", bad); status != 400 {
			t.Errorf("PUT /_sim/faults %s: %d, want 400", bad, status)
		}
	}
	if status, _ := call(t, srv, "PUT", "/_sim/faults", `{"latency_ms":1,"ops":{"create_meeting":{"error_rate":0.5,"error_status":500,"drop_rate":0.25}}}`); status != 200 {
		t.Fatalf("PUT /_sim/faults: %d", status)
	}
	if status, _ := call(t, srv, "POST", "/_sim/users/nobody/deauthorize", `{"client_id":"c1"}`); status != 404 {
		t.Fatalf("deauthorize unknown user: %d", status)
	}
}

func TestResetKeepsPreloadedAppsAndUsers(t *testing.T) {
	sim := New(Options{})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	pre, err := sim.Preload([]AppSpec{{ClientID: "pre", ClientSecret: "s", RedirectURIs: []string{"https://a/cb"}}},
		[]UserSpec{{Email: "pre@example.com", Plan: "pro"}})
	if err != nil {
		t.Fatal(err)
	}
	call(t, srv, "POST", "/_sim/users", `{"email":"later@example.com"}`)
	_ = sim.SetFaults(Faults{LatencyMS: 5})
	call(t, srv, "GET", "/oauth/authorize?response_type=code&client_id=pre&redirect_uri=https://a/cb", "")
	if status, _ := call(t, srv, "POST", "/_sim/reset", ""); status != 200 {
		t.Fatal("reset")
	}
	sim.mu.Lock()
	defer sim.mu.Unlock()
	if len(sim.st.users) != 1 || sim.st.users[pre[0].ID] == nil || sim.st.apps["pre"] == nil || sim.st.faults.LatencyMS != 0 || len(sim.st.calls) != 0 {
		t.Fatalf("after reset: users %v apps %v faults %+v calls %v", sim.st.users, sim.st.apps, sim.st.faults, sim.st.calls)
	}
}

func TestUnknownPathsAnswerLikeZoom(t *testing.T) {
	srv := httptest.NewServer(New(Options{}))
	defer srv.Close()
	status, out := call(t, srv, "GET", "/v2/webinars/1", "")
	if status != 404 || out["code"] == nil {
		t.Fatalf("unknown path: %d %v", status, out)
	}
}
