package workflows

import (
	"sync"

	"github.com/confhub/confhub/events"
)

// Results hands a create workflow's stored event to a handler waiting in the
// same process. With eager start the workflow's local activities run in the
// process that started it, so the handler can answer as soon as the row is
// written instead of waiting for the workflow's completion to come back
// through the server's history long-poll. Handlers also wait on the
// workflow itself, so split deployments (--role api / worker) work unchanged.
type Results struct {
	mu      sync.Mutex
	waiting map[string]chan events.Event
}

// NewResults returns an empty hub.
func NewResults() *Results { return &Results{waiting: map[string]chan events.Event{}} }

// wait registers interest in a workflow's result; cancel forgets it.
func (r *Results) wait(workflowID string) (<-chan events.Event, func()) {
	if r == nil {
		return nil, func() {}
	}
	ch := make(chan events.Event, 1)
	r.mu.Lock()
	r.waiting[workflowID] = ch
	r.mu.Unlock()
	return ch, func() {
		r.mu.Lock()
		delete(r.waiting, workflowID)
		r.mu.Unlock()
	}
}

// publish delivers a stored event to a waiting handler, if one is here.
func (r *Results) publish(workflowID string, ev events.Event) {
	if r == nil {
		return
	}
	r.mu.Lock()
	ch := r.waiting[workflowID]
	r.mu.Unlock()
	if ch != nil {
		select {
		case ch <- ev:
		default:
		}
	}
}
