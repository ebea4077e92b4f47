// Package workflows is the Temporal layer: the workflows that create, sync
// and remove Zoom meetings together with events, and keep grants healthy;
// their activities; worker registration; and the Service that starts them
// for the API. Zoom calls and database writes of the request path are local
// activities (fast: no extra round trips through the server); deleting a
// meeting after its event is gone is a regular activity retried for hours.
// Activities reach storage only through the feature packages' stores.
package workflows

import (
	"crypto/sha256"
	"encoding/base32"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	enums "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/confhub/confhub/events"
)

// TaskQueue is where confhub's workers listen.
const TaskQueue = "confhub"

// Bounds that keep every API call within RequestTimeout: the Zoom step gives
// up (retries included) well before, leaving time to compensate.
const (
	RequestTimeout = 30 * time.Second
	zoomStepBudget = 18 * time.Second
	dbStepBudget   = 5 * time.Second
)

// noMarker: an update of a confirmed meeting needs no reference line (the
// reference only matters until the create is confirmed).
const noMarker = ""

// zoomLA runs Zoom calls as local activities: retried with backoff (a
// per-second 429, a 5xx, a lost answer) within the step budget; final errors
// (validation, permission, scope, daily limit) are not retried.
func zoomLA(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: zoomStepBudget,
		StartToCloseTimeout:    12 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 200 * time.Millisecond, BackoffCoefficient: 2,
			MaximumInterval: 3 * time.Second, NonRetryableErrorTypes: []string{errDomain}},
	})
}

func dbLA(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: dbStepBudget,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 50 * time.Millisecond, BackoffCoefficient: 2,
			MaximumInterval: time.Second, NonRetryableErrorTypes: []string{errDomain}},
	})
}

// Marker is an operation's reference in its meeting's agenda.
func Marker(opID string) string {
	sum := sha256.Sum256([]byte(opID))
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:10]))
}

// CreateEventID is the create workflow's id: one per event.
func CreateEventID(eventID uuid.UUID) string { return "create-event-" + eventID.String() }

// UpdateEventID is the update workflow's id: one at a time per event.
func UpdateEventID(eventID uuid.UUID) string { return "update-event-" + eventID.String() }

// DeleteMeetingID is the deletion workflow's id: one per meeting.
func DeleteMeetingID(grant uuid.UUID, meeting int64) string {
	return "delete-meeting-" + grant.String() + "-" + strconv.FormatInt(meeting, 10)
}

// CreateEvent makes the Zoom meeting first, then the event row; if the row
// cannot be written, the meeting is deleted again. A booking's event that
// cannot be made releases the booking's time.
func CreateEvent(ctx workflow.Context, in CreateEventInput) (EventResult, error) {
	res, err := createEvent(ctx, in)
	if err != nil && in.Booking != nil {
		releaseBooking(ctx, *in.Booking, err)
	}
	return res, err
}

// releaseBooking gives up a booking whose event could not be made, in a
// disconnected context (it must run even if the workflow is cancelled),
// retrying for as long as the database is away.
func releaseBooking(ctx workflow.Context, b BookingRef, cause error) {
	dctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	dctx = workflow.WithLocalActivityOptions(dctx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: time.Hour,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 200 * time.Millisecond, BackoffCoefficient: 2,
			MaximumInterval: 30 * time.Second},
	})
	var a *Activities
	if err := workflow.ExecuteLocalActivity(dctx, a.ReleaseBooking, ReleaseBookingInput{ID: b.ID, Reason: cause.Error()}).Get(dctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("a booking whose event failed could not be released", "booking_id", b.ID, "err", err)
	}
}

func createEvent(ctx workflow.Context, in CreateEventInput) (EventResult, error) {
	var a *Activities
	ev := in.Event
	opID := workflow.GetInfo(ctx).WorkflowExecution.ID
	if ev.Conferencing == nil || ev.Conferencing.Autocreate == nil {
		var out EventRecord
		err := workflow.ExecuteLocalActivity(dbLA(ctx), a.InsertEvent, StoreEventInput{Event: ev}).Get(ctx, &out)
		return EventResult{V: ContractVersion, Event: out}, finalError(err, stepStoreEvent)
	}
	marker := Marker(opID)
	var m MeetingInfo
	err := workflow.ExecuteLocalActivity(zoomLA(ctx), a.CreateMeeting, CreateMeetingInput{
		OpID: opID, App: ev.ApplicationID, ConfGrant: in.ConfGrantID, EventID: ev.ID, Marker: marker,
		Request: events.MeetingRequest(ev.Event(), ev.Conferencing.Autocreate.ConfSettings, marker),
	}).Get(ctx, &m)
	if err != nil {
		return EventResult{}, finalError(err, stepCreateMeeting)
	}
	// Saga: from here the meeting exists, so a failure must take it back.
	created := MeetingRef{App: ev.ApplicationID, ConfGrant: in.ConfGrantID, MeetingID: m.ID, EventID: ev.ID}
	ev = attach(ev, in.ConfGrantID, m, ev.Conferencing.Autocreate)
	var out EventRecord
	if err := workflow.ExecuteLocalActivity(dbLA(ctx), a.InsertEvent, StoreEventInput{Event: ev, OpID: opID}).Get(ctx, &out); err != nil {
		// The database refusing the row means no row: the meeting goes at
		// once. The database unreachable means the row may have been
		// written with the answer lost: the attempt log, still open, lets
		// the sweeper decide once the database answers (a meeting on no
		// event is deleted), and a retry under the same Idempotency-Key
		// adopts the meeting first.
		if !isDBUnavailable(err) || workflow.GetVersion(ctx, versionCreateLeavesUnknown, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
			compensate(ctx, created)
		}
		return EventResult{}, finalError(err, stepStoreEvent)
	}
	return EventResult{V: ContractVersion, Event: out}, nil
}

// attach records a meeting on the event: who hosts it and what it shows.
func attach(ev EventRecord, grant uuid.UUID, m MeetingInfo, auto *events.Autocreate) EventRecord {
	g, id := grant, m.ID
	ev.ConfGrantID, ev.ConfMeetingID = &g, &id
	details := m.Details
	ev.Conferencing = &events.Conferencing{Provider: events.ZoomProvider, Details: &details, Autocreate: auto}
	return ev
}

// compensate deletes a meeting in a disconnected context (it must run even
// if the workflow is being cancelled); a meeting it cannot delete for good
// is recorded as an orphan by the activity, and one it cannot delete for
// now is handed to the durable deletion workflow.
func compensate(ctx workflow.Context, m MeetingRef) {
	dctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	var a *Activities
	if err := workflow.ExecuteLocalActivity(zoomLA(dctx), a.RemoveMeeting, m).Get(dctx, nil); err != nil {
		// Retries are exhausted within the step: the durable workflow keeps
		// trying for hours.
		startDeletion(dctx, m)
	}
}

// startDeletion hands a meeting to the durable deletion workflow without
// waiting for it. A deletion already running for the meeting is as good;
// a start that fails otherwise records the meeting as an orphan, so that it
// is never lost from our books.
func startDeletion(ctx workflow.Context, m MeetingRef) {
	err := startAbandoned(ctx, workflow.ChildWorkflowOptions{WorkflowID: DeleteMeetingID(m.ConfGrant, m.MeetingID)}, DeleteMeeting, m)
	if err != nil {
		deletionNotStarted(ctx, m, err)
	}
}

// startAbandoned starts a child that outlives this workflow (a deletion, a
// repair) without waiting for it; one already running under its id is as
// good as started.
func startAbandoned(ctx workflow.Context, o workflow.ChildWorkflowOptions, wf, arg any) error {
	o.ParentClosePolicy = enums.PARENT_CLOSE_POLICY_ABANDON
	cctx := workflow.WithChildOptions(outliving(ctx), o)
	err := workflow.ExecuteChildWorkflow(cctx, wf, arg).GetChildWorkflowExecution().Get(ctx, nil)
	if temporal.IsWorkflowExecutionAlreadyStartedError(err) {
		return nil
	}
	return err
}

// dayOfRetries is the activity options of the durable workflows (deletion,
// repair): each try bounded, retried with backoff up to maxInterval for up
// to a day; final errors are not retried.
func dayOfRetries(ctx workflow.Context, maxInterval time.Duration) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    30 * time.Second,
		ScheduleToCloseTimeout: 24 * time.Hour,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2,
			MaximumInterval: maxInterval, NonRetryableErrorTypes: []string{errDomain}},
	})
}

// outliving is the context to start a child that must outlive the caller:
// a child started on a context that is later cancelled (compensate's
// disconnected one, when it returns) is asked by Temporal to cancel, and a
// cancelled deletion or repair does nothing.
func outliving(ctx workflow.Context) workflow.Context {
	if workflow.GetVersion(ctx, versionChildrenOutlive, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return ctx
	}
	free, _ := workflow.NewDisconnectedContext(ctx) // never cancelled, on purpose
	return free
}

// deletionNotStarted records a meeting whose deletion could not be
// scheduled as an orphan.
func deletionNotStarted(ctx workflow.Context, m MeetingRef, err error) {
	var a *Activities
	rerr := workflow.ExecuteLocalActivity(dbLA(ctx), a.RecordOrphan, RecordOrphanInput{Meeting: m,
		Reason: "its deletion could not be scheduled: " + err.Error()}).Get(ctx, nil)
	if rerr != nil {
		workflow.GetLogger(ctx).Error("a meeting could neither be scheduled for deletion nor recorded as an orphan",
			"meeting_id", m.MeetingID, "conf_grant_id", m.ConfGrant, "start_error", err, "record_error", rerr)
	}
}

// UpdateEvent applies a validated patch to the event as it finds it. Only
// one runs per event at a time (its workflow id is the event's), so
// concurrent updates never lose a write. Zoom changes first; if the row then
// cannot be written, Zoom is put back.
func UpdateEvent(ctx workflow.Context, in UpdateEventInput) (EventResult, error) {
	var a *Activities
	var rec EventRecord
	if err := workflow.ExecuteLocalActivity(dbLA(ctx), a.LoadEvent, LoadEventInput{App: in.App, Grant: in.Grant, EventID: in.EventID}).Get(ctx, &rec); err != nil {
		return EventResult{}, finalError(err, stepReadEvent)
	}
	stored := rec.Event()
	change := in.Patch.Patch().Apply(stored)
	ev := RecordOf(change.Event)
	opID := workflow.GetInfo(ctx).WorkflowExecution.RunID
	closesOp := "" // the operation whose attempt log the row write closes
	var undo []func()
	var old *MeetingRef // the meeting to delete once the row is written
	hasMeeting := stored.ConfMeetingID != nil && stored.ConfGrantID != nil
	if hasMeeting {
		old = &MeetingRef{App: in.App, ConfGrant: *stored.ConfGrantID, MeetingID: *stored.ConfMeetingID, EventID: stored.ID}
	}
	sync := func(grant uuid.UUID, cs *events.ConfSettings) (MeetingInfo, error) {
		var m MeetingInfo
		req := events.MeetingRequest(change.Event, cs, noMarker)
		meeting := SyncMeetingInput{App: in.App, ConfGrant: grant, MeetingID: *stored.ConfMeetingID, Request: req}
		// Putting the meeting back is PATCHing what the stored event says.
		putBack := meeting
		putBack.Request = events.MeetingRequest(stored, storedSettings(stored), noMarker)
		repair := RepairInput{App: in.App, Grant: in.Grant, EventID: stored.ID, ConfGrant: grant, MeetingID: *stored.ConfMeetingID}
		err := workflow.ExecuteLocalActivity(zoomLA(ctx), a.SyncMeeting, meeting).Get(ctx, &m)
		if err != nil && !isDomain(err) && workflow.GetVersion(ctx, versionSettlePatch, workflow.DefaultVersion, 1) == 1 {
			m, err = settlePatch(ctx, meeting, putBack, repair, err)
		}
		if err != nil {
			return m, finalError(err, stepUpdateMeeting)
		}
		undo = append(undo, func() {
			dctx, cancel := workflow.NewDisconnectedContext(ctx)
			defer cancel()
			err := workflow.ExecuteLocalActivity(zoomLA(dctx), a.SyncMeeting, putBack).Get(dctx, nil)
			if err != nil {
				workflow.GetLogger(ctx).Error("the meeting could not be put back after the event row failed; a repair will match it to the event",
					"meeting_id", *stored.ConfMeetingID, "error", err)
				if workflow.GetVersion(dctx, versionRepairUndo, workflow.DefaultVersion, 1) == 1 {
					startRepair(dctx, repair)
				}
			}
		})
		return m, nil
	}

	switch {
	case change.Conf == events.ConfKeep:
		old = nil
		if !hasMeeting || !change.ZoomFieldsChanged {
			break // nothing Zoom has changed: no call
		}
		m, err := sync(*stored.ConfGrantID, storedSettings(stored))
		if err != nil {
			return EventResult{}, err
		}
		if m.Details.URL != "" {
			ev.Conferencing = &events.Conferencing{Provider: events.ZoomProvider, Details: &m.Details, Autocreate: stored.Conferencing.Autocreate}
		}

	case change.Conf == events.ConfSet && change.Conference.Autocreate != nil && hasMeeting && *stored.ConfGrantID == in.ConfGrantID:
		// Same host: the meeting stays; its settings and fields sync.
		old = nil
		auto := change.Conference.Autocreate
		m, err := sync(in.ConfGrantID, auto.ConfSettings)
		if err != nil {
			return EventResult{}, err
		}
		ev.Conferencing = change.Conference
		if m.Details.URL != "" {
			ev.Conferencing = &events.Conferencing{Provider: events.ZoomProvider, Details: &m.Details, Autocreate: auto}
		}

	case change.Conf == events.ConfSet && change.Conference.Autocreate != nil:
		// A new host (or a first meeting): create the new meeting before
		// deleting the old one.
		auto := change.Conference.Autocreate
		marker := Marker(opID)
		ev.Conferencing = change.Conference
		var m MeetingInfo
		if err := workflow.ExecuteLocalActivity(zoomLA(ctx), a.CreateMeeting, CreateMeetingInput{OpID: opID, App: in.App, ConfGrant: in.ConfGrantID,
			EventID: ev.ID, Marker: marker, Request: events.MeetingRequest(change.Event, auto.ConfSettings, marker)}).Get(ctx, &m); err != nil {
			return EventResult{}, finalError(err, stepCreateMeeting)
		}
		created := MeetingRef{App: in.App, ConfGrant: in.ConfGrantID, MeetingID: m.ID, EventID: ev.ID}
		undo = append(undo, func() { compensate(ctx, created) })
		ev = attach(ev, in.ConfGrantID, m, auto)
		closesOp = opID

	case change.Conf == events.ConfSet: // manual details replace whatever was there
		ev.Conferencing = change.Conference
		ev.ConfGrantID, ev.ConfMeetingID = nil, nil

	case change.Conf == events.ConfRemove:
		ev.Conferencing, ev.ConfGrantID, ev.ConfMeetingID = nil, nil, nil
	}

	var out EventRecord
	if err := workflow.ExecuteLocalActivity(dbLA(ctx), a.ReplaceEvent, StoreEventInput{Event: ev, OpID: closesOp, WriteID: opID}).Get(ctx, &out); err != nil {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
		return EventResult{}, finalError(err, stepStoreEvent)
	}
	if old != nil {
		startDeletion(ctx, *old)
	}
	return EventResult{V: ContractVersion, Event: out}, nil
}

// Versions of UpdateEvent: a recorded history takes the branch it took.
const (
	// versionSettlePatch: an update whose PATCH outcome is unknown reads
	// the meeting back, and puts it back unless it shows the update.
	versionSettlePatch = "settle-uncertain-patch"
	// versionRepairUndo: a meeting that cannot be put back is repaired.
	versionRepairUndo = "repair-failed-undo"
	// versionCreateLeavesUnknown (CreateEvent): a row write whose outcome
	// is unknown leaves its meeting to the sweeper instead of deleting it.
	versionCreateLeavesUnknown = "create-leaves-unknown-row"
	// versionChildrenOutlive: deletions and repairs started as children
	// are not cancelled when the context that started them ends.
	versionChildrenOutlive = "children-outlive-their-context"
)

// settleBudget bounds each settling step, so that a PATCH that used its own
// budget still settles within the request's time.
const settleBudget = 4 * time.Second

func settleLA(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: settleBudget,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 100 * time.Millisecond, BackoffCoefficient: 2,
			MaximumInterval: time.Second, NonRetryableErrorTypes: []string{errDomain}},
	})
}

// settlePatch settles a PATCH whose outcome is unknown (Zoom's answers were
// lost, or Zoom kept failing): if the meeting reads back as updated, the
// update stands; otherwise the meeting is put back as the event has it
// (PATCH is idempotent: putting back a meeting that never changed is
// harmless) and the update fails with its cause. Either way event and
// meeting agree when the request answers; if the meeting can be neither
// read nor put back, a durable repair makes it match the event row.
func settlePatch(ctx workflow.Context, meeting, putBack SyncMeetingInput, repair RepairInput, cause error) (MeetingInfo, error) {
	var a *Activities
	var check MeetingCheck
	err := workflow.ExecuteLocalActivity(settleLA(ctx), a.CheckMeeting, CheckMeetingInput{App: meeting.App, ConfGrant: meeting.ConfGrant,
		MeetingID: meeting.MeetingID, Want: meeting.Request}).Get(ctx, &check)
	if err == nil && check.Shows {
		workflow.GetLogger(ctx).Info("an update's answer from Zoom was lost; the meeting shows it, so it stands", "meeting_id", meeting.MeetingID)
		return check.Info, nil
	}
	dctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	if err := workflow.ExecuteLocalActivity(settleLA(dctx), a.SyncMeeting, putBack).Get(dctx, nil); err != nil {
		startRepair(dctx, repair)
	}
	return MeetingInfo{}, cause
}

// storedSettings are the conf_settings a stored event's meeting was made with.
func storedSettings(e events.Event) *events.ConfSettings {
	if e.Conferencing != nil && e.Conferencing.Autocreate != nil {
		return e.Conferencing.Autocreate.ConfSettings
	}
	return nil
}

// DeleteMeeting deletes a meeting whose event is gone, retrying for up to a
// day; a meeting that cannot be deleted is recorded as an orphan.
func DeleteMeeting(ctx workflow.Context, in MeetingRef) error {
	var a *Activities
	ctx = dayOfRetries(ctx, 30*time.Minute)
	err := workflow.ExecuteActivity(ctx, a.RemoveMeeting, in).Get(ctx, nil)
	if err != nil {
		// A day of retries did not do it: record it and stop.
		return workflow.ExecuteLocalActivity(dbLA(ctx), a.RecordOrphan, RecordOrphanInput{Meeting: in,
			Reason: "deletion kept failing: " + err.Error()}).Get(ctx, nil)
	}
	return nil
}
