package workflows

import (
	"sync"

	"github.com/confhub/confhub/events"
)

// Handoff passes a create workflow's stored event straight to the API
// handler waiting for it, when both run in the same process.
//
// Why: with eager start, the workflow's local activities run in the process
// that started it; its completion still reaches the handler only through the
// Temporal server's history long-poll (~4 ms here). The create workflow does
// nothing after writing the row, so the row is its result: the handler can
// answer the moment InsertEvent succeeds. The handler also waits on the
// workflow itself, whichever answers first, so split deployments (--role api
// / worker, where nothing is ever delivered) work unchanged.
//
// It is one-shot per workflow id: Expect before starting the workflow,
// Deliver from InsertEvent, and the cancel func forgets the id. A nil
// *Handoff is valid and never delivers.
type Handoff struct {
	mu      sync.Mutex
	waiting map[string]chan events.Event
}

// NewHandoff returns an empty handoff.
func NewHandoff() *Handoff { return &Handoff{waiting: map[string]chan events.Event{}} }

// Expect registers interest in a workflow's event; cancel forgets it.
func (h *Handoff) Expect(workflowID string) (ev <-chan events.Event, cancel func()) {
	if h == nil {
		return nil, func() {}
	}
	ch := make(chan events.Event, 1)
	h.mu.Lock()
	h.waiting[workflowID] = ch
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		if h.waiting[workflowID] == ch {
			delete(h.waiting, workflowID)
		}
		h.mu.Unlock()
	}
}

// Deliver hands a stored event to the handler expecting it, if one is here;
// it never blocks, and delivers at most once per Expect.
func (h *Handoff) Deliver(workflowID string, ev events.Event) {
	if h == nil {
		return
	}
	h.mu.Lock()
	ch := h.waiting[workflowID]
	delete(h.waiting, workflowID)
	h.mu.Unlock()
	if ch != nil {
		ch <- ev // buffered, and this is its only send
	}
}
