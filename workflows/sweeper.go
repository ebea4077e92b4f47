package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	enums "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/confhub/confhub/events"
	"github.com/confhub/confhub/events/scheduler"
	"github.com/confhub/confhub/grants"
	"github.com/confhub/confhub/internal/apperr"
	"github.com/confhub/confhub/internal/outbox"
)

// The sweeper is one long-running workflow per task queue. It hands the
// outbox's leftovers to Temporal (work whose request died, or found
// Temporal down, before doing it) and settles create attempts whose
// workflow ended without recording their meeting. Being a workflow, it
// survives every worker; StartWorker makes sure it runs.

// SweeperInput configures the sweeper; it is carried across continue-as-new.
type SweeperInput struct {
	V int `json:"v"`
	// Interval is the pause between sweeps that found nothing more to do.
	Interval time.Duration `json:"interval"`
	// AttemptIdle is how long an open create attempt is left alone before
	// its workflow is looked at.
	AttemptIdle time.Duration `json:"attempt_idle"`
}

// DefaultSweeper is the production configuration.
var DefaultSweeper = SweeperInput{V: ContractVersion, Interval: 5 * time.Second, AttemptIdle: 30 * time.Second}

// SweeperID is the sweeper's workflow id on a task queue.
func SweeperID(taskQueue string) string { return "outbox-sweeper-" + taskQueue }

// sweepsPerRun bounds a run's history (about a dozen events a sweep): the
// sweeper continues as new after that many.
const sweepsPerRun = 500

const (
	drainBatch  = 100
	settleBatch = 20
	wakeBatch   = 50
	// stalledGrace is how long a notification may wait, beyond its
	// destination's backoff, before the sweeper wakes its deliverer: long
	// enough not to double the listener's wake, short enough to be soon.
	stalledGrace = 10 * time.Second
)

// Sweeper sweeps until it continues as new.
func Sweeper(ctx workflow.Context, in SweeperInput) error {
	var a *Activities
	// Retried for as long as it takes: the database or Temporal may be
	// down. The heartbeat timeout hands a sweep whose worker died to
	// another within seconds (a sweep is quick, and beats per entry).
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		HeartbeatTimeout:    10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second},
	})
	for range sweepsPerRun {
		var drained DrainResult
		if err := workflow.ExecuteActivity(ctx, a.DrainOutbox, DrainInput{Limit: drainBatch}).Get(ctx, &drained); err != nil {
			return err
		}
		var settled SettleResult
		if err := workflow.ExecuteActivity(ctx, a.SettleAttempts, SettleInput{Idle: in.AttemptIdle, Limit: settleBatch}).Get(ctx, &settled); err != nil {
			return err
		}
		woken := 0
		if workflow.GetVersion(ctx, "wake-stalled-webhooks", workflow.DefaultVersion, 1) == 1 {
			if err := workflow.ExecuteActivity(ctx, a.WakeStalled, WakeStalledInput{Grace: stalledGrace, Limit: wakeBatch}).Get(ctx, &woken); err != nil {
				return err
			}
		}
		if drained.Seen == drainBatch || settled.Seen == settleBatch || woken == wakeBatch {
			continue // more is waiting
		}
		if err := workflow.Sleep(ctx, in.Interval); err != nil {
			return err
		}
	}
	return workflow.NewContinueAsNewError(ctx, Sweeper, in)
}

// EnsureSweeper starts the sweeper on the task queue unless it runs.
func EnsureSweeper(ctx context.Context, c client.Client, taskQueue string, in SweeperInput) error {
	_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: SweeperID(taskQueue), TaskQueue: taskQueue,
		WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}, Sweeper, in)
	return err
}

// DrainInput asks for one batch of due outbox entries.
type DrainInput struct {
	Limit int `json:"limit"`
}

// DrainResult is what a batch did.
type DrainResult struct {
	Seen       int `json:"seen"`
	HandedOver int `json:"handed_over"`
	Postponed  int `json:"postponed"`
}

// DrainOutbox hands due outbox entries to Temporal. An entry whose work is
// started (or was started before: the ids make that safe) is removed; one
// that cannot be is postponed with backoff.
func (a *Activities) DrainOutbox(ctx context.Context, in DrainInput) (DrainResult, error) {
	due, err := a.Outbox.Due(ctx, in.Limit)
	if err != nil {
		return DrainResult{}, err
	}
	res := DrainResult{Seen: len(due)}
	taskQueue := activity.GetInfo(ctx).TaskQueue
	for _, e := range due {
		activity.RecordHeartbeat(ctx, e.ID)
		if err := a.handOver(ctx, taskQueue, e); err != nil {
			a.Log.WarnContext(ctx, "an outbox entry could not be handed over; postponed", "outbox_id", e.ID, "kind", e.Kind,
				"attempts", e.Attempts+1, "err", err)
			if err := a.Outbox.Retry(ctx, e.ID, err.Error()); err != nil {
				return res, err
			}
			res.Postponed++
			continue
		}
		if err := a.Outbox.Done(ctx, e.ID); err != nil {
			return res, err
		}
		res.HandedOver++
	}
	if res.HandedOver > 0 {
		a.Log.InfoContext(ctx, "outbox entries handed over by the sweeper", "count", res.HandedOver)
	}
	return res, nil
}

func (a *Activities) handOver(ctx context.Context, taskQueue string, e outbox.Entry) error {
	switch e.Kind {
	case events.KindDeleteMeeting:
		var d events.MeetingDeletion
		if err := json.Unmarshal(e.Payload, &d); err != nil {
			return fmt.Errorf("payload: %w", err)
		}
		return StartMeetingDeletion(ctx, a.Temporal, taskQueue, MeetingRef{App: d.ApplicationID, ConfGrant: d.ConfGrantID,
			MeetingID: d.MeetingID, EventID: d.EventID})
	case scheduler.KindCreateBooked:
		var b scheduler.BookedEvent
		if err := json.Unmarshal(e.Payload, &b); err != nil {
			return fmt.Errorf("payload: %w", err)
		}
		return StartBookedEvent(ctx, a.Temporal, taskQueue, b)
	case scheduler.KindSettleBooking:
		var b scheduler.BookingSettle
		if err := json.Unmarshal(e.Payload, &b); err != nil {
			return fmt.Errorf("payload: %w", err)
		}
		return a.settleBooking(ctx, b)
	}
	// A kind this build does not know (a newer one wrote it, mid-deploy):
	// left for a worker that does.
	return fmt.Errorf("unknown outbox entry kind %q", e.Kind)
}

// settleBooking gives a moved booking its event's time, once no update of
// the event runs: the request that moved the booking did not see the
// event's move through, and the event says where it ended.
func (a *Activities) settleBooking(ctx context.Context, b scheduler.BookingSettle) error {
	ended, err := a.ended(ctx, UpdateEventID(b.EventID), "")
	if err != nil {
		return err
	}
	if !ended {
		return errors.New("the event's update still runs")
	}
	ev, err := a.Events.LoadEvent(ctx, b.ApplicationID, b.EventGrantID, b.EventID)
	if apperr.IsKind(err, apperr.NotFound) {
		return nil // cancelled (or deleted): no time to follow
	}
	if err != nil {
		return err
	}
	return a.Bookings.SetTimes(ctx, b.BookingID, ev.StartsAt, ev.EndsAt)
}

// StartMeetingDeletion starts the durable deletion of a meeting, unless one
// runs or has completed already (both hands of the outbox may pass it on:
// the second finds the first's). One that failed may run again.
func StartMeetingDeletion(ctx context.Context, c WorkflowClient, taskQueue string, m MeetingRef) error {
	_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: DeleteMeetingID(m.ConfGrant, m.MeetingID), TaskQueue: taskQueue, EnableEagerStart: true,
		WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}, DeleteMeeting, m)
	var done *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &done) {
		return nil
	}
	return err
}

// SettleInput asks for one batch of open create attempts.
type SettleInput struct {
	Idle  time.Duration `json:"idle"`
	Limit int           `json:"limit"`
}

// SettleResult is what a batch did.
type SettleResult struct {
	Seen    int `json:"seen"`
	Settled int `json:"settled"`
}

// SettleAttempts settles create attempts left open by workflows that have
// ended: the meeting they may have made is looked for by its reference; one
// found on no event is handed to deletion. An attempt whose workflow still
// runs, or whose host cannot be asked now, is looked at again later.
func (a *Activities) SettleAttempts(ctx context.Context, in SettleInput) (SettleResult, error) {
	open, err := a.Meetings.StaleAttempts(ctx, in.Idle, in.Limit)
	if err != nil {
		return SettleResult{}, err
	}
	res := SettleResult{Seen: len(open)}
	for _, at := range open {
		activity.RecordHeartbeat(ctx, at.OpID)
		ended, err := a.workflowEnded(ctx, at)
		if err == nil && ended {
			err = a.settle(ctx, at)
		}
		if err == nil && ended {
			res.Settled++
			continue
		}
		if err != nil {
			a.Log.WarnContext(ctx, "a create attempt could not be settled yet", "op", at.OpID, "err", err)
		}
		if err := a.Meetings.PostponeAttempt(ctx, at.OpID); err != nil {
			return res, err
		}
	}
	return res, nil
}

// workflowEnded reports whether the workflow that made an attempt has ended.
// A create's operation id is its workflow id; an update's is its run id.
func (a *Activities) workflowEnded(ctx context.Context, at events.OpenAttempt) (bool, error) {
	wfID, runID := at.OpID, ""
	if !strings.HasPrefix(at.OpID, "create-event-") {
		wfID, runID = UpdateEventID(at.EventID), at.OpID
	}
	return a.ended(ctx, wfID, runID)
}

// ended reports whether a workflow run (the latest, for runID "") is over;
// one Temporal no longer knows is long over.
func (a *Activities) ended(ctx context.Context, wfID, runID string) (bool, error) {
	running, err := runningType(ctx, a.Temporal, wfID, runID)
	return running == "" && err == nil, err
}

func (a *Activities) settle(ctx context.Context, at events.OpenAttempt) error {
	var (
		m     MeetingInfo
		found bool
	)
	err := a.Tokens.Do(ctx, at.ApplicationID, at.ConfGrantID, func(tok grants.AccessToken) error {
		got, ok, err := a.findByMarker(ctx, tok, at.Marker)
		m, found = infoOf(got), ok
		return err
	})
	closed := false
	switch {
	case err != nil && isDomain(zoomOutcome(err)):
		// The grant no longer lets us look (revoked, scope removed):
		// nobody ever can, through it. Said loudly, once.
		a.Log.ErrorContext(ctx, "a create attempt cannot be settled: its Zoom grant no longer lets us look for the meeting; "+
			"check the host's meetings for the reference", "op", at.OpID, "conf_grant_id", at.ConfGrantID, "reference", at.Marker, "err", err)
		closed, err = a.Meetings.CloseAttempt(ctx, at, events.AttemptUnresolved, nil)
	case err != nil:
		return err
	case !found:
		closed, err = a.Meetings.CloseAttempt(ctx, at, events.AttemptNoMeeting, nil)
	default:
		on, oerr := a.Meetings.MeetingOnEvent(ctx, at.ApplicationID, at.ConfGrantID, m.ID)
		switch {
		case oerr != nil:
			return oerr
		case on:
			closed, err = a.Meetings.CloseAttempt(ctx, at, events.AttemptOnEvent, &m.ID)
		default:
			// Through the outbox, in the attempt's own transaction: the
			// next drain starts the deletion.
			if closed, err = a.Meetings.CompensateAttempt(ctx, at, m.ID); closed && err == nil {
				a.Log.InfoContext(ctx, "a meeting left by a failed create is handed to deletion", "op", at.OpID, "meeting_id", m.ID)
			}
		}
	}
	if err == nil && !closed {
		a.Log.InfoContext(ctx, "a create attempt was taken up again while it was being settled; left to it", "op", at.OpID)
	}
	return err
}
