package events

import (
	"bytes"
	"slices"

	"github.com/google/uuid"

	"github.com/confhub/confhub/internal/apperr"
)

// Change is a validated create or update: the event as it should be stored
// (its Zoom meeting not yet made or synced) and what to do with the conference.
type Change struct {
	Event      Event
	Conf       ConfChange
	Conference *Conferencing // for ConfSet
	// ZoomFieldsChanged: title, description or time changed, so an existing
	// meeting must be synced.
	ZoomFieldsChanged bool
}

// NewEvent validates a create request.
func NewEvent(appID, grantID, calendarID uuid.UUID, in EventInput) (Change, error) {
	if len(bytes.TrimSpace(in.When)) == 0 || bytes.Equal(bytes.TrimSpace(in.When), []byte("null")) {
		return Change{}, apperr.InvalidField("when", "is required")
	}
	e := Event{ID: uuid.New(), ApplicationID: appID, GrantID: grantID, CalendarID: calendarID, Busy: true,
		Status: "confirmed", Visibility: "default", Participants: []Participant{}}
	c, err := apply(e, in)
	if err != nil {
		return Change{}, err
	}
	if c.Conf == ConfRemove {
		c.Conf = ConfKeep
	}
	return c, nil
}

// ApplyUpdate validates a PUT against the stored event: omitted top-level
// fields are kept, nested objects (when, participants, metadata,
// conferencing) are replaced whole.
func ApplyUpdate(stored Event, in EventInput) (Change, error) {
	c, err := apply(stored, in)
	if err != nil {
		return Change{}, err
	}
	s, e := stored, c.Event
	c.ZoomFieldsChanged = s.Title != e.Title || s.Description != e.Description || !s.StartsAt.Equal(e.StartsAt) ||
		!s.EndsAt.Equal(e.EndsAt) || s.When.StartTimezone != e.When.StartTimezone || s.When.Timezone != e.When.Timezone ||
		s.When.Object != e.When.Object
	return c, nil
}

func apply(e Event, in EventInput) (Change, error) {
	if in.Title != nil {
		if err := validText("title", *in.Title, maxTitle); err != nil {
			return Change{}, err
		}
		e.Title = *in.Title
	}
	if in.Description != nil {
		d := StripBlock(*in.Description)
		if err := validText("description", d, maxDescription); err != nil {
			return Change{}, err
		}
		e.Description = d
	}
	if in.Location != nil {
		if err := validText("location", *in.Location, maxLocation); err != nil {
			return Change{}, err
		}
		e.Location = *in.Location
	}
	if in.Busy != nil {
		e.Busy = *in.Busy
	}
	if in.Status != nil {
		if !slices.Contains([]string{"confirmed", "tentative", "cancelled"}, *in.Status) {
			return Change{}, apperr.InvalidField("status", "must be confirmed, tentative or cancelled")
		}
		e.Status = *in.Status
	}
	if in.Visibility != nil {
		if !slices.Contains([]string{"default", "public", "private"}, *in.Visibility) {
			return Change{}, apperr.InvalidField("visibility", "must be default, public or private")
		}
		e.Visibility = *in.Visibility
	}
	if in.Participants != nil {
		ps, err := validParticipants(*in.Participants)
		if err != nil {
			return Change{}, err
		}
		e.Participants = ps
	}
	if in.Metadata != nil {
		if err := validMetadata(*in.Metadata); err != nil {
			return Change{}, err
		}
		e.Metadata = *in.Metadata
	}
	if len(bytes.TrimSpace(in.When)) > 0 {
		w, start, end, err := ParseWhen(in.When)
		if err != nil {
			return Change{}, err
		}
		e.When, e.StartsAt, e.EndsAt = w, start, end
	}
	kind, conf, err := ParseConferencing(in.Conferencing)
	if err != nil {
		return Change{}, err
	}
	return Change{Event: e, Conf: kind, Conference: conf}, nil
}
