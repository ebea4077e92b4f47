package zoom_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"testing"

	"github.com/confhub/confhub/connectors/zoom"
	"github.com/confhub/confhub/connectors/zoom/zoomsim"
)

// A simulator restarted from a snapshot still knows the app, the user, the
// grant's tokens (the refresh token still rotates once) and the meetings.
func TestSimulatorSnapshotSurvivesRestart(t *testing.T) {
	f := newFixture(t, zoomsim.Options{}, allScopes, "pro")
	ctx := context.Background()
	tok := f.connect()
	m, err := f.client.CreateMeeting(ctx, tok.AccessToken, "me", zoom.MeetingRequest{Topic: "kept", Type: 2, StartTime: "2026-12-01T10:00:00Z", Duration: 30})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := f.sim.Save(&buf); err != nil {
		t.Fatal(err)
	}

	again := zoomsim.New(zoomsim.Options{Now: f.clock.Now})
	if err := again.Load(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(again)
	defer srv.Close()
	c := zoom.New(zoom.Config{OAuthURL: srv.URL, APIURL: srv.URL + "/v2", Now: f.clock.Now})
	got, err := c.GetMeeting(ctx, tok.AccessToken, m.ID)
	// The join URL names the simulator's host, which differs here.
	if err != nil || got.ID != m.ID || got.Topic != "kept" || got.Password != m.Password || got.UUID != m.UUID {
		t.Fatalf("meeting after restart: %d %q %q %v", got.ID, got.Topic, got.Password, err)
	}
	next, err := c.Refresh(ctx, f.app, tok.RefreshToken)
	if err != nil {
		t.Fatalf("refresh after restart: %v", err)
	}
	if _, err := c.Refresh(ctx, f.app, tok.RefreshToken); err == nil {
		t.Fatal("the old refresh token worked twice across a restart")
	}
	if _, err := c.GetMeeting(ctx, next.AccessToken, m.ID); err != nil {
		t.Fatalf("new access token: %v", err)
	}
	if err := again.Load(bytes.NewReader([]byte("{not json"))); err == nil {
		t.Fatal("a broken snapshot loaded")
	}
}
