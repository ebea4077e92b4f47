// Package events owns calendars and events of virtual-calendar grants, and
// the conferencing attached to them: validation, the Zoom mapping, the
// checks that precede a write, and the store of calendars, events and the
// records of their meetings (attempts, orphans, idempotency keys). Zoom
// meetings are created, synced and removed by the workflows in package
// workflows, which reach this package's store through interfaces.
package events

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// ZoomProvider is the conferencing provider name of Zoom meetings on events
// ("zoom" is for connectors and grants).
const ZoomProvider = "Zoom Meeting"

// Calendar is a virtual-calendar grant's calendar.
type Calendar struct {
	ID          uuid.UUID
	GrantID     uuid.UUID
	Name        string
	Description string
	Timezone    string
	IsPrimary   bool
	ReadOnly    bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// CalendarInput is the body of POST/PUT /calendars.
type CalendarInput struct {
	Name        *string `json:"name"`
	Description *string `json:"description"`
	Timezone    *string `json:"timezone"`
}

// Participant is an event participant.
type Participant struct {
	Email   string `json:"email"`
	Name    string `json:"name,omitempty"`
	Status  string `json:"status"`
	Comment string `json:"comment,omitempty"`
}

// When is an event's time in one of Nylas' four forms; Object names the form.
type When struct {
	Object        string `json:"object"`
	StartTime     int64  `json:"start_time,omitempty"`
	EndTime       int64  `json:"end_time,omitempty"`
	StartTimezone string `json:"start_timezone,omitempty"`
	EndTimezone   string `json:"end_timezone,omitempty"`
	Time          int64  `json:"time,omitempty"`
	Timezone      string `json:"timezone,omitempty"`
	Date          string `json:"date,omitempty"`
	StartDate     string `json:"start_date,omitempty"`
	EndDate       string `json:"end_date,omitempty"`
}

// Details is a conference's joining information.
type Details struct {
	URL         string   `json:"url"`
	MeetingCode string   `json:"meeting_code,omitempty"`
	Password    string   `json:"password,omitempty"`
	Phone       []string `json:"phone,omitempty"`
}

// Conferencing is an event's conference as stored. Autocreate keeps the
// request's settings so a later re-creation (another conf grant) uses them.
type Conferencing struct {
	Provider   string      `json:"provider"`
	Details    *Details    `json:"details,omitempty"`
	Autocreate *Autocreate `json:"autocreate,omitempty"`
}

// Autocreate asks for a Zoom meeting hosted by the conf grant's user.
type Autocreate struct {
	ConfGrantID  string        `json:"conf_grant_id"`
	ConfSettings *ConfSettings `json:"conf_settings,omitempty"`
}

// ConfSettings are passed to Zoom as top-level create-meeting fields.
type ConfSettings struct {
	Topic    *string          `json:"topic,omitempty"`
	Agenda   *string          `json:"agenda,omitempty"`
	Password *string          `json:"password,omitempty"`
	Settings *MeetingSettings `json:"settings,omitempty"`
}

// MeetingSettings are the Zoom meeting settings a conf_settings may carry.
type MeetingSettings struct {
	WaitingRoom           *bool   `json:"waiting_room,omitempty"`
	AutoRecording         *string `json:"auto_recording,omitempty"`
	MuteUponEntry         *bool   `json:"mute_upon_entry,omitempty"`
	JoinBeforeHost        *bool   `json:"join_before_host,omitempty"`
	HostVideo             *bool   `json:"host_video,omitempty"`
	ParticipantVideo      *bool   `json:"participant_video,omitempty"`
	ApprovalType          *int    `json:"approval_type,omitempty"`
	Audio                 *string `json:"audio,omitempty"`
	AlternativeHosts      *string `json:"alternative_hosts,omitempty"`
	MeetingAuthentication *bool   `json:"meeting_authentication,omitempty"`
}

// Event is a stored event.
type Event struct {
	ID            uuid.UUID
	ApplicationID uuid.UUID
	GrantID       uuid.UUID
	CalendarID    uuid.UUID
	Title         string
	Description   string // the caller's text, without the join-details block
	Location      string
	Busy          bool
	Status        string
	Visibility    string
	Participants  []Participant
	When          When
	StartsAt      time.Time
	EndsAt        time.Time
	Metadata      map[string]string
	Conferencing  *Conferencing
	ConfGrantID   *uuid.UUID // the Zoom grant hosting the meeting we created
	ConfMeetingID *int64
	Version       int64
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// EventInput is the body of POST and PUT /events. Pointers and raw messages
// tell "absent" (keep) from "present" (replace) for PUT.
type EventInput struct {
	Title        *string            `json:"title"`
	Description  *string            `json:"description"`
	Location     *string            `json:"location"`
	Busy         *bool              `json:"busy"`
	Status       *string            `json:"status"`
	Visibility   *string            `json:"visibility"`
	Participants *[]Participant     `json:"participants"`
	When         json.RawMessage    `json:"when,omitempty"`
	Conferencing json.RawMessage    `json:"conferencing,omitempty"`
	Metadata     *map[string]string `json:"metadata"`

	// Read-only fields a client may echo back from a GET; ignored.
	// (omitempty everywhere: the input also crosses into workflows as JSON,
	// and an absent field must stay absent rather than turn into null.)
	ID        json.RawMessage `json:"id,omitempty"`
	Object    json.RawMessage `json:"object,omitempty"`
	GrantID   json.RawMessage `json:"grant_id,omitempty"`
	CalendarX json.RawMessage `json:"calendar_id,omitempty"`
	Created   json.RawMessage `json:"created_at,omitempty"`
	Updated   json.RawMessage `json:"updated_at,omitempty"`
	Organizer json.RawMessage `json:"organizer,omitempty"`
}
