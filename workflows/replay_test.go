package workflows

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/confhub/confhub/events"
)

// The histories under testdata/histories were recorded from real runs of
// every workflow branch (go run ./workflows/internal/recordhistories; see
// the README, "Changing a workflow"). Replaying them through the current
// code fails if the code would now take other steps for the same history:
// what would break the workflows running in production during a deploy.
var recordedHistories = []string{
	"create-autocreate", "create-plain", "create-zoom-refused", "create-compensated", "create-compensation-deferred",
	"create-compensation-deferred-v0", "create-row-unknown", "create-row-refused", "create-booking", "create-booking-released",
	"update-no-zoom-change", "update-sync", "update-sync-refused", "update-sync-undone", "update-same-host",
	"update-new-host", "update-new-host-undone", "update-first-meeting", "update-manual-details",
	"update-remove-conference", "update-missing-event", "update-sync-unknown-stands", "update-sync-unknown-repaired",
	"delete-meeting", "delete-meeting-orphaned", "delete-meeting-retried",
	"repair-meeting",
	"follow-meeting-moved", "follow-meeting-deleted",
	"grant-health",
	"webhook-deliver-idle", "webhook-deliver-backoff", "webhook-deliver-backoff-woken", "webhook-deliver-woken",
	"sweeper-v0", "sweeper-wakes-webhooks",
}

// Every file in the directory is in the list (a recording nobody replays
// guards nothing).
func TestEveryRecordedHistoryIsReplayed(t *testing.T) {
	files, err := filepath.Glob(historyFile("*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if name := strings.TrimSuffix(filepath.Base(f), ".json"); !slices.Contains(recordedHistories, name) {
			t.Errorf("%s is recorded but not replayed: add it to recordedHistories", name)
		}
	}
	if len(files) != len(recordedHistories) {
		t.Errorf("%d recorded histories, %d listed", len(files), len(recordedHistories))
	}
}

// A deletion or repair started as a child must outlive the context that
// started it: no history recorded by the current code asks Temporal to
// cancel one (the -v0 recording shows the old behaviour, still replayed).
func TestChildrenAreNeverCancelled(t *testing.T) {
	for _, name := range recordedHistories {
		if strings.HasSuffix(name, "-v0") {
			continue
		}
		b, err := os.ReadFile(historyFile(name))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED") {
			t.Errorf("%s: the workflow asks for its child's cancellation", name)
		}
	}
}

func historyFile(name string) string { return filepath.Join("testdata", "histories", name+".json") }

func quietLogger() tlog.Logger { return tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)) }

func TestRecordedHistoriesReplay(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "histories", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	onDisk := map[string]bool{}
	for _, f := range files {
		onDisk[strings.TrimSuffix(filepath.Base(f), ".json")] = true
	}
	for _, name := range recordedHistories {
		if !onDisk[name] {
			t.Errorf("history %s is missing: record it (go run ./workflows/internal/recordhistories)", name)
		}
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			RegisterWorkflows(r)
			if err := r.ReplayWorkflowHistoryFromJSONFile(quietLogger(), f); err != nil {
				t.Fatalf("the current code cannot replay %s: %v", f, err)
			}
		})
	}
}

// The replay test catches a non-deterministic change: here CreateEvent with
// its two steps swapped (the row before the meeting), under the recorded name.
func TestReplayCatchesSwappedSteps(t *testing.T) {
	swapped := func(ctx workflow.Context, in CreateEventInput) (EventResult, error) {
		var a *Activities
		var out EventRecord
		if err := workflow.ExecuteLocalActivity(dbLA(ctx), a.InsertEvent, StoreEventInput{Event: in.Event}).Get(ctx, &out); err != nil {
			return EventResult{}, err
		}
		var m MeetingInfo
		err := workflow.ExecuteLocalActivity(zoomLA(ctx), a.CreateMeeting, CreateMeetingInput{App: in.Event.ApplicationID, ConfGrant: in.ConfGrantID,
			EventID: in.Event.ID, Request: events.MeetingRequest(in.Event.Event(), nil, "")}).Get(ctx, &m)
		return EventResult{V: ContractVersion, Event: out}, err
	}
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(swapped, workflow.RegisterOptions{Name: "CreateEvent"})
	err := r.ReplayWorkflowHistoryFromJSONFile(quietLogger(), historyFile("create-autocreate"))
	if err == nil {
		t.Fatal("replaying CreateEvent with swapped steps succeeded: the replay test would not catch a non-deterministic change")
	}
	t.Logf("caught as expected: %v", err)
}

// Replay cannot see a renamed JSON field (the input then decodes to zero
// values and the workflow runs on them): every recorded input must still
// decode into the current types with its identifying fields set.
func TestRecordedInputsStillDecode(t *testing.T) {
	dc := converter.GetDefaultDataConverter()
	for _, name := range recordedHistories {
		f, err := os.Open(historyFile(name))
		if err != nil {
			t.Fatal(err)
		}
		h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		started := h.Events[0].GetWorkflowExecutionStartedEventAttributes()
		if started == nil {
			t.Fatalf("%s: the first event is not the start", name)
		}
		var ok bool
		switch typ := started.WorkflowType.Name; typ {
		case "CreateEvent":
			var in CreateEventInput
			err, ok = dc.FromPayloads(started.Input, &in), in.V == ContractVersion && in.Event.ID != uuid.Nil && !in.Event.StartsAt.IsZero()
		case "UpdateEvent":
			var in UpdateEventInput
			err, ok = dc.FromPayloads(started.Input, &in), in.V == ContractVersion && in.EventID != uuid.Nil && in.App != uuid.Nil
		case "DeleteMeeting":
			var in MeetingRef
			err, ok = dc.FromPayloads(started.Input, &in), in.MeetingID != 0 && in.App != uuid.Nil && in.ConfGrant != uuid.Nil
		case "RepairMeeting":
			var in RepairInput
			err, ok = dc.FromPayloads(started.Input, &in), in.V == ContractVersion && in.MeetingID != 0 && in.EventID != uuid.Nil
		case "FollowMeeting":
			var in MeetingNoticeInput
			err, ok = dc.FromPayloads(started.Input, &in), in.V == ContractVersion && in.EventID != uuid.Nil && in.Notice.MeetingID != 0
		case "GrantHealth":
			var in GrantHealthInput
			err, ok = dc.FromPayloads(started.Input, &in), in.V == ContractVersion && in.BatchSize > 0 && in.IdleAfter > 0
		case "WebhookDeliveries":
			var in WebhookInput
			err, ok = dc.FromPayloads(started.Input, &in), in.V == ContractVersion && in.WebhookID != uuid.Nil
		case "Sweeper":
			var in SweeperInput
			err, ok = dc.FromPayloads(started.Input, &in), in.V == ContractVersion && in.Interval > 0 && in.AttemptIdle > 0
		default:
			t.Fatalf("%s: unknown workflow %s", name, typ)
		}
		if err != nil || !ok {
			t.Errorf("%s: the recorded input no longer decodes into the current type (err %v)", name, err)
		}
	}
}
