package webhooks

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/confhub/confhub/internal/applications"
	"github.com/confhub/confhub/internal/pgtest"
	"github.com/confhub/confhub/internal/vault"
)

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// A destination that keeps failing goes failing after 15 minutes (still
// sent to), failed after 72 hours (its queue dropped, nothing sent), and is
// active again only when its owner says so.
func TestDestinationStatusFollowsDeliveries(t *testing.T) {
	ctx := context.Background()
	pool, _ := pgtest.New(t)
	kr, err := vault.New([]vault.Key{{ID: "k", Secret: bytes.Repeat([]byte{7}, vault.KeySize)}})
	if err != nil {
		t.Fatal(err)
	}
	app, _, err := applications.NewStore(pool).Create(ctx, "hooks")
	if err != nil {
		t.Fatal(err)
	}
	var up atomic.Bool
	var posts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			_, _ = io.WriteString(w, r.URL.Query().Get("challenge"))
			return
		}
		posts.Add(1)
		if !up.Load() {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer srv.Close()
	clk := &testClock{now: time.Now()}
	s := NewStore(pool, kr, nil, clk.Now)
	url, triggers := srv.URL+"/in", []string{EventCreated}
	w, _, err := s.Create(ctx, app.ID, Input{TriggerTypes: &triggers, WebhookURL: &url})
	if err != nil {
		t.Fatal(err)
	}
	record := func() {
		t.Helper()
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return Record(ctx, tx, Notification{ApplicationID: app.ID, Type: EventCreated, Object: map[string]string{"id": uuid.NewString()}})
		})
		if err != nil {
			t.Fatal(err)
		}
		// It happened at the test clock's time, not the database's.
		if _, err := pool.Exec(ctx, `UPDATE webhook_deliveries SET occurred_at = $1 WHERE id = (SELECT max(id) FROM webhook_deliveries)`, clk.Now()); err != nil {
			t.Fatal(err)
		}
	}
	deliver := func() BatchResult {
		t.Helper()
		r, err := s.DeliverBatch(ctx, w.ID, slog.New(slog.DiscardHandler), func() {})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	status := func() string {
		t.Helper()
		got, err := s.Get(ctx, app.ID, w.ID.String())
		if err != nil {
			t.Fatal(err)
		}
		return got.Status
	}
	queued := func() int {
		var n int
		_ = pool.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries WHERE webhook_id = $1`, w.ID).Scan(&n)
		return n
	}

	for range 3 {
		record()
	}
	r := deliver()
	if r.Failed != 1 || r.Delivered != 0 || r.RetryAt.IsZero() || status() != StatusActive {
		t.Fatalf("first attempt: %+v, %s (one knock on a dead receiver, then backoff)", r, status())
	}
	// Within the backoff nothing is sent.
	before := posts.Load()
	if r := deliver(); r.RetryAt.IsZero() || posts.Load() != before {
		t.Fatalf("an attempt inside the backoff: %+v", r)
	}
	// Probes until 15 minutes have passed.
	start := clk.Now()
	for status() == StatusActive {
		if clk.Now().Sub(start) > FailingAfter+maxBackoff {
			t.Fatalf("still active %v after the first failure", clk.Now().Sub(start))
		}
		clk.Advance(time.Minute)
		deliver()
	}
	if d := clk.Now().Sub(start); d < FailingAfter {
		t.Fatalf("failing after %v, before 15 minutes", d)
	}
	if status() != StatusFailing || queued() != 3 {
		t.Fatalf("after 15 minutes of failures: %s with %d queued, want failing with 3", status(), queued())
	}
	// Failing still sends: recovery makes it active and delivers the queue.
	up.Store(true)
	clk.Advance(maxBackoff)
	if r := deliver(); r.Delivered != 3 || status() != StatusActive || queued() != 0 {
		t.Fatalf("after recovering: %+v, %s, %d queued", r, status(), queued())
	}

	// Down for 72 hours: failed, queue dropped, nothing more sent.
	up.Store(false)
	record()
	deliver()
	start = clk.Now()
	for status() != StatusFailed {
		if clk.Now().Sub(start) > FailedAfter+maxBackoff {
			t.Fatalf("not failed %v after the first failure", clk.Now().Sub(start))
		}
		clk.Advance(maxBackoff)
		record() // traffic goes on
		deliver()
	}
	if d := clk.Now().Sub(start); d < FailedAfter {
		t.Fatalf("failed after %v, before 72 hours", d)
	}
	if status() != StatusFailed || queued() != 0 {
		t.Fatalf("after 72 hours of failures: %s with %d queued", status(), queued())
	}
	record() // a failed destination is not queued for
	if queued() != 0 {
		t.Fatal("a notification was queued for a failed destination")
	}
	before = posts.Load()
	clk.Advance(time.Hour)
	if r := deliver(); !r.Stop || posts.Load() != before {
		t.Fatalf("a failed destination was sent to: %+v", r)
	}
	// Only its owner makes it active again.
	up.Store(true)
	active := StatusActive
	if _, err := s.Update(ctx, app.ID, w.ID.String(), Input{Status: &active}); err != nil {
		t.Fatal(err)
	}
	record()
	if r := deliver(); r.Delivered != 1 || status() != StatusActive {
		t.Fatalf("reactivated: %+v, %s", r, status())
	}
}

// Notifications older than 72 hours are dropped, delivered or not: a
// paused destination's queue empties.
func TestUndeliveredNotificationsExpire(t *testing.T) {
	ctx := context.Background()
	pool, _ := pgtest.New(t)
	kr, _ := vault.New([]vault.Key{{ID: "k", Secret: bytes.Repeat([]byte{7}, vault.KeySize)}})
	app, _, err := applications.NewStore(pool).Create(ctx, "hooks")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.URL.Query().Get("challenge"))
	}))
	defer srv.Close()
	clk := &testClock{now: time.Now()}
	s := NewStore(pool, kr, nil, clk.Now)
	url, triggers := srv.URL, []string{GrantDeleted}
	w, _, err := s.Create(ctx, app.ID, Input{TriggerTypes: &triggers, WebhookURL: &url})
	if err != nil {
		t.Fatal(err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return Record(ctx, tx, Notification{ApplicationID: app.ID, Type: GrantDeleted, Object: map[string]string{}})
	})
	if err != nil {
		t.Fatal(err)
	}
	pause := StatusPause
	if _, err := s.Update(ctx, app.ID, w.ID.String(), Input{Status: &pause}); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		var n int
		_ = pool.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries`).Scan(&n)
		return n
	}
	if ids, _ := s.Stalled(ctx, time.Second, 10); len(ids) != 0 || count() != 1 {
		t.Fatalf("a paused destination is woken (%v) or lost its queue (%d)", ids, count())
	}
	clk.Advance(Expiry + time.Minute)
	if _, err := s.Stalled(ctx, time.Second, 10); err != nil {
		t.Fatal(err)
	}
	if count() != 0 {
		t.Fatal("a notification older than 72 hours is still queued")
	}
}
