// Command recordhistories records the workflow histories that the replay
// test (workflows/replay_test.go) runs through the current code. Run it
// after a deliberate change to a workflow, from the repository root:
//
//	go run ./workflows/internal/recordhistories
//
// It starts an in-process Temporal server, runs every workflow through each
// of its branches with the real workflow code and activities whose
// dependencies (stores, tokens, Zoom) are in-memory fakes scripted per
// scenario, and writes each history to workflows/testdata/histories. The
// histories only depend on the workflow code and the activities' results,
// which is what replay checks. Commit the new files together with the
// change, and keep the old ones unless no workflow of that shape can still
// be running anywhere.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	commonpb "go.temporal.io/api/common/v1"
	enums "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/temporal"
	"go.temporal.io/server/temporaltest"
	"google.golang.org/grpc"

	"github.com/confhub/confhub/connectors/zoom"
	"github.com/confhub/confhub/events"
	"github.com/confhub/confhub/grants"
	"github.com/confhub/confhub/internal/apperr"
	"github.com/confhub/confhub/internal/await"
	"github.com/confhub/confhub/internal/outbox"
	"github.com/confhub/confhub/internal/webhooks"
	"github.com/confhub/confhub/workflows"
)

func main() {
	out := flag.String("out", "workflows/testdata/histories", "where the histories are written")
	only := flag.String("only", "", "record just this scenario")
	flag.Parse()
	if err := run(*out, *only); err != nil {
		fmt.Fprintln(os.Stderr, "recordhistories:", err)
		os.Exit(1)
	}
}

// scenario is one workflow run to record.
type scenario struct {
	name  string
	setup func(f *fakes) // scripts the fakes
	start func(ctx context.Context, c client.Client, opts client.StartWorkflowOptions, f *fakes) (client.WorkflowRun, error)
	// drive, when set, acts on the running workflow (signals it, or ends
	// one that never ends by itself) before its end is awaited.
	drive func(ctx context.Context, c client.Client, run client.WorkflowRun, f *fakes) error
	// skipTime: the server skips the workflow's timers whenever it waits
	// on nothing else, so that a wait of minutes is recorded in moments.
	// The history is the one real time would give, plus events a worker
	// ignores (WorkflowExecutionTimeSkippingTransitioned).
	skipTime bool
	// timeout bounds the run (default 2 minutes).
	timeout time.Duration
}

// skipTimeKey marks the context of a start whose workflow skips time.
type skipTimeKey struct{}

// enableTimeSkipping asks the server to skip the time of the workflows
// started with a context marked by skipTimeKey. The SDK cannot ask for it
// (the server's time skipping is newer than SDK v1.50), so it is added to
// the start request on its way out.
func enableTimeSkipping(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if ctx.Value(skipTimeKey{}) != nil {
		switch r := req.(type) {
		case *workflowservice.StartWorkflowExecutionRequest:
			r.TimeSkippingConfig = &commonpb.TimeSkippingConfig{Enabled: true}
		case *workflowservice.SignalWithStartWorkflowExecutionRequest:
			r.TimeSkippingConfig = &commonpb.TimeSkippingConfig{Enabled: true}
		}
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

func run(out, only string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	quiet := slog.New(slog.DiscardHandler)
	ts := temporaltest.NewServer(temporaltest.WithBaseServerOptions(temporal.WithDynamicConfigClient(dynamicconfig.StaticClient{
		// temporaltest's own setting: this client replaces temporaltest's.
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): []dynamicconfig.ConstrainedValue{{Value: true}},
		dynamicconfig.WorkflowTimeSkippingEnabled.Key():             []dynamicconfig.ConstrainedValue{{Value: true}},
	})))
	defer ts.Stop()
	c := ts.NewClientWithOptions(client.Options{Logger: tlog.NewStructuredLogger(quiet),
		ConnectionOptions: client.ConnectionOptions{DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(enableTimeSkipping)}}})
	defer c.Close()
	ctx := context.Background()
	for _, sc := range scenarios() {
		if only != "" && sc.name != only {
			continue
		}
		f := newFakes()
		if sc.setup != nil {
			sc.setup(f)
		}
		queue := "record-" + sc.name
		w := workflows.NewWorker(c, queue, &workflows.Activities{Events: f, Meetings: f, Tokens: f, Grants: f, Zoom: f, Bookings: f,
			Outbox: f, Webhooks: f, Temporal: c, Now: func() time.Time { return f.now }, Log: quiet})
		if err := w.Start(); err != nil {
			return err
		}
		timeout := sc.timeout
		if timeout == 0 {
			timeout = 2 * time.Minute
		}
		opts := client.StartWorkflowOptions{ID: sc.name + "-" + uuid.NewString(), TaskQueue: queue, EnableEagerStart: true,
			WorkflowExecutionTimeout: timeout, WorkflowTaskTimeout: 3 * time.Second}
		sctx := ctx
		if sc.skipTime {
			sctx = context.WithValue(ctx, skipTimeKey{}, true)
		}
		began := time.Now()
		run, err := sc.start(sctx, c, opts, f)
		if err == nil && sc.drive != nil {
			err = sc.drive(ctx, c, run, f)
		}
		if err != nil {
			w.Stop()
			return fmt.Errorf("%s: %w", sc.name, err)
		}
		werr := run.Get(ctx, nil)
		h, err := history(ctx, c, run.GetID(), run.GetRunID())
		if err != nil {
			w.Stop()
			return fmt.Errorf("%s: %w", sc.name, err)
		}
		// Deletions the workflow handed off run to their end before the
		// worker stops, so that nothing of a scenario is left running.
		for _, e := range h.Events {
			if a := e.GetStartChildWorkflowExecutionInitiatedEventAttributes(); a != nil {
				wctx, cancel := context.WithTimeout(ctx, time.Minute)
				_ = c.GetWorkflow(wctx, a.WorkflowId, "").Get(wctx, nil)
				cancel()
			}
		}
		w.Stop()
		b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(h)
		if err != nil {
			return err
		}
		file := filepath.Join(out, sc.name+".json")
		if err := os.WriteFile(file, append(b, '\n'), 0o644); err != nil {
			return err
		}
		outcome := "completed"
		if werr != nil {
			outcome = "failed: " + werr.Error()
		}
		fmt.Printf("%-32s %3d events  %s (in %v)\n", sc.name, len(h.Events), outcome, time.Since(began).Round(time.Second))
	}
	return nil
}

func history(ctx context.Context, c client.Client, id, runID string) (*historypb.History, error) {
	it := c.GetWorkflowHistory(ctx, id, runID, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, err
		}
		h.Events = append(h.Events, e)
	}
	return h, nil
}

var (
	confGrant  = uuid.MustParse("11111111-1111-4111-8111-111111111111")
	otherGrant = uuid.MustParse("22222222-2222-4222-8222-222222222222")
	app        = uuid.MustParse("33333333-3333-4333-8333-333333333333")
	calGrant   = uuid.MustParse("44444444-4444-4444-8444-444444444444")
	calendar   = uuid.MustParse("55555555-5555-4555-8555-555555555555")
	webhook    = uuid.MustParse("66666666-6666-4666-8666-666666666666")
)

func newEvent(f *fakes) events.Event {
	start := f.now.Add(48 * time.Hour).Truncate(time.Hour)
	return events.Event{ID: uuid.New(), ApplicationID: app, GrantID: calGrant, CalendarID: calendar, Title: "Planning",
		Description: "Agenda", Busy: true, Status: "confirmed", Visibility: "default", Participants: []events.Participant{},
		When:     events.When{Object: "timespan", StartTime: start.Unix(), EndTime: start.Add(30 * time.Minute).Unix()},
		StartsAt: start, EndsAt: start.Add(30 * time.Minute)}
}

func autocreate(grant uuid.UUID) *events.Conferencing {
	return &events.Conferencing{Provider: events.ZoomProvider, Autocreate: &events.Autocreate{ConfGrantID: grant.String()}}
}

// storedWithMeeting puts an event with a meeting hosted by confGrant in the store.
func storedWithMeeting(f *fakes) events.Event {
	ev := newEvent(f)
	m := f.addMeeting(confGrant)
	g, id := confGrant, m
	ev.Conferencing = &events.Conferencing{Provider: events.ZoomProvider, Details: &events.Details{URL: "https://zoom.example/j/1"},
		Autocreate: &events.Autocreate{ConfGrantID: confGrant.String()}}
	ev.ConfGrantID, ev.ConfMeetingID = &g, &id
	ev.Version = 1
	f.events[ev.ID] = ev
	return ev
}

func createEvent(ev events.Event, grant uuid.UUID) func(context.Context, client.Client, client.StartWorkflowOptions, *fakes) (client.WorkflowRun, error) {
	return func(ctx context.Context, c client.Client, o client.StartWorkflowOptions, f *fakes) (client.WorkflowRun, error) {
		return c.ExecuteWorkflow(ctx, o, workflows.CreateEvent, workflows.CreateEventInput{V: workflows.ContractVersion,
			Event: workflows.RecordOf(ev), ConfGrantID: grant})
	}
}

func updateEvent(body string, grant uuid.UUID) func(context.Context, client.Client, client.StartWorkflowOptions, *fakes) (client.WorkflowRun, error) {
	return func(ctx context.Context, c client.Client, o client.StartWorkflowOptions, f *fakes) (client.WorkflowRun, error) {
		start := f.now.Add(72 * time.Hour).Truncate(time.Hour)
		body := strings.NewReplacer("{start}", strconv.FormatInt(start.Unix(), 10), "{end}", strconv.FormatInt(start.Add(time.Hour).Unix(), 10)).Replace(body)
		var in events.EventInput
		if err := json.Unmarshal([]byte(body), &in); err != nil {
			return nil, err
		}
		p, err := events.ParsePatch(in)
		if err != nil {
			return nil, err
		}
		return c.ExecuteWorkflow(ctx, o, workflows.UpdateEvent, workflows.UpdateEventInput{V: workflows.ContractVersion,
			App: app, Grant: calGrant, EventID: f.target, Patch: workflows.PatchOf(p), ConfGrantID: grant})
	}
}

// followMeeting starts FollowMeeting with a notice about the target's
// meeting: moved by an hour and renamed, or deleted.
func followMeeting(deleted bool) func(context.Context, client.Client, client.StartWorkflowOptions, *fakes) (client.WorkflowRun, error) {
	return func(ctx context.Context, c client.Client, o client.StartWorkflowOptions, f *fakes) (client.WorkflowRun, error) {
		ev := f.events[f.target]
		n := workflows.MeetingNoticeRecord{Deleted: deleted, MeetingID: *ev.ConfMeetingID}
		if !deleted {
			start, was := ev.StartsAt.Add(time.Hour), ev.StartsAt
			topic, old := "Moved", ev.Title
			n.New = workflows.MeetingFieldsRecord{Topic: &topic, StartTime: &start}
			n.Old = workflows.MeetingFieldsRecord{Topic: &old, StartTime: &was}
		}
		return c.ExecuteWorkflow(ctx, o, workflows.FollowMeeting, workflows.MeetingNoticeInput{V: workflows.ContractVersion,
			App: app, Grant: calGrant, EventID: ev.ID, Notice: n})
	}
}

// createWithZoom starts a create with a Zoom meeting hosted by confGrant.
func createWithZoom(ctx context.Context, c client.Client, o client.StartWorkflowOptions, f *fakes) (client.WorkflowRun, error) {
	ev := newEvent(f)
	ev.Conferencing = autocreate(confGrant)
	return createEvent(ev, confGrant)(ctx, c, o, f)
}

// bookedWithZoom starts the create of a booking's event with a Zoom meeting.
func bookedWithZoom(ctx context.Context, c client.Client, o client.StartWorkflowOptions, f *fakes) (client.WorkflowRun, error) {
	ev := newEvent(f)
	ev.Conferencing = autocreate(confGrant)
	return c.ExecuteWorkflow(ctx, o, workflows.CreateEvent, workflows.CreateEventInput{V: workflows.ContractVersion,
		Event: workflows.RecordOf(ev), ConfGrantID: confGrant, Booking: &workflows.BookingRef{ID: uuid.New()}})
}

func scenarios() []scenario {
	var s []scenario
	add := func(name string, setup func(*fakes), start func(context.Context, client.Client, client.StartWorkflowOptions, *fakes) (client.WorkflowRun, error)) {
		s = append(s, scenario{name: name, setup: setup, start: start})
	}
	withTarget := func(extra func(*fakes)) func(*fakes) {
		return func(f *fakes) {
			f.target = storedWithMeeting(f).ID
			if extra != nil {
				extra(f)
			}
		}
	}
	// CreateEvent.
	add("create-autocreate", nil, createWithZoom)
	add("create-plain", nil, func(ctx context.Context, c client.Client, o client.StartWorkflowOptions, f *fakes) (client.WorkflowRun, error) {
		return createEvent(newEvent(f), uuid.Nil)(ctx, c, o, f)
	})
	add("create-zoom-refused", func(f *fakes) {
		f.createErr = &zoom.Error{Op: "create_meeting", HTTPStatus: 400, Code: zoom.CodeNoPermission, Message: "No permission."}
	},
		createWithZoom)
	add("create-compensated", func(f *fakes) { f.rowErr = errors.New("refused by the recorder") },
		createWithZoom)
	add("create-compensation-deferred", func(f *fakes) {
		f.rowErr = sqlRefusal("P0001")
		f.compensationFails = true
	}, createWithZoom)
	add("create-row-unknown", func(f *fakes) { f.rowErr = errors.New("connection refused (the recorder)") },
		createWithZoom)
	add("create-row-refused", func(f *fakes) { f.rowErr = sqlRefusal("P0001") },
		createWithZoom)
	// A Scheduler booking's event: made, or (Zoom refusing) its booking released.
	add("create-booking", nil, bookedWithZoom)
	add("create-booking-released", func(f *fakes) {
		f.createErr = &zoom.Error{Op: "create_meeting", HTTPStatus: 400, Code: zoom.CodeNoPermission, Message: "No permission."}
	}, bookedWithZoom)
	// UpdateEvent, each branch.
	add("update-no-zoom-change", withTarget(nil), updateEvent(`{"location":"Room 4"}`, uuid.Nil))
	add("update-sync", withTarget(nil), updateEvent(`{"title":"Moved","when":{"start_time":{start},"end_time":{end}}}`, uuid.Nil))
	add("update-sync-refused", withTarget(func(f *fakes) {
		f.updateErr = &zoom.Error{Op: "update_meeting", HTTPStatus: 400, Code: zoom.CodeMissingScope, Message: "Invalid access token, does not contain scopes."}
	}), updateEvent(`{"title":"Never"}`, uuid.Nil))
	add("update-sync-undone", withTarget(func(f *fakes) { f.rowErr = errors.New("refused by the recorder") }), updateEvent(`{"title":"Boom"}`, uuid.Nil))
	// Zoom's answers to the PATCH lost (it took effect): read back, it stands.
	add("update-sync-unknown-stands", withTarget(func(f *fakes) { f.updateErr, f.updateApplies = lostAnswer, true }),
		updateEvent(`{"title":"Applied"}`, uuid.Nil))
	// Lost, and the meeting can be neither read nor put back: repaired.
	add("update-sync-unknown-repaired", withTarget(func(f *fakes) { f.updateErr, f.getErr = lostAnswer, lostAnswer }),
		updateEvent(`{"title":"Unknown"}`, uuid.Nil))
	add("update-same-host", withTarget(nil),
		updateEvent(`{"conferencing":{"provider":"Zoom Meeting","autocreate":{"conf_grant_id":"`+confGrant.String()+`","conf_settings":{"password":"new1"}}}}`, confGrant))
	add("update-new-host", withTarget(nil),
		updateEvent(`{"conferencing":{"provider":"Zoom Meeting","autocreate":{"conf_grant_id":"`+otherGrant.String()+`"}}}`, otherGrant))
	add("update-new-host-undone", withTarget(func(f *fakes) { f.rowErr = errors.New("refused by the recorder") }),
		updateEvent(`{"conferencing":{"provider":"Zoom Meeting","autocreate":{"conf_grant_id":"`+otherGrant.String()+`"}}}`, otherGrant))
	add("update-first-meeting", func(f *fakes) {
		ev := newEvent(f)
		ev.Version = 1
		f.events[ev.ID] = ev
		f.target = ev.ID
	}, updateEvent(`{"conferencing":{"provider":"Zoom Meeting","autocreate":{"conf_grant_id":"`+confGrant.String()+`"}}}`, confGrant))
	add("update-manual-details", withTarget(nil), updateEvent(`{"conferencing":{"provider":"Zoom Meeting","details":{"url":"https://zoom.example/j/9"}}}`, uuid.Nil))
	add("update-remove-conference", withTarget(nil), updateEvent(`{"conferencing":{}}`, uuid.Nil))
	add("update-missing-event", func(f *fakes) { f.target = uuid.New() }, updateEvent(`{"title":"x"}`, uuid.Nil))
	// DeleteMeeting.
	add("delete-meeting", nil, func(ctx context.Context, c client.Client, o client.StartWorkflowOptions, f *fakes) (client.WorkflowRun, error) {
		return c.ExecuteWorkflow(ctx, o, workflows.DeleteMeeting, workflows.MeetingRef{App: app, ConfGrant: confGrant,
			MeetingID: f.addMeeting(confGrant), EventID: uuid.New()})
	})
	add("delete-meeting-orphaned", func(f *fakes) {
		f.deleteErr = &zoom.Error{Op: "delete_meeting", HTTPStatus: 400, Code: zoom.CodeMeetingStarted, Message: "in progress"}
	},
		func(ctx context.Context, c client.Client, o client.StartWorkflowOptions, f *fakes) (client.WorkflowRun, error) {
			return c.ExecuteWorkflow(ctx, o, workflows.DeleteMeeting, workflows.MeetingRef{App: app, ConfGrant: confGrant,
				MeetingID: f.addMeeting(confGrant), EventID: uuid.New()})
		})
	add("delete-meeting-retried", func(f *fakes) {
		f.deleteErr = &zoom.Error{Op: "delete_meeting", HTTPStatus: 503, Message: "unavailable"}
		f.deleteFailures = 2
	}, func(ctx context.Context, c client.Client, o client.StartWorkflowOptions, f *fakes) (client.WorkflowRun, error) {
		return c.ExecuteWorkflow(ctx, o, workflows.DeleteMeeting, workflows.MeetingRef{App: app, ConfGrant: confGrant,
			MeetingID: f.addMeeting(confGrant), EventID: uuid.New()})
	})
	// RepairMeeting.
	add("repair-meeting", withTarget(nil), func(ctx context.Context, c client.Client, o client.StartWorkflowOptions, f *fakes) (client.WorkflowRun, error) {
		ev := f.events[f.target]
		return c.ExecuteWorkflow(ctx, o, workflows.RepairMeeting, workflows.RepairInput{V: workflows.ContractVersion, App: app,
			Grant: calGrant, EventID: ev.ID, ConfGrant: *ev.ConfGrantID, MeetingID: *ev.ConfMeetingID})
	})
	// FollowMeeting: a meeting moved (or deleted) in Zoom, applied to its event.
	add("follow-meeting-moved", withTarget(nil), followMeeting(false))
	add("follow-meeting-deleted", withTarget(nil), followMeeting(true))
	// GrantHealth.
	add("grant-health", func(f *fakes) { f.idleBatches = 2 }, func(ctx context.Context, c client.Client, o client.StartWorkflowOptions, f *fakes) (client.WorkflowRun, error) {
		return c.ExecuteWorkflow(ctx, o, workflows.GrantHealth, workflows.GrantHealthInput{V: workflows.ContractVersion,
			IdleAfter: 7 * 24 * time.Hour, BatchSize: 2, MaxBatches: 5})
	})
	// WebhookDeliveries, started as the listener starts it: signal-with-start
	// (so the first batch is always followed by another, for the wake).
	s = append(s, scenario{name: "webhook-deliver-idle", skipTime: true, timeout: webhookTimeout,
		setup: func(f *fakes) { f.batches = []webhooks.BatchResult{{Delivered: 3}} }, start: wakeWebhook})
	// The receiver fails: the destination backs off, the workflow sleeps to
	// its retry time, the next batch goes through.
	s = append(s, scenario{name: "webhook-deliver-backoff", skipTime: true, timeout: webhookTimeout,
		setup: func(f *fakes) {
			f.batches = []webhooks.BatchResult{{Failed: 1, RetryAt: f.now.Add(time.Minute)}, {Delivered: 1}}
		}, start: wakeWebhook})
	// A new notification's wake arrives while a batch is out, and the batch
	// backs off: the wake does not cut the backoff short (it is drained
	// after the batch), the workflow still sleeps until the retry time.
	s = append(s, scenario{name: "webhook-deliver-backoff-woken", skipTime: true, timeout: webhookTimeout,
		setup: func(f *fakes) {
			f.batches = []webhooks.BatchResult{{Failed: 1, RetryAt: f.now.Add(time.Minute)}, {Delivered: 2}}
			f.holdBatch = 1
		}, start: wakeWebhook,
		drive: func(ctx context.Context, c client.Client, run client.WorkflowRun, f *fakes) error {
			select {
			case <-f.inBatch:
			case <-time.After(time.Minute):
				return errors.New("the first batch did not start within a minute")
			}
			defer close(f.release)
			return c.SignalWorkflow(ctx, run.GetID(), run.GetRunID(), workflows.WakeWebhookSignal, nil)
		}})
	// Woken while idle (a new notification): a full batch, more waiting, then
	// the destination is paused.
	s = append(s, scenario{name: "webhook-deliver-woken", timeout: webhookTimeout,
		setup: func(f *fakes) {
			f.batches = []webhooks.BatchResult{{Delivered: 1}, {}, {Delivered: 100, More: true}, {Stop: true}}
		}, start: wakeWebhook,
		drive: func(ctx context.Context, c client.Client, run client.WorkflowRun, f *fakes) error {
			if err := awaitEvent(ctx, c, run, enums.EVENT_TYPE_TIMER_STARTED, 1); err != nil {
				return fmt.Errorf("the idle wait: %w", err)
			}
			return c.SignalWorkflow(ctx, run.GetID(), run.GetRunID(), workflows.WakeWebhookSignal, nil)
		}})
	// Sweeper: a sweep that wakes a stalled destination's deliverer, and the
	// next. The sweeper never ends by itself: once the second sweep sleeps
	// it is terminated, which replay takes as the history's end.
	s = append(s, scenario{name: "sweeper-wakes-webhooks",
		setup: func(f *fakes) {
			f.stalled = []uuid.UUID{webhook}
			f.batches = []webhooks.BatchResult{{Stop: true}} // the woken deliverer's
		},
		start: func(ctx context.Context, c client.Client, o client.StartWorkflowOptions, f *fakes) (client.WorkflowRun, error) {
			return c.ExecuteWorkflow(ctx, o, workflows.Sweeper, workflows.DefaultSweeper)
		},
		drive: func(ctx context.Context, c client.Client, run client.WorkflowRun, f *fakes) error {
			if err := awaitEvent(ctx, c, run, enums.EVENT_TYPE_TIMER_STARTED, 2); err != nil {
				return fmt.Errorf("the sweeps: %w", err)
			}
			// The deliverer it woke ends on its own (Stop) before the worker goes.
			wctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			if err := c.GetWorkflow(wctx, workflows.WebhookID(webhook), "").Get(wctx, nil); err != nil {
				return fmt.Errorf("the woken deliverer: %w", err)
			}
			return c.TerminateWorkflow(ctx, run.GetID(), run.GetRunID(), "recordhistories: two sweeps recorded")
		}})
	return s
}

// webhookTimeout outlasts the deliverer's idle wait, should the server not
// skip it.
const webhookTimeout = 15 * time.Minute

// wakeWebhook starts a deliverer as workflows.WakeWebhook does, with the
// recorder's options.
func wakeWebhook(ctx context.Context, c client.Client, o client.StartWorkflowOptions, f *fakes) (client.WorkflowRun, error) {
	return c.SignalWithStartWorkflow(ctx, o.ID, workflows.WakeWebhookSignal, nil, o, workflows.WebhookDeliveries,
		workflows.WebhookInput{V: workflows.ContractVersion, WebhookID: webhook})
}

// awaitEvent waits until the run's history has n events of the type.
func awaitEvent(ctx context.Context, c client.Client, run client.WorkflowRun, typ enums.EventType, n int) error {
	var err error
	seen := await.Until(time.Minute, func() bool {
		var h *historypb.History
		if h, err = history(ctx, c, run.GetID(), run.GetRunID()); err != nil {
			return true
		}
		count := 0
		for _, e := range h.Events {
			if e.GetEventType() == typ {
				count++
			}
		}
		return count >= n
	})
	if err == nil && !seen {
		err = fmt.Errorf("not %d %s within a minute", n, typ)
	}
	return err
}

// fakes stand in for the stores, the token source and Zoom, scripted per scenario.
// Release frees a booking (nothing to keep in the recorder).
func (f *fakes) Release(context.Context, uuid.UUID, string) error { return nil }

// SetTimes moves a booking (nothing to keep in the recorder).
func (f *fakes) SetTimes(context.Context, uuid.UUID, time.Time, time.Time) error { return nil }

type fakes struct {
	mu             sync.Mutex
	now            time.Time
	events         map[uuid.UUID]events.Event
	meetings       map[int64]uuid.UUID // meeting id -> host grant
	nextMeeting    int64
	target         uuid.UUID // the event an update applies to
	rowErr         error     // every event write fails with it
	createErr      error
	updateErr      error
	updateApplies  bool // an update failing with updateErr takes effect all the same (its answer was lost)
	getErr         error
	applied        map[int64]zoom.MeetingRequest
	deleteErr      error
	deleteFailures int // how many deletes fail with deleteErr (0: all)
	deletes        int
	// compensationFails: deletes made by a workflow's compensation (a local
	// activity) fail, the durable deletion's (a regular activity) succeed.
	compensationFails bool
	idleBatches       int
	// batches are the results of the deliverers' batches, in turn; once
	// they are spent a batch finds nothing to deliver.
	batches []webhooks.BatchResult
	// holdBatch: that batch (1 for the first) tells inBatch it has begun
	// and ends only once release is closed.
	holdBatch        int
	inBatch, release chan struct{}
	deliverCalls     int
	stalled          []uuid.UUID // the destinations the sweeper finds stalled
}

func newFakes() *fakes {
	return &fakes{now: time.Now().UTC().Truncate(time.Second), events: map[uuid.UUID]events.Event{},
		meetings: map[int64]uuid.UUID{}, applied: map[int64]zoom.MeetingRequest{}, nextMeeting: 81234567890,
		inBatch: make(chan struct{}, 1), release: make(chan struct{})}
}

func (f *fakes) addMeeting(host uuid.UUID) int64 {
	f.nextMeeting++
	f.meetings[f.nextMeeting] = host
	return f.nextMeeting
}

func (f *fakes) InsertEvent(_ context.Context, e events.Event, _ string) (events.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rowErr != nil {
		return events.Event{}, f.rowErr
	}
	e.Version, e.CreatedAt, e.UpdatedAt = 1, f.now, f.now
	f.events[e.ID] = e
	return e, nil
}

func (f *fakes) LoadEvent(_ context.Context, _, _, id uuid.UUID) (events.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.events[id]
	if !ok {
		return events.Event{}, apperr.NotFoundf("event not found")
	}
	return e, nil
}

func (f *fakes) ReplaceEvent(_ context.Context, e events.Event, _, _ string) (events.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rowErr != nil {
		return events.Event{}, f.rowErr
	}
	if f.events[e.ID].Version != e.Version {
		return events.Event{}, events.ErrVersion
	}
	e.Version++
	f.events[e.ID] = e
	return e, nil
}

// FollowMeeting applies a meeting event as the store does (events.MeetingNotice.Follow).
func (f *fakes) FollowMeeting(_ context.Context, _, _, id uuid.UUID, n events.MeetingNotice) (events.Followed, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rowErr != nil {
		return events.Followed{}, f.rowErr
	}
	e, ok := f.events[id]
	if !ok {
		return events.Followed{Outcome: events.FollowGone}, nil
	}
	out, changed, conflicts := n.Follow(e)
	if !changed {
		return events.Followed{Outcome: events.FollowUnchanged, Event: e, Conflicts: conflicts}, nil
	}
	out.Version++
	f.events[id] = out
	return events.Followed{Outcome: events.FollowWritten, Event: out, Conflicts: conflicts}, nil
}

func (f *fakes) OpenAttempt(context.Context, events.Attempt) (events.AttemptLog, error) {
	return events.AttemptLog{}, nil
}

func (f *fakes) SettleAttempt(context.Context, string) error { return nil }

func (f *fakes) RecordOrphan(context.Context, events.Orphan) error { return nil }

// The sweeper's side of the attempt log: not recorded here.
func (f *fakes) StaleAttempts(context.Context, time.Duration, int) ([]events.OpenAttempt, error) {
	return nil, nil
}
func (f *fakes) CloseAttempt(context.Context, events.OpenAttempt, string, *int64) (bool, error) {
	return true, nil
}
func (f *fakes) CompensateAttempt(context.Context, events.OpenAttempt, int64) (bool, error) {
	return true, nil
}
func (f *fakes) PostponeAttempt(context.Context, string) error { return nil }
func (f *fakes) MeetingOnEvent(context.Context, uuid.UUID, uuid.UUID, int64) (bool, error) {
	return false, nil
}

func (f *fakes) Do(_ context.Context, _, grant uuid.UUID, fn func(grants.AccessToken) error) error {
	return fn(grants.AccessToken{GrantID: grant, Token: "token-" + grant.String()})
}

func (f *fakes) RefreshIdle(_ context.Context, cutoff time.Time, after *grants.IdleCursor, limit int) (grants.IdleBatch, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.idleBatches--
	b := grants.IdleBatch{Refreshed: limit - 1, Invalidated: 1}
	if f.idleBatches > 0 {
		b.Next = &grants.IdleCursor{At: cutoff.Add(-time.Hour), ID: uuid.New()}
	}
	return b, nil
}

func (f *fakes) meeting(id int64) zoom.Meeting {
	return zoom.Meeting{ID: id, JoinURL: fmt.Sprintf("https://zoom.example/j/%d", id), Password: "pw"}
}

func (f *fakes) CreateMeeting(_ context.Context, token, _ string, _ zoom.MeetingRequest) (zoom.Meeting, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.createErr != nil {
		return zoom.Meeting{}, f.createErr
	}
	return f.meeting(f.addMeeting(uuid.Nil)), nil
}

func (f *fakes) GetMeeting(_ context.Context, _ string, id int64) (zoom.Meeting, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.getErr != nil {
		return zoom.Meeting{}, f.getErr
	}
	m := f.meeting(id)
	if r, ok := f.applied[id]; ok {
		m.Topic, m.Agenda, m.StartTime, m.Duration, m.Timezone = r.Topic, r.Agenda, r.StartTime, r.Duration, r.Timezone
	}
	return m, nil
}

func (f *fakes) UpdateMeeting(_ context.Context, _ string, id int64, req zoom.MeetingRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.updateErr == nil || f.updateApplies {
		f.applied[id] = req
	}
	return f.updateErr
}

// lostAnswer is a Zoom call whose answer never came.
var lostAnswer = &zoom.Error{Op: "update_meeting", Message: "connection reset (the recorder)", MaybeCommitted: true}

// sqlRefusal is PostgreSQL refusing a statement (it answered: nothing was written).
type sqlRefusal string

func (e sqlRefusal) Error() string    { return "SQLSTATE " + string(e) + " (the recorder)" }
func (e sqlRefusal) SQLState() string { return string(e) }

func (f *fakes) DeleteMeeting(ctx context.Context, _ string, id int64, _ zoom.DeleteOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deletes++
	if f.compensationFails && activity.GetInfo(ctx).IsLocalActivity {
		return &zoom.Error{Op: "delete_meeting", HTTPStatus: 503, Message: "unavailable"}
	}
	if f.deleteErr != nil && (f.deleteFailures == 0 || f.deletes <= f.deleteFailures) {
		return f.deleteErr
	}
	delete(f.meetings, id)
	return nil
}

func (f *fakes) ListMeetings(context.Context, string, string, zoom.ListOptions) (zoom.MeetingList, error) {
	return zoom.MeetingList{}, nil
}

// DeliverBatch plays the next scripted batch.
func (f *fakes) DeliverBatch(ctx context.Context, _ uuid.UUID, _ *slog.Logger, beat func()) (webhooks.BatchResult, error) {
	beat()
	f.mu.Lock()
	f.deliverCalls++
	hold := f.deliverCalls == f.holdBatch
	f.mu.Unlock()
	if hold {
		f.inBatch <- struct{}{}
		select {
		case <-f.release:
		case <-ctx.Done():
			return webhooks.BatchResult{}, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.batches) == 0 {
		return webhooks.BatchResult{}, nil
	}
	r := f.batches[0]
	f.batches = f.batches[1:]
	return r, nil
}

// Stalled reports the scripted stalled destinations, once.
func (f *fakes) Stalled(context.Context, time.Duration, int) ([]uuid.UUID, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := f.stalled
	f.stalled = nil
	return ids, nil
}

// The outbox is empty in every recording.
func (f *fakes) Due(context.Context, int) ([]outbox.Entry, error) { return nil, nil }
func (f *fakes) Done(context.Context, int64) error                { return nil }
func (f *fakes) Retry(context.Context, int64, string) error       { return nil }
