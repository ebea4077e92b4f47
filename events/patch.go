package events

import (
	"bytes"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/confhub/confhub/internal/apperr"
)

// Patch is a validated create or update request: the fields it sets, already
// checked and normalised. Applying it (Apply) validates nothing and calls
// nothing, so the workflow that applies an update to the row it reads stays
// deterministic.
type Patch struct {
	Title        *string
	Description  *string // without the join-details block
	Location     *string
	Busy         *bool
	Status       *string
	Visibility   *string
	Participants *[]Participant
	Metadata     *map[string]string
	When         *Span
	Conf         ConfChange
	Conference   *Conferencing // for ConfSet
}

// Span is a parsed when with the instants it covers.
type Span struct {
	When     When
	StartsAt time.Time
	EndsAt   time.Time
}

// Change is a patch applied to an event: the event as it should be stored
// (its Zoom meeting not yet made or synced) and what to do with the conference.
type Change struct {
	Event      Event
	Conf       ConfChange
	Conference *Conferencing // for ConfSet
	// ZoomFieldsChanged: title, description or time changed, so an existing
	// meeting must be synced.
	ZoomFieldsChanged bool
}

// ParsePatch validates a PUT (or POST) body: omitted top-level fields are
// kept, nested objects (when, participants, metadata, conferencing) replace
// the stored ones whole.
func ParsePatch(in EventInput) (Patch, error) {
	var p Patch
	if in.Title != nil {
		if err := ValidText("title", *in.Title, maxTitle); err != nil {
			return Patch{}, err
		}
		p.Title = in.Title
	}
	if in.Description != nil {
		d := StripBlock(*in.Description)
		if err := ValidText("description", d, maxDescription); err != nil {
			return Patch{}, err
		}
		p.Description = &d
	}
	if in.Location != nil {
		if err := ValidText("location", *in.Location, maxLocation); err != nil {
			return Patch{}, err
		}
		p.Location = in.Location
	}
	p.Busy = in.Busy
	if in.Status != nil {
		if !slices.Contains([]string{"confirmed", "tentative", "cancelled"}, *in.Status) {
			return Patch{}, apperr.InvalidField("status", "must be confirmed, tentative or cancelled")
		}
		p.Status = in.Status
	}
	if in.Visibility != nil {
		if !slices.Contains([]string{"default", "public", "private"}, *in.Visibility) {
			return Patch{}, apperr.InvalidField("visibility", "must be default, public or private")
		}
		p.Visibility = in.Visibility
	}
	if in.Participants != nil {
		ps, err := validParticipants(*in.Participants)
		if err != nil {
			return Patch{}, err
		}
		p.Participants = &ps
	}
	if in.Metadata != nil {
		if err := validMetadata(*in.Metadata); err != nil {
			return Patch{}, err
		}
		p.Metadata = in.Metadata
	}
	if len(bytes.TrimSpace(in.When)) > 0 {
		w, start, end, err := ParseWhen(in.When)
		if err != nil {
			return Patch{}, err
		}
		p.When = &Span{When: w, StartsAt: start, EndsAt: end}
	}
	kind, conf, err := ParseConferencing(in.Conferencing)
	if err != nil {
		return Patch{}, err
	}
	p.Conf, p.Conference = kind, conf
	return p, nil
}

// NewEvent validates a create request into the event to store.
func NewEvent(appID, grantID, calendarID uuid.UUID, in EventInput) (Change, error) {
	if len(bytes.TrimSpace(in.When)) == 0 || bytes.Equal(bytes.TrimSpace(in.When), []byte("null")) {
		return Change{}, apperr.InvalidField("when", "is required")
	}
	p, err := ParsePatch(in)
	if err != nil {
		return Change{}, err
	}
	if p.Conf == ConfRemove {
		p.Conf = ConfKeep // nothing to remove on a new event
	}
	e := Event{ID: uuid.New(), ApplicationID: appID, GrantID: grantID, CalendarID: calendarID, Busy: true,
		Status: "confirmed", Visibility: "default", Participants: []Participant{}}
	return p.Apply(e), nil
}

// Apply is the patch applied to a stored event. It is pure: no validation,
// no clock, no lookups.
func (p Patch) Apply(stored Event) Change {
	e := stored
	if p.Title != nil {
		e.Title = *p.Title
	}
	if p.Description != nil {
		e.Description = *p.Description
	}
	if p.Location != nil {
		e.Location = *p.Location
	}
	if p.Busy != nil {
		e.Busy = *p.Busy
	}
	if p.Status != nil {
		e.Status = *p.Status
	}
	if p.Visibility != nil {
		e.Visibility = *p.Visibility
	}
	if p.Participants != nil {
		e.Participants = *p.Participants
	}
	if p.Metadata != nil {
		e.Metadata = *p.Metadata
	}
	if p.When != nil {
		e.When, e.StartsAt, e.EndsAt = p.When.When, p.When.StartsAt, p.When.EndsAt
	}
	s := stored
	return Change{Event: e, Conf: p.Conf, Conference: p.Conference,
		ZoomFieldsChanged: s.Title != e.Title || s.Description != e.Description || !s.StartsAt.Equal(e.StartsAt) ||
			!s.EndsAt.Equal(e.EndsAt) || s.When.StartTimezone != e.When.StartTimezone || s.When.Timezone != e.When.Timezone ||
			s.When.Object != e.When.Object}
}
