// Package scheduler is the Nylas v3 Scheduler: booking configurations,
// sessions, availability and bookings. It lives under events because a
// booking is an event: it is made, moved and removed through the events
// path (the same workflows, the same guarantees on its Zoom meeting). The
// package owns its tables (configurations, sessions, bookings); calendars,
// events and busy time are the events package's, reached through its store.
package scheduler

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/confhub/confhub/events"
	"github.com/confhub/confhub/events/scheduler/slots"
)

// Configuration is a booking page's configuration as stored and shown.
type Configuration struct {
	ID                  uuid.UUID
	ApplicationID       uuid.UUID
	GrantID             uuid.UUID
	Slug                *string
	RequiresSessionAuth bool
	Body                Body
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// Body is a configuration's content in its wire shape (snake_case JSON):
// what the API shows and what the store keeps, validated and with defaults.
type Body struct {
	Name         string            `json:"name"`
	Participants []Participant     `json:"participants"`
	Availability Availability      `json:"availability"`
	EventBooking EventBooking      `json:"event_booking"`
	Scheduler    Settings          `json:"scheduler"`
	Appearance   map[string]string `json:"appearance,omitempty"`
}

// Participant is a person whose calendars decide availability, and who may
// host bookings.
type Participant struct {
	Email        string                  `json:"email"`
	Name         string                  `json:"name,omitempty"`
	IsOrganizer  bool                    `json:"is_organizer"`
	Timezone     string                  `json:"timezone,omitempty"`
	Availability ParticipantAvailability `json:"availability"`
	Booking      *ParticipantBooking     `json:"booking,omitempty"`
}

// ParticipantAvailability names the calendars whose events make a
// participant busy, and their open hours.
type ParticipantAvailability struct {
	CalendarIDs []string    `json:"calendar_ids"`
	OpenHours   []OpenHours `json:"open_hours,omitempty"`
}

// ParticipantBooking names the calendar bookings are made in.
type ParticipantBooking struct {
	CalendarID string `json:"calendar_id"`
}

// OpenHours are weekly open hours on the wire.
type OpenHours struct {
	Days     []int    `json:"days"`
	Start    string   `json:"start"`
	End      string   `json:"end"`
	Timezone string   `json:"timezone,omitempty"`
	Exdates  []string `json:"exdates,omitempty"`
}

func (o OpenHours) engine() slots.OpenHours {
	return slots.OpenHours{Days: o.Days, Start: o.Start, End: o.End, Timezone: o.Timezone, Exdates: o.Exdates}
}

func engineHours(oh []OpenHours) []slots.OpenHours {
	out := make([]slots.OpenHours, 0, len(oh))
	for _, o := range oh {
		out = append(out, o.engine())
	}
	return out
}

// Availability is how slots are cut.
type Availability struct {
	DurationMinutes   int   `json:"duration_minutes"`
	IntervalMinutes   int   `json:"interval_minutes,omitempty"`
	RoundTo           int   `json:"round_to"`
	AvailabilityRules Rules `json:"availability_rules"`
}

// Rules are the availability rules.
type Rules struct {
	AvailabilityMethod string      `json:"availability_method"`
	Buffer             Buffer      `json:"buffer"`
	DefaultOpenHours   []OpenHours `json:"default_open_hours,omitempty"`
	TentativeAsBusy    *bool       `json:"tentative_as_busy,omitempty"`
	RoundRobinGroupID  string      `json:"round_robin_group_id,omitempty"`
}

// Buffer is free time kept before and after each booking, in minutes.
type Buffer struct {
	Before int `json:"before"`
	After  int `json:"after"`
}

// Availability methods.
const (
	Collective      = "collective"
	MaxFairness     = "max-fairness"
	MaxAvailability = "max-availability"
)

func roundRobin(method string) bool { return method == MaxFairness || method == MaxAvailability }

// EventBooking is what a booking's event looks like.
type EventBooking struct {
	Title              string               `json:"title"`
	Description        string               `json:"description,omitempty"`
	Location           string               `json:"location,omitempty"`
	Timezone           string               `json:"timezone,omitempty"`
	BookingType        string               `json:"booking_type"`
	Conferencing       *events.Conferencing `json:"conferencing,omitempty"`
	HideParticipants   bool                 `json:"hide_participants"`
	DisableEmails      bool                 `json:"disable_emails"`
	NotifyParticipants *bool                `json:"notify_participants,omitempty"`
	Reminders          []Reminder           `json:"reminders,omitempty"`
}

// Booking types.
const (
	TypeBooking      = "booking"
	TypeConfirmation = "organizer-confirmation"
)

// Reminder is a reminder before a booked event.
type Reminder struct {
	Type               string `json:"type"`
	MinutesBeforeEvent int    `json:"minutes_before_event"`
	Recipient          string `json:"recipient,omitempty"`
	EmailSubject       string `json:"email_subject,omitempty"`
}

// Settings are the booking page's settings ("scheduler" on the wire).
type Settings struct {
	AvailableDaysInFuture    int                        `json:"available_days_in_future"`
	MinBookingNotice         int                        `json:"min_booking_notice"`
	MinCancellationNotice    int                        `json:"min_cancellation_notice"`
	CancellationPolicy       string                     `json:"cancellation_policy,omitempty"`
	ReschedulingURL          string                     `json:"rescheduling_url,omitempty"`
	CancellationURL          string                     `json:"cancellation_url,omitempty"`
	OrganizerConfirmationURL string                     `json:"organizer_confirmation_url,omitempty"`
	ConfirmationRedirectURL  string                     `json:"confirmation_redirect_url,omitempty"`
	HideReschedulingOptions  bool                       `json:"hide_rescheduling_options"`
	HideCancellationOptions  bool                       `json:"hide_cancellation_options"`
	HideAdditionalGuests     bool                       `json:"hide_additional_guests"`
	AdditionalFields         map[string]AdditionalField `json:"additional_fields,omitempty"`
	EmailTemplate            *EmailTemplate             `json:"email_template,omitempty"`
}

// AdditionalField is a form field guests fill in when booking.
type AdditionalField struct {
	Label    string   `json:"label"`
	Type     string   `json:"type"`
	Required bool     `json:"required"`
	Default  string   `json:"default,omitempty"`
	Pattern  string   `json:"pattern,omitempty"`
	Order    int      `json:"order,omitempty"`
	Options  []string `json:"options,omitempty"`
}

// EmailTemplate customises booking emails (kept and shown; confhub sends no email).
type EmailTemplate struct {
	Logo             string      `json:"logo,omitempty"`
	BookingConfirmed *TitledText `json:"booking_confirmed,omitempty"`
}

// TitledText is a title and a body.
type TitledText struct {
	Title string `json:"title,omitempty"`
	Body  string `json:"body,omitempty"`
}

// Organizer is the participant who hosts (or, round-robin, the first).
func (b Body) Organizer() Participant {
	for _, p := range b.Participants {
		if p.IsOrganizer {
			return p
		}
	}
	if len(b.Participants) > 0 {
		return b.Participants[0]
	}
	return Participant{}
}

// ConfigurationInput is the body of POST and PUT: each top-level field
// present replaces the stored one whole; an absent one is kept (PUT).
type ConfigurationInput struct {
	Name                json.RawMessage `json:"name"`
	Slug                json.RawMessage `json:"slug"`
	RequiresSessionAuth json.RawMessage `json:"requires_session_auth"`
	Participants        json.RawMessage `json:"participants"`
	Availability        json.RawMessage `json:"availability"`
	EventBooking        json.RawMessage `json:"event_booking"`
	Scheduler           json.RawMessage `json:"scheduler"`
	Appearance          json.RawMessage `json:"appearance"`
	// Read-only fields a client may echo back from a GET; ignored.
	ID json.RawMessage `json:"id"`
}

// Session is a short-lived credential for a private configuration's page.
type Session struct {
	ID              string
	ApplicationID   uuid.UUID
	ConfigurationID uuid.UUID
	ExpiresAt       time.Time
}

// SessionInput is the body of POST /v3/scheduling/sessions.
type SessionInput struct {
	ConfigurationID *string `json:"configuration_id"`
	Slug            *string `json:"slug"`
	TimeToLive      *int    `json:"time_to_live"`
}

// Booking statuses.
const (
	StatusBooked    = "booked"
	StatusPending   = "pending"
	StatusCancelled = "cancelled"
)

// Person is a name and an email.
type Person struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email"`
}

// Booking is a booked (or pending, or cancelled) slot.
type Booking struct {
	ID              uuid.UUID
	ApplicationID   uuid.UUID
	ConfigurationID uuid.UUID
	EventID         uuid.UUID
	EventGrantID    uuid.UUID
	CalendarID      uuid.UUID
	Salt            []byte
	Status          string
	Start, End      time.Time
	HeldCalendars   []uuid.UUID
	OrganizerEmail  string
	Details         BookingDetails
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// BookingDetails are what the guest gave and what the booking shows.
type BookingDetails struct {
	Title              string            `json:"title"`
	Description        string            `json:"description,omitempty"`
	Organizer          Person            `json:"organizer"`
	Guest              Person            `json:"guest"`
	AdditionalGuests   []Person          `json:"additional_guests,omitempty"`
	AdditionalFields   map[string]string `json:"additional_fields,omitempty"`
	Timezone           string            `json:"timezone,omitempty"`
	EmailLanguage      string            `json:"email_language,omitempty"`
	CancellationReason string            `json:"cancellation_reason,omitempty"`
	Participants       []string          `json:"participants,omitempty"` // round-robin: who hosts
}

// Ref is the booking's reference, for reschedule and cancel links.
func (b Booking) Ref() string { return EncodeRef(b.ConfigurationID, b.ID, b.Salt) }
