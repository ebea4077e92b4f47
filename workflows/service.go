package workflows

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	enums "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/confhub/confhub/events"
	"github.com/confhub/confhub/internal/apperr"
	"github.com/confhub/confhub/internal/telemetry"
)

// EventChecks validate event requests and resolve what they name, before
// any workflow starts (events.Service).
type EventChecks interface {
	PrepareCreate(ctx context.Context, appID uuid.UUID, grantID, calendarID string, in events.EventInput) (events.NewEventPlan, error)
	PrepareUpdate(ctx context.Context, appID uuid.UUID, grantID, eventID string, in events.EventInput) (events.UpdatePlan, error)
	RemoveEvent(ctx context.Context, appID uuid.UUID, grantID, eventID string) (events.Removed, error)
	NoticeEvent(ctx context.Context, appIDs []uuid.UUID, n events.MeetingNotice) (events.Event, bool, error)
}

// IdempotencyKeys map a client's Idempotency-Key to the event it created (events.Store).
type IdempotencyKeys interface {
	ClaimIdempotencyKey(ctx context.Context, appID uuid.UUID, key string, body []byte, eventID uuid.UUID) (uuid.UUID, error)
	LoadEvent(ctx context.Context, appID, grantID, id uuid.UUID) (events.Event, error)
}

// HandedOver removes outbox entries whose work has been started (outbox.Store).
type HandedOver interface {
	Done(ctx context.Context, id int64) error
}

// Service starts the event workflows and waits for their results: what the
// API's event writes call. Everything it checks is checked before a
// workflow starts; the workflows get their own validated inputs.
type Service struct {
	Temporal  client.Client
	TaskQueue string
	Events    EventChecks
	Keys      IdempotencyKeys
	Outbox    HandedOver
	Log       *slog.Logger
	// Handoff is the worker's, when API and worker share this process.
	Handoff *Handoff
	// Connected reports whether Temporal has been reached (nil: assume so);
	// until then no workflow is started, and writes answer 503 at once.
	Connected func() bool
}

func (s *Service) connected() bool { return s.Connected == nil || s.Connected() }

// errNotConnected answers a write while Temporal has not been reached.
var errNotConnected = &apperr.Error{Kind: apperr.Unavailable, Message: "the workflow engine is not reachable yet; retry shortly"}

// workflowTaskTimeout is short so that a workflow whose worker died is picked
// up by another worker quickly (local activities keep a live task alive).
const workflowTaskTimeout = 3 * time.Second

// eventLane is how a workflow that changes an existing event starts under
// the event's update id: one at a time per event (an update, or a Zoom
// notice applied), each start failing while another runs.
func (s *Service) eventLane(id string, timeout time.Duration) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID: id, TaskQueue: s.TaskQueue, EnableEagerStart: true, WorkflowExecutionTimeout: timeout,
		WorkflowTaskTimeout:      workflowTaskTimeout,
		WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		// Without this the SDK hands back the running workflow's run, and
		// this start's write would silently be dropped.
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}
}

// startTimeout bounds starting a workflow: a Temporal that does not take
// the start by then is answered 503, not waited for.
const startTimeout = 10 * time.Second

// start starts a workflow within startTimeout.
func (s *Service) start(ctx context.Context, o client.StartWorkflowOptions, wf any, arg any) (client.WorkflowRun, error) {
	sctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	return s.Temporal.ExecuteWorkflow(sctx, o, wf, arg)
}

// CreateEvent validates and creates an event, with its Zoom meeting when
// asked. With an idempotency key, the same key and body give the same event
// and the same key with another body is a conflict.
func (s *Service) CreateEvent(ctx context.Context, appID uuid.UUID, grantID, calendarID string, in events.EventInput, idemKey string, body []byte) (events.Event, error) {
	plan, err := s.Events.PrepareCreate(ctx, appID, grantID, calendarID, in)
	if err != nil {
		return events.Event{}, err
	}
	if !s.connected() {
		return events.Event{}, errNotConnected
	}
	input := CreateEventInput{V: ContractVersion, Event: RecordOf(plan.Event), ConfGrantID: plan.ConfGrant}
	if idemKey != "" {
		existing, err := s.Keys.ClaimIdempotencyKey(ctx, appID, idemKey, body, input.Event.ID)
		if err != nil {
			return events.Event{}, err
		}
		if existing != uuid.Nil {
			input.Event.ID = existing
			if ev, err := s.Keys.LoadEvent(ctx, appID, plan.Event.GrantID, existing); err == nil {
				return ev, nil // done before
			}
		}
	}
	// A retry under the same Idempotency-Key runs a failed create again
	// (it failed for now: Zoom or the database down), and gets a completed
	// one's result.
	return s.runCreate(ctx, input, enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY, nil)
}

// runCreate starts (or joins) the create workflow of input's event and
// waits for the event. reuse says whether a failed run may run again;
// started, if set, is called once the workflow is known to run (or to
// have run).
func (s *Service) runCreate(ctx context.Context, input CreateEventInput, reuse enums.WorkflowIdReusePolicy, started func()) (events.Event, error) {
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	ctx, unwatch := s.watchTemporal(ctx)
	defer unwatch()
	id := CreateEventID(input.Event.ID)
	handoff, forget := s.Handoff.Expect(id)
	defer forget()
	run, err := s.start(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: s.TaskQueue, EnableEagerStart: true,
		WorkflowExecutionTimeout: 2 * time.Minute, WorkflowTaskTimeout: workflowTaskTimeout,
		WorkflowIDReusePolicy:    reuse,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}, CreateEvent, input)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &already) {
		// A retry (same Idempotency-Key) after the first run completed: its result.
		run, err = s.Temporal.GetWorkflow(ctx, id, ""), nil
	}
	if err != nil {
		return events.Event{}, temporalError(ctx, "starting the create workflow", err)
	}
	if started != nil {
		started()
	}
	type done struct {
		res EventResult
		err error
	}
	finished := make(chan done, 1)
	go func() {
		var res EventResult
		err := run.Get(ctx, &res)
		finished <- done{res, err}
	}()
	select {
	case ev := <-handoff:
		observe("create_event", nil)
		return ev, nil
	case d := <-finished:
		if d.err != nil {
			return events.Event{}, observe("create_event", s.waitError(ctx, d.err))
		}
		observe("create_event", nil)
		return d.res.Event.Event(), nil
	}
}

// UpdateEvent applies a PUT. Updates of one event run one at a time: while
// one runs, the next waits for it, then starts.
func (s *Service) UpdateEvent(ctx context.Context, appID uuid.UUID, grantID, eventID string, in events.EventInput) (events.Event, error) {
	plan, err := s.Events.PrepareUpdate(ctx, appID, grantID, eventID, in)
	if err != nil {
		return events.Event{}, err
	}
	if !s.connected() {
		return events.Event{}, errNotConnected
	}
	input := UpdateEventInput{V: ContractVersion, App: appID, Grant: plan.Stored.GrantID, EventID: plan.Stored.ID,
		Patch: PatchOf(plan.Patch), ConfGrantID: plan.ConfGrant}
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	ctx, unwatch := s.watchTemporal(ctx)
	defer unwatch()
	id := UpdateEventID(plan.Stored.ID)
	for {
		run, err := s.start(ctx, s.eventLane(id, 2*time.Minute), UpdateEvent, input)
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &started) {
			// Another update of this event is running: wait for it, then go.
			_ = s.Temporal.GetWorkflow(ctx, id, "").Get(ctx, nil)
			if errors.Is(context.Cause(ctx), errTemporalDown) {
				return events.Event{}, s.waitError(ctx, ctx.Err())
			}
			if ctx.Err() != nil {
				return events.Event{}, &apperr.Error{Kind: apperr.Conflict, Message: "the event is busy with another update; try again"}
			}
			continue
		}
		if err != nil {
			return events.Event{}, temporalError(ctx, "starting the update workflow", err)
		}
		var res EventResult
		if err := run.Get(ctx, &res); err != nil {
			return events.Event{}, observe("update_event", s.waitError(ctx, err))
		}
		observe("update_event", nil)
		return res.Event.Event(), nil
	}
}

// DeleteEvent removes the event at once, recording its meeting's deletion
// in the same transaction; the meeting is then deleted by a durable workflow
// that retries for hours and records what it cannot delete. The request
// hands the deletion to Temporal itself; if it cannot (Temporal down, this
// process dying), the sweeper does, so the delete succeeds either way.
func (s *Service) DeleteEvent(ctx context.Context, appID uuid.UUID, grantID, eventID string) error {
	removed, err := s.Events.RemoveEvent(ctx, appID, grantID, eventID)
	if err != nil {
		return err
	}
	s.handOverDeletion(ctx, removed)
	return nil
}

// handOverDeletion starts the deletion of a removed event's meeting, whose
// outbox entry was written with the removal; if it cannot, the sweeper will.
func (s *Service) handOverDeletion(ctx context.Context, removed events.Removed) {
	if removed.Deletion == 0 {
		return
	}
	ev := removed.Event
	appID := ev.ApplicationID
	m := MeetingRef{App: appID, ConfGrant: *ev.ConfGrantID, MeetingID: *ev.ConfMeetingID, EventID: ev.ID}
	if !s.connected() {
		return // the sweeper hands it over once Temporal is there
	}
	sctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := StartMeetingDeletion(sctx, s.Temporal, s.TaskQueue, m); err != nil {
		s.Log.WarnContext(ctx, "could not start a meeting deletion; the sweeper will", "meeting_id", m.MeetingID,
			"outbox_id", removed.Deletion, "err", err)
		return
	}
	s.handedOver(ctx, removed.Deletion)
}

// handedOver removes an outbox entry whose work has started.
func (s *Service) handedOver(ctx context.Context, entry int64) {
	if err := s.Outbox.Done(context.WithoutCancel(ctx), entry); err != nil {
		// Harmless: the sweeper starts it again, which finds it started.
		s.Log.WarnContext(ctx, "a started piece of work stays in the outbox", "outbox_id", entry, "err", err)
	}
}

// observe counts a finished event workflow by what the API answers.
func observe(workflow string, err error) error {
	outcome := "ok"
	if err != nil {
		outcome = apperr.Internal.String()
		if e, ok := apperr.As(err); ok {
			outcome = e.Kind.String()
		}
	}
	telemetry.WorkflowOutcomes.WithLabelValues(workflow, outcome).Inc()
	return err
}

// errTemporalDown ends a wait whose Temporal stopped answering.
var errTemporalDown = errors.New("temporal stopped answering")

// Checks of Temporal while a request waits for its workflow: two failed
// in a row end the wait with 503, instead of holding the caller until
// RequestTimeout.
const (
	healthEvery   = 2 * time.Second
	healthTimeout = time.Second
)

// watchTemporal returns ctx, cancelled with errTemporalDown if Temporal
// stops answering; call stop when the wait is over.
func (s *Service) watchTemporal(ctx context.Context) (_ context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		tick := time.NewTicker(healthEvery)
		defer tick.Stop()
		for failed := 0; ; {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			hctx, hcancel := context.WithTimeout(ctx, healthTimeout)
			_, err := s.Temporal.CheckHealth(hctx, &client.CheckHealthRequest{})
			hcancel()
			switch {
			case ctx.Err() != nil:
				return
			case err == nil:
				failed = 0
			default:
				if failed++; failed == 2 {
					cancel(errTemporalDown)
					return
				}
			}
		}
	}()
	return ctx, func() { cancel(nil) }
}

func (s *Service) waitError(ctx context.Context, err error) error {
	if errors.Is(context.Cause(ctx), errTemporalDown) || (ctx.Err() == nil && temporalDown(err)) {
		return &apperr.Error{Kind: apperr.Unavailable, Err: err, Message: "the workflow engine became unavailable while the request waited; " +
			"the request completes or rolls back on its own: retry shortly (a create with the same Idempotency-Key gets its result)"}
	}
	if ctx.Err() != nil {
		return &apperr.Error{Kind: apperr.ProviderTimeout, Err: err,
			Message: "the request did not finish in time; it completes or rolls back on its own: retry with the same Idempotency-Key to get its result"}
	}
	return FromTemporal(err)
}

// temporalDown reports whether err is Temporal unreachable or overloaded:
// the same request will work once it is back.
func temporalDown(err error) bool {
	var (
		unavailable *serviceerror.Unavailable
		deadline    *serviceerror.DeadlineExceeded
		exhausted   *serviceerror.ResourceExhausted
	)
	return errors.As(err, &unavailable) || errors.As(err, &deadline) || errors.As(err, &exhausted) ||
		errors.Is(err, context.DeadlineExceeded)
}

// temporalError is a failed call to Temporal as the API answers it: 503
// when Temporal is down (a create retried with its Idempotency-Key gets the
// first attempt's result), an internal error otherwise.
func temporalError(ctx context.Context, doing string, err error) error {
	if temporalDown(err) || errors.Is(context.Cause(ctx), errTemporalDown) {
		return &apperr.Error{Kind: apperr.Unavailable, Err: err,
			Message: "the workflow engine is unavailable; retry shortly (a create retried with the same Idempotency-Key is not made twice)"}
	}
	return fmt.Errorf("%s: %w", doing, err)
}
