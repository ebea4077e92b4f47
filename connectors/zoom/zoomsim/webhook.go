package zoomsim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Sign computes Zoom's webhook signature: "v0=" + hex(HMAC-SHA256(secret
// token, "v0:" + timestamp + ":" + body)).
func Sign(secretToken, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secretToken))
	fmt.Fprintf(mac, "v0:%s:", timestamp)
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

func hmacHex(key, msg string) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(msg))
	return hex.EncodeToString(mac.Sum(nil))
}

// post sends one signed event; it returns the answer's status and body.
func (s *Sim) post(url, secretToken string, event map[string]any) (int, []byte, error) {
	body, _ := json.Marshal(event)
	ts := strconv.FormatInt(s.opts.Now().Unix(), 10)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second) // Zoom waits 3 s
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Zoom Marketplace/1.0a")
	req.Header.Set("x-zm-request-timestamp", ts)
	req.Header.Set("x-zm-signature", Sign(secretToken, ts, body))
	resp, err := s.opts.WebhookClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, b, nil
}

// ensureWebhookValidated runs Zoom's endpoint.url_validation against the
// app's webhook URL unless it passed already. Zoom delivers events only to
// a validated URL.
func (s *Sim) ensureWebhookValidated(clientID string) bool {
	s.mu.Lock()
	a := s.st.apps[clientID]
	if a == nil || a.WebhookURL == "" {
		s.mu.Unlock()
		return false
	}
	if a.webhookValidated {
		s.mu.Unlock()
		return true
	}
	url, secret := a.WebhookURL, a.SecretToken
	s.mu.Unlock()

	plain := randString("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", 22)
	status, body, err := s.post(url, secret, map[string]any{
		"event": "endpoint.url_validation", "event_ts": s.opts.Now().UnixMilli(),
		"payload": map[string]string{"plainToken": plain},
	})
	var ans struct {
		PlainToken     string `json:"plainToken"`
		EncryptedToken string `json:"encryptedToken"`
	}
	ok := err == nil && status == http.StatusOK && json.Unmarshal(body, &ans) == nil &&
		ans.PlainToken == plain && hmac.Equal([]byte(ans.EncryptedToken), []byte(hmacHex(secret, plain)))
	if !ok {
		s.log.Warn("zoomsim: webhook URL validation failed", "client_id", clientID, "url", url, "status", status, "err", err)
		return false
	}
	s.mu.Lock()
	if cur := s.st.apps[clientID]; cur != nil && cur.WebhookURL == url {
		cur.webhookValidated = true
	}
	s.mu.Unlock()
	return true
}

// deliver posts one event to an app's webhook URL, once that URL passed
// validation, as Zoom does. build makes the event when it is sent, with the
// app's secret token (app_deauthorized signs its payload with it too).
// Delivery is asynchronous, like Zoom's; WaitWebhooks waits for it.
//
// Zoom retries a failed delivery 3 times, after 5, 20 and 60 minutes. The
// simulator does not retry: that would need real timers of an hour, which no
// test can wait for, or ticks of the injected clock, which Options.Now does
// not give. Never retrying is the less friendly side: a client must not need
// Zoom's retries anyway. Failures are logged.
func (s *Sim) deliver(clientID, event string, build func(secret string, now time.Time) map[string]any) {
	s.webhooks.Add(1)
	go func() {
		defer s.webhooks.Done()
		if !s.ensureWebhookValidated(clientID) {
			return
		}
		s.mu.Lock()
		a := s.st.apps[clientID]
		if a == nil {
			s.mu.Unlock()
			return
		}
		url, secret := a.WebhookURL, a.SecretToken
		s.mu.Unlock()
		status, _, err := s.post(url, secret, build(secret, s.opts.Now().UTC()))
		if err != nil || status/100 != 2 {
			s.log.Warn("zoomsim: webhook delivery failed", "event", event, "client_id", clientID, "status", status, "err", err)
		}
	}()
}

// sendDeauthorized tells the app that a user removed it, as Zoom does after a
// revoke or an uninstall.
func (s *Sim) sendDeauthorized(clientID string, u User) {
	s.deliver(clientID, "app_deauthorized", func(secret string, now time.Time) map[string]any {
		payload := map[string]any{
			"account_id": u.AccountID, "user_id": u.ID, "client_id": clientID,
			"deauthorization_time": now.Format("2006-01-02T15:04:05.000Z"), "user_data_retention": "false",
			"signature": hmacHex(secret, u.AccountID+u.ID+clientID),
		}
		return map[string]any{"event": "app_deauthorized", "event_ts": now.UnixMilli(), "payload": payload}
	})
}
