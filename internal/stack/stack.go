// Package stack builds confhub's service graph from its configuration: the
// stores, the feature services, the Temporal client, the HTTP API and the
// worker. serve, dev, bench and the tests all build it here, so they run the
// same wiring; only what differs between them (a shared Temporal client, a
// test clock, a task queue of their own) is an option.
package stack

import (
	"context"
	"fmt"
	"log/slog"
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
	"github.com/confhub/confhub/grants"
	"github.com/confhub/confhub/internal/applications"
	"github.com/confhub/confhub/internal/config"
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
	Workflows  *workflows.Service
	Activities *workflows.Activities
	API        *api.Server

	log          *slog.Logger
	ownsTemporal bool
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
	s := &Stack{Pool: o.Pool, Temporal: o.Temporal, TaskQueue: o.TaskQueue, log: o.Log}
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
	eventStore := events.NewStore(o.Pool)
	s.Grants = grants.NewService(grants.Deps{Pool: o.Pool, Vault: cfg.Keyring, Zoom: s.Zoom, Connectors: s.Connectors,
		Apps: s.Apps, Calendars: eventStore, PublicURL: cfg.PublicURL, Now: o.Now, Log: o.Log})
	s.Events = events.NewService(eventStore, s.Grants)
	// One handoff for both ends: when this process runs the worker too, the
	// API answers a create as soon as its row is written (see workflows.Handoff).
	handoff := workflows.NewHandoff()
	s.Activities = &workflows.Activities{Events: eventStore, Meetings: eventStore, Tokens: s.Grants.Tokens, Grants: s.Grants.Tokens,
		Zoom: s.Zoom, Handoff: handoff, Now: o.Now, Log: o.Log}
	s.Workflows = &workflows.Service{Temporal: s.Temporal, TaskQueue: o.TaskQueue, Events: s.Events, Keys: eventStore,
		Orphans: eventStore, Log: o.Log, Handoff: handoff}
	s.API = api.New(api.Deps{Log: o.Log, Auth: s.Apps, Applications: s.Apps, Connectors: s.Connectors, Grants: s.Grants,
		Calendars: s.Events, Events: s.Workflows, DB: o.Pool, PublicURL: cfg.PublicURL})
	return s, nil
}

// dial connects to Temporal; the tracing interceptor carries a request's
// trace into its workflow and activities, through Temporal's headers.
func dial(cfg config.Config, log *slog.Logger) (client.Client, error) {
	tracing, err := temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{})
	if err != nil {
		return nil, err
	}
	tc, err := client.Dial(client.Options{HostPort: cfg.TemporalAddress, Namespace: cfg.TemporalNamespace,
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

// StartWorker starts a worker, and makes sure in the background that the
// durable schedules it serves exist (retrying until ctx ends): a Temporal
// server that is slow to serve schedules, as a freshly restarted one is,
// must not keep the worker from its workflows. Stop the returned worker when
// done.
func (s *Stack) StartWorker(ctx context.Context) (worker.Worker, error) {
	w := s.NewWorker(nil)
	if err := w.Start(); err != nil {
		return nil, fmt.Errorf("temporal worker: %w", err)
	}
	s.log.Info("temporal worker started", "task_queue", s.TaskQueue)
	go s.ensureSchedules(ctx)
	return w, nil
}

func (s *Stack) ensureSchedules(ctx context.Context) {
	wait := time.Second
	for {
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := workflows.EnsureGrantHealthSchedule(actx, s.Temporal, s.TaskQueue)
		cancel()
		if err == nil {
			s.log.Info("grant-health schedule ensured", "schedule_id", workflows.GrantHealthScheduleID(s.TaskQueue))
			return
		}
		s.log.Warn("could not ensure the grant-health schedule yet; retrying", "err", err, "retry_in", wait.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Minute)
	}
}

// Close releases what New opened (the Temporal connection it dialled).
func (s *Stack) Close() {
	if s.ownsTemporal {
		s.Temporal.Close()
	}
}
