package zoomsim

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

const zoomTime = "2006-01-02T15:04:05Z"

type meeting struct {
	ID         int64
	UUID       string
	HostID     string
	HostEmail  string
	Topic      string
	Type       int
	Start      time.Time
	Duration   int
	Timezone   string
	Agenda     string
	Password   string
	noPassword bool
	EncPwd     string
	Numeric    string // h323 and pstn passwords
	ZAK        string
	Created    time.Time
	Settings   map[string]any
	Tracking   any
	Recurrence any
}

func (m *meeting) clone() *meeting {
	c := *m
	c.Settings = maps.Clone(m.Settings)
	return &c
}

func (m *meeting) joinURL(base string) string {
	u := fmt.Sprintf("%s/j/%d", base, m.ID)
	if m.Password != "" {
		u += "?pwd=" + m.EncPwd
	}
	return u
}

// render is the meeting as GET /meetings/{id} and create show it.
func (m *meeting) render(base string) map[string]any {
	settings := maps.Clone(m.Settings)
	settings["global_dial_in_numbers"] = []map[string]string{
		{"country": "US", "country_name": "US", "city": "New York", "number": "+1 646 558 8656", "type": "toll"},
		{"country": "US", "country_name": "US", "city": "San Jose", "number": "+1 669 900 6833", "type": "toll"},
	}
	out := map[string]any{
		"uuid": m.UUID, "id": m.ID, "host_id": m.HostID, "host_email": m.HostEmail, "topic": m.Topic,
		"type": m.Type, "status": "waiting", "start_time": m.Start.UTC().Format(zoomTime), "duration": m.Duration,
		"timezone": m.Timezone, "agenda": m.Agenda, "created_at": m.Created.Format(zoomTime),
		"start_url": fmt.Sprintf("%s/s/%d?zak=%s", base, m.ID, m.ZAK), "join_url": m.joinURL(base),
		"password": m.Password, "h323_password": m.Numeric, "pstn_password": m.Numeric,
		"encrypted_password": m.EncPwd, "settings": settings, "pre_schedule": false,
	}
	if m.Tracking != nil {
		out["tracking_fields"] = m.Tracking
	}
	if m.Recurrence != nil {
		out["recurrence"] = m.Recurrence
	}
	return out
}

func defaultSettings() map[string]any {
	return map[string]any{
		"host_video": false, "participant_video": false, "join_before_host": false, "mute_upon_entry": false,
		"waiting_room": false, "approval_type": json.Number("2"), "audio": "both", "auto_recording": "none",
		"meeting_authentication": false, "global_dial_in_countries": []any{"US"},
	}
}

var passwordPattern = regexp.MustCompile(`^[a-zA-Z0-9@\-_*]{0,10}$`)

// applyMeeting validates the create or update fields in `in` (Zoom's limits,
// shared/reference/zoom.md; settings, tracking fields and recurrence typed as
// settings.go says) and applies them to m. Fields Zoom does not know are
// dropped, as Zoom drops them, never echoed. It returns every invalid field; m is
// then half-changed, so callers apply to a copy. The REST API and the
// control API share it so that the host's own changes obey Zoom's rules too.
func (s *Sim) applyMeeting(m *meeting, in map[string]any, creating bool) []fieldError {
	var errs []fieldError
	bad := func(field, msg string) { errs = append(errs, fieldError{Field: field, Message: msg}) }

	if v, ok := in["topic"]; ok {
		if str, ok := v.(string); !ok || utf8.RuneCountInString(str) > 200 {
			bad("topic", "Topic must be a string of at most 200 characters.")
		} else {
			m.Topic = str
		}
	}
	if v, ok := in["agenda"]; ok {
		if str, ok := v.(string); !ok || utf8.RuneCountInString(str) > 2000 {
			bad("agenda", "Agenda must be a string of at most 2000 characters.")
		} else {
			m.Agenda = str
		}
	}
	if v, ok := in["type"]; ok {
		n, isInt := intOf(v)
		if !isInt || !slices.Contains([]int{1, 2, 3, 8}, n) {
			bad("type", "Invalid meeting type.")
		} else {
			m.Type = n
		}
	}
	if v, ok := in["duration"]; ok {
		n, isInt := intOf(v)
		if !isInt || n < 0 {
			bad("duration", "Duration must be a non-negative integer (minutes).")
		} else {
			m.Duration = n
		}
	}
	tz := m.Timezone
	if v, ok := in["timezone"]; ok {
		str, isStr := v.(string)
		if _, err := time.LoadLocation(str); !isStr || str == "" || str == "Local" || err != nil {
			bad("timezone", "Invalid timezone.")
		} else {
			tz = str
			m.Timezone = str
		}
	}
	if v, ok := in["password"]; ok {
		if str, isStr := v.(string); !isStr || !passwordPattern.MatchString(str) {
			bad("password", "Password can only have a maximum of 10 characters and only contain alphanumeric characters and @ - _ *.")
		} else {
			m.Password = str
			m.noPassword = str == ""
		}
	}
	now := s.opts.Now().UTC().Truncate(time.Second)
	v, startGiven := in["start_time"]
	if startGiven {
		str, isStr := v.(string)
		t, err := parseStart(str, tz)
		if !isStr || err != nil {
			bad("start_time", "Invalid start_time: use yyyy-MM-ddTHH:mm:ssZ, or yyyy-MM-ddTHH:mm:ss with timezone.")
		} else {
			m.Start = t
		}
	}
	if v, ok := in["settings"]; ok {
		if obj, isObj := v.(map[string]any); !isObj {
			bad("settings", "Settings must be an object.")
		} else if clean, good := cleanObject("settings", meetingSettings, obj, creating, bad); good {
			for k, sv := range clean {
				m.Settings[k] = mergeSetting(m.Settings[k], sv)
			}
		}
	}
	if v, ok := in["tracking_fields"]; ok {
		if clean, good := trackingFieldsSpec.clean("tracking_fields", v, creating, bad); good {
			m.Tracking = clean
		}
	}
	if v, ok := in["recurrence"]; ok {
		if clean, good := recurrenceSpec.clean("recurrence", v, creating, bad); good {
			m.Recurrence = mergeSetting(m.Recurrence, clean)
		}
	}
	if len(errs) > 0 {
		return errs
	}
	// Zoom schedules instant meetings, and meetings in the past, at the time of the request.
	if creating && (!startGiven || m.Type == 1 || m.Start.Before(now)) {
		m.Start = now
	}
	if !creating && startGiven && m.Start.Before(now) {
		m.Start = now
	}
	return nil
}

// writeValidation is Zoom's 300 answer for invalid meeting fields.
func writeValidation(w http.ResponseWriter, errs []fieldError) {
	writeJSON(w, http.StatusBadRequest, zoomErr{Code: 300, Message: "Validation Failed.", Errors: errs})
}

// parseStart reads Zoom's two start_time forms: UTC with Z, or local time in tz.
func parseStart(s, tz string) (time.Time, error) {
	if t, err := time.Parse(zoomTime, s); err == nil {
		return t.UTC(), nil
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.ParseInLocation("2006-01-02T15:04:05", s, loc)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

func intOf(v any) (int, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := strconv.ParseInt(string(n), 10, 32)
	return int(i), err == nil
}
