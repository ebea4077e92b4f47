package zoom_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/confhub/confhub/connectors/zoom"
)

// fakeZoom answers every request with one canned response.
func fakeZoom(t *testing.T, status int, contentType, body string, header map[string]string) *zoom.Client {
	return fakeZoomAt(t, nil, status, contentType, body, header)
}

// fakeZoomAt is fakeZoom with a client whose clock is now (nil: the real one).
func fakeZoomAt(t *testing.T, now func() time.Time, status int, contentType, body string, header map[string]string) *zoom.Client {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return zoom.New(zoom.Config{OAuthURL: srv.URL, APIURL: srv.URL + "/v2", Now: now})
}

func TestNonJSONErrorBodies(t *testing.T) {
	c := fakeZoom(t, 401, "application/xml", `<?xml version="1.0" encoding="UTF-8"?><error><code>124</code><message>Invalid access token.</message></error>`, nil)
	_, err := c.Me(context.Background(), "tok")
	ze := asZoomError(t, err)
	if ze.Code != 124 || ze.Message != "Invalid access token." || ze.Class() != zoom.NeedsRefresh {
		t.Fatalf("XML 401: %+v", ze)
	}

	c = fakeZoom(t, 502, "text/html", "<html><body><h1>502 Bad Gateway</h1></body></html>", nil)
	_, err = c.GetMeeting(context.Background(), "tok", 1)
	ze = asZoomError(t, err)
	if ze.HTTPStatus != 502 || ze.Class() != zoom.Retryable || !strings.Contains(ze.Error(), "502 Bad Gateway") {
		t.Fatalf("HTML 502: %+v / %v", ze, err)
	}

	c = fakeZoom(t, 400, "text/plain", "", nil)
	_, err = c.GetMeeting(context.Background(), "tok", 1)
	if ze := asZoomError(t, err); ze.HTTPStatus != 400 || !strings.Contains(ze.Message, "empty") {
		t.Fatalf("empty 400: %+v", ze)
	}
}

// Older reports say Zoom answered a missing scope with 401: the code wins.
func TestMissingScopeOn401IsNotARefresh(t *testing.T) {
	c := fakeZoom(t, 401, "application/json", `{"code":4711,"message":"Invalid access token, does not contain scopes:[meeting:write]."}`, nil)
	_, err := c.CreateMeeting(context.Background(), "tok", "me", zoom.MeetingRequest{Topic: "x"})
	if zoom.ClassOf(err) != zoom.Terminal {
		t.Fatalf("4711 on a 401 classified %v", zoom.ClassOf(err))
	}
}

func TestDailyLimitReadFromHeadersToo(t *testing.T) {
	// The client's clock: late evening in New York, already the next day in UTC.
	now := time.Date(2026, 11, 22, 21, 30, 0, 0, time.FixedZone("EST", -5*3600))
	nextMidnightUTC := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC) // the daily limit's reset after now
	for _, tc := range []struct {
		name       string
		retryAfter time.Time
		want       time.Time
	}{
		// A future Retry-After is what the client reports. It is a day after
		// the next reset, so that it cannot be mistaken for the fallback.
		{"future Retry-After", nextMidnightUTC.Add(24 * time.Hour), nextMidnightUTC.Add(24 * time.Hour)},
		// A Retry-After already past is ignored: the next 00:00 UTC after now.
		{"past Retry-After", now.Add(-time.Hour), nextMidnightUTC},
	} {
		c := fakeZoomAt(t, func() time.Time { return now }, 429, "application/json", `{"code":429,"message":"Too many requests"}`,
			map[string]string{"X-RateLimit-Type": "Daily-limit", "Retry-After": tc.retryAfter.UTC().Format(http.TimeFormat)})
		_, err := c.CreateMeeting(context.Background(), "tok", "me", zoom.MeetingRequest{Topic: "x"})
		ze := asZoomError(t, err)
		if ze.RateLimit.Kind != zoom.RateLimitDaily || ze.Class() != zoom.Terminal || !ze.RateLimit.ResumeAt.Equal(tc.want) {
			t.Errorf("daily by header, %s (%s): %+v, want ResumeAt %s", tc.name, tc.retryAfter.UTC().Format(http.TimeFormat), ze.RateLimit, tc.want)
		}
	}
}

func TestMeetingIDsBeyondFloat64(t *testing.T) {
	// 2^53 + 1 does not survive a float64.
	c := fakeZoom(t, 200, "application/json", `{"id": 9007199254740993, "topic": "big"}`, nil)
	m, err := c.GetMeeting(context.Background(), "tok", 9007199254740993)
	if err != nil || m.ID != 9007199254740993 {
		t.Fatalf("id = %d, %v", m.ID, err)
	}
}

func TestRevokeNeedsSuccess(t *testing.T) {
	c := fakeZoom(t, 200, "application/json", `{"status":"nope"}`, nil)
	if err := c.Revoke(context.Background(), zoom.App{ClientID: "a", ClientSecret: "b"}, "t"); err == nil {
		t.Fatal("a revoke that did not say success was taken as one")
	}
}
