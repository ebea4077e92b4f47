package grants

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/confhub/confhub/internal/apperr"
)

// FuzzZoomNotice feeds arbitrary webhook requests to the checks that run
// before any connector is looked up: they never panic, refuse with 400 or
// 401 only, and pass on nothing the database could not hold.
func FuzzZoomNotice(f *testing.F) {
	now := time.Now().Truncate(time.Second)
	ts := fmt.Sprint(now.Unix())
	sig := "v0=" + strings.Repeat("ab", 32)
	for _, body := range []string{
		fmt.Sprintf(`{"event":"app_deauthorized","event_ts":%d,"payload":{"account_id":"a","user_id":"u","client_id":"c","deauthorization_time":%q}}`,
			now.UnixMilli(), now.UTC().Format(zoomTimeLayout)),
		`{"event":"app_deauthorized","payload":{"user_id":"u","client_id":"c\u0000"}}`,
		"{\"event\":\"app_deauthorized\",\"payload\":{\"user_id\":\"u\xff\",\"client_id\":\"c\"}}",
		`{"event":"app_deauthorized","payload":{"user_id":"u","client_id":"c","deauthorization_time":"yesterday"}}`,
		`{"event":"endpoint.url_validation","payload":{"plainToken":"p"}}`,
		`{"event":"endpoint.url_validation","payload":{"plainToken":"\u0000"}}`,
		`{"event":"meeting.updated","payload":{"object":{"id":1,"topic":"t"},"old_object":{"id":1,"topic":"s"}}}`,
		`{"event":"meeting.deleted","payload":{"object":"gone"}}`,
		`{"event":"meeting.updated","payload":{"object":{"id":1},"old_object":[1]}}`,
		`{"payload":{"client_id":"c d"}}`, `{"event":1}`, `[`, `null`, "\xff",
	} {
		f.Add(ts, sig, []byte(body))
	}
	f.Add(ts+"\x00", sig, []byte(`{}`))
	f.Add(ts, "v0=\xff", []byte(`{}`))
	f.Add("", "", []byte(`{}`))
	f.Fuzz(func(t *testing.T, timestamp, signature string, body []byte) {
		n, err := parseZoomNotice(now, timestamp, signature, body)
		if err != nil {
			if !apperr.IsKind(err, apperr.Invalid) && !apperr.IsKind(err, apperr.Unauthorized) {
				t.Fatalf("%q %q %q: %v, want a 400 or 401", timestamp, signature, body, err)
			}
			return
		}
		p := n.Payload
		for _, s := range []string{timestamp, signature, n.Event, p.ClientID, p.UserID, p.AccountID, p.PlainToken} {
			if strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) {
				t.Fatalf("%q %q %q: passed %q on", timestamp, signature, body, s)
			}
		}
		if n.Event == "app_deauthorized" && (p.ClientID == "" || p.UserID == "" || n.at.IsZero()) {
			t.Fatalf("%q: a deauthorization without client, user or time passed: %+v", body, n)
		}
		if (n.Event == ZoomMeetingUpdated || n.Event == ZoomMeetingDeleted) && !isObject(p.Object) {
			t.Fatalf("%q: a meeting event without a meeting object passed: %+v", body, n)
		}
	})
}

// zoomTimeLayout is how Zoom writes deauthorization_time (milliseconds, UTC).
const zoomTimeLayout = "2006-01-02T15:04:05.000Z"

// The event's own time decides against the grant's last connection:
// deauthorization_time first, then event_ts, then the request's timestamp.
func TestZoomNoticeTime(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	ts := fmt.Sprint(now.Unix())
	sig := "v0=" + strings.Repeat("0f", 32)
	// Three distinct instants before the request, to the millisecond.
	deauthorized := now.Add(-90*time.Second - 250*time.Millisecond).UTC()
	sent := now.Add(-time.Second + 123*time.Millisecond)
	for body, want := range map[string]time.Time{
		fmt.Sprintf(`{"event":"app_deauthorized","event_ts":%d,"payload":{"user_id":"u","client_id":"c","deauthorization_time":%q}}`,
			sent.UnixMilli(), deauthorized.Format(zoomTimeLayout)): deauthorized,
		fmt.Sprintf(`{"event":"app_deauthorized","event_ts":%d,"payload":{"user_id":"u","client_id":"c"}}`, sent.UnixMilli()): sent,
		`{"event":"app_deauthorized","payload":{"user_id":"u","client_id":"c"}}`:                                              now,
	} {
		n, err := parseZoomNotice(now, ts, sig, []byte(body))
		if err != nil || !n.at.Equal(want) {
			t.Errorf("%s: at %v (%v), want %v", body, n.at, err, want)
		}
	}
	for body, field := range map[string]string{
		`{"event":"app_deauthorized","payload":{"user_id":"u","client_id":"c","deauthorization_time":"soon"}}`: "payload.deauthorization_time",
		`{"event":"app_deauthorized","payload":{"user_id":"u"}}`:                                               "payload.client_id",
		`{"event":"app_deauthorized","payload":{"client_id":"c"}}`:                                             "payload.user_id",
		`{"event":"app_deauthorized","payload":{"user_id":"u","client_id":"a b"}}`:                             "payload.client_id",
		`{"event":"app_deauthorized","payload":{"user_id":"u","client_id":"c\u0000"}}`:                         "payload.client_id",
		`{"event":"meeting.deleted","payload":{"account_id":"a"}}`:                                             "payload.object",
		`{"event":"meeting.updated","payload":{"object":[{"id":1}]}}`:                                          "payload.object",
		`{"event":"meeting.updated","payload":{"object":null}}`:                                                "payload.object",
		`{"event":"meeting.updated","payload":{"object":{"id":1},"old_object":"x"}}`:                           "payload.old_object",
	} {
		_, err := parseZoomNotice(now, ts, sig, []byte(body))
		if e, ok := apperr.As(err); !ok || e.Kind != apperr.Invalid || e.Field != field {
			t.Errorf("%s: %v, want a 400 naming %s", body, err, field)
		}
	}
	for _, c := range [][2]string{{"", sig}, {fmt.Sprint(now.Add(-6 * time.Minute).Unix()), sig}, {ts, "v0=" + strings.Repeat("0F", 32)}, {ts, ""}} {
		if _, err := parseZoomNotice(now, c[0], c[1], []byte(`{}`)); !apperr.IsKind(err, apperr.Unauthorized) {
			t.Errorf("timestamp %q signature %q: %v, want 401", c[0], c[1], err)
		}
	}
}
