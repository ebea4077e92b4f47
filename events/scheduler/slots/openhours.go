package slots

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// OpenHours is one open_hours entry: on each listed weekday, the wall-clock
// window [Start, End) in Timezone is open, except on the Exdates.
type OpenHours struct {
	Days     []int  // 0 = Sunday .. 6 = Saturday
	Start    string // "9:00" or "09:00"
	End      string // "17:00"; "24:00" and "23:59" both mean the end of the day
	Timezone string // IANA; "" = the participant's time zone
	Exdates  []string
}

// FieldError says which field of the input is wrong and why; the caller turns
// it into a 400 that names the field.
type FieldError struct {
	Field, Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// ValidateOpenHours checks open hours as the configuration stores them; field
// is the path of the list (e.g. "participants[0].availability.open_hours").
// Compute reports the same problems, so a configuration that passed here is
// never refused later for its open hours.
func ValidateOpenHours(field string, oh []OpenHours) error {
	for i := range oh {
		if _, err := parseOpenHours(fmt.Sprintf("%s[%d]", field, i), oh[i], time.UTC); err != nil {
			return err
		}
	}
	return nil
}

const dayMinutes = 24 * 60

// openHours is an OpenHours entry parsed once per computation.
type openHours struct {
	days       [7]bool
	start, end int // minutes after local midnight; end <= dayMinutes
	loc        *time.Location
	exdates    map[int64]bool // civil days since the Unix epoch
}

func parseOpenHours(field string, oh OpenHours, dflt *time.Location) (openHours, error) {
	p := openHours{loc: dflt}
	if len(oh.Days) == 0 {
		return p, fieldErr(field+".days", "must list at least one day (0 = Sunday to 6 = Saturday)")
	}
	for j, d := range oh.Days {
		if d < 0 || d > 6 {
			return p, fieldErr(fmt.Sprintf("%s.days[%d]", field, j), "must be 0 (Sunday) to 6 (Saturday)")
		}
		p.days[d] = true
	}
	start, ok := parseClock(oh.Start, false)
	if !ok {
		return p, fieldErr(field+".start", "is not a time of day (H:MM, 0:00 to 23:59)")
	}
	end, ok := parseClock(oh.End, true)
	if !ok {
		return p, fieldErr(field+".end", "is not a time of day (H:MM, 0:00 to 24:00)")
	}
	if end <= start {
		return p, fieldErr(field+".end", "must be after start (open hours cannot run past midnight: use two entries)")
	}
	if end == dayMinutes-1 {
		// "23:59" is how calendar UIs write "until midnight"; taking it
		// literally would drop the last slot of every day.
		end = dayMinutes
	}
	p.start, p.end = start, end
	if oh.Timezone != "" {
		loc, ok := loadLocation(oh.Timezone)
		if !ok {
			return p, fieldErr(field+".timezone", "is not a known IANA time zone")
		}
		p.loc = loc
	}
	for j, s := range oh.Exdates {
		d, err := time.Parse("2006-01-02", s)
		if err != nil || len(s) != len("2006-01-02") {
			return p, fieldErr(fmt.Sprintf("%s.exdates[%d]", field, j), "is not a date (YYYY-MM-DD)")
		}
		if p.exdates == nil {
			p.exdates = make(map[int64]bool, len(oh.Exdates))
		}
		p.exdates[civilDay(d)] = true
	}
	return p, nil
}

// parseClock reads "H:MM" or "HH:MM" as minutes after midnight; "24:00" only
// as an end.
func parseClock(s string, isEnd bool) (int, bool) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) < 1 || len(h) > 2 || len(m) != 2 || !digits(h) || !digits(m) {
		return 0, false
	}
	hh, _ := strconv.Atoi(h)
	mm, _ := strconv.Atoi(m)
	if mm > 59 || hh > 24 || (hh == 24 && (!isEnd || mm != 0)) {
		return 0, false
	}
	return hh*60 + mm, true
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// civilDay numbers a calendar date (its year, month and day, whatever the
// location of t) as days since 1970-01-01.
func civilDay(t time.Time) int64 {
	y, m, d := t.Date()
	u := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix()
	if u < 0 {
		return (u - 86399) / 86400
	}
	return u / 86400
}

var locations sync.Map // name -> *time.Location; LoadLocation reads the zoneinfo files on every call

func loadLocation(name string) (*time.Location, bool) {
	// "Local" would make answers depend on the server's zone.
	if name == "" || name == "Local" || len(name) > 64 {
		return nil, false
	}
	if l, ok := locations.Load(name); ok {
		return l.(*time.Location), true
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, false
	}
	locations.Store(name, loc)
	return loc, true
}

// wall is the instant of a wall-clock time (minutes after midnight of the
// given date, may be dayMinutes) in loc. A time that the clock skips (spring
// forward) is the instant the clock jumps, so a window starting or ending in
// the gap keeps its part that exists; a time that happens twice (fall back) is
// its first occurrence. time.Date leaves both cases unspecified.
func wall(y int, mo time.Month, d, minutes int, loc *time.Location) time.Time {
	t := time.Date(y, mo, d, 0, minutes, 0, 0, loc)
	want := time.Date(y, mo, d, 0, minutes, 0, 0, time.UTC)
	if got := civil(t); !got.Equal(want) {
		start, end := t.ZoneBounds()
		if got.Before(want) {
			if end.IsZero() {
				return t
			}
			return end
		}
		if start.IsZero() {
			return t
		}
		return start
	}
	_, off := t.Zone()
	start, _ := t.ZoneBounds()
	if start.IsZero() {
		return t
	}
	if _, prev := start.Add(-time.Second).Zone(); prev > off {
		c := time.Unix(want.Unix()-int64(prev), 0).In(loc)
		if c.Before(start) && civil(c).Equal(want) {
			return c
		}
	}
	return t
}

// civil is t's wall-clock reading, as the same reading in UTC.
func civil(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// windows appends the open windows of oh on the local dates from..to
// (inclusive, as civil days).
func (oh *openHours) windows(from, to int64, out []Interval) []Interval {
	for day := from; day <= to; day++ {
		c := time.Unix(day*86400, 0).UTC()
		if !oh.days[c.Weekday()] || oh.exdates[day] {
			continue
		}
		y, m, d := c.Date()
		s := wall(y, m, d, oh.start, oh.loc)
		e := wall(y, m, d, oh.end, oh.loc)
		if s.Before(e) {
			out = append(out, Interval{Start: s, End: e})
		}
	}
	return out
}
