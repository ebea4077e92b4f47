// Package stack builds confhub's service graph from its configuration: the
// stores, the feature services, the Temporal client, the HTTP API and the
// worker. serve, dev, bench and the tests all build it here, so they run the
// same wiring; only what differs between them (a shared Temporal client, a
// test clock, a task queue of their own) is an option.
package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/confhub/confhub/api"
	"github.com/confhub/confhub/connectors"
	"github.com/confhub/confhub/connectors/zoom"
	"github.com/confhub/confhub/events"
	"github.com/confhub/confhub/events/scheduler"
	"github.com/confhub/confhub/grants"
	"github.com/confhub/confhub/internal/applications"
	"github.com/confhub/confhub/internal/config"
	"github.com/confhub/confhub/internal/outbox"
	"github.com/confhub/confhub/internal/webhooks"
	"github.com/confhub/confhub/workflows"
)

// Options are what the graph is built from.
type Options struct {
	Config config.Config // the keyring, Zoom's URLs, the public URL, Temporal's address
	Pool   *pgxpool.Pool // opened and migrated by the caller
	Log    *slog.Logger  // default: discard
	// Temporal is a client to use (tests share one server); nil dials
	// Config.TemporalAddress, with tracing, and Close closes it.
	Temporal  client.Client
	TaskQueue string           // default workflows.TaskQueue
	Now       func() time.Time // the clock of tokens, OAuth, the Zoom client and grant health; default time.Now
	// Migrated is closed once the database schema is up to date (serve
	// migrates in the background while PostgreSQL may still be down); nil
	// means it is already. Until then the API answers 503 and no worker runs.
	Migrated <-chan struct{}
	// OutboxGrace is how long a request has to hand its outbox entries to
	// Temporal before the sweeper does (default outbox.DefaultGrace).
	OutboxGrace time.Duration
	// BookingSettleAfter is when a reschedule whose request died is
	// reconciled by the sweeper (0: scheduler.DefaultSettleAfter).
	BookingSettleAfter time.Duration
	// Sweeper configures the sweeper (default workflows.DefaultSweeper).
	Sweeper workflows.SweeperInput
}

// Stack is the built graph. Its fields are the parts, for commands and
// tests that need one directly.
type Stack struct {
	Pool       *pgxpool.Pool
	Temporal   client.Client
	TaskQueue  string
	Apps       *applications.Store
	Connectors *connectors.Store
	Zoom       *zoom.Client
	Grants     *grants.Service
	Events     *events.Service
	Scheduler  *scheduler.Service
	Bookings   *workflows.Scheduling
	Outbox     *outbox.Store
	Webhooks   *webhooks.Store
	Workflows  *workflows.Service
	Activities *workflows.Activities
	API        *api.Server

	log          *slog.Logger
	ownsTemporal bool
	migrated     <-chan struct{}
	sweeper      workflows.SweeperInput
	// connected is closed once the Temporal client has reached the server
	// (see connect); stop ends the attempts.
	connected chan struct{}
	// connecting is closed when connect has returned.
	connecting chan struct{}
	stop       context.CancelFunc
}

// New builds the graph. It starts nothing: the caller serves API.Handler()
// and/or starts a worker.
func New(ctx context.Context, o Options) (*Stack, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.TaskQueue == "" {
		o.TaskQueue = workflows.TaskQueue
	}
	if o.Sweeper == (workflows.SweeperInput{}) {
		o.Sweeper = workflows.DefaultSweeper
	}
	if o.Migrated == nil {
		done := make(chan struct{})
		close(done)
		o.Migrated = done
	}
	s := &Stack{Pool: o.Pool, Temporal: o.Temporal, TaskQueue: o.TaskQueue, log: o.Log, migrated: o.Migrated, sweeper: o.Sweeper,
		connected: make(chan struct{})}
	if s.Temporal == nil {
		tc, err := dial(o.Config, o.Log)
		if err != nil {
			return nil, err
		}
		s.Temporal, s.ownsTemporal = tc, true
	}
	cfg := o.Config
	s.Apps = applications.NewStore(o.Pool)
	s.Connectors = connectors.NewStore(o.Pool, cfg.Keyring)
	s.Zoom = zoom.New(zoom.Config{OAuthURL: cfg.ZoomOAuthURL, APIURL: cfg.ZoomAPIURL, Now: o.Now})
	eventStore := events.NewStore(o.Pool, outbox.Writer{Grace: o.OutboxGrace})
	s.Outbox = outbox.NewStore(o.Pool)
	s.Webhooks = webhooks.NewStore(o.Pool, cfg.Keyring, nil, o.Now)
	s.Grants = grants.NewService(grants.Deps{Pool: o.Pool, Vault: cfg.Keyring, Zoom: s.Zoom, Connectors: s.Connectors,
		Apps: s.Apps, Calendars: eventStore, PublicURL: cfg.PublicURL, Now: o.Now, Log: o.Log})
	s.Events = events.NewService(eventStore, s.Grants)
	schedStore := scheduler.NewStore(o.Pool, outbox.Writer{Grace: o.OutboxGrace}, o.BookingSettleAfter)
	s.Scheduler = scheduler.NewService(schedStore, s.Events, o.Now)
	// One handoff for both ends: when this process runs the worker too, the
	// API answers a create as soon as its row is written (see workflows.Handoff).
	handoff := workflows.NewHandoff()
	s.Activities = &workflows.Activities{Events: eventStore, Meetings: eventStore, Tokens: s.Grants.Tokens, Grants: s.Grants.Tokens,
		Zoom: s.Zoom, Outbox: s.Outbox, Bookings: schedStore, Webhooks: s.Webhooks, Temporal: s.Temporal, Handoff: handoff, Now: o.Now, Log: o.Log}
	s.Workflows = &workflows.Service{Temporal: s.Temporal, TaskQueue: o.TaskQueue, Events: s.Events, Keys: eventStore,
		Outbox: s.Outbox, Log: o.Log, Handoff: handoff, Connected: s.temporalConnected}
	s.Bookings = &workflows.Scheduling{Service: s.Workflows, Bookings: s.Scheduler}
	s.API = api.New(api.Deps{Log: o.Log, Auth: s.Apps, Applications: s.Apps, Connectors: s.Connectors, Grants: s.Grants,
		Calendars: s.Events, Events: s.Workflows, Scheduler: s.Scheduler, Bookings: s.Bookings, Webhooks: s.Webhooks, DB: o.Pool, Temporal: temporalHealth{s}, SchemaReady: s.schemaReady,
		PublicURL: cfg.PublicURL, SchedulerPages: pages{s.Scheduler}, SchedulerBundleURL: cfg.SchedulerBundleURL, WebElementsDir: cfg.WebElementsDir})
	cctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stop = stop
	s.connecting = make(chan struct{})
	go func() {
		defer close(s.connecting)
		s.connect(cctx)
	}()
	return s, nil
}

// connect reaches the Temporal server once, retrying until it answers,
// before anything else uses the client. The SDK's client learns the
// server's capabilities on its first call and reads them unguarded when it
// starts a workflow: first calls made side by side (the worker starting
// while a request starts a workflow) race. So one call goes first; the
// worker, workflow starts and the readiness probe wait for it.
func (s *Stack) connect(ctx context.Context) {
	// Tried every few seconds at most: until it answers, writes answer 503.
	if s.retry(ctx, "reach Temporal", 5*time.Second, func(ctx context.Context) error {
		_, err := s.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{})
		return err
	}) {
		close(s.connected)
	}
}

func (s *Stack) temporalConnected() bool { return closed(s.connected) }

func (s *Stack) schemaReady() bool { return closed(s.migrated) }

// closed reports whether ch is closed (a nil channel never is).
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// temporalHealth is the readiness probe's view of Temporal.
type temporalHealth struct{ s *Stack }

// Ping waits (within ctx, the probe's bound) for the first contact before
// checking: a process that has just started is not reported unready for it.
func (t temporalHealth) Ping(ctx context.Context) error {
	select {
	case <-t.s.connected:
	case <-ctx.Done():
		return errors.New("temporal not reached yet")
	}
	_, err := t.s.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{})
	return err
}

// dial connects to Temporal; the tracing interceptor carries a request's
// trace into its workflow and activities, through Temporal's headers.
func dial(cfg config.Config, log *slog.Logger) (client.Client, error) {
	tracing, err := temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{})
	if err != nil {
		return nil, err
	}
	// Lazy: a Temporal that is down at start (or restarting) is connected
	// to when it answers; until then workflow starts answer 503.
	tc, err := client.NewLazyClient(client.Options{HostPort: cfg.TemporalAddress, Namespace: cfg.TemporalNamespace,
		Logger: tlog.NewStructuredLogger(log.With("component", "temporal")), Interceptors: []interceptor.ClientInterceptor{tracing}})
	if err != nil {
		return nil, fmt.Errorf("TEMPORAL_ADDRESS %s (namespace %s): %w", cfg.TemporalAddress, cfg.TemporalNamespace, err)
	}
	return tc, nil
}

// NewWorker returns a worker for the task queue with everything registered,
// not started; c is its connection (nil: the stack's). A new process would
// have a connection of its own, which is what tests of restarts pass.
func (s *Stack) NewWorker(c client.Client) worker.Worker {
	if c == nil {
		c = s.Temporal
	}
	return workflows.NewWorker(c, s.TaskQueue, s.Activities)
}

// Worker is the worker StartWorker runs.
type Worker struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	w      worker.Worker
}

// Stop stops the worker (or its attempts to start) and waits for it.
func (w *Worker) Stop() {
	w.cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.w != nil {
		w.w.Stop()
		w.w = nil
	}
}

// StartWorker runs a worker in the background: once the schema is up to
// date, and as soon as Temporal takes it (retrying while Temporal is down,
// so a worker started before Temporal comes up joins it when it does).
// It then keeps the durable work running: the grant-health schedule, and
// the sweeper (checked every minute, so one that ended is started again).
// Stop the returned worker when done.
func (s *Stack) StartWorker(ctx context.Context) (*Worker, error) {
	ctx, cancel := context.WithCancel(ctx)
	r := &Worker{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for _, ready := range []<-chan struct{}{s.migrated, s.connected} {
			select {
			case <-ready:
			case <-ctx.Done():
				return
			}
		}
		if !s.retry(ctx, "start the Temporal worker", time.Minute, func(context.Context) error {
			w := s.NewWorker(nil)
			if err := w.Start(); err != nil {
				return err
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			r.w = w
			return nil
		}) {
			return
		}
		s.log.Info("temporal worker started", "task_queue", s.TaskQueue)
		// Committed notifications wake their destination's deliverer at once.
		waker := workflows.NewWaker(s.Temporal, s.TaskQueue, s.log)
		var wg sync.WaitGroup
		defer wg.Wait() // the listener's connection is closed before Stop returns
		wg.Go(func() { waker.Run(ctx) })
		wg.Go(func() { s.Webhooks.Listen(ctx, s.log, waker.Wake) })
		go s.retry(ctx, "ensure the grant-health schedule", time.Minute, func(ctx context.Context) error {
			_, err := workflows.EnsureGrantHealthSchedule(ctx, s.Temporal, s.TaskQueue)
			return err
		})
		s.keepSweeper(ctx)
	}()
	return r, nil
}

// keepSweeper makes sure the sweeper runs, now and every minute.
func (s *Stack) keepSweeper(ctx context.Context) {
	for {
		if !s.retry(ctx, "start the outbox sweeper", time.Minute, func(ctx context.Context) error {
			return workflows.EnsureSweeper(ctx, s.Temporal, s.TaskQueue, s.sweeper)
		}) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Minute):
		}
	}
}

// retry runs fn until it succeeds (true) or ctx ends (false), with backoff
// from a second to maxWait, each try bounded to 30 seconds.
func (s *Stack) retry(ctx context.Context, what string, maxWait time.Duration, fn func(context.Context) error) bool {
	wait := time.Second
	for {
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := fn(actx)
		cancel()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false // stopping: nothing to report
		}
		s.log.Warn("could not "+what+" yet; retrying", "err", err, "retry_in", wait.String())
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
		wait = min(2*wait, maxWait)
	}
}

// Close releases what New opened (the Temporal connection it dialled),
// once its first contact with Temporal has given up: nothing of the stack
// runs (or logs) after Close.
func (s *Stack) Close() {
	s.stop()
	<-s.connecting
	if s.ownsTemporal {
		s.Temporal.Close()
	}
}
