package workflows

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/google/uuid"
	enums "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/confhub/confhub/events"
	"github.com/confhub/confhub/events/scheduler"
	"github.com/confhub/confhub/internal/apperr"
)

// BookingChecks validate bookings and claim their slots before any
// workflow starts (scheduler.Service).
type BookingChecks interface {
	Book(ctx context.Context, c scheduler.Configuration, in scheduler.BookingInput) (scheduler.BookingPlan, error)
	Reschedule(ctx context.Context, c scheduler.Configuration, b scheduler.Booking, in scheduler.RescheduleInput) (scheduler.MovePlan, error)
	SetTimes(ctx context.Context, id uuid.UUID, start, end time.Time) error
	Cancel(ctx context.Context, c scheduler.Configuration, b scheduler.Booking, in scheduler.CancelInput) (scheduler.Booking, events.Removed, error)
	Decide(ctx context.Context, c scheduler.Configuration, b scheduler.Booking, in scheduler.ConfirmInput) (scheduler.BookingPlan, error)
}

// Scheduling makes, moves and removes bookings' events through the events
// path: the same workflows as the events API, so a booking's Zoom meeting
// has the same guarantees as any event's.
type Scheduling struct {
	*Service
	Bookings BookingChecks
}

// Book claims a slot and makes its event (unless the booking waits for the
// organizer's confirmation).
func (s *Scheduling) Book(ctx context.Context, c scheduler.Configuration, in scheduler.BookingInput) (scheduler.Booking, error) {
	// Checked before the claim: a claim whose event could not be started
	// would hold the slot until the sweeper makes the event.
	if !s.connected() {
		return scheduler.Booking{}, errNotConnected
	}
	plan, err := s.Bookings.Book(ctx, c, in)
	if err != nil || plan.Event == nil {
		return plan.Booking, err
	}
	return s.makeBooked(ctx, plan)
}

// makeBooked runs a claimed booking's event through the create workflow.
// A failed run is never run again (its booking is released), so both
// hands of the outbox entry, this request and the sweeper, run it once.
func (s *Scheduling) makeBooked(ctx context.Context, plan scheduler.BookingPlan) (scheduler.Booking, error) {
	// Once the workflow runs, Temporal carries it (and a failed run
	// releases the booking): the outbox entry has done its job.
	// Settled beside the wait (Zoom's time anyway), and joined before the
	// request answers: nothing of it outlives the request.
	var settled sync.WaitGroup
	defer settled.Wait()
	_, err := s.runCreate(ctx, BookedEventInput(*plan.Event), enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		func() { settled.Go(func() { s.handedOver(ctx, plan.Entry) }) })
	if err != nil {
		return scheduler.Booking{}, err
	}
	return plan.Booking, nil
}

// BookedEventInput is the create workflow's input for a booking's event.
func BookedEventInput(b scheduler.BookedEvent) CreateEventInput {
	return CreateEventInput{V: ContractVersion, Event: RecordOf(b.Event), ConfGrantID: b.ConfGrant, Booking: &BookingRef{ID: b.BookingID}}
}

// StartBookedEvent starts a booking's create workflow unless it has run
// (the sweeper's hand of a booking's outbox entry).
func StartBookedEvent(ctx context.Context, c WorkflowClient, taskQueue string, b scheduler.BookedEvent) error {
	_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: CreateEventID(b.Event.ID), TaskQueue: taskQueue,
		WorkflowExecutionTimeout: 2 * time.Minute, WorkflowTaskTimeout: workflowTaskTimeout,
		WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}, CreateEvent, BookedEventInput(b))
	var done *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &done) {
		return nil
	}
	return err
}

// Reschedule claims a booking's new time and moves its event (and so its
// Zoom meeting, which keeps its join URL). If the event cannot move, the
// booking gets its old time back.
func (s *Scheduling) Reschedule(ctx context.Context, c scheduler.Configuration, b scheduler.Booking, in scheduler.RescheduleInput) (scheduler.Booking, error) {
	if !s.connected() {
		return scheduler.Booking{}, errNotConnected
	}
	plan, err := s.Bookings.Reschedule(ctx, c, b, in)
	if err != nil {
		return scheduler.Booking{}, err
	}
	moved := plan.Before
	moved.Start, moved.End = plan.Start, plan.End
	if plan.Before.Status != scheduler.StatusBooked {
		return moved, nil // pending: no event yet
	}
	_, err = s.UpdateEvent(ctx, c.ApplicationID, plan.Before.EventGrantID.String(), plan.Before.EventID.String(), plan.Patch)
	if err != nil && !mayStillRun(err) {
		if rerr := s.Bookings.SetTimes(context.WithoutCancel(ctx), plan.Before.ID, plan.Before.Start, plan.Before.End); rerr != nil {
			// The outbox entry settles it: the booking takes its event's time.
			s.Log.WarnContext(ctx, "a booking whose event could not move keeps its new time for now", "booking_id", plan.Before.ID, "err", rerr)
			return scheduler.Booking{}, err
		}
	}
	if !mayStillRun(err) {
		s.handedOver(ctx, plan.Entry)
	}
	if err != nil {
		return scheduler.Booking{}, err
	}
	return moved, nil
}

// mayStillRun reports whether a failed request's workflow may still be
// running (or starting): the wait ended, not the workflow. What it does is
// then for the sweeper to see (a reschedule's settle entry).
func mayStillRun(err error) bool {
	return apperr.IsKind(err, apperr.Unavailable) || apperr.IsKind(err, apperr.ProviderTimeout)
}

// Cancel cancels a booking: its time is released and its event removed at
// once, and its meeting deleted durably.
func (s *Scheduling) Cancel(ctx context.Context, c scheduler.Configuration, b scheduler.Booking, in scheduler.CancelInput) (scheduler.Booking, error) {
	b, removed, err := s.Bookings.Cancel(ctx, c, b, in)
	if err != nil {
		return scheduler.Booking{}, err
	}
	s.handOverDeletion(ctx, removed)
	b.Status = scheduler.StatusCancelled
	return b, nil
}

// Decide confirms (making its event) or rejects a pending booking.
func (s *Scheduling) Decide(ctx context.Context, c scheduler.Configuration, b scheduler.Booking, in scheduler.ConfirmInput) (scheduler.Booking, error) {
	if !s.connected() {
		return scheduler.Booking{}, errNotConnected
	}
	plan, err := s.Bookings.Decide(ctx, c, b, in)
	if err != nil || plan.Event == nil {
		return plan.Booking, err
	}
	return s.makeBooked(ctx, plan)
}
