package workflows

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	enums "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/confhub/confhub/events"
	"github.com/confhub/confhub/grants"
	"github.com/confhub/confhub/internal/apperr"
	"github.com/confhub/confhub/internal/telemetry"
)

// GrantLookup finds a conf grant of the application.
type GrantLookup interface {
	Get(ctx context.Context, appID uuid.UUID, id string) (grants.Grant, error)
}

// Service starts the event workflows and waits for their results: what the
// API's event routes call.
type Service struct {
	Temporal  client.Client
	TaskQueue string
	Events    *events.Store
	Pool      *pgxpool.Pool
	Grants    GrantLookup
	Log       *slog.Logger
	Results   *Results // the same hub as the worker's Activities, when in one process
}

// NewWorker registers the workflows and activities on the task queue.
func NewWorker(c client.Client, taskQueue string, a *Activities) worker.Worker {
	// Enough pollers to cover every partition of the task queue (Temporal's
	// default is 4; the SDK's default of 2 workflow pollers alternates
	// between the sticky and the normal queue, leaving one for 4 partitions):
	// otherwise a workflow task that lands in a partition nobody polls (a
	// retry after a worker died, a workflow started without eager dispatch)
	// waits for a long poll to come round, up to a minute.
	w := worker.New(c, taskQueue, worker.Options{MaxConcurrentWorkflowTaskPollers: 8, MaxConcurrentActivityTaskPollers: 4})
	w.RegisterWorkflow(CreateEvent)
	w.RegisterWorkflow(UpdateEvent)
	w.RegisterWorkflow(DeleteMeeting)
	w.RegisterActivity(a)
	return w
}

// workflowTaskTimeout is short so that a workflow whose worker died is picked
// up by another worker quickly (local activities keep a live task alive).
const workflowTaskTimeout = 3 * time.Second

// CreateEvent validates and creates an event, with its Zoom meeting when
// asked. With an idempotency key, the same key and body give the same event
// and the same key with another body is a conflict.
func (s *Service) CreateEvent(ctx context.Context, appID uuid.UUID, grantID, calendarID string, in events.EventInput, idemKey string, body []byte) (events.Event, error) {
	if calendarID == "" {
		return events.Event{}, apperr.InvalidField("calendar_id", "is required (a calendar id, or primary)")
	}
	// Validation needs no lookups; the calendar and the conf grant are looked
	// up side by side. Errors still come in the order a reader expects: the
	// path's grant and calendar, then the body, then the conf grant.
	change, invalid := events.NewEvent(appID, uuid.Nil, uuid.Nil, in)
	var confID uuid.UUID
	var confErr error
	var lookups sync.WaitGroup
	if invalid == nil && change.Conf == events.ConfSet && change.Conference.Autocreate != nil {
		lookups.Go(func() { confID, confErr = s.confGrant(ctx, appID, change.Conference.Autocreate.ConfGrantID) })
	}
	gid, calID, err := s.Events.EventCalendar(ctx, appID, grantID, calendarID)
	lookups.Wait()
	switch {
	case err != nil:
		return events.Event{}, err
	case invalid != nil:
		return events.Event{}, invalid
	case confErr != nil:
		return events.Event{}, confErr
	}
	change.Event.GrantID, change.Event.CalendarID = gid, calID
	input := CreateInput{Event: change.Event}
	if change.Conf == events.ConfSet {
		input.Conference = change.Conference
		if a := change.Conference.Autocreate; a != nil {
			input.ConfGrant, input.ConfSettings = confID, a.ConfSettings
		}
	}
	if idemKey != "" {
		existing, err := s.claimKey(ctx, appID, idemKey, body, input.Event.ID)
		if err != nil {
			return events.Event{}, err
		}
		if existing != uuid.Nil {
			input.Event.ID = existing
			if ev, err := s.Events.GetEvent(ctx, appID, gid, existing.String()); err == nil {
				return ev, nil // done before
			}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	handoff, forget := s.Results.wait("create-event-" + input.Event.ID.String())
	defer forget()
	run, err := s.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: "create-event-" + input.Event.ID.String(), TaskQueue: s.TaskQueue, EnableEagerStart: true,
		WorkflowExecutionTimeout: 2 * time.Minute, WorkflowTaskTimeout: workflowTaskTimeout,
		WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}, CreateEvent, input)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		run, err = s.Temporal.GetWorkflow(ctx, "create-event-"+input.Event.ID.String(), ""), nil
	}
	if err != nil {
		return events.Event{}, fmt.Errorf("starting the create workflow: %w", err)
	}
	type done struct {
		ev  events.Event
		err error
	}
	finished := make(chan done, 1)
	go func() {
		var out events.Event
		err := run.Get(ctx, &out)
		finished <- done{out, err}
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
		return d.ev, nil
	}
}

// claimKey records an idempotency key, or returns the event it already names.
func (s *Service) claimKey(ctx context.Context, appID uuid.UUID, key string, body []byte, eventID uuid.UUID) (uuid.UUID, error) {
	if len(key) > 255 {
		return uuid.Nil, apperr.InvalidField("Idempotency-Key", "must be at most 255 characters")
	}
	sum := sha256.Sum256(body)
	var stored []byte
	var existing uuid.UUID
	err := s.Pool.QueryRow(ctx, `WITH ins AS (INSERT INTO idempotency_keys (application_id, key, request_sha256, event_id)
		VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING event_id)
		SELECT request_sha256, event_id FROM idempotency_keys WHERE application_id = $1 AND key = $2 AND NOT EXISTS (SELECT 1 FROM ins)`,
		appID, key, sum[:], eventID).Scan(&stored, &existing)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, nil // claimed now
	}
	if err != nil {
		return uuid.Nil, err
	}
	if string(stored) != string(sum[:]) {
		return uuid.Nil, apperr.Conflictf("Idempotency-Key %q was used with a different request body", key)
	}
	return existing, nil
}

// confGrant checks the autocreate grant: a valid Zoom grant of this application.
func (s *Service) confGrant(ctx context.Context, appID uuid.UUID, id string) (uuid.UUID, error) {
	const field = "conferencing.autocreate.conf_grant_id"
	gid, err := uuid.Parse(id)
	if err != nil {
		return uuid.Nil, apperr.InvalidField(field, "is not a grant id")
	}
	g, err := s.Grants.Get(ctx, appID, id)
	if apperr.IsKind(err, apperr.NotFound) {
		return uuid.Nil, &apperr.Error{Kind: apperr.NotFound, Field: field, Message: fmt.Sprintf("grant %s not found", id)}
	}
	if err != nil {
		return uuid.Nil, err
	}
	if g.Provider != grants.ProviderZoom {
		return uuid.Nil, apperr.InvalidField(field, "grant %s is a %s grant, not a Zoom grant", id, g.Provider)
	}
	if g.Status != grants.StatusValid {
		return uuid.Nil, apperr.InvalidField(field, "grant %s is invalid (%s): the user must connect their Zoom account again", id, g.InvalidReason)
	}
	return gid, nil
}

// UpdateEvent applies a PUT. Updates of one event run one at a time: while
// one runs, the next waits for it, then starts.
func (s *Service) UpdateEvent(ctx context.Context, appID uuid.UUID, grantID, eventID string, in events.EventInput) (events.Event, error) {
	gid, err := s.Events.CalendarGrant(ctx, appID, grantID)
	if err != nil {
		return events.Event{}, err
	}
	stored, err := s.Events.GetEvent(ctx, appID, gid, eventID)
	if err != nil {
		return events.Event{}, err
	}
	// Validate now for a fast 400; the workflow applies it to the row it reads.
	change, err := events.ApplyUpdate(stored, in)
	if err != nil {
		return events.Event{}, err
	}
	if change.Conf == events.ConfSet && change.Conference.Autocreate != nil {
		if _, err := s.confGrant(ctx, appID, change.Conference.Autocreate.ConfGrantID); err != nil {
			return events.Event{}, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	id := "update-event-" + stored.ID.String()
	for {
		run, err := s.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: id, TaskQueue: s.TaskQueue, EnableEagerStart: true, WorkflowExecutionTimeout: 2 * time.Minute,
			WorkflowTaskTimeout:      workflowTaskTimeout,
			WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
			WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
			// Without this the SDK hands back the running update's run, and
			// this update's write would silently be dropped.
			WorkflowExecutionErrorWhenAlreadyStarted: true,
		}, UpdateEvent, UpdateInput{App: appID, Grant: gid, EventID: stored.ID, Input: in})
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &started) {
			// Another update of this event is running: wait for it, then go.
			_ = s.Temporal.GetWorkflow(ctx, id, "").Get(ctx, nil)
			if ctx.Err() != nil {
				return events.Event{}, &apperr.Error{Kind: apperr.Conflict, Message: "the event is busy with another update; try again"}
			}
			continue
		}
		if err != nil {
			return events.Event{}, fmt.Errorf("starting the update workflow: %w", err)
		}
		var out events.Event
		if err := run.Get(ctx, &out); err != nil {
			return events.Event{}, observe("update_event", s.waitError(ctx, err))
		}
		observe("update_event", nil)
		return out, nil
	}
}

// DeleteEvent removes the event at once; its meeting is then deleted by a
// durable workflow that retries for hours and records what it cannot delete.
func (s *Service) DeleteEvent(ctx context.Context, appID uuid.UUID, grantID, eventID string) error {
	gid, err := s.Events.CalendarGrant(ctx, appID, grantID)
	if err != nil {
		return err
	}
	ev, err := s.Events.DeleteEvent(ctx, appID, gid, eventID)
	if err != nil {
		return err
	}
	if ev.ConfMeetingID == nil || ev.ConfGrantID == nil {
		return nil
	}
	in := RemoveMeetingInput{App: appID, ConfGrant: *ev.ConfGrantID, MeetingID: *ev.ConfMeetingID, EventID: ev.ID}
	_, err = s.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: DeleteMeetingID(in.ConfGrant, in.MeetingID), TaskQueue: s.TaskQueue, EnableEagerStart: true,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}, DeleteMeeting, in)
	if err != nil {
		// The event is gone; the meeting must not vanish from our books.
		s.Log.Error("could not schedule a meeting deletion", "meeting_id", in.MeetingID, "err", err)
		a := &Activities{Pool: s.Pool, Log: s.Log}
		return a.recordOrphan(context.WithoutCancel(ctx), in, "deletion could not be scheduled: "+err.Error())
	}
	return nil
}

// Orphan is a meeting we could not delete.
type Orphan struct {
	MeetingID int64
	EventID   *uuid.UUID
	Reason    string
	CreatedAt time.Time
}

// Orphans lists the meetings of a conf grant we could not delete.
func (s *Service) Orphans(ctx context.Context, appID uuid.UUID, grantID string) ([]Orphan, error) {
	if _, err := s.Grants.Get(ctx, appID, grantID); err != nil {
		return nil, err
	}
	rows, err := s.Pool.Query(ctx, `SELECT meeting_id, event_id, reason, created_at FROM conference_orphans
		WHERE application_id = $1 AND conf_grant_id = $2 ORDER BY created_at, meeting_id`, appID, grantID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Orphan, error) {
		var o Orphan
		return o, r.Scan(&o.MeetingID, &o.EventID, &o.Reason, &o.CreatedAt)
	})
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

func (s *Service) waitError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return &apperr.Error{Kind: apperr.ProviderTimeout, Err: err,
			Message: "the request did not finish in time; it completes or rolls back on its own: retry with the same Idempotency-Key to get its result"}
	}
	return FromTemporal(err)
}
