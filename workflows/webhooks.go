package workflows

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/confhub/confhub/internal/webhooks"
)

// Notifications are delivered by one workflow per destination, for as long
// as the destination has something to deliver. Its state (what is still to
// deliver, the backoff, the status) lives with the destination in
// PostgreSQL, written in the same transactions as the changes the
// notifications describe; the workflow makes sure some worker keeps
// delivering, whichever process dies, and waits out the backoff durably.

// WebhookInput names the destination a WebhookDeliveries workflow serves.
type WebhookInput struct {
	V         int       `json:"v"`
	WebhookID uuid.UUID `json:"webhook_id"`
}

// WebhookID is the deliveries workflow's id for a destination.
func WebhookID(id uuid.UUID) string { return "webhook-" + id.String() }

// WakeWebhookSignal tells a deliveries workflow that something new waits.
const WakeWebhookSignal = "wake"

const (
	// webhookIdle is how long a deliveries workflow waits for more work
	// before it ends (the next notification starts it again).
	webhookIdle = 5 * time.Minute
	// webhookRoundsPerRun bounds a run's history.
	webhookRoundsPerRun = 300
)

// DeliverWebhookResult is an activity result (webhooks.BatchResult).
type DeliverWebhookResult = webhooks.BatchResult

// WebhookDeliveries delivers a destination's notifications until it has
// none left for a while, is paused, failed or deleted.
func WebhookDeliveries(ctx workflow.Context, in WebhookInput) error {
	var a *Activities
	wake := workflow.GetSignalChannel(ctx, WakeWebhookSignal)
	// Retried for as long as it takes (the database may be down); a worker
	// that dies mid-batch hands it on within the heartbeat timeout, and the
	// batch's deliveries go out again: at least once.
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 3 * time.Minute,
		HeartbeatTimeout:    30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	})
	for range webhookRoundsPerRun {
		var r DeliverWebhookResult
		if err := workflow.ExecuteActivity(ctx, a.DeliverWebhook, in).Get(ctx, &r); err != nil {
			return err
		}
		woke := drain(ctx, wake)
		switch {
		case r.Stop:
			return nil
		case r.More || (woke && r.RetryAt.IsZero()):
			continue
		}
		wait := webhookIdle
		if !r.RetryAt.IsZero() {
			if wait = r.RetryAt.Sub(workflow.Now(ctx)); wait <= 0 {
				continue
			}
		}
		timerCtx, cancel := workflow.WithCancel(ctx)
		timer := workflow.NewTimer(timerCtx, wait)
		timedOut := false
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(wake, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil) })
		sel.AddFuture(timer, func(workflow.Future) { timedOut = true })
		sel.Select(ctx)
		cancel()
		if timedOut && r.RetryAt.IsZero() && !drain(ctx, wake) {
			return nil // idle
		}
	}
	drain(ctx, wake) // the next run looks at the table first anyway
	return workflow.NewContinueAsNewError(ctx, WebhookDeliveries, in)
}

// drain takes every pending wake signal; it reports whether there was one.
func drain(ctx workflow.Context, c workflow.ReceiveChannel) bool {
	got := false
	for c.ReceiveAsync(nil) {
		got = true
	}
	return got
}

// DeliverWebhook delivers one batch of a destination's notifications.
func (a *Activities) DeliverWebhook(ctx context.Context, in WebhookInput) (DeliverWebhookResult, error) {
	return a.Webhooks.DeliverBatch(ctx, in.WebhookID, a.Log, func() { activity.RecordHeartbeat(ctx) })
}

// WakeWebhook makes sure a destination's deliveries workflow runs and looks
// at its queue.
func WakeWebhook(ctx context.Context, c SignalStarter, taskQueue string, id uuid.UUID) error {
	_, err := c.SignalWithStartWorkflow(ctx, WebhookID(id), WakeWebhookSignal, nil,
		client.StartWorkflowOptions{TaskQueue: taskQueue}, WebhookDeliveries, WebhookInput{V: ContractVersion, WebhookID: id})
	return err
}

// SignalStarter signals a workflow, starting it first if it does not run.
type SignalStarter interface {
	SignalWithStartWorkflow(ctx context.Context, workflowID string, signalName string, signalArg any,
		options client.StartWorkflowOptions, workflow any, workflowArgs ...any) (client.WorkflowRun, error)
}

// Waker passes the listener's news to the deliveries workflows without
// holding the listener up: wakes for one destination that arrive while it
// is being woken become one.
type Waker struct {
	client    SignalStarter
	taskQueue string
	log       *slog.Logger

	mu      sync.Mutex
	pending map[uuid.UUID]bool
	kick    chan struct{}
}

// NewWaker returns a Waker that wakes workflows on taskQueue through c.
func NewWaker(c SignalStarter, taskQueue string, log *slog.Logger) *Waker {
	return &Waker{client: c, taskQueue: taskQueue, log: log, pending: map[uuid.UUID]bool{}, kick: make(chan struct{}, 1)}
}

// Wake asks for a destination's workflow to be woken; it never blocks.
func (w *Waker) Wake(id uuid.UUID) {
	w.mu.Lock()
	w.pending[id] = true
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Run wakes the workflows asked for until ctx ends. A wake that fails is
// left to the sweeper, which wakes stalled destinations.
func (w *Waker) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.kick:
		}
		w.mu.Lock()
		ids := make([]uuid.UUID, 0, len(w.pending))
		for id := range w.pending {
			ids = append(ids, id)
		}
		clear(w.pending)
		w.mu.Unlock()
		for _, id := range ids {
			if err := WakeWebhook(ctx, w.client, w.taskQueue, id); err != nil && ctx.Err() == nil {
				w.log.WarnContext(ctx, "a webhook deliverer could not be woken; the sweeper will", "webhook_id", id, "err", err)
			}
		}
	}
}

// WakeStalledInput asks for one batch of stalled destinations.
type WakeStalledInput struct {
	Grace time.Duration `json:"grace"`
	Limit int           `json:"limit"`
}

// WakeStalled wakes the deliverers of destinations whose notifications have
// waited too long: their wake was missed (a process died between commit
// and wake, the listener was reconnecting) or their workflow ended.
func (a *Activities) WakeStalled(ctx context.Context, in WakeStalledInput) (int, error) {
	ids, err := a.Webhooks.Stalled(ctx, in.Grace, in.Limit)
	if err != nil {
		return 0, err
	}
	taskQueue := activity.GetInfo(ctx).TaskQueue
	for _, id := range ids {
		if err := WakeWebhook(ctx, a.Temporal, taskQueue, id); err != nil {
			return 0, err
		}
	}
	if len(ids) > 0 {
		a.Log.InfoContext(ctx, "stalled webhook deliverers woken by the sweeper", "count", len(ids))
	}
	return len(ids), nil
}
