package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// devReceiver is `make run`'s stand-in for an application's webhook
// endpoint: it answers the challenge and prints each notification it gets,
// one line each, saying whether its signature verified.
type devReceiver struct {
	out io.Writer
	url string

	mu     sync.Mutex
	secret string
}

// startDevReceiver listens on addr until ctx ends.
func startDevReceiver(ctx context.Context, addr string, out io.Writer) (*devReceiver, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	r := &devReceiver{out: out, url: "http://" + l.Addr().String() + "/webhook"}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	return r, nil
}

func (r *devReceiver) setSecret(s string) {
	r.mu.Lock()
	r.secret = s
	r.mu.Unlock()
}

func (r *devReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method == http.MethodGet {
		_, _ = io.WriteString(w, req.URL.Query().Get("challenge"))
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	secret := r.secret
	r.mu.Unlock()
	// The check an application makes: hex HMAC-SHA256 of the raw body,
	// keyed by the destination's secret, compared in constant time.
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	verified := hmac.Equal([]byte(hex.EncodeToString(mac.Sum(nil))), []byte(req.Header.Get("x-nylas-signature")))
	var n struct {
		Type    string `json:"type"`
		ID      string `json:"id"`
		Attempt int    `json:"webhook_delivery_attempt"`
		Data    struct {
			Object map[string]any `json:"object"`
		} `json:"data"`
	}
	_ = json.Unmarshal(body, &n)
	about := ""
	for _, k := range []string{"id", "grant_id", "booking_id", "meeting_id"} {
		if v, ok := n.Data.Object[k]; ok {
			about = fmt.Sprintf(" %s=%v", k, v)
			break
		}
	}
	check := "signature verified"
	if !verified {
		check = "SIGNATURE DID NOT VERIFY"
	}
	fmt.Fprintf(r.out, "webhook  %-22s%s  (notification %s, attempt %d, %s)\n", n.Type, about, n.ID, n.Attempt, check)
}

// devWebhook points the demo application's destination (every trigger) at
// the receiver: it makes it the first time and gives it a new secret on
// every start, so the receiver knows the secret it is signed with.
func (c apiClient) devWebhook(url string, triggers []string) (string, error) {
	var list struct {
		Data []struct {
			ID  string `json:"id"`
			URL string `json:"webhook_url"`
		} `json:"data"`
	}
	if err := c.getJSON("/v3/webhooks", &list); err != nil {
		return "", err
	}
	for _, w := range list.Data {
		if w.URL == url {
			d, _, err := c.do(http.MethodPost, "/v3/webhooks/rotate-secret/"+w.ID, nil)
			if err != nil {
				return "", err
			}
			_, _, err = c.do(http.MethodPut, "/v3/webhooks/"+w.ID, map[string]any{"status": "active", "trigger_types": triggers})
			s, _ := d["webhook_secret"].(string)
			return s, err
		}
	}
	d, err := c.post("/v3/webhooks", map[string]any{"trigger_types": triggers, "webhook_url": url,
		"description": "confhub dev: printed by make run"})
	if err != nil {
		return "", err
	}
	s, _ := d["webhook_secret"].(string)
	return s, nil
}
