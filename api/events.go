package api

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/confhub/confhub/events"
	"github.com/confhub/confhub/grants"
	"github.com/confhub/confhub/internal/apperr"
	"github.com/confhub/confhub/internal/strictjson"
)

// Calendars is what the calendar routes, event reads and orphan listing
// need (events.Service).
type Calendars interface {
	CalendarGrant(ctx context.Context, appID uuid.UUID, grantID string) (uuid.UUID, error)
	CreateCalendar(ctx context.Context, appID, grantID uuid.UUID, in events.CalendarInput) (events.Calendar, error)
	ListCalendars(ctx context.Context, appID, grantID uuid.UUID) ([]events.Calendar, error)
	GetCalendar(ctx context.Context, appID, grantID uuid.UUID, id string) (events.Calendar, error)
	UpdateCalendar(ctx context.Context, appID, grantID uuid.UUID, id string, in events.CalendarInput) (events.Calendar, error)
	DeleteCalendar(ctx context.Context, appID, grantID uuid.UUID, id string) (events.Calendar, error)
	GetEvent(ctx context.Context, appID, grantID uuid.UUID, id string) (events.Event, error)
	ListEvents(ctx context.Context, appID, grantID uuid.UUID, f events.ListFilter) ([]events.Event, string, error)
	Orphans(ctx context.Context, appID uuid.UUID, confGrantID string) ([]events.Orphan, error)
}

// EventWorkflows creates, updates and deletes events through Temporal
// (workflows.Service).
type EventWorkflows interface {
	CreateEvent(ctx context.Context, appID uuid.UUID, grantID, calendarID string, in events.EventInput, idemKey string, body []byte) (events.Event, error)
	UpdateEvent(ctx context.Context, appID uuid.UUID, grantID, eventID string, in events.EventInput) (events.Event, error)
	DeleteEvent(ctx context.Context, appID uuid.UUID, grantID, eventID string) error
	// FollowZoomMeeting applies a verified Zoom meeting event to the event
	// carrying the meeting (none: ignored).
	FollowZoomMeeting(ctx context.Context, n grants.MeetingNotice) error
}

type calendarJSON struct {
	ID          string `json:"id"`
	GrantID     string `json:"grant_id"`
	Object      string `json:"object"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Timezone    string `json:"timezone"`
	IsPrimary   bool   `json:"is_primary"`
	ReadOnly    bool   `json:"read_only"`
}

func toCalendarJSON(c events.Calendar) calendarJSON {
	return calendarJSON{ID: c.ID.String(), GrantID: c.GrantID.String(), Object: "calendar", Name: c.Name,
		Description: c.Description, Timezone: c.Timezone, IsPrimary: c.IsPrimary, ReadOnly: c.ReadOnly}
}

// calendarGrant resolves the path's grant: a virtual-calendar grant of the
// caller (a grant token only reaches its own grant).
func (s *Server) calendarGrant(c echo.Context) (uuid.UUID, error) {
	id, err := grantParam(c)
	if err != nil {
		return uuid.Nil, err
	}
	return s.deps.Calendars.CalendarGrant(c.Request().Context(), applicationID(c), id)
}

func (s *Server) createCalendar(c echo.Context) error {
	gid, err := s.calendarGrant(c)
	if err != nil {
		return err
	}
	var in events.CalendarInput
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	cal, err := s.deps.Calendars.CreateCalendar(c.Request().Context(), applicationID(c), gid, in)
	if err != nil {
		return err
	}
	return ok(c, http.StatusOK, toCalendarJSON(cal))
}

func (s *Server) listCalendars(c echo.Context) error {
	gid, err := s.calendarGrant(c)
	if err != nil {
		return err
	}
	cals, err := s.deps.Calendars.ListCalendars(c.Request().Context(), applicationID(c), gid)
	if err != nil {
		return err
	}
	out := make([]calendarJSON, 0, len(cals))
	for _, x := range cals {
		out = append(out, toCalendarJSON(x))
	}
	return c.JSON(http.StatusOK, cursorList{RequestID: requestIDOf(c), Data: out})
}

func (s *Server) getCalendar(c echo.Context) error {
	gid, err := s.calendarGrant(c)
	if err != nil {
		return err
	}
	cal, err := s.deps.Calendars.GetCalendar(c.Request().Context(), applicationID(c), gid, c.Param("calendar_id"))
	if err != nil {
		return err
	}
	return ok(c, http.StatusOK, toCalendarJSON(cal))
}

func (s *Server) updateCalendar(c echo.Context) error {
	gid, err := s.calendarGrant(c)
	if err != nil {
		return err
	}
	var in events.CalendarInput
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	cal, err := s.deps.Calendars.UpdateCalendar(c.Request().Context(), applicationID(c), gid, c.Param("calendar_id"), in)
	if err != nil {
		return err
	}
	return ok(c, http.StatusOK, toCalendarJSON(cal))
}

func (s *Server) deleteCalendar(c echo.Context) error {
	gid, err := s.calendarGrant(c)
	if err != nil {
		return err
	}
	if _, err := s.deps.Calendars.DeleteCalendar(c.Request().Context(), applicationID(c), gid, c.Param("calendar_id")); err != nil {
		return err
	}
	return okDeleted(c)
}

// cursorList is the envelope of cursor-paged lists.
type cursorList struct {
	RequestID  string  `json:"request_id"`
	Data       any     `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

func (s *Server) createEvent(c echo.Context) error {
	id, err := grantParam(c)
	if err != nil {
		return err
	}
	if err := checkNotify(c); err != nil {
		return err
	}
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return apperr.Invalidf("request body is larger than %d bytes", MaxBodyBytes)
	}
	var in events.EventInput
	if err := strictjson.Decode(body, &in, ""); err != nil {
		return err
	}
	ev, err := s.deps.Events.CreateEvent(c.Request().Context(), applicationID(c), id, c.QueryParam("calendar_id"), in,
		c.Request().Header.Get("Idempotency-Key"), body)
	if err != nil {
		return err
	}
	return ok(c, http.StatusOK, events.Wire(ev))
}

func checkNotify(c echo.Context) error {
	if v := c.QueryParam("notify_participants"); v != "" {
		if _, err := strconv.ParseBool(v); err != nil {
			return apperr.InvalidField("notify_participants", "must be true or false")
		}
	}
	return nil
}

func (s *Server) listEvents(c echo.Context) error {
	gid, err := s.calendarGrant(c)
	if err != nil {
		return err
	}
	q := c.QueryParams()
	if q.Get("calendar_id") == "" {
		return apperr.InvalidField("calendar_id", "is required")
	}
	cal, err := s.deps.Calendars.GetCalendar(c.Request().Context(), applicationID(c), gid, q.Get("calendar_id"))
	if err != nil {
		return err
	}
	limit, err := cursorLimit(c)
	if err != nil {
		return err
	}
	f := events.ListFilter{CalendarID: cal.ID, Limit: limit, PageToken: q.Get("page_token")}
	for _, p := range []struct {
		name string
		dst  **time.Time
	}{{"start", &f.Start}, {"end", &f.End}} {
		if v := q.Get(p.name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 || n > 253402300799 {
				return apperr.InvalidField(p.name, "must be unix seconds")
			}
			t := time.Unix(n, 0).UTC()
			*p.dst = &t
		}
	}
	list, next, err := s.deps.Calendars.ListEvents(c.Request().Context(), applicationID(c), gid, f)
	if err != nil {
		return err
	}
	out := make([]events.EventJSON, 0, len(list))
	for _, e := range list {
		out = append(out, events.Wire(e))
	}
	var nc *string
	if next != "" {
		nc = &next
	}
	return c.JSON(http.StatusOK, cursorList{RequestID: requestIDOf(c), Data: out, NextCursor: nc})
}

func (s *Server) getEvent(c echo.Context) error {
	gid, err := s.calendarGrant(c)
	if err != nil {
		return err
	}
	ev, err := s.deps.Calendars.GetEvent(c.Request().Context(), applicationID(c), gid, c.Param("event_id"))
	if err != nil {
		return err
	}
	return ok(c, http.StatusOK, events.Wire(ev))
}

func (s *Server) updateEvent(c echo.Context) error {
	id, err := grantParam(c)
	if err != nil {
		return err
	}
	if err := checkNotify(c); err != nil {
		return err
	}
	var in events.EventInput
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	ev, err := s.deps.Events.UpdateEvent(c.Request().Context(), applicationID(c), id, c.Param("event_id"), in)
	if err != nil {
		return err
	}
	return ok(c, http.StatusOK, events.Wire(ev))
}

func (s *Server) deleteEvent(c echo.Context) error {
	id, err := grantParam(c)
	if err != nil {
		return err
	}
	if err := checkNotify(c); err != nil {
		return err
	}
	if err := s.deps.Events.DeleteEvent(c.Request().Context(), applicationID(c), id, c.Param("event_id")); err != nil {
		return err
	}
	return okDeleted(c)
}

type orphanJSON struct {
	MeetingID string `json:"meeting_id"`
	EventID   string `json:"event_id,omitempty"`
	Reason    string `json:"reason"`
	CreatedAt int64  `json:"created_at"`
}

func (s *Server) listOrphans(c echo.Context) error {
	id, err := grantParam(c)
	if err != nil {
		return err
	}
	list, err := s.deps.Calendars.Orphans(c.Request().Context(), applicationID(c), id)
	if err != nil {
		return err
	}
	out := make([]orphanJSON, 0, len(list))
	for _, o := range list {
		j := orphanJSON{MeetingID: strconv.FormatInt(o.MeetingID, 10), Reason: o.Reason, CreatedAt: o.CreatedAt.Unix()}
		if o.EventID != nil {
			j.EventID = o.EventID.String()
		}
		out = append(out, j)
	}
	return ok(c, http.StatusOK, out)
}
