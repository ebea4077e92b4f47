package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/confhub/confhub/internal/apperr"
	"github.com/confhub/confhub/internal/database"
	"github.com/confhub/confhub/internal/webhooks"
)

// Zoom tells us of changes to the meetings of our events, whoever made them
// (meeting.updated, meeting.deleted; grants verifies the notice). A deleted
// meeting leaves its event without conferencing; a moved or renamed one
// moves or renames its event. Nothing goes back to Zoom: it has the change.

// Zoom's meeting events, as grants passes them on.
const (
	MeetingUpdated = "meeting.updated"
	MeetingDeleted = "meeting.deleted"
)

// MeetingNotice is a meeting event from Zoom, checked.
type MeetingNotice struct {
	Deleted   bool
	MeetingID int64
	HostID    string        // "" when Zoom did not say
	New       MeetingFields // meeting.updated: the fields that changed, as they are now
	Old       MeetingFields // meeting.updated: their previous values, as far as Zoom gave them
}

// MeetingFields are the fields of a meeting that its event follows; nil is
// not reported. The agenda is not among them: it is the description with
// our reference marker appended (a created meeting's agenda ends with
// "confhub-ref: ...") and cut to Zoom's limit, so taking it back would
// write the marker into the caller's text, or cut it short.
type MeetingFields struct {
	Topic     *string
	StartTime *time.Time
	Duration  *int // minutes
	Timezone  *string
}

// maxNoticeMinutes bounds a meeting's duration (100 years: beyond any
// event, and far from overflowing a time.Duration).
const maxNoticeMinutes = 100 * 365 * 24 * 60

// ParseMeetingNotice reads a meeting event's object (and, for
// meeting.updated, old_object). A malformed field is Invalid, named by its
// path in Zoom's payload.
func ParseMeetingNotice(event string, object, oldObject json.RawMessage) (MeetingNotice, error) {
	var n MeetingNotice
	switch event {
	case MeetingDeleted:
		n.Deleted = true
	case MeetingUpdated:
	default:
		return n, apperr.InvalidField("event", "must be %s or %s", MeetingUpdated, MeetingDeleted)
	}
	cur, err := readMeeting(object, "payload.object")
	if err != nil {
		return n, err
	}
	if cur.id == 0 {
		return n, apperr.InvalidField("payload.object.id", "is required: the meeting's id")
	}
	n.MeetingID, n.HostID, n.New = cur.id, cur.hostID, cur.fields
	if n.Deleted {
		n.New = MeetingFields{}
		return n, nil
	}
	if t := bytes.TrimSpace(oldObject); len(t) > 0 && !bytes.Equal(t, []byte("null")) {
		old, err := readMeeting(oldObject, "payload.old_object")
		if err != nil {
			return n, err
		}
		if old.id != 0 && old.id != n.MeetingID {
			return n, apperr.InvalidField("payload.old_object.id", "must be the meeting's id, %d", n.MeetingID)
		}
		n.Old = old.fields
	}
	return n, nil
}

type meetingObject struct {
	id     int64
	hostID string
	fields MeetingFields
}

// readMeeting reads the fields we follow from a meeting object; Zoom's
// other fields (and fields it adds) are left alone. A null is not reported.
func readMeeting(raw json.RawMessage, path string) (meetingObject, error) {
	var m meetingObject
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return m, apperr.InvalidField(path, "must be a JSON object (the meeting)")
	}
	str := func(name string) (*string, error) {
		v, ok := fields[name]
		if !ok || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			return nil, nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, apperr.InvalidField(path+"."+name, "must be a string")
		}
		return &s, nil
	}
	num := func(name, what string) (*int64, error) {
		v, ok := fields[name]
		if !ok || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			return nil, nil
		}
		// A JSON number, not a string holding one (json.Number takes both).
		i, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
		if err != nil {
			return nil, apperr.InvalidField(path+"."+name, "must be %s", what)
		}
		return &i, nil
	}

	id, err := num("id", "the meeting's id, a positive integer")
	if err != nil {
		return m, err
	}
	if id != nil {
		if *id <= 0 {
			return m, apperr.InvalidField(path+".id", "must be the meeting's id, a positive integer")
		}
		m.id = *id
	}
	host, err := str("host_id")
	if err != nil {
		return m, err
	}
	if host != nil {
		if err := ValidText(path+".host_id", *host, 256); err != nil {
			return m, err
		}
		m.hostID = *host
	}
	topic, err := str("topic")
	if err != nil {
		return m, err
	}
	if topic != nil {
		if err := ValidText(path+".topic", *topic, 200); err != nil { // Zoom's limit
			return m, err
		}
		m.fields.Topic = topic
	}
	start, err := str("start_time")
	if err != nil {
		return m, err
	}
	if start != nil {
		t, err := time.Parse(time.RFC3339, *start)
		if err != nil || t.Year() < 1970 || t.Year() > 9999 {
			return m, apperr.InvalidField(path+".start_time", "must be a time such as 2025-01-02T15:04:05Z")
		}
		t = t.UTC()
		m.fields.StartTime = &t
	}
	minutes, err := num("duration", "a whole number of minutes")
	if err != nil {
		return m, err
	}
	if minutes != nil {
		if *minutes < 0 || *minutes > maxNoticeMinutes {
			return m, apperr.InvalidField(path+".duration", "must be a whole number of minutes from 0 to %d", maxNoticeMinutes)
		}
		d := int(*minutes)
		m.fields.Duration = &d
	}
	tz, err := str("timezone")
	if err != nil {
		return m, err
	}
	if tz != nil && *tz != "" { // a meeting without a time zone of its own says ""
		if !ValidTZ(*tz) {
			return m, apperr.InvalidField(path+".timezone", "must be an IANA time zone such as Europe/Berlin")
		}
		m.fields.Timezone = tz
	}
	return m, nil
}

// Follow is e changed as the notice says, when e carries its meeting, and
// whether anything changed. A deletion drops the conference (the
// description's join block goes with it, being rendered from it). An
// update takes each reported field that e does not show yet (shown: as
// MeetingRequest maps e to Zoom), unless e no longer shows the field's
// previous value either: then the notice describes a state e has moved
// past (an echo of an earlier change of ours arriving after a later one)
// and that field is left, named in conflicts.
func (n MeetingNotice) Follow(e Event) (out Event, changed bool, conflicts []string) {
	if e.ConfMeetingID == nil || *e.ConfMeetingID != n.MeetingID {
		return e, false, nil
	}
	out = e
	if n.Deleted {
		out.Conferencing, out.ConfGrantID, out.ConfMeetingID = nil, nil, nil
		return out, true, nil
	}
	cs := storedSettings(e)
	shown := MeetingRequest(e, cs, "")
	shownStart, _ := time.Parse(time.RFC3339, shown.StartTime)
	// take reports whether a field is taken: it changed (is differs from
	// what e shows) and e still showed its previous value (or Zoom did not
	// give that value).
	take := func(name string, is, was *string, shows string) bool {
		switch {
		case is == nil || *is == shows:
			return false
		case was != nil && *was != shows:
			conflicts = append(conflicts, name)
			return false
		}
		return true
	}
	asText := func(t *time.Time) *string {
		if t == nil {
			return nil
		}
		s := t.UTC().Format(time.RFC3339)
		return &s
	}
	asNumber := func(i *int) *string {
		if i == nil {
			return nil
		}
		s := strconv.Itoa(*i)
		return &s
	}
	if take("topic", n.New.Topic, n.Old.Topic, shown.Topic) {
		if cs != nil && cs.Topic != nil {
			// The meeting's topic is the conf_settings' own, not the
			// title: it is that which follows, or the next sync of the
			// event would put the old topic back.
			c := *e.Conferencing
			a := *c.Autocreate
			s := *a.ConfSettings
			s.Topic = n.New.Topic
			a.ConfSettings, c.Autocreate = &s, &a
			out.Conferencing = &c
			changed = true
		} else {
			out.Title = *n.New.Topic
		}
	}
	var start *time.Time
	var minutes *int
	var tz *string
	if take("start_time", asText(n.New.StartTime), asText(n.Old.StartTime), shownStart.UTC().Format(time.RFC3339)) {
		start = n.New.StartTime
	}
	if take("duration", asNumber(n.New.Duration), asNumber(n.Old.Duration), strconv.Itoa(shown.Duration)) {
		minutes = n.New.Duration
	}
	if take("timezone", n.New.Timezone, n.Old.Timezone, shown.Timezone) {
		tz = n.New.Timezone
	}
	if start != nil || minutes != nil || tz != nil {
		w, s, end, err := followTime(e, start, minutes, tz)
		if err != nil {
			conflicts = append(conflicts, "when: "+err.Error())
		} else {
			out.When, out.StartsAt, out.EndsAt = w, s, end
		}
	}
	changed = changed || out.Title != e.Title || out.When != e.When || !out.StartsAt.Equal(e.StartsAt) || !out.EndsAt.Equal(e.EndsAt)
	return out, changed, conflicts
}

// followTime is e's when moved to the meeting's new start, length and time
// zone (nil: unchanged), in e's own form: a span keeps being a span, a
// point a point, dates dates.
func followTime(e Event, start *time.Time, minutes *int, tz *string) (When, time.Time, time.Time, error) {
	w := e.When
	s := e.StartsAt
	if start != nil {
		s = *start
	}
	switch w.Object {
	case "timespan":
		d := e.EndsAt.Sub(e.StartsAt)
		// A meeting of 0 minutes cannot be a span: the event keeps its length.
		if minutes != nil && *minutes > 0 {
			d = time.Duration(*minutes) * time.Minute
		}
		w.StartTime, w.EndTime = s.Unix(), s.Add(d).Unix()
		if tz != nil {
			w.StartTimezone, w.EndTimezone = *tz, *tz
		}
	case "time":
		// A point in time has no length: the meeting's duration (30
		// minutes by our mapping) is not followed.
		w.Time = s.Unix()
		if tz != nil {
			w.Timezone = *tz
		}
	case "date":
		// Whole days in UTC, as zoomTime maps them: a meeting moved to
		// some hour of a day moves the event to that day.
		w.Date = s.UTC().Format(time.DateOnly)
	case "datespan":
		days := int(e.EndsAt.Sub(e.StartsAt) / (24 * time.Hour))
		if minutes != nil {
			days = (*minutes + 24*60 - 1) / (24 * 60)
		}
		days = max(days, 1)
		first := s.UTC()
		w.StartDate, w.EndDate = first.Format(time.DateOnly), first.AddDate(0, 0, days-1).Format(time.DateOnly)
	}
	raw, err := json.Marshal(w)
	if err != nil {
		return When{}, time.Time{}, time.Time{}, err
	}
	return ParseWhen(raw)
}

// storedSettings are the conf_settings an event's meeting was made with.
func storedSettings(e Event) *ConfSettings {
	if e.Conferencing != nil && e.Conferencing.Autocreate != nil {
		return e.Conferencing.Autocreate.ConfSettings
	}
	return nil
}

// MeetingEvent returns the event that carries a Zoom meeting, among the
// events of the applications (at most one: events_one_per_meeting).
func (s *Store) MeetingEvent(ctx context.Context, appIDs []uuid.UUID, meetingID int64) (Event, bool, error) {
	ev, err := database.QueryOne(ctx, s.pool, scanEvent, pgx.ErrNoRows, `SELECT `+eventColumns+` FROM events
		WHERE conf_meeting_id = $1 AND application_id = ANY($2)`, meetingID, appIDs)
	if errors.Is(err, pgx.ErrNoRows) {
		return Event{}, false, nil
	}
	return ev, err == nil, err
}

// Outcomes of FollowMeeting.
const (
	FollowWritten   = "written"   // the event changed, event.updated recorded
	FollowUnchanged = "unchanged" // the event showed the notice already (or only conflicts)
	FollowGone      = "gone"      // the event is gone, or no longer carries the meeting
)

// Followed is what FollowMeeting did.
type Followed struct {
	Outcome   string
	Event     Event
	Conflicts []string
}

// followRounds bounds how often FollowMeeting reads the event again after
// a write lost to another (its caller keeps our updates away: only a
// deletion can come between).
const followRounds = 3

// FollowMeeting applies a meeting event to the event carrying the meeting:
// the event is written, with its event.updated in the same transaction,
// only when it changes. The write is made on the version read and only while
// the event still carries the meeting.
func (s *Store) FollowMeeting(ctx context.Context, appID, grantID, eventID uuid.UUID, n MeetingNotice) (Followed, error) {
	for range followRounds {
		ev, err := s.LoadEvent(ctx, appID, grantID, eventID)
		if apperr.IsKind(err, apperr.NotFound) {
			return Followed{Outcome: FollowGone}, nil
		}
		if err != nil {
			return Followed{}, err
		}
		if ev.ConfMeetingID == nil || *ev.ConfMeetingID != n.MeetingID {
			return Followed{Outcome: FollowGone, Event: ev}, nil
		}
		out, changed, conflicts := n.Follow(ev)
		if !changed {
			return Followed{Outcome: FollowUnchanged, Event: ev, Conflicts: conflicts}, nil
		}
		a := eventArgs(out)
		written, err := s.writeNotified(ctx, webhooks.EventUpdated, `UPDATE events SET title = $5, when_json = $6, starts_at = $7,
			ends_at = $8, conferencing = $9, conf_grant_id = $10, conf_meeting_id = $11, version = version + 1, updated_at = now()
			WHERE id = $1 AND application_id = $2 AND grant_id = $3 AND version = $4 AND conf_meeting_id = $12
			RETURNING `+eventColumns,
			out.ID, out.ApplicationID, out.GrantID, ev.Version, out.Title, a[11], out.StartsAt, out.EndsAt, a[15],
			out.ConfGrantID, out.ConfMeetingID, n.MeetingID)
		if errors.Is(err, pgx.ErrNoRows) {
			continue // changed or deleted meanwhile: read it again
		}
		if err != nil {
			return Followed{}, err
		}
		return Followed{Outcome: FollowWritten, Event: written, Conflicts: conflicts}, nil
	}
	return Followed{}, ErrVersion
}
