package events

import (
	"context"
	"fmt"
	"sync"

	"github.com/google/uuid"

	"github.com/confhub/confhub/grants"
	"github.com/confhub/confhub/internal/apperr"
)

// Grants is what the events feature needs to know of grants: which
// application a grant belongs to, its provider and whether it is valid.
// grants.Store implements it; events never reads the grants table.
type Grants interface {
	Get(ctx context.Context, appID uuid.UUID, id string) (grants.Grant, error)
	GetMany(ctx context.Context, appID uuid.UUID, ids []uuid.UUID) ([]grants.Grant, error)
}

// Service is the events feature: calendars and event reads directly, and
// the checks and lookups that precede a create, update or delete (which the
// workflows carry out).
type Service struct {
	*Store
	grants Grants
}

// NewService returns the events feature over its store.
func NewService(store *Store, g Grants) *Service { return &Service{Store: store, grants: g} }

// CalendarGrant checks that grantID is a valid virtual-calendar grant of the
// application: where calendars and events live.
func (s *Service) CalendarGrant(ctx context.Context, appID uuid.UUID, grantID string) (uuid.UUID, error) {
	g, err := s.grants.Get(ctx, appID, grantID)
	if err != nil {
		return uuid.Nil, err
	}
	return calendarGrant(g)
}

func calendarGrant(g grants.Grant) (uuid.UUID, error) {
	if g.Provider != grants.ProviderVirtualCalendar {
		return uuid.Nil, apperr.InvalidField("grant_id", "grant %s is a %s grant: calendars and events live on virtual-calendar grants", g.ID, g.Provider)
	}
	if g.Status != grants.StatusValid {
		return uuid.Nil, &apperr.Error{Kind: apperr.Unauthorized, Message: fmt.Sprintf("grant %s is invalid", g.ID)}
	}
	return g.ID, nil
}

// confGrantField is where a conf grant is named in an event body.
const confGrantField = "conferencing.autocreate.conf_grant_id"

// ConfGrant checks an autocreate's conf grant: a valid Zoom grant of the application.
func (s *Service) ConfGrant(ctx context.Context, appID uuid.UUID, id string) (uuid.UUID, error) {
	if _, err := uuid.Parse(id); err != nil {
		return uuid.Nil, apperr.InvalidField(confGrantField, "is not a grant id")
	}
	g, err := s.grants.Get(ctx, appID, id)
	if apperr.IsKind(err, apperr.NotFound) {
		return confGrant(id, nil)
	}
	if err != nil {
		return uuid.Nil, err
	}
	return confGrant(id, &g)
}

// confGrant is the conf grant check on a looked-up grant (nil: none found).
func confGrant(id string, g *grants.Grant) (uuid.UUID, error) {
	switch {
	case g == nil:
		return uuid.Nil, &apperr.Error{Kind: apperr.NotFound, Field: confGrantField, Message: fmt.Sprintf("grant %s not found", id)}
	case g.Provider != grants.ProviderZoom:
		return uuid.Nil, apperr.InvalidField(confGrantField, "grant %s is a %s grant, not a Zoom grant", id, g.Provider)
	case g.Status != grants.StatusValid && g.AccountLevel:
		return uuid.Nil, apperr.InvalidField(confGrantField, "grant %s is invalid (%s): a Zoom admin of the company must restore its Zoom connection, then connect the user again", id, g.InvalidReason)
	case g.Status != grants.StatusValid:
		return uuid.Nil, apperr.InvalidField(confGrantField, "grant %s is invalid (%s): the user must connect their Zoom account again", id, g.InvalidReason)
	}
	return g.ID, nil
}

// NewEventPlan is a validated create: the event to store and, for
// autocreate, the Zoom grant that hosts its meeting.
type NewEventPlan struct {
	Event     Event // Conferencing set as asked (autocreate, details or nil)
	ConfGrant uuid.UUID
}

// Autocreate reports whether the plan asks for a Zoom meeting.
func (p NewEventPlan) Autocreate() bool {
	return p.Event.Conferencing != nil && p.Event.Conferencing.Autocreate != nil
}

// PrepareCreate validates a create and resolves what it names. Validation
// needs no lookups; the grants (the path's and the conf grant, in one query)
// and the calendar are looked up side by side, so the create pays for one
// round trip. Errors still come in the order a reader expects: the path's
// grant and calendar, then the body, then the conf grant.
func (s *Service) PrepareCreate(ctx context.Context, appID uuid.UUID, grantID, calendarID string, in EventInput) (NewEventPlan, error) {
	if calendarID == "" {
		return NewEventPlan{}, apperr.InvalidField("calendar_id", "is required (a calendar id, or primary)")
	}
	change, invalid := NewEvent(appID, uuid.Nil, uuid.Nil, in)
	gid, err := uuid.Parse(grantID)
	if err != nil {
		return NewEventPlan{}, errNotFound("grant")
	}
	ids := []uuid.UUID{gid}
	var confID uuid.UUID
	var confErr error
	autocreate := invalid == nil && change.Conf == ConfSet && change.Conference.Autocreate != nil
	if autocreate {
		if confID, err = uuid.Parse(change.Conference.Autocreate.ConfGrantID); err != nil {
			confErr, autocreate = apperr.InvalidField(confGrantField, "is not a grant id"), false
		} else {
			ids = append(ids, confID)
		}
	}
	var (
		lookups sync.WaitGroup
		found   []grants.Grant
		getErr  error
		calID   uuid.UUID
		calErr  error
	)
	lookups.Go(func() { found, getErr = s.grants.GetMany(ctx, appID, ids) })
	lookups.Go(func() { calID, calErr = s.FindCalendar(ctx, appID, gid, calendarID) })
	lookups.Wait()
	if getErr != nil {
		return NewEventPlan{}, getErr
	}
	byID := func(id uuid.UUID) *grants.Grant {
		for i := range found {
			if found[i].ID == id {
				return &found[i]
			}
		}
		return nil
	}
	g := byID(gid)
	if g == nil {
		return NewEventPlan{}, errNotFound("grant")
	}
	if _, err := calendarGrant(*g); err != nil {
		return NewEventPlan{}, err
	}
	if autocreate {
		confID, confErr = confGrant(change.Conference.Autocreate.ConfGrantID, byID(confID))
	}
	switch {
	case calErr != nil:
		return NewEventPlan{}, calErr
	case invalid != nil:
		return NewEventPlan{}, invalid
	case confErr != nil:
		return NewEventPlan{}, confErr
	}
	ev := change.Event
	ev.GrantID, ev.CalendarID = gid, calID
	if change.Conf == ConfSet {
		ev.Conferencing = change.Conference
	}
	return NewEventPlan{Event: ev, ConfGrant: confID}, nil
}

// UpdatePlan is a validated update of a stored event.
type UpdatePlan struct {
	Stored    Event
	Patch     Patch
	ConfGrant uuid.UUID // for an autocreate in the patch
}

// PrepareUpdate validates a PUT against the stored event, for a fast 400;
// the workflow applies the patch to the row as it finds it.
func (s *Service) PrepareUpdate(ctx context.Context, appID uuid.UUID, grantID, eventID string, in EventInput) (UpdatePlan, error) {
	gid, err := s.CalendarGrant(ctx, appID, grantID)
	if err != nil {
		return UpdatePlan{}, err
	}
	stored, err := s.GetEvent(ctx, appID, gid, eventID)
	if err != nil {
		return UpdatePlan{}, err
	}
	p, err := ParsePatch(in)
	if err != nil {
		return UpdatePlan{}, err
	}
	plan := UpdatePlan{Stored: stored, Patch: p}
	if p.Conf == ConfSet && p.Conference.Autocreate != nil {
		if plan.ConfGrant, err = s.ConfGrant(ctx, appID, p.Conference.Autocreate.ConfGrantID); err != nil {
			return UpdatePlan{}, err
		}
	}
	return plan, nil
}

// RemoveEvent deletes an event of a calendar grant and returns what it was,
// with the outbox entry that deletes its meeting (the caller hands it over).
func (s *Service) RemoveEvent(ctx context.Context, appID uuid.UUID, grantID, eventID string) (Removed, error) {
	gid, err := s.CalendarGrant(ctx, appID, grantID)
	if err != nil {
		return Removed{}, err
	}
	return s.DeleteEvent(ctx, appID, gid, eventID)
}

// Orphans lists the meetings of a conf grant of the application we could not delete.
func (s *Service) Orphans(ctx context.Context, appID uuid.UUID, confGrantID string) ([]Orphan, error) {
	g, err := s.grants.Get(ctx, appID, confGrantID)
	if err != nil {
		return nil, err
	}
	return s.ListOrphans(ctx, appID, g.ID)
}

// NoticeEvent returns the event, among the applications', that carries the
// notice's meeting. When Zoom names the meeting's host and the event's conf
// grant knows its Zoom user, they must be the same: a notice about another
// host's meeting is not about this event.
func (s *Service) NoticeEvent(ctx context.Context, appIDs []uuid.UUID, n MeetingNotice) (Event, bool, error) {
	ev, ok, err := s.MeetingEvent(ctx, appIDs, n.MeetingID)
	if err != nil || !ok || n.HostID == "" || ev.ConfGrantID == nil {
		return ev, ok, err
	}
	gs, err := s.grants.GetMany(ctx, ev.ApplicationID, []uuid.UUID{*ev.ConfGrantID})
	if err != nil {
		return Event{}, false, err
	}
	if len(gs) == 1 && gs[0].ProviderUserID != "" && gs[0].ProviderUserID != n.HostID {
		return Event{}, false, nil
	}
	return ev, true, nil
}
