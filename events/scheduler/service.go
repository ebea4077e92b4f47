package scheduler

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/confhub/confhub/events"
	"github.com/confhub/confhub/events/scheduler/slots"
	"github.com/confhub/confhub/internal/apperr"
	"github.com/confhub/confhub/internal/database"
)

// Events is what the scheduler needs of the events feature
// (events.Service): calendars, busy time, and the events path's checks.
type Events interface {
	CalendarGrant(ctx context.Context, appID uuid.UUID, grantID string) (uuid.UUID, error)
	FindCalendar(ctx context.Context, appID, grantID uuid.UUID, calendarID string) (uuid.UUID, error)
	CalendarsByID(ctx context.Context, appID uuid.UUID, ids []uuid.UUID) ([]events.Calendar, error)
	ConfGrant(ctx context.Context, appID uuid.UUID, id string) (uuid.UUID, error)
	BusyTimes(ctx context.Context, q database.Querier, appID uuid.UUID, calendars []uuid.UUID, from, to time.Time) ([]events.BusyTime, error)
	QueueBusyTimes(b *pgx.Batch, appID uuid.UUID, calendars []uuid.UUID, from, to time.Time, out *[]events.BusyTime)
	PrepareCreate(ctx context.Context, appID uuid.UUID, grantID, calendarID string, in events.EventInput) (events.NewEventPlan, error)
	DeleteEventTx(ctx context.Context, tx pgx.Tx, appID, grantID, id uuid.UUID) (events.Removed, error)
}

// Service is the Scheduler feature: configurations and sessions directly,
// and the checks and claims that precede a booking's event (which the
// workflows make, move and remove).
type Service struct {
	*Store
	events Events
	now    func() time.Time
}

// NewService returns the scheduler over its store. now is the clock (nil: time.Now).
func NewService(store *Store, ev Events, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{Store: store, events: ev, now: now}
}

// CreateConfiguration validates and stores a configuration of the grant.
func (s *Service) CreateConfiguration(ctx context.Context, appID uuid.UUID, grantID string, in ConfigurationInput) (Configuration, error) {
	gid, err := s.events.CalendarGrant(ctx, appID, grantID)
	if err != nil {
		return Configuration{}, err
	}
	c := Configuration{ID: uuid.New(), ApplicationID: appID, GrantID: gid}
	if err := applyInput(&c.Body, &c.Slug, &c.RequiresSessionAuth, in, true); err != nil {
		return Configuration{}, err
	}
	if err := s.resolve(ctx, &c); err != nil {
		return Configuration{}, err
	}
	return s.Store.CreateConfiguration(ctx, c)
}

// UpdateConfiguration applies a PUT: present top-level fields replace the
// stored ones whole.
func (s *Service) UpdateConfiguration(ctx context.Context, appID uuid.UUID, grantID, id string, in ConfigurationInput) (Configuration, error) {
	gid, err := s.events.CalendarGrant(ctx, appID, grantID)
	if err != nil {
		return Configuration{}, err
	}
	c, err := s.Store.GetConfiguration(ctx, appID, gid, id)
	if err != nil {
		return Configuration{}, err
	}
	c.CalendarGrants = nil
	if err := applyInput(&c.Body, &c.Slug, &c.RequiresSessionAuth, in, false); err != nil {
		return Configuration{}, err
	}
	if err := s.resolve(ctx, &c); err != nil {
		return Configuration{}, err
	}
	return s.Store.UpdateConfiguration(ctx, c)
}

// GetConfiguration returns a configuration of the grant.
func (s *Service) GetConfiguration(ctx context.Context, appID uuid.UUID, grantID, id string) (Configuration, error) {
	gid, err := s.events.CalendarGrant(ctx, appID, grantID)
	if err != nil {
		return Configuration{}, err
	}
	return s.Store.GetConfiguration(ctx, appID, gid, id)
}

// ListConfigurations returns a page of the grant's configurations.
func (s *Service) ListConfigurations(ctx context.Context, appID uuid.UUID, grantID string, limit int, pageToken string) ([]Configuration, string, error) {
	gid, err := s.events.CalendarGrant(ctx, appID, grantID)
	if err != nil {
		return nil, "", err
	}
	return s.Store.ListConfigurations(ctx, appID, gid, limit, pageToken)
}

// DeleteConfiguration removes a configuration of the grant.
func (s *Service) DeleteConfiguration(ctx context.Context, appID uuid.UUID, grantID, id string) error {
	gid, err := s.events.CalendarGrant(ctx, appID, grantID)
	if err != nil {
		return err
	}
	return s.Store.DeleteConfiguration(ctx, appID, gid, id)
}

// resolve checks what a configuration names: its calendars belong to
// valid virtual-calendar grants of the application ("primary" is the path
// grant's primary calendar, stored by its id), every possible host has a
// calendar to book into, and the conf grant is a valid Zoom grant of the
// application, so that a bad configuration fails when it is saved, not
// when a guest books.
func (s *Service) resolve(ctx context.Context, c *Configuration) error {
	var ids []uuid.UUID
	for i := range c.Body.Participants {
		p := &c.Body.Participants[i]
		f := fmt.Sprintf("participants[%d]", i)
		for j, id := range p.Availability.CalendarIDs {
			cid, err := s.calendarID(ctx, c, id)
			if err != nil {
				return prefixField(err, fmt.Sprintf("%s.availability.calendar_ids[%d]", f, j))
			}
			p.Availability.CalendarIDs[j] = cid.String()
			ids = append(ids, cid)
		}
		if p.Booking != nil {
			cid, err := s.calendarID(ctx, c, p.Booking.CalendarID)
			if err != nil {
				return prefixField(err, f+".booking.calendar_id")
			}
			p.Booking.CalendarID = cid.String()
			ids = append(ids, cid)
		}
		host := p.IsOrganizer || roundRobin(c.Body.Availability.AvailabilityRules.AvailabilityMethod)
		if host && p.Booking == nil && len(p.Availability.CalendarIDs) == 0 {
			return apperr.InvalidField(f+".booking.calendar_id", "is required: bookings need a calendar to be made in (or list availability.calendar_ids)")
		}
	}
	if len(ids) > 0 {
		found, err := s.events.CalendarsByID(ctx, c.ApplicationID, ids)
		if err != nil {
			return err
		}
		c.CalendarGrants = map[uuid.UUID]uuid.UUID{}
		for _, cal := range found {
			c.CalendarGrants[cal.ID] = cal.GrantID
		}
		for i, p := range c.Body.Participants {
			for j, id := range p.Availability.CalendarIDs {
				if !hasCalendar(found, id) {
					return apperr.InvalidField(fmt.Sprintf("participants[%d].availability.calendar_ids[%d]", i, j), "calendar %s is not a calendar of this application", id)
				}
			}
			if p.Booking != nil && !hasCalendar(found, p.Booking.CalendarID) {
				return apperr.InvalidField(fmt.Sprintf("participants[%d].booking.calendar_id", i), "calendar %s is not a calendar of this application", p.Booking.CalendarID)
			}
		}
	}
	if conf := c.Body.EventBooking.Conferencing; conf != nil && conf.Autocreate != nil {
		if _, err := s.events.ConfGrant(ctx, c.ApplicationID, conf.Autocreate.ConfGrantID); err != nil {
			if e, ok := apperr.As(err); ok && e.Kind == apperr.NotFound {
				return apperr.InvalidField("event_booking.conferencing.autocreate.conf_grant_id", "grant %s is not a grant of this application", conf.Autocreate.ConfGrantID)
			}
			return prefixField(err, "event_booking.")
		}
	}
	return nil
}

func hasCalendar(cals []events.Calendar, id string) bool {
	for _, c := range cals {
		if c.ID.String() == id {
			return true
		}
	}
	return false
}

// calendarID reads a calendar id of a configuration: a UUID, or "primary".
func (s *Service) calendarID(ctx context.Context, c *Configuration, id string) (uuid.UUID, error) {
	if id == "primary" {
		cid, err := s.events.FindCalendar(ctx, c.ApplicationID, c.GrantID, "primary")
		if apperr.IsKind(err, apperr.NotFound) {
			return uuid.Nil, apperr.InvalidField("", "the grant has no primary calendar")
		}
		return cid, err
	}
	cid, err := uuid.Parse(id)
	if err != nil {
		return uuid.Nil, apperr.InvalidField("", "is not a calendar id")
	}
	return cid, nil
}

// Session lengths, in minutes.
const (
	defaultSessionTTL = 5
	maxSessionTTL     = 30
)

// CreateSession opens a session on a configuration of the application.
func (s *Service) CreateSession(ctx context.Context, appID uuid.UUID, in SessionInput) (Session, error) {
	ttl := defaultSessionTTL
	if in.TimeToLive != nil {
		ttl = *in.TimeToLive
		if ttl < 1 || ttl > maxSessionTTL {
			return Session{}, apperr.InvalidField("time_to_live", "must be 1 to %d minutes", maxSessionTTL)
		}
	}
	var c Configuration
	var err error
	switch {
	case in.ConfigurationID != nil && in.Slug != nil:
		return Session{}, apperr.InvalidField("slug", "give configuration_id or slug, not both")
	case in.ConfigurationID != nil:
		c, err = s.configurationOf(ctx, appID, *in.ConfigurationID, "configuration_id")
	case in.Slug != nil:
		c, err = s.slugOf(ctx, appID, *in.Slug)
	default:
		return Session{}, apperr.InvalidField("configuration_id", "is required (or slug)")
	}
	if err != nil {
		return Session{}, err
	}
	ss := Session{ID: uuid.NewString(), ApplicationID: appID, ConfigurationID: c.ID, ExpiresAt: s.now().Add(time.Duration(ttl) * time.Minute)}
	return ss, s.Store.CreateSession(ctx, ss, s.now())
}

// DeleteSession ends a session of the application.
func (s *Service) DeleteSession(ctx context.Context, appID uuid.UUID, id string) error {
	return s.Store.DeleteSession(ctx, appID, id)
}

func (s *Service) configurationOf(ctx context.Context, appID uuid.UUID, id, field string) (Configuration, error) {
	cid, err := uuid.Parse(id)
	if err != nil {
		return Configuration{}, apperr.InvalidField(field, "is not a configuration id")
	}
	c, err := s.ConfigurationByID(ctx, cid)
	if err == nil && c.ApplicationID != appID {
		err = notFound("configuration")
	}
	return c, err
}

func (s *Service) slugOf(ctx context.Context, appID uuid.UUID, slug string) (Configuration, error) {
	list, err := s.ConfigurationsBySlug(ctx, slug, &appID)
	if err != nil {
		return Configuration{}, err
	}
	if len(list) == 0 {
		return Configuration{}, notFound("configuration")
	}
	return list[0], nil
}

// Credentials are how a Scheduler call names its configuration.
type Credentials struct {
	AppID           *uuid.UUID // an API key's application
	SessionID       string     // Authorization: Bearer <session id>
	ConfigurationID string
	Slug, ClientID  string
}

var errNoSession = &apperr.Error{Kind: apperr.Unauthorized, Message: "the session is unknown or has expired: create a new one"}

// Open resolves the configuration a Scheduler call is for, and checks the
// caller may use it: a session names its own; with the API key any of the
// application's; with nothing only a public one (requires_session_auth false).
func (s *Service) Open(ctx context.Context, cr Credentials) (Configuration, error) {
	if cr.SessionID != "" {
		c, ok, err := s.SessionConfiguration(ctx, cr.SessionID, s.now())
		if err != nil {
			return Configuration{}, err
		}
		if !ok {
			return Configuration{}, errNoSession
		}
		return c, nil
	}
	var c Configuration
	var err error
	switch {
	case cr.ConfigurationID != "":
		id, perr := uuid.Parse(cr.ConfigurationID)
		if perr != nil {
			return Configuration{}, apperr.InvalidField("configuration_id", "is not a configuration id")
		}
		c, err = s.ConfigurationByID(ctx, id)
	case cr.Slug != "":
		if cr.ClientID == "" && cr.AppID == nil {
			return Configuration{}, apperr.InvalidField("client_id", "is required with slug (the application id)")
		}
		app := cr.AppID
		if cr.ClientID != "" {
			id, perr := uuid.Parse(cr.ClientID)
			if perr != nil {
				return Configuration{}, apperr.InvalidField("client_id", "is not an application id")
			}
			if app != nil && *app != id {
				return Configuration{}, notFound("configuration")
			}
			app = &id
		}
		var list []Configuration
		list, err = s.ConfigurationsBySlug(ctx, cr.Slug, app)
		if err == nil && len(list) == 0 {
			err = notFound("configuration")
		}
		if err == nil {
			c = list[0]
		}
	default:
		return Configuration{}, apperr.InvalidField("configuration_id", "is required (or slug and client_id, or a session in Authorization)")
	}
	if err != nil {
		return Configuration{}, err
	}
	switch {
	case cr.AppID != nil && c.ApplicationID != *cr.AppID:
		return Configuration{}, notFound("configuration")
	case cr.AppID == nil && c.RequiresSessionAuth:
		return Configuration{}, &apperr.Error{Kind: apperr.Unauthorized,
			Message: "this configuration is private: call with a session (Authorization: Bearer <session_id>)"}
	}
	return c, nil
}

// maxWindow bounds an availability request.
const maxWindow = 93 * 24 * time.Hour

// Availability lists the slots of [start, end) (unix seconds); with a
// booking id, that booking's own time counts as free (a reschedule).
func (s *Service) Availability(ctx context.Context, c Configuration, start, end int64, bookingID string) (slots.Result, error) {
	from, to := time.Unix(start, 0), time.Unix(end, 0)
	if end <= start {
		return slots.Result{}, apperr.InvalidField("end_time", "must be after start_time")
	}
	if to.Sub(from) > maxWindow {
		return slots.Result{}, apperr.InvalidField("end_time", "the window is at most 93 days")
	}
	var exclude *Booking
	if bookingID != "" {
		b, err := s.Booking(ctx, c, bookingID)
		if err != nil {
			return slots.Result{}, err
		}
		exclude = &b
	}
	q, err := s.query(ctx, s.Store.pool, c, from, to, exclude, nil)
	if err != nil {
		return slots.Result{}, err
	}
	res, err := slots.Compute(q)
	if err != nil {
		return slots.Result{}, openHoursErr(err)
	}
	return res, nil
}

// window is the busy time a query for [from, to) needs: from before the
// first slot's buffer to after the last's.
func window(c Configuration, from, to time.Time) (time.Time, time.Time) {
	a := c.Body.Availability
	margin := time.Duration(a.AvailabilityRules.Buffer.Before+a.AvailabilityRules.Buffer.After+a.DurationMinutes) * time.Minute
	return from.Add(-margin), to.Add(margin)
}

// calendars are the availability calendars of the configuration's participants.
func calendars(c Configuration) []uuid.UUID {
	var out []uuid.UUID
	for _, p := range c.Body.Participants {
		for _, id := range p.Availability.CalendarIDs {
			out = append(out, uuid.MustParse(id))
		}
	}
	return out
}

// busyData is what a query reads: the calendars' events and holds, and
// (max-fairness) when each participant was last booked.
type busyData struct {
	busy       []events.BusyTime
	holds      []Hold
	lastBooked map[string]time.Time
}

// query gathers what the engine needs for [from, to), reading through q.
func (s *Service) query(ctx context.Context, q database.Querier, c Configuration, from, to time.Time, exclude *Booking, only []string) (slots.Query, error) {
	var d busyData
	cals := calendars(c)
	wf, wt := window(c, from, to)
	if len(cals) > 0 {
		var err error
		if d.busy, err = s.events.BusyTimes(ctx, q, c.ApplicationID, cals, wf, wt); err != nil {
			return slots.Query{}, err
		}
		if d.holds, err = s.holds(ctx, q, c.ApplicationID, cals, wf, wt); err != nil {
			return slots.Query{}, err
		}
	}
	if c.Body.Availability.AvailabilityRules.AvailabilityMethod == MaxFairness {
		var err error
		if d.lastBooked, err = s.lastBooked(ctx, q, c.ID); err != nil {
			return slots.Query{}, err
		}
	}
	return s.build(c, from, to, d, exclude, only), nil
}

// build is the engine's query for [from, to): each participant's open
// hours and busy time (their calendars' events and the bookings that hold
// them). only limits the participants (a round-robin booking for chosen
// hosts); exclude's own time counts as free (a reschedule).
func (s *Service) build(c Configuration, from, to time.Time, d busyData, exclude *Booking, only []string) slots.Query {
	b := c.Body
	rules := b.Availability.AvailabilityRules
	out := slots.Query{
		Start: from, End: to, Now: s.now(),
		Duration:         time.Duration(b.Availability.DurationMinutes) * time.Minute,
		Interval:         time.Duration(b.Availability.IntervalMinutes) * time.Minute,
		RoundTo:          time.Duration(b.Availability.RoundTo) * time.Minute,
		BufferBefore:     time.Duration(rules.Buffer.Before) * time.Minute,
		BufferAfter:      time.Duration(rules.Buffer.After) * time.Minute,
		MinNotice:        time.Duration(b.Scheduler.MinBookingNotice) * time.Minute,
		DaysInFuture:     b.Scheduler.AvailableDaysInFuture,
		TentativeAsBusy:  rules.TentativeAsBusy == nil || *rules.TentativeAsBusy,
		Method:           slots.Method(rules.AvailabilityMethod),
		DefaultOpenHours: engineHours(rules.DefaultOpenHours),
	}
	for _, p := range b.Participants {
		if only != nil && !containsFold(only, p.Email) {
			continue
		}
		ep := slots.Participant{Email: p.Email, Timezone: p.Timezone, OpenHours: engineHours(p.Availability.OpenHours), LastBooked: d.lastBooked[p.Email]}
		mine := map[uuid.UUID]bool{}
		for _, id := range p.Availability.CalendarIDs {
			mine[uuid.MustParse(id)] = true
		}
		for _, x := range d.busy {
			if mine[x.CalendarID] && (exclude == nil || x.EventID != exclude.EventID) {
				ep.Busy = append(ep.Busy, slots.Busy{Interval: slots.Interval{Start: x.Start, End: x.End}, Tentative: x.Tentative})
			}
		}
		for _, h := range d.holds {
			if exclude != nil && h.BookingID == exclude.ID {
				continue
			}
			for _, hc := range h.Calendars {
				if mine[hc] {
					ep.Busy = append(ep.Busy, slots.Busy{Interval: slots.Interval{Start: h.Start, End: h.End}})
					break
				}
			}
		}
		out.Participants = append(out.Participants, ep)
	}
	return out
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// errSlotTaken is what <nylas-scheduling> recognises to show its "slot
// taken" screen: the message must contain this sentence.
func errSlotTaken(why string) error {
	return &apperr.Error{Kind: apperr.Conflict, Message: "The selected timeslot is unavailable: " + why}
}

// Booking returns a booking of the configuration named by a booking_id
// query parameter.
func (s *Service) Booking(ctx context.Context, c Configuration, id string) (Booking, error) {
	bid, err := uuid.Parse(id)
	if err != nil {
		return Booking{}, apperr.InvalidField("booking_id", "is not a booking id")
	}
	b, err := s.GetBooking(ctx, bid)
	if err == nil && (b.ConfigurationID != c.ID || b.ApplicationID != c.ApplicationID) {
		err = notFound("booking")
	}
	return b, err
}

func newSalt() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return b
}

func saltMatches(b Booking, salt string) bool {
	return subtle.ConstantTimeCompare([]byte(SaltText(b.Salt)), []byte(strings.TrimRight(salt, "="))) == 1
}

// OpenBooking resolves a booking call: the booking and the configuration
// it belongs to. With the API key alone the booking names its
// configuration; otherwise the configuration is opened as for any page
// call and must be the booking's.
func (s *Service) OpenBooking(ctx context.Context, cr Credentials, bookingID string) (Configuration, Booking, error) {
	bid, err := uuid.Parse(bookingID)
	if err != nil {
		return Configuration{}, Booking{}, notFound("booking")
	}
	var b Booking
	byKey := cr.AppID != nil && cr.SessionID == "" && cr.ConfigurationID == "" && cr.Slug == ""
	if byKey {
		if b, err = s.GetBooking(ctx, bid); err != nil {
			return Configuration{}, Booking{}, err
		}
		if b.ApplicationID != *cr.AppID {
			return Configuration{}, Booking{}, notFound("booking")
		}
		cr.ConfigurationID = b.ConfigurationID.String()
	}
	// The credentials are checked before the booking is looked up: an
	// unauthorized caller learns nothing of which bookings exist.
	c, err := s.Open(ctx, cr)
	if err != nil {
		return Configuration{}, Booking{}, err
	}
	if !byKey {
		if b, err = s.GetBooking(ctx, bid); err != nil {
			return Configuration{}, Booking{}, err
		}
	}
	if b.ConfigurationID != c.ID || b.ApplicationID != c.ApplicationID {
		return Configuration{}, Booking{}, notFound("booking")
	}
	return c, b, nil
}

// PageConfiguration is the configuration a hosted page by slug shows: the
// application's (client_id), or the only one with that slug.
func (s *Service) PageConfiguration(ctx context.Context, slug, clientID string) (Configuration, error) {
	var app *uuid.UUID
	if clientID != "" {
		id, err := uuid.Parse(clientID)
		if err != nil {
			return Configuration{}, apperr.InvalidField("client_id", "is not an application id")
		}
		app = &id
	}
	list, err := s.ConfigurationsBySlug(ctx, slug, app)
	switch {
	case err != nil:
		return Configuration{}, err
	case len(list) == 0:
		return Configuration{}, notFound("configuration")
	case len(list) > 1:
		return Configuration{}, apperr.InvalidField("client_id", "is required: several applications have a booking page named %q", slug)
	}
	return list[0], nil
}

// RefConfiguration is the configuration of a booking reference's booking;
// a reference whose booking is not of its configuration names nothing.
func (s *Service) RefConfiguration(ctx context.Context, ref string) (Configuration, error) {
	cid, bid, _, ok := DecodeRef(ref)
	if !ok {
		return Configuration{}, notFound("booking")
	}
	b, err := s.GetBooking(ctx, bid)
	if err != nil {
		return Configuration{}, err
	}
	if b.ConfigurationID != cid {
		return Configuration{}, notFound("booking")
	}
	return s.ConfigurationByID(ctx, cid)
}
