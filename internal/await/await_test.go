package await

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestUntilReturnsOnceTheConditionHolds(t *testing.T) {
	var calls atomic.Int32
	if !Until(time.Minute, func() bool { return calls.Add(1) >= 3 }) {
		t.Fatal("the condition held, Until said it did not")
	}
	if calls.Load() != 3 {
		t.Fatalf("checked %d times, want 3 (stop as soon as it holds)", calls.Load())
	}
}

func TestUntilGivesUpAtTheDeadline(t *testing.T) {
	start := time.Now()
	if Until(120*time.Millisecond, func() bool { return false }) {
		t.Fatal("a condition that never holds was reported as holding")
	}
	if waited := time.Since(start); waited < 120*time.Millisecond {
		t.Fatalf("gave up after %v, before the deadline", waited)
	}
}
