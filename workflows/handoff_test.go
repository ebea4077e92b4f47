package workflows

import (
	"testing"

	"github.com/google/uuid"

	"github.com/confhub/confhub/events"
)

func TestHandoffDeliversToTheHandlerExpectingThatWorkflow(t *testing.T) {
	h := NewHandoff()
	mine, cancelMine := h.Expect("create-event-a")
	defer cancelMine()
	other, cancelOther := h.Expect("create-event-b")
	defer cancelOther()
	ev := events.Event{ID: uuid.New(), Title: "a"}
	h.Deliver("create-event-a", ev)
	select {
	case got := <-mine:
		if got.ID != ev.ID {
			t.Fatalf("delivered %v, want %v", got.ID, ev.ID)
		}
	default:
		t.Fatal("nothing delivered to the expecting handler")
	}
	select {
	case got := <-other:
		t.Fatalf("another workflow's handler got %v", got.ID)
	default:
	}
}

func TestHandoffNeverBlocksAndDeliversOnce(t *testing.T) {
	h := NewHandoff()
	h.Deliver("nobody-waits", events.Event{}) // no handler in this process: dropped, no block
	ch, cancel := h.Expect("w")
	defer cancel()
	h.Deliver("w", events.Event{Title: "first"})
	h.Deliver("w", events.Event{Title: "retry"}) // e.g. a retried activity: must not block or replace
	if got := <-ch; got.Title != "first" {
		t.Fatalf("got %q, want the first delivery", got.Title)
	}
	select {
	case got := <-ch:
		t.Fatalf("delivered twice (%q)", got.Title)
	default:
	}
}

func TestHandoffForgetsACancelledHandler(t *testing.T) {
	h := NewHandoff()
	ch, cancel := h.Expect("w")
	cancel() // the handler gave up (timeout, or the workflow answered first)
	h.Deliver("w", events.Event{Title: "late"})
	select {
	case got := <-ch:
		t.Fatalf("a cancelled handler got %q", got.Title)
	default:
	}
	if len(h.waiting) != 0 {
		t.Fatalf("%d handlers still registered", len(h.waiting))
	}
	// A newer handler for the same id is not forgotten by an older cancel.
	_, oldCancel := h.Expect("w")
	newer, newCancel := h.Expect("w")
	defer newCancel()
	oldCancel()
	h.Deliver("w", events.Event{Title: "for the newer"})
	if got := <-newer; got.Title != "for the newer" {
		t.Fatalf("got %q", got.Title)
	}
}

func TestNilHandoffIsSplitDeployment(t *testing.T) {
	var h *Handoff
	ch, cancel := h.Expect("w")
	h.Deliver("w", events.Event{})
	cancel()
	if ch != nil {
		t.Fatal("a nil handoff must never deliver")
	}
}
