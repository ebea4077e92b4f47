package zoom_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/confhub/confhub/connectors/zoom"
	"github.com/confhub/confhub/connectors/zoom/zoomsim"
)

// webhookReceiver plays the app's webhook endpoint: it checks every
// signature, answers URL validation, and records the events.
type webhookReceiver struct {
	t      *testing.T
	url    string
	secret string
	mu     sync.Mutex
	got    []map[string]any
	// wrongValidation makes it fail endpoint.url_validation.
	wrongValidation bool
}

func newWebhookReceiver(t *testing.T, secret string) *webhookReceiver {
	rec := &webhookReceiver{t: t, secret: secret}
	srv := httptest.NewServer(http.HandlerFunc(rec.serve))
	t.Cleanup(srv.Close)
	rec.url = srv.URL + "/zoom/webhook"
	return rec
}

func (rec *webhookReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	ts := r.Header.Get("x-zm-request-timestamp")
	mac := hmac.New(sha256.New, []byte(rec.secret))
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	want := "v0=" + hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(r.Header.Get("x-zm-signature"))) || ts == "" {
		rec.t.Errorf("webhook with a bad signature: %q", r.Header.Get("x-zm-signature"))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var ev map[string]any
	if err := json.Unmarshal(body, &ev); err != nil {
		rec.t.Errorf("webhook body: %v", err)
	}
	rec.mu.Lock()
	rec.got = append(rec.got, ev)
	rec.mu.Unlock()
	if ev["event"] == "endpoint.url_validation" {
		plain := ev["payload"].(map[string]any)["plainToken"].(string)
		m := hmac.New(sha256.New, []byte(rec.secret))
		m.Write([]byte(plain))
		enc := hex.EncodeToString(m.Sum(nil))
		if rec.wrongValidation {
			enc = strings.Repeat("0", 64)
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"plainToken": plain, "encryptedToken": enc})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rec *webhookReceiver) events() []map[string]any {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]map[string]any(nil), rec.got...)
}

func TestSignMatchesZoomsFormula(t *testing.T) {
	// "v0=" + hex(HMAC-SHA256(secret, "v0:" + timestamp + ":" + body))
	mac := hmac.New(sha256.New, []byte("s3cret"))
	mac.Write([]byte(`v0:1700000000:{"a":1}`))
	if got, want := zoomsim.Sign("s3cret", "1700000000", []byte(`{"a":1}`)), "v0="+hex.EncodeToString(mac.Sum(nil)); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestDeauthorizeControlSendsSignedNotice(t *testing.T) {
	rec := newWebhookReceiver(t, "tok-1")
	f := newFixture(t, zoomsim.Options{}, allScopes, "pro")
	_ = f.sim.AddApp(zoomsim.AppSpec{ClientID: f.app.ClientID, ClientSecret: f.app.ClientSecret,
		RedirectURIs: []string{redirectURI}, Scopes: allScopes, WebhookURL: rec.url, SecretToken: "tok-1"})
	f.sim.WaitWebhooks()
	tok := f.connect()

	resp, err := http.Post(f.srv.URL+"/_sim/users/"+f.user.ID+"/deauthorize", "application/json",
		strings.NewReader(`{"client_id":"`+f.app.ClientID+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("deauthorize: %d", resp.StatusCode)
	}
	f.sim.WaitWebhooks()
	ev := rec.events()
	if len(ev) != 2 || ev[1]["event"] != "app_deauthorized" {
		t.Fatalf("events %v", ev)
	}
	if _, err := f.client.Refresh(context.Background(), f.app, tok.RefreshToken); !zoom.IsInvalidGrant(err) {
		t.Fatalf("refresh after deauthorization: %v", err)
	}
}

func TestUnvalidatedWebhookURLGetsNoEvents(t *testing.T) {
	rec := newWebhookReceiver(t, "tok-2")
	rec.wrongValidation = true
	f := newFixture(t, zoomsim.Options{}, allScopes, "pro")
	_ = f.sim.AddApp(zoomsim.AppSpec{ClientID: f.app.ClientID, ClientSecret: f.app.ClientSecret,
		RedirectURIs: []string{redirectURI}, Scopes: allScopes, WebhookURL: rec.url, SecretToken: "tok-2"})
	f.sim.WaitWebhooks()
	tok := f.connect()
	if err := f.client.Revoke(context.Background(), f.app, tok.RefreshToken); err != nil {
		t.Fatal(err)
	}
	f.sim.WaitWebhooks()
	for _, ev := range rec.events() {
		if ev["event"] == "app_deauthorized" {
			t.Fatal("an event went to a URL that failed validation")
		}
	}
}
