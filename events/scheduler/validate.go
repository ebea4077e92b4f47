package scheduler

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/confhub/confhub/events"
	"github.com/confhub/confhub/events/scheduler/slots"
	"github.com/confhub/confhub/internal/apperr"
	"github.com/confhub/confhub/internal/strictjson"
)

// Limits of a configuration. Where Nylas documents one it is Nylas'.
const (
	maxParticipants     = 50
	maxCalendars        = 20
	maxOpenHours        = 50
	maxAdditionalFields = 50
	maxAppearanceKeys   = 50
	maxReminders        = 10
)

var slugPattern = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9_-]{0,126}[a-z0-9])?$`)

func present(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// decodeField decodes a present top-level field strictly, naming it in errors.
func decodeField(raw json.RawMessage, v any, field string) error {
	if isNull(raw) {
		return apperr.InvalidField(field, "must not be null")
	}
	return strictjson.Decode(raw, v, field)
}

// validTZ checks an optional time zone field.
func validTZ(field, tz string) error {
	if tz != "" && !events.ValidTZ(tz) {
		return apperr.InvalidField(field, "must be an IANA time zone such as Europe/Berlin")
	}
	return nil
}

func validURL(field, s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(s) > 2048 {
		return apperr.InvalidField(field, "must be an http(s) URL")
	}
	return nil
}

// openHoursErr turns the engine's field error into a 400.
func openHoursErr(err error) error {
	var fe *slots.FieldError
	if errors.As(err, &fe) {
		return apperr.InvalidField(fe.Field, "%s", fe.Reason)
	}
	return apperr.Invalidf("%s", err.Error())
}

func validOpenHours(field string, oh []OpenHours) error {
	if len(oh) > maxOpenHours {
		return apperr.InvalidField(field, "at most %d entries", maxOpenHours)
	}
	for i, o := range oh {
		if err := validTZ(fmt.Sprintf("%s[%d].timezone", field, i), o.Timezone); err != nil {
			return err
		}
	}
	if err := slots.ValidateOpenHours(field, engineHours(oh)); err != nil {
		return openHoursErr(err)
	}
	return nil
}

// applyInput validates the fields present in in and writes them over b
// (zero for a create). Checks needing lookups (calendars, the conf grant,
// the slug's uniqueness) are done by the service afterwards.
func applyInput(b *Body, slug **string, requiresSession *bool, in ConfigurationInput, creating bool) error {
	if creating {
		for _, f := range []struct {
			name string
			raw  json.RawMessage
		}{{"participants", in.Participants}, {"availability", in.Availability}, {"event_booking", in.EventBooking}} {
			if !present(f.raw) || isNull(f.raw) {
				return apperr.InvalidField(f.name, "is required")
			}
		}
	}
	if present(in.Name) {
		var name string
		if err := decodeField(in.Name, &name, "name"); err != nil {
			return err
		}
		if err := events.ValidText("name", name, 256); err != nil {
			return err
		}
		b.Name = name
	}
	if present(in.Slug) {
		if isNull(in.Slug) {
			*slug = nil
		} else {
			var s string
			if err := strictjson.Decode(in.Slug, &s, "slug"); err != nil {
				return err
			}
			if !slugPattern.MatchString(s) {
				return apperr.InvalidField("slug", "must be 1 to 128 lowercase letters, digits, - or _, starting and ending with a letter or digit")
			}
			*slug = &s
		}
	}
	if present(in.RequiresSessionAuth) {
		var v *bool
		if err := strictjson.Decode(in.RequiresSessionAuth, &v, "requires_session_auth"); err != nil {
			return err
		}
		*requiresSession = v != nil && *v
	}
	if present(in.Participants) {
		var ps []Participant
		if err := decodeField(in.Participants, &ps, "participants"); err != nil {
			return err
		}
		b.Participants = ps
	}
	if present(in.Availability) {
		var a Availability
		if err := decodeField(in.Availability, &a, "availability"); err != nil {
			return err
		}
		b.Availability = a
	}
	if present(in.EventBooking) {
		var raw struct {
			EventBooking
			Conferencing json.RawMessage `json:"conferencing"`
		}
		if err := decodeField(in.EventBooking, &raw, "event_booking"); err != nil {
			return err
		}
		eb := raw.EventBooking
		eb.Conferencing = nil
		if present(raw.Conferencing) {
			change, conf, err := events.ParseConferencing(raw.Conferencing)
			if err != nil {
				return prefixField(err, "event_booking.")
			}
			if change == events.ConfSet {
				eb.Conferencing = conf
			}
		}
		b.EventBooking = eb
	}
	if present(in.Scheduler) {
		// Defaults apply to what the caller left out, so decode over them.
		s := defaultSettings()
		if err := decodeField(in.Scheduler, &s, "scheduler"); err != nil {
			return err
		}
		b.Scheduler = s
	} else if creating {
		b.Scheduler = defaultSettings()
	}
	if present(in.Appearance) {
		var ap map[string]string
		if !isNull(in.Appearance) {
			if err := strictjson.Decode(in.Appearance, &ap, "appearance"); err != nil {
				return err
			}
		}
		b.Appearance = ap
	}
	defaults(b)
	return validBody(*b)
}

func defaultSettings() Settings {
	return Settings{AvailableDaysInFuture: 30, MinBookingNotice: 60}
}

// defaults fills what Nylas fills when left out.
func defaults(b *Body) {
	if b.Availability.RoundTo == 0 {
		b.Availability.RoundTo = 15
	}
	if b.Availability.AvailabilityRules.AvailabilityMethod == "" {
		b.Availability.AvailabilityRules.AvailabilityMethod = Collective
	}
	if b.EventBooking.BookingType == "" {
		b.EventBooking.BookingType = TypeBooking
	}
	if b.Name == "" {
		b.Name = b.Organizer().Name
	}
	for i := range b.Participants {
		if b.Participants[i].Availability.CalendarIDs == nil {
			b.Participants[i].Availability.CalendarIDs = []string{}
		}
	}
}

// prefixField puts a path in front of a field error's field.
func prefixField(err error, prefix string) error {
	if e, ok := apperr.As(err); ok && e.Field != "" {
		c := *e
		c.Field = prefix + e.Field
		return &c
	}
	return err
}

func validBody(b Body) error {
	method := b.Availability.AvailabilityRules.AvailabilityMethod
	if err := validParticipants(b.Participants, roundRobin(method)); err != nil {
		return err
	}
	if err := validAvailability(b.Availability); err != nil {
		return err
	}
	if err := validEventBooking(b.EventBooking); err != nil {
		return err
	}
	if err := validSettings(b.Scheduler); err != nil {
		return err
	}
	if len(b.Appearance) > maxAppearanceKeys {
		return apperr.InvalidField("appearance", "at most %d keys", maxAppearanceKeys)
	}
	for k, v := range b.Appearance {
		if k == "" || len(k) > 64 {
			return apperr.InvalidField("appearance", "keys must be 1 to 64 characters")
		}
		if err := events.ValidText("appearance."+k, v, 1024); err != nil {
			return err
		}
	}
	return nil
}

func validParticipants(ps []Participant, rr bool) error {
	if len(ps) == 0 {
		return apperr.InvalidField("participants", "list at least one participant")
	}
	if len(ps) > maxParticipants {
		return apperr.InvalidField("participants", "at most %d participants", maxParticipants)
	}
	organizers := 0
	seen := map[string]bool{}
	for i, p := range ps {
		f := "participants[" + strconv.Itoa(i) + "]"
		if err := events.ValidEmail(f+".email", p.Email); err != nil {
			return err
		}
		if seen[strings.ToLower(p.Email)] {
			return apperr.InvalidField(f+".email", "is listed twice")
		}
		seen[strings.ToLower(p.Email)] = true
		if err := events.ValidText(f+".name", p.Name, 256); err != nil {
			return err
		}
		if err := validTZ(f+".timezone", p.Timezone); err != nil {
			return err
		}
		if p.IsOrganizer {
			organizers++
		}
		if len(p.Availability.CalendarIDs) > maxCalendars {
			return apperr.InvalidField(f+".availability.calendar_ids", "at most %d calendars", maxCalendars)
		}
		if err := validOpenHours(f+".availability.open_hours", p.Availability.OpenHours); err != nil {
			return err
		}
		if p.Booking != nil && p.Booking.CalendarID == "" {
			return apperr.InvalidField(f+".booking.calendar_id", "is required (or leave booking out)")
		}
	}
	switch {
	case !rr && organizers != 1:
		return apperr.InvalidField("participants", "exactly one participant must have is_organizer: true (found %d)", organizers)
	case rr && organizers > 1:
		return apperr.InvalidField("participants", "at most one participant may have is_organizer: true (found %d)", organizers)
	}
	return nil
}

func validAvailability(a Availability) error {
	const f = "availability."
	if a.DurationMinutes < 5 || a.DurationMinutes > 1440 || a.DurationMinutes%5 != 0 {
		return apperr.InvalidField(f+"duration_minutes", "is required: 5 to 1440 minutes, a multiple of 5")
	}
	if a.IntervalMinutes != 0 && (a.IntervalMinutes < 5 || a.IntervalMinutes > 1440 || a.IntervalMinutes%5 != 0) {
		return apperr.InvalidField(f+"interval_minutes", "must be 5 to 1440 minutes, a multiple of 5")
	}
	if a.RoundTo < 5 || a.RoundTo > 60 || a.RoundTo%5 != 0 {
		return apperr.InvalidField(f+"round_to", "must be 5 to 60 minutes, a multiple of 5")
	}
	r := a.AvailabilityRules
	if !slices.Contains([]string{Collective, MaxFairness, MaxAvailability}, r.AvailabilityMethod) {
		return apperr.InvalidField(f+"availability_rules.availability_method", "must be collective, max-fairness or max-availability")
	}
	for _, b := range []struct {
		name string
		v    int
	}{{"before", r.Buffer.Before}, {"after", r.Buffer.After}} {
		if b.v < 0 || b.v > 120 || b.v%5 != 0 {
			return apperr.InvalidField(f+"availability_rules.buffer."+b.name, "must be 0 to 120 minutes, a multiple of 5")
		}
	}
	if err := events.ValidText(f+"availability_rules.round_robin_group_id", r.RoundRobinGroupID, 256); err != nil {
		return err
	}
	return validOpenHours(f+"availability_rules.default_open_hours", r.DefaultOpenHours)
}

func validEventBooking(e EventBooking) error {
	const f = "event_booking."
	if e.Title == "" {
		return apperr.InvalidField(f+"title", "is required")
	}
	if err := events.ValidText(f+"title", e.Title, 1024); err != nil {
		return err
	}
	if err := events.ValidText(f+"description", e.Description, 8192); err != nil {
		return err
	}
	if err := events.ValidText(f+"location", e.Location, 1024); err != nil {
		return err
	}
	if err := validTZ(f+"timezone", e.Timezone); err != nil {
		return err
	}
	if e.BookingType != TypeBooking && e.BookingType != TypeConfirmation {
		return apperr.InvalidField(f+"booking_type", "must be booking or organizer-confirmation")
	}
	if len(e.Reminders) > maxReminders {
		return apperr.InvalidField(f+"reminders", "at most %d reminders", maxReminders)
	}
	for i, r := range e.Reminders {
		rf := fmt.Sprintf("%sreminders[%d].", f, i)
		if r.Type != "email" && r.Type != "webhook" {
			return apperr.InvalidField(rf+"type", "must be email or webhook")
		}
		if r.MinutesBeforeEvent < 1 || r.MinutesBeforeEvent > 40320 {
			return apperr.InvalidField(rf+"minutes_before_event", "must be 1 to 40320 minutes")
		}
		if r.Recipient != "" && !slices.Contains([]string{"all", "host", "guest"}, r.Recipient) {
			return apperr.InvalidField(rf+"recipient", "must be all, host or guest")
		}
		if err := events.ValidText(rf+"email_subject", r.EmailSubject, 256); err != nil {
			return err
		}
	}
	return nil
}

var fieldTypes = []string{"text", "multi_line_text", "email", "phone_number", "dropdown", "date", "checkbox", "radio_button", "metadata"}

func validSettings(s Settings) error {
	const f = "scheduler."
	if s.AvailableDaysInFuture < 1 || s.AvailableDaysInFuture > 365 {
		return apperr.InvalidField(f+"available_days_in_future", "must be 1 to 365 days")
	}
	if s.MinBookingNotice < 0 || s.MinBookingNotice > 525600 {
		return apperr.InvalidField(f+"min_booking_notice", "must be 0 to 525600 minutes")
	}
	if s.MinCancellationNotice < 0 || s.MinCancellationNotice > 525600 {
		return apperr.InvalidField(f+"min_cancellation_notice", "must be 0 to 525600 minutes")
	}
	if err := events.ValidText(f+"cancellation_policy", s.CancellationPolicy, 8192); err != nil {
		return err
	}
	for _, u := range []struct{ name, v string }{
		{"rescheduling_url", s.ReschedulingURL}, {"cancellation_url", s.CancellationURL},
		{"organizer_confirmation_url", s.OrganizerConfirmationURL}, {"confirmation_redirect_url", s.ConfirmationRedirectURL},
	} {
		if err := validURL(f+u.name, u.v); err != nil {
			return err
		}
	}
	if len(s.AdditionalFields) > maxAdditionalFields {
		return apperr.InvalidField(f+"additional_fields", "at most %d fields", maxAdditionalFields)
	}
	for k, a := range s.AdditionalFields {
		af := f + "additional_fields." + k
		if k == "" || len(k) > 64 {
			return apperr.InvalidField(f+"additional_fields", "keys must be 1 to 64 characters")
		}
		if a.Label == "" {
			return apperr.InvalidField(af+".label", "is required")
		}
		if err := events.ValidText(af+".label", a.Label, 256); err != nil {
			return err
		}
		if !slices.Contains(fieldTypes, a.Type) {
			return apperr.InvalidField(af+".type", "must be one of %s", strings.Join(fieldTypes, ", "))
		}
		if a.Pattern != "" {
			if _, err := regexp.Compile(a.Pattern); err != nil || len(a.Pattern) > 512 {
				return apperr.InvalidField(af+".pattern", "must be a regular expression")
			}
		}
		if (a.Type == "dropdown" || a.Type == "radio_button") && len(a.Options) == 0 {
			return apperr.InvalidField(af+".options", "a %s needs options", a.Type)
		}
		for _, o := range a.Options {
			if err := events.ValidText(af+".options", o, 256); err != nil {
				return err
			}
		}
		if err := events.ValidText(af+".default", a.Default, 1024); err != nil {
			return err
		}
	}
	if t := s.EmailTemplate; t != nil {
		if err := validURL(f+"email_template.logo", t.Logo); err != nil {
			return err
		}
		if c := t.BookingConfirmed; c != nil {
			if err := events.ValidText(f+"email_template.booking_confirmed.title", c.Title, 256); err != nil {
				return err
			}
			if err := events.ValidText(f+"email_template.booking_confirmed.body", c.Body, 8192); err != nil {
				return err
			}
		}
	}
	return nil
}
