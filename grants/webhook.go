package grants

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"

	"github.com/confhub/confhub/internal/apperr"
)

// webhookTolerance: Zoom documents none; older notices are refused as replays.
const webhookTolerance = 5 * time.Minute

// URLValidation answers Zoom's endpoint.url_validation.
type URLValidation struct {
	PlainToken     string `json:"plainToken"`
	EncryptedToken string `json:"encryptedToken"`
}

// HandleZoomWebhook verifies and applies a notice from Zoom. It returns the
// URL-validation answer for endpoint.url_validation and nil otherwise. A
// notice that does not verify changes nothing and is Unauthorized.
func (s *Service) HandleZoomWebhook(ctx context.Context, timestamp, signature string, body []byte) (*URLValidation, error) {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return nil, apperr.Unauthorizedf("x-zm-request-timestamp is missing or not a number")
	}
	if d := s.now().Sub(time.Unix(ts, 0)); d > webhookTolerance || d < -webhookTolerance {
		return nil, apperr.Unauthorizedf("x-zm-request-timestamp is more than 5 minutes away from now")
	}
	var ev struct {
		Event   string `json:"event"`
		Payload struct {
			PlainToken string `json:"plainToken"`
			ClientID   string `json:"client_id"`
			UserID     string `json:"user_id"`
			AccountID  string `json:"account_id"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		return nil, apperr.Invalidf("the body is not a JSON Zoom event")
	}
	// Only the connectors of the Zoom app the notice names can have signed it.
	// URL validation names no app: any Zoom connector's token may match.
	secrets, err := s.connectors.ZoomWebhookSecrets(ctx, ev.Payload.ClientID)
	if err != nil {
		return nil, err
	}
	matched := secrets[:0]
	for _, sec := range secrets {
		if hmac.Equal([]byte(sign(sec.SecretToken, timestamp, body)), []byte(signature)) {
			matched = append(matched, sec)
		}
	}
	if len(matched) == 0 {
		return nil, apperr.Unauthorizedf("x-zm-signature does not verify with the secret token of any matching Zoom connector")
	}
	switch ev.Event {
	case "endpoint.url_validation":
		if ev.Payload.PlainToken == "" {
			return nil, apperr.InvalidField("payload.plainToken", "is required")
		}
		m := hmac.New(sha256.New, []byte(matched[0].SecretToken))
		m.Write([]byte(ev.Payload.PlainToken))
		return &URLValidation{PlainToken: ev.Payload.PlainToken, EncryptedToken: hex.EncodeToString(m.Sum(nil))}, nil
	case "app_deauthorized":
		if ev.Payload.UserID == "" {
			return nil, apperr.InvalidField("payload.user_id", "is required")
		}
		for _, sec := range matched {
			n, err := s.invalidateZoomUser(ctx, sec.ApplicationID, ev.Payload.UserID, "the user removed the app in Zoom")
			if err != nil {
				return nil, err
			}
			s.log.Info("zoom deauthorization applied", "application_id", sec.ApplicationID, "grants", n)
		}
	}
	return nil, nil
}

// sign is Zoom's webhook signature: "v0=" + hex(HMAC-SHA256(secret token,
// "v0:" + timestamp + ":" + body)).
func sign(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("v0:" + timestamp + ":"))
	m.Write(body)
	return "v0=" + hex.EncodeToString(m.Sum(nil))
}
