package webhooks

import (
	"testing"
	"time"
)

func TestHealthThresholds(t *testing.T) {
	t0 := time.Now()
	at := func(d time.Duration) time.Time { return t0.Add(d) }

	// Failures for just under 15 minutes: still active, backing off.
	h := health{Status: StatusActive}
	h = h.after(0, 30, at(0))
	if h.Status != StatusActive || h.BadSince == nil || !h.BadSince.Equal(at(0)) || h.RetryAt == nil || !h.RetryAt.Equal(at(time.Second)) {
		t.Fatalf("after the first failures: %+v", h)
	}
	h = h.after(0, 1, at(14*time.Minute))
	if h.Status != StatusActive || h.Step != 2 || !h.RetryAt.Equal(at(14*time.Minute+2*time.Second)) {
		t.Fatalf("14 minutes in: %+v", h)
	}
	// 15 minutes of (at least 95%) failures: failing.
	h = h.after(0, 1, at(15*time.Minute))
	if h.Status != StatusFailing {
		t.Fatalf("15 minutes in: %s, want failing", h.Status)
	}
	// One success among 32 failures does not end the bad period...
	h = h.after(1, 0, at(16*time.Minute))
	if h.Status != StatusFailing || h.BadSince == nil || h.RetryAt != nil {
		t.Fatalf("a lone success: %+v", h)
	}
	// ...72 hours of it make the destination failed.
	h = h.after(0, 1, at(72*time.Hour))
	if h.Status != StatusFailed {
		t.Fatalf("72 hours in: %s, want failed", h.Status)
	}
	// Failed is never undone by delivery (nothing is sent, but even so).
	if h = h.after(100, 0, at(73*time.Hour)); h.Status != StatusFailed {
		t.Fatalf("failed became %s by itself", h.Status)
	}

	// Recovery: a failing destination whose deliveries succeed again is active.
	r := health{Status: StatusActive}.after(0, 19, at(0)).after(0, 1, at(20*time.Minute))
	if r.Status != StatusFailing {
		t.Fatalf("setup: %s", r.Status)
	}
	r = r.after(2, 0, at(21*time.Minute)) // 2 of 22: more than 5%
	if r.Status != StatusActive || r.BadSince != nil || r.Step != 0 || r.RetryAt != nil {
		t.Fatalf("after recovering: %+v", r)
	}

	// More than 5% of deliveries succeeding keeps a destination active
	// however long it has some failures.
	m := health{Status: StatusActive}
	for i := range 100 {
		m = m.after(1, 9, at(time.Duration(i)*time.Minute))
	}
	if m.Status != StatusActive {
		t.Fatalf("10%% delivered for 100 minutes: %s", m.Status)
	}
	// Exactly the threshold: 1 in 20 delivered is 95% failed.
	x := health{Status: StatusActive}
	for i := range 20 {
		x = x.after(1, 19, at(time.Duration(i)*time.Minute))
	}
	if x.Status != StatusFailing {
		t.Fatalf("95%% failed for 19 minutes: %s", x.Status)
	}
}

func TestBackoffGrowsToItsCap(t *testing.T) {
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}
	for i, w := range want {
		if got := backoff(i); got != w {
			t.Errorf("backoff(%d) = %v, want %v", i, got, w)
		}
	}
	for _, step := range []int{10, 11, 50, 1 << 20} {
		if got := backoff(step); got != maxBackoff {
			t.Errorf("backoff(%d) = %v, want the cap %v", step, got, maxBackoff)
		}
	}
}
