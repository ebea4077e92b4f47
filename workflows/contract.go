package workflows

import (
	"time"

	"github.com/google/uuid"

	"github.com/confhub/confhub/events"
)

// The types in this file cross the workflow boundary: Temporal records them
// (workflow inputs and results, activity results) in histories that a
// workflow replays on any worker, possibly one built from newer code. They
// are therefore this package's own, with explicit JSON names, and never the
// API's request bodies: changing the API must not change a recorded history.
//
// Rules (README, "Changing a workflow"): add fields freely (an old history
// decodes them as zero values); never rename or re-purpose one. A change of
// meaning bumps V, and the workflow handles every V it may still meet. The
// nested events.When, events.Participant and events.Conferencing are the
// JSON shapes stored in the events table, so they are held to the same rule.

// ContractVersion is the version of the structs below that this code writes.
const ContractVersion = 1

// EventRecord is an event as a workflow carries it.
type EventRecord struct {
	ID            uuid.UUID            `json:"id"`
	ApplicationID uuid.UUID            `json:"application_id"`
	GrantID       uuid.UUID            `json:"grant_id"`
	CalendarID    uuid.UUID            `json:"calendar_id"`
	Title         string               `json:"title"`
	Description   string               `json:"description"`
	Location      string               `json:"location"`
	Busy          bool                 `json:"busy"`
	Status        string               `json:"status"`
	Visibility    string               `json:"visibility"`
	Participants  []events.Participant `json:"participants"`
	When          events.When          `json:"when"`
	StartsAt      time.Time            `json:"starts_at"`
	EndsAt        time.Time            `json:"ends_at"`
	Metadata      map[string]string    `json:"metadata,omitempty"`
	Conferencing  *events.Conferencing `json:"conferencing,omitempty"`
	ConfGrantID   *uuid.UUID           `json:"conf_grant_id,omitempty"`
	ConfMeetingID *int64               `json:"conf_meeting_id,omitempty"`
	Version       int64                `json:"version"`
	CreatedAt     time.Time            `json:"created_at"`
	UpdatedAt     time.Time            `json:"updated_at"`
}

// RecordOf is an event as a workflow carries it.
func RecordOf(e events.Event) EventRecord {
	return EventRecord{ID: e.ID, ApplicationID: e.ApplicationID, GrantID: e.GrantID, CalendarID: e.CalendarID, Title: e.Title,
		Description: e.Description, Location: e.Location, Busy: e.Busy, Status: e.Status, Visibility: e.Visibility,
		Participants: e.Participants, When: e.When, StartsAt: e.StartsAt, EndsAt: e.EndsAt, Metadata: e.Metadata,
		Conferencing: e.Conferencing, ConfGrantID: e.ConfGrantID, ConfMeetingID: e.ConfMeetingID, Version: e.Version,
		CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt}
}

// Event is the record as the events feature's model.
func (r EventRecord) Event() events.Event {
	return events.Event{ID: r.ID, ApplicationID: r.ApplicationID, GrantID: r.GrantID, CalendarID: r.CalendarID, Title: r.Title,
		Description: r.Description, Location: r.Location, Busy: r.Busy, Status: r.Status, Visibility: r.Visibility,
		Participants: r.Participants, When: r.When, StartsAt: r.StartsAt, EndsAt: r.EndsAt, Metadata: r.Metadata,
		Conferencing: r.Conferencing, ConfGrantID: r.ConfGrantID, ConfMeetingID: r.ConfMeetingID, Version: r.Version,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

// CreateEventInput asks CreateEvent for a validated event, with its Zoom
// meeting when Event.Conferencing.Autocreate is set.
type CreateEventInput struct {
	V           int         `json:"v"`
	Event       EventRecord `json:"event"`
	ConfGrantID uuid.UUID   `json:"conf_grant_id,omitzero"` // the Zoom grant hosting the meeting (autocreate)
	// Booking is the Scheduler booking whose event this is: a create that
	// fails releases the booking's time.
	Booking *BookingRef `json:"booking,omitempty"`
}

// BookingRef names a Scheduler booking.
type BookingRef struct {
	ID uuid.UUID `json:"id"`
}

// EventResult is what CreateEvent and UpdateEvent return: the stored event.
type EventResult struct {
	V     int         `json:"v"`
	Event EventRecord `json:"event"`
}

// UpdateEventInput asks UpdateEvent to apply a validated patch to the event
// as it finds it.
type UpdateEventInput struct {
	V           int        `json:"v"`
	App         uuid.UUID  `json:"app"`
	Grant       uuid.UUID  `json:"grant"`
	EventID     uuid.UUID  `json:"event_id"`
	Patch       EventPatch `json:"patch"`
	ConfGrantID uuid.UUID  `json:"conf_grant_id,omitzero"` // the Zoom grant of an autocreate in the patch
}

// EventPatch is a validated update (events.Patch) as a workflow carries it.
// A nil field is left as it is.
type EventPatch struct {
	Title        *string               `json:"title,omitempty"`
	Description  *string               `json:"description,omitempty"`
	Location     *string               `json:"location,omitempty"`
	Busy         *bool                 `json:"busy,omitempty"`
	Status       *string               `json:"status,omitempty"`
	Visibility   *string               `json:"visibility,omitempty"`
	Participants *[]events.Participant `json:"participants,omitempty"`
	Metadata     *map[string]string    `json:"metadata,omitempty"`
	When         *WhenSpan             `json:"when,omitempty"`
	// Conference is "" (leave it), "remove" or "set" (to Conferencing).
	Conference   string               `json:"conference,omitempty"`
	Conferencing *events.Conferencing `json:"conferencing,omitempty"`
}

// WhenSpan is a parsed when with the instants it covers.
type WhenSpan struct {
	When     events.When `json:"when"`
	StartsAt time.Time   `json:"starts_at"`
	EndsAt   time.Time   `json:"ends_at"`
}

const (
	conferenceRemove = "remove"
	conferenceSet    = "set"
)

// PatchOf is a validated patch as a workflow carries it.
func PatchOf(p events.Patch) EventPatch {
	out := EventPatch{Title: p.Title, Description: p.Description, Location: p.Location, Busy: p.Busy, Status: p.Status,
		Visibility: p.Visibility, Participants: p.Participants, Metadata: p.Metadata, Conferencing: p.Conference}
	if p.When != nil {
		out.When = &WhenSpan{When: p.When.When, StartsAt: p.When.StartsAt, EndsAt: p.When.EndsAt}
	}
	switch p.Conf {
	case events.ConfRemove:
		out.Conference = conferenceRemove
	case events.ConfSet:
		out.Conference = conferenceSet
	}
	return out
}

// Patch is the carried patch as the events feature's model.
func (p EventPatch) Patch() events.Patch {
	out := events.Patch{Title: p.Title, Description: p.Description, Location: p.Location, Busy: p.Busy, Status: p.Status,
		Visibility: p.Visibility, Participants: p.Participants, Metadata: p.Metadata, Conference: p.Conferencing}
	if p.When != nil {
		out.When = &events.Span{When: p.When.When, StartsAt: p.When.StartsAt, EndsAt: p.When.EndsAt}
	}
	switch p.Conference {
	case conferenceRemove:
		out.Conf = events.ConfRemove
	case conferenceSet:
		out.Conf = events.ConfSet
	}
	return out
}

// MeetingRef names a Zoom meeting and the event it belonged to. It is
// DeleteMeeting's input, recorded for as long as the deletion retries (up to
// a day), so its JSON names are those of the first version.
type MeetingRef struct {
	App       uuid.UUID `json:"App"`
	ConfGrant uuid.UUID `json:"ConfGrant"`
	MeetingID int64     `json:"MeetingID"`
	EventID   uuid.UUID `json:"EventID"`
}

// MeetingInfo is what an activity reports of a Zoom meeting.
type MeetingInfo struct {
	ID      int64          `json:"id"`
	Details events.Details `json:"details"` // empty URL: Zoom did not say (the request still took effect)
}

// GrantHealthInput configures one run of the grant-health sweep.
type GrantHealthInput struct {
	V          int           `json:"v"`
	IdleAfter  time.Duration `json:"idle_after"`  // refresh grants not refreshed for this long
	BatchSize  int           `json:"batch_size"`  // grants per activity
	MaxBatches int           `json:"max_batches"` // bounds one run's work; the next run continues
}

// GrantHealthResult sums up one sweep.
type GrantHealthResult struct {
	V           int  `json:"v"`
	Batches     int  `json:"batches"`
	Refreshed   int  `json:"refreshed"`
	Invalidated int  `json:"invalidated"`
	Failed      int  `json:"failed"`
	More        bool `json:"more"` // the run stopped at MaxBatches with grants left
}

// MeetingNoticeInput asks FollowMeeting to apply a Zoom meeting event to the
// event that carries the meeting.
type MeetingNoticeInput struct {
	V       int                 `json:"v"`
	App     uuid.UUID           `json:"app"`
	Grant   uuid.UUID           `json:"grant"`
	EventID uuid.UUID           `json:"event_id"`
	Notice  MeetingNoticeRecord `json:"notice"`
}

// MeetingNoticeRecord is a checked meeting event (events.MeetingNotice) as a
// workflow carries it.
type MeetingNoticeRecord struct {
	Deleted   bool                `json:"deleted"`
	MeetingID int64               `json:"meeting_id"`
	HostID    string              `json:"host_id,omitempty"`
	New       MeetingFieldsRecord `json:"new"`
	Old       MeetingFieldsRecord `json:"old"`
}

// MeetingFieldsRecord is events.MeetingFields as a workflow carries it.
type MeetingFieldsRecord struct {
	Topic     *string    `json:"topic,omitempty"`
	StartTime *time.Time `json:"start_time,omitempty"`
	Duration  *int       `json:"duration,omitempty"`
	Timezone  *string    `json:"timezone,omitempty"`
}

// NoticeRecordOf is a checked meeting event as a workflow carries it.
func NoticeRecordOf(n events.MeetingNotice) MeetingNoticeRecord {
	f := func(m events.MeetingFields) MeetingFieldsRecord {
		return MeetingFieldsRecord{Topic: m.Topic, StartTime: m.StartTime, Duration: m.Duration, Timezone: m.Timezone}
	}
	return MeetingNoticeRecord{Deleted: n.Deleted, MeetingID: n.MeetingID, HostID: n.HostID, New: f(n.New), Old: f(n.Old)}
}

// Notice is the carried meeting event as the events feature's model.
func (r MeetingNoticeRecord) Notice() events.MeetingNotice {
	f := func(m MeetingFieldsRecord) events.MeetingFields {
		return events.MeetingFields{Topic: m.Topic, StartTime: m.StartTime, Duration: m.Duration, Timezone: m.Timezone}
	}
	return events.MeetingNotice{Deleted: r.Deleted, MeetingID: r.MeetingID, HostID: r.HostID, New: f(r.New), Old: f(r.Old)}
}

// FollowMeetingResult is what FollowMeeting (and its activity) did:
// events.FollowWritten, FollowUnchanged or FollowGone, the fields left
// because the event had moved past them, and the event's version after.
type FollowMeetingResult struct {
	Outcome   string   `json:"outcome"`
	Conflicts []string `json:"conflicts,omitempty"`
	Version   int64    `json:"version,omitempty"`
}
