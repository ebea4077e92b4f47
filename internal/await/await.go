// Package await lets tests wait for a condition instead of sleeping for a
// guessed time, which a loaded machine makes too short and an idle one too
// long.
package await

import "time"

// poll is how often a condition is checked.
const poll = 50 * time.Millisecond

// Until reports whether cond holds within timeout. It checks at once, then
// every 50 ms, and a last time at the deadline. cond runs on the caller's
// goroutine, so it may fail the test.
func Until(timeout time.Duration, cond func() bool) bool {
	if cond() {
		return true
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case <-deadline.C:
			return cond()
		case <-tick.C:
			if cond() {
				return true
			}
		}
	}
}
