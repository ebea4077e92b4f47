package webhooks

import "time"

// The contract's thresholds: a destination is failing once at least 95% of
// its deliveries have failed for 15 minutes (deliveries go on), failed once
// that has lasted 72 hours (deliveries stop; only its owner makes it active
// again).
const (
	FailingAfter = 15 * time.Minute
	FailedAfter  = 72 * time.Hour
	// failShare is the share of failed deliveries that keeps a bad period
	// going: a period ends when more than 5% of its deliveries succeed.
	failShare = 0.95
	// maxBackoff caps the destination-wide pause between attempts while
	// deliveries fail: 1 s, 2 s, 4 s, ... 10 minutes.
	maxBackoff = 10 * time.Minute
	// Expiry is how long an undelivered notification is kept: as long as a
	// destination may fail before it is failed. A paused destination's
	// queue therefore empties within 72 hours too.
	Expiry = FailedAfter
)

// health is a destination's delivery record: its status, its current bad
// period and the pause before the next attempt.
type health struct {
	Status   string
	BadSince *time.Time
	Bad      int64
	Good     int64
	RetryAt  *time.Time
	Step     int
}

// after returns the health once ok deliveries succeeded and failed failed,
// at now.
func (h health) after(ok, failed int, now time.Time) health {
	if failed > 0 {
		at := now.Add(backoff(h.Step))
		h.RetryAt, h.Step = &at, h.Step+1
	} else if ok > 0 {
		h.RetryAt, h.Step = nil, 0
	}
	switch {
	case h.BadSince == nil && failed > 0:
		t := now
		h.BadSince, h.Bad, h.Good = &t, int64(failed), int64(ok)
	case h.BadSince != nil:
		h.Bad += int64(failed)
		h.Good += int64(ok)
	}
	if h.BadSince != nil && float64(h.Good) > (1-failShare)*float64(h.Good+h.Bad) {
		h.BadSince, h.Bad, h.Good = nil, 0, 0
	}
	switch {
	case h.BadSince == nil && h.Status == StatusFailing:
		h.Status = StatusActive
	case h.BadSince != nil && now.Sub(*h.BadSince) >= FailedAfter && (h.Status == StatusActive || h.Status == StatusFailing):
		h.Status = StatusFailed
	case h.BadSince != nil && now.Sub(*h.BadSince) >= FailingAfter && h.Status == StatusActive:
		h.Status = StatusFailing
	}
	return h
}

func backoff(step int) time.Duration {
	if step >= 10 {
		return maxBackoff
	}
	return min(time.Second<<step, maxBackoff)
}
