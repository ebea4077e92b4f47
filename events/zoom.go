package events

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/confhub/confhub/connectors/zoom"
)

// A meeting we create carries a reference line at the end of its agenda.
// Zoom has no idempotency key; the reference is how a create whose answer
// was lost is recognised among the host's meetings (docs/decisions.md).
const refPrefix = "confhub-ref: "

// agendaRoom is what is left of Zoom's 2000-character agenda for the text.
const agendaRoom = 2000 - 40

// Ref is the reference line written into a meeting's agenda.
func Ref(marker string) string { return refPrefix + marker }

// HasRef reports whether an agenda carries the reference marker.
func HasRef(agenda, marker string) bool {
	return strings.HasSuffix(strings.TrimSpace(agenda), Ref(marker))
}

// MeetingRequest maps an event (and its conf_settings) to Zoom's
// create/update body: title to topic, description to agenda, when to
// start_time, duration and timezone.
func MeetingRequest(e Event, cs *ConfSettings, marker string) zoom.MeetingRequest {
	req := zoom.MeetingRequest{Type: zoom.MeetingScheduled, Topic: truncateRunes(e.Title, 200)}
	if req.Topic == "" {
		req.Topic = "Meeting"
	}
	agenda := e.Description
	if cs != nil {
		if cs.Topic != nil {
			req.Topic = *cs.Topic
		}
		if cs.Agenda != nil {
			agenda = *cs.Agenda
		}
		if cs.Password != nil {
			req.Password = *cs.Password
		}
		if s := cs.Settings; s != nil {
			req.Settings = &zoom.MeetingSettings{WaitingRoom: s.WaitingRoom, MuteUponEntry: s.MuteUponEntry, JoinBeforeHost: s.JoinBeforeHost,
				HostVideo: s.HostVideo, ParticipantVideo: s.ParticipantVideo, ApprovalType: s.ApprovalType, MeetingAuthentication: s.MeetingAuthentication}
			if s.AutoRecording != nil {
				req.Settings.AutoRecording = *s.AutoRecording
			}
			if s.Audio != nil {
				req.Settings.Audio = *s.Audio
			}
			if s.AlternativeHosts != nil {
				req.Settings.AlternativeHosts = *s.AlternativeHosts
			}
		}
	}
	req.Agenda = AgendaWithRef(agenda, marker)
	req.StartTime, req.Duration, req.Timezone = zoomTime(e)
	return req
}

// AgendaWithRef fits the text and the reference line into Zoom's limit.
func AgendaWithRef(text, marker string) string {
	text = strings.TrimSpace(truncateRunes(text, agendaRoom))
	if marker == "" {
		return text
	}
	if text == "" {
		return Ref(marker)
	}
	return text + "\n\n" + Ref(marker)
}

// zoomTime maps when to Zoom's start_time (UTC), duration (minutes) and timezone.
// Dates become whole days from 00:00 UTC.
func zoomTime(e Event) (start string, minutes int, tz string) {
	start = e.StartsAt.UTC().Format("2006-01-02T15:04:05Z")
	minutes = int((e.EndsAt.Sub(e.StartsAt) + time.Minute - 1) / time.Minute)
	tz = "UTC"
	switch {
	case e.When.StartTimezone != "":
		tz = e.When.StartTimezone
	case e.When.Timezone != "":
		tz = e.When.Timezone
	}
	if e.When.Object == "time" {
		minutes = 30 // a point in time: Zoom's scheduler default
	}
	return start, minutes, tz
}

// DetailsFromMeeting is what the event shows of a Zoom meeting.
func DetailsFromMeeting(m zoom.Meeting) *Details {
	d := &Details{URL: m.JoinURL, MeetingCode: strconv.FormatInt(m.ID, 10), Password: m.Password}
	for _, n := range m.Settings.GlobalDialInNumbers {
		d.Phone = append(d.Phone, n.Number)
	}
	return d
}

// The join-details block appended to a rendered description. Incoming
// descriptions are stripped of it, so it never appears twice.
const (
	blockStart = "-::~:~::~:~:~:~:~:~:~:~:~ Join Zoom Meeting ~:~:~:~:~:~:~:~:~:~::~:~::-"
	blockEnd   = "-::~:~::~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~::~:~::-"
)

// RenderDescription is the description an event shows: the caller's text
// and, with a conference, one join-details block.
func RenderDescription(text string, c *Conferencing) string {
	if c == nil || c.Details == nil {
		return text
	}
	d := c.Details
	var b strings.Builder
	b.WriteString(blockStart + "\n")
	fmt.Fprintf(&b, "Meeting URL: %s\n", d.URL)
	if d.MeetingCode != "" {
		fmt.Fprintf(&b, "Meeting ID: %s\n", d.MeetingCode)
	}
	if d.Password != "" {
		fmt.Fprintf(&b, "Passcode: %s\n", d.Password)
	}
	for _, p := range d.Phone {
		fmt.Fprintf(&b, "Dial: %s\n", p)
	}
	b.WriteString(blockEnd)
	if strings.TrimSpace(text) == "" {
		return b.String()
	}
	return strings.TrimRight(text, "\n") + "\n\n" + b.String()
}

// StripBlock removes a join-details block a client echoed back.
func StripBlock(s string) string {
	i := strings.Index(s, blockStart)
	if i < 0 {
		return s
	}
	j := strings.Index(s[i:], blockEnd)
	rest := ""
	if j >= 0 {
		rest = s[i+j+len(blockEnd):]
	}
	return strings.TrimRight(s[:i], "\n ") + strings.TrimLeft(rest, "\n")
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}

// MeetingShows reports whether a meeting shows what req asked of it, in the
// fields an update of the event changes: topic, agenda, start, duration and
// time zone. An update whose answer was lost is settled by this reading.
func MeetingShows(m zoom.Meeting, req zoom.MeetingRequest) bool {
	return m.Topic == req.Topic && strings.TrimSpace(m.Agenda) == strings.TrimSpace(req.Agenda) &&
		sameInstant(m.StartTime, req.StartTime) && m.Duration == req.Duration && m.Timezone == req.Timezone
}

func sameInstant(a, b string) bool {
	ta, errA := time.Parse(time.RFC3339, a)
	tb, errB := time.Parse(time.RFC3339, b)
	if errA != nil || errB != nil {
		return a == b
	}
	return ta.Equal(tb)
}
