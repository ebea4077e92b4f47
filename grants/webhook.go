package grants

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"

	"github.com/confhub/confhub/internal/apperr"
	"github.com/confhub/confhub/internal/strictjson"
)

const (
	// webhookTolerance: Zoom documents none; older notices are refused as replays.
	webhookTolerance = 5 * time.Minute
	// receiptMargin keeps a notice's receipt a little past its window, so a
	// replica whose clock runs behind still finds it.
	receiptMargin = time.Minute
	// maxClientIDLength is a connector's client_id limit (connectors/validate.go).
	maxClientIDLength = 512
)

// zoomSignature is the only form Zoom's x-zm-signature takes.
var zoomSignature = regexp.MustCompile(`^v0=[0-9a-f]{64}$`)

// Zoom's meeting events (event subscriptions). grants verifies them, as it
// holds the connectors' secret tokens; the events feature applies them.
const (
	ZoomMeetingUpdated = "meeting.updated"
	ZoomMeetingDeleted = "meeting.deleted"
)

// MeetingNotice is a verified meeting event: which one, the applications
// whose Zoom connector's secret token signed it, and the meeting as Zoom
// describes it (object; for meeting.updated, old_object holds the previous
// values of the fields that changed). grants passes the meeting on unread.
type MeetingNotice struct {
	Event          string
	ApplicationIDs []uuid.UUID
	Object         json.RawMessage
	OldObject      json.RawMessage
}

// URLValidation answers Zoom's endpoint.url_validation.
type URLValidation struct {
	PlainToken     string `json:"plainToken"`
	EncryptedToken string `json:"encryptedToken"`
}

// zoomNotice is a webhook request that passed every check that needs no
// lookup: headers, body and payload are well formed, the timestamp is fresh.
type zoomNotice struct {
	Event   string `json:"event"`
	EventTS int64  `json:"event_ts"` // milliseconds
	Payload struct {
		PlainToken          string          `json:"plainToken"`
		ClientID            string          `json:"client_id"`
		UserID              string          `json:"user_id"`
		AccountID           string          `json:"account_id"`
		DeauthorizationTime string          `json:"deauthorization_time"`
		Object              json.RawMessage `json:"object"`
		OldObject           json.RawMessage `json:"old_object"`
	} `json:"payload"`
	sentAt time.Time // x-zm-request-timestamp
	// at is when the event happened: payload.deauthorization_time, else
	// event_ts, else the request's timestamp.
	at time.Time
}

// parseZoomNotice checks a webhook request before anything is looked up for
// it. Bad or stale signing headers are Unauthorized (as a wrong signature
// is); a bad body is Invalid, naming the field.
func parseZoomNotice(now time.Time, timestamp, signature string, body []byte) (zoomNotice, error) {
	var n zoomNotice
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return n, apperr.Unauthorizedf("x-zm-request-timestamp is missing or not a number")
	}
	n.sentAt = time.Unix(ts, 0)
	if d := now.Sub(n.sentAt); d > webhookTolerance || d < -webhookTolerance {
		return n, apperr.Unauthorizedf("x-zm-request-timestamp is more than 5 minutes away from now")
	}
	if !zoomSignature.MatchString(signature) {
		return n, apperr.Unauthorizedf("x-zm-signature is missing or not v0= and 64 hex digits")
	}
	if err := strictjson.CheckText(body, ""); err != nil {
		return n, err
	}
	// Not strict: Zoom adds fields to its events.
	if err := json.Unmarshal(body, &n); err != nil {
		return n, apperr.Invalidf("the body is not a JSON Zoom event")
	}
	p := &n.Payload
	if p.ClientID != "" && (len(p.ClientID) > maxClientIDLength || strings.IndexFunc(p.ClientID, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar
	}) >= 0) {
		return n, apperr.InvalidField("payload.client_id", "must be a Zoom client id: at most %d characters, no spaces or control characters", maxClientIDLength)
	}
	switch n.Event {
	case "endpoint.url_validation":
		if p.PlainToken == "" {
			return n, apperr.InvalidField("payload.plainToken", "is required")
		}
	case "app_deauthorized":
		// Without the app's id every connector's token would be tried.
		if p.ClientID == "" {
			return n, apperr.InvalidField("payload.client_id", "is required")
		}
		if p.UserID == "" {
			return n, apperr.InvalidField("payload.user_id", "is required")
		}
		switch {
		case p.DeauthorizationTime != "":
			at, err := time.Parse(time.RFC3339Nano, p.DeauthorizationTime)
			if err != nil {
				return n, apperr.InvalidField("payload.deauthorization_time", "must be a time such as 2019-06-17T13:52:28.632Z")
			}
			n.at = at
		case n.EventTS > 0:
			n.at = time.UnixMilli(n.EventTS)
		default:
			n.at = n.sentAt
		}
	case ZoomMeetingUpdated, ZoomMeetingDeleted:
		if !isObject(p.Object) {
			return n, apperr.InvalidField("payload.object", "is required: the meeting, a JSON object")
		}
		if len(p.OldObject) > 0 && string(p.OldObject) != "null" && !isObject(p.OldObject) {
			return n, apperr.InvalidField("payload.old_object", "must be a JSON object (the previous values)")
		}
	}
	return n, nil
}

// isObject reports whether raw is a JSON object (raw is valid JSON: it was
// decoded from a valid body).
func isObject(raw json.RawMessage) bool {
	return len(raw) > 0 && raw[0] == '{'
}

// HandleZoomWebhook verifies a notice from Zoom and applies what is
// grants' own. It returns the URL-validation answer for
// endpoint.url_validation, and a meeting event for the events feature to
// apply; otherwise both are nil. A notice that does not verify changes
// nothing and is Unauthorized; one already received (the same signature
// again), or a deauthorization older than the grant's last connection, is
// acknowledged and changes nothing (no meeting event is returned).
func (s *Service) HandleZoomWebhook(ctx context.Context, timestamp, signature string, body []byte) (*URLValidation, *MeetingNotice, error) {
	ev, err := parseZoomNotice(s.now(), timestamp, signature, body)
	if err != nil {
		return nil, nil, err
	}
	// Only the connectors of the Zoom app the notice names can have signed it.
	// URL validation and meeting events name no app: any Zoom connector's
	// token may match.
	secrets, err := s.connectors.ZoomWebhookSecrets(ctx, ev.Payload.ClientID)
	if err != nil {
		return nil, nil, err
	}
	matched := secrets[:0]
	for _, sec := range secrets {
		if hmac.Equal([]byte(sign(sec.SecretToken, timestamp, body)), []byte(signature)) {
			matched = append(matched, sec)
		}
	}
	if len(matched) == 0 {
		return nil, nil, apperr.Unauthorizedf("x-zm-signature does not verify with the secret token of any matching Zoom connector")
	}
	apps := make([]uuid.UUID, 0, len(matched))
	conns := make([]uuid.UUID, 0, len(matched))
	for _, sec := range matched {
		apps = append(apps, sec.ApplicationID)
		conns = append(conns, sec.ConnectorID)
	}
	receipt := sha256.Sum256([]byte(signature))
	expires := ev.sentAt.Add(webhookTolerance + receiptMargin)
	switch ev.Event {
	case "endpoint.url_validation":
		m := hmac.New(sha256.New, []byte(matched[0].SecretToken))
		m.Write([]byte(ev.Payload.PlainToken))
		return &URLValidation{PlainToken: ev.Payload.PlainToken, EncryptedToken: hex.EncodeToString(m.Sum(nil))}, nil, nil
	case "app_deauthorized":
		first, n, err := s.applyZoomDeauthorization(ctx, receipt[:], expires, s.now(),
			conns, apps, ev.Payload.UserID, ev.at, "the user removed the app in Zoom")
		if err != nil {
			return nil, nil, err
		}
		if !first {
			s.log.Info("zoom deauthorization already applied: replay ignored", "application_ids", apps)
			return nil, nil, nil
		}
		// n is 0 when every grant of the user was connected again after the notice's time.
		s.log.Info("zoom deauthorization applied", "application_ids", apps, "grants", n, "deauthorized_at", ev.at)
	case ZoomMeetingUpdated, ZoomMeetingDeleted:
		// A replayed meeting event could put back a change the host has
		// since undone: it is passed on once.
		first, err := s.claimZoomReceipt(ctx, receipt[:], expires, s.now())
		if err != nil {
			return nil, nil, err
		}
		if !first {
			s.log.Info("zoom meeting event already received: replay ignored", "event", ev.Event, "application_ids", apps)
			return nil, nil, nil
		}
		return nil, &MeetingNotice{Event: ev.Event, ApplicationIDs: apps, Object: ev.Payload.Object, OldObject: ev.Payload.OldObject}, nil
	}
	return nil, nil, nil
}

// sign is Zoom's webhook signature: "v0=" + hex(HMAC-SHA256(secret token,
// "v0:" + timestamp + ":" + body)).
func sign(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("v0:" + timestamp + ":"))
	m.Write(body)
	return "v0=" + hex.EncodeToString(m.Sum(nil))
}
