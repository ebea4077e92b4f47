package scheduler

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/confhub/confhub/events"
	"github.com/confhub/confhub/events/scheduler/slots"
	"github.com/confhub/confhub/internal/apperr"
	"github.com/confhub/confhub/internal/database"
)

// Unix is a time in unix seconds, as a JSON number or a numeric string (one
// description of the API types the reschedule times as strings).
type Unix struct {
	Set   bool
	Value int64
}

// UnmarshalJSON reads a number or a numeric string.
func (u *Unix) UnmarshalJSON(b []byte) error {
	t := bytes.TrimSpace(b)
	if bytes.Equal(t, []byte("null")) {
		return nil
	}
	if len(t) > 0 && t[0] == '"' {
		var s string
		if err := json.Unmarshal(t, &s); err != nil {
			return err
		}
		t = []byte(s)
	}
	v, err := strconv.ParseInt(string(t), 10, 64)
	if err != nil {
		return fmt.Errorf("json: cannot unmarshal %s into Go value of type int64", b)
	}
	u.Set, u.Value = true, v
	return nil
}

// MarshalJSON writes the number.
func (u Unix) MarshalJSON() ([]byte, error) { return []byte(strconv.FormatInt(u.Value, 10)), nil }

// BookingInput is the body of POST /v3/scheduling/bookings.
type BookingInput struct {
	StartTime        Unix           `json:"start_time"`
	EndTime          Unix           `json:"end_time"`
	Guest            *Person        `json:"guest"`
	Participants     []Person       `json:"participants"`
	AdditionalGuests []Person       `json:"additional_guests"`
	AdditionalFields map[string]any `json:"additional_fields"`
	Timezone         *string        `json:"timezone"`
	EmailLanguage    *string        `json:"email_language"`
	// Sent by <nylas-scheduling> for slots that carry them (group events,
	// which confhub does not offer); accepted and ignored.
	EventID    json.RawMessage `json:"event_id"`
	MasterID   json.RawMessage `json:"master_id"`
	CalendarID json.RawMessage `json:"calendar_id"`
}

// RescheduleInput is the body of PATCH /v3/scheduling/bookings/{id}: the
// new time. <nylas-scheduling> sends the whole booking form again; the rest
// is accepted and ignored (the guest and fields of a booking stay).
type RescheduleInput struct {
	StartTime        Unix            `json:"start_time"`
	EndTime          Unix            `json:"end_time"`
	Timezone         json.RawMessage `json:"timezone"`
	Guest            json.RawMessage `json:"guest"`
	AdditionalGuests json.RawMessage `json:"additional_guests"`
	AdditionalFields json.RawMessage `json:"additional_fields"`
	Participants     json.RawMessage `json:"participants"`
	EmailLanguage    json.RawMessage `json:"email_language"`
	EventID          json.RawMessage `json:"event_id"`
	MasterID         json.RawMessage `json:"master_id"`
	CalendarID       json.RawMessage `json:"calendar_id"`
}

// CancelInput is the optional body of DELETE /v3/scheduling/bookings/{id}.
type CancelInput struct {
	CancellationReason *string `json:"cancellation_reason"`
	Action             *string `json:"action"`
}

// ConfirmInput is the body of PUT /v3/scheduling/bookings/{id}.
type ConfirmInput struct {
	Salt               *string `json:"salt"`
	Status             *string `json:"status"`
	CancellationReason *string `json:"cancellation_reason"`
}

var languages = []string{"en", "es", "fr", "de", "nl", "sv", "ja", "zh"}

// KindCreateBooked is the outbox entry of a booking whose event is to be
// made; its payload is a BookedEvent. The request that claims the slot
// starts the event's workflow itself; if it dies first, the sweeper does.
const KindCreateBooked = "booking.create_event"

// BookedEvent is a booking's event to make through the events path.
type BookedEvent struct {
	BookingID uuid.UUID    `json:"booking_id"`
	Event     events.Event `json:"event"`
	ConfGrant uuid.UUID    `json:"conf_grant_id"`
}

// BookingPlan is a claimed booking and, when its event is to be made now
// (not pending the organizer), that event and the outbox entry that makes
// sure it is made.
type BookingPlan struct {
	Booking Booking
	Event   *BookedEvent
	Entry   int64
}

func (in BookingInput) validate(c Configuration) (BookingDetails, error) {
	var d BookingDetails
	if in.Guest == nil {
		return d, apperr.InvalidField("guest", "is required: {name, email}")
	}
	if in.Guest.Name == "" {
		return d, apperr.InvalidField("guest.name", "is required")
	}
	if err := events.ValidText("guest.name", in.Guest.Name, 256); err != nil {
		return d, err
	}
	if err := events.ValidEmail("guest.email", in.Guest.Email); err != nil {
		return d, err
	}
	d.Guest = *in.Guest
	if len(in.AdditionalGuests) > 20 {
		return d, apperr.InvalidField("additional_guests", "at most 20 guests")
	}
	for i, g := range in.AdditionalGuests {
		f := fmt.Sprintf("additional_guests[%d]", i)
		if err := events.ValidEmail(f+".email", g.Email); err != nil {
			return d, err
		}
		if err := events.ValidText(f+".name", g.Name, 256); err != nil {
			return d, err
		}
	}
	if c.Body.Scheduler.HideAdditionalGuests && len(in.AdditionalGuests) > 0 {
		return d, apperr.InvalidField("additional_guests", "this booking page takes no additional guests")
	}
	d.AdditionalGuests = in.AdditionalGuests
	fields, err := validFields(c.Body.Scheduler.AdditionalFields, in.AdditionalFields)
	if err != nil {
		return d, err
	}
	d.AdditionalFields = fields
	if in.Timezone != nil {
		if err := validTZ("timezone", *in.Timezone); err != nil {
			return d, err
		}
		d.Timezone = *in.Timezone
	}
	if in.EmailLanguage != nil && *in.EmailLanguage != "" {
		if !slices.Contains(languages, *in.EmailLanguage) {
			return d, apperr.InvalidField("email_language", "must be one of en, es, fr, de, nl, sv, ja, zh")
		}
		d.EmailLanguage = *in.EmailLanguage
	}
	for i, p := range in.Participants {
		if !hasParticipant(c, p.Email) {
			return d, apperr.InvalidField(fmt.Sprintf("participants[%d].email", i), "%q is not a participant of the configuration", p.Email)
		}
	}
	return d, nil
}

func hasParticipant(c Configuration, email string) bool {
	for _, p := range c.Body.Participants {
		if strings.EqualFold(p.Email, email) {
			return true
		}
	}
	return false
}

// validFields checks the guest's answers against the configured fields.
// <nylas-scheduling> sends every configured key, "" when left empty, and
// checkboxes as "true"/"false".
func validFields(spec map[string]AdditionalField, in map[string]any) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range in {
		f := "additional_fields." + k
		a, ok := spec[k]
		if !ok {
			return nil, apperr.InvalidField(f, "is not a field of this booking page")
		}
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case bool:
			s = strconv.FormatBool(x)
		case json.Number:
			s = x.String()
		case nil:
		default:
			return nil, apperr.InvalidField(f, "must be a string")
		}
		if err := events.ValidText(f, s, 2048); err != nil {
			return nil, err
		}
		if s != "" && a.Pattern != "" {
			if re, err := regexp.Compile(a.Pattern); err == nil && !re.MatchString(s) {
				return nil, apperr.InvalidField(f, "does not match the field's pattern")
			}
		}
		if s != "" && (a.Type == "dropdown" || a.Type == "radio_button") && !slices.Contains(a.Options, s) {
			return nil, apperr.InvalidField(f, "must be one of the field's options")
		}
		if s != "" && a.Type == "email" {
			if err := events.ValidEmail(f, s); err != nil {
				return nil, err
			}
		}
		if s != "" {
			out[k] = s
		}
	}
	for k, a := range spec {
		if a.Required && out[k] == "" && a.Type != "metadata" {
			return nil, apperr.InvalidField("additional_fields."+k, "is required (%s)", a.Label)
		}
	}
	return out, nil
}

// slotTimes checks a booking's times: a slot of the configuration's length.
func slotTimes(c Configuration, start, end Unix) (time.Time, time.Time, error) {
	if !start.Set {
		return time.Time{}, time.Time{}, apperr.InvalidField("start_time", "is required (unix seconds)")
	}
	if !end.Set {
		return time.Time{}, time.Time{}, apperr.InvalidField("end_time", "is required (unix seconds)")
	}
	if start.Value <= 0 || start.Value > 253402300799 {
		return time.Time{}, time.Time{}, apperr.InvalidField("start_time", "must be unix seconds")
	}
	d := int64(c.Body.Availability.DurationMinutes) * 60
	if end.Value-start.Value != d {
		return time.Time{}, time.Time{}, apperr.InvalidField("end_time", "must be start_time + %d minutes (the booking's length)", c.Body.Availability.DurationMinutes)
	}
	return time.Unix(start.Value, 0), time.Unix(end.Value, 0), nil
}

// offered checks that [start, end) is a slot offered now, reading busy time
// through q, and returns the participants free for it (for round-robin, in
// order of priority).
func (s *Service) offered(ctx context.Context, q database.Querier, c Configuration, start, end time.Time, exclude *Booking, only []string) ([]string, error) {
	qq, err := s.query(ctx, q, c, start, end, exclude, only)
	if err != nil {
		return nil, err
	}
	emails, ok := slots.Available(qq, start, end)
	if !ok {
		return nil, errSlotTaken("it is not offered (taken, outside open hours, or too soon or too far ahead)")
	}
	return emails, nil
}

// host picks who hosts a booking: the organizer, or (round-robin) the
// first free participant in priority order.
func host(c Configuration, free []string) (Participant, bool) {
	if !roundRobin(c.Body.Availability.AvailabilityRules.AvailabilityMethod) {
		return c.Body.Organizer(), true
	}
	for _, e := range free {
		for _, p := range c.Body.Participants {
			if p.Email == e {
				return p, true
			}
		}
	}
	return Participant{}, false
}

func bookingCalendar(p Participant) uuid.UUID {
	if p.Booking != nil {
		return uuid.MustParse(p.Booking.CalendarID)
	}
	return uuid.MustParse(p.Availability.CalendarIDs[0])
}

// heldCalendars are the calendars a booking occupies: every calendar that
// was checked for it, and the one its event goes to.
func heldCalendars(c Configuration, h Participant) []uuid.UUID {
	var out []uuid.UUID
	add := func(id string) {
		u := uuid.MustParse(id)
		if !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	for _, p := range c.Body.Participants {
		if roundRobin(c.Body.Availability.AvailabilityRules.AvailabilityMethod) && p.Email != h.Email {
			continue
		}
		for _, id := range p.Availability.CalendarIDs {
			add(id)
		}
	}
	add(bookingCalendar(h).String())
	return out
}

// Book validates a booking, checks its slot, and claims it: the slot is
// re-checked inside the transaction that records the booking, under the
// calendars' locks, so of concurrent bookings of one slot exactly one
// wins, across processes. The winner's event is then made through the
// events path by the caller (workflows), from the returned plan.
func (s *Service) Book(ctx context.Context, c Configuration, in BookingInput) (BookingPlan, error) {
	start, end, err := slotTimes(c, in.StartTime, in.EndTime)
	if err != nil {
		return BookingPlan{}, err
	}
	details, err := in.validate(c)
	if err != nil {
		return BookingPlan{}, err
	}
	rr := roundRobin(c.Body.Availability.AvailabilityRules.AvailabilityMethod)
	h := c.Body.Organizer()
	if rr {
		// Who hosts depends on who is free: looked up first, then claimed
		// (and re-checked) for that participant. A collective booking
		// needs no look first: the claim's check is the check.
		var only []string
		for _, p := range in.Participants {
			only = append(only, p.Email)
		}
		free, err := s.offered(ctx, s.Store.pool, c, start, end, nil, only)
		if err != nil {
			return BookingPlan{}, err
		}
		var ok bool
		if h, ok = host(c, free); !ok {
			return BookingPlan{}, errSlotTaken("no participant is free")
		}
	}
	b := Booking{ID: uuid.New(), ApplicationID: c.ApplicationID, ConfigurationID: c.ID, Salt: newSalt(), Status: StatusBooked,
		Start: start, End: end, CalendarID: bookingCalendar(h), HeldCalendars: heldCalendars(c, h), OrganizerEmail: h.Email}
	if c.Body.EventBooking.BookingType == TypeConfirmation {
		b.Status = StatusPending
	}
	details.Title, details.Description = c.Body.EventBooking.Title, c.Body.EventBooking.Description
	details.Organizer = Person{Name: h.Name, Email: h.Email}
	if rr {
		details.Participants = []string{h.Email}
	}
	b.Details = details
	if err := s.placeEvent(ctx, c, &b); err != nil {
		return BookingPlan{}, err
	}
	plan := BookingPlan{Booking: b}
	// Checked before the claim takes a connection: the events path's
	// checks use the pool, and a claim must never wait for the pool while
	// it holds a connection (concurrent claims would starve it).
	ev, err := s.prepareEvent(ctx, c, b)
	if err != nil {
		return BookingPlan{}, err
	}
	cl := Claim{Booking: b, Calendars: calendars(c), Busy: s.events.QueueBusyTimes}
	cl.From, cl.To = window(c, start, end)
	if b.Status == StatusBooked { // a pending booking's event is made when confirmed
		plan.Event, cl.Kind, cl.Payload = &ev, KindCreateBooked, ev
	}
	var last map[string]time.Time
	if c.Body.Availability.AvailabilityRules.AvailabilityMethod == MaxFairness {
		// The order only picks among the free; read before the locks.
		if last, err = s.LastBooked(ctx, c.ID); err != nil {
			return BookingPlan{}, err
		}
	}
	var only []string
	if rr {
		only = []string{h.Email}
	}
	cl.Check = func(busy []events.BusyTime, holds []Hold) error {
		free, ok := slots.Available(s.build(c, start, end, busyData{busy: busy, holds: holds, lastBooked: last}, nil, only), start, end)
		switch {
		case !ok:
			return errSlotTaken("it is not offered (taken, outside open hours, or too soon or too far ahead)")
		case rr && !slices.Contains(free, h.Email):
			return errSlotTaken(h.Email + " is no longer free")
		}
		return nil
	}
	plan.Entry, err = s.Claim(ctx, cl)
	if err != nil {
		return BookingPlan{}, err
	}
	return plan, nil
}

// bookedEvent is a booking's event, checked by the events path (the
// calendar, the conf grant still valid) and given the booking's event id.
func (s *Service) bookedEvent(ctx context.Context, c Configuration, b *Booking) (BookedEvent, error) {
	if err := s.placeEvent(ctx, c, b); err != nil {
		return BookedEvent{}, err
	}
	return s.prepareEvent(ctx, c, *b)
}

// placeEvent gives a booking its event's id (kept if it has one) and the
// grant of its calendar, found when the configuration was saved.
func (s *Service) placeEvent(ctx context.Context, c Configuration, b *Booking) error {
	if b.EventID == uuid.Nil {
		b.EventID = uuid.New()
	}
	grant, ok := c.CalendarGrants[b.CalendarID]
	if !ok {
		cals, err := s.events.CalendarsByID(ctx, c.ApplicationID, []uuid.UUID{b.CalendarID})
		if err != nil {
			return err
		}
		if len(cals) == 0 {
			return apperr.Conflictf("the booking calendar %s no longer exists: the configuration needs updating", b.CalendarID)
		}
		grant = cals[0].GrantID
	}
	b.EventGrantID = grant
	return nil
}

// prepareEvent checks a placed booking's event through the events path
// (the calendar, the conf grant still valid).
func (s *Service) prepareEvent(ctx context.Context, c Configuration, b Booking) (BookedEvent, error) {
	in, err := eventInput(c, b)
	if err != nil {
		return BookedEvent{}, err
	}
	plan, err := s.events.PrepareCreate(ctx, c.ApplicationID, b.EventGrantID.String(), b.CalendarID.String(), in)
	if err != nil {
		if e, ok := apperr.As(err); ok && e.Kind == apperr.Invalid {
			// The configuration was valid when saved; what changed since
			// (a conf grant gone invalid) is the organizer's to fix.
			return BookedEvent{}, &apperr.Error{Kind: apperr.Conflict, Err: err, Message: "the booking page's configuration cannot make events now: " + e.Error()}
		}
		return BookedEvent{}, err
	}
	plan.Event.ID = b.EventID
	return BookedEvent{BookingID: b.ID, Event: plan.Event, ConfGrant: plan.ConfGrant}, nil
}

// eventInput is a booking's event as an events API body would give it.
func eventInput(c Configuration, b Booking) (events.EventInput, error) {
	eb := c.Body.EventBooking
	participants := []events.Participant{{Email: b.Details.Organizer.Email, Name: b.Details.Organizer.Name, Status: "yes"}}
	seen := map[string]bool{b.Details.Organizer.Email: true}
	add := func(p events.Participant) {
		if !seen[p.Email] {
			seen[p.Email] = true
			participants = append(participants, p)
		}
	}
	if !roundRobin(c.Body.Availability.AvailabilityRules.AvailabilityMethod) {
		for _, p := range c.Body.Participants {
			add(events.Participant{Email: p.Email, Name: p.Name, Status: "noreply"})
		}
	}
	add(events.Participant{Email: b.Details.Guest.Email, Name: b.Details.Guest.Name, Status: "yes"})
	for _, g := range b.Details.AdditionalGuests {
		name := g.Name
		if name == g.Email {
			name = "" // the component sends the email as the name
		}
		add(events.Participant{Email: g.Email, Name: name, Status: "noreply"})
	}
	when := map[string]any{"start_time": b.Start.Unix(), "end_time": b.End.Unix()}
	tz := eb.Timezone
	if tz == "" {
		tz = b.Details.Timezone
	}
	if tz != "" {
		when["start_timezone"], when["end_timezone"] = tz, tz
	}
	wj, _ := json.Marshal(when)
	meta := map[string]string{"source": "scheduler", "configuration_id": c.ID.String(), "booking_id": b.ID.String(), "booking_ref": b.Ref()}
	in := events.EventInput{Title: &eb.Title, Description: &eb.Description, Location: &eb.Location,
		Participants: &participants, When: wj, Metadata: &meta}
	if eb.Conferencing != nil {
		cj, err := json.Marshal(eb.Conferencing)
		if err != nil {
			return events.EventInput{}, err
		}
		in.Conferencing = cj
	}
	return in, nil
}

// MovePlan is a reschedule whose new time is claimed: the caller moves the
// event (when there is one), puts the booking back if that fails, and then
// settles Entry (0: none).
type MovePlan struct {
	Before     Booking
	Start, End time.Time
	Patch      events.EventInput // the event's new time
	Entry      int64
}

// KindSettleBooking is the outbox entry of a reschedule: if the request
// that moved the booking does not see its event's move through (it died),
// the sweeper gives the booking its event's time once no update of the
// event runs. Its payload is a BookingSettle.
const KindSettleBooking = "booking.settle"

// BookingSettle names a moved booking and its event.
type BookingSettle struct {
	BookingID     uuid.UUID `json:"booking_id"`
	ApplicationID uuid.UUID `json:"application_id"`
	EventGrantID  uuid.UUID `json:"event_grant_id"`
	EventID       uuid.UUID `json:"event_id"`
}

// Reschedule claims a booking's new time, checked as a new booking's would
// be but with the booking's own time counted as free.
func (s *Service) Reschedule(ctx context.Context, c Configuration, b Booking, in RescheduleInput) (MovePlan, error) {
	if b.Status == StatusCancelled {
		return MovePlan{}, apperr.Conflictf("the booking is cancelled")
	}
	start, end, err := slotTimes(c, in.StartTime, in.EndTime)
	if err != nil {
		return MovePlan{}, err
	}
	only := []string{b.OrganizerEmail}
	if !roundRobin(c.Body.Availability.AvailabilityRules.AvailabilityMethod) {
		only = nil
	}
	check := func(ctx context.Context, q database.Querier) error {
		_, err := s.offered(ctx, q, c, start, end, &b, only)
		return err
	}
	before, entry, err := s.Move(ctx, b, start, end, check)
	if err != nil {
		return MovePlan{}, err
	}
	moved := b
	moved.Start, moved.End = start, end
	full, err := eventInput(c, moved)
	if err != nil {
		return MovePlan{}, err
	}
	return MovePlan{Before: before, Start: start, End: end, Patch: events.EventInput{When: full.When}, Entry: entry}, nil
}

// Cancel cancels a booking, honouring the configuration's minimum notice:
// the booking's time is released and its event removed in one
// transaction, which also records its meeting's deletion.
func (s *Service) Cancel(ctx context.Context, c Configuration, b Booking, in CancelInput) (Booking, events.Removed, error) {
	if in.Action != nil && *in.Action != "cancel" {
		return Booking{}, events.Removed{}, apperr.InvalidField("action", "must be cancel")
	}
	reason := ""
	if in.CancellationReason != nil {
		if err := events.ValidText("cancellation_reason", *in.CancellationReason, 2048); err != nil {
			return Booking{}, events.Removed{}, err
		}
		reason = *in.CancellationReason
	}
	if n := c.Body.Scheduler.MinCancellationNotice; n > 0 && s.now().Add(time.Duration(n)*time.Minute).After(b.Start) {
		return Booking{}, events.Removed{}, apperr.InvalidField("booking_id", "cancellations must be made at least %d minutes before the start", n)
	}
	return s.cancel(ctx, b, reason)
}

func (s *Service) cancel(ctx context.Context, b Booking, reason string) (Booking, events.Removed, error) {
	var removed events.Removed
	out, err := s.Store.Cancel(ctx, b.ID, reason, func(ctx context.Context, tx pgx.Tx, b Booking) error {
		if b.Status != StatusBooked {
			return nil // a pending booking has no event yet
		}
		var err error
		removed, err = s.events.DeleteEventTx(ctx, tx, b.ApplicationID, b.EventGrantID, b.EventID)
		if apperr.IsKind(err, apperr.NotFound) {
			return nil // deleted through the events API already
		}
		return err
	})
	return out, removed, err
}

// Decide applies the organizer's answer to a pending booking: confirmed
// makes its event (the plan says which), cancelled releases it.
func (s *Service) Decide(ctx context.Context, c Configuration, b Booking, in ConfirmInput) (BookingPlan, error) {
	if in.Salt == nil || *in.Salt == "" {
		return BookingPlan{}, apperr.InvalidField("salt", "is required (from the booking reference)")
	}
	if !saltMatches(b, *in.Salt) {
		return BookingPlan{}, apperr.InvalidField("salt", "does not match the booking")
	}
	if in.Status == nil || (*in.Status != "confirmed" && *in.Status != StatusCancelled) {
		return BookingPlan{}, apperr.InvalidField("status", "must be confirmed or cancelled")
	}
	if b.Status != StatusPending {
		return BookingPlan{}, apperr.Conflictf("the booking is %s, not pending", b.Status)
	}
	if *in.Status == StatusCancelled {
		reason := ""
		if in.CancellationReason != nil {
			if err := events.ValidText("cancellation_reason", *in.CancellationReason, 2048); err != nil {
				return BookingPlan{}, err
			}
			reason = *in.CancellationReason
		}
		out, _, err := s.cancel(ctx, b, reason)
		out.Status = StatusCancelled
		out.Details.CancellationReason = reason
		return BookingPlan{Booking: out}, err
	}
	ev, err := s.bookedEvent(ctx, c, &b)
	if err != nil {
		return BookingPlan{}, err
	}
	booked, entry, err := s.Confirm(ctx, b.ID, KindCreateBooked, func(Booking) any { return ev })
	if err != nil {
		return BookingPlan{}, err
	}
	return BookingPlan{Booking: booked, Event: &ev, Entry: entry}, nil
}
