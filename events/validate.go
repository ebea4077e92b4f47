package events

import (
	"bytes"
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/confhub/confhub/internal/apperr"
	"github.com/confhub/confhub/internal/strictjson"
)

// Limits on event fields (ours; Zoom's own limits are checked in conf_settings).
const (
	maxTitle        = 1024
	maxDescription  = 8192
	maxLocation     = 1024
	maxParticipants = 200
	maxMetadataKeys = 50
	maxMetadataKey  = 40
	maxMetadataVal  = 500
)

type whenInput struct {
	Object        *string `json:"object"`
	StartTime     *int64  `json:"start_time"`
	EndTime       *int64  `json:"end_time"`
	StartTimezone *string `json:"start_timezone"`
	EndTimezone   *string `json:"end_timezone"`
	Time          *int64  `json:"time"`
	Timezone      *string `json:"timezone"`
	Date          *string `json:"date"`
	StartDate     *string `json:"start_date"`
	EndDate       *string `json:"end_date"`
}

// ParseWhen reads one of the four when forms and returns it with the
// instants it spans (dates as whole UTC days).
func ParseWhen(raw json.RawMessage) (When, time.Time, time.Time, error) {
	var in whenInput
	if err := strictjson.Decode(raw, &in, "when"); err != nil {
		return When{}, time.Time{}, time.Time{}, err
	}
	bad := func(field, format string, args ...any) (When, time.Time, time.Time, error) {
		return When{}, time.Time{}, time.Time{}, apperr.InvalidField("when."+field, format, args...)
	}
	var w When
	switch {
	case in.StartTime != nil || in.EndTime != nil:
		if in.StartTime == nil || in.EndTime == nil {
			return bad("end_time", "start_time and end_time go together")
		}
		if *in.StartTime < 0 || *in.EndTime <= *in.StartTime {
			return bad("end_time", "must be after start_time (unix seconds)")
		}
		if (in.StartTimezone == nil) != (in.EndTimezone == nil) {
			return bad("end_timezone", "start_timezone and end_timezone go together")
		}
		w = When{Object: "timespan", StartTime: *in.StartTime, EndTime: *in.EndTime}
		if in.StartTimezone != nil {
			if !ValidTZ(*in.StartTimezone) {
				return bad("start_timezone", "must be an IANA time zone such as Europe/Berlin")
			}
			if !ValidTZ(*in.EndTimezone) {
				return bad("end_timezone", "must be an IANA time zone such as Europe/Berlin")
			}
			w.StartTimezone, w.EndTimezone = *in.StartTimezone, *in.EndTimezone
		}
		return check(w, time.Unix(w.StartTime, 0), time.Unix(w.EndTime, 0))
	case in.Time != nil:
		if *in.Time < 0 {
			return bad("time", "must be unix seconds")
		}
		w = When{Object: "time", Time: *in.Time}
		if in.Timezone != nil {
			if !ValidTZ(*in.Timezone) {
				return bad("timezone", "must be an IANA time zone such as Europe/Berlin")
			}
			w.Timezone = *in.Timezone
		}
		t := time.Unix(w.Time, 0)
		return check(w, t, t)
	case in.Date != nil:
		d, err := time.Parse(time.DateOnly, *in.Date)
		if err != nil {
			return bad("date", "must be YYYY-MM-DD")
		}
		w = When{Object: "date", Date: *in.Date}
		return check(w, d, d.AddDate(0, 0, 1))
	case in.StartDate != nil || in.EndDate != nil:
		if in.StartDate == nil || in.EndDate == nil {
			return bad("end_date", "start_date and end_date go together")
		}
		s, err := time.Parse(time.DateOnly, *in.StartDate)
		if err != nil {
			return bad("start_date", "must be YYYY-MM-DD")
		}
		e, err := time.Parse(time.DateOnly, *in.EndDate)
		if err != nil {
			return bad("end_date", "must be YYYY-MM-DD")
		}
		if e.Before(s) {
			return bad("end_date", "must not be before start_date")
		}
		w = When{Object: "datespan", StartDate: *in.StartDate, EndDate: *in.EndDate}
		return check(w, s, e.AddDate(0, 0, 1))
	}
	return bad("start_time", "is required: give {start_time, end_time}, {time}, {date} or {start_date, end_date}")
}

func check(w When, start, end time.Time) (When, time.Time, time.Time, error) {
	// Zoom and PostgreSQL both need years within 1970..9999.
	if start.Year() < 1970 || end.Year() > 9999 {
		return When{}, time.Time{}, time.Time{}, apperr.InvalidField("when", "is out of range (1970 to 9999)")
	}
	return w, start.UTC(), end.UTC(), nil
}

// ValidTZ reports whether s is an IANA time zone name (not "Local").
func ValidTZ(s string) bool {
	if s == "" || s == "Local" || len(s) > 64 {
		return false
	}
	_, err := time.LoadLocation(s)
	return err == nil
}

// ValidText checks a text field's length (and, for text that did not come
// through strictjson, that it holds no NUL).
func ValidText(field, s string, max int) error {
	if utf8.RuneCountInString(s) > max {
		return apperr.InvalidField(field, "must be at most %d characters", max)
	}
	if strings.ContainsRune(s, 0) {
		return apperr.InvalidField(field, "must not contain NUL characters")
	}
	return nil
}

// ValidEmail checks that s is a bare email address.
func ValidEmail(field, s string) error {
	if !strictjson.IsEmail(s) {
		return apperr.InvalidField(field, "must be an email address")
	}
	return nil
}

var participantStatuses = []string{"noreply", "yes", "no", "maybe"}

func validParticipants(ps []Participant) ([]Participant, error) {
	if len(ps) > maxParticipants {
		return nil, apperr.InvalidField("participants", "at most %d participants", maxParticipants)
	}
	out := make([]Participant, 0, len(ps))
	for i, p := range ps {
		field := "participants[" + strconv.Itoa(i) + "]"
		if err := ValidEmail(field+".email", p.Email); err != nil {
			return nil, err
		}
		if err := ValidText(field+".name", p.Name, 256); err != nil {
			return nil, err
		}
		if err := ValidText(field+".comment", p.Comment, 1024); err != nil {
			return nil, err
		}
		if p.Status == "" {
			p.Status = "noreply"
		}
		if !slices.Contains(participantStatuses, p.Status) {
			return nil, apperr.InvalidField(field+".status", "must be noreply, yes, no or maybe")
		}
		out = append(out, p)
	}
	return out, nil
}

func validMetadata(m map[string]string) error {
	if len(m) > maxMetadataKeys {
		return apperr.InvalidField("metadata", "at most %d keys", maxMetadataKeys)
	}
	for k, v := range m {
		if k == "" || len(k) > maxMetadataKey || strings.IndexFunc(k, unicode.IsControl) >= 0 {
			return apperr.InvalidField("metadata", "keys must be 1 to %d characters without control characters", maxMetadataKey)
		}
		if err := ValidText("metadata."+k, v, maxMetadataVal); err != nil {
			return err
		}
	}
	return nil
}

// ConfChange is what a request asks of an event's conference.
type ConfChange int

const (
	ConfKeep   ConfChange = iota // conferencing absent: leave it
	ConfRemove                   // conferencing {} or null: remove it
	ConfSet                      // conferencing given: set it
)

type conferencingInput struct {
	Provider   *string         `json:"provider"`
	Autocreate json.RawMessage `json:"autocreate"`
	Details    json.RawMessage `json:"details"`
}

type autocreateInput struct {
	ConfGrantID  *string         `json:"conf_grant_id"`
	ConfSettings json.RawMessage `json:"conf_settings"`
}

type detailsInput struct {
	URL         *string  `json:"url"`
	MeetingCode *string  `json:"meeting_code"`
	Password    *string  `json:"password"`
	Phone       []string `json:"phone"`
	PIN         *string  `json:"pin"`
}

// ParseConferencing validates the conferencing object, including Zoom's own
// limits on conf_settings, before anything calls Zoom.
func ParseConferencing(raw json.RawMessage) (ConfChange, *Conferencing, error) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return ConfKeep, nil, nil
	}
	if bytes.Equal(t, []byte("null")) || bytes.Equal(t, []byte("{}")) {
		return ConfRemove, nil, nil
	}
	var in conferencingInput
	if err := strictjson.Decode(raw, &in, "conferencing"); err != nil {
		return 0, nil, err
	}
	if in.Provider == nil || *in.Provider != ZoomProvider {
		return 0, nil, apperr.InvalidField("conferencing.provider", "must be %q", ZoomProvider)
	}
	hasAuto := len(bytes.TrimSpace(in.Autocreate)) > 0 && !bytes.Equal(bytes.TrimSpace(in.Autocreate), []byte("null"))
	hasDetails := len(bytes.TrimSpace(in.Details)) > 0 && !bytes.Equal(bytes.TrimSpace(in.Details), []byte("null"))
	switch {
	case hasAuto && hasDetails:
		return 0, nil, apperr.InvalidField("conferencing", "give autocreate or details, not both")
	case hasAuto:
		var a autocreateInput
		if err := strictjson.Decode(in.Autocreate, &a, "conferencing.autocreate"); err != nil {
			return 0, nil, err
		}
		if a.ConfGrantID == nil || *a.ConfGrantID == "" {
			return 0, nil, apperr.InvalidField("conferencing.autocreate.conf_grant_id", "is required: the Zoom grant that hosts the meeting")
		}
		out := &Conferencing{Provider: ZoomProvider, Autocreate: &Autocreate{ConfGrantID: *a.ConfGrantID}}
		if len(bytes.TrimSpace(a.ConfSettings)) > 0 && !bytes.Equal(bytes.TrimSpace(a.ConfSettings), []byte("null")) {
			var cs ConfSettings
			if err := strictjson.Decode(a.ConfSettings, &cs, "conferencing.autocreate.conf_settings"); err != nil {
				return 0, nil, err
			}
			if err := validConfSettings(cs); err != nil {
				return 0, nil, err
			}
			out.Autocreate.ConfSettings = &cs
		}
		return ConfSet, out, nil
	case hasDetails:
		var d detailsInput
		if err := strictjson.Decode(in.Details, &d, "conferencing.details"); err != nil {
			return 0, nil, err
		}
		if d.URL == nil {
			return 0, nil, apperr.InvalidField("conferencing.details.url", "is required")
		}
		if u, err := url.Parse(*d.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(*d.URL) > 2048 {
			return 0, nil, apperr.InvalidField("conferencing.details.url", "must be an http(s) URL")
		}
		det := &Details{URL: *d.URL}
		for _, f := range []struct {
			name string
			v    *string
			dst  *string
		}{{"meeting_code", d.MeetingCode, &det.MeetingCode}, {"password", d.Password, &det.Password}} {
			if f.v != nil {
				if err := ValidText("conferencing.details."+f.name, *f.v, 256); err != nil {
					return 0, nil, err
				}
				*f.dst = *f.v
			}
		}
		if len(d.Phone) > 20 {
			return 0, nil, apperr.InvalidField("conferencing.details.phone", "at most 20 numbers")
		}
		for _, p := range d.Phone {
			if err := ValidText("conferencing.details.phone", p, 64); err != nil {
				return 0, nil, err
			}
		}
		det.Phone = d.Phone
		return ConfSet, &Conferencing{Provider: ZoomProvider, Details: det}, nil
	}
	return 0, nil, apperr.InvalidField("conferencing", "give autocreate or details (or {} to remove the conference)")
}

var zoomPassword = regexp.MustCompile(`^[a-zA-Z0-9@\-_*]{1,10}$`)

// validConfSettings applies Zoom's limits (shared/reference/zoom.md) so a bad
// value is our 400, not a Zoom error after the fact.
func validConfSettings(cs ConfSettings) error {
	const p = "conferencing.autocreate.conf_settings."
	if cs.Topic != nil && (utf8.RuneCountInString(*cs.Topic) > 200 || *cs.Topic == "") {
		return apperr.InvalidField(p+"topic", "must be 1 to 200 characters (Zoom's limit)")
	}
	if cs.Agenda != nil && utf8.RuneCountInString(*cs.Agenda) > agendaRoom {
		return apperr.InvalidField(p+"agenda", "must be at most %d characters (Zoom's limit of 2000, less our reference line)", agendaRoom)
	}
	if cs.Password != nil && !zoomPassword.MatchString(*cs.Password) {
		return apperr.InvalidField(p+"password", "must be 1 to 10 characters of letters, digits and @ - _ * (Zoom's rule)")
	}
	if s := cs.Settings; s != nil {
		if s.AutoRecording != nil && !slices.Contains([]string{"local", "cloud", "none"}, *s.AutoRecording) {
			return apperr.InvalidField(p+"settings.auto_recording", "must be local, cloud or none")
		}
		if s.ApprovalType != nil && (*s.ApprovalType < 0 || *s.ApprovalType > 2) {
			return apperr.InvalidField(p+"settings.approval_type", "must be 0, 1 or 2")
		}
		if s.Audio != nil && !slices.Contains([]string{"both", "telephony", "voip", "thirdParty"}, *s.Audio) {
			return apperr.InvalidField(p+"settings.audio", "must be both, telephony, voip or thirdParty")
		}
		if s.AlternativeHosts != nil {
			if err := ValidText(p+"settings.alternative_hosts", *s.AlternativeHosts, 1024); err != nil {
				return err
			}
		}
	}
	return nil
}
